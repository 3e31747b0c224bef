-- A complete monthly series per well, from its first to its last reported month, with
-- running cumulative volumes. Months missing from the source (not reported) and months
-- with zero volume (shut in) count as zero, and the cumulative carries through them.
with production as (
    select * from staging.stg_production
),

well_span as (
    select
        well_id,
        min(production_month) as first_month,
        max(production_month) as last_month
    from production
    group by well_id
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
        coalesce(p.is_producing, false)                    as is_producing
    from spine as s
    left join production as p
        on p.well_id = s.well_id
       and p.production_month = s.production_month
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
        row_number() over w_well  as month_index,
        sum(case when is_producing then 1 else 0 end) over w_well as producing_months_to_date,
        sum(oil_bbl) over w_well   as cum_oil_bbl,
        sum(gas_mcf) over w_well   as cum_gas_mcf,
        sum(water_bbl) over w_well as cum_water_bbl,
        sum(boe) over w_well       as cum_boe
    from filled
    window w_well as (
        partition by well_id
        order by production_month
        rows between unbounded preceding and current row
    )
)

select * from final
