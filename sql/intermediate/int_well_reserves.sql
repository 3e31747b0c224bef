-- One row per well with the decline step's cumulative, remaining and EUR per phase
-- (marts.decline_params; empty -> no rows until the decline step has run).
-- Units: oil in bbl, gas in mcf; boe = oil + gas / 6.
-- The BOE totals count a phase without a forecast (no decline, too short, no production, failed)
-- at its cumulative to date and no remaining volume: a floor, so a field total never drops a well
-- because one of its phases could not be fitted.
with params as (
    select
        well_id,
        lower(phase) as phase,
        model,
        status,
        cast(cum_to_date as double) as cum_to_date,
        cast(remaining as double)   as remaining,
        cast(eur as double)         as eur
    from marts.decline_params
),

final as (
    select
        well_id,
        max(case when phase = 'oil' then model end)       as oil_decline_model,
        max(case when phase = 'oil' then status end)      as oil_fit_status,
        max(case when phase = 'oil' then cum_to_date end) as oil_cum_to_date_bbl,
        max(case when phase = 'oil' then remaining end)   as oil_remaining_bbl,
        max(case when phase = 'oil' then eur end)         as oil_eur_bbl,
        max(case when phase = 'gas' then model end)       as gas_decline_model,
        max(case when phase = 'gas' then status end)      as gas_fit_status,
        max(case when phase = 'gas' then cum_to_date end) as gas_cum_to_date_mcf,
        max(case when phase = 'gas' then remaining end)   as gas_remaining_mcf,
        max(case when phase = 'gas' then eur end)         as gas_eur_mcf,
        coalesce(max(case when phase = 'oil' then remaining end), 0)
            + coalesce(max(case when phase = 'gas' then remaining end), 0) / {{ const.gas_mcf_per_boe }} as remaining_boe,
        coalesce(max(case when phase = 'oil' then coalesce(eur, cum_to_date) end), 0)
            + coalesce(max(case when phase = 'gas' then coalesce(eur, cum_to_date) end), 0) / {{ const.gas_mcf_per_boe }} as eur_boe
    from params
    group by well_id
)

select * from final
