-- Features for the ML trendlines (basinlab.decline.ml): one row per well and month from its first
-- producing month on, with the well's age, producing-day rates, cumulative volumes and the static
-- features (field, basin, lateral length, vintage). Every row depends only on that month and the
-- months before it, so `where production_month <= cut` gives exactly what was known at a cut.
-- Units: bbl, mcf; rates per producing day (days_on; calendar days where days_on is not reported).
with production as (
    select * from staging.stg_production
),

wells as (
    select * from staging.stg_well_header
),

first_production as (
    select
        well_id,
        min(production_month) filter (where oil_bbl > 0 or gas_mcf > 0) as first_production_month
    from production
    group by well_id
),

aged as (
    select
        p.well_id,
        p.production_month,
        date_diff('month', f.first_production_month, p.production_month) + 1  as age_months,
        f.first_production_month,
        coalesce(p.days_on, p.days_in_month)                                    as producing_days,
        p.oil_bbl,
        p.gas_mcf,
        p.water_bbl
    from production as p
    join first_production as f on f.well_id = p.well_id
    where f.first_production_month is not null
      and p.production_month >= f.first_production_month
),

final as (
    select
        a.well_id,
        a.production_month,
        a.age_months,
        a.producing_days,
        a.oil_bbl / nullif(a.producing_days, 0)                                  as oil_rate_bbl_per_producing_day,
        a.gas_mcf / nullif(a.producing_days, 0)                                  as gas_rate_mcf_per_producing_day,
        a.water_bbl / nullif(a.producing_days, 0)                                as water_rate_bbl_per_producing_day,
        sum(a.oil_bbl) over w                                                    as cum_oil_bbl,
        sum(a.gas_mcf) over w                                                    as cum_gas_mcf,
        sum(a.water_bbl) over w                                                  as cum_water_bbl,
        coalesce(h.field, 'UNKNOWN')                                             as field,
        coalesce(h.basin, 'UNKNOWN')                                             as basin,
        h.lateral_length_ft,
        extract('year' from a.first_production_month)                           as vintage_year
    from aged as a
    left join wells as h on h.well_id = a.well_id
    window w as (partition by a.well_id order by a.production_month rows between unbounded preceding and current row)
)

select * from final
