-- One row per month from the first to the last production / GL month: the oil (WTI) and gas
-- (Henry Hub) benchmark prices and the reporting currency's units_per_usd of that month.
-- A month without a published price or rate carries the latest earlier one forward
-- (*_is_carried_forward says so); months before the first price stay null.
with production_months as (
    select production_month as month from staging.stg_production
    union
    select accounting_month as month from staging.stg_gl_lines
),

span as (
    select min(month) as first_month, max(month) as last_month from production_months
),

months as (
    select cast(unnest(generate_series(first_month, last_month, interval 1 month)) as date) as month
    from span
    where first_month is not null
),

settings as not materialized (
    select * from staging.stg_settings
),

wti as (
    select price_month, price_usd from staging.stg_prices where benchmark = 'WTI'
),

henry_hub as (
    select price_month, price_usd from staging.stg_prices where benchmark = 'HENRY_HUB'
),

reporting_fx as (
    select fx.rate_month, fx.units_per_usd
    from staging.stg_fx as fx
    cross join settings
    where fx.currency = settings.reporting_currency
),

final as (
    select
        m.month,
        w.price_usd                               as wti_usd_per_bbl,
        w.price_month <> m.month                  as wti_is_carried_forward,
        h.price_usd                               as henry_hub_usd_per_mmbtu,
        h.price_month <> m.month                  as henry_hub_is_carried_forward,
        s.reporting_currency,
        case when s.reporting_currency = 'USD' then 1.0 else x.units_per_usd end
                                                  as reporting_units_per_usd,
        case when s.reporting_currency = 'USD' then false else x.rate_month <> m.month end
                                                  as fx_is_carried_forward
    from months as m
    cross join settings as s
    asof left join wti as w
        on m.month >= w.price_month
    asof left join henry_hub as h
        on m.month >= h.price_month
    asof left join reporting_fx as x
        on m.month >= x.rate_month
)

select * from final
