-- The profit-and-loss GL lines summed per well and accounting month, USD, one column per account
-- class (grain: well_id, month; well_id null for lines booked without a well: G&A, corporate costs).
-- Amounts are signed in the account's natural direction (macro signed_amount, as in
-- fct_gl_transactions.signed_amount_usd). Each (well, month, currency) is summed in the line
-- currency first and converted once at the month's rate (int_fx_rates_monthly): the totals of
-- converting every line and summing (to a double's rounding), without a rate lookup per line
-- (91 M lines at 100,000 wells). A currency without a rate for the month converts to null and
-- drops out of the sums, as its lines do from sums over fct_gl_transactions.
with lines as (
    select
        well_id,
        accounting_month,
        currency,
        account_code,
        {{ account_class('account_code') }} as account_class,
        {{ signed_amount(account_type('account_code'), 'debit_amount', 'credit_amount') }} as signed_amount
    from staging.stg_gl_lines
),

in_line_currency as (
    select
        well_id,
        accounting_month                                                           as month,
        currency,
        sum(cast(signed_amount as double)) filter (where account_class = 'revenue')                as revenue_booked,
        sum(cast(signed_amount as double)) filter (where account_class = 'loe')                    as loe_gross,
        sum(cast(signed_amount as double)) filter (where account_class = 'workover')               as workover_gross,
        sum(cast(signed_amount as double)) filter (where account_class = 'severance_tax')          as severance_tax,
        sum(cast(signed_amount as double)) filter (where account_class = 'gathering_transport')    as gathering_transport_gross,
        sum(cast(signed_amount as double)) filter (where account_class = 'g_and_a')                as g_and_a,
        sum(cast(signed_amount as double)) filter (where account_class = 'capex')                  as capex_gross,
        sum(cast(signed_amount as double)) filter (where account_code = '1590')                    as capex_jib_recovery,
        sum(cast(signed_amount as double)) filter (where account_code = '5900')                    as opex_jib_recovery
    from lines
    where account_class <> 'balance_sheet'
    group by well_id, accounting_month, currency
),

converted as (   -- the currency's rate for the month (macro with_usd_rate)
    {{ with_usd_rate('in_line_currency', 'month') }}
),

final as (
    select
        well_id,
        month,
        sum(revenue_booked / units_per_usd)                        as revenue_booked_usd,
        sum(loe_gross / units_per_usd)                             as loe_gross_usd,
        sum(workover_gross / units_per_usd)                        as workover_gross_usd,
        sum(severance_tax / units_per_usd)                         as severance_tax_usd,
        sum(gathering_transport_gross / units_per_usd)             as gathering_transport_gross_usd,
        sum(g_and_a / units_per_usd)                               as g_and_a_usd,
        sum(capex_gross / units_per_usd)                           as capex_gross_usd,
        sum(capex_jib_recovery / units_per_usd)                    as capex_jib_recovery_usd,
        sum(opex_jib_recovery / units_per_usd)                     as opex_jib_recovery_usd
    from converted
    group by well_id, month
)

select * from final
