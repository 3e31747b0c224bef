-- Monthly FX: one row per (rate_month, currency), latest loaded file wins.
-- 1 USD = units_per_usd units of currency. USD itself is not stored (rate 1 by definition).
with source as (
    select *
    from raw.currency_rates
    where _file_id in (select file_id from staging.stg_current_files)
),

deduplicated as (
    select *
    from source
    qualify row_number() over (
        partition by date_trunc('month', rate_month), upper(trim(currency))
        order by _ingested_at desc, _file_id desc, _source_row desc
    ) = 1
),

final as (
    select
        cast(date_trunc('month', rate_month) as date)              as rate_month,
        upper(trim(currency))                                      as currency,
        cast(units_per_usd as double)                              as units_per_usd,
        _source_file,
        _source_row,
        _batch_id,
        _file_id,
        _ingested_at
    from deduplicated
)

select * from final
