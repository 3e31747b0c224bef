"""Economic limits per well from the warehouse: operating cost ÷ net price.

A well is economic while the revenue net to the company covers its share of the
lease operating expense (SPEE Monograph 3, "economic limit"; Thompson & Wright,
*Oil Property Evaluation*): at the limit

    q_limit (BOE/d) = LOE per month × WI / (30.4375 × revenue per BOE × NRI)

with LOE booked gross (8/8ths) against the well in the GL (account class
``loe``), the revenue per BOE priced from the price deck (``mart_revenue``,
gross, before royalties), WI and NRI from the well header, all averaged over the
12 months up to the forecast month. The BOE limit is split over the phases by
their share of the well's BOE in those months (``q_oil = q_boe × oil share``,
``q_gas = 6 × q_boe × gas share``): the well stops when its total stream stops
paying. Water carries no revenue and keeps the fixed default. Wells without LOE
or prices in the window keep :data:`~basinlab.decline.DEFAULT_Q_LIMITS`.
"""
from __future__ import annotations

import duckdb
import pandas as pd

__all__ = ["well_limits", "limits_from_inputs", "LIMIT_SQL", "LIMIT_COLUMNS"]

#: columns of :func:`well_limits`
LIMIT_COLUMNS = ["well_id", "phase", "q_limit", "limit_source"]

#: average days per month
DAYS_PER_MONTH = 30.4375

LIMIT_SQL = """
with window_ as (
    select ?::date as as_of, (?::date - interval 11 month)::date as since
),
loe as (
    -- ordered sums: a parallel float sum adds in a different order on every run (last digits differ);
    -- the limits, and so the forecasts, must not depend on thread scheduling
    select g.well_id, sum(g.net_amount_usd order by g.journal_id, g.line_number) / 12.0 as loe_usd_per_month
    from marts.fct_gl_transactions g, window_ w
    where g.account_class = 'loe' and g.well_id is not null
      and g.accounting_month between w.since and w.as_of
    group by g.well_id
),
revenue as (
    select r.well_id, sum(r.gross_revenue_usd order by r.production_month) as revenue_usd,
           sum(r.oil_bbl order by r.production_month) as oil_bbl,
           sum(r.gas_mcf order by r.production_month) as gas_mcf
    from marts.mart_revenue r, window_ w
    where r.production_month between w.since and w.as_of and not r.price_is_missing
    group by r.well_id
),
final as (
    select l.well_id, l.loe_usd_per_month,
           coalesce(h.working_interest, 1.0) as working_interest,
           coalesce(h.net_revenue_interest, 0.8) as net_revenue_interest,
           v.revenue_usd / nullif(v.oil_bbl + v.gas_mcf / 6.0, 0) as revenue_usd_per_boe,
           v.oil_bbl / nullif(v.oil_bbl + v.gas_mcf / 6.0, 0) as oil_boe_share
    from loe l
    join revenue v using (well_id)
    left join staging.stg_well_header h using (well_id)
    where l.loe_usd_per_month > 0
)
select * from final
"""


def well_limits(con: duckdb.DuckDBPyConnection, as_of) -> pd.DataFrame:
    """Per well and phase (oil, gas) ``q_limit`` (volume per calendar day) and ``limit_source``.

    Empty when the warehouse has no LOE or no prices (the fixed defaults then apply).
    """
    try:
        d = con.execute(LIMIT_SQL, [as_of, as_of]).df()
    except duckdb.Error:
        return pd.DataFrame(columns=LIMIT_COLUMNS)
    return limits_from_inputs(d)


def limits_from_inputs(d: pd.DataFrame) -> pd.DataFrame:
    """:func:`well_limits` from rows of :data:`LIMIT_SQL` (the decline step keeps those rows in a
    temporary table and turns each batch of wells' rows into limits)."""
    d = d[(d["revenue_usd_per_boe"] > 0) & (d["net_revenue_interest"] > 0)]
    if d.empty:
        return pd.DataFrame(columns=LIMIT_COLUMNS)
    q_boe = d["loe_usd_per_month"] * d["working_interest"] / (
        DAYS_PER_MONTH * d["revenue_usd_per_boe"] * d["net_revenue_interest"])
    share = d["oil_boe_share"].fillna(1.0).clip(0.0, 1.0)
    src = [f"LOE {loe:,.0f} USD/month × WI {wi:.2f} ÷ ({rev:,.2f} USD/BOE × NRI {nri:.2f})"
           for loe, wi, rev, nri in zip(d["loe_usd_per_month"], d["working_interest"], d["revenue_usd_per_boe"],
                                       d["net_revenue_interest"])]
    oil = pd.DataFrame({"well_id": d["well_id"], "phase": "oil", "q_limit": q_boe * share, "limit_source": src})
    gas = pd.DataFrame({"well_id": d["well_id"], "phase": "gas", "q_limit": 6.0 * q_boe * (1 - share),
                        "limit_source": src})
    return pd.concat([oil, gas], ignore_index=True)
