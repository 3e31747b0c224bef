-- Trailing 3-, 6- and 12-month moving averages of the decline forecasts' calendar-day rates
-- per well and phase (marts.decline_forecast, written by the decline step; empty before it).
-- Same start-of-series rule as int_production_moving_avg: mean over the months available,
-- months_in_window_N says how many. Carries the fitted model and its status from decline_params.
-- Over the monthly rows of the forecast only (period_months = 1: its first 60 months; the yearly
-- rows after them are not months to average). A view: computed when read, never stored.
with forecast as (
    select
        well_id,
        lower(phase)                         as phase,
        cast(date_trunc('month', month) as date) as forecast_month,
        cast(rate_per_day as double)         as rate_per_day,
        cast(volume as double)               as volume,
        cast(cumulative as double)           as cumulative
    from marts.decline_forecast
    where coalesce(period_months, 1) = 1
),

params as (
    select
        well_id,
        lower(phase) as phase,
        any_value(model)  as decline_model,
        any_value(status) as fit_status
    from marts.decline_params
    group by well_id, lower(phase)
),

final as (
    select
        f.well_id,
        f.phase,
        f.forecast_month,
        p.decline_model,
        p.fit_status,
        f.rate_per_day,
        f.volume,
        f.cumulative,
        count(*) over w3          as months_in_window_3,
        avg(f.rate_per_day) over w3  as rate_per_day_ma3,
        count(*) over w6          as months_in_window_6,
        avg(f.rate_per_day) over w6  as rate_per_day_ma6,
        count(*) over w12         as months_in_window_12,
        avg(f.rate_per_day) over w12 as rate_per_day_ma12
    from forecast as f
    left join params as p
        on p.well_id = f.well_id
       and p.phase = f.phase
    window
        w3 as (partition by f.well_id, f.phase order by f.forecast_month rows between 2 preceding and current row),
        w6 as (partition by f.well_id, f.phase order by f.forecast_month rows between 5 preceding and current row),
        w12 as (partition by f.well_id, f.phase order by f.forecast_month rows between 11 preceding and current row)
)

select * from final
