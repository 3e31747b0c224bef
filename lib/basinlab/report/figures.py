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


def _legend_rows(fig: Any, width: int) -> int:
    """Rows a horizontal legend needs at ``width`` px (about 6.5 px per character + the symbol)."""
    items = [str(getattr(t, "name", "") or "") for t in fig.data
             if getattr(t, "showlegend", None) is not False and getattr(t, "name", None)]
    if not items:
        return 0
    rows, used, avail = 1, 0, max(200, width - 80)
    for name in items:
        w = 44 + 6.5 * len(name)
        if used and used + w > avail:
            rows, used = rows + 1, 0
        used += w
    return rows


def style_figure(
    fig: Any,
    title: str | None = None,
    height: int = 340,
    *,
    x_title: str | None = None,
    y_title: str | None = None,
    width: int = FIGURE_WIDTH,
    legend: str = "bottom",
) -> Any:
    """Apply the report look to a plotly figure in place and return it.

    Fixed ``width`` (650 px fits an A4 portrait page) and ``height``, white
    template, readable fonts, axis titles (put the units in them, e.g.
    ``y_title="Oil (bbl/d)"``) and the legend (``legend="bottom"``: a horizontal
    legend under the plot, in the margin it is given, so it never covers the
    title or the data; ``"right"``; ``"none"``).  The height grows by the
    legend's rows, so the plot itself keeps its size.
    """
    has_title = bool(title)
    top = 16 if not has_title else 40
    rows = _legend_rows(fig, width) if legend == "bottom" else 0
    show_legend = legend == "bottom" and (rows > 0 and (len([t for t in fig.data if getattr(t, "showlegend", None)
                                                                 is not False]) > 1 or fig.layout.showlegend))
    bottom = 44 + (22 * rows + 10 if show_legend else 0)
    fig.update_layout(
        template="plotly_white",
        width=width,
        height=height + (22 * rows if show_legend else 0),
        autosize=False,
        font=dict(family=FONT_FAMILY, size=12, color="#1f2933"),
        colorway=REPORT_COLORWAY,
        margin=dict(l=64, r=24 if legend != "right" else 140, t=top, b=bottom),
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
                font=dict(size=14, color="#1f4e79"),
            )
        )
    if legend == "bottom":
        fig.update_layout(
            showlegend=bool(show_legend),
            legend=dict(
                orientation="h", x=0, xanchor="left", xref="container", y=0, yanchor="bottom",
                yref="container", bgcolor="rgba(0,0,0,0)", font=dict(size=11), title_text="",
                tracegroupgap=0,
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
    """Display a table in the notebook / report: a report :class:`~basinlab.report.monthly.Table` with
    :func:`report_table_html` (labels, fitted to the page), a DataFrame with :func:`table_html`."""
    from IPython.display import display

    if hasattr(df, "df") and hasattr(df, "keys") and hasattr(df, "heading"):
        display(ReportTable(report_table_html(df, **kwargs)))
        return
    display(ReportTable(table_html(df, formats, **kwargs)))


# --------------------------------------------------------------------------- report tables (labels, fit, split)

#: usable width of an A4 portrait page between the margins, in pt (210 mm - 2 x 15 mm)
PAGE_WIDTH_PT = 180 / 25.4 * 72
#: table font size (pt) and the width of an average character of it (Helvetica/Liberation Sans digits)
TABLE_FONT_PT = 8.4
CHAR_PT = 0.56 * TABLE_FONT_PT
#: horizontal padding of a cell (both sides), pt
CELL_PAD_PT = 9.0
#: a text cell wraps; it needs at least this many characters of width
TEXT_MIN_CHARS = 14


def _cell_text(v: Any, kind: str, fmt: str) -> str:
    import pandas as pd

    if kind in ("month", "date", "datetime"):
        if is_missing(v) or v is None:
            return ""
        try:
            return pd.Timestamp(v).strftime(fmt or "%Y-%m-%d")
        except (TypeError, ValueError):
            return str(v)
    if kind == "text":
        return _soft_breaks(_text_cell(v))
    if isinstance(v, bool):
        return "yes" if v else "no"
    if is_missing(v):
        return NOT_REPORTED
    if isinstance(v, str):
        return v
    return fmt_number(v, fmt) if fmt else str(v)


def _soft_breaks(text: str) -> str:
    """Break opportunities (zero-width spaces) after / _ . in long tokens (file paths), so a long name wraps
    inside its cell instead of pushing the table over the margin."""
    import re as _re

    return _re.sub(r"\S{17,}", lambda m: _re.sub(r"([/_.])", "\\1\u200b", m.group(0)), text)


def _min_width(heading: str, cells: list[str], numeric: bool) -> float:
    head = max((len(w) for w in heading.split()), default=0)
    if numeric:
        body = max((len(c) for c in cells if c != NOT_REPORTED), default=0)
        body = max(body, 7 if NOT_REPORTED in cells else 0)  # "not reported" wraps onto two lines
    else:
        body = min(TEXT_MIN_CHARS, max((len(w) for c in cells for w in c.split()), default=0))
    return max(head, body) * CHAR_PT + CELL_PAD_PT


def formatted_cells(t: Any, columns: list[str], max_rows: int | None = None) -> dict[str, list[str]]:
    """The page's text of each cell of a report :class:`~basinlab.report.monthly.Table`: the number format
    of the label registry (the workbook cell's format), "not reported" for a missing number."""
    from .labels import FORMATS

    df = t.df if max_rows is None else t.df.head(max_rows)
    row_kinds = list(df[t.kind_column]) if t.kind_column and t.kind_column in df else None
    out: dict[str, list[str]] = {}
    for col in columns:
        kind = t.kind(col)
        vals = list(df[col])
        if row_kinds is not None and col in t.kinds and t.kinds[col] == "ratio":
            out[col] = [_cell_text(v, rk, FORMATS.get(rk, ("", ",.2f"))[1]) for v, rk in zip(vals, row_kinds)]
        else:
            out[col] = [_cell_text(v, kind, FORMATS.get(kind, ("", ""))[1]) for v in vals]
    return out


def split_columns(t: Any, columns: list[str], cells: dict[str, list[str]], short: bool,
                  width_pt: float = PAGE_WIDTH_PT) -> list[list[str]]:
    """Columns per part so each part fits ``width_pt``: all in one when they fit, else the key
    columns repeated in every part and the others packed in order."""
    from .labels import FORMATS  # noqa: F401

    def w(c: str) -> float:
        return _min_width(t.heading(c, short=short), cells[c], t.kind(c) not in ("text",) and
                          t.kind(c) not in ("month", "date", "datetime"))
    widths = {c: w(c) for c in columns}
    if sum(widths.values()) <= width_pt:
        return [columns]
    keys = [c for c in t.keys if c in columns][:2]
    rest = [c for c in columns if c not in keys]
    base = sum(widths[c] for c in keys)
    parts: list[list[str]] = []
    cur: list[str] = []
    for c in rest:
        if cur and base + sum(widths[x] for x in cur) + widths[c] > width_pt:
            parts.append(keys + cur)
            cur = []
        cur.append(c)
    if cur:
        parts.append(keys + cur)
    return parts


def report_table_html(t: Any, *, columns: list[str] | None = None, max_rows: int | None = 60,
                      caption: str | None = None, width_pt: float = PAGE_WIDTH_PT) -> str:
    """A report table for the page: headings and number formats from the label registry, fitted to
    the page width (short headings, then split into parts that repeat the key columns), long tables
    continue with their headings repeated on every page."""
    cols = list(columns or t.pdf_columns or t.visible_columns)
    cols = [c for c in cols if c in t.df.columns]
    if len(t.df) == 0:
        what = _html.escape(caption or t.title) + ": " if (caption or t.title) else ""
        return f'<p class="bl-empty"><em>{what}{NOT_REPORTED} (no rows)</em></p>'
    cells = formatted_cells(t, cols, max_rows)
    parts = split_columns(t, cols, cells, short=False, width_pt=width_pt)
    short = False
    if len(parts) > 1:
        short_parts = split_columns(t, cols, cells, short=True, width_pt=width_pt)
        if len(short_parts) < len(parts) or len(short_parts) == 1:
            parts, short = short_parts, True
    n = len(next(iter(cells.values()))) if cells else 0
    more = len(t.df) - n
    out = []
    for i, part in enumerate(parts):
        head = "".join(
            f'<th class="{"num" if t.kind(c) not in ("text", "month", "date", "datetime") else "txt"}">'
            f"{_html.escape(t.heading(c, short=short))}</th>" for c in part)
        body = []
        for r in range(n):
            tds = []
            for c in part:
                text = cells[c][r]
                numeric = t.kind(c) not in ("text", "month", "date", "datetime")
                cls = "num" + (" na" if text == NOT_REPORTED else "") if numeric else \
                    ("dt" if t.kind(c) in ("month", "date", "datetime") else "txt")
                tds.append(f'<td class="{cls}">{_html.escape(text)}</td>')
            body.append("<tr>" + "".join(tds) + "</tr>")
        cap = caption if i == 0 else None
        if len(parts) > 1:
            cap = f"{caption or ''}{' ' if caption else ''}(part {i + 1} of {len(parts)})".strip()
        keep = " bl-keep" if n <= KEEP_TOGETHER_ROWS_TABLE else ""
        out.append(f'<table class="bl-table{keep}">' + (f"<caption>{_html.escape(cap)}</caption>" if cap else "")
                   + f"<thead><tr>{head}</tr></thead><tbody>" + "".join(body) + "</tbody></table>")
    if more > 0:
        where = f"the workbook's <em>{_html.escape(t.sheet)}</em> sheet" if t.sheet else "the workbook"
        out.append(f'<p class="bl-note">{n:,} of {len(t.df):,} rows shown; all in {where}.</p>')
    return "\n".join(out)


#: tables with at most this many rows are kept on one page
KEEP_TOGETHER_ROWS_TABLE = 25


def show_report_table(t: Any, **kwargs: Any) -> None:
    """Display :func:`report_table_html` of a report table in the notebook / report."""
    from IPython.display import display

    display(ReportTable(report_table_html(t, **kwargs)))
