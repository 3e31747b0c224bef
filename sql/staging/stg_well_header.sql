-- Well master data: one row per well_id from the latest loaded file version.
with source as (
    select *
    from raw.well_header
    where _file_id in (select file_id from staging.stg_current_files)
),

deduplicated as (
    select *
    from source
    qualify row_number() over (
        partition by trim(well_id)
        order by _ingested_at desc, _file_id desc, _source_row desc
    ) = 1
),

final as (
    select
        trim(well_id)                                          as well_id,
        nullif(trim(well_name), '')                            as well_name,
        nullif(trim(operator), '')                             as operator,
        coalesce(nullif(trim(field), ''), 'UNKNOWN')           as field,
        nullif(trim(county), '')                               as county,
        nullif(upper(trim(state)), '')                         as state,
        coalesce(nullif(trim(basin), ''), 'UNKNOWN')           as basin,
        cast(date_trunc('month', first_production_month) as date) as first_production_month,
        cast(lateral_length_ft as double)                      as lateral_length_ft,
        cast(working_interest as double)                       as working_interest,
        cast(net_revenue_interest as double)                   as net_revenue_interest,
        coalesce(nullif(lower(trim(well_type)), ''), 'producer') as well_type,
        _source_file,
        _source_row,
        _batch_id,
        _file_id,
        _ingested_at
    from deduplicated
)

select * from final
