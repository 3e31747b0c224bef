-- V008: the migrations brought level with the declaration (sql/catalog/*.yml).
--
-- 1. marts.decline_params / marts.decline_forecast. V002 created them (12 and 6 columns) so that the
--    models reading them always build; the decline step writes 46 and 11 columns, and five more
--    tables besides. The step owns all of them now: they are declared once, in
--    sql/catalog/decline.yml; the step replaces them on every run with exactly those columns
--    (basinlab.decline.step.TABLE_SCHEMAS comes from the declaration), and the transform creates any
--    that does not exist yet, empty, from the same declaration (basinlab.catalog.ensure_tables)
--    before the models that read them. Migrations keep to raw and metadata.
drop table if exists marts.decline_params;
drop table if exists marts.decline_forecast;

-- 2. Settings a user edits live in <data-dir>/settings.yml (declared in sql/catalog/settings.yml);
--    every run records the values in force here, with their unit and where each came from.
alter table metadata.transform_settings add column if not exists unit varchar;
alter table metadata.transform_settings add column if not exists source varchar;
alter table metadata.transform_settings add column if not exists recorded_at timestamp;
alter table metadata.oil_differentials add column if not exists source varchar;

-- 3. The default reporting currency is USD; another only when the settings ask for it
--    (V002 seeded CAD, so every warehouse reported in a currency nobody had asked for).
update metadata.transform_settings set value = 'USD', source = 'default'
where setting = 'reporting_currency' and value = 'CAD';
