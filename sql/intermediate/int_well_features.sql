-- Features for the ML trendlines (basinlab.decline.ml): one row per well and month from its first
-- producing month on, with the well's age, producing-day rates, cumulative volumes and the static
-- features (field, basin, lateral length, vintage). Every row depends only on that month and the
-- months before it, so `where production_month <= cut` gives exactly what was known at a cut.
-- Units: bbl, mcf; rates per producing day (days_on; calendar days where days_on is not reported).
--
-- Incremental from the first changed month (insert_overwrite, partitions: from_first_changed): a
-- monthly run reads the staged months from the first one that changed and carries each well's first
-- producing month and cumulative volumes from its last row before that month as built (`carried`;
-- empty in a full build). A well without such a row had not produced before that month.
with production as not materialized (
    select * from staging.stg_production
    where {{ from_first_changed_month('production_month') }}
),

wells as (   -- the header columns used (a re-sent header file changes only its lineage columns)
    select well_id, field, basin, lateral_length_ft from staging.stg_well_header
),

carried as (   -- each well's last row before the first rebuilt month (none in a full build)
{%- if is_incremental() %}
    select
        well_id,
        cast(max(production_month) - to_months(cast(arg_max(age_months, production_month) as integer) - 1) as date)
                                                  as first_production_month,
        arg_max(cum_oil_bbl, production_month)    as cum_oil_bbl,
        arg_max(cum_gas_mcf, production_month)    as cum_gas_mcf,
        arg_max(cum_water_bbl, production_month)  as cum_water_bbl
    from {{ this }}
    where production_month < {{ first_changed_month() }}
    group by well_id
{%- else %}
    select
        cast(null as varchar) as well_id, cast(null as date) as first_production_month,
        cast(0 as double) as cum_oil_bbl, cast(0 as double) as cum_gas_mcf, cast(0 as double) as cum_water_bbl
    where false
{%- endif %}
),

first_production as (
    select
        p.well_id,
        coalesce(any_value(c.first_production_month),
                 min(p.production_month) filter (where p.oil_bbl > 0 or p.gas_mcf > 0)) as first_production_month,
        coalesce(any_value(c.cum_oil_bbl), 0)   as carried_oil_bbl,
        coalesce(any_value(c.cum_gas_mcf), 0)   as carried_gas_mcf,
        coalesce(any_value(c.cum_water_bbl), 0) as carried_water_bbl
    from production as p
    left join carried as c
        on c.well_id = p.well_id
    group by p.well_id
),

aged as (
    select
        p.well_id,
        p.production_month,
        date_diff('month', f.first_production_month, p.production_month) + 1  as age_months,
        f.first_production_month,
        coalesce(p.days_on, p.days_in_month)                                    as producing_days,
        f.carried_oil_bbl,
        f.carried_gas_mcf,
        f.carried_water_bbl,
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
        a.carried_oil_bbl + sum(a.oil_bbl) over w                                as cum_oil_bbl,
        a.carried_gas_mcf + sum(a.gas_mcf) over w                                as cum_gas_mcf,
        a.carried_water_bbl + sum(a.water_bbl) over w                            as cum_water_bbl,
        coalesce(h.field, 'UNKNOWN')                                             as field,
        coalesce(h.basin, 'UNKNOWN')                                             as basin,
        h.lateral_length_ft,
        extract('year' from a.first_production_month)                           as vintage_year
    from aged as a
    left join wells as h on h.well_id = a.well_id
    window w as (partition by a.well_id order by a.production_month rows between unbounded preceding and current row)
)

select * from final
