-- One typed row of the settings in force (metadata.transform_settings, recorded by every run from
-- <data-dir>/settings.yml). One column per setting declared in sql/catalog/settings.yml; a missing
-- row takes the declared default (macro settings_columns, generated from the declaration).
with settings as (
    select setting, value from metadata.transform_settings
),

final as (
    select
        {{ settings_columns() }}
    from settings
)

select * from final
