{#- Macros of the month-partitioned marts (config incremental_strategy: insert_overwrite; basinlab.partitions).
    In a full build they render `true`: the model reads everything. In an incremental build they keep
    the months the build replaces (the temp table `changed_months` lists the months changed upstream). -#}

{#- The rows of the months changed upstream (partitions: changed). -#}
{% macro in_changed_months(column) -%}
{%- if is_incremental() -%}
{{ column }} in (select month from {{ changed_months }})
{%- else -%}
true
{%- endif -%}
{%- endmacro %}

{#- The first month an incremental build replaces (partitions: from_first_changed). -#}
{% macro first_changed_month() -%}
(select min(month) from {{ changed_months }})
{%- endmacro %}

{#- The rows from the first changed month on, and `lookback_months` before it (a trailing window needs
    the months before the first one it replaces; partitions: from_first_changed). -#}
{% macro from_first_changed_month(column, lookback_months=0) -%}
{%- if is_incremental() -%}
{{ column }} >= {{ first_changed_month() }}{% if lookback_months %} - interval {{ lookback_months }} month{% endif %}
{%- else -%}
true
{%- endif -%}
{%- endmacro %}
