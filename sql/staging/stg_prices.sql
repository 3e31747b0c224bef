-- Monthly benchmark prices: one row per (price_month, benchmark), latest loaded file wins.
-- WTI and BRENT in USD/bbl, HENRY_HUB in USD/MMBtu.
with source as (
    select *
    from raw.price_deck
    where _file_id in (select file_id from staging.stg_current_files)
),

deduplicated as (
    select *
    from source
    qualify row_number() over (
        partition by date_trunc('month', price_month), upper(trim(benchmark))
        order by _ingested_at desc, _file_id desc, _source_row desc
    ) = 1
),

final as (
    select
        cast(date_trunc('month', price_month) as date)             as price_month,
        upper(trim(benchmark))                                     as benchmark,
        cast(price_usd as double)                                  as price_usd,
        case upper(trim(benchmark))
            when 'HENRY_HUB' then 'USD/MMBtu'
            else 'USD/bbl'
        end                                                        as price_unit,
        _source_file,
        _source_row,
        _batch_id,
        _file_id,
        _ingested_at
    from deduplicated
)

select * from final
