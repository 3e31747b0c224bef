-- A complete monthly series per well, from its first to its last reported month, with
-- running cumulative volumes. Months missing from the source (not reported) and months
-- with zero volume (shut in) count as zero, and the cumulative carries through them.
--
-- Incremental from the first changed month (insert_overwrite, partitions: from_first_changed): a
-- monthly run reads the staged months from the first one that changed, and carries each well's
-- month index and running totals from its last row before that month as built (`carried`; empty in
-- a full build). The series of a well that resumes reporting is filled from its last carried month.
with production as not materialized (
    select * from staging.stg_production
    where {{ from_first_changed_month('production_month') }}
),

carried as (   -- each well's last row before the first rebuilt month (none in a full build)
{%- if is_incremental() %}
    select
        well_id,
        max(production_month)                              as last_month,
        arg_max(month_index, production_month)             as month_index,
        arg_max(producing_months_to_date, production_month) as producing_months_to_date,
        arg_max(cum_oil_bbl, production_month)             as cum_oil_bbl,
        arg_max(cum_gas_mcf, production_month)             as cum_gas_mcf,
        arg_max(cum_water_bbl, production_month)           as cum_water_bbl,
        arg_max(cum_boe, production_month)                 as cum_boe
    from {{ this }}
    where production_month < {{ first_changed_month() }}
    group by well_id
{%- else %}
    select
        cast(null as varchar) as well_id, cast(null as date) as last_month, cast(0 as bigint) as month_index,
        cast(0 as hugeint) as producing_months_to_date, cast(0 as double) as cum_oil_bbl,
        cast(0 as double) as cum_gas_mcf, cast(0 as double) as cum_water_bbl, cast(0 as double) as cum_boe
    where false
{%- endif %}
),

well_span as (
    select
        p.well_id,
        coalesce(cast(any_value(c.last_month) + interval 1 month as date), min(p.production_month)) as first_month,
        max(p.production_month) as last_month
    from production as p
    left join carried as c
        on c.well_id = p.well_id
    group by p.well_id
),

spine as (
    select
        well_id,
        cast(unnest(generate_series(first_month, last_month, interval 1 month)) as date) as production_month
    from well_span
),

filled as (
    select
        s.well_id,
        s.production_month,
        cast(day(last_day(s.production_month)) as integer) as days_in_month,
        p.well_id is not null                              as is_reported,
        p.days_on,
        coalesce(p.oil_bbl, 0)                             as oil_bbl,
        coalesce(p.gas_mcf, 0)                             as gas_mcf,
        coalesce(p.water_bbl, 0)                           as water_bbl,
        coalesce(p.boe, 0)                                 as boe,
        coalesce(p.is_producing, false)                    as is_producing,
        coalesce(c.month_index, 0)                         as carried_month_index,
        coalesce(c.producing_months_to_date, 0)            as carried_producing_months,
        coalesce(c.cum_oil_bbl, 0)                         as carried_oil_bbl,
        coalesce(c.cum_gas_mcf, 0)                         as carried_gas_mcf,
        coalesce(c.cum_water_bbl, 0)                       as carried_water_bbl,
        coalesce(c.cum_boe, 0)                             as carried_boe
    from spine as s
    left join production as p
        on p.well_id = s.well_id
       and p.production_month = s.production_month
    left join carried as c
        on c.well_id = s.well_id
),

final as (
    select
        well_id,
        production_month,
        days_in_month,
        is_reported,
        is_producing,
        days_on,
        oil_bbl,
        gas_mcf,
        water_bbl,
        boe,
        oil_bbl / days_in_month   as oil_rate_bbl_per_day_cal,
        gas_mcf / days_in_month   as gas_rate_mcf_per_day_cal,
        water_bbl / days_in_month as water_rate_bbl_per_day_cal,
        boe / days_in_month       as boe_rate_per_day_cal,
        carried_month_index + row_number() over w_well                         as month_index,
        carried_producing_months + sum(case when is_producing then 1 else 0 end) over w_well
                                                                                as producing_months_to_date,
        carried_oil_bbl + sum(oil_bbl) over w_well                              as cum_oil_bbl,
        carried_gas_mcf + sum(gas_mcf) over w_well                              as cum_gas_mcf,
        carried_water_bbl + sum(water_bbl) over w_well                          as cum_water_bbl,
        carried_boe + sum(boe) over w_well                                      as cum_boe
    from filled
    window w_well as (
        partition by well_id
        order by production_month
        rows between unbounded preceding and current row
    )
)

select * from final
