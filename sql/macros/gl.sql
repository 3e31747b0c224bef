{#- Macros of the general ledger: one reading of the chart of accounts' signs and of the line
    currency's USD rate, shared by marts.fct_gl_transactions, marts.int_gl_well_month and
    marts.agg_jib_summary (each converts lines; none converts a sum). -#}

{#- The accounting nature of an account code (vocabulary account_type): sets the sign of signed_amount. -#}
{% macro account_type(code) -%}
case
            when {{ code }} like '1%' and {{ code }} <> '1590' then 'asset'
            when {{ code }} = '1590' then 'contra_asset'
            when {{ code }} like '2%' or {{ code }} like '3%' then 'liability_equity'
            when {{ code }} like '4%' then 'revenue'
            when {{ code }} = '5900' then 'contra_expense'
            when {{ code }} like '5%' or {{ code }} like '6%' then 'expense'
            else 'other'
        end
{%- endmacro %}

{#- A line's amount in its account's natural direction, in the line's currency: credit - debit for
    revenue, contra accounts (the JIB recoveries 5900 and 1590) and liabilities/equity; debit - credit
    for expenses, capex and assets. `type` is an account_type value (or an expression giving one). -#}
{% macro signed_amount(type, debit, credit) -%}
case when {{ type }} in ('revenue', 'contra_expense', 'contra_asset', 'liability_equity')
             then {{ credit }} - {{ debit }}
             else {{ debit }} - {{ credit }}
        end
{%- endmacro %}

{#- The rows of `relation` (a CTE with a `currency` column) with the USD rate of their currency for
    their `month` column (marts.int_fx_rates_monthly; USD = 1; null when the currency has no rate yet):
    an equality hash join on one row per currency and month. -#}
{% macro with_usd_rate(relation, month) -%}
select
        l.*,
        case when l.currency = 'USD' then 1.0 else r.units_per_usd end as units_per_usd
    from {{ relation }} as l
    left join marts.int_fx_rates_monthly as r
        on r.currency = l.currency
       and r.rate_month = l.{{ month }}
{%- endmacro %}
