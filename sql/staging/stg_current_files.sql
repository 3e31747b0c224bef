-- The file versions whose rows count: the latest version of every inbox file (status 'loaded').
-- A changed file loaded under the same name supersedes the older version's rows; they stay in
-- raw.* for audit but every staging model reads raw rows through this list only.
with files as (
    select * from metadata.ingested_files
),

final as (
    select
        file_id,
        kind,
        file_name,
        version,
        sha256,
        ingested_at
    from files
    where status = 'loaded'
)

select * from final
