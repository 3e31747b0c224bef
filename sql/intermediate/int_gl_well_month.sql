-- The profit-and-loss GL lines summed per well and accounting month, USD, one column per account
-- class (grain: well_id, month; well_id null for lines booked without a well: G&A, corporate costs).
-- Each line is signed in its account's natural direction (macro signed_amount) and converted at its
-- currency's rate for its month (macro with_usd_rate), exactly as fct_gl_transactions.signed_amount_usd,
-- then summed in one pass over the staged lines: the mart and the JIB check read 7.8 M well-months
-- instead of each converting and grouping 91 M lines (100,000 wells). A line whose currency has no rate
-- for its month converts to null and drops out of the sums, as it does from sums over the fact.
-- (Summing per currency first and converting each sum once was measured slower: a second grouping.)
-- Incremental by month (insert_overwrite): a monthly run re-sums only the months whose lines
-- (stg_gl_lines) or rates (int_fx_rates_monthly) changed.
with lines as (
    select
        well_id,
        accounting_month,
        currency,
        account_code,
        {{ account_class('account_code') }} as account_class,
        {{ signed_amount(account_type('account_code'), 'debit_amount', 'credit_amount') }} as signed_amount
    from staging.stg_gl_lines
    where {{ in_changed_months('accounting_month') }}   -- a monthly run: the months whose lines or rates changed
),

converted as (   -- the line currency's rate for the line's month (macro with_usd_rate)
    {{ with_usd_rate('lines', 'accounting_month') }}
),

signed_usd as (
    select
        well_id,
        accounting_month,
        account_code,
        account_class,
        cast(signed_amount as double) / units_per_usd                              as signed_amount_usd
    from converted
    where account_class <> 'balance_sheet'
),

final as (
    select
        well_id,
        accounting_month                                                           as month,
        sum(signed_amount_usd) filter (where account_class = 'revenue')            as revenue_booked_usd,
        sum(signed_amount_usd) filter (where account_class = 'loe')                as loe_gross_usd,
        sum(signed_amount_usd) filter (where account_class = 'workover')           as workover_gross_usd,
        sum(signed_amount_usd) filter (where account_class = 'severance_tax')      as severance_tax_usd,
        sum(signed_amount_usd) filter (where account_class = 'gathering_transport') as gathering_transport_gross_usd,
        sum(signed_amount_usd) filter (where account_class = 'g_and_a')            as g_and_a_usd,
        sum(signed_amount_usd) filter (where account_class = 'capex')              as capex_gross_usd,
        sum(signed_amount_usd) filter (where account_code = '1590')                as capex_jib_recovery_usd,
        sum(signed_amount_usd) filter (where account_code = '5900')                as opex_jib_recovery_usd
    from signed_usd
    group by well_id, accounting_month
)

select * from final
