"""The report's content: every table of the PDF and the workbook, queried from the published warehouse.

One :class:`Report` per period (a month, a quarter or a year) computes each table once, in SQL
(aggregates and top-N; no whole fact table is read into pandas). The report notebook
(``notebooks/05_report.ipynb``) shows them on the page and :meth:`Report.write_workbook` writes the
same frames into the workbook: a number on the page and its workbook cell come from the same frame.

Rules the frames follow:

* a value that is not reported is null (empty cell, "not reported" on the page), never 0 — GL
  figures of a month without GL lines, net revenue of wells whose NRI is unknown;
* headings, units and number formats come from :mod:`basinlab.report.labels`;
* fields read one way (:func:`basinlab.report.palette.field_name`) and keep one colour;
* per-well tables are capped at :data:`SHEET_ROW_CAP` rows in the workbook, the full table is written
  to Parquet beside it.
"""
from __future__ import annotations

import functools
import html
import math
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from ._common import NOT_REPORTED, fmt_number, is_missing
from .labels import FORMATS, column_meta
from .palette import UNKNOWN_FIELD, field_colors, field_name
from .period import Period

#: months of history in the trend charts and tables
TREND_MONTHS = 24
FINANCIAL_MONTHS = 12
TOP_WELLS = 15
TOP_MOVERS = 5
#: rows at most in a per-well workbook sheet; past it the sheet says so and the full table is in a
#: Parquet file beside the workbook. 50,000 rows stay quick to open, filter and sort in Excel
#: (its hard limit is 1,048,576) and keep the workbook writer's memory bounded.
SHEET_ROW_CAP = 50_000
EXCEL_MAX_ROWS = 1_048_576


def _field_sql(col: str, unknown: str = UNKNOWN_FIELD) -> str:
    """SQL expression of a field (or basin) name as the report shows it (see :func:`palette.field_name`)."""
    return (f"(case when {col} is null or upper(trim({col})) in ('', 'UNKNOWN', '(UNKNOWN)') "
            f"then '{unknown}' when {col} = 'CORPORATE' then 'Corporate' "
            f"when {col} = '(all)' then 'Company' else {col} end)")


def _basin_sql(col: str) -> str:
    return _field_sql(col, "Unknown basin")


#: the reported production rows (one per well and month with a source row), read from the materialised
#: marts table instead of the staging view (which deduplicates every raw row again on each read)
PRODUCTION_ROWS = ("(select well_id, production_month, days_in_month, oil_bbl, gas_mcf, water_bbl, boe, is_producing "
                   "from marts.int_production_cumulative where is_reported)")
_GL_MONTHS_SUBQUERY = "select distinct accounting_month from staging.stg_gl_lines"


def _num(v: Any) -> float | None:
    """A value as float, None when missing or not a finite number."""
    if is_missing(v):
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _ratio(a: Any, b: Any) -> float | None:
    a, b = _num(a), _num(b)
    return None if a is None or not b else a / b - 1


#: the lookback figures the report reads (the last two from the lookback's sample on)
_LOOKBACK_SUMMARY_COLUMNS = ("cut_month", "horizon_months", "phase", "wells_producing", "wells_forecast",
                             "forecast_share", "median_ape", "p90_ape", "aggregate_error", "coverage",
                             "calibrated_scale", "short_history_method", "forecast_total", "actual_total",
                             "wells_with_history", "wells_in_sample")


def has_rows(con: duckdb.DuckDBPyConnection, relation: str) -> bool:
    try:
        return bool(con.execute(f"select count(*) from {relation}").fetchone()[0])
    except duckdb.Error:
        return False


def report_settings(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """The transform settings the run used (reporting currency, realisations, NGL yield, …).

    The one place the report reads settings; today from ``staging.stg_settings`` (the typed view of
    ``metadata.transform_settings``)."""
    try:
        cur = con.execute("select * from staging.stg_settings")
        row = cur.fetchone()
        names = [d[0] for d in cur.description]
    except duckdb.Error:
        return {"reporting_currency": "USD"}
    out = dict(zip(names, row)) if row else {}
    out["reporting_currency"] = str(out.get("reporting_currency") or "USD").upper()
    return out


# --------------------------------------------------------------------------- tables


def _well_list(wells: pd.DataFrame, total: int, shown: int = 3) -> str:
    """``": W1 (Field), W2 (Field) and 2 more"`` for a summary sentence: the first ``shown`` wells of
    ``wells`` and how many of ``total`` are not named (empty when there is none to name)."""
    if not len(wells):
        return ""
    named = [f"{r.well_id} ({r.field})" for r in wells.head(shown).itertuples()]
    rest = max(0, total - len(named))
    return ": " + ", ".join(named) + (f" and {rest:,} more" if rest else "")


@dataclass
class Table:
    """One table of the report: its frame (columns named as in :mod:`labels`), where it goes and how.

    ``pdf_columns``: the columns the page shows (default all); ``keys``: columns repeated when a
    table too wide for the page is split; ``kind_column``: a column holding each row's number kind
    (for tables mixing units, like the KPIs); ``labels``: headings for columns not in the registry
    (a wide pivot's field columns); ``chart``: a native chart on the sheet; ``total_rows`` /
    ``parquet_sql``: a capped per-well table and the query of its full version."""

    key: str
    title: str
    df: pd.DataFrame
    sheet: str | None = None
    description: str = ""
    pdf_columns: list[str] | None = None
    keys: list[str] = field(default_factory=list)
    kind_column: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    kinds: dict[str, str] = field(default_factory=dict)
    chart: Any = None
    currency: str | None = None
    total_rows: int | None = None
    parquet_sql: tuple[str, list] | None = None
    parquet_name: str | None = None
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def capped(self) -> bool:
        return self.total_rows is not None and self.total_rows > len(self.df)

    def heading(self, col: str, short: bool = False) -> str:
        if col in self.labels:
            return self.labels[col]
        return column_meta(col, self.currency).heading(short=short)

    def kind(self, col: str) -> str:
        return self.kinds.get(col) or column_meta(col).kind

    @property
    def visible_columns(self) -> list[str]:
        return [c for c in self.df.columns if c != self.kind_column]


@dataclass
class ChartSpec:
    """A native Excel chart of ``y_cols`` against ``x_col`` (``kind`` line | bar | area)."""

    x_col: str
    y_cols: list[str]
    title: str
    y_title: str = ""
    kind: str = "line"
    colors: dict[str, str] = field(default_factory=dict)
    stacked: bool = False
    dashed: list[str] = field(default_factory=list)


class Report:
    """The report of one period, read from a (read-only) warehouse connection."""

    def __init__(self, con: duckdb.DuckDBPyConnection, period: str | Period, run_id: str = ""):
        self.con = con
        self.period = period if isinstance(period, Period) else Period.parse(period)
        self.run_id = run_id
        self.prev = self.period.previous()
        self.year_ago = self.period.year_ago()

    # ----------------------------------------------------------------- basics

    def _sql(self, sql: str) -> str:
        """The query as run: production rows from the materialised mart, GL months as a literal list
        (both read once, not re-derived from the staging views in every subquery)."""
        months = ", ".join(f"DATE '{m:%Y-%m-%d}'" for m in sorted(self.gl_months))
        gl = f"select unnest([{months}]::date[])" if months else "select null::date where false"
        return sql.replace(_GL_MONTHS_SUBQUERY, gl).replace("staging.stg_production", PRODUCTION_ROWS)

    def _df(self, sql: str, params: list | None = None) -> pd.DataFrame:
        return self.con.execute(self._sql(sql), params or []).df()

    def _one(self, sql: str, params: list | None = None) -> tuple:
        row = self.con.execute(self._sql(sql), params or []).fetchone()
        return row if row is not None else ()

    @functools.cached_property
    def settings(self) -> dict[str, Any]:
        return report_settings(self.con)

    @property
    def currency(self) -> str:
        return self.settings.get("reporting_currency") or "USD"

    @property
    def show_reporting_currency(self) -> bool:
        """Reporting-currency columns only when the settings ask for a currency other than USD."""
        return self.currency != "USD"

    @functools.cached_property
    def gl_months(self) -> set[date]:
        """Months with GL lines booked (GL figures are reported for these only)."""
        for sql in ("select distinct accounting_month from marts.fct_gl_transactions", _GL_MONTHS_SUBQUERY):
            try:
                return {r[0] for r in self.con.execute(sql).fetchall() if r[0] is not None}
            except duckdb.Error:
                continue
        return set()

    def _months(self, p: Period) -> list[date]:
        out, d = [], p.start
        for _ in range(p.months):
            out.append(d)
            d = date(d.year + (d.month // 12), d.month % 12 + 1, 1)
        return out

    def gl_complete(self, p: Period) -> bool:
        return all(m in self.gl_months for m in self._months(p))

    def gl_any(self, p: Period) -> bool:
        return any(m in self.gl_months for m in self._months(p))

    @property
    def financials_available(self) -> bool:
        return self.gl_any(self.period)

    @functools.cached_property
    def data_span(self) -> tuple:
        return self._one("select min(production_month), max(production_month), count(distinct well_id) "
                         "from staging.stg_production")

    @functools.cached_property
    def has_data(self) -> bool:
        return bool(self._one("select count(*) from staging.stg_production where production_month "
                              "between ? and ?", [self.period.start, self.period.end])[0])

    @functools.cached_property
    def colors(self) -> dict[str, str]:
        """Field → colour for every field the warehouse knows (one colour per field, everywhere)."""
        rows = self.con.execute(f"""select distinct {_field_sql('field')} from marts.mart_production_monthly
                                    where level = 'field'""").fetchall()
        names = {r[0] for r in rows}
        try:
            names |= {r[0] for r in self.con.execute(
                f"select distinct {_field_sql('key')} from marts.agg_monthly_financials where level = 'field'"
            ).fetchall()}
        except duckdb.Error:
            pass
        return field_colors(names | {"Company"})

    # ----------------------------------------------------------------- production facts

    def _volumes(self, p: Period, wells_sql: str = "", params: list | None = None) -> dict[str, float | None]:
        """Oil, gas, BOE sums and producing wells over a period from the reported rows (optionally for
        a set of wells given as a subquery)."""
        where = f"and well_id in ({wells_sql})" if wells_sql else ""
        row = self._one(f"""select sum(oil_bbl), sum(gas_mcf), sum(water_bbl), sum(boe),
                                   count(distinct well_id) filter (where is_producing), count(distinct well_id)
                            from staging.stg_production
                            where production_month between ? and ? {where}""",
                        [p.start, p.end] + (params or []))
        oil, gas, water, boe, producing, reporting = row if row else (None,) * 6
        return {"oil_bbl": _num(oil), "gas_mcf": _num(gas), "water_bbl": _num(water), "boe": _num(boe),
                "boe_per_day": _num(boe) / p.days if _num(boe) is not None else None,
                "producing_wells": int(producing or 0), "reporting_wells": int(reporting or 0)}

    def _lfl_wells_sql(self) -> str:
        """Wells with a row in the last month of this period and in the last month of the previous one."""
        return ("select well_id from staging.stg_production where production_month = ? "
                "intersect select well_id from staging.stg_production where production_month = ?")

    @functools.cached_property
    def completeness(self) -> dict[str, Any]:
        """Wells that reported the month before the period's last month (expected) and how many of them
        have a row in the last month; new rows; like-for-like set size."""
        m, pm = self.period.end, self.period.last_month.previous().start
        row = self._one("""
            with cur as (select well_id from staging.stg_production where production_month = ?),
                 prev as (select well_id from staging.stg_production where production_month = ?)
            select (select count(*) from prev), (select count(*) from prev semi join cur using (well_id)),
                   (select count(*) from cur), (select count(*) from cur anti join prev using (well_id))""",
                        [m, pm])
        expected, reported, rows, new_rows = (int(x or 0) for x in row) if row else (0, 0, 0, 0)
        return {"month": m, "prior_month": pm, "expected": expected, "reported": reported,
                "late": expected - reported, "rows": rows, "new_rows": new_rows,
                "share": reported / expected if expected else None}

    # ----------------------------------------------------------------- KPIs

    def _fin(self, p: Period) -> dict[str, float | None]:
        """GL figures of a period, None when no month of it has GL lines."""
        if not self.gl_any(p):
            return {}
        row = self._one("""select sum(revenue_booked_usd), sum(noi_usd), sum(loe_net_usd), sum(capex_net_usd),
                                  sum(net_wi_boe), sum(revenue_booked_reporting), sum(noi_reporting)
                           from marts.agg_monthly_financials
                           where level = 'basin' and month between ? and ?
                             and month in (select distinct accounting_month from staging.stg_gl_lines)""",
                        [p.start, p.end])
        rev, noi, loe, capex, wi, rev_rc, noi_rc = (_num(x) for x in row)
        return {"revenue_booked_usd": rev, "noi_usd": noi, "capex_net_usd": capex,
                "loe_per_boe_usd": loe / wi if loe is not None and wi else None,
                "netback_per_boe_usd": noi / wi if noi is not None and wi else None,
                "revenue_booked_rc": rev_rc, "noi_rc": noi_rc}

    #: (key, column for label/format, higher is better, source)
    KPI_ROWS = (
        ("boe_per_day", "boe_per_day", True, "volume"),
        ("oil_bbl", "oil_bbl", True, "volume"),
        ("gas_mcf", "gas_mcf", True, "volume"),
        ("producing_wells", "producing_wells", True, "volume"),
        ("revenue_booked_usd", "revenue_booked_usd", True, "gl"),
        ("noi_usd", "noi_usd", True, "gl"),
        ("loe_per_boe_usd", "loe_per_boe_usd", False, "gl"),
        ("netback_per_boe_usd", "netback_per_boe_usd", True, "gl"),
        ("capex_net_usd", "capex_net_usd", None, "gl"),
    )

    @functools.cached_property
    def kpis(self) -> Table:
        """The period's KPIs: value, previous period, change like-for-like and for all wells, a year ago."""
        p, q, y = self.period, self.prev, self.year_ago
        cur, prev, yago = self._volumes(p), self._volumes(q), self._volumes(y)
        lfl_params = [p.end, q.end]
        lfl_cur = self._volumes(p, self._lfl_wells_sql(), lfl_params)
        lfl_prev = self._volumes(q, self._lfl_wells_sql(), lfl_params)
        fin, fin_prev, fin_y = self._fin(p), self._fin(q), self._fin(y)
        rows = []
        defs = list(self.KPI_ROWS)
        if self.show_reporting_currency:
            defs += [("revenue_booked_rc", "revenue_booked_rc", True, "gl"), ("noi_rc", "noi_rc", True, "gl")]
        for key, col, better_up, source in defs:
            meta = column_meta(col, self.currency)
            if source == "volume":
                v, pv, yv = cur.get(key), prev.get(key), yago.get(key)
                lfl = _ratio(lfl_cur.get(key), lfl_prev.get(key))
            else:
                v, pv, yv = fin.get(key), fin_prev.get(key), fin_y.get(key)
                lfl = None
            rows.append({"kpi": meta.label, "unit": meta.unit, "value": v, "prior": pv,
                         "change_lfl_pct": lfl, "change_all_pct": _ratio(v, pv), "year_ago": yv,
                         "change_year_pct": _ratio(v, yv), "kind": meta.kind, "key": key,
                         "higher_is_better": better_up})
        df = pd.DataFrame(rows)
        return Table("kpis", f"KPIs, {p.label}", df[["kpi", "unit", "value", "prior", "change_lfl_pct",
                                                    "change_all_pct", "year_ago", "change_year_pct", "kind"]],
                     sheet="KPIs", kind_column="kind",
                     description=f"Company KPIs for {p.label} against {q.label} (like-for-like: wells that "
                                 f"reported in both) and {y.label}",
                     labels={"value": p.label, "prior": q.label, "year_ago": y.label},
                     kinds={"value": "ratio", "prior": "ratio", "year_ago": "ratio"},
                     keys=["kpi"], currency=self.currency)

    def kpi(self, key: str) -> dict[str, Any]:
        """One KPI row by key (``boe_per_day``, ``noi_usd``, …) with its numbers as floats or None."""
        t = self.kpis
        keys = [k for k, *_ in self.KPI_ROWS] + ["revenue_booked_rc", "noi_rc"]
        df = t.df.reset_index(drop=True)
        idx = keys.index(key) if key in keys else -1
        if idx < 0 or idx >= len(df):
            return {}
        r = df.iloc[idx].to_dict()
        return {k: (_num(v) if k not in ("kpi", "unit", "kind") else v) for k, v in r.items()}

    def kpi_cards_html(self) -> str:
        """KPI tiles; without GL lines in the period the GL tiles are left out (one sentence says why)."""
        t = self.kpis
        if self.financials_available:
            return kpi_cards_html(t, better={k: b for k, _c, b, _s in self.KPI_ROWS})
        keep = [i for i, (_k, _c, _b, src) in enumerate(self.KPI_ROWS) if src == "volume"]
        sub = Table(t.key, t.title, t.df.iloc[keep].reset_index(drop=True), kind_column=t.kind_column)
        return (kpi_cards_html(sub, better={k: b for k, _c, b, _s in self.KPI_ROWS}) +
                f'<p class="bl-note">Revenue, NOI, LOE, netback and capex: {NOT_REPORTED} '
                f'(no GL lines booked for {html.escape(self.period.label)}).</p>')

    # ----------------------------------------------------------------- trends

    def _window_start(self, n: int) -> date:
        d = self.period.end
        k = d.year * 12 + d.month - 1 - (n - 1)
        return date(k // 12, k % 12 + 1, 1)

    @functools.cached_property
    def company_trend(self) -> Table:
        """Company production and GL figures per month (GL figures empty in months without GL lines)."""
        start = self._window_start(max(TREND_MONTHS, self.period.months))
        df = self._df("""
            with months as (select cast(unnest(generate_series(?::date, ?::date, interval 1 month)) as date) as month),
            prod as (select production_month as month, sum(gross_oil_bbl) as oil_bbl, sum(gross_gas_mcf) as gas_mcf,
                            sum(gross_boe) as boe, sum(producing_well_count) as producing_wells
                     from marts.mart_production_monthly where level = 'basin' and production_month between ? and ?
                     group by 1),
            rep as (select production_month as month, count(*) as reporting_wells from staging.stg_production
                    where production_month between ? and ? group by 1),
            gl as (select distinct accounting_month as month from staging.stg_gl_lines),
            fin as (select month, sum(revenue_booked_usd) as revenue_booked_usd, sum(noi_usd) as noi_usd,
                           sum(loe_net_usd) as loe, sum(capex_net_usd) as capex_net_usd, sum(net_wi_boe) as wi
                    from marts.agg_monthly_financials where level = 'basin' and month between ? and ? group by 1)
            select m.month, p.boe / day(last_day(m.month)) as boe_per_day, p.oil_bbl, p.gas_mcf,
                   p.producing_wells, r.reporting_wells,
                   case when gl.month is not null then f.revenue_booked_usd end as revenue_booked_usd,
                   case when gl.month is not null then f.noi_usd end as noi_usd,
                   case when gl.month is not null then f.loe / nullif(f.wi, 0) end as loe_per_boe_usd,
                   case when gl.month is not null then f.noi_usd / nullif(f.wi, 0) end as netback_per_boe_usd,
                   case when gl.month is not null then f.capex_net_usd end as capex_net_usd
            from months m left join prod p using (month) left join rep r using (month)
            left join gl using (month) left join fin f using (month) order by m.month""",
                      [start, self.period.end] * 4)
        return Table("company_trend", "Company trend", df, sheet="Company trend",
                     description=f"Company production and GL figures per month, {start:%Y-%m} to "
                                 f"{self.period.end:%Y-%m}; GL figures empty where no GL lines are booked",
                     chart=ChartSpec("month", ["boe_per_day"], "Company production", "BOE/d",
                                     colors={"boe_per_day": self.colors.get("Company", "#1f2933")}),
                     keys=["month"])

    @functools.cached_property
    def field_production(self) -> Table:
        """Per field and month: volumes and BOE/d (trend window)."""
        start = self._window_start(max(TREND_MONTHS, self.period.months))
        df = self._df(f"""select production_month as month, {_field_sql('key')} as field,
                                 sum(gross_oil_bbl) as oil_bbl, sum(gross_gas_mcf) as gas_mcf,
                                 sum(gross_water_bbl) as water_bbl, sum(gross_boe) as boe,
                                 sum(gross_boe) / any_value(days_in_month) as boe_per_day,
                                 sum(net_wi_boe) as net_wi_boe, sum(producing_well_count) as producing_wells
                          from marts.mart_production_monthly
                          where level = 'field' and production_month between ? and ?
                          group by all order by month, field""", [start, self.period.end])
        return Table("field_production", "Production by field", df, sheet="Field production",
                     description="Gross production per field and month (BOE = oil + gas / 6; BOE/d per calendar day)",
                     keys=["month", "field"])

    @functools.cached_property
    def field_production_wide(self) -> Table:
        """BOE/d per month (rows) and field (columns), with a stacked-area chart in the field colours."""
        long = self.field_production.df
        if long.empty:
            wide = pd.DataFrame(columns=["month"])
        else:
            wide = long.pivot_table(index="month", columns="field", values="boe_per_day", aggfunc="sum").reset_index()
            wide.columns.name = None
        fields = [c for c in wide.columns if c != "month"]
        cols = {f: f"f_{i}" for i, f in enumerate(fields)}
        wide = wide.rename(columns=cols)
        return Table("field_production_wide", "Production by field (BOE/d)", wide, sheet="Production by field",
                     description="BOE per calendar day per field and month, "
                                 "with the chart in the report's field colours",
                     labels={v: f"{k} (BOE/d)" for k, v in cols.items()},
                     kinds={v: "rate" for v in cols.values()},
                     chart=ChartSpec("month", list(cols.values()), "Production by field", "BOE/d", kind="area",
                                     stacked=True, colors={v: self.colors.get(k, "#7b8794") for k, v in cols.items()}),
                     keys=["month"])

    # ----------------------------------------------------------------- what moved

    @functools.cached_property
    def field_changes(self) -> Table:
        """Per field: BOE/d this period and the previous one, the change for all wells and like-for-like."""
        p, q = self.period, self.prev
        df = self._df(f"""
            with lfl as ({self._lfl_wells_sql()}),
            rows as (select {_field_sql('w.field')} as field, s.well_id, s.production_month, s.boe,
                            s.well_id in (select well_id from lfl) as is_lfl
                     from staging.stg_production s left join staging.stg_well_header w using (well_id)
                     where s.production_month between ? and ?)
            select field,
                   sum(boe) filter (where production_month between ? and ?) / ? as boe_per_day,
                   sum(boe) filter (where production_month between ? and ?) / ? as boe_per_day_prior,
                   (sum(boe) filter (where production_month between ? and ? and is_lfl) / ?)
                     / nullif(sum(boe) filter (where production_month between ? and ? and is_lfl) / ?, 0) - 1
                     as change_lfl_pct,
                   count(distinct well_id) filter (where production_month = ?) as reporting_wells
            from rows group by field""",
                      [p.end, q.end, q.start, p.end, p.start, p.end, p.days, q.start, q.end, q.days,
                       p.start, p.end, p.days, q.start, q.end, q.days, p.end])
        if len(df):
            df["boe_per_day_change"] = df["boe_per_day"].fillna(0) - df["boe_per_day_prior"].fillna(0)
            df["change_all_pct"] = [_ratio(a, b) for a, b in zip(df["boe_per_day"], df["boe_per_day_prior"])]
            df = df.sort_values("boe_per_day_change", key=lambda s: -s.abs()).reset_index(drop=True)
        else:
            df = pd.DataFrame(columns=["field", "boe_per_day", "boe_per_day_prior", "change_lfl_pct",
                                       "reporting_wells", "boe_per_day_change", "change_all_pct"])
        df = df[["field", "boe_per_day", "boe_per_day_prior", "boe_per_day_change", "change_all_pct",
                 "change_lfl_pct", "reporting_wells"]]
        return Table("field_changes", f"Production by field, {p.label} against {q.label}", df, sheet="Field changes",
                     description=f"BOE per calendar day per field, {p.label} vs {q.label}; like-for-like = wells that "
                                 "reported in the last month of both periods", keys=["field"],
                     labels={"boe_per_day": f"{p.label} (BOE/d)", "boe_per_day_prior": f"{q.label} (BOE/d)"})

    def _well_changes_sql(self) -> str:
        return f"""
            with cur as (select well_id, sum(boe) as boe, bool_or(is_producing) as producing
                         from staging.stg_production where production_month between ? and ? group by 1),
                 prev as (select well_id, sum(boe) as boe, bool_or(is_producing) as producing,
                                 max(production_month) as last_month
                          from staging.stg_production where production_month between ? and ? group by 1),
                 lastm as (select well_id from staging.stg_production where production_month = ?),
                 first as (select well_id, min(production_month) as first_month from staging.stg_production
                           where well_id in (select well_id from cur) group by 1),
                 j as (select coalesce(c.well_id, p.well_id) as well_id, c.boe / ? as boe_per_day,
                              p.boe / ? as boe_per_day_prior, c.producing as cur_producing,
                              p.producing as prev_producing, f.first_month, p.last_month as prev_last,
                              l.well_id is not null as reported_last
                       from cur c full join prev p using (well_id) left join first f using (well_id)
                       left join lastm l on l.well_id = coalesce(c.well_id, p.well_id))
            select j.well_id, {_field_sql('w.field')} as field,
                   case when j.first_month between ? and ? then 'new well'
                        when j.prev_producing and not j.reported_last then 'late: no row yet'
                        when j.prev_producing and coalesce(j.cur_producing, false) = false then 'shut in'
                        when j.cur_producing and not coalesce(j.prev_producing, false) then 'back on'
                        else 'producing' end as status,
                   j.boe_per_day, j.boe_per_day_prior,
                   coalesce(j.boe_per_day, 0) - coalesce(j.boe_per_day_prior, 0) as boe_per_day_change
            from j left join staging.stg_well_header w using (well_id)"""

    def _well_changes_params(self) -> list:
        p, q = self.period, self.prev
        return [p.start, p.end, q.start, q.end, p.end, p.days, q.days, p.start, p.end]

    @functools.cached_property
    def well_changes(self) -> Table:
        """Wells that moved the total most (like-for-like), new wells, wells shut in, late reporters."""
        sql = self._well_changes_sql()
        params = self._well_changes_params()
        df = self._df(f"""with c as ({sql})
            select * from (
              (select * from c where status = 'producing' order by boe_per_day_change desc limit {TOP_MOVERS})
              union all
              (select * from c where status = 'producing' order by boe_per_day_change asc limit {TOP_MOVERS})
              union all
              (select * from c where status in ('new well', 'shut in', 'back on')
               order by abs(boe_per_day_change) desc limit 100)
            ) order by abs(boe_per_day_change) desc""", params)
        df = df.drop_duplicates("well_id").reset_index(drop=True)
        counts = dict(self.con.execute(self._sql(f"with c as ({sql}) select status, count(*) from c group by 1"),
                                       params).fetchall())
        t = Table("well_changes", "Wells that moved production", df, sheet="Well changes",
                  description=f"{self.period.label} vs {self.prev.label}: the {TOP_MOVERS} largest rises and falls "
                              "among wells reporting both periods, new wells, wells shut in, wells back on",
                  keys=["well_id"])
        t.counts = {str(k): int(v) for k, v in counts.items()}
        return t

    @functools.cached_property
    def late_reporters(self) -> Table:
        """Wells with a row in the month before the period's last month and none in the last month."""
        c = self.completeness
        base = f"""select s.well_id, {_field_sql('w.field')} as field, s.production_month as last_reported_month,
                          s.boe / day(last_day(s.production_month)) as boe_per_day, s.oil_bbl, s.gas_mcf
                   from staging.stg_production s left join staging.stg_well_header w using (well_id)
                   where s.production_month = ? and s.well_id not in
                         (select well_id from staging.stg_production where production_month = ?)
                   order by boe_per_day desc nulls last, s.well_id"""
        params = [c["prior_month"], c["month"]]
        df = self._df(base + f" limit {SHEET_ROW_CAP}", params)
        return Table("late_reporters", "Late reporters", df, sheet="Late reporters",
                     description=f"Wells that reported {c['prior_month']:%Y-%m} but have no row for "
                                 f"{c['month']:%Y-%m} yet (expected, not yet reported)",
                     labels={"boe_per_day": f"BOE/d in {c['prior_month']:%Y-%m}"},
                     keys=["well_id"], total_rows=c["late"], parquet_sql=(self._sql(base), params))

    @functools.cached_property
    def top_wells(self) -> Table:
        p = self.period
        df = self._df(f"""select s.well_id, {_field_sql('w.field')} as field, sum(s.oil_bbl) as oil_bbl,
                                 sum(s.gas_mcf) as gas_mcf, sum(s.boe) / ? as boe_per_day,
                                 any_value(d.cum_boe) as cum_boe
                          from staging.stg_production s left join staging.stg_well_header w using (well_id)
                          left join marts.dim_wells d using (well_id)
                          where s.production_month between ? and ?
                          group by all order by boe_per_day desc limit {TOP_WELLS}""", [p.days, p.start, p.end])
        return Table("top_wells", f"Top {TOP_WELLS} wells", df, keys=["well_id"])

    @functools.cached_property
    def wells(self) -> Table:
        """Every well that reported in the period (capped), with its status in the period's last month."""
        p = self.period
        base = f"""
            with cur as (select well_id, sum(oil_bbl) as oil_bbl, sum(gas_mcf) as gas_mcf, sum(water_bbl) as water_bbl,
                                sum(boe) as boe, bool_or(is_producing) as producing
                         from staging.stg_production where production_month between ? and ? group by 1),
                 lastm as (select well_id, is_producing from staging.stg_production where production_month = ?)
            select c.well_id, d.well_name, {_field_sql('d.field')} as field, {_basin_sql('d.basin')} as basin,
                   case when l.well_id is null then 'late: no row yet'
                        when l.is_producing then 'producing' else 'shut in (reported zero)' end as status_this_month,
                   c.oil_bbl, c.gas_mcf, c.water_bbl, c.boe, c.boe / ? as boe_per_day,
                   c.boe * d.working_interest as net_wi_boe, c.boe * d.net_revenue_interest as net_nri_boe,
                   d.cum_oil_bbl, d.cum_gas_mcf, d.eur_boe, d.remaining_boe
            from cur c left join lastm l using (well_id) left join marts.dim_wells d using (well_id)
            order by c.producing desc, c.boe desc, c.well_id"""
        params = [p.start, p.end, p.end, p.days]
        total = self._one(f"select count(*) from ({base})", params)[0]
        df = self._df(base + f" limit {SHEET_ROW_CAP}", params)
        return Table("wells", "Wells", df, sheet="Wells this month" if p.kind == "month" else "Wells this period",
                     description=f"Every well with a production row in {p.label}, producing wells first; "
                                 "status in the last month: producing, shut in (reported zero), late (no row yet)",
                     keys=["well_id"], total_rows=int(total or 0), parquet_sql=(self._sql(base), params))

    # ----------------------------------------------------------------- financials

    @functools.cached_property
    def financials_monthly(self) -> Table:
        start = self._window_start(max(FINANCIAL_MONTHS, self.period.months))
        rc = ("""case when gl.month is not null then f.revenue_booked_reporting end as revenue_booked_rc,
                 case when gl.month is not null then f.noi_reporting end as noi_rc,
                 fx.reporting_units_per_usd as fx_units_per_usd,"""
              if self.show_reporting_currency else "")
        df = self._df(f"""
            with months as (select cast(unnest(generate_series(?::date, ?::date, interval 1 month)) as date) as month),
            gl as (select distinct accounting_month as month from staging.stg_gl_lines),
            f as (select month, sum(revenue_booked_usd) as revenue_booked_usd, sum(loe_net_usd) as loe_net_usd,
                         sum(workover_net_usd) as workover_net_usd, sum(severance_tax_usd) as severance_tax_usd,
                         sum(gathering_transport_net_usd) as gathering_transport_net_usd,
                         sum(g_and_a_usd) as g_and_a_usd,
                         sum(capex_net_usd) as capex_net_usd, sum(noi_usd) as noi_usd, sum(net_wi_boe) as wi,
                         sum(revenue_booked_reporting) as revenue_booked_reporting, sum(noi_reporting) as noi_reporting
                  from marts.agg_monthly_financials where level = 'basin' and month between ? and ? group by 1),
            calc as (select production_month as month, sum(gross_revenue_usd) as gross, sum(net_revenue_usd) as net
                     from marts.mart_revenue where production_month between ? and ? group by 1),
            fx as (select month, reporting_units_per_usd from marts.int_price_fx_monthly)
            select m.month,
                   case when gl.month is not null then f.revenue_booked_usd end as revenue_booked_usd,
                   calc.gross as revenue_gross_calc_usd, calc.net as revenue_net_calc_usd,
                   case when gl.month is not null and calc.net <> 0
                        then f.revenue_booked_usd / calc.net - 1 end as revenue_variance_pct,
                   case when gl.month is not null then f.loe_net_usd end as loe_net_usd,
                   case when gl.month is not null then f.workover_net_usd end as workover_net_usd,
                   case when gl.month is not null then f.severance_tax_usd end as severance_tax_usd,
                   case when gl.month is not null then f.gathering_transport_net_usd end as gathering_transport_net_usd,
                   case when gl.month is not null then f.g_and_a_usd end as g_and_a_usd,
                   case when gl.month is not null then f.capex_net_usd end as capex_net_usd,
                   case when gl.month is not null then f.noi_usd end as noi_usd,
                   case when gl.month is not null then f.loe_net_usd / nullif(f.wi, 0) end as loe_per_boe_usd,
                   {rc}
                   case when gl.month is not null then f.noi_usd / nullif(f.wi, 0) end as netback_per_boe_usd
            from months m left join gl using (month) left join f using (month) left join calc using (month)
            left join fx using (month) order by m.month""",
                      [start, self.period.end] * 3)
        return Table("financials_monthly", "Financials by month", df, sheet="Financials by month",
                     description="USD, net to the company; GL figures empty in months without GL lines; calculated "
                                 "revenue = volumes x price deck (gross 8/8ths, and net of NRI where it is known)",
                     pdf_columns=["month", "revenue_booked_usd", "revenue_net_calc_usd", "loe_net_usd", "noi_usd",
                                  "capex_net_usd", "loe_per_boe_usd", "netback_per_boe_usd"],
                     chart=ChartSpec("month", ["revenue_booked_usd", "noi_usd"], "Revenue and net operating income",
                                     "USD", kind="bar", colors={"revenue_booked_usd": "#1f4e79", "noi_usd": "#d9822b"}),
                     keys=["month"], currency=self.currency)

    @functools.cached_property
    def financials_by_field(self) -> Table:
        p = self.period
        df = self._df(f"""select {_field_sql('key')} as field, sum(revenue_booked_usd) as revenue_booked_usd,
                                 sum(revenue_calculated_usd) as revenue_net_calc_usd,
                                 sum(loe_net_usd) as loe_net_usd, sum(workover_net_usd) as workover_net_usd,
                                 sum(severance_tax_usd) as severance_tax_usd,
                                 sum(gathering_transport_net_usd) as gathering_transport_net_usd,
                                 sum(g_and_a_usd) as g_and_a_usd, sum(capex_net_usd) as capex_net_usd,
                                 sum(noi_usd) as noi_usd, sum(net_wi_boe) as net_wi_boe,
                                 sum(loe_net_usd) / nullif(sum(net_wi_boe), 0) as loe_per_boe_usd,
                                 sum(noi_usd) / nullif(sum(net_wi_boe), 0) as netback_per_boe_usd
                          from marts.agg_monthly_financials
                          where level = 'field' and month between ? and ?
                            and month in (select distinct accounting_month from staging.stg_gl_lines)
                          group by all order by revenue_booked_usd desc nulls last""", [p.start, p.end])
        return Table("financials_by_field", f"Field financials, {p.label}", df, sheet="Financials by field",
                     description=f"Field financials for {p.label}, USD net to the company (Corporate: costs not "
                                 "booked to a well, e.g. G&A)",
                     pdf_columns=["field", "revenue_booked_usd", "loe_net_usd", "noi_usd", "capex_net_usd",
                                  "loe_per_boe_usd", "netback_per_boe_usd"], keys=["field"])

    #: cost classes compared period on period: column in agg_monthly_financials → label
    COSTS = {"loe_net_usd": "LOE", "workover_net_usd": "Workovers", "severance_tax_usd": "Severance tax",
             "gathering_transport_net_usd": "Gathering & transport", "g_and_a_usd": "G&A",
             "capex_net_usd": "Capex"}

    @functools.cached_property
    def cost_variances(self) -> Table:
        """Field x cost class, this period against the previous one, largest moves first."""
        p, q = self.period, self.prev
        if not (self.gl_any(p) and self.gl_any(q)):
            return Table("cost_variances", "Cost variances", pd.DataFrame(
                columns=["field", "item", "cost_usd", "cost_prior_usd", "cost_change_usd", "change_pct"]),
                sheet="Cost variances", description="Needs GL lines in both periods")
        unions = " union all ".join(
            f"select {_field_sql('key')} as field, '{label}' as item, month, {col} as v "
            f"from marts.agg_monthly_financials where level = 'field' and month between ? and ?"
            for col, label in self.COSTS.items())
        df = self._df(f"""with x as ({unions})
            select field, item, sum(v) filter (where month between ? and ?) as cost_usd,
                   sum(v) filter (where month between ? and ?) as cost_prior_usd
            from x group by all""", [q.start, p.end] * len(self.COSTS) + [p.start, p.end, q.start, q.end])
        df["cost_change_usd"] = df["cost_usd"].fillna(0) - df["cost_prior_usd"].fillna(0)
        df["change_pct"] = [_ratio(a, b) for a, b in zip(df["cost_usd"], df["cost_prior_usd"])]
        df = df[df["cost_change_usd"].abs() > 0.5].sort_values("cost_change_usd", key=lambda s: -s.abs())
        return Table("cost_variances", f"Largest cost changes, {p.label} against {q.label}",
                     df.reset_index(drop=True), sheet="Cost variances",
                     description=f"Net costs per field and class, {p.label} vs {q.label} (USD), largest change first",
                     keys=["field", "item"])

    @functools.cached_property
    def capex_by_field(self) -> Table:
        start = self._window_start(max(FINANCIAL_MONTHS, self.period.months))
        df = self._df(f"""select month, {_field_sql('key')} as field, sum(capex_net_usd) as capex_net_usd
                          from marts.agg_monthly_financials
                          where level = 'field' and month between ? and ?
                            and month in (select distinct accounting_month from staging.stg_gl_lines)
                          group by all having sum(capex_net_usd) <> 0 order by month, field""",
                      [start, self.period.end])
        return Table("capex_by_field", "Capex by field", df, sheet="Capex by field",
                     description="Net capex by field and month (USD)", keys=["month", "field"])

    @functools.cached_property
    def jib(self) -> Table:
        start = self._window_start(max(FINANCIAL_MONTHS, self.period.months))
        try:
            df = self._df("""select partner_id, month, journal_count, opex_billed_usd, capex_billed_usd,
                                    total_billed_usd from marts.agg_jib_summary
                             where month between ? and ? order by month, partner_id""", [start, self.period.end])
        except duckdb.Error:
            df = pd.DataFrame()
        return Table("jib", "JIB by partner", df, sheet="JIB by partner",
                     description="Joint-interest billing: partners' share of operating cost (5900) "
                                 "and capex (1590), USD",
                     keys=["partner_id", "month"])

    @functools.cached_property
    def calculated_revenue(self) -> Table:
        """Revenue from volumes x the price deck, by product, with the prices used (every month of the window)."""
        start = self._window_start(max(FINANCIAL_MONTHS, self.period.months))
        df = self._df("""select production_month as month, sum(gross_oil_revenue_usd) as oil_revenue_calc_usd,
                                sum(gross_gas_revenue_usd) as gas_revenue_calc_usd,
                                sum(gross_ngl_revenue_usd) as ngl_revenue_calc_usd,
                                sum(gross_revenue_usd) as revenue_gross_calc_usd,
                                sum(net_revenue_usd) as revenue_net_calc_usd,
                                any_value(wti_usd_per_bbl) as wti_usd_per_bbl,
                                any_value(henry_hub_usd_per_mmbtu) as henry_hub_usd_per_mmbtu,
                                any_value(gas_price_usd_per_mcf) as gas_price_usd_per_mcf,
                                any_value(ngl_price_usd_per_bbl) as ngl_price_usd_per_bbl
                         from marts.mart_revenue where production_month between ? and ?
                         group by 1 order by 1""", [start, self.period.end])
        return Table("calculated_revenue", "Revenue calculated from the price deck", df, sheet="Calculated revenue",
                     description="Volumes (8/8ths) x price deck by product (NGL assumed from gas, see Assumptions); "
                                 "net = gross x NRI, empty where no well has an NRI",
                     pdf_columns=["month", "oil_revenue_calc_usd", "gas_revenue_calc_usd", "ngl_revenue_calc_usd",
                                  "revenue_gross_calc_usd", "revenue_net_calc_usd"], keys=["month"])

    # ----------------------------------------------------------------- decline

    @functools.cached_property
    def decline_available(self) -> bool:
        return has_rows(self.con, "marts.decline_params")

    @functools.cached_property
    def decline_as_of(self) -> date | None:
        if not self.decline_available:
            return None
        return self._one("select max(as_of_month) from marts.decline_params")[0]

    @functools.cached_property
    def eur_by_field(self) -> Table:
        df = self._df(f"""select {_field_sql('field')} as field, count(*) as wells,
                                 sum(cum_oil_bbl) as cum_oil_bbl, sum(oil_remaining_bbl) as remaining_oil_bbl,
                                 sum(oil_eur_bbl) as eur_oil_bbl, sum(gas_eur_mcf) as eur_gas_mcf,
                                 sum(remaining_boe) as remaining_boe, sum(eur_boe) as eur_boe
                          from marts.dim_wells group by all order by eur_boe desc nulls last""")
        return Table("eur_by_field", "EUR by field", df, sheet="EUR by field",
                     description="Cumulative, remaining (decline forecast to the economic limit) and EUR per field",
                     pdf_columns=["field", "wells", "cum_oil_bbl", "remaining_oil_bbl", "eur_oil_bbl", "eur_boe"],
                     keys=["field"])

    @functools.cached_property
    def forecast_company(self) -> Table:
        """Company oil per calendar day: actual (trend window) and the forecast P10/P50/P90 (wells sampled,
        then summed), in one frame for the page and the workbook chart."""
        start = self._window_start(TREND_MONTHS)
        df = self._df("""
            with a as (select production_month as month, sum(gross_oil_bbl) as v from marts.mart_production_monthly
                       where level = 'basin' and production_month between ? and ? group by 1),
                 b as (select month, p10, p50, p90 from marts.decline_forecast_bands
                       where phase = 'oil' and "group" = '(all)'),
                 m as (select month from a union select month from b)
            select m.month, a.v / day(last_day(m.month)) as actual_oil_bbl,
                   b.p10 / day(last_day(m.month)) as oil_p10_bbl, b.p50 / day(last_day(m.month)) as oil_p50_bbl,
                   b.p90 / day(last_day(m.month)) as oil_p90_bbl
            from m left join a using (month) left join b using (month)
            where m.month >= ? order by m.month""", [start, self.period.end, start]) \
            if has_rows(self.con, "marts.decline_forecast_bands") else pd.DataFrame()
        return Table("forecast_company", "Company oil: actual and forecast", df, sheet="Forecast vs actual",
                     description="Company oil per calendar day (bbl/d): actual, and the decline forecast P10 (high), "
                                 "P50, P90 (low) as of the latest run",
                     labels={"actual_oil_bbl": "Actual oil (bbl/d)", "oil_p10_bbl": "Forecast P10, high (bbl/d)",
                             "oil_p50_bbl": "Forecast P50 (bbl/d)", "oil_p90_bbl": "Forecast P90, low (bbl/d)"},
                     kinds={c: "rate" for c in ("actual_oil_bbl", "oil_p10_bbl", "oil_p50_bbl", "oil_p90_bbl")},
                     chart=ChartSpec("month", ["actual_oil_bbl", "oil_p10_bbl", "oil_p50_bbl", "oil_p90_bbl"],
                                     "Company oil: actual and decline forecast", "bbl/d",
                                     colors={"actual_oil_bbl": "#1f4e79", "oil_p10_bbl": "#e9b27a",
                                             "oil_p50_bbl": "#d9822b", "oil_p90_bbl": "#e9b27a"},
                                     dashed=["oil_p10_bbl", "oil_p90_bbl"]),
                     keys=["month"])

    @functools.cached_property
    def field_forecast(self) -> pd.DataFrame:
        """Field oil per calendar day: actuals (trend window) and the P50 forecast for 5 years (long frame)."""
        start = self._window_start(TREND_MONTHS)
        if not has_rows(self.con, "marts.decline_forecast_bands"):
            return pd.DataFrame(columns=["field", "month", "oil_bbl_per_day", "series"])
        return self._df(f"""
            with actual as (select {_field_sql('key')} as field, production_month as month, sum(gross_oil_bbl) as v
                            from marts.mart_production_monthly where level = 'field'
                              and production_month between ? and ? group by all),
                 fc as (select {_field_sql('"group"')} as field, month, sum(p50) as v from marts.decline_forecast_bands
                        where phase = 'oil' and "group" <> '(all)' and month <= ?::date + interval 60 month
                        group by all)
            select field, month, v / day(last_day(month)) as oil_bbl_per_day, 'actual' as series from actual
            union all
            select field, month, v / day(last_day(month)), 'forecast' from fc
            order by field, series, month""", [start, self.period.end, self.period.end])

    @functools.cached_property
    def forecast_status(self) -> Table:
        df = self._df("""select coalesce(method, 'none') as method, status, count(*) as wells,
                                count(*) / sum(count(*)) over () as share,
                                any_value(reason order by well_id) as example_reason
                         from marts.decline_params where phase = 'oil' group by all order by wells desc""") \
            if self.decline_available else pd.DataFrame()
        return Table("forecast_status", "Oil wells by forecast method and status", df, sheet="Forecast status",
                     description="Oil: wells per forecast method and status, with an example reason", keys=["method"])

    @functools.cached_property
    def unfitted_summary(self) -> Table:
        df = self._df("""select phase, status, count(*) as well_phases,
                                string_agg(well_id, ', ' order by well_id) filter (where rn <= 3) as example_wells,
                                any_value(reason order by well_id) as example_reason
                         from (select *, row_number() over (partition by phase, status order by well_id) as rn
                               from marts.decline_params where status <> 'fitted')
                         group by phase, status order by phase, well_phases desc""") \
            if self.decline_available else pd.DataFrame()
        return Table("unfitted_summary", "Well-phases without a fitted curve", df, keys=["phase", "status"])

    def _capped(self, key: str, title: str, sheet: str, description: str, base: str, keys: list[str],
                params: list | None = None) -> Table:
        params = params or []
        total = int(self._one(f"select count(*) from ({base})", params)[0] or 0)
        df = self._df(base + f" limit {SHEET_ROW_CAP}", params)
        return Table(key, title, df, sheet=sheet, description=description, keys=keys, total_rows=total,
                     parquet_sql=(self._sql(base), params))

    @functools.cached_property
    def forecast_methods(self) -> Table:
        return self._capped(
            "forecast_methods", "Forecast methods", "Forecast methods",
            "Per well and phase: method, status, reason, fit window, anchor, uptime, economic limit, P10/P90",
            """select well_id, phase, method, status, reason, fit_start, fit_end, n_points, half_life_months,
                      segment_start, segment_rule, catchup_months, anchor_rule, anchor_factor, uptime, q_limit,
                      limit_source, ratio_basis, ratio_value, ratio_trend_per_yr, cum_to_date, remaining,
                      remaining_p10, remaining_p90,
                      eur, eur_p10, eur_p90, units
               from marts.decline_params order by well_id, phase""", ["well_id", "phase"])

    @functools.cached_property
    def decline_parameters(self) -> Table:
        return self._capped(
            "decline_parameters", "Decline parameters", "Decline parameters",
            "Arps fit per well and phase: qi per day, di and terminal decline secant-effective per year, b",
            """select well_id, phase, model, method, status, qi, di, b, dterm, fit_start, fit_end, n_points, rmse, r2,
                      as_of_month, forecast_start, units
               from marts.decline_params order by well_id, phase""", ["well_id", "phase"])

    @functools.cached_property
    def unfitted_wells(self) -> Table:
        return self._capped(
            "unfitted_wells", "Wells not fitted", "Wells not fitted",
            "Every well and phase without its own fitted curve (analog, inactive, too short, ...), with the reason",
            "select well_id, phase, status, reason from marts.decline_params where status <> 'fitted' "
            "order by status, well_id, phase", ["well_id", "phase"])

    @functools.cached_property
    def forecast_bands(self) -> Table:
        df = self._df(f"""select {_field_sql('"group"')} as field, month, p10, p50, p90, wells
                          from marts.decline_forecast_bands where phase = 'oil' order by 1, 2""") \
            if has_rows(self.con, "marts.decline_forecast_bands") else pd.DataFrame()
        return Table("forecast_bands", "Forecast bands", df, sheet="Forecast bands",
                     description="Oil per field and company, P10 (high) / P50 / P90 (low), bbl/month: wells sampled, "
                                 "then summed", labels={"p10": "P10, high (bbl)", "p50": "P50 (bbl)",
                                                        "p90": "P90, low (bbl)"}, keys=["field", "month"])

    @functools.cached_property
    def type_curves(self) -> Table:
        df = self._df("""select "group", phase, month_index, p10, p50, p90, mean, n_wells, normalised, units
                         from marts.decline_type_curves order by 1, 2, 3""") \
            if has_rows(self.con, "marts.decline_type_curves") else pd.DataFrame()
        if len(df):
            df["group"] = [field_name(g) for g in df["group"]]
        return Table("type_curves", "Type curves", df, sheet="Type curves",
                     description="P10/P50/P90 type wells per field, aligned on the peak month "
                                 "(rates per day; see units)",
                     keys=["group", "phase"])

    @functools.cached_property
    def lookback_available(self) -> bool:
        return has_rows(self.con, "marts.decline_backtest_summary")

    @functools.cached_property
    def lookback_summary(self) -> pd.DataFrame:
        """The lookback's figures; a warehouse published before the sample's columns
        (``wells_with_history``, ``wells_in_sample``) gives the others."""
        if not self.lookback_available:
            return pd.DataFrame()
        df = self._df("select * from marts.decline_backtest_summary")
        return df[[c for c in _LOOKBACK_SUMMARY_COLUMNS if c in df.columns]]

    @functools.cached_property
    def lookback_by_field(self) -> Table:
        df = self._df(f"""select {_field_sql('"group"')} as field, sum(forecast_p50) as forecast_bbl,
                                 sum(actual_volume) as actual_bbl,
                                 sum(forecast_p50) / nullif(sum(actual_volume), 0) - 1 as error_pct,
                                 min(month) as from_month, max(month) as to_month
                          from marts.decline_lookback group by 1
                          order by field = 'Company', actual_bbl desc""") \
            if has_rows(self.con, "marts.decline_lookback") else pd.DataFrame()
        return Table("lookback_by_field", "Forecast lookback by field", df, sheet="Forecast lookback",
                     description="Last year's oil forecast (P50) vs what the wells produced since, per field (bbl)"
                                 + lookback_sample_note(self.lookback_summary),
                     keys=["field"])

    @functools.cached_property
    def lookback_monthly(self) -> pd.DataFrame:
        return self._df("""select "group" as field, month, actual_volume, forecast_p50, forecast_p10, forecast_p90
                           from marts.decline_lookback order by 1, 2""") \
            if has_rows(self.con, "marts.decline_lookback") else pd.DataFrame()

    @functools.cached_property
    def forecast_coverage(self) -> dict[str, Any]:
        """Wells producing oil in the forecast's as-of month with an oil forecast, by kind of method, and the
        first forecast month (the month after each well's last reported month)."""
        row = self._one("""
            with as_of as (select coalesce(max(as_of_month), (select max(production_month) from staging.stg_production))
                          as m from marts.decline_params),
            prod as (select p.well_id, p.oil_bbl from staging.stg_production p, as_of
                     where p.production_month = as_of.m and p.is_producing)
            select count(*) filter (where d.method in ('curve', 'anchored_curve')),
                   count(*) filter (where d.method in ('analog', 'ml_trendline')),
                   count(*) filter (where d.method is not null), count(*),
                   sum(prod.oil_bbl) filter (where d.method is not null), sum(prod.oil_bbl),
                   any_value(as_of.m),
                   (select min(forecast_start) from marts.decline_params where method is not null),
                   (select min(month) from marts.decline_forecast)
            from prod cross join as_of
            left join marts.decline_params d on d.well_id = prod.well_id and d.phase = 'oil'""")
        fitted, short, forecast, wells, oil_fc, oil, as_of, first_start, first_month = row
        first = min([d for d in (first_start, first_month) if d is not None], default=None)
        return {"fitted": int(fitted or 0), "analog": int(short or 0), "forecast": int(forecast or 0),
                "producing": int(wells or 0), "oil_share": float(oil_fc or 0) / float(oil) if oil else None,
                "as_of": as_of.strftime("%Y-%m") if as_of else None,
                "first_forecast_month": first.strftime("%Y-%m") if first else None}

    # ----------------------------------------------------------------- quality

    @functools.cached_property
    def quality_checks(self) -> Table:
        df = self._df("""select check_name, model, check_type, severity, status, failing_rows
                         from metadata.data_quality_checks
                         where run_id = (select run_id from metadata.data_quality_checks
                                         order by checked_at desc limit 1)
                         order by status = 'pass', severity, check_name""")
        return Table("quality_checks", "Data-quality checks", df, sheet="Data quality",
                     description="Checks of the published run", keys=["check_name"])

    @functools.cached_property
    def rejected_summary(self) -> Table:
        from ..ingest import REASON_CATEGORY_SQL

        df = self._df(f"""select r.source_file, {REASON_CATEGORY_SQL} as reason, count(*) as rows,
                                 min(r.source_line) as first_line, arg_min(r.reason, r.source_line) as example
                          from raw.rejected_rows r
                          join metadata.ingested_files f on f.file_id = r._file_id and f.status = 'loaded'
                          group by all order by rows desc, r.source_file, reason""")
        return Table("rejected_summary", "Rejected rows by file and reason", df, keys=["source_file"])

    @functools.cached_property
    def rejected_rows(self) -> Table:
        return self._capped(
            "rejected_rows", "Rejected rows", "Rejected rows", "Source rows not loaded, with file, line and reason",
            """select r.kind, r.source_file, r.source_line, r.reason from raw.rejected_rows r
               join metadata.ingested_files f on f.file_id = r._file_id and f.status = 'loaded'
               order by r.source_file, r.source_line""", ["source_file", "source_line"])

    @functools.cached_property
    def input_files(self) -> Table:
        df = self._df("""select kind, file_name, version, status, rows_read, rows_loaded, rows_rejected, ingested_at
                         from metadata.ingested_files order by file_id""")
        return Table("input_files", "Input files", df, sheet="Input files",
                     description="Every file ingested, with versions and row counts", keys=["file_name"])

    # ----------------------------------------------------------------- assumptions

    @functools.cached_property
    def assumptions(self) -> Table:
        """What the numbers rest on: price deck, realisations, NGL, FX, economic limit, decline rules —
        read from the settings the run used and the decline tables."""
        s = self.settings
        p = self.period
        rows: list[dict[str, str]] = []

        def add(item: str, value: str, source: str) -> None:
            rows.append({"item": item, "value_text": value, "source": source})

        px = self._one("""select avg(wti_usd_per_bbl), avg(henry_hub_usd_per_mmbtu), bool_or(wti_is_carried_forward),
                                 bool_or(henry_hub_is_carried_forward), avg(reporting_units_per_usd),
                                 bool_or(fx_is_carried_forward)
                          from marts.int_price_fx_monthly where month between ? and ?""", [p.start, p.end])
        wti, hh, wti_cf, hh_cf, fx, fx_cf = px if px else (None,) * 6
        period_word = "the month" if p.kind == "month" else f"the {p.kind}'s months (average)"
        add("Oil price", (f"WTI {fmt_number(wti, ',.2f')} USD/bbl in {period_word}"
                          + (" (carried forward from an earlier month: no price published)" if wti_cf else ""))
            if _num(wti) is not None else f"no WTI price covers {p.label}: oil revenue {NOT_REPORTED}",
            "price deck: raw.price_deck / EIA (staging.stg_prices)")
        diffs = self._df("select basin, differential_usd_per_bbl from metadata.oil_differentials order by basin") \
            if has_rows(self.con, "metadata.oil_differentials") else pd.DataFrame()
        diff_text = "; ".join(f"{b} {v:,.2f}"
                              for b, v in zip(diffs.get("basin", []), diffs.get("differential_usd_per_bbl", [])))
        add("Oil realisation", f"WTI minus a differential per basin (USD/bbl): {diff_text or 'none listed'}; "
            f"other basins {fmt_number(s.get('default_oil_differential_usd_per_bbl'), ',.2f')}",
            "metadata.oil_differentials; setting default_oil_differential_usd_per_bbl")
        gas_price = (_num(hh) or 0) * (_num(s.get("gas_heating_value_mmbtu_per_mcf")) or 0) * \
            (_num(s.get("gas_price_fraction_of_henry_hub")) or 0) if _num(hh) is not None else None
        hh_text = (f"{fmt_number(hh, ',.2f')} USD/MMBtu" + (", carried forward" if hh_cf else "")
                   if _num(hh) is not None else f"no price for {p.label}")
        add("Gas realisation", f"Henry Hub ({hh_text}) x heating value "
            f"{fmt_number(s.get('gas_heating_value_mmbtu_per_mcf'), ',.2f')} MMBtu/mcf x "
            f"{fmt_number(s.get('gas_price_fraction_of_henry_hub'), '.0%')} = {fmt_number(gas_price, ',.2f')} USD/mcf",
            "settings gas_heating_value_mmbtu_per_mcf, gas_price_fraction_of_henry_hub")
        ngl = self._one("""select sum(gross_ngl_revenue_usd), sum(gross_revenue_usd), sum(ngl_bbl)
                           from marts.mart_revenue where production_month between ? and ?""", [p.start, p.end])
        ngl_rev, tot_rev, ngl_bbl = ngl if ngl else (None, None, None)
        share = _num(ngl_rev) / _num(tot_rev) if _num(ngl_rev) is not None and _num(tot_rev) else None
        add("NGL (assumed, not measured)", f"{fmt_number(s.get('ngl_yield_bbl_per_mmcf'), ',.0f')} bbl per MMcf of gas "
            f"at {fmt_number(s.get('ngl_price_fraction_of_wti'), '.0%')} of WTI: "
            f"{fmt_number(ngl_bbl, ',.0f')} bbl, USD {fmt_number(ngl_rev, ',.0f')} "
            f"({fmt_number(share, '.1%')} of calculated revenue) in {p.label}",
            "settings ngl_yield_bbl_per_mmcf, ngl_price_fraction_of_wti")
        add("Calculated revenue", "volumes (8/8ths) x realised prices; net = x NRI of the well (empty where "
            "unknown). Booked revenue is the GL's (4000/4010/4020), net to the company", "marts.mart_revenue")
        if self.show_reporting_currency:
            add("Reporting currency", f"{self.currency}: USD x {fmt_number(fx, ',.4f')} {self.currency}/USD "
                f"({period_word}" + (", carried forward" if fx_cf else "") + ")",
                "setting reporting_currency; staging.stg_fx")
        else:
            add("Reporting currency", "USD (no conversion)", "setting reporting_currency")
        add("Revenue variance tolerance", f"{fmt_number(s.get('revenue_variance_tolerance_pct'), ',.1f')} % of "
            "calculated revenue (booked vs calculated)", "setting revenue_variance_tolerance_pct")
        add("Shut-in", f"a well with no production in the last {s.get('shut_in_months', 3)} months of data",
            "setting shut_in_months")
        add("Units", "oil and water in bbl, gas in mcf, BOE = oil + gas / 6; rates per calendar day "
            "unless stated", "house convention")
        if self.decline_available:
            d = self._one("""select max(as_of_month), min(forecast_start), mode(half_life_months), mode(anchor_rule),
                                    mode(dterm), mode(uncertainty_scale),
                                    count(*) filter (where phase = 'oil' and limit_source = 'default'),
                                    count(*) filter (where phase = 'oil' and limit_source is not null
                                                      and limit_source <> 'default'),
                                    median(q_limit) filter (where phase = 'oil'),
                                    median(q_limit) filter (where phase = 'gas'), mode(model)
                             from marts.decline_params""")
            as_of, fstart, hl, anchor, dterm, unc, lim_def, lim_loe, q_oil, q_gas, model = d
            add("Decline forecasts", f"as of {as_of:%Y-%m} (the latest run), from "
                f"{fstart:%Y-%m} on" if as_of and fstart else NOT_REPORTED, "marts.decline_params")
            add("Decline rules", f"fit on the last decline segment, recent months weighted (half-life "
                f"{fmt_number(hl, ',.0f')} months), anchored to the {anchor or 'recent rate'}; usual model "
                f"{model or NOT_REPORTED}, terminal decline {fmt_number(dterm, '.0%')}/yr (secant-effective)",
                "marts.decline_params")
            add("Economic limit", f"oil: {lim_loe} wells from their LOE, WI, NRI and prices (median "
                f"{fmt_number(q_oil, ',.1f')} bbl/d), {lim_def} on the default; gas median "
                f"{fmt_number(q_gas, ',.1f')} mcf/d. Limit = LOE x WI / (30.4 x revenue per BOE x NRI)",
                "marts.decline_params (q_limit, limit_source)")
            add("Uncertainty", f"P10 (high) / P90 (low) from 200 draws per well, scale "
                f"{fmt_number(unc, ',.2f')} calibrated on last year's forecast", "marts.decline_params")
        return Table("assumptions", "Assumptions", pd.DataFrame(rows), description="What the numbers rest on",
                     keys=["item"])

    # ----------------------------------------------------------------- words

    def headline_markdown(self) -> str:
        first, last, wells = self.data_span if self.data_span else (None, None, None)
        run = f" · run `{self.run_id}`" if self.run_id and not self.run_id.startswith("standalone") else ""
        if not wells or first is None:
            return f"**{self.period.label}** · production {NOT_REPORTED}: no well has production in the warehouse{run}"
        return f"**{self.period.label}** · {wells:,} wells with production from {first:%Y-%m} to {last:%Y-%m}{run}"

    def completeness_markdown(self) -> str:
        c = self.completeness
        m, pm = c["month"], c["prior_month"]
        if not c["expected"]:
            return (f"**Completeness:** {c['rows']:,} wells reported {m:%B %Y}; none reported {pm:%B %Y} to "
                    "compare with.")
        text = (f"**Completeness:** {c['reported']:,} of the {c['expected']:,} wells that reported {pm:%B %Y} "
                f"have reported {m:%B %Y} ({fmt_number(c['share'], '.1%')})")
        if c["late"]:
            text += (f"; **{c['late']:,} not yet** (listed in the workbook's *Late reporters* sheet), so changes "
                     "below are like-for-like: wells that reported both periods")
        text += "." + (f" {c['new_rows']:,} wells reported {m:%B %Y} that did not report {pm:%B %Y}."
                       if c["new_rows"] else "")
        return text

    def summary_points(self) -> list[str]:
        """The executive summary: what changed and why, derived from the data."""
        pts = [self._production_point()]
        pts += self._field_and_well_points()
        pts += self._late_point()
        pts += self._financial_points() if self.financials_available else [self._no_gl_point()]
        return pts

    def _production_point(self) -> str:
        """Production in the period, like-for-like against the previous period."""
        p, q = self.period, self.prev
        prod = self.kpi("boe_per_day")
        if prod.get("value") is None:
            return f"Production for {p.label} is {NOT_REPORTED}."
        lfl, allw = prod.get("change_lfl_pct"), prod.get("change_all_pct")
        n = int(self.kpi("producing_wells").get("value") or 0)
        s = (f"Production averaged **{prod['value']:,.0f} BOE/d** in {p.label} from {n:,} producing "
             f"well{'s' if n != 1 else ''}")
        if lfl is not None:
            s += f", {_updown(lfl)} on {q.label} like-for-like"
            if allw is not None and abs((allw or 0) - lfl) >= 0.0005:
                s += f" ({_updown(allw)} for all wells)"
        elif allw is not None:
            s += f", {_updown(allw)} on {q.label}"
        return s + "."

    def _field_and_well_points(self) -> list[str]:
        """The fields and wells that moved the total most, new wells and shut-in wells."""
        pts: list[str] = []
        fc = self.field_changes.df
        movers = fc[fc["boe_per_day_change"].abs() >= 0.5].head(3) if len(fc) else fc
        if len(movers):
            pts.append("Fields that moved the total most: " + ", ".join(
                f"{r.field} {r.boe_per_day_change:+,.0f} BOE/d" for r in movers.itertuples()) + ".")
        wc = self.well_changes.df
        if len(wc):
            prod_w = wc[wc["status"] == "producing"]
            top = prod_w.reindex(prod_w["boe_per_day_change"].abs().sort_values(ascending=False).index).head(3)
            if len(top):
                pts.append("Largest well moves: " + ", ".join(
                    f"{r.well_id} ({r.field}) {r.boe_per_day_change:+,.0f} BOE/d" for r in top.itertuples()) + ".")
            new = wc[wc["status"] == "new well"]
            n_new = int(self.well_changes.counts.get("new well", 0))
            if n_new:
                pts.append(f"{n_new} new well{'s' if n_new != 1 else ''} came on, adding "
                           f"{new['boe_per_day'].fillna(0).sum():,.0f} BOE/d"
                           + _well_list(new, n_new) + ".")
            shut = wc[wc["status"] == "shut in"]
            n_shut = int(self.well_changes.counts.get("shut in", 0))
            if n_shut:
                pts.append(f"{n_shut} well{'s' if n_shut != 1 else ''} reported no production (shut in), "
                           f"{(-shut['boe_per_day_change']).clip(lower=0).sum():,.0f} BOE/d off"
                           + _well_list(shut, n_shut) + ".")
        return pts

    def _late_point(self) -> list[str]:
        """Wells that reported the prior month and not this one yet."""
        pts: list[str] = []
        late = self.completeness["late"]
        if late:
            pts.append(f"{late:,} well{'s' if late != 1 else ''} that reported "
                       f"{self.completeness['prior_month']:%B %Y} have no {self.completeness['month']:%B %Y} row yet; "
                       "the all-wells total will rise when they report.")
        return pts

    def _financial_points(self) -> list[str]:
        """Revenue, NOI, LOE and netback, the largest cost changes and revenue variances."""
        p = self.period
        pts: list[str] = []
        rev, noi = self.kpi("revenue_booked_usd"), self.kpi("noi_usd")
        loe, nb = self.kpi("loe_per_boe_usd"), self.kpi("netback_per_boe_usd")
        s = f"Booked revenue was **USD {fmt_number(rev.get('value'), ',.0f')}**"
        if rev.get("change_all_pct") is not None:
            s += f" ({_updown(rev['change_all_pct'])})"
        s += f", net operating income USD {fmt_number(noi.get('value'), ',.0f')}"
        if noi.get("change_all_pct") is not None:
            s += f" ({_updown(noi['change_all_pct'])})"
        s += (f"; LOE USD {fmt_number(loe.get('value'), ',.2f')}/BOE, netback USD "
              f"{fmt_number(nb.get('value'), ',.2f')}/BOE.")
        if self.show_reporting_currency:
            rc = self.kpi("revenue_booked_rc")
            s += f" Revenue in {self.currency}: {fmt_number(rc.get('value'), ',.0f')}."
        pts.append(s)
        cv = self.cost_variances.df
        if len(cv):
            pts.append("Largest cost changes: " + "; ".join(
                f"{r.item} in {r.field} {'up' if r.cost_change_usd > 0 else 'down'} USD "
                f"{abs(r.cost_change_usd):,.0f}"
                + (f" ({r.change_pct:+.0%})" if _num(r.change_pct) is not None else "")
                for r in cv.head(3).itertuples()) + ".")
        fm = self.financials_monthly.df
        fm = fm[pd.to_datetime(fm["month"]).dt.date.between(p.start, p.end)] if len(fm) else fm
        tol = (_num(self.settings.get("revenue_variance_tolerance_pct")) or 5.0) / 100
        bad = fm[fm["revenue_variance_pct"].abs() > tol] if len(fm) else fm
        for r in bad.itertuples():
            pts.append(f"Booked revenue in {pd.Timestamp(r.month):%B %Y} differs from the price-deck calculation "
                       f"by {r.revenue_variance_pct:+.1%} (tolerance {tol:.0%}).")
        return pts

    def _no_gl_point(self) -> str:
        """Without GL lines: what is not reported, and the revenue calculated from the price deck."""
        p = self.period
        cr = self.calculated_revenue.df
        cr = cr[pd.to_datetime(cr["month"]).dt.date.between(p.start, p.end)] if len(cr) else cr
        gross = _num(cr["revenue_gross_calc_usd"].sum(min_count=1)) if len(cr) else None
        text = f"No GL lines are booked for {p.label}: costs, NOI and netback are not reported."
        if gross:
            net = _num(cr["revenue_net_calc_usd"].sum(min_count=1))
            text += (f" Revenue calculated from the price deck: USD {gross:,.0f} gross (8/8ths)"
                     + (f", USD {net:,.0f} net of royalties" if net else ", net not reported (no NRI)") + ".")
        return text

    def summary_markdown(self) -> str:
        return "\n".join(f"- {s}" for s in self.summary_points())

    @property
    def calculated_revenue_available(self) -> bool:
        df = self.calculated_revenue.df
        return bool(len(df)) and bool(df["revenue_gross_calc_usd"].notna().any())

    def no_gl_markdown(self) -> str:
        text = (f"No GL lines are booked for {self.period.label}: the GL-based financials (costs, NOI, netback) are "
                "not reported. Drop the GL export in `inbox/gl/` to include them.")
        if self.calculated_revenue_available:
            return text + " Below: revenue calculated from the price deck (see Assumptions)."
        return text + (" Revenue cannot be calculated either: no price deck covers these months (drop WTI and "
                       "Henry Hub prices in `inbox/prices/`).")

    def coverage_markdown(self) -> str:
        return coverage_markdown(self.forecast_coverage)

    def lookback_markdown(self) -> str:
        return lookback_markdown(self.lookback_summary)

    def quality_markdown(self) -> str:
        return quality_markdown(self.quality_checks.df)

    # ----------------------------------------------------------------- workbook

    def sheets(self) -> list[Table]:
        """Every table of the workbook, in order (the Summary and About sheets are written around them)."""
        out = [self.kpis, self.company_trend, self.field_production_wide, self.field_production, self.field_changes,
               self.well_changes, self.late_reporters, self.wells, self.financials_monthly, self.financials_by_field,
               self.cost_variances, self.capex_by_field, self.jib, self.calculated_revenue]
        if self.decline_available:
            out += [self.forecast_company, self.eur_by_field, self.forecast_status, self.forecast_methods,
                    self.decline_parameters, self.unfitted_wells, self.forecast_bands]
            if self.lookback_available:
                out.append(self.lookback_by_field)
            out.append(self.type_curves)
        out += [self.quality_checks, self.rejected_rows, self.input_files]
        return [t for t in out if t.sheet]

    def write_workbook(self, path: str | Path) -> Path:
        from .excel import write_report_workbook

        return write_report_workbook(self, Path(path))


# --------------------------------------------------------------------------- words shared with tests


def _updown(ch: float | None) -> str:
    ch = _num(ch)
    if ch is None:
        return "no comparison"
    if abs(ch) < 0.0005:
        return "flat"
    return f"{'up' if ch > 0 else 'down'} {abs(ch):.1%}"


def kpi_cards_html(k: Table | pd.DataFrame, better: dict[str, bool | None] | None = None) -> str:
    """KPI tiles: value (formatted like the workbook cell), change like-for-like and for all wells.

    A value that is missing or not a finite number reads "not reported"."""
    df = k.df if isinstance(k, Table) else k
    cards = []
    keys = [key for key, *_ in Report.KPI_ROWS] + ["revenue_booked_rc", "noi_rc"]
    for i, r in enumerate(df.to_dict("records")):
        fmt = FORMATS.get(str(r.get("kind") or "ratio"), ("", ",.2f"))[1] or ",.2f"
        v = _num(r.get("value"))
        value = fmt_number(v, fmt, missing="–")
        lfl, allw = _num(r.get("change_lfl_pct")), _num(r.get("change_all_pct"))
        up = (better or {}).get(keys[i] if i < len(keys) else "", True)
        if v is None:
            delta, cls = NOT_REPORTED, "flat"
        else:
            ch = lfl if lfl is not None else allw
            if ch is None:
                delta, cls = "no prior period", "flat"
            else:
                good = (ch >= 0) == bool(up) if up is not None else None
                cls = "flat" if abs(ch) < 0.005 or good is None else ("good" if good else "bad")
                delta = f"{'▲' if ch >= 0 else '▼'} {abs(ch):.1%}" + (" like-for-like" if lfl is not None else "")
                if lfl is not None and allw is not None and abs(allw - lfl) >= 0.0005:
                    delta += f"<br><span class='kpi-all'>all wells {'▲' if allw >= 0 else '▼'} {abs(allw):.1%}</span>"
        cards.append(
            f'<div class="kpi"><div class="kpi-label">{html.escape(str(r.get("kpi", "")))}</div>'
            f'<div class="kpi-value">{value} '
            f'<span class="kpi-unit">{html.escape(str(r.get("unit") or ""))}</span></div>'
            f'<div class="kpi-delta {cls}">{delta}</div></div>')
    style = """<style>
.kpi-grid{display:grid;grid-template-columns:repeat(4,1fr);gap:6px;margin:6px 0 10px 0}
.kpi{border:1px solid #d9e2ec;border-radius:5px;padding:6px 8px;break-inside:avoid}
.kpi-label{font-size:9px;color:#52606d;text-transform:uppercase;letter-spacing:.04em}
.kpi-value{font-size:15px;font-weight:600;color:#1f2933;margin-top:1px;white-space:nowrap}
.kpi-unit{font-size:9px;font-weight:400;color:#52606d}
.kpi-delta{font-size:9px;margin-top:1px}.kpi-delta.good{color:#2f7d32}.kpi-delta.bad{color:#b5453a}
.kpi-delta.flat{color:#7b8794}.kpi-all{color:#7b8794}</style>"""
    if not cards:
        return style + f'<div class="kpi-grid"><div class="kpi">KPIs {NOT_REPORTED}</div></div>'
    return style + '<div class="kpi-grid">' + "".join(cards) + "</div>"


def coverage_markdown(cov: dict) -> str:
    forecast, fitted, analog, producing = (int(_num(cov.get(k)) or 0) for k in
                                           ("forecast", "fitted", "analog", "producing"))
    share = _num(cov.get("oil_share"))
    none, other = producing - forecast, forecast - fitted - analog
    share_text = f"{share:.0%} of the month's oil" if share is not None else f"share of oil {NOT_REPORTED}"
    text = (f"The forecast covers {forecast} of the {producing} wells producing in {cov.get('as_of') or '–'} "
            f"({share_text}): {fitted} on their own decline curve"
            + (f", {analog} with a short history on their field's analog shape or the ML trendline" if analog else "")
            + (f", {other} by another method (terminal decline, ratio, below the economic limit)" if other > 0 else "")
            + ".")
    if none > 0:
        text += f" {none} producing well(s) have no oil forecast (see the reasons below)."
    if cov.get("first_forecast_month"):
        text += (f" Forecast months start in {cov['first_forecast_month']} (each well's first month after its last "
                 "reported one).")
    return text


def lookback_markdown(summary: pd.DataFrame) -> str:
    if summary is None or summary.empty:
        return "_No lookback yet: the data holds less than a year before the forecast's as-of month._"
    r = summary.iloc[0]
    cut = pd.Timestamp(r["cut_month"])

    def pct(v, signed=False):
        return NOT_REPORTED if is_missing(v) else (f"{v:+.1%}" if signed else f"{v:.1%}")
    return (f"The forecast made as of **{cut:%B %Y}** (fitted on the data known then) against the "
            f"{int(r['horizon_months'])} months since: total oil **{pct(r['aggregate_error'], True)}** "
            f"against what was produced; the median well was off by {pct(r['median_ape'])} "
            f"(P90 {pct(r['p90_ape'])}); {int(r['wells_forecast']):,} of {int(r['wells_producing']):,} "
            f"producing wells had a forecast; {pct(r['coverage'])} of wells landed inside their P10–P90 range "
            f"(this year's ranges are calibrated on it). Short histories: **{r['short_history_method']}** "
            "(the method with the lower backtest error)." + lookback_sample_note(summary))


def lookback_sample_note(summary: pd.DataFrame) -> str:
    """``""``, or when the lookback backtested a sample of the wells (``wells_in_sample`` <
    ``wells_with_history``): a sentence saying so, for the text and the table under it."""
    if summary is None or summary.empty or not {"wells_in_sample", "wells_with_history"} <= set(summary.columns):
        return ""
    r = summary.iloc[0]
    n, of = r["wells_in_sample"], r["wells_with_history"]
    if is_missing(n) or is_missing(of) or int(n) >= int(of):
        return ""
    return (f" The lookback backtests a fixed sample of {int(n):,} of the {int(of):,} wells with production by "
            "then (chosen by well id, not by size or result); its volumes are those wells'.")


def quality_markdown(checks: pd.DataFrame) -> str:
    if checks.empty:
        return "_No data-quality results recorded for this warehouse._"
    failing = checks[checks["status"] != "pass"]
    errors = int((failing["severity"] == "error").sum())
    warns = int((failing["severity"] == "warn").sum())
    status = "**all passed**" if failing.empty else (
        f"**{errors} error(s)**, {warns} warning(s)" if errors else f"passed with **{warns} warning(s)**")
    return f"{len(checks)} checks ran on the published data (the latest run): {status}."


def waterfall_row(rep: Report) -> pd.Series:
    """Revenue → costs → NOI of the period (USD) for the waterfall chart: sums of the monthly frame, so the
    chart shows the workbook's numbers."""
    fm = rep.financials_monthly.df
    fm = fm[pd.to_datetime(fm["month"]).dt.date.between(rep.period.start, rep.period.end)] if len(fm) else fm
    cols = {"revenue_usd": "revenue_booked_usd", "loe_usd": "loe_net_usd", "workover_usd": "workover_net_usd",
            "severance_tax_usd": "severance_tax_usd", "gathering_transport_usd": "gathering_transport_net_usd",
            "net_operating_income_usd": "noi_usd"}
    return pd.Series({k: float(fm[v].sum()) if len(fm) else 0.0 for k, v in cols.items()})


def failing(checks: Table) -> Table:
    """The checks of a quality table that did not pass (same columns)."""
    df = checks.df[checks.df["status"] != "pass"].reset_index(drop=True)
    return Table(checks.key + "_failing", "Checks that did not pass", df, keys=["check_name"])
