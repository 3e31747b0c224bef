"""Plotly figures the notebooks and the report share.

Every builder takes a tidy DataFrame (or a connection and a month) and returns
a styled figure; show it with :func:`basinlab.report.show`. Units are in the
axis titles. Rates are per calendar day unless a title says otherwise.
"""
from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from .report import style_figure


def ingest_files(files: pd.DataFrame) -> go.Figure:
    """Rows loaded vs rejected per ingested file (rows in = loaded + rejected)."""
    df = files[files["status"] == "loaded"]
    fig = go.Figure()
    fig.add_bar(y=df["file_name"], x=df["rows_loaded"], name="loaded", orientation="h")
    fig.add_bar(y=df["file_name"], x=df["rows_rejected"], name="rejected", orientation="h")
    fig.update_layout(barmode="stack")
    fig.update_xaxes(type="log")
    return style_figure(fig, "Rows per file this batch", height=max(240, 60 + 36 * len(df)),
                        x_title="rows (log scale)")


def model_timings(models: pd.DataFrame) -> go.Figure:
    """Seconds per SQL model, coloured by schema."""
    df = models.sort_values("seconds")
    fig = go.Figure(go.Bar(y=df["model"], x=df["seconds"], orientation="h",
                           text=[f"{r:,}" if pd.notna(r) else "" for r in df.get("row_count", [None] * len(df))],
                           textposition="outside"))
    return style_figure(fig, "Model run time (labels: rows)", height=max(260, 40 + 22 * len(df)),
                        x_title="seconds", legend="none")


def production_by_group(monthly: pd.DataFrame, group: str = "key", value: str = "boe_per_day_cal",
                        title: str = "Production by field", y_title: str = "BOE/d (calendar day)") -> go.Figure:
    """Stacked area of a monthly rate per group (e.g. fields from mart_production_monthly)."""
    fig = go.Figure()
    for name, g in monthly.sort_values("production_month").groupby(group, sort=True):
        fig.add_scatter(x=g["production_month"], y=g[value], name=str(name), stackgroup="one", mode="lines")
    return style_figure(fig, title, x_title="month", y_title=y_title)


def kpi_trend(kpis: pd.DataFrame, y: list[str], title: str, y_title: str, secondary: str | None = None) -> go.Figure:
    """Lines of company KPIs per month."""
    fig = go.Figure()
    for col in y:
        fig.add_scatter(x=kpis["month"], y=kpis[col], name=col.replace("_", " "), mode="lines+markers")
    return style_figure(fig, title, x_title="month", y_title=y_title)


def check_status(checks: pd.DataFrame) -> go.Figure:
    """Checks passed / warned / failed by check type."""
    df = checks.copy()
    df["outcome"] = df.apply(lambda r: "pass" if r["status"] == "pass" else
                             ("warn" if r["severity"] == "warn" else "error"), axis=1)
    pivot = df.groupby(["check_type", "outcome"]).size().unstack(fill_value=0)
    fig = go.Figure()
    colors = {"pass": "#3a8a3f", "warn": "#d9822b", "error": "#b5453a"}
    for outcome in ("pass", "warn", "error"):
        if outcome in pivot:
            fig.add_bar(y=pivot.index, x=pivot[outcome], name=outcome, orientation="h",
                        marker_color=colors[outcome])
    fig.update_layout(barmode="stack")
    return style_figure(fig, "Data-quality checks", height=max(240, 60 + 30 * len(pivot)), x_title="checks")


def rejects_by_reason(rejects: pd.DataFrame) -> go.Figure:
    """Rejected rows per reason (from :func:`basinlab.ingest.rejected_summary`)."""
    df = rejects.groupby("reason", as_index=False)["rows"].sum().sort_values("rows")
    fig = go.Figure(go.Bar(y=df["reason"], x=df["rows"], orientation="h", marker_color="#b5453a"))
    fig = style_figure(fig, "Rejected rows by reason", height=max(220, 60 + 30 * len(df)),
                       x_title="rows", legend="none")
    fig.update_xaxes(tickformat=",d", rangemode="tozero")
    if df["rows"].max() < 10:
        fig.update_xaxes(dtick=1)
    return fig


def waterfall_netback(fin: pd.Series) -> go.Figure:
    """Revenue → costs → net operating income for one period (USD)."""
    steps = [("Revenue", fin["revenue_usd"], "absolute"),
             ("LOE", -fin["loe_usd"], "relative"),
             ("Workovers", -fin["workover_usd"], "relative"),
             ("Severance tax", -fin["severance_tax_usd"], "relative"),
             ("Gathering & transport", -fin["gathering_transport_usd"], "relative"),
             ("Net operating income", fin["net_operating_income_usd"], "total")]
    fig = go.Figure(go.Waterfall(x=[s[0] for s in steps], y=[s[1] for s in steps],
                                 measure=[s[2] for s in steps],
                                 connector={"line": {"color": "#9aa5b1"}}))
    return style_figure(fig, "Revenue to net operating income", y_title="USD", legend="none")


def financial_trend(fin: pd.DataFrame) -> go.Figure:
    """Revenue and NOI bars with LOE and netback per BOE on a second axis (USD, USD/BOE)."""
    fig = go.Figure()
    fig.add_bar(x=fin["month"], y=fin["revenue_booked_usd"], name="revenue (USD)")
    fig.add_bar(x=fin["month"], y=fin["noi_usd"], name="net operating income (USD)")
    fig.add_scatter(x=fin["month"], y=fin["netback_per_boe_usd"], name="netback (USD/BOE)", yaxis="y2",
                    mode="lines+markers")
    fig.add_scatter(x=fin["month"], y=fin["loe_per_boe_usd"], name="LOE (USD/BOE)", yaxis="y2",
                    mode="lines+markers")
    fig.update_layout(barmode="group", yaxis2=dict(overlaying="y", side="right", title="USD/BOE",
                                                   rangemode="tozero", showgrid=False))
    return style_figure(fig, "Revenue, NOI and unit economics", x_title="month", y_title="USD")


def stacked_bars(df: pd.DataFrame, x: str, y: str, group: str, title: str, y_title: str) -> go.Figure:
    fig = go.Figure()
    for name, g in df.groupby(group, sort=True):
        fig.add_bar(x=g[x], y=g[y], name=str(name))
    fig.update_layout(barmode="stack")
    return style_figure(fig, title, x_title=x.replace("_", " "), y_title=y_title)


def forecast_vs_actual(df: pd.DataFrame, title: str = "Oil rate by field: actual and decline forecast") -> go.Figure:
    """Actual (solid) and forecast (dashed) calendar-day rates per field on a log axis."""
    fig = go.Figure()
    colors = {}
    from .report.figures import REPORT_COLORWAY

    for i, field in enumerate(sorted(df["field"].unique())):
        colors[field] = REPORT_COLORWAY[i % len(REPORT_COLORWAY)]
    for (field, series), g in df.groupby(["field", "series"], sort=True):
        fig.add_scatter(x=g["month"], y=g["oil_bbl_per_day"], name=f"{field} ({series})", mode="lines",
                        line=dict(color=colors[field], dash="dash" if series == "forecast" else "solid"),
                        legendgroup=field, showlegend=series == "actual")
    fig.update_yaxes(type="log")
    return style_figure(fig, title, x_title="month", y_title="oil (bbl/d, calendar day, log)", height=420)


def horizontal_bars(df: pd.DataFrame, label: str, value: str, title: str, x_title: str) -> go.Figure:
    d = df.sort_values(value)
    fig = go.Figure(go.Bar(y=d[label], x=d[value], orientation="h"))
    return style_figure(fig, title, height=max(240, 60 + 34 * len(d)), x_title=x_title, legend="none")


def type_curve_fan(tc: pd.DataFrame, phase: str = "oil") -> go.Figure:
    """P10/P50/P90 type-curve bands per group (P10 is the high case), rates per day vs months from peak."""
    from .report.figures import REPORT_COLORWAY

    d = tc[tc["phase"] == phase] if "phase" in tc else tc
    group_col = "group" if "group" in d else d.columns[0]
    fig = go.Figure()
    groups = list(d.sort_values("month_index").groupby(group_col, sort=True))
    bands = len(groups) <= 2  # overlapping bands of many groups are unreadable: P50 lines only
    for i, (g, gd) in enumerate(groups):
        c = REPORT_COLORWAY[i % len(REPORT_COLORWAY)]
        if bands:
            fig.add_scatter(x=gd["month_index"], y=gd["p10"], mode="lines", line=dict(width=0, color=c),
                            showlegend=False, legendgroup=str(g), hoverinfo="skip")
            fig.add_scatter(x=gd["month_index"], y=gd["p90"], mode="lines", line=dict(width=0, color=c),
                            fill="tonexty", opacity=0.2, showlegend=False, legendgroup=str(g), hoverinfo="skip")
        fig.add_scatter(x=gd["month_index"], y=gd["p50"], mode="lines", name=f"{g} P50",
                        line=dict(color=c, width=2), legendgroup=str(g))
    fig.update_yaxes(type="log")
    unit = "bbl/d" if phase == "oil" else "mcf/d"
    norm = ""
    if "normalised" in d and d["normalised"].any():
        norm = " per 1,000 ft lateral"
    what = "band P90–P10, line P50" if bands else "P50 per group; P10/P90 in the workbook"
    return style_figure(fig, f"{phase.capitalize()} type curves ({what})",
                        x_title="months from peak", y_title=f"{unit}{norm} (log)", height=400)


def well_fits(df: pd.DataFrame, phase: str = "oil", cols: int = 2) -> go.Figure:
    """Actual producing-day rates, fitted curve and forecast per well on log-rate axes (small multiples)."""
    from plotly.subplots import make_subplots

    wells = list(dict.fromkeys(df["well_id"]))
    rows = max(1, -(-len(wells) // cols))
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=wells, shared_xaxes=False,
                        vertical_spacing=0.12 / max(1, rows / 3))
    style = {"actual": dict(mode="markers", marker=dict(size=4, color="#1f4e79")),
             "fit": dict(mode="lines", line=dict(color="#d9822b", width=2)),
             "forecast": dict(mode="lines", line=dict(color="#d9822b", width=2, dash="dash"))}
    for i, w in enumerate(wells):
        r, c = i // cols + 1, i % cols + 1
        for series, kw in style.items():
            g = df[(df["well_id"] == w) & (df["series"] == series)].sort_values("month")
            fig.add_scatter(x=g["month"], y=g["rate_per_day"], name=series, showlegend=i == 0,
                            legendgroup=series, row=r, col=c, **kw)
        fig.update_yaxes(type="log", row=r, col=c)
    unit = "bbl/d" if phase != "gas" else "mcf/d"
    fig = style_figure(fig, f"{phase.capitalize()}: actual, fit and forecast ({unit}, producing day, log)",
                       height=260 * rows + 60)
    fig.update_annotations(font_size=11)
    return fig


def histogram(values: pd.Series, title: str, x_title: str, bins: int = 30) -> go.Figure:
    fig = go.Figure(go.Histogram(x=values, nbinsx=bins, marker_color="#1f4e79"))
    return style_figure(fig, title, height=300, x_title=x_title, y_title="well-phases", legend="none")


def _per_day(d: pd.DataFrame, cols: list[str]) -> pd.DataFrame:
    """Monthly volumes as calendar-day rates (volume / days in the month)."""
    days = pd.to_datetime(d["month"]).dt.days_in_month.to_numpy()
    return d.assign(**{c: d[c].to_numpy(float) / days for c in cols if c in d})


def forecast_bands(bands: pd.DataFrame, field: str = "(all)", actual: pd.DataFrame | None = None,
                   title: str | None = None) -> go.Figure:
    """P50 forecast with its P10–P90 band (wells sampled, then summed), bbl/d per calendar day."""
    d = _per_day(bands[bands["field"] == field].sort_values("month"), ["p10", "p50", "p90"])
    fig = go.Figure()
    fig.add_scatter(x=d["month"], y=d["p10"], mode="lines", line=dict(width=0, color="#d9822b"),
                    showlegend=False, hoverinfo="skip")
    fig.add_scatter(x=d["month"], y=d["p90"], mode="lines", line=dict(width=0, color="#d9822b"), fill="tonexty",
                    fillcolor="rgba(217,130,43,0.25)", name="P90–P10 range")
    fig.add_scatter(x=d["month"], y=d["p50"], mode="lines", line=dict(color="#d9822b", width=2), name="P50 forecast")
    if actual is not None and len(actual):
        a = _per_day(actual.sort_values("month"), ["oil_bbl"])
        fig.add_scatter(x=a["month"], y=a["oil_bbl"], mode="lines", line=dict(color="#1f4e79", width=2),
                        name="actual")
    name = "Company" if field == "(all)" else field
    return style_figure(fig, title or f"{name} oil forecast with P10–P90 range", x_title="month",
                        y_title="oil (bbl/d, calendar day)")


def forecast_lookback(lookback: pd.DataFrame, field: str = "(all)") -> go.Figure:
    """Last year's forecast (P50 and P10–P90) against the actual oil produced since, bbl/d per calendar day."""
    d = _per_day(lookback[lookback["field"] == field].sort_values("month"),
                 ["forecast_p10", "forecast_p50", "forecast_p90", "actual_volume"])
    fig = go.Figure()
    fig.add_scatter(x=d["month"], y=d["forecast_p10"], mode="lines", line=dict(width=0, color="#9aa5b1"),
                    showlegend=False, hoverinfo="skip")
    fig.add_scatter(x=d["month"], y=d["forecast_p90"], mode="lines", line=dict(width=0, color="#9aa5b1"),
                    fill="tonexty", fillcolor="rgba(154,165,177,0.35)", name="forecast P90–P10")
    fig.add_scatter(x=d["month"], y=d["forecast_p50"], mode="lines", line=dict(color="#52606d", dash="dash"),
                    name="forecast P50 (a year ago)")
    fig.add_scatter(x=d["month"], y=d["actual_volume"], mode="lines+markers", line=dict(color="#1f4e79"),
                    name="actual")
    name = "Company" if field == "(all)" else field
    return style_figure(fig, f"{name}: last year's oil forecast vs actual", x_title="month",
                        y_title="oil (bbl/d, calendar day)")
