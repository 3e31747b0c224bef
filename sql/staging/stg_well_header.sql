-- Well master data: one row per well_id from the latest loaded file version.
with deduplicated as (   -- current file versions only, the latest row per key (macro current_rows)
    {{ current_rows('raw.well_header', key=["trim(well_id)"]) }}
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
        {{ lineage_columns() }}
    from deduplicated
)

select * from final
