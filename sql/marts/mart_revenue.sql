-- Calculated revenue per well and production month (grain: well_id, production_month).
-- Constants come from staging.stg_settings / metadata.oil_differentials (migration V002):
--   oil price (USD/bbl) = WTI - oil differential of the well's basin (metadata.oil_differentials,
--                         else the setting default_oil_differential_usd_per_bbl)
--   gas price (USD/mcf) = Henry Hub (USD/MMBtu) x gas_heating_value_mmbtu_per_mcf (HEATING VALUE
--                         ASSUMPTION: default 1.0 MMBtu/mcf) x gas_price_fraction_of_henry_hub
--                         (default 0.85: basis and processing deductions)
--   NGL volume (bbl)    = gas_mcf x ngl_yield_bbl_per_mmcf / 1000 (default 80 bbl/MMcf);
--                         gas sales volume stays the reported gas_mcf (shrink ignored)
--   NGL price (USD/bbl) = WTI x ngl_price_fraction_of_wti (default 0.30)
--   gross_*_revenue_usd = gross (8/8ths) volume x price
--   net_*_revenue_usd   = gross x net_revenue_interest: the company's share, comparable with
--                         revenue booked net in GL 4000 / 4010 / 4020
--   *_reporting         = USD x units_per_usd of the reporting currency for the month
--                         (setting reporting_currency, default USD; USD = 1)
-- Prices / FX missing for a month carry the latest earlier value (int_price_fx_monthly).
-- Incremental by month (insert_overwrite): a monthly run rebuilds the months whose volumes or
-- prices changed (a header, setting or differential edit rebuilds every month).
with production as (
    select * from marts.int_production_cumulative
    where {{ in_changed_months('production_month') }}   -- a monthly run: the months whose volumes or prices changed
),

wells as (   -- the header columns used (a re-sent header file changes only its lineage columns)
    select well_id, field, basin, working_interest, net_revenue_interest from staging.stg_well_header
),

prices as (
    select * from marts.int_price_fx_monthly
),

settings as (
    select * from staging.stg_settings
),

differentials as (
    select upper(trim(basin)) as basin_key, differential_usd_per_bbl from metadata.oil_differentials
),

priced as (
    select
        p.well_id,
        coalesce(w.field, 'UNKNOWN')                               as field,
        coalesce(w.basin, 'UNKNOWN')                               as basin,
        p.production_month,
        p.oil_bbl,
        p.gas_mcf,
        p.gas_mcf * s.ngl_yield_bbl_per_mmcf / {{ const.mcf_per_mmcf }}              as ngl_bbl,
        p.boe,
        w.working_interest,
        w.net_revenue_interest,
        px.wti_usd_per_bbl,
        coalesce(d.differential_usd_per_bbl, s.default_oil_differential_usd_per_bbl)
                                                                   as oil_differential_usd_per_bbl,
        px.wti_usd_per_bbl
            - coalesce(d.differential_usd_per_bbl, s.default_oil_differential_usd_per_bbl)
                                                                   as oil_price_usd_per_bbl,
        px.henry_hub_usd_per_mmbtu,
        s.gas_heating_value_mmbtu_per_mcf,
        s.gas_price_fraction_of_henry_hub,
        px.henry_hub_usd_per_mmbtu * s.gas_heating_value_mmbtu_per_mcf * s.gas_price_fraction_of_henry_hub
                                                                   as gas_price_usd_per_mcf,
        px.wti_usd_per_bbl * s.ngl_price_fraction_of_wti           as ngl_price_usd_per_bbl,
        coalesce(px.wti_is_carried_forward, false) or coalesce(px.henry_hub_is_carried_forward, false)
                                                                   as price_is_carried_forward,
        px.wti_usd_per_bbl is null or px.henry_hub_usd_per_mmbtu is null as price_is_missing,
        s.reporting_currency,
        px.reporting_units_per_usd,
        coalesce(px.fx_is_carried_forward, false)                  as fx_is_carried_forward
    from production as p
    cross join settings as s
    left join wells as w
        on w.well_id = p.well_id
    left join prices as px
        on px.month = p.production_month
    left join differentials as d
        on d.basin_key = upper(w.basin)
),

revenue as (
    select
        *,
        oil_bbl * oil_price_usd_per_bbl                            as gross_oil_revenue_usd,
        gas_mcf * gas_price_usd_per_mcf                            as gross_gas_revenue_usd,
        ngl_bbl * ngl_price_usd_per_bbl                            as gross_ngl_revenue_usd
    from priced
),

final as (
    select
        well_id,
        field,
        basin,
        production_month,
        oil_bbl,
        gas_mcf,
        ngl_bbl,
        boe,
        working_interest,
        net_revenue_interest,
        wti_usd_per_bbl,
        oil_differential_usd_per_bbl,
        oil_price_usd_per_bbl,
        henry_hub_usd_per_mmbtu,
        gas_heating_value_mmbtu_per_mcf,
        gas_price_fraction_of_henry_hub,
        gas_price_usd_per_mcf,
        ngl_price_usd_per_bbl,
        price_is_carried_forward,
        price_is_missing,
        gross_oil_revenue_usd,
        gross_gas_revenue_usd,
        gross_ngl_revenue_usd,
        gross_oil_revenue_usd + gross_gas_revenue_usd + gross_ngl_revenue_usd as gross_revenue_usd,
        gross_oil_revenue_usd * net_revenue_interest               as net_oil_revenue_usd,
        gross_gas_revenue_usd * net_revenue_interest               as net_gas_revenue_usd,
        gross_ngl_revenue_usd * net_revenue_interest               as net_ngl_revenue_usd,
        (gross_oil_revenue_usd + gross_gas_revenue_usd + gross_ngl_revenue_usd) * net_revenue_interest
                                                                   as net_revenue_usd,
        reporting_currency,
        reporting_units_per_usd,
        fx_is_carried_forward,
        (gross_oil_revenue_usd + gross_gas_revenue_usd + gross_ngl_revenue_usd) * reporting_units_per_usd
                                                                   as gross_revenue_reporting,
        (gross_oil_revenue_usd + gross_gas_revenue_usd + gross_ngl_revenue_usd) * net_revenue_interest
            * reporting_units_per_usd                              as net_revenue_reporting
    from revenue
)

select * from final
