-- Monthly production at three levels (grain: level, key, production_month):
--   level 'well'  key = well_id;   level 'field' key = field;   level 'basin' key = basin.
-- gross_* = 8/8ths volumes; net_wi_* = gross x working_interest (the company's cost-bearing
-- share); net_nri_* = gross x net_revenue_interest (the company's revenue share). Wells without
-- a header row count in field/basin 'UNKNOWN' and have null net volumes.
-- boe_per_day_cal = gross_boe_per_day_cal = gross BOE / calendar days in the month.
-- Incremental by month (insert_overwrite): a monthly run rebuilds the months whose production changed
-- (a header edit rebuilds every month).
with production as (
    select * from marts.int_production_cumulative
    where {{ in_changed_months('production_month') }}   -- a monthly run: the months that changed
),

wells as (   -- the header columns used (a re-sent header file changes only its lineage columns)
    select well_id, field, basin, working_interest, net_revenue_interest from staging.stg_well_header
),

well_month as (
    select
        p.well_id,
        coalesce(w.field, 'UNKNOWN')                  as field,
        coalesce(w.basin, 'UNKNOWN')                  as basin,
        p.production_month,
        p.days_in_month,
        p.is_producing,
        w.working_interest,
        w.net_revenue_interest,
        p.oil_bbl,
        p.gas_mcf,
        p.water_bbl,
        p.boe,
        p.oil_bbl * w.working_interest                as net_wi_oil_bbl,
        p.gas_mcf * w.working_interest                as net_wi_gas_mcf,
        p.water_bbl * w.working_interest              as net_wi_water_bbl,
        p.boe * w.working_interest                    as net_wi_boe,
        p.oil_bbl * w.net_revenue_interest            as net_nri_oil_bbl,
        p.gas_mcf * w.net_revenue_interest            as net_nri_gas_mcf,
        p.boe * w.net_revenue_interest                as net_nri_boe
    from production as p
    left join wells as w
        on w.well_id = p.well_id
),

by_level as (
    -- one aggregate list, three grains (well, field, basin) via grouping sets
    select
        case when grouping(well_id) = 0 then 'well'
             when grouping(field) = 0 then 'field'
             else 'basin' end                                   as level,
        coalesce(well_id, field, basin)                         as key,
        case when grouping(well_id) = 0 then any_value(field)
             when grouping(field) = 0 then field end            as field,
        case when grouping(basin) = 0 then basin
             else any_value(basin) end                          as basin,
        production_month,
        any_value(days_in_month)                                as days_in_month,
        sum(oil_bbl) as gross_oil_bbl, sum(gas_mcf) as gross_gas_mcf, sum(water_bbl) as gross_water_bbl, sum(boe) as gross_boe,
        sum(net_wi_oil_bbl) as net_wi_oil_bbl, sum(net_wi_gas_mcf) as net_wi_gas_mcf,
        sum(net_wi_water_bbl) as net_wi_water_bbl, sum(net_wi_boe) as net_wi_boe,
        sum(net_nri_oil_bbl) as net_nri_oil_bbl, sum(net_nri_gas_mcf) as net_nri_gas_mcf, sum(net_nri_boe) as net_nri_boe,
        count(*) filter (where is_producing) as producing_well_count,
        count(*) as reporting_well_count
    from well_month
    group by grouping sets ((well_id, production_month), (field, production_month), (basin, production_month))
),

final as (
    select
        level,
        key,
        field,
        basin,
        production_month,
        cast(extract('year' from production_month) as integer) as production_year,
        days_in_month,
        gross_oil_bbl,
        gross_gas_mcf,
        gross_water_bbl,
        gross_boe,
        gross_oil_bbl / days_in_month as gross_oil_rate_bbl_per_day_cal,
        gross_gas_mcf / days_in_month as gross_gas_rate_mcf_per_day_cal,
        gross_boe / days_in_month     as gross_boe_per_day_cal,
        gross_boe / days_in_month     as boe_per_day_cal,        -- same as gross_boe_per_day_cal (short name)
        net_wi_oil_bbl,
        net_wi_gas_mcf,
        net_wi_water_bbl,
        net_wi_boe,
        net_nri_oil_bbl,
        net_nri_gas_mcf,
        net_nri_boe,
        producing_well_count,
        reporting_well_count
    from by_level
)

select * from final
