"""Plotly figures the notebooks and the report share.

Every builder takes a tidy DataFrame (or a connection and a month) and returns
a styled figure; show it with :func:`basinlab.report.show`. Units are in the
axis titles. Rates are per calendar day unless a title says otherwise.
"""
from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from .report import style_figure
from .report.labels import label_for
from .report.palette import ACTUAL_COLOR, FORECAST_COLOR, field_colors, field_name, rgba


def _colors(names, colors: dict[str, str] | None) -> dict[str, str]:
    """The report's field colours (given), completed deterministically for names it lacks."""
    out = dict(colors or {})
    missing = [n for n in names if n not in out]
    if missing:
        extra = field_colors(list(out) + missing)
        out.update({n: extra[n] for n in missing})
    return out


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
                        title: str = "Production by field", y_title: str = "BOE/d (calendar day)",
                        colors: dict[str, str] | None = None, x: str | None = None) -> go.Figure:
    """Stacked area of a monthly rate per group (e.g. fields), one colour per field (``colors``)."""
    xcol = x or ("production_month" if "production_month" in monthly else "month")
    d = monthly.assign(_g=[field_name(v) for v in monthly[group]]) if group == "field" else \
        monthly.assign(_g=monthly[group].astype(str))
    names = sorted(d["_g"].unique())
    cmap = _colors(names, colors)
    fig = go.Figure()
    for name, g in d.sort_values(xcol).groupby("_g", sort=True):
        fig.add_scatter(x=g[xcol], y=g[value], name=str(name), stackgroup="one", mode="lines",
                        line=dict(color=cmap[name], width=1), fillcolor=rgba(cmap[name], 0.55))
    return style_figure(fig, title, y_title=y_title)


def kpi_trend(kpis: pd.DataFrame, y: list[str], title: str, y_title: str, secondary: str | None = None,
              colors: dict[str, str] | None = None) -> go.Figure:
    """Lines of company KPIs per month (series named by the label registry)."""
    fig = go.Figure()
    for col in y:
        c = (colors or {}).get(col)
        fig.add_scatter(x=kpis["month"], y=kpis[col], name=label_for(col), mode="lines+markers",
                        line=dict(color=c) if c else None, marker=dict(size=5))
    return style_figure(fig, title, y_title=y_title, legend="bottom" if len(y) > 1 else "none")


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
             ("Sev. tax", -fin["severance_tax_usd"], "relative"),
             ("G&T", -fin["gathering_transport_usd"], "relative"),
             ("NOI", fin["net_operating_income_usd"], "total")]
    fig = go.Figure(go.Waterfall(x=[s[0] for s in steps], y=[s[1] for s in steps],
                                 measure=[s[2] for s in steps],
                                 increasing=dict(marker=dict(color="#3a8a3f")),
                                 decreasing=dict(marker=dict(color="#b5453a")),
                                 totals=dict(marker=dict(color=ACTUAL_COLOR)),
                                 connector={"line": {"color": "#9aa5b1"}}))
    return style_figure(fig, "Revenue to net operating income", y_title="USD", legend="none", height=300)


def financial_trend(fin: pd.DataFrame) -> go.Figure:
    """Revenue and NOI bars with LOE and netback per BOE on a second axis (USD, USD/BOE)."""
    fig = go.Figure()
    fig.add_bar(x=fin["month"], y=fin["revenue_booked_usd"], name="Revenue booked (USD)", marker_color=ACTUAL_COLOR)
    fig.add_bar(x=fin["month"], y=fin["noi_usd"], name="Net operating income (USD)", marker_color=FORECAST_COLOR)
    fig.add_scatter(x=fin["month"], y=fin["netback_per_boe_usd"], name="Netback (USD/BOE, right)", yaxis="y2",
                    mode="lines+markers", line=dict(color="#3a8a3f"))
    fig.add_scatter(x=fin["month"], y=fin["loe_per_boe_usd"], name="LOE (USD/BOE, right)", yaxis="y2",
                    mode="lines+markers", line=dict(color="#a23b72"))
    fig.update_layout(barmode="group", yaxis2=dict(overlaying="y", side="right", title="USD/BOE",
                                                   rangemode="tozero", showgrid=False))
    return style_figure(fig, "Revenue, NOI and unit economics", y_title="USD")


def stacked_bars(df: pd.DataFrame, x: str, y: str, group: str, title: str, y_title: str,
                 colors: dict[str, str] | None = None) -> go.Figure:
    d = df.assign(_g=[field_name(v) for v in df[group]]) if group == "field" else df.assign(_g=df[group].astype(str))
    cmap = _colors(sorted(d["_g"].unique()), colors)
    fig = go.Figure()
    for name, g in d.groupby("_g", sort=True):
        fig.add_bar(x=g[x], y=g[y], name=str(name), marker_color=cmap[name])
    fig.update_layout(barmode="stack")
    return style_figure(fig, title, y_title=y_title)


def forecast_vs_actual(df: pd.DataFrame, title: str = "Oil rate by field: actual and decline forecast (P50)",
                       colors: dict[str, str] | None = None) -> go.Figure:
    """Actual (solid) and forecast (dashed) calendar-day rates per field on a log axis; the legend names
    each field once (its colour) and the line styles once."""
    fig = go.Figure()
    d = df.assign(field=[field_name(v) for v in df["field"]])
    cmap = _colors(sorted(d["field"].unique()), colors)
    for (fld, series), g in d.groupby(["field", "series"], sort=True):
        g = g[g["oil_bbl_per_day"] > 0]
        fig.add_scatter(x=g["month"], y=g["oil_bbl_per_day"], name=fld, mode="lines",
                        line=dict(color=cmap[fld], dash="dash" if series == "forecast" else "solid"),
                        legendgroup=fld, showlegend=series == "actual")
    for name, dash in (("actual (solid)", "solid"), ("forecast P50 (dashed)", "dash")):
        fig.add_scatter(x=[None], y=[None], name=name, mode="lines", line=dict(color="#52606d", dash=dash),
                        showlegend=True, hoverinfo="skip")
    fig.update_yaxes(type="log")
    return style_figure(fig, title, y_title="oil (bbl/d, calendar day, log)", height=360)


def horizontal_bars(df: pd.DataFrame, label: str, value: str, title: str, x_title: str,
                    colors: dict[str, str] | None = None) -> go.Figure:
    d = df.sort_values(value)
    names = [field_name(v) if label == "field" else str(v) for v in d[label]]
    cmap = _colors(sorted(set(names)), colors) if label == "field" else {}
    fig = go.Figure(go.Bar(y=names, x=d[value], orientation="h",
                           marker_color=[cmap.get(n, ACTUAL_COLOR) for n in names]))
    return style_figure(fig, title, height=max(180, 50 + 26 * len(d)), x_title=x_title, legend="none")


def type_curve_fan(tc: pd.DataFrame, phase: str = "oil", colors: dict[str, str] | None = None) -> go.Figure:
    """P10/P50/P90 type-curve bands per group (P10 is the high case), rates per day vs months from peak."""
    d = tc[tc["phase"] == phase] if "phase" in tc else tc
    group_col = "group" if "group" in d else d.columns[0]
    fig = go.Figure()
    d = d.assign(**{group_col: [field_name(v) for v in d[group_col]]})
    groups = list(d.sort_values("month_index").groupby(group_col, sort=True))
    cmap = _colors([g for g, _ in groups], colors)
    bands = len(groups) <= 2  # overlapping bands of many groups are unreadable: P50 lines only
    for g, gd in groups:
        c = cmap[g]
        if bands:
            fig.add_scatter(x=gd["month_index"], y=gd["p10"], mode="lines", line=dict(width=0, color=c),
                            showlegend=False, legendgroup=str(g), hoverinfo="skip")
            fig.add_scatter(x=gd["month_index"], y=gd["p90"], mode="lines", line=dict(width=0, color=c),
                            fill="tonexty", opacity=0.2, showlegend=False, legendgroup=str(g), hoverinfo="skip")
        fig.add_scatter(x=gd["month_index"], y=gd["p50"], mode="lines", name=str(g),
                        line=dict(color=c, width=2), legendgroup=str(g))
    fig.update_yaxes(type="log")
    unit = "bbl/d" if phase == "oil" else "mcf/d"
    norm = ""
    if "normalised" in d and d["normalised"].any():
        norm = " per 1,000 ft lateral"
    what = "band P90–P10, line P50" if bands else "P50 per field; P10/P90 in the workbook"
    return style_figure(fig, f"{phase.capitalize()} type curves ({what})",
                        x_title="months from peak", y_title=f"{unit}{norm} (log)", height=320)


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
    fig.add_scatter(x=d["month"], y=d["p10"], mode="lines", line=dict(width=0, color=FORECAST_COLOR),
                    showlegend=False, hoverinfo="skip")
    fig.add_scatter(x=d["month"], y=d["p90"], mode="lines", line=dict(width=0, color=FORECAST_COLOR), fill="tonexty",
                    fillcolor=rgba(FORECAST_COLOR, 0.25), name="forecast P90–P10 range")
    fig.add_scatter(x=d["month"], y=d["p50"], mode="lines", line=dict(color=FORECAST_COLOR, width=2),
                    name="forecast P50")
    if actual is not None and len(actual):
        a = _per_day(actual.sort_values("month"), ["oil_bbl"])
        fig.add_scatter(x=a["month"], y=a["oil_bbl"], mode="lines", line=dict(color=ACTUAL_COLOR, width=2),
                        name="actual")
    name = "Company" if field == "(all)" else field
    return style_figure(fig, title or f"{name} oil forecast with P10–P90 range",
                        y_title="oil (bbl/d, calendar day)")


def company_forecast(df: pd.DataFrame, title: str = "Company oil: actual and decline forecast") -> go.Figure:
    """The report's company forecast frame (month, actual_oil_bbl, oil_p10/p50/p90_bbl, bbl/d): actual,
    P50 and the P90–P10 range."""
    d = df.sort_values("month")
    f = d[d["oil_p50_bbl"].notna()]
    a = d[d["actual_oil_bbl"].notna()]
    fig = go.Figure()
    fig.add_scatter(x=f["month"], y=f["oil_p10_bbl"], mode="lines", line=dict(width=0, color=FORECAST_COLOR),
                    showlegend=False, hoverinfo="skip")
    fig.add_scatter(x=f["month"], y=f["oil_p90_bbl"], mode="lines", line=dict(width=0, color=FORECAST_COLOR),
                    fill="tonexty", fillcolor=rgba(FORECAST_COLOR, 0.25), name="forecast P90–P10 range")
    fig.add_scatter(x=f["month"], y=f["oil_p50_bbl"], mode="lines", line=dict(color=FORECAST_COLOR, width=2),
                    name="forecast P50")
    fig.add_scatter(x=a["month"], y=a["actual_oil_bbl"], mode="lines", line=dict(color=ACTUAL_COLOR, width=2),
                    name="actual")
    return style_figure(fig, title, y_title="oil (bbl/d, calendar day)", height=300)


def forecast_lookback(lookback: pd.DataFrame, field: str = "(all)") -> go.Figure:
    """Last year's forecast (P50 and P10–P90) against the actual oil produced since, bbl/d per calendar day."""
    d = _per_day(lookback[lookback["field"] == field].sort_values("month"),
                 ["forecast_p10", "forecast_p50", "forecast_p90", "actual_volume"])
    fig = go.Figure()
    d = d.assign(field=[field_name(v) for v in d["field"]]) if len(d) else d
    fig.add_scatter(x=d["month"], y=d["forecast_p10"], mode="lines", line=dict(width=0, color="#9aa5b1"),
                    showlegend=False, hoverinfo="skip")
    fig.add_scatter(x=d["month"], y=d["forecast_p90"], mode="lines", line=dict(width=0, color="#9aa5b1"),
                    fill="tonexty", fillcolor="rgba(154,165,177,0.35)", name="forecast P90–P10")
    fig.add_scatter(x=d["month"], y=d["forecast_p50"], mode="lines", line=dict(color="#52606d", dash="dash"),
                    name="forecast P50 (a year ago)")
    fig.add_scatter(x=d["month"], y=d["actual_volume"], mode="lines+markers", line=dict(color=ACTUAL_COLOR),
                    name="actual")
    name = "Company" if field == "(all)" else field
    return style_figure(fig, f"{name}: last year's oil forecast vs actual",
                        y_title="oil (bbl/d, calendar day)", height=300)
