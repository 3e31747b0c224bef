-- severity: warn
-- model: marts.int_gl_well_month
-- description: for every well-month billed through JIB (Cr 5900), the recovery is within 1 % (or 1 USD) of the partners' (1 - WI) share of that well-month's gross LOE + workover + G&T (5000/5100/5300); supports the LOE netting rule net = gross - 5900
with costs as (
    select
        well_id,
        month,
        case when coalesce(loe_gross_usd, workover_gross_usd, gathering_transport_gross_usd) is not null
             then coalesce(loe_gross_usd, 0) + coalesce(workover_gross_usd, 0) + coalesce(gathering_transport_gross_usd, 0)
        end                                                                          as opex_gross_usd,
        opex_jib_recovery_usd
    from marts.int_gl_well_month
    where well_id is not null
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
