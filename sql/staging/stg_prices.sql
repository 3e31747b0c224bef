-- Monthly benchmark prices: one row per (price_month, benchmark), latest loaded file wins.
-- WTI and BRENT in USD/bbl, HENRY_HUB in USD/MMBtu.
with deduplicated as (   -- current file versions only, the latest row per key (macro current_rows)
    {{ current_rows('raw.price_deck', key=["date_trunc('month', price_month)", "upper(trim(benchmark))"]) }}
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
        {{ lineage_columns() }}
    from deduplicated
)

select * from final
