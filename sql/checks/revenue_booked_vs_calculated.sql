-- severity: warn
-- model: marts.mart_kpis_monthly
-- description: booked revenue (GL 4000/4010/4020) is within revenue_variance_tolerance_pct (metadata.transform_settings, default 5 %) of revenue calculated from volumes x price deck x NRI, per month
select
    k.month,
    k.revenue_booked_usd,
    k.revenue_calculated_usd,
    k.revenue_variance_usd,
    k.revenue_variance_pct,
    s.revenue_variance_tolerance_pct
from marts.mart_kpis_monthly as k
cross join staging.stg_settings as s
where k.revenue_calculated_usd <> 0
  and abs(k.revenue_variance_pct) > s.revenue_variance_tolerance_pct
