-- Monthly injection per injector: one row per (well_id, injection_month), latest loaded file wins.
with deduplicated as (   -- current file versions only, the latest row per key (macro current_rows)
    {{ current_rows('raw.well_injection', key=["trim(well_id)", "date_trunc('month', injection_month)"]) }}
),

final as (
    select
        trim(well_id)                                              as well_id,
        cast(date_trunc('month', injection_month) as date)         as injection_month,
        cast(day(last_day(injection_month)) as integer)            as days_in_month,
        cast(days_on as double)                                    as days_on,
        cast(coalesce(water_injected_bbl, 0) as double)            as water_injected_bbl,
        cast(coalesce(gas_injected_mcf, 0) as double)              as gas_injected_mcf,
        coalesce(water_injected_bbl, 0) / day(last_day(injection_month)) as water_injected_bbl_per_day_cal,
        coalesce(gas_injected_mcf, 0) / day(last_day(injection_month))   as gas_injected_mcf_per_day_cal,
        {{ lineage_columns() }}
    from deduplicated
)

select * from final
