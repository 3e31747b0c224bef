"""Tests for the Volve workbook adapter (basinlab.sources.volve).

Two groups: a tiny synthetic workbook built here with openpyxl (always runs,
expected values derived by hand), and the published Volve workbook from
``../shared/data/volve/`` beside the checkout (skipped when it is absent).
"""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from basinlab import config
from basinlab.sources.base import SourceError, SourceRead
from basinlab.sources.volve import (
    DAILY_SHEET,
    MONTHLY_SHEET,
    SM3_GAS_TO_MCF,
    SM3_TO_BBL,
    compare_with_monthly_sheet,
    read_volve,
)

VOLVE_DIR = config.SHARED_DATA_DIR / "volve"
VOLVE_FILE = VOLVE_DIR / "Volve production data.xlsx"

# --------------------------------------------------------------------------- synthetic workbook

DAILY_HEADER = [
    "DATEPRD", "WELL_BORE_CODE", "NPD_WELL_BORE_CODE", "NPD_WELL_BORE_NAME", "NPD_FIELD_NAME",
    "ON_STREAM_HRS", "BORE_OIL_VOL", "BORE_GAS_VOL", "BORE_WAT_VOL", "BORE_WI_VOL",
    "FLOW_KIND", "WELL_TYPE",
]
D = dt.datetime
P1 = ("NO P-1 H", "1001", "P-1", "VOLVE")
I1 = ("NO I-1 AH", "1002", "I-1", "VOLVE")
# Excel row numbers in the comments (header = row 1).
DAILY_ROWS = [
    # row 2: plain producing day
    [D(2020, 1, 1), *P1, 24.0, 100.0, 1000.0, 10.0, None, "production", "OP"],
    # row 3: time of day, hours above 24 (clipped to 24), null gas (0, not a reject)
    [D(2020, 1, 2, 6, 30), *P1, 30.0, 50.0, None, 5.0, None, "production", "OP"],
    # row 4: null hours with volumes > 0 -> a full day on stream
    [D(2020, 1, 3), *P1, None, 20.0, 200.0, 0.0, None, "production", "OP"],
    # row 5: negative water -> reject
    [D(2020, 1, 4), *P1, 12.0, 10.0, 100.0, -3.0, None, "production", "OP"],
    # row 6: zero day in February, FLOW_KIND blank -> routed by WELL_TYPE OP
    [D(2020, 2, 1), *P1, 12.0, 0.0, 0.0, 0.0, None, None, "OP"],
    # row 7: injector day
    [D(2020, 1, 1), *I1, 24.0, None, None, None, 500.0, "injection", "WI"],
    # row 8: unparseable injected volume -> reject
    [D(2020, 1, 2), *I1, 20.0, None, None, None, "abc", "injection", "WI"],
    # row 9: wellbore missing -> reject
    [D(2020, 1, 5), None, None, None, "VOLVE", 24.0, 1.0, 1.0, 1.0, None, "production", "OP"],
    # row 10: date missing -> reject
    [None, *P1, 24.0, 1.0, 1.0, 1.0, None, "production", "OP"],
    # row 11: injector, null hours and no volume -> 0 h, all volumes null (not a reject)
    [D(2020, 1, 6), *I1, None, None, None, None, None, "injection", "WI"],
    # row 12: injector typed 'WI' but flowing oil (FLOW_KIND production) -> production table
    [D(2020, 2, 3), *I1, 24.0, 30.0, 0.0, 0.0, 0.0, "production", "WI"],
]
MONTHLY_HEADER = ["Wellbore name", "NPDCode", "Year", "Month", "On Stream", "Oil", "Gas", "Water", "GI", "WI"]
MONTHLY_UNITS = [None, None, None, None, "hrs", "Sm3", "Sm3", "Sm3", "Sm3", "Sm3"]
MONTHLY_ROWS = [
    ["P-1", 1001, 2020, 1, 84.0, 180.0, 1200.0, 15.0, "NULL", "NULL"],   # 10 Sm3 more than loaded
    ["P-1", 1001, 2020, 2, 12.0, 0, 0, 0, "NULL", "NULL"],
    ["I-1", 1002, 2020, 1, 44.0, "NULL", "NULL", "NULL", "NULL", 500.0],  # injector month: no oil
    ["X-9", 1009, 2020, 1, 0, 0, 0, 0, "NULL", "NULL"],                 # not in the daily sheet
]


def _write_book(path: Path, daily_header=DAILY_HEADER, daily_rows=DAILY_ROWS,
                daily_sheet=DAILY_SHEET, monthly=True) -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = daily_sheet
    ws.append(daily_header)
    for r in daily_rows:
        ws.append(r)
    if monthly:
        wm = wb.create_sheet(MONTHLY_SHEET)
        wm.append(MONTHLY_HEADER)
        wm.append(MONTHLY_UNITS)
        for r in MONTHLY_ROWS:
            wm.append(r)
    wb.save(path)
    return path


@pytest.fixture
def synthetic(tmp_path) -> tuple[Path, SourceRead]:
    path = _write_book(tmp_path / "volve_small.xlsx")
    return path, read_volve(path)


def test_synthetic_counts_and_rejects(synthetic):
    _, r = synthetic
    assert r.rows_read == 11
    assert r.rows_loaded == 7
    assert r.rows_read == r.rows_loaded + len(r.rejects)
    got = {rej.line: rej.reason for rej in r.rejects}
    assert set(got) == {5, 8, 9, 10}
    assert "BORE_WAT_VOL negative" in got[5]
    assert "BORE_WI_VOL not a number" in got[8] and "abc" in got[8]
    assert "NPD_WELL_BORE_NAME missing" in got[9]
    assert "DATEPRD missing" in got[10]
    for rej in r.rejects:
        json.dumps(rej.record)  # JSON-serialisable
        assert set(rej.record) == set(DAILY_HEADER)
    rec5 = next(rej.record for rej in r.rejects if rej.line == 5)
    assert rec5["DATEPRD"] == "2020-01-04T00:00:00"
    assert rec5["BORE_WAT_VOL"] == -3.0


def test_synthetic_production_values(synthetic):
    _, r = synthetic
    prod = r.tables["well_production"]
    assert list(prod.columns) == [
        "well_id", "production_month", "days_on", "oil_bbl", "gas_mcf", "water_bbl", "_source_row"]
    rows = {(w, m.strftime("%Y-%m")): row for w, m, row in
            zip(prod["well_id"], prod["production_month"], prod.to_dict("records"))}
    assert set(rows) == {("P-1", "2020-01"), ("P-1", "2020-02"), ("I-1", "2020-02")}

    jan = rows[("P-1", "2020-01")]
    # rows 2, 3, 4 (row 5 rejected): 24 h + 30 h clipped to 24 + null hours with volume = 24 h
    assert jan["days_on"] == pytest.approx(3.0)
    assert jan["oil_bbl"] == pytest.approx((100 + 50 + 20) * 6.28981)        # 1069.2677
    assert jan["gas_mcf"] == pytest.approx((1000 + 0 + 200) * 35.3147 / 1000)  # 42.37764
    assert jan["water_bbl"] == pytest.approx((10 + 5 + 0) * 6.28981)          # 94.34715
    assert jan["_source_row"] == 2
    assert jan["production_month"] == pd.Timestamp("2020-01-01")

    feb = rows[("P-1", "2020-02")]
    assert feb["days_on"] == pytest.approx(0.5)
    assert (feb["oil_bbl"], feb["gas_mcf"], feb["water_bbl"]) == (0.0, 0.0, 0.0)
    assert feb["_source_row"] == 6

    conv = rows[("I-1", "2020-02")]  # WELL_TYPE WI, FLOW_KIND production, with oil
    assert conv["days_on"] == pytest.approx(1.0)
    assert conv["oil_bbl"] == pytest.approx(30 * 6.28981)
    assert conv["_source_row"] == 12
    assert SM3_TO_BBL == 6.28981 and SM3_GAS_TO_MCF == pytest.approx(0.0353147)


def test_synthetic_injection_values(synthetic):
    _, r = synthetic
    inj = r.tables["well_injection"]
    assert list(inj.columns) == [
        "well_id", "injection_month", "days_on", "water_injected_bbl", "gas_injected_mcf", "_source_row"]
    assert len(inj) == 1
    row = inj.iloc[0]
    assert row["well_id"] == "I-1"
    assert row["injection_month"] == pd.Timestamp("2020-01-01")
    assert row["days_on"] == pytest.approx(1.0)  # row 7: 24 h; row 11: null hours, no volume -> 0 h
    assert row["water_injected_bbl"] == pytest.approx(500 * 6.28981)
    assert pd.isna(row["gas_injected_mcf"])  # not reported in the daily sheet
    assert row["_source_row"] == 7


def test_synthetic_header(synthetic):
    _, r = synthetic
    hdr = r.tables["well_header"].set_index("well_id")
    assert list(r.tables["well_header"].columns) == [
        "well_id", "well_name", "operator", "field", "county", "state", "basin",
        "first_production_month", "lateral_length_ft", "working_interest",
        "net_revenue_interest", "well_type", "_source_row"]
    assert sorted(hdr.index) == ["I-1", "P-1"]
    p, i = hdr.loc["P-1"], hdr.loc["I-1"]
    assert (p["well_name"], p["well_type"], p["_source_row"]) == ("NO P-1 H", "producer", 2)
    assert (i["well_name"], i["well_type"], i["_source_row"]) == ("NO I-1 AH", "injector", 7)
    assert p["first_production_month"] == pd.Timestamp("2020-01-01")
    assert i["first_production_month"] == pd.Timestamp("2020-01-01")  # first injection month
    for w in (p, i):
        assert (w["operator"], w["field"], w["basin"]) == ("Equinor", "VOLVE", "North Sea")
        assert w["county"] is None and w["state"] is None
        assert pd.isna(w["lateral_length_ft"]) and pd.isna(w["working_interest"])
        assert pd.isna(w["net_revenue_interest"])


def test_synthetic_notes(synthetic):
    _, r = synthetic
    notes = "\n".join(r.notes)
    assert "1 daily rows had ON_STREAM_HRS above 24 h" in notes
    assert "2 daily rows had null ON_STREAM_HRS: 1 counted as a full day" in notes
    assert "BORE_OIL_VOL 2, BORE_GAS_VOL 3, BORE_WAT_VOL 2, BORE_WI_VOL 5" in notes
    assert "1 DATEPRD values carried a time of day" in notes
    assert "1 rows routed by FLOW_KIND against WELL_TYPE" in notes


def test_synthetic_compare_with_monthly_sheet(synthetic):
    path, _ = synthetic
    c = compare_with_monthly_sheet(path).set_index(["well_id", "month"])
    jan = c.loc[("P-1", pd.Timestamp("2020-01-01"))]
    assert jan["daily_oil_sm3"] == pytest.approx(170.0)
    assert jan["monthly_oil_sm3"] == pytest.approx(180.0)
    assert jan["diff_sm3"] == pytest.approx(-10.0)
    assert jan["rel_diff"] == pytest.approx(-10.0 / 180.0)
    assert jan["rejected_daily_rows"] == 1  # row 5 (its 10 Sm3 oil is the difference)
    assert jan["presence"] == "both"
    feb = c.loc[("P-1", pd.Timestamp("2020-02-01"))]
    assert feb["rel_diff"] == 0.0 and feb["presence"] == "both"
    assert c.loc[("I-1", pd.Timestamp("2020-02-01")), "presence"] == "daily_only"
    assert pd.isna(c.loc[("I-1", pd.Timestamp("2020-02-01")), "rel_diff"])
    inj = c.loc[("I-1", pd.Timestamp("2020-01-01"))]
    assert inj["presence"] == "monthly_only" and pd.isna(inj["monthly_oil_sm3"])
    assert c.loc[("X-9", pd.Timestamp("2020-01-01")), "presence"] == "monthly_only"


def test_missing_sheet_raises(tmp_path):
    path = _write_book(tmp_path / "wrong_sheet.xlsx", daily_sheet="Sheet1", monthly=False)
    with pytest.raises(SourceError) as e:
        read_volve(path)
    assert "Daily Production Data" in str(e.value)
    assert "Sheet1" in e.value.reason


def test_missing_columns_raises(tmp_path):
    header = [h for h in DAILY_HEADER if h not in ("BORE_WI_VOL", "WELL_TYPE")]
    path = _write_book(tmp_path / "no_cols.xlsx", daily_header=header, daily_rows=[])
    with pytest.raises(SourceError) as e:
        read_volve(path)
    assert "BORE_WI_VOL" in e.value.reason and "WELL_TYPE" in e.value.reason


def test_not_a_workbook_raises(tmp_path):
    bad = tmp_path / "not_a_book.xlsx"
    bad.write_text("DATEPRD,WELL_BORE_CODE\n2020-01-01,x\n")
    with pytest.raises(SourceError) as e:
        read_volve(bad)
    assert e.value.file == str(bad) and "workbook" in e.value.reason
    with pytest.raises(SourceError):
        read_volve(tmp_path / "absent.xlsx")


def test_monthly_sheet_missing_raises(tmp_path):
    path = _write_book(tmp_path / "daily_only.xlsx", monthly=False)
    with pytest.raises(SourceError) as e:
        compare_with_monthly_sheet(path)
    assert "Monthly Production Data" in str(e.value)


# --------------------------------------------------------------------------- the published workbook

needs_volve = pytest.mark.skipif(
    not VOLVE_FILE.is_file(),
    reason=f"real Volve workbook not found at {VOLVE_FILE} (shared data beside the checkout); "
           "the synthetic-workbook tests still cover the adapter",
)


@pytest.fixture(scope="module")
def volve() -> SourceRead:
    if not VOLVE_FILE.is_file():
        pytest.skip(f"real Volve workbook not found at {VOLVE_FILE}")
    return read_volve(VOLVE_FILE)


@pytest.fixture(scope="module")
def volve_daily_raw() -> pd.DataFrame:
    """The daily sheet read independently with plain openpyxl (no adapter code)."""
    if not VOLVE_FILE.is_file():
        pytest.skip(f"real Volve workbook not found at {VOLVE_FILE}")
    wb = openpyxl.load_workbook(VOLVE_FILE, read_only=True, data_only=True)
    rows = list(wb[DAILY_SHEET].iter_rows(values_only=True))
    wb.close()
    df = pd.DataFrame(rows[1:], columns=rows[0])
    df["excel_row"] = range(2, len(df) + 2)
    return df


@pytest.mark.slow
@needs_volve
def test_volve_row_accounting(volve):
    assert volve.rows_read == 15_832
    assert volve.rows_read == volve.rows_loaded + len(volve.rejects)
    # The only bad rows in the published file: four days with negative water.
    assert sorted(r.line for r in volve.rejects) == [1984, 3504, 5352, 6560]
    assert all("BORE_WAT_VOL negative" in r.reason for r in volve.rejects)
    for r in volve.rejects:
        json.dumps(r.record)


@pytest.mark.slow
@needs_volve
def test_volve_wells_and_types(volve):
    hdr = volve.tables["well_header"].set_index("well_id")
    assert len(hdr) == 8
    assert set(hdr.index) == {"15/9-F-1 C", "15/9-F-11", "15/9-F-12", "15/9-F-14",
                              "15/9-F-15", "15/9-F-15 D", "15/9-F-4", "15/9-F-5"}
    injectors = set(hdr.index[hdr["well_type"] == "injector"])
    assert injectors == {"15/9-F-4", "15/9-F-5"}
    assert hdr.loc["15/9-F-15", "well_name"] == "NO 15/9-F-15 C"  # NPD name drops the 'C'
    assert (hdr["operator"] == "Equinor").all() and (hdr["field"] == "VOLVE").all()
    assert (hdr["basin"] == "North Sea").all()
    assert hdr.loc["15/9-F-1 C", "_source_row"] == 2

    prod, inj = volve.tables["well_production"], volve.tables["well_injection"]
    assert set(inj["well_id"]) == injectors
    assert "15/9-F-4" not in set(prod["well_id"])  # a pure injector stays out of production
    # F-5 was converted to a producer in 2016: only those months are in production.
    f5 = prod[prod["well_id"] == "15/9-F-5"]
    assert (f5["production_month"].dt.year == 2016).all() and f5["oil_bbl"].sum() > 0
    assert not prod.duplicated(["well_id", "production_month"]).any()
    assert not inj.duplicated(["well_id", "injection_month"]).any()


@pytest.mark.slow
@needs_volve
def test_volve_days_on_within_calendar(volve):
    for name, col in (("well_production", "production_month"), ("well_injection", "injection_month")):
        t = volve.tables[name]
        assert (t["days_on"] >= 0).all()
        assert (t["days_on"] <= t[col].dt.days_in_month + 1e-9).all(), name
        assert (t[col].dt.day == 1).all()
    assert any("132 daily rows had ON_STREAM_HRS above 24 h" in n for n in volve.notes)


@pytest.mark.slow
@needs_volve
@pytest.mark.parametrize("well", ["15/9-F-12", "15/9-F-11", "15/9-F-5"])
def test_volve_monthly_oil_matches_independent_sum(volve, volve_daily_raw, well):
    df = volve_daily_raw
    df = df[df["NPD_WELL_BORE_NAME"] == well]
    vols = df[["BORE_OIL_VOL", "BORE_GAS_VOL", "BORE_WAT_VOL", "BORE_WI_VOL"]].astype(float)
    df = df[~(vols < 0).any(axis=1)]          # the rows the adapter rejects
    df = df[df["FLOW_KIND"] == "production"]  # producing days
    month = pd.to_datetime(df["DATEPRD"]).dt.to_period("M").dt.to_timestamp()
    expected = (df["BORE_OIL_VOL"].astype(float).fillna(0.0).groupby(month).sum() * 6.28981)
    got = (volve.tables["well_production"].query("well_id == @well")
           .set_index("production_month")["oil_bbl"])
    assert len(got) == len(expected) > 0
    for m, v in expected.items():
        assert got[m] == pytest.approx(v, rel=1e-12, abs=1e-9), (well, m)


@pytest.mark.slow
@needs_volve
def test_volve_compare_with_monthly_sheet(volve_daily_raw):
    c = compare_with_monthly_sheet(VOLVE_FILE)
    both = c[c["presence"] == "both"]
    assert len(both) == 311
    # Observed: the daily roll-up equals the operator's monthly oil to floating-point
    # rounding (|rel| < 1e-15) in every month without a rejected daily row, because the
    # monthly sheet is the sum of the same daily Sm3 numbers. 1e-9 leaves room for
    # summation order only; any real discrepancy would be far larger.
    clean = both[both["rejected_daily_rows"] == 0]
    assert (clean["rel_diff"].abs() <= 1e-9).all()
    # The 4 months with a rejected (negative-water) day differ by exactly that day's oil.
    dirty = both[both["rejected_daily_rows"] > 0]
    assert len(dirty) == 4
    raw = volve_daily_raw.set_index("excel_row")
    rejected_oil = {1984: 2735.53, 3504: 632.96, 5352: 4339.13, 6560: 202.53}
    for line, oil in rejected_oil.items():
        assert raw.loc[line, "BORE_OIL_VOL"] == pytest.approx(oil)
    assert dirty["diff_sm3"].sum() == pytest.approx(-sum(rejected_oil.values()), abs=1e-6)
    assert (dirty["rel_diff"].abs() < 0.08).all()
    # The wellbore missing from the monthly sheet: 15/9-F-15 (NO 15/9-F-15 C), 2009.
    daily_only = c[c["presence"] == "daily_only"]
    assert set(daily_only["well_id"]) == {"15/9-F-15"} and len(daily_only) == 10
    assert daily_only["monthly_oil_sm3"].isna().all() and daily_only["daily_oil_sm3"].sum() > 0
    # Monthly rows without a producing daily row are injector months with no oil.
    monthly_only = c[c["presence"] == "monthly_only"]
    assert set(monthly_only["well_id"]) <= {"15/9-F-4", "15/9-F-5"}
    assert monthly_only["monthly_oil_sm3"].isna().all()
