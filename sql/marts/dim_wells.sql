-- One row per well (header wells plus any well that reports production without a header).
-- Production summary from int_production_cumulative; status as of the latest month in the
-- production data (data_as_of_month):
--   injector           well_type = 'injector'
--   producing          produced (oil or gas > 0) in the last shut_in_months months (setting, default 3)
--   shut_in            produced before, but not in the last shut_in_months months
--   not_yet_producing  never produced
-- EUR / remaining reserves from the decline step (int_well_reserves): null until fitted.
with wells as not materialized (   -- read twice: inlined, not copied (see README, "Add a model")
    select * from staging.stg_well_header
),

monthly as not materialized (
    select * from marts.int_production_cumulative
),

reserves as (
    select * from marts.int_well_reserves
),

settings as (
    select * from staging.stg_settings
),

as_of as (
    select max(production_month) as data_as_of_month from monthly
),

all_wells as (
    select well_id from wells
    union
    select distinct well_id from monthly
),

production_summary as (
    select
        well_id,
        min(production_month)                                   as first_reported_month,
        min(production_month) filter (where is_producing)       as first_production_month_actual,
        max(production_month) filter (where is_producing)       as last_production_month,
        count(*) filter (where is_producing)                    as months_producing,
        max(oil_rate_bbl_per_day_cal)                           as peak_oil_rate_bbl_per_day_cal,
        max(gas_rate_mcf_per_day_cal)                           as peak_gas_rate_mcf_per_day_cal,
        max(boe_rate_per_day_cal)                               as peak_boe_rate_per_day_cal,
        sum(oil_bbl)                                            as cum_oil_bbl,
        sum(gas_mcf)                                            as cum_gas_mcf,
        sum(water_bbl)                                          as cum_water_bbl,
        sum(boe)                                                as cum_boe
    from monthly
    group by well_id
),

peak_month as (
    select well_id, production_month as peak_oil_month
    from monthly
    where oil_bbl > 0
    qualify row_number() over (partition by well_id order by oil_rate_bbl_per_day_cal desc, production_month) = 1
),

final as (
    select
        a.well_id,
        w.well_name,
        w.operator,
        coalesce(w.field, 'UNKNOWN')                            as field,
        w.county,
        w.state,
        coalesce(w.basin, 'UNKNOWN')                            as basin,
        coalesce(w.well_type, 'producer')                       as well_type,
        w.lateral_length_ft,
        w.working_interest,
        w.net_revenue_interest,
        w.first_production_month                                as first_production_month_header,
        p.first_production_month_actual                         as first_production_month,
        p.last_production_month,
        pk.peak_oil_month,
        coalesce(p.months_producing, 0)                         as months_producing,
        p.peak_oil_rate_bbl_per_day_cal,
        p.peak_gas_rate_mcf_per_day_cal,
        p.peak_boe_rate_per_day_cal,
        coalesce(p.cum_oil_bbl, 0)                              as cum_oil_bbl,
        coalesce(p.cum_gas_mcf, 0)                              as cum_gas_mcf,
        coalesce(p.cum_water_bbl, 0)                            as cum_water_bbl,
        coalesce(p.cum_boe, 0)                                  as cum_boe,
        case
            when coalesce(w.well_type, 'producer') = 'injector' then 'injector'
            when p.last_production_month is null then 'not_yet_producing'
            when p.last_production_month > o.data_as_of_month - to_months(s.shut_in_months) then 'producing'
            else 'shut_in'
        end                                                     as status,
        o.data_as_of_month,
        r.oil_decline_model,
        r.oil_fit_status,
        r.oil_eur_bbl,
        r.oil_remaining_bbl,
        r.gas_decline_model,
        r.gas_fit_status,
        r.gas_eur_mcf,
        r.gas_remaining_mcf,
        r.eur_boe,
        r.remaining_boe,
        w.well_id is not null                                   as has_header,
        w._source_file,
        w._source_row,
        w._batch_id
    from all_wells as a
    cross join as_of as o
    cross join settings as s
    left join wells as w on w.well_id = a.well_id
    left join production_summary as p on p.well_id = a.well_id
    left join peak_month as pk on pk.well_id = a.well_id
    left join reserves as r on r.well_id = a.well_id
)

select * from final
