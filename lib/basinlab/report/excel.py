"""Stakeholder Excel workbooks: an About sheet plus one formatted sheet per table."""
from __future__ import annotations

import datetime as _dt
import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd

from ._common import NOT_REPORTED, ReportError, atomic_path

HEADER_FILL = "1F4E79"
HEADER_FONT_COLOR = "FFFFFF"
MAX_COL_WIDTH = 50
MIN_COL_WIDTH = 8

_INVALID_SHEET_CHARS = re.compile(r"[\[\]:*?/\\]")


@dataclass
class LineChartSpec:
    """A native Excel line chart of ``y_cols`` against ``x_col`` on the same sheet."""

    x_col: str
    y_cols: Sequence[str]
    title: str = ""
    y_title: str | None = None
    x_title: str | None = None
    anchor: str | None = None  # top-left cell; default: two columns right of the data
    width_cm: float = 18.0
    height_cm: float = 9.0


@dataclass
class SheetSpec:
    """One table sheet: ``name`` (sanitised to Excel's 31-char rules), data, description."""

    name: str
    df: pd.DataFrame
    description: str = ""
    chart: LineChartSpec | None = None
    #: explicit Excel number formats per column (override the name-based rules)
    number_formats: dict[str, str] = field(default_factory=dict)


# --------------------------------------------------------------------------- names

def sanitize_sheet_name(name: str, taken: set[str] | None = None) -> str:
    """Excel-safe, unique (case-insensitive) sheet name of at most 31 characters."""
    clean = _INVALID_SHEET_CHARS.sub("_", str(name)).strip().strip("'").strip()
    clean = clean or "Sheet"
    if clean.lower() == "history":  # reserved by Excel
        clean = "History_"
    clean = clean[:31]
    taken_lower = {t.lower() for t in (taken or set())}
    if clean.lower() not in taken_lower:
        return clean
    n = 2
    while True:
        suffix = f" ({n})"
        candidate = clean[: 31 - len(suffix)] + suffix
        if candidate.lower() not in taken_lower:
            return candidate
        n += 1


# --------------------------------------------------------------------------- formats

def _numeric_values(s: pd.Series) -> pd.Series:
    return pd.to_numeric(s, errors="coerce").dropna()


def _is_date_series(s: pd.Series) -> bool:
    if pd.api.types.is_datetime64_any_dtype(s.dtype) or isinstance(s.dtype, pd.PeriodDtype):
        return True
    if s.dtype == object:
        sample = s.dropna().head(50)
        return len(sample) > 0 and all(
            isinstance(v, (_dt.date, pd.Timestamp, pd.Period)) for v in sample
        )
    return False


def _date_format(name: str, s: pd.Series) -> str:
    """``yyyy-mm`` for month columns (all first-of-month), else date or date-time."""
    if isinstance(s.dtype, pd.PeriodDtype):
        freq = str(getattr(s.dtype, "freq", "") or "")
        return "yyyy-mm" if "M" in freq.upper() and "MIN" not in freq.upper() else "yyyy-mm-dd"
    values = pd.to_datetime(s.dropna(), errors="coerce").dropna()
    if len(values) == 0:
        return "yyyy-mm-dd"
    midnight = bool(((values - values.dt.normalize()) == pd.Timedelta(0)).all())
    if not midnight:
        return "yyyy-mm-dd hh:mm"
    if "month" in name.lower() and bool((values.dt.day == 1).all()):
        return "yyyy-mm"
    return "yyyy-mm-dd"


def infer_number_format(name: str, s: pd.Series | None = None) -> str | None:
    """Excel number format for a column from its name (and values), or ``None``.

    ``*_per_boe`` / ``*_per_bbl`` / ``*_per_mcf`` / ``*price*`` → ``0.00``;
    ``*_bbl``, ``*_mcf``, ``*_boe`` (and daily rates, ``*_ft``) → ``#,##0``;
    ``*_usd``, ``*revenue*``, ``*cost*``, ``*_amount``, ``*capex*``, ``*opex*`` → ``#,##0.00``;
    ``*_pct`` / ``*_percent`` / ``*interest*`` → ``0.0%`` when the values are fractions
    (all within ±1), else ``0.0"%"`` (already in percent units);
    date-like values → ``yyyy-mm`` (month columns) / ``yyyy-mm-dd``.
    Other floats → ``#,##0.00``; other integers stay General (ids, years).
    """
    n = name.lower()
    if s is not None and _is_date_series(s):
        return _date_format(name, s)
    if s is not None and not (
        pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype)
    ):
        if s.dtype != object or len(_numeric_values(s)) == 0:
            return None
    if re.search(r"_per_(boe|bbl|mcf|mmbtu|ft|day|well)$", n) or "price" in n:
        return "0.00"
    if n.endswith(("_pct", "_percent", "_share", "_wi", "_nri")) or n.startswith("pct_") \
            or "interest" in n:
        vals = _numeric_values(s) if s is not None else pd.Series(dtype=float)
        if len(vals) == 0 or float(vals.abs().max()) <= 1.0:
            return "0.00%" if "interest" in n or n.endswith(("_wi", "_nri")) else "0.0%"
        return '0.0"%"'
    if re.search(r"_(bbl|mcf|boe|mmcf|mbbl|mboe|bopd|boepd|mcfd|bbl_d|mcf_d|boe_d|ft)$", n):
        return "#,##0"
    if re.search(r"(_usd$|revenue|cost|_amount$|capex|opex|_loe$|^loe_|expense|_value$)", n):
        return "#,##0.00"
    if s is not None and pd.api.types.is_float_dtype(s.dtype):
        return "#,##0.00"
    return None


# --------------------------------------------------------------------------- values

try:
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE as _ILLEGAL
except Exception:  # pragma: no cover
    _ILLEGAL = re.compile(r"[\000-\010]|[\013-\014]|[\016-\037]")


def _column_values(s: pd.Series) -> list[Any]:
    """Python values for a column: NaN/NA/NaT → None, datetimes naive, no numpy scalars."""
    if isinstance(s.dtype, pd.PeriodDtype):
        s = s.dt.to_timestamp()
    if isinstance(s.dtype, pd.DatetimeTZDtype):
        s = s.dt.tz_localize(None)
    if pd.api.types.is_datetime64_any_dtype(s.dtype):
        return [None if pd.isna(v) else v.to_pydatetime() for v in s]
    if pd.api.types.is_bool_dtype(s.dtype):
        return [None if pd.isna(v) else bool(v) for v in s.astype(object)]
    if pd.api.types.is_integer_dtype(s.dtype):
        return [None if pd.isna(v) else int(v) for v in s.astype(object)]
    if pd.api.types.is_float_dtype(s.dtype):
        return [None if (pd.isna(v) or math.isinf(v)) else float(v) for v in s.astype(object)]
    return [_py_value(v) for v in s.astype(object)]


#: :func:`_py_date_value` of a value that is not a date or time stamp
_NOT_A_DATE = object()


def _py_date_value(v: Any) -> Any:
    """A date-like cell (pandas Timestamp / Period, datetime, date) as a naive datetime or date
    (a missing Timestamp → None); :data:`_NOT_A_DATE` for anything else."""
    if isinstance(v, pd.Timestamp):
        if pd.isna(v):
            return None
        return (v.tz_localize(None) if v.tzinfo else v).to_pydatetime()
    if isinstance(v, _dt.datetime):
        return v.replace(tzinfo=None) if v.tzinfo else v
    if isinstance(v, _dt.date):
        return v
    if isinstance(v, pd.Period):
        return v.to_timestamp().to_pydatetime()
    return _NOT_A_DATE


def _py_value(v: Any) -> Any:
    """A cell value: missing and non-finite numbers become an empty cell (never 0, never "inf")."""
    if v is None:
        return None
    if isinstance(v, Decimal):
        return v if v.is_finite() else None
    if isinstance(v, str):
        return _ILLEGAL.sub("", v)
    if isinstance(v, bool):
        return v
    date = _py_date_value(v)
    if date is not _NOT_A_DATE:
        return date
    try:
        if pd.isna(v):
            return None
    except (TypeError, ValueError):
        pass
    if hasattr(v, "item"):  # numpy scalar
        v = v.item()
        if isinstance(v, float) and math.isinf(v):
            return None
        return v
    if isinstance(v, (int, float)):
        return None if isinstance(v, float) and math.isinf(v) else v
    if isinstance(v, (_dt.time, _dt.timedelta)):
        return v
    return _ILLEGAL.sub("", str(v))


def _display_len(v: Any, fmt: str | None) -> int:
    if v is None:
        return 0
    if isinstance(v, (_dt.datetime, _dt.date)):
        return {"yyyy-mm": 7, "yyyy-mm-dd": 10}.get(fmt or "", 16)
    if isinstance(v, bool):
        return 5
    if isinstance(v, (int, float)):
        if fmt and "%" in fmt:
            return 8
        if fmt in ("#,##0", "#,##0.00", "0.00"):
            digits = len(f"{abs(v):,.0f}") + (3 if fmt != "#,##0" else 0)
            return digits + (1 if v < 0 else 0)
        return len(str(v))
    return max((len(line) for line in str(v).splitlines()), default=0)


# --------------------------------------------------------------------------- writer

def _to_specs(sheets: Sequence[SheetSpec] | Mapping[str, pd.DataFrame]) -> list[SheetSpec]:
    if isinstance(sheets, Mapping):
        return [SheetSpec(name=str(k), df=v) for k, v in sheets.items()]
    specs = []
    for s in sheets:
        if not isinstance(s, SheetSpec):
            raise TypeError(f"expected SheetSpec, got {type(s).__name__}")
        specs.append(s)
    return specs


def _metadata_rows(metadata: Mapping[str, Any]) -> list[tuple[str, Any]]:
    labels = {
        "month": "Report month",
        "generated_at": "Generated at",
        "run_id": "Run ID",
        "data_quality": "Data quality",
        "description": "Description",
        "source": "Source",
    }
    rows: list[tuple[str, Any]] = []
    order = ["month", "generated_at", "run_id", "description", "source"]
    keys = [k for k in order if k in metadata] + [
        k for k in metadata if k not in order and k != "data_quality"
    ]
    for k in keys:
        rows.append((labels.get(k, str(k).replace("_", " ").capitalize()), metadata[k]))
    return rows


def _about_value(v: Any) -> Any:
    if isinstance(v, (str, int, float, _dt.date, _dt.datetime)) or v is None:
        return _py_value(v)
    if isinstance(v, Mapping):
        return ", ".join(f"{k}: {val}" for k, val in v.items())
    if isinstance(v, (list, tuple)):
        return ", ".join(str(x) for x in v)
    return str(v)


def _write_about(ws: Any, title: str, metadata: Mapping[str, Any],
                 sheet_rows: list[tuple[str, int, str]]) -> None:
    from openpyxl.styles import Alignment, Font, PatternFill

    bold = Font(bold=True)
    head_font = Font(bold=True, color=HEADER_FONT_COLOR)
    head_fill = PatternFill("solid", fgColor=HEADER_FILL)
    wrap = Alignment(wrap_text=True, vertical="top")

    ws["A1"] = title
    ws["A1"].font = Font(bold=True, size=16, color=HEADER_FILL)
    r = 3
    md = dict(metadata)
    md.setdefault("generated_at", _dt.datetime.now().replace(microsecond=0))
    for label, value in _metadata_rows(md):
        ws.cell(row=r, column=1, value=label).font = bold
        c = ws.cell(row=r, column=2, value=_about_value(value))
        if isinstance(c.value, _dt.datetime):
            c.number_format = "yyyy-mm-dd hh:mm"
        c.alignment = Alignment(wrap_text=True, vertical="top", horizontal="left")
        if isinstance(c.value, str) and c.value.startswith("="):
            c.data_type = "s"
        # the value spans columns B:C; give wrapped text the rows it needs (not every viewer autofits)
        ws.merge_cells(start_row=r, start_column=2, end_row=r, end_column=3)
        if isinstance(c.value, str):
            lines = max(1, -(-len(c.value) // _ABOUT_VALUE_CHARS))
            ws.row_dimensions[r].height = 15 * lines
        r += 1

    dq = md.get("data_quality")
    if dq is not None:
        r = _write_about_quality(ws, r + 1, dq)

    r += 1
    _sheet_index(ws, r, sheet_rows, head_font, head_fill, wrap, widths=(24, 28, 80))


def _write_about_quality(ws: Any, r: int, dq: Any) -> int:
    """The About sheet's "Data quality" block from row ``r``: the status (``dq`` a mapping with
    ``status``, other facts and ``checks``, a list of checks, or a status text), then the checks as a
    table of their first six keys. Returns the next free row."""
    from openpyxl.styles import Alignment, Font, PatternFill

    bold = Font(bold=True)
    head_font = Font(bold=True, color=HEADER_FONT_COLOR)
    head_fill = PatternFill("solid", fgColor=HEADER_FILL)
    wrap = Alignment(wrap_text=True, vertical="top")
    ws.cell(row=r, column=1, value="Data quality").font = Font(bold=True, size=12)
    r += 1
    checks: list[Mapping[str, Any]] = []
    if isinstance(dq, Mapping):
        status = dq.get("status")
        if status is not None:
            ws.cell(row=r, column=1, value="Status").font = bold
            ws.cell(row=r, column=2, value=str(status)).font = Font(
                bold=True, color=_status_color(str(status))
            )
            r += 1
        for k, v in dq.items():
            if k in ("status", "checks"):
                continue
            ws.cell(row=r, column=1, value=str(k).replace("_", " ").capitalize()).font = bold
            ws.cell(row=r, column=2, value=_about_value(v)).alignment = wrap
            r += 1
        checks = list(dq.get("checks") or [])
    elif isinstance(dq, (list, tuple)):
        checks = [c for c in dq if isinstance(c, Mapping)]
    else:
        ws.cell(row=r, column=1, value="Status").font = bold
        ws.cell(row=r, column=2, value=str(dq)).font = Font(bold=True, color=_status_color(str(dq)))
        r += 1
    if checks:
        cols = list(dict.fromkeys(k for c in checks for k in c.keys()))[:6]
        for j, col in enumerate(cols, start=1):
            c = ws.cell(row=r, column=j, value=str(col).replace("_", " ").capitalize())
            c.font, c.fill = head_font, head_fill
        r += 1
        for chk in checks:
            for j, col in enumerate(cols, start=1):
                ws.cell(row=r, column=j, value=_about_value(chk.get(col))).alignment = wrap
            r += 1
    return r


#: characters of about-sheet value text per line across the merged columns B:C
_ABOUT_VALUE_CHARS = 100


def _titled_header(ws: Any, r: int, title: str, headers: Sequence[str], head_font: Any, head_fill: Any) -> int:
    """A bold title at row ``r`` and a header row under it; returns the row after the header."""
    from openpyxl.styles import Font

    ws.cell(row=r, column=1, value=title).font = Font(bold=True, size=12)
    for j, h in enumerate(headers, start=1):
        c = ws.cell(row=r + 1, column=j, value=h)
        c.font, c.fill = head_font, head_fill
    return r + 2


def _sheet_index(ws: Any, r: int, sheet_rows: Sequence[tuple[str, int, str]], head_font: Any, head_fill: Any,
                 wrap: Any, widths: tuple[float, float, float]) -> None:
    """The "Sheets" table of an About sheet from row ``r``: each sheet linked, its rows and description."""
    from openpyxl.styles import Font

    r = _titled_header(ws, r, "Sheets", ("Sheet", "Rows", "Description"), head_font, head_fill)
    for name, nrows, desc in sheet_rows:
        c = ws.cell(row=r, column=1, value=name)
        c.hyperlink = "#'" + name.replace("'", "''") + "'!A1"
        c.font = Font(color="0563C1", underline="single")
        ws.cell(row=r, column=2, value=nrows).number_format = "#,##0"
        ws.cell(row=r, column=3, value=desc or "").alignment = wrap
        r += 1
    for letter, width in zip("ABC", widths):
        ws.column_dimensions[letter].width = width
    ws.sheet_view.showGridLines = False


def _status_color(status: str) -> str:
    s = status.lower().strip()
    first = s.split(":")[0].split()[0] if s else ""
    if first in ("pass", "passed", "ok"):
        return "2E7D32"
    if any(w in s for w in ("fail", "error")):
        return "C00000"
    if "warn" in s:
        return "C65911"
    return "2E7D32"


def _write_column(ws: Any, j: int, values: list, fmt: str | None, width: int) -> int:
    """Write one column's values from row 2 (an empty cell for None; text that looks like a formula
    stays text; ``fmt``, else dates as yyyy-mm-dd); returns the width its first 2000 rows need."""
    for i, v in enumerate(values, start=2):
        if v is None:
            continue
        c = ws.cell(row=i, column=j, value=v)
        if isinstance(v, str):
            if v.startswith("="):
                c.data_type = "s"  # text that looks like a formula stays text
        elif fmt and not isinstance(v, bool):
            c.number_format = fmt
        elif isinstance(v, (_dt.datetime, _dt.date)):
            c.number_format = "yyyy-mm-dd"
        if i <= 2001:  # widths from the first 2000 rows are plenty
            width = max(width, _display_len(v, fmt))
    return width


def _write_table(ws: Any, spec: SheetSpec) -> None:
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    df = spec.df
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"sheet {spec.name!r}: df must be a pandas DataFrame")
    # A meaningful (named or non-range) index becomes ordinary columns; a RangeIndex is dropped.
    if not isinstance(df.index, pd.RangeIndex) or any(n is not None for n in df.index.names):
        df = df.reset_index()
    if isinstance(df.columns, pd.MultiIndex):
        df = df.copy()
        df.columns = [" ".join(str(p) for p in col if str(p) != "") for col in df.columns]

    headers = [str(c) for c in df.columns]
    ncols, nrows = len(headers), len(df)
    head_font = Font(bold=True, color=HEADER_FONT_COLOR)
    head_fill = PatternFill("solid", fgColor=HEADER_FILL)
    head_align = Alignment(horizontal="center", vertical="center", wrap_text=True)
    for j, h in enumerate(headers, start=1):
        c = ws.cell(row=1, column=j, value=h)
        c.font, c.fill, c.alignment = head_font, head_fill, head_align

    widths = [len(h) for h in headers]
    for j, col in enumerate(df.columns, start=1):
        s = df[col]
        fmt = spec.number_formats.get(str(col)) or infer_number_format(str(col), s)
        widths[j - 1] = _write_column(ws, j, _column_values(s), fmt, widths[j - 1])

    for j, w in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(j)].width = max(MIN_COL_WIDTH, min(MAX_COL_WIDTH, w + 2))
    ws.freeze_panes = "A2"
    if ncols:
        last = get_column_letter(ncols)
        ws.auto_filter.ref = f"A1:{last}{nrows + 1}"
    ws.row_dimensions[1].height = 30

    if spec.chart is not None:
        _add_line_chart(ws, spec.chart, df, headers, nrows)


def _add_line_chart(ws: Any, chart: LineChartSpec, df: pd.DataFrame, headers: list[str],
                    nrows: int) -> None:
    from openpyxl.chart import LineChart, Reference
    from openpyxl.chart.axis import DateAxis
    from openpyxl.utils import get_column_letter

    cols = [str(c) for c in df.columns]
    missing = [c for c in [chart.x_col, *chart.y_cols] if str(c) not in cols]
    if missing:
        raise ReportError(f"chart on sheet {ws.title!r}: unknown column(s) {missing}; have {cols}")
    if nrows == 0:
        return
    lc = LineChart()
    lc.title = chart.title or None
    lc.width, lc.height = chart.width_cm, chart.height_cm
    lc.y_axis.title = chart.y_title
    lc.y_axis.majorGridlines = lc.y_axis.majorGridlines  # keep default gridlines
    y_fmt = infer_number_format(str(chart.y_cols[0]), df[chart.y_cols[0]]) if chart.y_cols else None
    if y_fmt:
        lc.y_axis.number_format = y_fmt
    for y in chart.y_cols:
        j = cols.index(str(y)) + 1
        ref = Reference(ws, min_col=j, min_row=1, max_row=nrows + 1)
        lc.add_data(ref, titles_from_data=True)
    xj = cols.index(str(chart.x_col)) + 1
    x_series = df[chart.x_col]
    if _is_date_series(x_series):
        lc.y_axis.crossAx = 500
        lc.x_axis = DateAxis(crossAx=100)
        lc.x_axis.number_format = _date_format(str(chart.x_col), x_series)
        lc.x_axis.majorTimeUnit = "months" if lc.x_axis.number_format == "yyyy-mm" else "days"
    lc.x_axis.title = chart.x_title
    lc.set_categories(Reference(ws, min_col=xj, min_row=2, max_row=nrows + 1))
    # openpyxl >= 3.1 writes <c:delete val=1/> unless told otherwise: axes would be hidden.
    lc.x_axis.delete = False
    lc.y_axis.delete = False
    lc.legend.position = "b"
    anchor = chart.anchor or f"{get_column_letter(len(headers) + 2)}2"
    ws.add_chart(lc, anchor)


def write_excel(
    path: str | os.PathLike[str],
    sheets: Sequence[SheetSpec] | Mapping[str, pd.DataFrame],
    title: str,
    metadata: Mapping[str, Any] | None = None,
) -> Path:
    """Write a stakeholder workbook atomically and return its path.

    Sheet 1 "About": ``title``, the ``metadata`` (``month``, ``generated_at``
    (default now), ``run_id``, ``description``, any other keys, and
    ``data_quality`` -- a status string, a dict with ``status`` and ``checks``,
    or a list of check dicts) and a linked list of sheets with row counts and
    descriptions. Then one sheet per table: bold filled header, frozen header
    row, autofilter over the data, fitted column widths, number formats from
    column names (see :func:`infer_number_format`), native date cells, no index
    column, and an optional native line chart (``SheetSpec.chart``).
    """
    from openpyxl import Workbook

    path = Path(path)
    specs = _to_specs(sheets)
    wb = Workbook()
    about = wb.active
    about.title = "About"
    taken = {"About"}
    named: list[tuple[str, SheetSpec]] = []
    for spec in specs:
        name = sanitize_sheet_name(spec.name, taken)
        taken.add(name)
        named.append((name, spec))

    for name, spec in named:
        ws = wb.create_sheet(title=name)
        _write_table(ws, spec)
    _write_about(
        about, title, metadata or {},
        [(name, len(spec.df), spec.description if len(spec.df) else
          f"{spec.description} — {NOT_REPORTED}: no rows".lstrip(" —")) for name, spec in named],
    )
    wb.properties.title = title
    wb.properties.creator = "basinlab"
    with atomic_path(path, suffix=".tmp.xlsx") as tmp:
        wb.save(tmp)
    return path


# --------------------------------------------------------------------------- the report's workbook

#: rows of the Summary sheet's executive summary that fit one printed page
SUMMARY_POINTS = 10


def _header_cells(ws: Any, headings: list[str], comments: list[str]) -> None:
    from openpyxl.comments import Comment
    from openpyxl.styles import Alignment, Font, PatternFill

    font = Font(bold=True, color=HEADER_FONT_COLOR)
    fill = PatternFill("solid", fgColor=HEADER_FILL)
    align = Alignment(horizontal="center", vertical="center", wrap_text=True)
    for j, (h, note) in enumerate(zip(headings, comments), start=1):
        c = ws.cell(row=1, column=j, value=h)
        c.font, c.fill, c.alignment = font, fill, align
        if note:
            c.comment = Comment(note, "basinlab", width=260, height=90)


def _table_sheet(ws: Any, t: Any, fast_min: int | None = None) -> _FastRows | None:
    """One report table: labelled headings (units in them, the column name and description as a comment),
    the registry's number formats, fitted widths, frozen header, filter, optional native chart.

    A table of ``fast_min`` rows or more (default :data:`FAST_ROWS_MIN`) gets its header here and its data
    rows back as :class:`_FastRows`, to be spliced into the saved workbook (:func:`_splice_rows`)."""
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    from .labels import FORMATS, column_meta

    cols = t.visible_columns
    df = t.df
    headings = [t.heading(c) for c in cols]
    comments = []
    for c in cols:
        meta = column_meta(c, t.currency)
        comments.append("; ".join(x for x in (meta.description, f"column: {c}") if x))
    _header_cells(ws, headings, comments)
    row_kinds = list(df[t.kind_column]) if t.kind_column and t.kind_column in df else None
    widths = [min(max(len(w) for w in h.split()) + 2, 24) if h else 8 for h in headings]
    columns = [_column_values(df[col]) for col in cols]
    formats = [FORMATS.get(t.kind(col), ("", ""))[0] for col in cols]
    per_row = [row_kinds is not None and t.kinds.get(col) == "ratio" for col in cols]
    fast = None
    if len(df) >= (FAST_ROWS_MIN if fast_min is None else fast_min) and not any(per_row):
        fast = _fast_rows(ws, columns, formats)
    for j, values in enumerate(columns, start=1):
        fmts = [FORMATS.get(k, ("", ""))[0] for k in row_kinds] if per_row[j - 1] else None
        widths[j - 1] = _table_column(ws if fast is None else None, j, values, formats[j - 1], fmts, widths[j - 1])
    for j, w in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(j)].width = max(MIN_COL_WIDTH, min(MAX_COL_WIDTH, w + 2))
    ws.freeze_panes = "A2"
    if cols:
        ws.auto_filter.ref = f"A1:{get_column_letter(len(cols))}{len(df) + 1}"
    ws.row_dimensions[1].height = 32
    note_col = len(cols) + 2
    if t.capped:
        c = ws.cell(row=1, column=note_col, value=(
            f"First {len(df):,} of {t.total_rows:,} rows (sheets stop at {SHEET_CAP_TEXT} rows to stay usable); "
            f"every row is in {t.parquet_name}"))
        c.font = Font(bold=True, color="C00000")
    if t.chart is not None and len(df):
        _report_chart(ws, t, cols, anchor=f"{get_column_letter(note_col)}{3 if t.capped else 2}")
    return fast


def _table_column(ws: Any | None, j: int, values: list, fmt: str, row_fmts: list[str] | None, width: int) -> int:
    """Write column ``j`` from row 2 as openpyxl cells (when ``ws`` is given: ``fmt``, or the row's format from
    ``row_fmts``, on numbers and dates; text that looks like a formula stays text); return the width its
    first 2000 rows need."""
    for i, v in enumerate(values, start=2):
        if v is None:
            continue
        f = row_fmts[i - 2] if row_fmts is not None else fmt
        if ws is not None:
            c = ws.cell(row=i, column=j, value=v)
            if isinstance(v, str):
                if v.startswith("="):
                    c.data_type = "s"
            elif f and f != "@" and not isinstance(v, bool):
                c.number_format = f
        elif i > 2001:
            break
        if i <= 2001:
            width = max(width, _display_len(v, f if f != "@" else None))
    return width


def _fast_rows(ws: Any, columns: list[list], formats: list[str]) -> _FastRows | None:
    """The data rows of a table as XML (see :func:`_fast_column`), or ``None`` when a column holds a value
    type only openpyxl's cells render."""
    from openpyxl.utils import get_column_letter

    cache: dict[str, int] = {}
    rendered = []
    for j, (values, fmt) in enumerate(zip(columns, formats), start=1):
        col = _fast_column(ws, get_column_letter(j), values, fmt, cache)
        if col is None:
            return None
        rendered.append(col)
    return _FastRows(ws, rendered, len(columns[0]) if columns else 0, len(columns))


SHEET_CAP_TEXT = "50,000"


def _report_chart(ws: Any, t: Any, cols: list[str], anchor: str) -> None:
    from openpyxl.chart import AreaChart, BarChart, LineChart, Reference
    from openpyxl.chart.axis import DateAxis
    from openpyxl.chart.series import SeriesLabel

    spec = t.chart
    n = len(t.df)
    chart = {"bar": BarChart, "area": AreaChart}.get(spec.kind, LineChart)()
    if spec.kind == "bar":
        chart.type = "col"
        if spec.stacked:
            chart.grouping, chart.overlap = "stacked", 100
    elif spec.kind == "area" and spec.stacked:
        chart.grouping = "stacked"
    chart.title = spec.title
    chart.y_axis.title = spec.y_title
    chart.width, chart.height = 20.0, 10.0
    chart.y_axis.number_format = "#,##0"
    for y in spec.y_cols:
        if y not in cols:
            continue
        j = cols.index(y) + 1
        chart.add_data(Reference(ws, min_col=j, min_row=2, max_row=n + 1), titles_from_data=False)
        s = chart.series[-1]
        s.tx = SeriesLabel(v=t.heading(y))
        color = spec.colors.get(y)
        if color:
            hexc = color.lstrip("#").upper()
            if spec.kind in ("bar", "area"):
                s.graphicalProperties.solidFill = hexc
                s.graphicalProperties.line.solidFill = hexc
            else:
                s.graphicalProperties.line.solidFill = hexc
        if spec.kind == "line":
            s.smooth = False
            s.graphicalProperties.line.width = 22000
            if y in spec.dashed:
                s.graphicalProperties.line.dashStyle = "dash"
    xj = cols.index(spec.x_col) + 1
    chart.set_categories(Reference(ws, min_col=xj, min_row=2, max_row=n + 1))
    if spec.kind != "bar":
        chart.y_axis.crossAx = 500
        chart.x_axis = DateAxis(crossAx=100)
        chart.x_axis.number_format = "yyyy-mm"
        chart.x_axis.majorTimeUnit = "months"
    chart.x_axis.delete = False
    chart.y_axis.delete = False
    chart.legend.position = "b"
    ws.add_chart(chart, anchor)


def _write_parquet(con: Any, sql: str, params: list, path: Path) -> Path:
    """The full query to Parquet, streamed in record batches (memory independent of the row count)."""
    import pyarrow.parquet as pq

    # a relation streams its batches; Arrow from an executed DB-API result copies every row first
    reader = con.sql(sql, params=params).to_arrow_reader(65_536)
    with atomic_path(path, suffix=".tmp.parquet") as tmp:
        with pq.ParquetWriter(str(tmp), reader.schema) as w:
            for batch in reader:
                w.write_batch(batch)
    return path


def _summary_sheet(ws: Any, rep: Any, title: str) -> None:
    """A one-screen, one-printed-page summary for a manager: KPIs, completeness, what changed."""
    import re as _re

    from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
    from openpyxl.worksheet.page import PageMargins

    from .labels import FORMATS

    ws["A1"] = title
    ws["A1"].font = Font(bold=True, size=15, color=HEADER_FILL)
    ws["A2"] = (f"{rep.period.label} · generated {_dt.datetime.now():%Y-%m-%d %H:%M}"
                + (f" · run {rep.run_id}" if rep.run_id else ""))
    ws["A2"].font = Font(color="52606D", size=9)
    c = rep.completeness
    if c["expected"]:
        comp = (f"Completeness: {c['reported']:,} of {c['expected']:,} wells that reported {c['prior_month']:%Y-%m} "
                f"have reported {c['month']:%Y-%m}"
                + (f"; {c['late']:,} late (sheet Late reporters)" if c["late"] else ""))
    else:
        comp = f"Completeness: {c['rows']:,} wells reported {c['month']:%Y-%m}"
    ws["A3"] = comp
    ws["A3"].font = Font(bold=True, size=10, color="C65911" if c["late"] else "2E7D32")
    k = rep.kpis
    heads = ["KPI", "Unit", k.heading("value"), k.heading("prior"), "Change, like-for-like", "Change, all wells",
             k.heading("year_ago"), "vs year ago"]
    r0 = 5
    fill = PatternFill("solid", fgColor=HEADER_FILL)
    thin = Side(style="thin", color="D9E2EC")
    for j, h in enumerate(heads, start=1):
        cell = ws.cell(row=r0, column=j, value=h)
        cell.font, cell.fill = Font(bold=True, color=HEADER_FONT_COLOR, size=9), fill
        cell.alignment = Alignment(wrap_text=True, horizontal="center", vertical="center")
    ws.row_dimensions[r0].height = 28
    for i, row in enumerate(k.df.to_dict("records"), start=r0 + 1):
        fmt = FORMATS.get(row.get("kind") or "ratio", ("#,##0.00", ""))[0]
        vals = [row["kpi"], row["unit"], row["value"], row["prior"], row["change_lfl_pct"], row["change_all_pct"],
                row["year_ago"], row["change_year_pct"]]
        for j, v in enumerate(vals, start=1):
            v = _py_value(v)
            if isinstance(v, float) and (v != v):
                v = None
            cell = ws.cell(row=i, column=j, value=v)
            cell.border = Border(bottom=thin)
            cell.font = Font(size=9, bold=j == 1)
            if j in (3, 4, 7) and v is not None:
                cell.number_format = fmt
            elif j in (5, 6, 8) and v is not None:
                cell.number_format = "+0.0%;-0.0%;0.0%"
            if v is None and j >= 3:
                cell.value = NOT_REPORTED if j in (3,) else None
                cell.font = Font(size=9, italic=True, color="7B8794")
    r = r0 + len(k.df) + 2
    ws.cell(row=r, column=1, value="What changed").font = Font(bold=True, size=11, color=HEADER_FILL)
    r += 1
    for pt in rep.summary_points()[:SUMMARY_POINTS]:
        text = _re.sub(r"\*\*(.*?)\*\*", r"\1", pt)
        text = _re.sub(r"\*(.*?)\*", r"\1", text)
        cell = ws.cell(row=r, column=1, value="• " + text)
        cell.alignment = Alignment(wrap_text=True, vertical="top")
        cell.font = Font(size=9)
        ws.merge_cells(start_row=r, start_column=1, end_row=r, end_column=8)
        ws.row_dimensions[r].height = 12.5 * max(1, -(-len(text) // 118))
        r += 1
    r += 1
    checks = rep.quality_checks.df
    failing = checks[checks["status"] != "pass"] if len(checks) else checks
    errors = int((failing["severity"] == "error").sum()) if len(failing) else 0
    dq = (f"Data quality: {len(checks)} checks, " + ("all passed" if failing.empty else
          f"{errors} error(s), {len(failing) - errors} warning(s) (sheet Data quality)"))
    ws.cell(row=r, column=1, value=dq).font = Font(bold=True, size=9, color=_status_color(
        "pass" if failing.empty else ("fail" if errors else "warn")))
    r += 1
    ws.cell(row=r, column=1, value="Assumptions, sheet list and sources: see the About sheet. Money in USD "
            "unless a heading says otherwise; volumes gross (8/8ths).").font = Font(size=8, color="7B8794")
    for col, w in zip("ABCDEFGH", (24, 9, 14, 14, 12, 12, 14, 11)):
        ws.column_dimensions[col].width = w
    ws.sheet_view.showGridLines = False
    ws.print_area = f"A1:H{r}"
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 1
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.page_margins = PageMargins(left=0.5, right=0.5, top=0.5, bottom=0.5)


def _about_sheet(ws: Any, rep: Any, title: str, sheet_rows: list[tuple[str, int, str]]) -> None:
    from openpyxl.styles import Alignment, Font, PatternFill

    ws["A1"] = title
    ws["A1"].font = Font(bold=True, size=15, color=HEADER_FILL)
    rows = [("Period", rep.period.label), ("Generated at", _dt.datetime.now().replace(microsecond=0)),
            ("Run ID", rep.run_id or "standalone"),
            ("Reporting currency", rep.currency),
            ("Description", "basinlab report: KPIs, production, financials, decline forecasts and data quality. "
                            "Volumes in bbl (oil, water) and mcf (gas), gross (8/8ths) unless a heading says net; "
                            "BOE = oil + gas/6; rates per calendar day; money in USD unless a heading names another "
                            "currency. An empty cell is not reported (never zero)."),
            ("Decline and quality", "Decline forecasts and data-quality checks are those of the latest published "
                                    "run"
                                    + (f" (forecast as of {rep.decline_as_of:%Y-%m})" if rep.decline_as_of else ""))]
    r = 3
    wrap = Alignment(wrap_text=True, vertical="top")
    for label, value in rows:
        ws.cell(row=r, column=1, value=label).font = Font(bold=True)
        c = ws.cell(row=r, column=2, value=value)
        c.alignment = wrap
        if isinstance(value, _dt.datetime):
            c.number_format = "yyyy-mm-dd hh:mm"
        ws.merge_cells(start_row=r, start_column=2, end_row=r, end_column=3)
        if isinstance(value, str):
            ws.row_dimensions[r].height = 15 * max(1, -(-len(value) // _ABOUT_VALUE_CHARS))
        r += 1
    head_font = Font(bold=True, color=HEADER_FONT_COLOR)
    head_fill = PatternFill("solid", fgColor=HEADER_FILL)
    r += 1
    r = _titled_header(ws, r, "Assumptions", ("Item", "Value", "Source"), head_font, head_fill)
    for a in rep.assumptions.df.to_dict("records"):
        ws.cell(row=r, column=1, value=a["item"]).alignment = wrap
        ws.cell(row=r, column=2, value=a["value_text"]).alignment = wrap
        ws.cell(row=r, column=3, value=a["source"]).alignment = wrap
        ws.row_dimensions[r].height = 15 * max(1, -(-len(str(a["value_text"])) // 70))
        r += 1
    r += 1
    checks = rep.quality_checks.df
    failing = checks[checks["status"] != "pass"] if len(checks) else checks
    ws.cell(row=r, column=1, value="Data quality").font = Font(bold=True, size=12)
    r += 1
    status = "pass" if failing.empty else ("fail" if (failing["severity"] == "error").any() else "warn")
    ws.cell(row=r, column=1, value="Status").font = Font(bold=True)
    ws.cell(row=r, column=2, value=f"{status}: {len(checks)} checks, {len(failing)} failing").font = Font(
        bold=True, color=_status_color(status))
    r += 2
    _sheet_index(ws, r, sheet_rows, head_font, head_fill, wrap, widths=(26, 60, 60))


def write_report_workbook(rep: Any, path: Path) -> Path:
    """The report's workbook: Summary (one printable page), the report's tables with native charts, About
    (assumptions, data quality, sheet list). Per-well tables past the row cap are written in full to
    Parquet beside the workbook. Written atomically."""
    from openpyxl import Workbook

    path = Path(path)
    title = f"basinlab report — {rep.period.label}"
    wb = Workbook()
    summary = wb.active
    summary.title = "Summary"
    taken = {"Summary", "About"}
    sheet_rows: list[tuple[str, int, str]] = [("Summary", len(rep.kpis.df), "KPIs, completeness and what changed")]
    fast: list[_FastRows] = []
    for t in rep.sheets():
        name = sanitize_sheet_name(t.sheet, taken)
        taken.add(name)
        desc = t.description
        if t.capped:
            t.parquet_name = f"{path.stem}_{_slug(name)}.parquet"
            _write_parquet(rep.con, t.parquet_sql[0], t.parquet_sql[1], path.with_name(t.parquet_name))
            desc += f" — first {len(t.df):,} of {t.total_rows:,} rows; all in {t.parquet_name}"
        elif not len(t.df):
            desc = f"{desc} — {NOT_REPORTED}: no rows".lstrip(" —")
        ws = wb.create_sheet(title=name)
        rows = _table_sheet(ws, t)
        if rows is not None:
            fast.append(rows)
        sheet_rows.append((name, len(t.df), desc))
    _summary_sheet(summary, rep, title)
    about = wb.create_sheet(title="About", index=1)
    _about_sheet(about, rep, title, sheet_rows)
    wb.properties.title = title
    wb.properties.creator = "basinlab"
    with atomic_path(path, suffix=".tmp.xlsx") as tmp:
        wb.save(tmp)
        _splice_rows(tmp, fast)
    return path


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


# --------------------------------------------------------------------------- data rows straight to XML

#: a report table with at least this many rows has its data rows written straight into its sheet's XML
#: after openpyxl saved the workbook (see :func:`_fast_rows`): openpyxl builds a Python object per cell
#: (about 25 µs and 500 bytes a cell; the per-well sheets hold ~2.5 M cells at 20,000 wells).
FAST_ROWS_MIN = 1_000
#: rows rendered to XML at a time (memory of the splice independent of the sheet's size)
FAST_ROWS_CHUNK = 4_096
#: the number format openpyxl gives a cell bound to a value of this type when no format is set
_DEFAULT_DATE_FORMATS = {_dt.datetime: "yyyy-mm-dd h:mm:ss", _dt.date: "yyyy-mm-dd", pd.Timestamp: "yyyy-mm-dd h:mm:ss"}
_NUMBER_TYPES = (int, float, Decimal)


@dataclass
class _FastRows:
    """A sheet whose data rows (from row 2) are spliced into its XML after the workbook is saved."""

    ws: Any
    columns: list[list[str]]   # per column, one ``<c>`` element per row ("" for an empty cell)
    nrows: int
    ncols: int

    def chunks(self) -> Any:
        for start in range(0, self.nrows, FAST_ROWS_CHUNK):
            stop = min(start + FAST_ROWS_CHUNK, self.nrows)
            parts = [col[start:stop] for col in self.columns]
            yield "".join(f'<row r="{i}">{"".join(cells)}</row>'
                          for i, cells in enumerate(zip(*parts), start=start + 2))


def _xml_text(v: str) -> str:
    v = v.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return v.replace("\r", "&#13;") if "\r" in v else v


def _text_cell(letter: str, i: int, v: str) -> str:
    """A text cell (inline, never a formula); an empty text is an empty cell, as openpyxl writes it."""
    if not v:
        return f'<c r="{letter}{i}" t="inlineStr"/>'
    return f'<c r="{letter}{i}" t="inlineStr"><is><t xml:space="preserve">{_xml_text(v)}</t></is></c>'


def _style_id(ws: Any, fmt: str, cache: dict[str, int]) -> int:
    """The workbook's cell-style index of a cell whose only style is number format ``fmt``."""
    if fmt not in cache:
        from openpyxl.cell import Cell

        probe = Cell(ws)  # never placed in the sheet: only registers the style with the workbook
        probe.number_format = fmt
        cache[fmt] = probe.style_id
    return cache[fmt]


def _fast_column(ws: Any, letter: str, values: list, fmt: str, cache: dict[str, int]) -> list[str] | None:
    """``<c>`` elements for one column's values from row 2, styled as :func:`_table_sheet` styles a cell
    (``fmt`` on numbers and dates; a date without one gets openpyxl's default; text stays text, even when it
    looks like a formula; numbers to 16 significant digits, as openpyxl writes them); ``None`` for a value type
    this writer does not render (the caller falls back)."""
    from openpyxl.utils.datetime import to_excel

    types = {type(v) for v in values if v is not None}
    num_fmt = fmt if fmt and fmt != "@" else ""
    if types <= {int, float} and types:
        s = f' s="{_style_id(ws, num_fmt, cache)}"' if num_fmt else ""
        return ["" if v is None else f'<c r="{letter}{i}"{s}><v>{v:.16g}</v></c>'
                for i, v in enumerate(values, start=2)]
    if types == {str}:
        return ["" if v is None else _text_cell(letter, i, v) for i, v in enumerate(values, start=2)]
    out = []
    for i, v in enumerate(values, start=2):
        if v is None:
            out.append("")
        elif isinstance(v, str):
            out.append(_text_cell(letter, i, v))
        elif isinstance(v, bool):
            out.append(f'<c r="{letter}{i}" t="b"><v>{int(v)}</v></c>')
        elif isinstance(v, _NUMBER_TYPES):
            s = f' s="{_style_id(ws, num_fmt, cache)}"' if num_fmt else ""
            out.append(f'<c r="{letter}{i}"{s}><v>{v:.16g}</v></c>')
        elif isinstance(v, (_dt.datetime, _dt.date)):
            f = num_fmt or _DEFAULT_DATE_FORMATS[_dt.datetime if isinstance(v, _dt.datetime) else _dt.date]
            out.append(f'<c r="{letter}{i}" s="{_style_id(ws, f, cache)}"><v>{to_excel(v):.16g}</v></c>')
        else:  # times, durations, anything else: openpyxl's own cells
            return None
    return out


def _splice_rows(path: Path, fast: list[_FastRows]) -> None:
    """Put each sheet's data rows into ``path`` (a saved workbook) after its header row, in place."""
    import zipfile

    if not fast:
        return
    from openpyxl.utils import get_column_letter

    parts = {f.ws.path.lstrip("/"): f for f in fast}
    tmp = path.with_name(path.name + ".splice")
    try:
        with zipfile.ZipFile(path) as zin, \
                zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zout:
            for info in zin.infolist():
                data = zin.read(info)
                f = parts.get(info.filename)
                if f is None:
                    zout.writestr(info, data)
                    continue
                text = data.decode("utf-8")
                head, sep, tail = text.rpartition("</sheetData>")
                if not sep:
                    raise ReportError(f"{path}: sheet {f.ws.title!r} has no sheetData to put its rows in")
                ref = f"A1:{get_column_letter(max(f.ws.max_column, f.ncols, 1))}{f.nrows + 1}"
                head = re.sub(r'<dimension ref="[^"]*"\s*/>', f'<dimension ref="{ref}"/>', head, count=1)
                with zout.open(info.filename, "w", force_zip64=True) as out:
                    out.write(head.encode("utf-8"))
                    for chunk in f.chunks():
                        out.write(chunk.encode("utf-8"))
                    out.write((sep + tail).encode("utf-8"))
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
