"""The SQL model runner and the calculations, each on a small hand-made warehouse.

Expected values are derived by hand in the comments, never read back from the models.
"""
from __future__ import annotations

import textwrap
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from basinlab import transform
from basinlab.transform import CycleError, MissingReferenceError, ModelError, load_project, run_models
from fixtures_sql import add_file, fx, gl, header, new_warehouse, price, prod, supersede

# Constants pinned for hand-derived revenue: no NGL, gas at 100 % of Henry Hub x 1 MMBtu/mcf.
PLAIN_PRICING = {
    "gas_price_fraction_of_henry_hub": 1.0,
    "ngl_yield_bbl_per_mmcf": 0.0,
    "gas_heating_value_mmbtu_per_mcf": 1.0,
    "reporting_currency": "CAD",
}


@pytest.fixture(scope="module")
def project():
    return load_project()


@pytest.fixture()
def con():
    c = new_warehouse()
    yield c
    c.close()


def rows(con, sql, params=None):
    cur = con.execute(sql, params or [])
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r)) for r in cur.fetchall()]


def one(con, sql, params=None):
    r = rows(con, sql, params)
    assert len(r) == 1, r
    return r[0]


# --------------------------------------------------------------------------- calculations


def test_cumulative_carries_through_shut_in_and_missing_months(con, project):
    add_file(con, "well_header", [header("W1")])
    add_file(con, "well_production", [
        prod("W1", "2024-01", oil=100, gas=60, water=10, days_on=31),
        prod("W1", "2024-02", oil=0, gas=0, water=0, days_on=0),      # shut in
        # 2024-03 not reported at all
        prod("W1", "2024-04", oil=50, gas=120, water=5, days_on=30),
    ])
    run_models(con, project=project)
    got = rows(con, "select production_month, is_reported, oil_bbl, cum_oil_bbl, cum_gas_mcf, cum_water_bbl, cum_boe "
                    "from marts.int_production_cumulative where well_id = 'W1' order by production_month")
    assert [r["production_month"] for r in got] == [date(2024, m, 1) for m in (1, 2, 3, 4)]
    assert [r["is_reported"] for r in got] == [True, True, False, True]
    assert [r["cum_oil_bbl"] for r in got] == [100, 100, 100, 150]
    assert [r["cum_gas_mcf"] for r in got] == [60, 60, 60, 180]
    assert [r["cum_water_bbl"] for r in got] == [10, 10, 10, 15]
    # BOE = oil + gas/6: Jan 100 + 10 = 110; Apr 50 + 20 = 70 -> 180
    assert got[-1]["cum_boe"] == pytest.approx(180.0)
    dim = one(con, "select * from marts.dim_wells where well_id = 'W1'")
    assert dim["cum_oil_bbl"] == 150 and dim["months_producing"] == 2
    assert dim["first_production_month"] == date(2024, 1, 1)
    assert dim["last_production_month"] == date(2024, 4, 1)


def test_moving_average_at_series_start(con, project):
    add_file(con, "well_header", [header("W1")])
    # calendar-day oil rates: Jan 310/31 = 10, Feb 580/29 = 20 (2024 is a leap year), Mar 930/31 = 30, Apr 0
    add_file(con, "well_production", [
        prod("W1", "2024-01", oil=310, days_on=31),
        prod("W1", "2024-02", oil=580, days_on=29),
        prod("W1", "2024-03", oil=930, days_on=31),
        prod("W1", "2024-04", oil=0, days_on=0),
    ])
    run_models(con, project=project)
    got = rows(con, "select oil_rate_bbl_per_day_cal_ma3 as ma3, months_in_window_3 as n3, "
                    "oil_rate_bbl_per_day_cal_ma12 as ma12, months_in_window_12 as n12 "
                    "from marts.int_production_moving_avg where well_id = 'W1' order by production_month")
    assert [r["n3"] for r in got] == [1, 2, 3, 3]
    assert [r["ma3"] for r in got] == pytest.approx([10.0, 15.0, 20.0, (20 + 30 + 0) / 3])
    assert [r["n12"] for r in got] == [1, 2, 3, 4]
    assert got[-1]["ma12"] == pytest.approx((10 + 20 + 30 + 0) / 4)


def test_calendar_vs_producing_day_rates_in_partial_month(con, project):
    add_file(con, "well_header", [header("W1")])
    add_file(con, "well_production", [
        prod("W1", "2024-04", oil=300, gas=900, water=60, days_on=15),  # April: 30 calendar days
        prod("W1", "2024-05", oil=0, gas=0, water=0, days_on=0),
    ])
    run_models(con, project=project)
    apr = one(con, "select * from staging.stg_production where production_month = '2024-04-01'")
    assert apr["days_in_month"] == 30
    assert apr["oil_rate_bbl_per_day_cal"] == pytest.approx(10.0)          # 300 / 30
    assert apr["oil_rate_bbl_per_producing_day"] == pytest.approx(20.0)    # 300 / 15
    assert apr["gas_rate_mcf_per_producing_day"] == pytest.approx(60.0)    # 900 / 15
    assert apr["boe"] == pytest.approx(450.0)                              # 300 + 900/6
    assert apr["boe_rate_per_producing_day"] == pytest.approx(30.0)
    may = one(con, "select * from staging.stg_production where production_month = '2024-05-01'")
    assert may["oil_rate_bbl_per_producing_day"] is None                   # days_on = 0
    assert may["oil_rate_bbl_per_day_cal"] == 0


def test_dedup_newer_file_version_wins_and_superseded_rows_are_ignored(con, project):
    add_file(con, "well_header", [header("W1"), header("W2")])
    v1 = add_file(con, "well_production", [
        prod("W1", "2024-01", oil=100, days_on=31),
        prod("W1", "2024-02", oil=999, days_on=29),     # only in the superseded version
    ], file_name="well_production/prod.csv", version=1)
    v2 = add_file(con, "well_production", [
        prod("W1", "2024-01", oil=120, days_on=31),
    ], file_name="well_production/prod.csv", version=2)
    supersede(con, v1, v2)
    # a later, different file repeats a key twice: its last row wins
    add_file(con, "well_production", [
        prod("W2", "2024-01", oil=10, days_on=31),
        prod("W2", "2024-01", oil=11, days_on=31),
    ], file_name="well_production/late.csv")
    run_models(con, project=project)
    got = rows(con, "select well_id, production_month, oil_bbl, _source_file, _source_row "
                    "from staging.stg_production order by well_id, production_month")
    assert [(r["well_id"], r["oil_bbl"]) for r in got] == [("W1", 120), ("W2", 11)]
    assert got[0]["_source_file"] == "well_production/prod.csv"
    assert got[1]["_source_row"] == 3
    total = one(con, "select sum(gross_oil_bbl) as oil from marts.mart_production_monthly where level = 'basin'")
    assert total["oil"] == 131


def test_revenue_with_nri_differential_and_fx(con, project):
    add_file(con, "well_header", [header("W1", basin="Midland", wi=1.0, nri=0.8),
                                  header("W2", basin="Nowhere", wi=0.5, nri=0.4)])
    add_file(con, "well_production", [
        prod("W1", "2024-01", oil=100, gas=600, days_on=31),
        prod("W2", "2024-01", oil=10, gas=0, days_on=31),
    ])
    add_file(con, "price_deck", [price("2024-01", "WTI", 80.0), price("2024-01", "HENRY_HUB", 3.0)])
    add_file(con, "currency_rates", [fx("2024-01", "CAD", 1.35), fx("2024-01", "EUR", 0.9)])
    run_models(con, project=project, settings=PLAIN_PRICING)
    w1 = one(con, "select * from marts.mart_revenue where well_id = 'W1'")
    # Midland differential (V002) = 2.00 -> oil 78 USD/bbl; gas 3.00 USD/MMBtu x 1 MMBtu/mcf = 3 USD/mcf
    assert w1["oil_price_usd_per_bbl"] == pytest.approx(78.0)
    assert w1["gross_revenue_usd"] == pytest.approx(100 * 78 + 600 * 3)     # 9 600
    assert w1["net_revenue_usd"] == pytest.approx(9600 * 0.8)               # 7 680
    assert w1["reporting_currency"] == "CAD"
    assert w1["net_revenue_reporting"] == pytest.approx(7680 * 1.35)        # 10 368
    # a basin without a differential row uses the default differential (0.0)
    w2 = one(con, "select * from marts.mart_revenue where well_id = 'W2'")
    assert w2["net_revenue_usd"] == pytest.approx(10 * 80 * 0.4)
    # switch the reporting currency
    run_models(con, project=project, settings={"reporting_currency": "eur"})
    w1 = one(con, "select * from marts.mart_revenue where well_id = 'W1'")
    assert w1["reporting_currency"] == "EUR"
    assert w1["net_revenue_reporting"] == pytest.approx(7680 * 0.9)


def test_revenue_ngl_and_gas_realisation_defaults(con, project):
    add_file(con, "well_header", [header("W1", basin="Williston", nri=0.5)])
    add_file(con, "well_production", [prod("W1", "2024-01", oil=0, gas=1000, days_on=31)])
    add_file(con, "price_deck", [price("2024-01", "WTI", 70.0), price("2024-01", "HENRY_HUB", 2.0)])
    run_models(con, project=project)
    r = one(con, "select * from marts.mart_revenue")
    # gas 1000 mcf x 2.0 x 1.0 x 0.85 = 1700; NGL 1000 x 80/1000 = 80 bbl x 70 x 0.30 = 1680
    assert r["ngl_bbl"] == pytest.approx(80.0)
    assert r["gross_gas_revenue_usd"] == pytest.approx(1700.0)
    assert r["gross_ngl_revenue_usd"] == pytest.approx(1680.0)
    assert r["net_revenue_usd"] == pytest.approx((1700 + 1680) * 0.5)


def test_loe_per_boe_net_of_jib_recovery_and_variance(con, project):
    add_file(con, "well_header", [header("W1", wi=0.75, nri=0.6)])
    add_file(con, "well_production", [prod("W1", "2024-03", oil=300, gas=600, days_on=31)])
    add_file(con, "price_deck", [price("2024-03", "WTI", 50.0), price("2024-03", "HENRY_HUB", 2.0)])
    add_file(con, "gl_records", [
        # revenue booked net: calculated = (300 x 50 + 600 x 2) x 0.6 = 9 720; booked 10 000
        gl("R1", 1, "2024-03-31", "1200", debit=10000),
        gl("R1", 2, "2024-03-31", "4000", credit=10000, well_id="W1"),
        # gross LOE 1 000 and G&T 200; partners billed 25 % = 300 through JIB
        gl("C1", 1, "2024-03-25", "5000", debit=1000, well_id="W1"),
        gl("C1", 2, "2024-03-25", "5300", debit=200, well_id="W1"),
        gl("C1", 3, "2024-03-25", "2000", credit=1200),
        gl("J1", 1, "2024-03-31", "1210", debit=300, well_id="W1", partner_id="P1"),
        gl("J1", 2, "2024-03-31", "5900", credit=300, well_id="W1", partner_id="P1"),
        # severance 500, G&A 400 with no well
        gl("S1", 1, "2024-03-31", "5200", debit=500, well_id="W1"),
        gl("S1", 2, "2024-03-31", "2100", credit=500),
        gl("G1", 1, "2024-03-25", "6000", debit=400),
        gl("G1", 2, "2024-03-25", "1100", credit=400),
    ])
    run_models(con, project=project, settings=PLAIN_PRICING)
    w = one(con, "select * from marts.agg_monthly_financials where level = 'well' and key = 'W1'")
    # net cost = gross - 5900, split pro rata: LOE 1000 - 300 x 1000/1200 = 750; G&T 200 - 50 = 150
    assert w["loe_net_usd"] == pytest.approx(750.0)
    assert w["gathering_transport_net_usd"] == pytest.approx(150.0)
    # net WI BOE = (300 + 600/6) x 0.75 = 300 -> LOE/BOE = 2.50
    assert w["net_wi_boe"] == pytest.approx(300.0)
    assert w["loe_per_boe_usd"] == pytest.approx(2.5)
    # NOI = 10 000 - 750 - 0 - 500 - 150 = 8 600 -> netback 8 600 / 300
    assert w["noi_usd"] == pytest.approx(8600.0)
    assert w["netback_per_boe_usd"] == pytest.approx(8600 / 300)
    assert w["revenue_calculated_usd"] == pytest.approx(9720.0)
    assert w["revenue_variance_usd"] == pytest.approx(280.0)
    assert w["revenue_variance_pct"] == pytest.approx(100 * 280 / 9720)
    # G&A stays in the CORPORATE bucket, not on the well
    assert w["g_and_a_usd"] == 0
    corp = one(con, "select * from marts.agg_monthly_financials where level = 'field' and key = 'CORPORATE'")
    assert corp["g_and_a_usd"] == pytest.approx(400.0)
    k = one(con, "select * from marts.mart_kpis_monthly")
    assert k["g_and_a_usd"] == pytest.approx(400.0) and k["loe_per_boe_usd"] == pytest.approx(2.5)
    jib = one(con, "select * from marts.agg_jib_summary")
    assert (jib["partner_id"], jib["opex_billed_usd"], jib["receivable_billed_usd"]) == ("P1", 300, 300)


def test_gl_classification_and_signed_amounts(con, project):
    add_file(con, "gl_records", [
        gl("A", 1, "2024-02-29", "4010", credit=50, well_id="W1"),
        gl("A", 2, "2024-02-29", "1200", debit=50),
        gl("B", 1, "2024-02-10", "1500", debit=1000, currency="CAD", afe="AFE-1"),
        gl("B", 2, "2024-02-10", "1590", credit=1000, currency="CAD"),
    ])
    add_file(con, "currency_rates", [fx("2024-01", "CAD", 1.25)])   # February carries January's rate
    run_models(con, project=project)
    got = {(r["journal_id"], r["line_number"]): r for r in rows(con, "select * from marts.fct_gl_transactions")}
    a1 = got[("A", 1)]
    assert (a1["account_class"], a1["fiscal_year"], a1["fiscal_period"], a1["fiscal_month"]) == \
        ("revenue", 2024, 2, "2024-02")
    assert a1["net_amount"] == -50 and a1["signed_amount"] == 50
    b1, b2 = got[("B", 1)], got[("B", 2)]
    assert b1["account_class"] == "capex" and b2["account_class"] == "jib_recovery"
    assert b1["net_amount_usd"] == pytest.approx(1000 / 1.25)
    assert got[("A", 2)]["account_class"] == "balance_sheet"


def test_dim_wells_status_and_reserves_after_decline(con, project):
    add_file(con, "well_header", [header("P"), header("S"), header("N"), header("I", well_type="injector")])
    add_file(con, "well_production", [
        prod("P", "2024-01", oil=10), prod("P", "2024-06", oil=10),
        prod("S", "2024-01", oil=10), prod("S", "2024-03", oil=10), prod("S", "2024-04", oil=0),
        prod("N", "2024-06", oil=0),
    ])
    run_models(con, project=project)
    status = {r["well_id"]: r["status"] for r in rows(con, "select well_id, status from marts.dim_wells")}
    # data as of 2024-06: S last produced 2024-03, outside Apr..Jun
    assert status == {"P": "producing", "S": "shut_in", "N": "not_yet_producing", "I": "injector"}
    assert one(con, "select oil_eur_bbl from marts.dim_wells where well_id = 'P'")["oil_eur_bbl"] is None

    con.execute("insert into marts.decline_params (well_id, phase, model, status, cum_to_date, remaining, eur) "
                "values ('P', 'oil', 'modified_hyperbolic', 'fitted', 20, 180, 200)")
    con.execute("insert into marts.decline_forecast (well_id, phase, month, rate_per_day, volume, cumulative) "
                "values ('P', 'oil', '2024-07-01', 3, 93, 113), ('P', 'oil', '2024-08-01', 1, 31, 144)")
    res = run_models(con, project=project, select="decline_params+")
    assert {r.model for r in res} == {"int_well_reserves", "int_forecast_moving_avg", "dim_wells"}
    p = one(con, "select * from marts.dim_wells where well_id = 'P'")
    assert (p["oil_eur_bbl"], p["oil_remaining_bbl"]) == (200, 180)
    ma = rows(con, "select rate_per_day_ma3, months_in_window_3 from marts.int_forecast_moving_avg "
                   "order by forecast_month")
    assert [(r["rate_per_day_ma3"], r["months_in_window_3"]) for r in ma] == [(3, 1), (2, 2)]


# --------------------------------------------------------------------------- runner


def write_project(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(text))
    return root


def test_cycle_is_refused_naming_the_models(tmp_path):
    write_project(tmp_path, {
        "staging/a.sql": "select * from staging.b",
        "staging/b.sql": "with x as (select * from staging.a) select * from x",
        "staging/c.sql": "select 1 as one",
    })
    with pytest.raises(CycleError) as e:
        load_project(tmp_path)
    assert "a" in e.value.models and "b" in e.value.models and "c" not in e.value.models
    msg = str(e.value)
    assert "a -> b" in msg or "b -> a" in msg


def test_missing_reference_is_refused_naming_the_model(tmp_path):
    write_project(tmp_path, {"marts/m.sql": "select * from staging.nope"})
    with pytest.raises(MissingReferenceError) as e:
        load_project(tmp_path)
    assert "m" == e.value.model and "staging.nope" in str(e.value) and "m.sql" in str(e.value)

    # a raw./metadata. table is checked against the catalog when the models run
    other = tmp_path / "other"
    write_project(other, {"staging/r.sql": "select * from raw.does_not_exist"})
    proj = load_project(other)
    con = new_warehouse()
    with pytest.raises(MissingReferenceError) as e:
        run_models(con, project=proj)
    assert "r" == e.value.model and "raw.does_not_exist" in str(e.value)


def test_select_downstream_and_upstream(tmp_path):
    write_project(tmp_path, {
        "staging/a.sql": "select 1 as x",
        "intermediate/b.sql": "select * from staging.a",
        "marts/c.sql": "select * from marts.b",
        "marts/d.sql": "select 2 as y",
    })
    proj = load_project(tmp_path)
    assert proj.select("b+") == ["b", "c"]
    assert proj.select("+b") == ["a", "b"]
    assert proj.select("b") == ["b"]
    assert set(proj.select(None)) == {"a", "b", "c", "d"}
    assert proj.models["b"].depends_on == ["staging.a"]
    assert proj.models["b"].schema == "marts" and proj.models["b"].materialization == "table"
    assert proj.models["a"].materialization == "view"
    assert "staging_a --> marts_b" in proj.mermaid()


def test_failing_model_raises_naming_model_and_file(tmp_path):
    write_project(tmp_path, {
        "staging/good.sql": "select 1 as x",
        "marts/bad.sql": "select cast('not a number' as integer) as x from staging.good",
    })
    proj = load_project(tmp_path)
    con = new_warehouse()
    with pytest.raises(ModelError) as e:
        run_models(con, run_id="r-fail", project=proj)
    assert e.value.model == "bad" and e.value.path.endswith("bad.sql")
    assert "bad" in str(e.value) and "bad.sql" in str(e.value) and "Conversion" in str(e.value)
    recorded = {r[0]: (r[1], r[2]) for r in con.execute(
        "select model, status, error from metadata.model_runs where run_id = 'r-fail'").fetchall()}
    assert recorded["good"][0] == "success"
    assert recorded["bad"][0] == "error" and "Conversion" in recorded["bad"][1]


def test_missing_external_source_skips_downstream(tmp_path):
    write_project(tmp_path, {
        "intermediate/_intermediate.yml": """
            sources:
              - name: marts
                tables: [{name: not_written_yet}]
            models:
              - name: uses_ext
                config: {materialized: view}
        """,
        "intermediate/uses_ext.sql": "select * from marts.not_written_yet",
        "marts/after.sql": "select * from marts.uses_ext",
        "marts/independent.sql": "select 1 as x",
    })
    proj = load_project(tmp_path)
    assert proj.models["uses_ext"].materialization == "view"
    con = new_warehouse()
    res = {r.model: r for r in run_models(con, project=proj)}
    assert res["uses_ext"].status == "skipped" and "marts.not_written_yet" in res["uses_ext"].error
    assert res["after"].status == "skipped" and "uses_ext" in res["after"].error
    assert res["independent"].status == "success"
    assert proj.select("not_written_yet+") == ["uses_ext", "after"]


def test_lineage_and_model_runs_recorded(con, project):
    add_file(con, "well_header", [header("W1")])
    add_file(con, "well_production", [prod("W1", "2024-01", oil=1, days_on=1)])
    res = run_models(con, run_id="r-lin", project=project)
    assert all(r.status == "success" for r in res)
    n_runs = con.execute("select count(*) from metadata.model_runs where run_id = 'r-lin'").fetchone()[0]
    assert n_runs == len(project.models)
    tables = {r[0] for r in con.execute(
        "select source_table from metadata.data_lineage where run_id = 'r-lin' "
        "and model = 'marts.mart_revenue' and column_name is null").fetchall()}
    assert {"marts.int_production_cumulative", "staging.stg_well_header", "marts.int_price_fx_monthly"} <= tables
    cols = set(con.execute(
        "select column_name, source_table, source_column from metadata.data_lineage where run_id = 'r-lin' "
        "and column_name is not null").fetchall())
    assert ("oil_bbl", "raw.well_production", "oil_bbl") in cols          # staging.stg_production.oil_bbl
    assert ("cum_oil_bbl", "staging.stg_production", "oil_bbl") in cols   # int_production_cumulative


def test_project_dag_is_derived_from_sql(project):
    m = project.models
    assert "staging.stg_production" in m["int_production_cumulative"].depends_on
    assert "marts.decline_params" in m["int_well_reserves"].depends_on
    order = project.order
    assert order.index("stg_production") < order.index("int_production_cumulative") < order.index("mart_revenue")
    assert order.index("mart_revenue") < order.index("agg_monthly_financials") < order.index("mart_kpis_monthly")
    # the decline step's rebuild stays small
    assert set(project.select("decline_params+")) == {"int_well_reserves", "int_forecast_moving_avg", "dim_wells"}


def test_settings_are_validated(con):
    with pytest.raises(ValueError):
        transform.apply_settings(con, {"reporting_currency": "dollars"})
    with pytest.raises(ValueError):
        transform.apply_settings(con, {"no_such_setting": 1})


def test_unqualified_reference_is_refused_with_a_hint(tmp_path):
    write_project(tmp_path, {"staging/a.sql": "select 1 as x", "marts/b.sql": "select x + 1 as y from a"})
    with pytest.raises(MissingReferenceError, match=r"b\.sql.*did you mean staging\.a"):
        load_project(tmp_path)


def test_materialization_switch(tmp_path):
    write_project(tmp_path, {"staging/a.sql": "select 1 as x", "marts/b.sql": "select x + 1 as y from staging.a"})
    proj = load_project(tmp_path)
    con = new_warehouse()
    run_models(con, project=proj)
    table_type = "select table_type from information_schema.tables where table_name = 'a'"
    assert con.execute(table_type).fetchone()[0] == "VIEW"
    (tmp_path / "staging" / "_staging.yml").write_text("models:\n  - name: a\n    config: {materialized: table}\n")
    proj = load_project(tmp_path)
    res = run_models(con, project=proj)
    assert [r.status for r in res] == ["success", "success"]
    assert con.execute(table_type).fetchone()[0] == "BASE TABLE"
    assert con.execute("select y from marts.b").fetchone()[0] == 2


def test_yml_for_a_missing_model_is_an_error(tmp_path):
    write_project(tmp_path, {"staging/_staging.yml": "models:\n  - name: ghost\n", "staging/a.sql": "select 1 as x"})
    with pytest.raises(transform.ProjectError, match="ghost"):
        load_project(tmp_path)


def test_run_order_is_the_same_in_every_process():
    """Dependency order with ties broken by name, whatever the hash seed of the process."""
    import os
    import subprocess
    import sys

    code = "from basinlab.transform import load_project; print(','.join(load_project().order))"
    orders = {subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONHASHSEED": str(seed)},
                             capture_output=True, text=True, check=True).stdout.strip() for seed in (0, 1, 2, 3)}
    assert len(orders) == 1
    order = orders.pop().split(",")
    project = load_project()
    for i, name in enumerate(order):
        assert set(project.upstream_models(name)) <= set(order[:i]), name


# --------------------------------------------------------------------------- FX of GL lines (generated)

_MONTHS = [date(2023, m, 1) for m in range(1, 13)] + [date(2024, m, 1) for m in range(1, 7)]


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rates=st.dictionaries(st.sampled_from(["CAD", "EUR"]),
                          st.dictionaries(st.sampled_from(_MONTHS), st.floats(0.5, 2.0), max_size=6),
                          max_size=2),
    lines=st.lists(st.tuples(st.sampled_from(_MONTHS), st.integers(1, 28),
                             st.sampled_from(["USD", "CAD", "EUR", "NOK", "cad "])),
                   min_size=1, max_size=25),
)
def test_gl_line_converts_at_the_latest_rate_at_or_before_its_month(project, rates, lines):
    """A line's units_per_usd is its currency's rate for the latest rate month at or before the
    line's month (USD 1; before the first rate, or a currency without rates: null), whatever the
    gaps in the rate months and wherever the lines fall relative to them."""
    con = new_warehouse()
    try:
        add_file(con, "currency_rates", [fx(f"{m:%Y-%m}", cur, r) for cur, by in rates.items() for m, r in by.items()])
        add_file(con, "gl_records", [gl("J1", i + 1, f"{m:%Y-%m}-{d:02d}", "5000", debit=100.0, currency=cur)
                                     for i, (m, d, cur) in enumerate(lines)])
        run_models(con, project=project, select="+fct_gl_transactions")
        got = dict(con.execute("select line_number, units_per_usd from marts.fct_gl_transactions").fetchall())
    finally:
        con.close()
    for i, (m, _d, cur) in enumerate(lines):
        cur = cur.strip().upper()
        earlier = [mm for mm in rates.get(cur, {}) if mm <= m]
        want = 1.0 if cur == "USD" else (rates[cur][max(earlier)] if earlier else None)
        assert got[i + 1] == (pytest.approx(want) if want is not None else None), (m, cur, rates)


_ACCOUNTS = ["4000", "4010", "4020", "5000", "5100", "5200", "5300", "6000", "1500", "1590", "5900",
             "1200", "2100", "3000", "9999"]
_CLASS_COLUMNS = ["revenue_booked_usd", "loe_gross_usd", "workover_gross_usd", "severance_tax_usd",
                  "gathering_transport_gross_usd", "g_and_a_usd", "capex_gross_usd", "capex_jib_recovery_usd",
                  "opex_jib_recovery_usd"]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rates=st.dictionaries(st.sampled_from(["CAD", "EUR"]),
                          st.dictionaries(st.sampled_from(_MONTHS), st.floats(0.5, 2.0), max_size=4),
                          max_size=2),
    lines=st.lists(st.tuples(st.sampled_from(_MONTHS[-4:]), st.sampled_from(["W1", "W2", None, "CORPORATE"]),
                             st.sampled_from(_ACCOUNTS), st.booleans(),
                             st.decimals(min_value=0, max_value=10**9, places=2, allow_nan=False),
                             st.sampled_from(["USD", "CAD", "EUR", "NOK"])),
                   min_size=1, max_size=30),
)
def test_gl_well_month_sums_what_each_line_converted_sums(project, rates, lines):
    """int_gl_well_month gives, per well and month, what summing fct_gl_transactions' converted lines
    gives: every account class, both JIB recoveries, lines without a well, a well named CORPORATE,
    currencies without a rate (their lines drop out of both)."""
    con = new_warehouse()
    try:
        add_file(con, "currency_rates", [fx(f"{m:%Y-%m}", cur, r) for cur, by in rates.items() for m, r in by.items()])
        add_file(con, "gl_records", [
            gl("J1", i + 1, f"{m:%Y-%m}-15", acct, debit=float(amount) if is_debit else 0.0,
               credit=0.0 if is_debit else float(amount), well_id=well, currency=cur)
            for i, (m, well, acct, is_debit, amount, cur) in enumerate(lines)])
        run_models(con, project=project, select="+int_gl_well_month +fct_gl_transactions")
        sums = ", ".join(f"sum(signed_amount_usd) filter (where {cond}) as {col}" for col, cond in zip(_CLASS_COLUMNS, [
            "account_class = 'revenue'", "account_class = 'loe'", "account_class = 'workover'",
            "account_class = 'severance_tax'", "account_class = 'gathering_transport'", "account_class = 'g_and_a'",
            "account_class = 'capex'", "account_code = '1590'", "account_code = '5900'"], strict=True))
        want = {(r[0], r[1]): r[2:] for r in con.execute(
            f"select well_id, accounting_month, {sums} from marts.fct_gl_transactions "
            "where account_class <> 'balance_sheet' group by all").fetchall()}
        got = {(r[0], r[1]): r[2:] for r in con.execute(
            f"select well_id, month, {', '.join(_CLASS_COLUMNS)} from marts.int_gl_well_month").fetchall()}
    finally:
        con.close()
    assert got.keys() == want.keys()
    for key, values in want.items():
        for col, w, g in zip(_CLASS_COLUMNS, values, got[key], strict=True):
            assert (g is None) == (w is None), (key, col, w, g)
            if w is not None:
                assert g == pytest.approx(w, rel=1e-9, abs=1e-6), (key, col)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rates=st.dictionaries(st.sampled_from(["CAD"]), st.dictionaries(st.sampled_from(_MONTHS[-3:]),
                                                                    st.floats(0.5, 2.0), max_size=2), max_size=1),
    lines=st.lists(st.tuples(st.sampled_from(["J1", "J2", "J3", "J4"]), st.sampled_from(_MONTHS[-2:]),
                             st.sampled_from(["P1", "P2", None, None]),
                             st.sampled_from(["5900", "1590", "1210", "5000"]),
                             st.booleans(), st.integers(1, 10**6), st.sampled_from(["USD", "USD", "CAD"])),
                   min_size=1, max_size=25),
)
def test_jib_summary_bills_each_partner_its_journals_lines(project, rates, lines):
    """agg_jib_summary, per partner and month: the JIB journals (those with a partner line), each line
    billed to its own partner, else its journal's only partner, else UNASSIGNED; 5900/1590 credit -
    debit and 1210 debit - credit at the line's USD rate (fct_gl_transactions' conversion); lines of
    journals without any partner are not billed; a line without a rate drops out of the sums."""
    con = new_warehouse()
    try:
        add_file(con, "currency_rates", [fx(f"{m:%Y-%m}", cur, r) for cur, by in rates.items() for m, r in by.items()])
        add_file(con, "gl_records", [
            gl(j, i + 1, f"{m:%Y-%m}-10", acct, debit=amount / 100 if is_debit else 0.0,
               credit=0.0 if is_debit else amount / 100, partner_id=partner, currency=cur)
            for i, (j, m, partner, acct, is_debit, amount, cur) in enumerate(lines)])
        run_models(con, project=project, select="+agg_jib_summary +fct_gl_transactions")
        got = {(r[0], r[1]): r[2:] for r in con.execute(
            "select partner_id, month, journal_count, opex_billed_usd, capex_billed_usd, total_billed_usd, "
            "receivable_billed_usd from marts.agg_jib_summary").fetchall()}
        fct = con.execute("select journal_id, partner_id, accounting_month, account_code, signed_amount_usd, "
                          "net_amount_usd from marts.fct_gl_transactions").fetchall()
    finally:
        con.close()
    partners: dict[str, set] = {}
    for journal, partner, *_ in fct:
        if partner is not None:
            partners.setdefault(journal, set()).add(partner)
    want: dict = {}
    for journal, partner, month, acct, signed_usd, net_usd in fct:
        if journal not in partners:
            continue
        only = partners[journal]
        billed_to = partner or (next(iter(only)) if len(only) == 1 else "UNASSIGNED")
        w = want.setdefault((billed_to, month), {"journals": set(), "opex": 0.0, "capex": 0.0, "receivable": 0.0})
        w["journals"].add(journal)
        if acct == "5900" and signed_usd is not None:
            w["opex"] += signed_usd
        if acct == "1590" and signed_usd is not None:
            w["capex"] += signed_usd
        if acct == "1210" and net_usd is not None:
            w["receivable"] += net_usd
    assert got.keys() == want.keys()
    for key, w in want.items():
        count, opex, capex, total, receivable = got[key]
        assert count == len(w["journals"]), key
        assert (opex, capex, total, receivable) == pytest.approx(
            (w["opex"], w["capex"], w["opex"] + w["capex"], w["receivable"]), rel=1e-9, abs=1e-6), key


# --------------------------------------------------------------------------- staging dedup (generated)

_T_BASE = datetime(2024, 7, 1)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(files=st.lists(
    st.tuples(
        st.lists(st.tuples(st.sampled_from(["W1", "W2", " W1", "W3 "]), st.sampled_from(["2024-01", "2024-02"]),
                           st.floats(0, 1000)), min_size=1, max_size=6),
        st.integers(0, 3),                 # ingested_at, minutes: ties between files happen
        st.sampled_from(["loaded", "loaded", "superseded", "failed"]),
        st.booleans()),                    # ingest proved the keys unique, when they are
    min_size=1, max_size=4))
def test_staging_keeps_the_latest_current_row_per_key(project, files):
    """stg_production holds, per (trimmed well_id, month), the row of a current file that is latest by
    (_ingested_at, _file_id, _source_row) — keys repeated within a file, across files, with ties in
    ingestion time, files that are not current, and files whose keys ingest proved unique (the largest
    of those is never grouped whole) — and nothing else."""
    con = new_warehouse()
    try:
        for rows, minute, status, proved in files:
            keys = [(w.strip(), m) for w, m, _o in rows]
            add_file(con, "well_production", [prod(w, m, oil=o, days_on=1) for w, m, o in rows],
                     status=status, ingested_at=_T_BASE + timedelta(minutes=minute),
                     keys_unique=True if proved and len(set(keys)) == len(keys) else None)
        run_models(con, project=project, select="+stg_production")
        got = sorted(con.execute("select well_id, production_month, _file_id, _source_row "
                                 "from staging.stg_production").fetchall())
        current = {r[0] for r in con.execute("select file_id from staging.stg_current_files").fetchall()}
        raw = con.execute("select trim(well_id), production_month, _ingested_at, _file_id, _source_row "
                          "from raw.well_production").fetchall()
    finally:
        con.close()
    best: dict = {}
    for w, m, at, fid, row in raw:
        if fid in current and ((w, m) not in best or (at, fid, row) > best[(w, m)]):
            best[(w, m)] = (at, fid, row)
    assert got == sorted((w, m, fid, row) for (w, m), (_at, fid, row) in best.items())


def _import_ctes_read_twice(sql: str) -> list[tuple[str, bool]]:
    """(name, inlined) of each import CTE of ``sql`` — a bare ``select <columns or *> from <schema>.<table>
    [where …]``, nothing computed — that the query reads more than once."""
    import sqlglot
    from sqlglot import exp

    tree = sqlglot.parse_one(sql, read="duckdb")
    reads: dict[str, int] = {}
    for t in tree.find_all(exp.Table):
        if not t.db:
            reads[t.name] = reads.get(t.name, 0) + 1
    out = []
    for cte in tree.find_all(exp.CTE):
        body = cte.this
        plain = (isinstance(body, exp.Select) and not body.args.get("joins") and not body.args.get("group")
                 and isinstance(body.args.get("from_") or body.args.get("from"), exp.From)
                 and bool((body.args.get("from_") or body.args.get("from")).this.args.get("db"))
                 and all(isinstance(e.unalias(), (exp.Star, exp.Column)) for e in body.expressions))
        if plain and reads.get(cte.alias, 0) > 1:
            out.append((cte.alias, cte.args.get("materialized") is False))
    return out


def test_import_ctes_read_more_than_once_are_not_materialized():
    """DuckDB 2.x copies a CTE the query references twice into a temporary result before reading it: for
    an import CTE (a bare read of a table) that is a copy of the table — 91 M GL lines for
    ``agg_jib_summary`` at 100,000 wells (17-20 s against 3 s inlined). Every model and check that reads
    an import CTE more than once declares it ``not materialized``."""
    from basinlab import config
    from basinlab.quality import sql_checks

    queries = {m.name: m.sql for m in load_project().models.values()}
    queries.update({c.check_name: c.sql for c in sql_checks(config.SQL_DIR / "checks", "2024-06")})
    found = {name: _import_ctes_read_twice(sql) for name, sql in queries.items()}
    assert found["agg_jib_summary"] == [("lines", True)]          # the rule is applied, not vacuous
    assert _import_ctes_read_twice("with a as (select * from s.t) select * from a join a as b using (k)") == \
        [("a", False)]
    materialized = {name: [c for c, inlined in ctes if not inlined] for name, ctes in found.items()}
    assert not {k: v for k, v in materialized.items() if v}, "import CTEs read twice without `not materialized`"
