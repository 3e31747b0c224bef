-- Monthly well production: one row per (well_id, production_month) from the latest
-- loaded file version; volumes in bbl / mcf (null volumes count as 0), BOE = oil + gas / 6 (const.gas_mcf_per_boe).
-- Rates: *_per_day_cal = volume / calendar days in the month;
--        *_per_producing_day = volume / days_on (null when days_on is 0 or not reported).
with deduplicated as (   -- current file versions only, the latest row per key (macro current_rows)
    {{ current_rows('raw.well_production', key=["trim(well_id)", "date_trunc('month', production_month)"]) }}
),

typed as (
    select
        trim(well_id)                                              as well_id,
        cast(date_trunc('month', production_month) as date)        as production_month,
        cast(days_on as double)                                    as days_on,
        cast(coalesce(oil_bbl, 0) as double)                       as oil_bbl,
        cast(coalesce(gas_mcf, 0) as double)                       as gas_mcf,
        cast(coalesce(water_bbl, 0) as double)                     as water_bbl,
        {{ lineage_columns() }}
    from deduplicated
),

final as (
    select
        well_id,
        production_month,
        extract('year' from production_month)                      as production_year,
        cast(day(last_day(production_month)) as integer)           as days_in_month,
        days_on,
        oil_bbl,
        gas_mcf,
        water_bbl,
        oil_bbl + gas_mcf / {{ const.gas_mcf_per_boe }}                                    as boe,
        (oil_bbl > 0 or gas_mcf > 0)                               as is_producing,
        oil_bbl / day(last_day(production_month))                  as oil_rate_bbl_per_day_cal,
        gas_mcf / day(last_day(production_month))                  as gas_rate_mcf_per_day_cal,
        water_bbl / day(last_day(production_month))                as water_rate_bbl_per_day_cal,
        (oil_bbl + gas_mcf / {{ const.gas_mcf_per_boe }}) / day(last_day(production_month)) as boe_rate_per_day_cal,
        oil_bbl / nullif(days_on, 0)                               as oil_rate_bbl_per_producing_day,
        gas_mcf / nullif(days_on, 0)                               as gas_rate_mcf_per_producing_day,
        water_bbl / nullif(days_on, 0)                             as water_rate_bbl_per_producing_day,
        (oil_bbl + gas_mcf / {{ const.gas_mcf_per_boe }}) / nullif(days_on, 0)             as boe_rate_per_producing_day,
        {{ lineage_columns() }}
    from typed
)

select * from final
