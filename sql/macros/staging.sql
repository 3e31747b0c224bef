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

    repeated_keys as (
        select hash({{ k }}) as key_hash from current_file_rows group by all having count(*) > 1
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
