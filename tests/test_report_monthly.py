"""The monthly report's content, checked against the source files (not against the marts)."""
import csv

import duckdb
import openpyxl
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
