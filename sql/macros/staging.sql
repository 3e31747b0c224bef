{#- Macros of the staging layer. Every file in sql/macros/ is read once, its macros are callable from
    every model and check ({{ current_rows(...) }}); see basinlab.transform ("Rendering"). -#}

{#- The current rows of a raw table: rows of the file versions in staging.stg_current_files
    (status loaded), one per key — the latest wins (_ingested_at, then _file_id, then _source_row).
    In an incremental run (is_incremental()) only the keys that occur in a file added to or removed
    from the current files since the model's last build: every other key's winner is unchanged
    (basinlab.incremental; compared by hash, so a collision only recomputes a key more).
    Only keys with more than one current row go through the window (ingest keeps keys unique within
    a file, so these are the restated ones): a key's hash is counted, a narrow aggregate, instead of
    sorting every wide row by key — half the time over 18 M GL lines. A hash collision only sends a
    key through the window too. -#}
{% macro current_rows(source, key) -%}
{%- set k = key | join(', ') -%}
with current_file_rows as (
        select *
        from {{ source }}
        where _file_id in (select file_id from staging.stg_current_files)
{%- if is_incremental() %}
          and hash({{ k }}) in (
            select hash({{ k }}) from {{ source }}
            where _file_id in (select file_id from {{ changed_files }})
          )
{%- endif %}
    ),

    -- a key repeats within a file or across files; ingest proved the keys of some files unique
    -- (metadata.ingested_files.keys_unique), so the largest of those is never grouped whole: only the
    -- other files' keys are, and the largest is probed for them (a hash join built on the small side)
    file_rows as (
        select c._file_id, c.n, coalesce(f.keys_unique, false) as keys_unique
        from (select _file_id, count(*) as n from current_file_rows group by _file_id) as c
        left join metadata.ingested_files as f on f.file_id = c._file_id
    ),

    largest_unique_file as (
        select _file_id from file_rows where keys_unique order by n desc, _file_id limit 1
    ),

    other_keys as (
        select hash({{ k }}) as key_hash from current_file_rows
        where _file_id not in (select _file_id from largest_unique_file)
    ),

    repeated_keys as (
        select key_hash from other_keys group by key_hash having count(*) > 1
        union
        select hash({{ k }}) from current_file_rows
        where _file_id in (select _file_id from largest_unique_file)
          and hash({{ k }}) in (select key_hash from other_keys)
    )

    select * from current_file_rows
    where hash({{ k }}) not in (select key_hash from repeated_keys)
    union all
    select * from current_file_rows
    where hash({{ k }}) in (select key_hash from repeated_keys)
    qualify row_number() over (
        partition by {{ k }}
        order by _ingested_at desc, _file_id desc, _source_row desc
    ) = 1
{%- endmacro %}

{#- The lineage columns every staging model carries through, in this order. -#}
{% macro lineage_columns(prefix='') -%}
{{ prefix }}_source_file,
        {{ prefix }}_source_row,
        {{ prefix }}_batch_id,
        {{ prefix }}_file_id,
        {{ prefix }}_ingested_at
{%- endmacro %}
