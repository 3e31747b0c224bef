-- V001: schemas, raw landing tables and pipeline metadata.
-- Raw tables hold each accepted source row in canonical columns and units,
-- plus where it came from (_source_file, _source_row, _file_id, _batch_id, _ingested_at).

create schema if not exists raw;
create schema if not exists staging;
create schema if not exists marts;
create schema if not exists metadata;

create table if not exists raw.well_header (
    well_id                  varchar not null,
    well_name                varchar,
    operator                 varchar,
    field                    varchar,
    county                   varchar,
    state                    varchar,
    basin                    varchar,
    first_production_month   date,
    lateral_length_ft        double,
    working_interest         double,
    net_revenue_interest     double,
    well_type                varchar,          -- producer | injector
    _source_file             varchar not null,
    _source_row              bigint  not null,
    _file_id                 bigint  not null,
    _batch_id                varchar not null,
    _ingested_at             timestamp not null
);

create table if not exists raw.well_production (
    well_id                  varchar not null,
    production_month         date    not null,
    days_on                  double,           -- producing days in the month (0..31); null = not reported
    oil_bbl                  double,
    gas_mcf                  double,
    water_bbl                double,
    _source_file             varchar not null,
    _source_row              bigint  not null,
    _file_id                 bigint  not null,
    _batch_id                varchar not null,
    _ingested_at             timestamp not null
);

create table if not exists raw.well_injection (
    well_id                  varchar not null,
    injection_month          date    not null,
    days_on                  double,
    water_injected_bbl       double,
    gas_injected_mcf         double,
    _source_file             varchar not null,
    _source_row              bigint  not null,
    _file_id                 bigint  not null,
    _batch_id                varchar not null,
    _ingested_at             timestamp not null
);

create table if not exists raw.gl_records (
    journal_id               varchar not null,
    line_number              integer not null,
    transaction_date         date    not null,
    account_code             varchar not null,
    account_name             varchar,
    description              varchar,
    well_id                  varchar,
    afe_number               varchar,
    partner_id               varchar,
    debit_amount             decimal(18, 2),
    credit_amount            decimal(18, 2),
    currency                 varchar,
    _source_file             varchar not null,
    _source_row              bigint  not null,
    _file_id                 bigint  not null,
    _batch_id                varchar not null,
    _ingested_at             timestamp not null
);

create table if not exists raw.price_deck (
    price_month              date    not null,
    benchmark                varchar not null,  -- WTI (USD/bbl), HENRY_HUB (USD/MMBtu), BRENT (USD/bbl)
    price_usd                double  not null,
    _source_file             varchar not null,
    _source_row              bigint  not null,
    _file_id                 bigint  not null,
    _batch_id                varchar not null,
    _ingested_at             timestamp not null
);

create table if not exists raw.currency_rates (
    rate_month               date    not null,
    currency                 varchar not null,  -- ISO 4217
    units_per_usd            double  not null,  -- 1 USD buys this many units of currency
    _source_file             varchar not null,
    _source_row              bigint  not null,
    _file_id                 bigint  not null,
    _batch_id                varchar not null,
    _ingested_at             timestamp not null
);

create table if not exists raw.eia_petroleum (
    series_id                varchar not null,
    period                   date    not null,
    value                    double,
    units                    varchar,
    _source_file             varchar not null,
    _source_row              bigint  not null,
    _file_id                 bigint  not null,
    _batch_id                varchar not null,
    _ingested_at             timestamp not null
);

create table if not exists raw.rejected_rows (
    kind                     varchar not null,
    source_file              varchar not null,
    source_line              bigint,
    reason                   varchar not null,
    record                   varchar,          -- the row as received, JSON
    _file_id                 bigint  not null,
    _batch_id                varchar not null,
    _ingested_at             timestamp not null
);

create table if not exists metadata.schema_migrations (
    version                  integer primary key,
    name                     varchar not null,
    checksum_sha256          varchar not null,
    applied_at               timestamp not null,
    execution_ms             double
);

create sequence if not exists metadata.ingested_files_seq start 1;

create table if not exists metadata.ingested_files (
    file_id                  bigint primary key,
    kind                     varchar not null,
    file_name                varchar not null,   -- path relative to the inbox, e.g. well_production/prod_2024.csv
    sha256                   varchar not null,
    size_bytes               bigint,
    version                  integer not null,   -- 1 for the first content seen under this name
    status                   varchar not null,   -- loaded | superseded
    superseded_by            bigint,
    rows_read                bigint not null,
    rows_loaded              bigint not null,
    rows_rejected            bigint not null,
    batch_id                 varchar not null,
    ingested_at              timestamp not null,
    seconds                  double
);

create table if not exists metadata.pipeline_runs (
    run_id                   varchar primary key,
    month                    varchar not null,
    status                   varchar not null,   -- running | succeeded | failed
    started_at               timestamp not null,
    finished_at              timestamp,
    error                    varchar,
    data_dir                 varchar,
    reports_dir              varchar,
    basinlab_version         varchar
);

create table if not exists metadata.pipeline_run_steps (
    run_id                   varchar not null,
    step                     varchar not null,   -- ingest | transform | decline | quality | report
    notebook                 varchar,
    status                   varchar not null,
    started_at               timestamp not null,
    finished_at              timestamp,
    rows_in                  bigint,
    rows_out                 bigint,
    error                    varchar,
    primary key (run_id, step)
);

create table if not exists metadata.model_runs (
    run_id                   varchar not null,
    model                    varchar not null,
    schema_name              varchar not null,
    materialization          varchar not null,   -- view | table
    status                   varchar not null,
    row_count                bigint,
    seconds                  double,
    error                    varchar,
    ran_at                   timestamp not null
);

create table if not exists metadata.data_quality_checks (
    run_id                   varchar,
    check_name               varchar not null,
    model                    varchar,
    column_name              varchar,
    check_type               varchar not null,
    severity                 varchar not null,   -- error | warn
    status                   varchar not null,   -- pass | fail
    failing_rows             bigint not null,
    sample                   varchar,            -- JSON list of up to 5 failing rows
    seconds                  double,
    checked_at               timestamp not null
);

create table if not exists metadata.data_lineage (
    run_id                   varchar,
    model                    varchar not null,
    source_table             varchar not null,
    column_name              varchar,
    source_column            varchar,
    recorded_at              timestamp not null
);
