-- Joint-interest billing per partner and month (grain: partner_id, month), USD.
-- A JIB journal bills a partner its (1 - operator WI) share: Dr 1210 (partner_id), Cr 5900
-- (operating costs) / Cr 1590 (capex). Lines without a partner_id inherit the partner of their
-- journal when the journal bills exactly one partner.
--   opex_billed_usd        5900 credit - debit
--   capex_billed_usd       1590 credit - debit
--   total_billed_usd       opex + capex
--   receivable_billed_usd  1210 debit - credit (should equal total_billed_usd)
with gl as (
    select * from marts.fct_gl_transactions
),

jib_journals as (
    select
        journal_id,
        min(partner_id) as journal_partner_id,
        count(distinct partner_id) as partners_in_journal
    from gl
    where partner_id is not null
    group by journal_id
),

jib_lines as (
    select
        coalesce(gl.partner_id, case when j.partners_in_journal = 1 then j.journal_partner_id end, 'UNASSIGNED')
                                  as partner_id,
        gl.accounting_month       as month,
        gl.journal_id,
        gl.account_code,
        gl.signed_amount_usd,
        gl.net_amount_usd
    from gl
    inner join jib_journals as j
        on j.journal_id = gl.journal_id
),

final as (
    select
        partner_id,
        month,
        count(distinct journal_id)                                              as journal_count,
        coalesce(sum(signed_amount_usd) filter (where account_code = '5900'), 0) as opex_billed_usd,
        coalesce(sum(signed_amount_usd) filter (where account_code = '1590'), 0) as capex_billed_usd,
        coalesce(sum(signed_amount_usd) filter (where account_code in ('5900', '1590')), 0)
                                                                                 as total_billed_usd,
        coalesce(sum(net_amount_usd) filter (where account_code = '1210'), 0)   as receivable_billed_usd
    from jib_lines
    group by partner_id, month
)

select * from final
