-- severity: warn
-- model: marts.fct_gl_transactions
-- description: for every well-month billed through JIB (Cr 5900), the recovery is within 1 % (or 1 USD) of the partners' (1 - WI) share of that well-month's gross LOE + workover + G&T (5000/5100/5300); supports the LOE netting rule net = gross - 5900
with costs as (
    select
        well_id,
        accounting_month as month,
        sum(signed_amount_usd) filter (where account_class in ('loe', 'workover', 'gathering_transport')) as opex_gross_usd,
        sum(signed_amount_usd) filter (where account_code = '5900')                                       as opex_jib_recovery_usd
    from marts.fct_gl_transactions
    where well_id is not null
      -- only the lines either sum reads (a well-month without a 5900 line is dropped below either way)
      and (account_class in ('loe', 'workover', 'gathering_transport') or account_code = '5900')
    group by 1, 2
)

select
    c.well_id,
    c.month,
    c.opex_gross_usd,
    w.working_interest,
    coalesce(c.opex_gross_usd, 0) * (1 - w.working_interest) as partner_share_usd,
    c.opex_jib_recovery_usd,
    c.opex_jib_recovery_usd - coalesce(c.opex_gross_usd, 0) * (1 - w.working_interest) as difference_usd
from costs as c
left join staging.stg_well_header as w
    on w.well_id = c.well_id
where c.opex_jib_recovery_usd is not null
  and (w.working_interest is null
       or abs(c.opex_jib_recovery_usd - coalesce(c.opex_gross_usd, 0) * (1 - w.working_interest))
          > greatest(1.0, 0.01 * abs(coalesce(c.opex_gross_usd, 0) * (1 - w.working_interest))))
