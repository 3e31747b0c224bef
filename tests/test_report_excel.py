"""The report workbook's table sheets: rows written straight to the sheet XML read back exactly as
openpyxl's own cells (values, number formats, text that looks like a formula, dates, empty cells)."""
from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from basinlab.report import excel
from basinlab.report.monthly import Table

TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12) | st.sampled_from(
    ["=SUM(A1:A3)", "a & b < c > d", "  padded  ", "line\nbreak", "cr\rlf", "W-0001", ""])
FLOATS = st.floats(allow_nan=True, allow_infinity=True, width=64) | st.sampled_from([0.1, 1e16 + 2, -0.0, 1e-300])
INTS = st.integers(min_value=-(2**53), max_value=2**53)
DATES = st.dates(min_value=dt.date(1900, 3, 1), max_value=dt.date(2200, 1, 1))
DATETIMES = st.datetimes(min_value=dt.datetime(1900, 3, 1), max_value=dt.datetime(2200, 1, 1))


def _frame(draw, n: int) -> pd.DataFrame:
    def col(values):
        return draw(st.lists(st.none() | values, min_size=n, max_size=n))

    return pd.DataFrame({
        "well_id": pd.Series(col(TEXT), dtype=object),
        "oil_bbl": pd.Series(col(FLOATS), dtype="float64"),
        "wells": pd.Series(col(INTS), dtype="Int64"),
        "boe_per_day": pd.Series(col(FLOATS), dtype="float64"),
        "first_month": pd.Series(col(DATES), dtype=object),
        "checked_at": pd.to_datetime(pd.Series(col(DATETIMES), dtype=object)),
        "is_producing": pd.Series(col(st.booleans()), dtype="boolean"),
        "note": pd.Series(col(TEXT | INTS | FLOATS | st.booleans() | DATES), dtype=object),
    })


@st.composite
def frames(draw):
    return _frame(draw, draw(st.integers(min_value=0, max_value=30)))


def _write(tmp: Path, t: Table, fast_min: int) -> tuple[Path, bool]:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Table"
    rows = excel._table_sheet(ws, t, fast_min=fast_min)
    path = tmp / f"t{fast_min}.xlsx"
    wb.save(path)
    excel._splice_rows(path, [rows] if rows is not None else [])
    return path, rows is not None


def _cells(path: Path) -> tuple[list[tuple], str, str | None]:
    ws = openpyxl.load_workbook(path)["Table"]
    cells = [(c.coordinate, c.value, c.number_format if c.value is not None else None, c.data_type)
             for row in ws.iter_rows() for c in row]
    return cells, ws.calculate_dimension(), ws.auto_filter.ref


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    if isinstance(a, str) and isinstance(b, str):
        # openpyxl without lxml writes a carriage return raw, which XML reads back as a line feed; the XML
        # rows keep it (&#13;), as openpyxl with lxml does
        return b == a or b.replace("\r\n", "\n").replace("\r", "\n") == a
    return a == b and type(a) is type(b)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(df=frames())
def test_fast_rows_read_back_as_openpyxl_cells(tmp_path, df):
    t = Table("t", "T", df, sheet="Table", total_rows=len(df) + 5, parquet_name="t.parquet")
    slow, used_fast = _write(tmp_path, t, fast_min=10**9)
    assert not used_fast
    fast, used_fast = _write(tmp_path, t, fast_min=0)
    if df["note"].map(lambda v: isinstance(v, (dt.time, dt.timedelta))).any():
        return
    assert used_fast or len(df.columns) == 0
    (a, dim_a, flt_a), (b, dim_b, flt_b) = _cells(slow), _cells(fast)
    assert (dim_a, flt_a) == (dim_b, flt_b)
    assert len(a) == len(b)
    for (ca, va, fa, ta), (cb, vb, fb, tb) in zip(a, b):
        assert ca == cb
        assert _same(va, vb), (ca, va, vb)
        assert (fa, ta) == (fb, tb), (ca, va, fa, fb, ta, tb)


def test_a_value_type_only_openpyxl_renders_falls_back_to_its_cells(tmp_path):
    df = pd.DataFrame({"well_id": ["W1", "W2"], "note": [dt.time(6, 30), None]})
    path, used_fast = _write(tmp_path, Table("t", "T", df, sheet="Table"), fast_min=0)
    assert not used_fast
    ws = openpyxl.load_workbook(path)["Table"]
    assert ws["B2"].value == dt.time(6, 30) and ws["A3"].value == "W2"


def test_report_workbook_puts_every_row_of_a_large_sheet_in_place(tmp_path, monkeypatch):
    """Through the report's writer: a sheet past FAST_ROWS_MIN has its header, comments, filter, chart
    and all its rows; the rows follow the header in order."""
    monkeypatch.setattr(excel, "FAST_ROWS_MIN", 3)
    months = pd.date_range("2020-01-01", periods=40, freq="MS")
    df = pd.DataFrame({"month": months, "oil_bbl": [float(i) * 1.5 for i in range(40)],
                       "well_id": [f"W{i:03d}" for i in range(40)]})
    from basinlab.report.monthly import ChartSpec

    t = Table("t", "T", df, sheet="Table", chart=ChartSpec("month", ["oil_bbl"], "Oil"))
    path, used_fast = _write(tmp_path, t, fast_min=3)
    assert used_fast
    wb = openpyxl.load_workbook(path)
    ws = wb["Table"]
    assert ws.max_row == 41 and ws.auto_filter.ref == "A1:C41" and ws.freeze_panes == "A2"
    assert [ws.cell(row=i, column=3).value for i in range(2, 42)] == list(df["well_id"])
    assert ws["A2"].value == dt.datetime(2020, 1, 1) and ws["A2"].number_format == ws["A41"].number_format
    assert ws["B41"].value == pytest.approx(58.5) and ws["A1"].comment is not None
    assert len(ws._charts) == 1
