-- V002: tables the SQL models can always LEFT JOIN, before the Python steps fill them.
--
-- marts.decline_params / marts.decline_forecast are written by the decline step
-- (basinlab.decline.step.fit_warehouse) after the transform; they exist empty from the start so
-- that marts.dim_wells (EUR, remaining reserves) and marts.int_forecast_moving_avg
-- always build. The decline step may replace them (create or replace / insert by name);
-- then it calls run_models(con, select='decline_params+') to rebuild what reads them.
--
-- metadata.transform_settings / metadata.oil_differentials hold the constants the
-- SQL models use (reporting currency, gas heating value, oil differentials, check
-- tolerances). They are plain tables, visible to every reader of the warehouse;
-- basinlab.transform.run_models(settings={...}) upserts overrides before a run.

create table if not exists marts.decline_params (
    well_id                  varchar not null,
    phase                    varchar not null,   -- oil | gas (| boe)
    model                    varchar,            -- exponential | hyperbolic | harmonic | modified_hyperbolic | duong | ...
    qi                       double,             -- rate at the fit start, phase units per producing day (bbl/d or mcf/d)
    di                       double,             -- initial decline, secant-effective fraction per year
    b                        double,             -- Arps b exponent
    dterm                    double,             -- terminal decline, secant-effective fraction per year (modified hyperbolic)
    status                   varchar,            -- fitted | analog | inactive | insufficient_history | no_decline | no_production | failed
    reason                   varchar,
    cum_to_date              double,             -- cumulative produced to date, phase units (bbl or mcf)
    remaining                double,             -- forecast from the last actual month to the economic limit / time cap
    eur                      double              -- cum_to_date + remaining
);

create table if not exists marts.decline_forecast (
    well_id                  varchar not null,
    phase                    varchar not null,
    month                    date    not null,
    rate_per_day             double,             -- calendar-day rate, phase units per day
    volume                   double,             -- volume in the month, phase units
    cumulative               double              -- cumulative including history, phase units
);

create table if not exists metadata.transform_settings (
    setting                  varchar primary key,
    value                    varchar not null,
    description              varchar
);

insert into metadata.transform_settings (setting, value, description) values
    ('reporting_currency', 'CAD',
        'ISO 4217 currency of the *_reporting columns; converted from USD with staging.stg_fx.units_per_usd of the month (USD = 1)'),
    ('gas_heating_value_mmbtu_per_mcf', '1.0',
        'heating value used to price gas at Henry Hub (USD/MMBtu): 1 mcf = this many MMBtu'),
    ('gas_price_fraction_of_henry_hub', '0.85',
        'realised gas price = Henry Hub x heating value x this fraction (basis and processing deductions)'),
    ('ngl_yield_bbl_per_mmcf', '80.0',
        'NGL recovered per million cubic feet of gas (bbl/MMcf); NGL volume = gas_mcf x yield / 1000'),
    ('ngl_price_fraction_of_wti', '0.30',
        'realised NGL price = WTI x this fraction (USD/bbl)'),
    ('default_oil_differential_usd_per_bbl', '0.0',
        'oil price = WTI - differential (USD/bbl) for basins not listed in metadata.oil_differentials'),
    ('revenue_variance_tolerance_pct', '5.0',
        'booked vs calculated revenue: warn when |variance| exceeds this percentage of calculated revenue'),
    ('shut_in_months', '3',
        'dim_wells.status: a well with production before but none in the last N months of data is shut_in')
on conflict do nothing;

create table if not exists metadata.oil_differentials (
    basin                    varchar primary key,
    differential_usd_per_bbl double  not null,   -- realised oil price = WTI - differential
    description              varchar
);

insert into metadata.oil_differentials (basin, differential_usd_per_bbl, description) values
    ('Midland',      2.0, 'Permian - Midland: WTI Midland vs Cushing plus trucking'),
    ('Delaware',     3.0, 'Permian - Delaware: sour / gathering constrained'),
    ('Western Gulf', 2.5, 'Eagle Ford: LLS-linked, Gulf Coast access'),
    ('Williston',    5.5, 'Bakken: rail / pipeline to Cushing')
on conflict do nothing;
