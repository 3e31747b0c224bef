-- severity: error
-- model: staging.stg_production
-- description: production for {{ month }} is not entirely null or zero while the previous month's was not (a file or mapping that lost its volume columns would publish "0 BOE/d")
with params as (
    select cast({{ month }} as date) as report_month
),

monthly as (
    select
        p.production_month,
        count(*)                                                       as well_months,
        sum(abs(p.oil_bbl) + abs(p.gas_mcf) + abs(p.water_bbl))       as total_volume
    from staging.stg_production as p
    cross join params
    where p.production_month in (params.report_month, cast(params.report_month - interval 1 month as date))
    group by p.production_month
),

report as (
    select m.*
    from monthly as m cross join params
    where m.production_month = params.report_month
),

previous as (
    select m.*
    from monthly as m cross join params
    where m.production_month = cast(params.report_month - interval 1 month as date)
),

final as (
    select
        r.production_month,
        r.well_months,
        r.total_volume                as total_volume_bbl_mcf,
        p.production_month            as previous_month,
        p.total_volume                as previous_total_volume_bbl_mcf
    from report as r
    join previous as p on true
    where coalesce(r.total_volume, 0) = 0
      and coalesce(p.total_volume, 0) > 0
)

select * from final
