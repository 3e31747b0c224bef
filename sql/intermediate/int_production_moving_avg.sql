-- Trailing 3-, 6- and 12-month moving averages of calendar-day rates per well, on actuals.
-- The average is the simple mean of the monthly calendar-day rates in the window, over the
-- complete monthly series of int_production_cumulative (unreported / shut-in months count
-- as zero). At the start of a series the window holds fewer months: the average is taken
-- over the months available, and months_in_window_N says how many (N once the window is full).
-- Incremental from the first changed month (insert_overwrite, partitions: from_first_changed): a
-- monthly run recomputes the months from the first changed one, reading the 11 months before it
-- that its longest window needs (the series is complete: one row per month, so 11 rows = 11 months).
with monthly as (
    select * from marts.int_production_cumulative
    where {{ from_first_changed_month('production_month', lookback_months=11) }}
),

windowed as (
    select
        well_id,
        production_month,
        oil_rate_bbl_per_day_cal,
        gas_rate_mcf_per_day_cal,
        water_rate_bbl_per_day_cal,
        boe_rate_per_day_cal,

        count(*) over w3                         as months_in_window_3,
        avg(oil_rate_bbl_per_day_cal) over w3    as oil_rate_bbl_per_day_cal_ma3,
        avg(gas_rate_mcf_per_day_cal) over w3    as gas_rate_mcf_per_day_cal_ma3,
        avg(water_rate_bbl_per_day_cal) over w3  as water_rate_bbl_per_day_cal_ma3,
        avg(boe_rate_per_day_cal) over w3        as boe_rate_per_day_cal_ma3,

        count(*) over w6                         as months_in_window_6,
        avg(oil_rate_bbl_per_day_cal) over w6    as oil_rate_bbl_per_day_cal_ma6,
        avg(gas_rate_mcf_per_day_cal) over w6    as gas_rate_mcf_per_day_cal_ma6,
        avg(water_rate_bbl_per_day_cal) over w6  as water_rate_bbl_per_day_cal_ma6,
        avg(boe_rate_per_day_cal) over w6        as boe_rate_per_day_cal_ma6,

        count(*) over w12                        as months_in_window_12,
        avg(oil_rate_bbl_per_day_cal) over w12   as oil_rate_bbl_per_day_cal_ma12,
        avg(gas_rate_mcf_per_day_cal) over w12   as gas_rate_mcf_per_day_cal_ma12,
        avg(water_rate_bbl_per_day_cal) over w12 as water_rate_bbl_per_day_cal_ma12,
        avg(boe_rate_per_day_cal) over w12       as boe_rate_per_day_cal_ma12
    from monthly
    window
        w3 as (partition by well_id order by production_month rows between 2 preceding and current row),
        w6 as (partition by well_id order by production_month rows between 5 preceding and current row),
        w12 as (partition by well_id order by production_month rows between 11 preceding and current row)
),

final as (   -- the months this build replaces (every month in a full build)
    select * from windowed
    where {{ from_first_changed_month('production_month') }}
)

select * from final
