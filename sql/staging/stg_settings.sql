-- One row of typed constants for the models (metadata.transform_settings, migration V002).
-- Defaults here apply when a setting row is missing; they are the values V002 seeds.
with settings as (
    select setting, value from metadata.transform_settings
),

final as (
    select
        coalesce(max(case when setting = 'reporting_currency' then upper(trim(value)) end), 'CAD')
            as reporting_currency,
        coalesce(max(case when setting = 'gas_heating_value_mmbtu_per_mcf' then try_cast(value as double) end), 1.0)
            as gas_heating_value_mmbtu_per_mcf,
        coalesce(max(case when setting = 'gas_price_fraction_of_henry_hub' then try_cast(value as double) end), 0.85)
            as gas_price_fraction_of_henry_hub,
        coalesce(max(case when setting = 'ngl_yield_bbl_per_mmcf' then try_cast(value as double) end), 80.0)
            as ngl_yield_bbl_per_mmcf,
        coalesce(max(case when setting = 'ngl_price_fraction_of_wti' then try_cast(value as double) end), 0.30)
            as ngl_price_fraction_of_wti,
        coalesce(max(case when setting = 'default_oil_differential_usd_per_bbl' then try_cast(value as double) end), 0.0)
            as default_oil_differential_usd_per_bbl,
        coalesce(max(case when setting = 'revenue_variance_tolerance_pct' then try_cast(value as double) end), 5.0)
            as revenue_variance_tolerance_pct,
        coalesce(max(case when setting = 'shut_in_months' then try_cast(value as integer) end), 3)
            as shut_in_months
    from settings
)

select * from final
