"""Consistent plotly styling and display helpers for report notebooks.

In a report notebook::

    from basinlab.report import style_figure, show, show_table
    fig = px.line(df, x="production_month", y="oil_bbl")
    show(style_figure(fig, "Oil production", y_title="Oil (bbl/month)"))
    show_table(kpis)

``show`` displays a figure as a bundle of two representations: the plotly
mimetype (interactive in JupyterLab) and a small ``text/html`` snippet that
draws the figure with ``Plotly.newPlot`` and **no** embedded library.  The
report exporter (:func:`basinlab.report.notebook_to_html`) embeds plotly.js
once in the page head, so the HTML/PDF renders offline and the executed
notebook stays small.
"""
from __future__ import annotations

import html as _html
import warnings
from typing import Any

from ._common import NOT_REPORTED, fmt_number, is_missing

#: Report page width in CSS px usable for a figure (A4 portrait minus margins is ~680 px).
FIGURE_WIDTH = 650

#: plotly.js config for report figures: no mode bar, no logo, static size.
REPORT_PLOTLY_CONFIG: dict[str, Any] = {
    "displayModeBar": False,
    "displaylogo": False,
    "responsive": False,
    "showTips": False,
}

#: Colour sequence (colour-blind friendly, prints well in greyscale order).
REPORT_COLORWAY = [
    "#1f4e79",  # dark blue
    "#d9822b",  # orange
    "#3a8a3f",  # green
    "#a23b72",  # plum
    "#6b7b8c",  # slate
    "#c9a227",  # ochre
    "#2a9d8f",  # teal
    "#b5453a",  # brick
]

FONT_FAMILY = "Helvetica Neue, Helvetica, Arial, Liberation Sans, DejaVu Sans, sans-serif"


def style_figure(
    fig: Any,
    title: str | None = None,
    height: int = 380,
    *,
    x_title: str | None = None,
    y_title: str | None = None,
    width: int = FIGURE_WIDTH,
    legend: str = "top",
) -> Any:
    """Apply the report look to a plotly figure in place and return it.

    Fixed ``width`` (650 px fits an A4 portrait page) and ``height``, white
    template, readable fonts, a horizontal legend above the plot (``legend=
    "top"``), ``"right"`` or ``"none"``, and axis titles -- put the units in them,
    e.g. ``y_title="Oil (bbl/d)"``.
    """
    has_title = bool(title)
    top = 24 if not has_title else 42
    n_legend = sum(1 for t in fig.data if getattr(t, "showlegend", None) is not False)
    if legend == "top" and (n_legend > 1 or fig.layout.showlegend):
        top += 24
    fig.update_layout(
        template="plotly_white",
        width=width,
        height=height,
        autosize=False,
        font=dict(family=FONT_FAMILY, size=12, color="#1f2933"),
        colorway=REPORT_COLORWAY,
        margin=dict(l=64, r=24 if legend != "right" else 140, t=top, b=52),
        hovermode="x unified",
        separators=".,",
        paper_bgcolor="white",
        plot_bgcolor="white",
    )
    if has_title:
        fig.update_layout(
            title=dict(
                text=title, x=0, xref="container", xanchor="left",
                y=1, yref="container", yanchor="top", pad=dict(t=8, l=6),
                font=dict(size=15, color="#1f4e79"),
            )
        )
    if legend == "top":
        fig.update_layout(
            legend=dict(
                orientation="h", x=0, xanchor="left", y=1.02, yanchor="bottom",
                bgcolor="rgba(0,0,0,0)", font=dict(size=11), title_text="",
            ),
        )
    elif legend == "right":
        fig.update_layout(legend=dict(orientation="v", x=1.02, xanchor="left", y=1, yanchor="top"))
    elif legend == "none":
        fig.update_layout(showlegend=False)
    axis_common = dict(
        showline=True, linecolor="#9aa5b1", linewidth=1, ticks="outside", tickcolor="#9aa5b1",
        gridcolor="#e4e7eb", zeroline=False, title_font=dict(size=12), tickfont=dict(size=11),
        automargin=True,
    )
    fig.update_xaxes(**axis_common)
    fig.update_yaxes(**axis_common, separatethousands=True)
    _monthly_ticks(fig)
    if x_title is not None:
        fig.update_xaxes(title_text=x_title)
    if y_title is not None:
        fig.update_yaxes(title_text=y_title)
    return fig


def _monthly_ticks(fig: Any) -> None:
    """Month-start x values (the usual production grain) get ``Jan 2024``-style ticks."""
    try:
        import pandas as pd

        xs: list[Any] = []
        for t in fig.data:
            x = getattr(t, "x", None)
            if x is not None and getattr(t, "xaxis", "x") in (None, "x"):
                xs.extend(list(x))
        if not xs or all(isinstance(v, (int, float)) for v in xs):
            return
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ts = pd.to_datetime(pd.Series(xs), errors="coerce")
        if ts.isna().any() or not bool(((ts.dt.day == 1) & (ts.dt.normalize() == ts)).all()):
            return
        span = (ts.max().year - ts.min().year) * 12 + ts.max().month - ts.min().month + 1
        step = 1 if span <= 8 else 3 if span <= 30 else 6 if span <= 60 else 12
        fmt = "%Y" if step == 12 else "%b %Y"
        fig.update_layout(xaxis=dict(tickformat=fmt, dtick=f"M{step}"))
    except Exception:  # noqa: BLE001 - styling must never break a report
        return


def figure_html(fig: Any, config: dict[str, Any] | None = None) -> str:
    """The ``<div>`` + ``Plotly.newPlot`` snippet for a figure, without plotly.js."""
    import plotly.io as pio

    cfg = {**REPORT_PLOTLY_CONFIG, **(config or {})}
    return pio.to_html(
        fig,
        config=cfg,
        include_plotlyjs=False,
        include_mathjax=False,
        full_html=False,
        default_width="100%",
        default_height=450,
        validate=False,
    )


def figure_mimebundle(fig: Any, config: dict[str, Any] | None = None) -> dict[str, Any]:
    """Mime bundle for a figure: plotly JSON (JupyterLab) + offline-ready HTML (export)."""
    import json

    import plotly.io as pio

    cfg = {**REPORT_PLOTLY_CONFIG, **(config or {})}
    fig_dict = json.loads(pio.to_json(fig, validate=False))
    return {
        "application/vnd.plotly.v1+json": {
            "config": cfg,
            "data": fig_dict.get("data", []),
            "layout": fig_dict.get("layout", {}),
        },
        "text/html": figure_html(fig, cfg),
        "text/plain": f"<Figure: {_figure_title(fig_dict) or 'plotly figure'}>",
    }


def _figure_title(fig_dict: dict[str, Any]) -> str:
    title = fig_dict.get("layout", {}).get("title", {})
    return title.get("text", "") if isinstance(title, dict) else str(title or "")


def show(fig: Any, *, config: dict[str, Any] | None = None) -> None:
    """Display a figure for the report: mode bar hidden, renders offline after export."""
    from IPython.display import display

    display(figure_mimebundle(fig, config), raw=True)


# --------------------------------------------------------------------------- tables

def _fmt_number(value: Any, fmt: str) -> str:
    return fmt_number(value, fmt)


#: Python format spec per Excel number format chosen by column name.
_PY_FORMATS = {
    "#,##0": ",.0f",
    "#,##0.00": ",.2f",
    "0.00": ".2f",
    "0.0%": ".1%",
    "0.00%": ".2%",
    '0.0"%"': ".1f",
    "0.0": ".1f",
}


def table_html(df: Any, formats: dict[str, str] | None = None, *, index: bool = False,
               max_rows: int | None = 200, caption: str | None = None) -> str:
    """Render a DataFrame as a clean report table (no index, numbers formatted).

    ``formats`` maps column names to Python format specs (``",.0f"``, ``".1%"``);
    by default they follow the same column-name rules as the Excel writer
    (``*_bbl`` → thousands, ``*_usd`` → 2 decimals, ``*_pct`` → percent, dates → ISO).
    """
    import pandas as pd

    from .excel import infer_number_format

    frame = df.reset_index() if index else df
    if len(frame) == 0:
        what = _html.escape(caption) + ": " if caption else ""
        return f'<p class="bl-empty"><em>{what}{NOT_REPORTED} (no rows)</em></p>'
    if max_rows is not None and len(frame) > max_rows:
        frame = frame.head(max_rows)
    out = pd.DataFrame(index=range(len(frame)))
    for col in frame.columns:
        s = frame[col]
        spec = (formats or {}).get(col)
        xl = infer_number_format(str(col), s)
        if spec is None:
            spec = _PY_FORMATS.get(xl or "")
        numeric = pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype)
        if pd.api.types.is_datetime64_any_dtype(s.dtype):
            date_fmt = "%Y-%m" if xl == "yyyy-mm" else "%Y-%m-%d"
            out[col] = [v.strftime(date_fmt) if not pd.isna(v) else "" for v in s]
        elif spec or numeric:
            # a number that is missing or not a number reads "not reported", never "nan" or "inf"
            out[col] = [fmt_number(v, spec) if spec else (NOT_REPORTED if is_missing(v) else str(v)) for v in s]
        else:
            out[col] = [_text_cell(v) for v in s]
    html = out.to_html(index=False, border=0, classes="report-table", escape=True,
                       na_rep="")
    if caption:
        html = html.replace(
            ">", f">\n  <caption>{_html.escape(caption)}</caption>", 1
        )
    return html


def _text_cell(v: Any) -> str:
    """A text cell: empty for a missing value; a stray non-finite number reads "not reported"."""
    if v is None or type(v).__name__ in ("NAType", "NaTType"):
        return ""
    if isinstance(v, (list, dict)):
        return str(v)
    if isinstance(v, float) and v != v:  # NaN: pandas' missing text
        return ""
    if is_missing(v):
        return NOT_REPORTED
    return str(v)


class ReportTable:
    """A DataFrame rendered as a report table; displays as HTML in notebooks."""

    def __init__(self, html: str):
        self.html = html

    def _repr_html_(self) -> str:
        return self.html


def show_table(df: Any, formats: dict[str, str] | None = None, **kwargs: Any) -> None:
    """Display :func:`table_html` of ``df`` in the notebook / report."""
    from IPython.display import display

    display(ReportTable(table_html(df, formats, **kwargs)))
