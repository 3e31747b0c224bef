"""The monthly report's content, checked against the source files (not against the marts)."""
import csv

import duckdb
import openpyxl
import numpy as np
import pandas as pd
import pytest

from basinlab import generate_demo, ingest_inbox, run_models, warehouse
from basinlab.decline.step import fit_warehouse
from basinlab.report import monthly

MONTH = "2024-06"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("monthly")
    generate_demo(root / "inbox", wells=8, months=18, end_month=MONTH, seed=11)
    con = warehouse.connect(root / "w.duckdb")
    warehouse.migrate(con)
    ingest_inbox(con, root / "inbox", "b1")
    run_models(con, run_id="r1")
    fit_warehouse(con, run_id="r1")
    con.close()
    return root


@pytest.fixture
def con(built):
    c = duckdb.connect(str(built / "w.duckdb"), read_only=True)
    yield c
    c.close()


def source_production(root, month):
    with open(root / "inbox/well_production/demo_production.csv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["production_month"].startswith(month)]
    oil = sum(float(r["oil_bbl"] or 0) for r in rows)
    gas = sum(float(r["gas_mcf"] or 0) for r in rows)
    return oil, gas


def test_kpis_match_the_source_file_and_the_prior_month(built, con):
    k = monthly.kpis(con, MONTH).set_index("kpi")
    oil, gas = source_production(built, MONTH)
    prev_oil, prev_gas = source_production(built, "2024-05")
    assert k.loc["Oil", "value"] == pytest.approx(oil)
    assert k.loc["Production", "value"] == pytest.approx((oil + gas / 6) / 30)          # June: 30 days
    assert k.loc["Production", "prior_month"] == pytest.approx((prev_oil + prev_gas / 6) / 31)
    assert k.loc["Oil", "change_vs_prior_pct"] == pytest.approx(oil / prev_oil - 1)


def test_month_without_gl_reports_no_financials(built, tmp_path):
    # drop every GL line of the month from a copy, as if the GL export were late
    import shutil

    path = tmp_path / "w.duckdb"
    shutil.copy(built / "w.duckdb", path)
    c = warehouse.connect(path)
    c.execute("delete from raw.gl_records where transaction_date >= date '2024-06-01'")
    run_models(c, run_id="r2")
    assert not monthly.financials_available(c, MONTH)
    k = monthly.kpis(c, MONTH).set_index("kpi")
    assert pd.isna(k.loc["Revenue (booked)", "value"]) and pd.isna(k.loc["Netback", "value"])
    text = monthly.narrative(k.reset_index(), MONTH)
    assert "No GL lines are booked" in text and "nan" not in text
    assert "Revenue calculated from the price deck" in monthly.no_gl_markdown(c, MONTH)
    assert "not reported" in monthly.kpi_cards_html(k.reset_index())
    c.close()


def test_reporting_currency_note_uses_the_months_fx_rate(built, con):
    wb = openpyxl.load_workbook(built / "inbox/fx/demo_fx.xlsx", read_only=True)
    rows = list(wb.worksheets[0].iter_rows(values_only=True))
    header = rows[0]
    rate = next(r[header.index("units_per_usd")] for r in rows[1:]
                if str(r[header.index("rate_month")]).startswith(MONTH) and r[header.index("currency")] == "CAD")
    note = monthly.reporting_currency_note(con, MONTH)
    assert f"{rate:,.4f} CAD/USD" in note


def test_excel_sheets_cover_every_section(con):
    names = [s.name for s in monthly.excel_sheets(con, MONTH)]
    for expected in ("KPIs", "Production by field", "Financials by month", "Capex by field", "EUR by field",
                     "Decline parameters", "Type curves", "Wells not fitted", "JIB by partner", "Data quality",
                     "Rejected rows", "Forecast methods", "Forecast bands", "Forecast lookback"):
        assert expected in names


def test_forecast_coverage_against_the_source_file(built, con):
    with open(built / "inbox/well_production/demo_production.csv", newline="") as fh:
        producing = {r["well_id"] for r in csv.DictReader(fh) if r["production_month"].startswith(MONTH)
                     and float(r["days_on"] or 0) > 0 and float(r["oil_bbl"] or 0) + float(r["gas_mcf"] or 0) > 0}
    cov = monthly.forecast_coverage(con)
    assert cov["producing"] == len(producing)
    assert cov["forecast"] == cov["producing"]                    # every live demo well is forecast
    assert cov["fitted"] + cov["analog"] <= cov["forecast"]
    assert cov["last_month"] == MONTH
    assert f"Forecasts start after {MONTH}" in monthly.coverage_markdown(cov)


# --------------------------------------------------------------------------- values the gate let through

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from basinlab.report._common import NOT_REPORTED  # noqa: E402

NOT_A_NUMBER = ("nan", "NaN", "inf", "None", "<NA>")
odd = st.one_of(st.none(), st.just(float("nan")), st.just(float("inf")), st.just(float("-inf")),
                st.floats(-1e9, 1e9, allow_nan=False, allow_infinity=False))


@st.composite
def kpi_frames(draw):
    rows = []
    for col, label, unit, fmt, up in monthly.KPI_DEFS:
        if draw(st.integers(0, 9)) == 0:      # now and then a KPI is absent altogether
            continue
        rows.append({"kpi": label, "unit": unit, "value": draw(odd), "prior_month": draw(odd),
                     "change_vs_prior_pct": draw(odd), "same_month_last_year": draw(odd),
                     "change_vs_last_year_pct": draw(odd), "higher_is_better": up, "format": fmt})
    return pd.DataFrame(rows, columns=["kpi", "unit", "value", "prior_month", "change_vs_prior_pct",
                                       "same_month_last_year", "change_vs_last_year_pct", "higher_is_better",
                                       "format"])


def _words(text: str) -> set[str]:
    import re

    return set(re.findall(r"[A-Za-z<>]+", text))


@settings(max_examples=150, deadline=None)
@given(k=kpi_frames(), note=st.sampled_from(["", " In CAD at 1.3500 CAD/USD."]))
def test_kpi_tiles_and_narrative_never_fail_and_say_not_reported(k, note):
    tiles = monthly.kpi_cards_html(k)
    text = monthly.narrative(k, MONTH, note)
    for out in (tiles, text):
        assert not _words(out) & set(NOT_A_NUMBER), out
    prod = k[k["kpi"] == "Production"]["value"].tolist()
    finite = bool(prod) and prod[0] is not None and np.isfinite(prod[0])
    if finite:
        assert f"{prod[0]:,.0f} BOE/d" in text
    else:
        assert f"is {NOT_REPORTED}" in text
    missing_tiles = sum(1 for v in k["value"] if v is None or not np.isfinite(v))
    assert tiles.count(f">{NOT_REPORTED}<") == missing_tiles


def test_the_report_notebook_renders_a_warehouse_full_of_values_that_are_not_numbers(built, tmp_path):
    """Non-finite and missing numbers in every mart the report reads, and empty tables: the real report
    notebook runs, the page says "not reported", the workbook leaves those cells empty (never 0)."""
    import shutil

    from basinlab import runner
    from basinlab.report import notebook_to_html

    path = tmp_path / "w.duckdb"
    shutil.copy(built / "w.duckdb", path)
    c = warehouse.connect(path)
    m = f"date '{MONTH}-01'"
    c.execute(f"""update marts.mart_kpis_monthly set boe_per_day_cal = 'nan'::double, oil_bbl = 'inf'::double,
                  loe_per_boe_usd = '-inf'::double, noi_usd = null, netback_per_boe_usd = 'nan'::double,
                  revenue_variance_pct = 'inf'::double, reporting_units_per_usd = 'nan'::double where month = {m}""")
    c.execute(f"update marts.mart_kpis_monthly set boe_per_day_cal = 0 where month = {m} - interval 1 month")
    c.execute(f"""update marts.mart_production_monthly set gross_oil_bbl = 'nan'::double, gross_boe = 'inf'::double,
                  gross_boe_per_day_cal = 'nan'::double where production_month = {m}""")
    c.execute("update marts.agg_monthly_financials set loe_per_boe_usd = 'inf'::double, noi_usd = 'nan'::double")
    c.execute("update marts.dim_wells set eur_boe = 'nan'::double, cum_boe = 'inf'::double, remaining_boe = null")
    c.execute("delete from marts.decline_type_curves")
    c.execute("delete from raw.rejected_rows")
    c.close()

    out = tmp_path / "out"
    step = runner.Step("report", "05_report.ipynb", writer=False)
    nb = runner.execute_notebook(step, out, {"month": MONTH, "warehouse": str(path), "data_dir": str(tmp_path),
                                             "output_dir": str(out)})
    html = notebook_to_html(nb, tmp_path / "report.html", title="hostile").read_text()
    body = html[html.index("<body"):]
    assert NOT_REPORTED in body
    for bad in (">nan<", ">inf<", ">-inf<", ">None<", "nan BOE", "inf BOE"):
        assert bad not in body, bad
    wb = openpyxl.load_workbook(out / f"basinlab_{MONTH}.xlsx")
    kpi = {r[0]: r for r in wb["KPIs"].iter_rows(min_row=2, values_only=True)}
    assert kpi["Production"][2] is None and kpi["Oil"][2] is None and kpi["LOE"][2] is None
