"""The monthly report's content: the tables behind each section, read from the published warehouse.

The report notebook (``notebooks/05_report.ipynb``) calls these and lays out
the results; the Excel workbook gets the same tables (:func:`excel_sheets`),
so the PDF and the workbook never disagree.

Every function takes a read-only connection and the report month ``YYYY-MM``.
"""
from __future__ import annotations

import html
import math
from datetime import date

import duckdb
import pandas as pd

from ._common import NOT_REPORTED, fmt_number, is_missing
from .excel import LineChartSpec, SheetSpec

#: months of history shown in trend charts and tables
TREND_MONTHS = 24
FINANCIAL_MONTHS = 12
TOP_WELLS = 15


def month_start(month: str) -> date:
    y, m = (int(x) for x in month.split("-"))
    return date(y, m, 1)


def _df(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> pd.DataFrame:
    return con.execute(sql, params or []).df()


def has_rows(con: duckdb.DuckDBPyConnection, relation: str) -> bool:
    try:
        return bool(con.execute(f"select count(*) from {relation}").fetchone()[0])
    except duckdb.Error:
        return False


# --------------------------------------------------------------------------- KPIs

#: (column in mart_kpis_monthly, label, unit, python format, higher is better)
KPI_DEFS = [
    ("boe_per_day_cal", "Production", "BOE/d", ",.0f", True),
    ("oil_bbl", "Oil", "bbl", ",.0f", True),
    ("gas_mcf", "Gas", "mcf", ",.0f", True),
    ("producing_well_count", "Producing wells", "wells", ",.0f", True),
    ("revenue_booked_usd", "Revenue (booked)", "USD", ",.0f", True),
    ("noi_usd", "Net operating income", "USD", ",.0f", True),
    ("loe_per_boe_usd", "LOE", "USD/BOE", ",.2f", False),
    ("netback_per_boe_usd", "Netback", "USD/BOE", ",.2f", True),
]


#: KPIs that come from the GL (not reported for a month without GL lines)
GL_KPIS = {"revenue_booked_usd", "noi_usd", "loe_per_boe_usd", "netback_per_boe_usd"}


def gl_months(con: duckdb.DuckDBPyConnection) -> set[date]:
    """Months with GL lines booked (financial KPIs are only reported for these)."""
    rows = con.execute("select distinct date_trunc('month', transaction_date)::date from staging.stg_gl_lines"
                       ).fetchall()
    return {r[0] for r in rows}


def financials_available(con: duckdb.DuckDBPyConnection, month: str) -> bool:
    return month_start(month) in gl_months(con)


def kpis(con: duckdb.DuckDBPyConnection, month: str) -> pd.DataFrame:
    """The month's KPIs against the prior month and the same month a year earlier.

    Financial KPIs are None for a month without GL lines (rather than a misleading zero).
    """
    m = month_start(month)
    rows = _df(con, """select * from marts.mart_kpis_monthly
                        where month in (?::date, ?::date - interval 1 month, ?::date - interval 12 month)""",
               [m, m, m])
    rows["month"] = pd.to_datetime(rows["month"]).dt.date
    booked = gl_months(con)
    by = {r["month"]: {k: (None if k in GL_KPIS and r["month"] not in booked else v) for k, v in r.items()}
          for r in rows.to_dict("records")}
    cur = by.get(m)
    if cur is None:
        raise LookupError(f"no KPIs for {month} in marts.mart_kpis_monthly: is {month} in the data?")
    prev = by.get((pd.Timestamp(m) - pd.DateOffset(months=1)).date())
    yago = by.get((pd.Timestamp(m) - pd.DateOffset(months=12)).date())
    out = []
    for col, label, unit, fmt, better_up in KPI_DEFS:
        v, p, y = (_num(d.get(col)) if d else None for d in (cur, prev, yago))
        out.append({
            "kpi": label, "unit": unit, "value": v, "prior_month": p,
            "change_vs_prior_pct": _num(v / p - 1) if p and v is not None else None,
            "same_month_last_year": y,
            "change_vs_last_year_pct": _num(v / y - 1) if y and v is not None else None,
            "higher_is_better": better_up, "format": fmt,
        })
    return pd.DataFrame(out)


def _num(v) -> float | None:
    """A KPI value as float, None when missing or not a finite number (None, NaN, NaT, ±inf)."""
    if is_missing(v):
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def kpi_cards_html(k: pd.DataFrame) -> str:
    """KPI tiles (value, change vs prior month, coloured good/bad) as an HTML block.

    A value that is missing or not a finite number reads "not reported" (never "nan")."""
    cards = []
    for r in k.to_dict("records"):
        v, ch = _num(r.get("value")), _num(r.get("change_vs_prior_pct"))
        value = fmt_number(v, str(r.get("format") or ",.0f"), missing="–")
        if v is None:
            delta, cls = NOT_REPORTED, "flat"
        elif ch is None:
            delta, cls = "no prior month", "flat"
        else:
            good = (ch >= 0) == bool(r.get("higher_is_better"))
            cls = "flat" if abs(ch) < 0.005 else ("good" if good else "bad")
            delta = f"{'▲' if ch >= 0 else '▼'} {abs(ch):.1%} vs prior month"
        cards.append(
            f'<div class="kpi"><div class="kpi-label">{html.escape(str(r.get("kpi", "")))}</div>'
            f'<div class="kpi-value">{value} <span class="kpi-unit">{html.escape(str(r.get("unit") or ""))}</span></div>'
            f'<div class="kpi-delta {cls}">{delta}</div></div>')
    style = """<style>
.kpi-grid{display:grid;grid-template-columns:repeat(4,1fr);gap:8px;margin:8px 0 14px 0}
.kpi{border:1px solid #d9e2ec;border-radius:6px;padding:8px 10px;break-inside:avoid}
.kpi-label{font-size:10px;color:#52606d;text-transform:uppercase;letter-spacing:.04em}
.kpi-value{font-size:17px;font-weight:600;color:#1f2933;margin-top:2px}
.kpi-unit{font-size:10px;font-weight:400;color:#52606d}
.kpi-delta{font-size:10px;margin-top:2px}.kpi-delta.good{color:#2f7d32}.kpi-delta.bad{color:#b5453a}
.kpi-delta.flat{color:#7b8794}</style>"""
    if not cards:
        return style + f'<div class="kpi-grid"><div class="kpi">KPIs {NOT_REPORTED}</div></div>'
    return style + '<div class="kpi-grid">' + "".join(cards) + "</div>"


def kpi_table(k: pd.DataFrame) -> pd.DataFrame:
    return k[["kpi", "unit", "value", "prior_month", "change_vs_prior_pct", "same_month_last_year",
              "change_vs_last_year_pct"]]


def kpi_trend(con, month: str, months: int = TREND_MONTHS) -> pd.DataFrame:
    return _df(con, """select month, boe_per_day_cal, oil_bbl, gas_mcf, producing_well_count, revenue_booked_usd,
                              noi_usd, loe_per_boe_usd, netback_per_boe_usd, capex_net_usd
                       from marts.mart_kpis_monthly
                       where month between ?::date - to_months(?) and ?::date order by month""",
               [month_start(month), months - 1, month_start(month)])


# --------------------------------------------------------------------------- production


def production_by_field(con, month: str, months: int = TREND_MONTHS) -> pd.DataFrame:
    return _df(con, """select key as field, basin, production_month, gross_oil_bbl, gross_gas_mcf, gross_water_bbl,
                              gross_boe, gross_boe_per_day_cal as boe_per_day_cal, net_wi_boe, producing_well_count
                       from marts.mart_production_monthly
                       where level = 'field' and production_month between ?::date - to_months(?) and ?::date
                       order by production_month, field""",
               [month_start(month), months - 1, month_start(month)])


def top_wells(con, month: str, n: int = TOP_WELLS) -> pd.DataFrame:
    return _df(con, """select p.key as well_id, p.field, p.gross_oil_bbl as oil_bbl, p.gross_gas_mcf as gas_mcf,
                              p.gross_boe as boe, p.gross_boe_per_day_cal as boe_per_day_cal, w.cum_boe
                       from marts.mart_production_monthly p
                       left join marts.dim_wells w on w.well_id = p.key
                       where p.level = 'well' and p.production_month = ?::date
                       order by p.gross_boe desc limit ?""", [month_start(month), n])


def well_month(con, month: str) -> pd.DataFrame:
    return _df(con, """select p.key as well_id, w.well_name, p.field, p.basin, p.gross_oil_bbl, p.gross_gas_mcf,
                              p.gross_water_bbl, p.gross_boe, p.net_wi_boe, p.net_nri_boe, w.status,
                              w.cum_oil_bbl, w.cum_gas_mcf, w.eur_boe, w.remaining_boe
                       from marts.mart_production_monthly p
                       left join marts.dim_wells w on w.well_id = p.key
                       where p.level = 'well' and p.production_month = ?::date
                       order by p.field, p.key""", [month_start(month)])


# --------------------------------------------------------------------------- financials


def financials_by_month(con, month: str, months: int = FINANCIAL_MONTHS) -> pd.DataFrame:
    return _df(con, """select month, revenue_booked_usd, revenue_calculated_usd, revenue_variance_pct,
                              loe_net_usd, workover_net_usd, severance_tax_usd, gathering_transport_net_usd,
                              g_and_a_usd, capex_net_usd, noi_usd, loe_per_boe_usd, netback_per_boe_usd,
                              reporting_currency, revenue_booked_reporting, noi_reporting
                       from marts.mart_kpis_monthly
                       where month between ?::date - to_months(?) and ?::date order by month""",
               [month_start(month), months - 1, month_start(month)])


#: the field-financials columns that fit an A4 page
FIELD_FINANCIALS_SUMMARY = ["field", "revenue_booked_usd", "loe_net_usd", "noi_usd", "capex_net_usd",
                            "loe_per_boe_usd", "netback_per_boe_usd"]
#: the EUR columns that fit an A4 page
EUR_SUMMARY = ["field", "wells", "cum_oil_bbl", "remaining_oil_bbl", "eur_oil_bbl", "eur_boe"]


def financials_by_field(con, month: str) -> pd.DataFrame:
    return _df(con, """select key as field, revenue_booked_usd, loe_net_usd, workover_net_usd, severance_tax_usd,
                              gathering_transport_net_usd, capex_net_usd, noi_usd, gross_boe, net_wi_boe,
                              loe_per_boe_usd, netback_per_boe_usd, revenue_variance_pct
                       from marts.agg_monthly_financials
                       where level = 'field' and month = ?::date order by revenue_booked_usd desc""",
               [month_start(month)])


def capex_by_field(con, month: str, months: int = FINANCIAL_MONTHS) -> pd.DataFrame:
    return _df(con, """select month, key as field, capex_net_usd from marts.agg_monthly_financials
                       where level = 'field' and month between ?::date - to_months(?) and ?::date
                       order by month, field""", [month_start(month), months - 1, month_start(month)])


def month_waterfall(con, month: str) -> pd.Series:
    row = _df(con, """select revenue_booked_usd as revenue_usd, loe_net_usd as loe_usd,
                             workover_net_usd as workover_usd, severance_tax_usd,
                             gathering_transport_net_usd as gathering_transport_usd,
                             noi_usd as net_operating_income_usd
                      from marts.mart_kpis_monthly where month = ?::date""", [month_start(month)])
    return row.iloc[0].fillna(0.0)


def jib_summary(con, month: str, months: int = FINANCIAL_MONTHS) -> pd.DataFrame:
    """Joint-interest billing per partner and month (what partners were billed), last ``months`` months."""
    return _df(con, """select * from marts.agg_jib_summary
                       where month between ?::date - to_months(?) and ?::date order by month, 1""",
               [month_start(month), months - 1, month_start(month)])


# --------------------------------------------------------------------------- decline


def decline_available(con) -> bool:
    return has_rows(con, "marts.decline_params")


def decline_params(con) -> pd.DataFrame:
    return _df(con, "select * from marts.decline_params order by well_id, phase")


def eur_by_field(con) -> pd.DataFrame:
    return _df(con, """select field, count(*) as wells,
                              sum(cum_oil_bbl) as cum_oil_bbl, sum(oil_remaining_bbl) as remaining_oil_bbl,
                              sum(oil_eur_bbl) as eur_oil_bbl, sum(gas_eur_mcf) as eur_gas_mcf,
                              sum(eur_boe) as eur_boe, sum(remaining_boe) as remaining_boe,
                              count(*) filter (where well_id in (select well_id from marts.decline_params
                                                                  where phase = 'oil' and method is not null))
                                  as oil_wells_forecast
                       from marts.dim_wells group by field order by eur_boe desc nulls last""")


def field_forecast(con, month: str, years_ahead: int = 5, months_back: int = TREND_MONTHS) -> pd.DataFrame:
    """Field oil rate per calendar day: actuals and the decline forecast after the report month."""
    m = month_start(month)
    return _df(con, """
        with actual as (
            select w.field, p.production_month as month, sum(p.oil_bbl) as oil_bbl
            from staging.stg_production p join marts.dim_wells w using (well_id)
            where p.production_month between ?::date - to_months(?) and ?::date
            group by w.field, p.production_month
        ),
        forecast as (
            select w.field, f.month, sum(f.volume) as oil_bbl
            from marts.decline_forecast f join marts.dim_wells w using (well_id)
            where f.phase = 'oil' and f.month > ?::date and f.month <= ?::date + to_years(?)
            group by w.field, f.month
        ),
        final as (
            select field, month, oil_bbl / day(last_day(month)) as oil_bbl_per_day, 'actual' as series from actual
            union all
            select field, month, oil_bbl / day(last_day(month)), 'forecast' from forecast
        )
        select * from final order by field, series, month""",
        [m, months_back - 1, m, m, m, years_ahead])


def type_curves(con) -> pd.DataFrame:
    return _df(con, "select * from marts.decline_type_curves order by 1, 2, 3") \
        if has_rows(con, "marts.decline_type_curves") else pd.DataFrame()


def unfitted_wells(con) -> pd.DataFrame:
    return _df(con, """select well_id, phase, status, reason from marts.decline_params
                       where status <> 'fitted' order by status, well_id, phase""")


def unfitted_summary(con) -> pd.DataFrame:
    """Well-phases without a fit, by phase and status, with example wells (the full list is in Excel)."""
    return _df(con, """select phase, status, count(*) as well_phases,
                              string_agg(well_id, ', ' order by well_id) filter (where rn <= 3) as example_wells,
                              any_value(reason) as example_reason
                       from (select *, row_number() over (partition by phase, status order by well_id) as rn
                             from marts.decline_params where status <> 'fitted')
                       group by phase, status order by phase, well_phases desc""")


def forecast_coverage(con) -> dict:
    """Wells producing oil in the forecast's as-of month with an oil forecast: by curve, short-history
    method (analog shape / ML trendline), other methods, none."""
    row = con.execute("""
        with as_of as (select coalesce(max(as_of_month), (select max(production_month) from staging.stg_production))
                      as m from marts.decline_params),
        prod as (select p.well_id, p.oil_bbl from staging.stg_production p, as_of
                 where p.production_month = as_of.m and p.is_producing)
        select count(*) filter (where d.method in ('curve', 'anchored_curve')),
               count(*) filter (where d.method in ('analog', 'ml_trendline')),
               count(*) filter (where d.method is not null), count(*),
               sum(prod.oil_bbl) filter (where d.method is not null), sum(prod.oil_bbl),
               any_value(as_of.m)
        from prod cross join as_of
        left join marts.decline_params d on d.well_id = prod.well_id and d.phase = 'oil'""").fetchone()
    fitted, short, forecast, wells, oil_fc, oil, last = row
    return {"fitted": int(fitted or 0), "analog": int(short or 0), "forecast": int(forecast or 0),
            "producing": int(wells or 0), "oil_share": float(oil_fc or 0) / float(oil) if oil else 0.0,
            "last_month": last.strftime("%Y-%m") if last else None}


def coverage_markdown(cov: dict) -> str:
    forecast = int(_num(cov.get("forecast", (_num(cov.get("fitted")) or 0) + (_num(cov.get("analog")) or 0))) or 0)
    fitted, analog, producing = (int(_num(cov.get(k)) or 0) for k in ("fitted", "analog", "producing"))
    share = _num(cov.get("oil_share"))
    none = producing - forecast
    other = forecast - fitted - analog
    start = f" Forecasts start after {cov['last_month']}." if cov.get("last_month") else ""
    share_text = f"{share:.0%} of the month's oil" if share is not None else f"share of oil {NOT_REPORTED}"
    text = (f"The forecast covers {forecast} of the {producing} producing wells "
            f"({share_text}): {fitted} on their own decline curve"
            + (f", {analog} with a short history on their field's analog shape or the ML trendline"
               if analog else "")
            + (f", {other} by another method (terminal decline, ratio, below the economic limit)" if other > 0
               else "") + ".")
    if none > 0:
        text += f" {none} producing well(s) have no oil forecast (see the reasons below)."
    return text + start


def lookback_available(con) -> bool:
    return has_rows(con, "marts.decline_backtest_summary")


def lookback_summary(con) -> pd.DataFrame:
    """Last year's forecast against this year's actuals: the backtest figures of the decline step."""
    return _df(con, """select cut_month, horizon_months, phase, wells_producing, wells_forecast, forecast_share,
                              median_ape, p90_ape, aggregate_error, coverage, calibrated_scale,
                              short_history_method, forecast_total, actual_total
                       from marts.decline_backtest_summary""")


def lookback_by_field(con) -> pd.DataFrame:
    """Per field: the forecast made a year ago for the past 12 months vs what was produced (oil, bbl)."""
    return _df(con, """select "group" as field, sum(forecast_p50) as forecast_bbl, sum(actual_volume) as actual_bbl,
                              sum(forecast_p50) / nullif(sum(actual_volume), 0) - 1 as error_pct,
                              min(month) as from_month, max(month) as to_month
                       from marts.decline_lookback group by 1
                       order by "group" = '(all)', actual_bbl desc""")


def lookback_monthly(con) -> pd.DataFrame:
    return _df(con, """select "group" as field, month, actual_volume, forecast_p50, forecast_p10, forecast_p90
                       from marts.decline_lookback order by 1, 2""")


def lookback_markdown(summary: pd.DataFrame) -> str:
    if summary.empty:
        return "_No lookback yet: the data holds less than a year before the report month._"
    r = summary.iloc[0]
    cut = pd.Timestamp(r["cut_month"])

    def pct(v, signed=False):
        return "not reported" if v is None or pd.isna(v) else (f"{v:+.1%}" if signed else f"{v:.1%}")
    return (f"The forecast made as of **{cut:%B %Y}** (fitted on the data known then) against the "
            f"{int(r['horizon_months'])} months since: total oil **{pct(r['aggregate_error'], True)}** "
            f"against what was produced; the median well was off by {pct(r['median_ape'])} "
            f"(P90 {pct(r['p90_ape'])}); {int(r['wells_forecast'])} of {int(r['wells_producing'])} producing wells "
            f"had a forecast; {pct(r['coverage'])} of wells landed inside their P10–P90 range "
            f"(this year's ranges are calibrated on it). Short histories: **{r['short_history_method']}** "
            "(the method with the lower backtest error).")


def forecast_bands(con, phase: str = "oil") -> pd.DataFrame:
    """P10/P50/P90 monthly volumes per field and for the company (``(all)``): wells sampled, then summed."""
    return _df(con, """select "group" as field, month, p10, p50, p90, wells from marts.decline_forecast_bands
                       where phase = ? order by 1, 2""", [phase]) \
        if has_rows(con, "marts.decline_forecast_bands") else pd.DataFrame()


def forecast_status_share(con, phase: str = "oil") -> pd.DataFrame:
    """Share of wells by forecast method and status (``none`` = not forecast), with an example reason."""
    return _df(con, """select coalesce(method, 'none') as method, status, count(*) as wells,
                              count(*) / sum(count(*)) over () as share,
                              any_value(reason order by well_id) as example_reason
                       from marts.decline_params where phase = ? group by all order by wells desc""", [phase])


def forecast_methods(con) -> pd.DataFrame:
    """Per well and phase: how it is forecast (method, status, reason) and the fit window behind it."""
    return _df(con, """select well_id, phase, method, status, reason, fit_start, fit_end, n_points,
                              half_life_months, segment_start, segment_rule, catchup_months, anchor_rule,
                              anchor_factor, uptime, q_limit, limit_source, ratio_basis, ratio_value,
                              cum_to_date, remaining, remaining_p10, remaining_p90, eur, eur_p10, eur_p90
                       from marts.decline_params order by well_id, phase""")


# --------------------------------------------------------------------------- data quality


def quality_checks(con) -> pd.DataFrame:
    return _df(con, """select check_name, model, check_type, severity, status, failing_rows
                       from metadata.data_quality_checks
                       where run_id = (select run_id from metadata.data_quality_checks
                                       order by checked_at desc limit 1)
                       order by status = 'pass', severity, check_name""")


def rejected_rows(con) -> pd.DataFrame:
    return _df(con, """select r.kind, r.source_file, r.source_line, r.reason
                       from raw.rejected_rows r
                       join metadata.ingested_files f on f.file_id = r._file_id and f.status = 'loaded'
                       order by r.source_file, r.source_line""")


def ingested_files(con) -> pd.DataFrame:
    return _df(con, """select kind, file_name, version, status, rows_read, rows_loaded, rows_rejected,
                              ingested_at from metadata.ingested_files order by file_id""")


# --------------------------------------------------------------------------- Excel


def excel_sheets(con, month: str) -> list[SheetSpec]:
    """Every report table as a workbook sheet (summary grain; bulk data stays in the warehouse)."""
    k = kpis(con, month)
    trend = kpi_trend(con, month)
    sheets = [
        SheetSpec("KPIs", kpi_table(k), f"Company KPIs for {month} vs prior month and a year earlier"),
        SheetSpec("KPI trend", trend, f"Monthly company KPIs, {TREND_MONTHS} months to {month}",
                  chart=LineChartSpec("month", ["boe_per_day_cal"], "Production", y_title="BOE/d")),
        SheetSpec("Production by field", production_by_field(con, month),
                  "Gross and net production per field and month (BOE = oil + gas/6)"),
        SheetSpec("Wells this month", well_month(con, month), f"Every producing well in {month}"),
        SheetSpec("Financials by month", financials_by_month(con, month),
                  "Revenue, costs, NOI, LOE and netback per BOE (USD; net of partners' JIB share)"),
        SheetSpec("Financials by field", financials_by_field(con, month), f"Field financials for {month}"),
        SheetSpec("Capex by field", capex_by_field(con, month), "Net capex by field and month (USD)"),
        SheetSpec("JIB by partner", jib_summary(con, month),
                  "Joint-interest billing: partners' share of operating cost (5900) and capex (1590), USD"),
    ]
    if decline_available(con):
        sheets += [
            SheetSpec("EUR by field", eur_by_field(con), "Cumulative, remaining and EUR per field (decline fits)"),
            SheetSpec("Decline parameters", decline_params(con),
                      "Arps fit per well and phase: qi per day, di secant-effective per year, b, status"),
            SheetSpec("Wells not fitted", unfitted_wells(con),
                      "Every well and phase without its own fitted curve (analog, inactive, too short, …), with the reason"),
            SheetSpec("Forecast methods", forecast_methods(con),
                      "Per well and phase: forecast method (curve, anchored_curve, ratio, analog, ml_trendline, "
                      "terminal_decline, below_limit), status, reason, fit window, anchor, uptime, limit, P10/P90"),
        ]
        bands = forecast_bands(con)
        if len(bands):
            sheets.append(SheetSpec("Forecast bands", bands,
                                    "Oil per field and company, P10 (high) / P50 / P90 (low), bbl/month: "
                                    "wells sampled, then summed"))
        if lookback_available(con):
            sheets.append(SheetSpec("Forecast lookback", lookback_by_field(con),
                                    "Last year's forecast vs this year's actual oil per field (bbl)"))
        tc = type_curves(con)
        if len(tc):
            sheets.append(SheetSpec("Type curves", tc, "P10/P50/P90 type wells per field, aligned on peak month"))
    sheets += [
        SheetSpec("Data quality", quality_checks(con), "Checks of the published run"),
        SheetSpec("Rejected rows", rejected_rows(con), "Source rows not loaded, with file, line and reason"),
        SheetSpec("Input files", ingested_files(con), "Every file ingested, with versions and row counts"),
    ]
    return sheets


# --------------------------------------------------------------------------- words


def headline_markdown(con, month: str, k: pd.DataFrame, run_id: str = "") -> str:
    span = con.execute("select min(production_month), max(production_month), count(distinct well_id) "
                       "from staging.stg_production").fetchone()
    first, last, wells = span if span else (None, None, None)
    when = pd.Timestamp(month_start(month)).strftime("%B %Y")
    run = f" · run `{run_id}`" if run_id and not run_id.startswith("standalone") else ""
    if not wells or first is None or last is None:
        return f"**{when}** · production {NOT_REPORTED}: no well has production in the warehouse{run}"
    return (f"**{when}** · {wells:,} wells with production from {first:%Y-%m} to {last:%Y-%m}{run}")


def _kpi(k: pd.DataFrame, label: str) -> dict:
    """One KPI row; its numbers as floats or None (missing, NaN, ±inf), an absent KPI as all None."""
    rows = k[k["kpi"] == label].to_dict("records") if len(k) and "kpi" in k.columns else []
    row = dict(rows[0]) if rows else {"kpi": label}
    for key in ("value", "prior_month", "change_vs_prior_pct"):
        row[key] = _num(row.get(key))
    return row


def _change(ch) -> str:
    ch = _num(ch)
    if ch is None:
        return "with no prior month to compare"
    if abs(ch) < 0.0005:
        return "flat on the prior month"
    return f"{'up' if ch > 0 else 'down'} {abs(ch):.1%} on the prior month"


def reporting_currency_note(con, month: str) -> str:
    """Revenue and NOI in the reporting currency (metadata.transform_settings), when it is not USD."""
    row = con.execute("""select reporting_currency, reporting_units_per_usd, revenue_booked_reporting, noi_reporting
                         from marts.mart_kpis_monthly where month = ?::date""", [month_start(month)]).fetchone()
    if not row or row[0] in (None, "USD") or _num(row[1]) is None or _num(row[2]) is None \
            or not financials_available(con, month):
        return ""
    cur, rate, rev, noi = row
    return (f" In {cur} at {fmt_number(rate, ',.4f')} {cur}/USD: revenue {cur} {fmt_number(rev, ',.0f')}, "
            f"net operating income {cur} {fmt_number(noi, ',.0f')}.")


def narrative(k: pd.DataFrame, month: str, currency_note: str = "") -> str:
    """Two sentences a stakeholder reads first: production and unit economics.

    Any number that is missing or not finite reads "not reported"; the narrative never fails on one."""
    prod, wells = _kpi(k, "Production"), _kpi(k, "Producing wells")
    rev, noi = _kpi(k, "Revenue (booked)"), _kpi(k, "Net operating income")
    loe, nb = _kpi(k, "LOE"), _kpi(k, "Netback")
    when = pd.Timestamp(month_start(month)).strftime("%B %Y")
    n = int(wells["value"] or 0)
    if prod["value"] is None:
        parts = [f"Production for {when} is {NOT_REPORTED}"
                 + (f" ({n:,} producing well{'s' if n != 1 else ''})." if n else ".")]
    else:
        parts = [f"Production averaged **{prod['value']:,.0f} BOE/d** in {when} from {n:,} "
                 f"producing well{'s' if n != 1 else ''}, {_change(prod['change_vs_prior_pct'])}."]
    if rev["value"] is None:
        parts.append("No GL lines are booked for the month, so revenue, costs and netback are not reported.")
    else:
        unit = (f"; LOE ran at USD {loe['value']:,.2f}/BOE and the netback at USD {nb['value']:,.2f}/BOE"
                if loe["value"] is not None and nb["value"] is not None else "")
        noi_text = (f"**USD {noi['value']:,.0f}** ({_change(noi['change_vs_prior_pct'])})"
                    if noi["value"] is not None else NOT_REPORTED)
        parts.append(f"Booked revenue was **USD {rev['value']:,.0f}** and net operating income "
                     f"{noi_text}{unit}.{currency_note}")
    return " ".join(parts)


def calculated_revenue(con, month: str, months: int = FINANCIAL_MONTHS) -> pd.DataFrame:
    """Revenue from volumes × the price deck (mart_revenue), gross and net of NRI where it is known."""
    return _df(con, """select production_month as month, sum(gross_revenue_usd) as gross_revenue_usd,
                              sum(net_revenue_usd) as net_revenue_usd,
                              bool_or(price_is_missing) as price_missing
                       from marts.mart_revenue
                       where production_month between ?::date - to_months(?) and ?::date
                       group by all order by month""", [month_start(month), months - 1, month_start(month)])


def no_gl_markdown(con, month: str) -> str:
    rev = calculated_revenue(con, month)
    cur = rev[pd.to_datetime(rev["month"]).dt.date == month_start(month)] if len(rev) else rev
    text = (f"No GL lines are booked for {month}: the GL-based financials (costs, NOI, netback) are not "
            "reported. Drop the month's GL export in `inbox/gl/` to include them.")
    gross = _num(cur["gross_revenue_usd"].iloc[0]) if len(cur) else None
    if gross is not None and gross > 0:
        net = _num(cur["net_revenue_usd"].iloc[0])
        text += (f" Revenue calculated from the price deck: **USD {gross:,.0f} gross** (8/8ths)"
                 + (f", USD {net:,.0f} net of royalties" if net is not None and net > 0
                    else " (net revenue interest unknown)") + ".")
    return text


def quality_markdown(checks: pd.DataFrame) -> str:
    if checks.empty:
        return "_No data-quality results recorded for this warehouse._"
    failing = checks[checks["status"] != "pass"]
    errors = int((failing["severity"] == "error").sum())
    warns = int((failing["severity"] == "warn").sum())
    status = "**all passed**" if failing.empty else (
        f"**{errors} error(s)**, {warns} warning(s)" if errors else f"passed with **{warns} warning(s)**")
    return f"{len(checks)} checks ran on the published data: {status}."


def excel_metadata(con, month: str, run_id: str, checks: pd.DataFrame) -> dict:
    failing = checks[checks["status"] != "pass"]
    status = "pass" if failing.empty else ("fail" if (failing["severity"] == "error").any() else "warn")
    return {
        "month": month,
        "run_id": run_id,
        "description": "basinlab monthly report: KPIs, production, financials, decline forecasts and data quality. "
                       "Volumes in bbl (oil, water) and mcf (gas); BOE = oil + gas/6; money in USD unless a "
                       "column says otherwise.",
        "data_quality": {"status": f"{status}: {len(checks)} checks, {len(failing)} failing",
                         "checks": failing.to_dict("records")},
    }
