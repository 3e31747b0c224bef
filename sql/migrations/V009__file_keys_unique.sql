-- V009: whether ingest proved a file's keys unique (each key of the kind at most once among the
-- file's loaded rows, compared as staging compares them). Staging's dedup (macro current_rows) then
-- never groups the largest such file whole: its keys can repeat only in the other current files.
-- NULL (files loaded before this, Python adapters, the EIA carry) means not proved: grouped as before.
alter table metadata.ingested_files add column if not exists keys_unique boolean;
