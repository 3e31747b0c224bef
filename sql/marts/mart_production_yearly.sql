-- Yearly production at the levels of mart_production_monthly (grain: level, key, production_year).
-- producing_well_count = wells with production in any month of the year;
-- months_in_year = months of data in the year; boe_per_day_cal = gross BOE / calendar days
-- of the months covered.
with monthly as (
    select * from marts.mart_production_monthly
),

well_months as not materialized (   -- read three times: inlined, not copied (README, "Add a model")
    select * from marts.mart_production_monthly where level = 'well'
),

producing_wells as (
    select 'well' as level, key, production_year, count(distinct key) filter (where producing_well_count > 0) as producing_well_count
    from well_months group by key, production_year
    union all
    select 'field', field, production_year, count(distinct key) filter (where producing_well_count > 0)
    from well_months group by field, production_year
    union all
    select 'basin', basin, production_year, count(distinct key) filter (where producing_well_count > 0)
    from well_months group by basin, production_year
),

yearly as (
    select
        level,
        key,
        any_value(field)          as field,
        any_value(basin)          as basin,
        production_year,
        count(*)                  as months_in_year,
        sum(days_in_month)        as days_covered,
        sum(gross_oil_bbl)        as gross_oil_bbl,
        sum(gross_gas_mcf)        as gross_gas_mcf,
        sum(gross_water_bbl)      as gross_water_bbl,
        sum(gross_boe)            as gross_boe,
        sum(net_wi_oil_bbl)       as net_wi_oil_bbl,
        sum(net_wi_gas_mcf)       as net_wi_gas_mcf,
        sum(net_wi_water_bbl)     as net_wi_water_bbl,
        sum(net_wi_boe)           as net_wi_boe,
        sum(net_nri_oil_bbl)      as net_nri_oil_bbl,
        sum(net_nri_gas_mcf)      as net_nri_gas_mcf,
        sum(net_nri_boe)          as net_nri_boe
    from monthly
    group by level, key, production_year
),

final as (
    select
        y.level,
        y.key,
        y.field,
        y.basin,
        y.production_year,
        y.months_in_year,
        y.days_covered,
        y.gross_oil_bbl,
        y.gross_gas_mcf,
        y.gross_water_bbl,
        y.gross_boe,
        y.gross_boe / y.days_covered as gross_boe_per_day_cal,
        y.gross_boe / y.days_covered as boe_per_day_cal,
        y.net_wi_oil_bbl,
        y.net_wi_gas_mcf,
        y.net_wi_water_bbl,
        y.net_wi_boe,
        y.net_nri_oil_bbl,
        y.net_nri_gas_mcf,
        y.net_nri_boe,
        coalesce(p.producing_well_count, 0) as producing_well_count
    from yearly as y
    left join producing_wells as p
        on p.level = y.level
       and p.key = y.key
       and p.production_year = y.production_year
)

select * from final
