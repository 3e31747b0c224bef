"""A per-well report sheet written two ways — one JSON line.

    python bench/report_workbook.py --rows 50000

Builds a per-well table like the report's "Forecast methods" sheet (ids, texts, floats with NaN, integers,
dates; ``--rows`` rows, the workbook's per-sheet cap by default) and writes it as a report sheet
(:func:`basinlab.report.excel._table_sheet`: labelled headings with comments, number formats, widths,
filter, frozen header) twice, in the same run:

* ``openpyxl`` — every data cell an openpyxl cell (what the report did before, and what a user would
  write: ``ws.cell(row, col, value).number_format = ...``), then ``wb.save``;
* ``splice`` — the header through openpyxl, the data rows rendered straight to the sheet's XML and spliced
  into the saved file (what the report does now for tables of ``FAST_ROWS_MIN`` rows or more).

Reports seconds (and with ``--memory`` peak traced Python memory from a second, traced pass) for each,
and checks the two workbooks read back the same (every cell's value and number format).
"""
from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd

from basinlab.report import excel
from basinlab.report.monthly import Table


def frame(rows: int, seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    qi = rng.lognormal(4, 1, rows)
    qi[rng.random(rows) < 0.05] = np.nan
    return pd.DataFrame({
        "well_id": [f"W{i:06d}" for i in range(rows)],
        "phase": rng.choice(["oil", "gas", "water"], rows),
        "method": rng.choice(["arps", "analog", "ratio"], rows),
        "status": rng.choice(["fitted", "too short", "inactive"], rows),
        "fit_start": pd.Timestamp("2015-01-01") + pd.to_timedelta(rng.integers(0, 3000, rows), unit="D"),
        "n_points": rng.integers(3, 120, rows),
        "qi": qi, "di": rng.random(rows), "b": rng.random(rows) * 2, "dterm": rng.random(rows) / 10,
        "rmse": rng.random(rows) * 50, "r2": rng.random(rows),
        "eur": qi * 3000, "eur_p10": qi * 4000, "eur_p90": qi * 2000, "remaining": qi * 1000,
        "units": "bbl",
    })


def write(df: pd.DataFrame, fast_min: int, path: Path, trace: bool = False) -> tuple[float, float | None]:
    """Seconds and (``trace``: a second, traced pass) peak traced Python memory in MB."""
    if trace:
        tracemalloc.start()
    t0 = time.perf_counter()
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Forecast methods"
    rows = excel._table_sheet(ws, Table("t", "T", df, sheet="Forecast methods"), fast_min=fast_min)
    wb.save(path)
    excel._splice_rows(path, [rows] if rows is not None else [])
    seconds = time.perf_counter() - t0
    if not trace:
        return seconds, None
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return seconds, peak / 2**20


def same(a: Path, b: Path) -> bool:
    wa = openpyxl.load_workbook(a, read_only=True)["Forecast methods"]
    wb = openpyxl.load_workbook(b, read_only=True)["Forecast methods"]
    for ra, rb in zip(wa.iter_rows(), wb.iter_rows(), strict=True):
        for ca, cb in zip(ra, rb, strict=True):
            va, vb = ca.value, cb.value
            if not (va == vb or (isinstance(va, float) and isinstance(vb, float) and math.isnan(va)
                                 and math.isnan(vb))):
                return False
            if va is not None and ca.number_format != cb.number_format:
                return False
    return True


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=excel.FAST_ROWS_MIN * 50)
    ap.add_argument("--memory", action="store_true", help="also a traced pass each for peak Python memory (slow)")
    a = ap.parse_args()
    df = frame(a.rows)
    with tempfile.TemporaryDirectory() as tmp:
        slow_path, fast_path = Path(tmp) / "openpyxl.xlsx", Path(tmp) / "splice.xlsx"
        slow_s, _ = write(df, 10**12, slow_path)
        fast_s, _ = write(df, 0, fast_path)
        slow_mb = write(df, 10**12, slow_path, trace=True)[1] if a.memory else None
        fast_mb = write(df, 0, fast_path, trace=True)[1] if a.memory else None
        print(json.dumps({
            "bench": "report_workbook", "rows": a.rows, "cells": int(df.size),
            "openpyxl_s": round(slow_s, 2), "splice_s": round(fast_s, 2),
            "speedup": round(slow_s / fast_s, 1) if fast_s else None,
            "openpyxl_peak_mb": slow_mb and round(slow_mb), "splice_peak_mb": fast_mb and round(fast_mb),
            "same_cells": same(slow_path, fast_path),
        }))


if __name__ == "__main__":
    main()
