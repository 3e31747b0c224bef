-- Company-level KPIs per month for the report (grain: month).
-- Volumes gross (8/8ths) from mart_production_monthly; money from agg_monthly_financials
-- (basin level, which includes the CORPORATE bucket). boe_per_day_cal = gross BOE / calendar days.
-- loe_per_boe_usd and netback_per_boe_usd are per working-interest BOE (see agg_monthly_financials).
with production as (
    select
        production_month as month,
        sum(gross_oil_bbl)        as oil_bbl,
        sum(gross_gas_mcf)        as gas_mcf,
        sum(gross_water_bbl)      as water_bbl,
        sum(gross_boe)            as boe,
        sum(net_wi_boe)           as net_wi_boe,
        sum(net_nri_boe)          as net_nri_boe,
        sum(producing_well_count) as producing_well_count,
        any_value(days_in_month)  as days_in_month
    from marts.mart_production_monthly
    where level = 'basin'
    group by production_month
),

financials as (
    select
        month,
        sum(revenue_booked_usd)     as revenue_booked_usd,
        sum(revenue_calculated_usd) as revenue_calculated_usd,
        sum(loe_net_usd)            as loe_net_usd,
        sum(workover_net_usd)       as workover_net_usd,
        sum(severance_tax_usd)      as severance_tax_usd,
        sum(gathering_transport_net_usd) as gathering_transport_net_usd,
        sum(g_and_a_usd)            as g_and_a_usd,
        sum(capex_net_usd)          as capex_net_usd,
        sum(noi_usd)                as noi_usd
    from marts.agg_monthly_financials
    where level = 'basin'
    group by month
),

fx as (
    select month, reporting_currency, reporting_units_per_usd from marts.int_price_fx_monthly
),

final as (
    select
        coalesce(p.month, f.month)                                  as month,
        coalesce(p.oil_bbl, 0)                                      as oil_bbl,
        coalesce(p.gas_mcf, 0)                                      as gas_mcf,
        coalesce(p.water_bbl, 0)                                    as water_bbl,
        coalesce(p.boe, 0)                                          as boe,
        coalesce(p.boe, 0) / day(last_day(coalesce(p.month, f.month))) as boe_per_day_cal,
        coalesce(p.net_wi_boe, 0)                                   as net_wi_boe,
        coalesce(p.net_nri_boe, 0)                                  as net_nri_boe,
        coalesce(p.producing_well_count, 0)                         as producing_well_count,
        coalesce(f.revenue_booked_usd, 0)                           as revenue_booked_usd,
        coalesce(f.revenue_calculated_usd, 0)                       as revenue_calculated_usd,
        coalesce(f.revenue_booked_usd, 0) - coalesce(f.revenue_calculated_usd, 0) as revenue_variance_usd,
        case when coalesce(f.revenue_calculated_usd, 0) <> 0
             then 100.0 * (coalesce(f.revenue_booked_usd, 0) - f.revenue_calculated_usd) / f.revenue_calculated_usd
        end                                                         as revenue_variance_pct,
        coalesce(f.loe_net_usd, 0)                                  as loe_net_usd,
        coalesce(f.workover_net_usd, 0)                             as workover_net_usd,
        coalesce(f.severance_tax_usd, 0)                            as severance_tax_usd,
        coalesce(f.gathering_transport_net_usd, 0)                  as gathering_transport_net_usd,
        coalesce(f.g_and_a_usd, 0)                                  as g_and_a_usd,
        coalesce(f.capex_net_usd, 0)                                as capex_net_usd,
        coalesce(f.noi_usd, 0)                                      as noi_usd,
        f.loe_net_usd / nullif(p.net_wi_boe, 0)                     as loe_per_boe_usd,
        f.noi_usd / nullif(p.net_wi_boe, 0)                         as netback_per_boe_usd,
        fx.reporting_currency,
        fx.reporting_units_per_usd,
        coalesce(f.revenue_booked_usd, 0) * fx.reporting_units_per_usd as revenue_booked_reporting,
        coalesce(f.noi_usd, 0) * fx.reporting_units_per_usd         as noi_reporting
    from production as p
    full outer join financials as f
        on f.month = p.month
    left join fx
        on fx.month = coalesce(p.month, f.month)
)

select * from final
