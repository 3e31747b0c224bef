-- V007: marts.decline_forecast is stored compactly (basinlab.decline.step, issue 12): one row per
-- month for the first 60 months of a forecast, then one row per 12 months to its end. The column
-- period_months says how many months a row holds (1 for the monthly rows; 12, or fewer for the last
-- row of a forecast, for the yearly rows). Rows written before this version are all monthly.
--
-- The decline step replaces the table with its full schema (TABLE_SCHEMAS in step.py); this adds the
-- column to the empty table V002 creates, so the models reading it (int_forecast_moving_avg) build
-- before the first decline run too.

alter table marts.decline_forecast add column if not exists period_months integer default 1;
