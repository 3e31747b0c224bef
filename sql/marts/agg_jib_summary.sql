-- Joint-interest billing per partner and month (grain: partner_id, month), USD.
-- A JIB journal bills a partner its (1 - operator WI) share: Dr 1210 (partner_id), Cr 5900
-- (operating costs) / Cr 1590 (capex). Lines without a partner_id inherit the partner of their
-- journal when the journal bills exactly one partner.
--   opex_billed_usd        5900 credit - debit
--   capex_billed_usd       1590 credit - debit
--   total_billed_usd       opex + capex
--   receivable_billed_usd  1210 debit - credit (should equal total_billed_usd)
-- Reads the staged lines and converts only the JIB journals' lines (int_fx_rates_monthly, as
-- fct_gl_transactions converts each line): the rest of the ledger (85 % of the demo's lines) is
-- never converted.
with lines as not materialized (   -- read twice: inlined, not copied (see README, "Add a model")
    select journal_id, partner_id, accounting_month, account_code, currency, debit_amount, credit_amount
    from staging.stg_gl_lines
),

jib_journals as (
    select
        journal_id,
        min(partner_id) as journal_partner_id,
        count(distinct partner_id) as partners_in_journal
    from lines
    where partner_id is not null
    group by journal_id
),

jib_lines as (
    select
        coalesce(l.partner_id, case when j.partners_in_journal = 1 then j.journal_partner_id end, 'UNASSIGNED')
                                  as partner_id,
        l.accounting_month        as month,
        l.journal_id,
        l.account_code,
        l.currency,
        {{ signed_amount(account_type('l.account_code'), 'l.debit_amount', 'l.credit_amount') }} as signed_amount,
        l.debit_amount - l.credit_amount as net_amount
    from lines as l
    inner join jib_journals as j
        on j.journal_id = l.journal_id
),

converted as (   -- the line currency's rate for the line's month (macro with_usd_rate)
    {{ with_usd_rate('jib_lines', 'month') }}
),

final as (
    select
        partner_id,
        month,
        count(distinct journal_id)                                              as journal_count,
        coalesce(sum(cast(signed_amount as double) / units_per_usd) filter (where account_code = '5900'), 0)
                                                                                 as opex_billed_usd,
        coalesce(sum(cast(signed_amount as double) / units_per_usd) filter (where account_code = '1590'), 0)
                                                                                 as capex_billed_usd,
        coalesce(sum(cast(signed_amount as double) / units_per_usd) filter (where account_code in ('5900', '1590')), 0)
                                                                                 as total_billed_usd,
        coalesce(sum(cast(net_amount as double) / units_per_usd) filter (where account_code = '1210'), 0)
                                                                                 as receivable_billed_usd
    from converted
    group by partner_id, month
)

select * from final
