{#- Macros of the staging layer. Every file in sql/macros/ is read once, its macros are callable from
    every model and check ({{ current_rows(...) }}); see basinlab.transform ("Rendering"). -#}

{#- The current rows of a raw table: rows of the file versions in staging.stg_current_files
    (status loaded), one per key — the latest wins (_ingested_at, then _file_id, then _source_row).
    In an incremental run (is_incremental()) only the keys that occur in a file added to or removed
    from the current files since the model's last build: every other key's winner is unchanged
    (basinlab.incremental; compared by hash, so a collision only recomputes a key more).
    The wide rows are read once, in one scan, minus the rows another row of their key supersedes:
    only keys with more than one current row can have such rows (ingest keeps keys unique within a
    file, so these are the restated ones), and they are found on the key's hash, a narrow column,
    instead of sorting every wide row by key. Ingest proved the keys of some files unique
    (metadata.ingested_files.keys_unique), so the largest of those is never grouped whole: only the
    other files' keys are, and the largest is probed for them (a hash join built on the small side).
    The files' sizes are counted without reading a key, so no (row, file, hash) list of every row is
    kept. A hash collision only sends a key through the window too. (The wide rows were materialised
    for four readers and scanned twice before: stg_gl_lines 24.8 s, then 16.2 s at 18 M GL lines; at
    91 M GL lines the (row, file, hash) list of every row cost 4.5 of 100.8 s. Most of what is left
    is writing the rows: the same select without any deduplication takes as long.) -#}
{% macro current_rows(source, key) -%}
{%- set k = key | join(', ') -%}
with file_rows as (   -- rows per current file: no key read yet
        select c._file_id, c.n, coalesce(f.keys_unique, false) as keys_unique
        from (
            select _file_id, count(*) as n from {{ source }}
            where {{ _current_rows_filter(source, k) }}
            group by _file_id
        ) as c
        left join metadata.ingested_files as f on f.file_id = c._file_id
    ),

    largest_unique_file as (
        select _file_id from file_rows where keys_unique order by n desc, _file_id limit 1
    ),

    other_keys as (   -- the key hashes of every other current file
        select hash({{ k }}) as key_hash from {{ source }}
        where {{ _current_rows_filter(source, k) }}
          and _file_id not in (select _file_id from largest_unique_file)
    ),

    repeated_keys as (
        select key_hash from other_keys group by key_hash having count(*) > 1
        union
        select hash({{ k }}) as key_hash from {{ source }}
        where {{ _current_rows_filter(source, k) }}
          and _file_id in (select _file_id from largest_unique_file)
          and hash({{ k }}) in (select key_hash from other_keys)
    ),

    superseded_rows as (   -- every current row of a repeated key but its latest
        select rowid as _row_id
        from {{ source }}
        where {{ _current_rows_filter(source, k) }}
          and hash({{ k }}) in (select key_hash from repeated_keys)
        qualify row_number() over (
            partition by {{ k }}
            order by _ingested_at desc, _file_id desc, _source_row desc
        ) > 1
    )

    select * from {{ source }}
    where {{ _current_rows_filter(source, k) }}
      and rowid not in (select _row_id from superseded_rows)
{%- endmacro %}

{#- The rows current_rows reads: the current files' rows (in an incremental run, of the changed keys only). -#}
{% macro _current_rows_filter(source, k) -%}
_file_id in (select file_id from staging.stg_current_files)
{%- if is_incremental() %}
          and hash({{ k }}) in (
            select hash({{ k }}) from {{ source }}
            where _file_id in (select file_id from {{ changed_files }})
          )
{%- endif %}
{%- endmacro %}

{#- The lineage columns every staging model carries through, in this order. -#}
{% macro lineage_columns(prefix='') -%}
{{ prefix }}_source_file,
        {{ prefix }}_source_row,
        {{ prefix }}_batch_id,
        {{ prefix }}_file_id,
        {{ prefix }}_ingested_at
{%- endmacro %}
