-- Monthly injection per injector: one row per (well_id, injection_month), latest loaded file wins.
with source as (
    select *
    from raw.well_injection
    where _file_id in (select file_id from staging.stg_current_files)
),

deduplicated as (
    select *
    from source
    qualify row_number() over (
        partition by trim(well_id), date_trunc('month', injection_month)
        order by _ingested_at desc, _file_id desc, _source_row desc
    ) = 1
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
        _source_file,
        _source_row,
        _batch_id,
        _file_id,
        _ingested_at
    from deduplicated
)

select * from final
