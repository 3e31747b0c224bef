-- Monthly FX: one row per (rate_month, currency), latest loaded file wins.
-- 1 USD = units_per_usd units of currency. USD itself is not stored (rate 1 by definition).
with deduplicated as (   -- current file versions only, the latest row per key (macro current_rows)
    {{ current_rows('raw.currency_rates', key=["date_trunc('month', rate_month)", "upper(trim(currency))"]) }}
),

final as (
    select
        cast(date_trunc('month', rate_month) as date)              as rate_month,
        upper(trim(currency))                                      as currency,
        cast(units_per_usd as double)                              as units_per_usd,
        {{ lineage_columns() }}
    from deduplicated
)

select * from final
