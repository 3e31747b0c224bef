"""The chain's decline step on a warehouse: tables with a stable schema, empty or not."""
import duckdb

from basinlab import generate_demo, ingest_inbox, run_models, warehouse
from basinlab.decline.step import FORECAST_TABLE, PARAMS_TABLE, TABLE_SCHEMAS, TYPE_CURVES_TABLE, fit_warehouse


def _columns(con, table):
    schema, name = table.split(".")
    return {r[0]: r[1].lower() for r in con.execute(
        "select column_name, data_type from information_schema.columns where table_schema = ? and table_name = ?",
        [schema, name]).fetchall()}


def test_empty_warehouse_gets_typed_empty_tables(tmp_path):
    con = warehouse.connect(tmp_path / "w.duckdb")
    warehouse.migrate(con)
    run_models(con, run_id="r")
    res = fit_warehouse(con, run_id="r")
    assert res.params.empty
    for table in (PARAMS_TABLE, FORECAST_TABLE, TYPE_CURVES_TABLE):
        cols = _columns(con, table)
        assert con.execute(f"select count(*) from {table}").fetchone()[0] == 0
        assert cols["well_id" if table != TYPE_CURVES_TABLE else "group"] == "varchar"
    assert _columns(con, FORECAST_TABLE)["month"] == "date"


def test_step_on_demo_data_fills_dim_wells_reserves(tmp_path):
    generate_demo(tmp_path / "inbox", wells=10, months=24, end_month="2024-06", seed=5)
    con = warehouse.connect(tmp_path / "w.duckdb")
    warehouse.migrate(con)
    ingest_inbox(con, tmp_path / "inbox", "b1")
    run_models(con, run_id="r")
    res = fit_warehouse(con, run_id="r")
    assert set(_columns(con, PARAMS_TABLE)) >= set(TABLE_SCHEMAS[PARAMS_TABLE])
    # EUR in dim_wells = the params' eur for every well with an oil forecast
    rows = con.execute("""select w.well_id, w.oil_eur_bbl, p.eur from marts.dim_wells w
                          join marts.decline_params p on p.well_id = w.well_id and p.phase = 'oil'
                          where p.status in ('fitted', 'analog')""").fetchall()
    assert rows and all(abs(a - b) < 1e-6 * max(1.0, b) for _, a, b in rows)
    # forecast volumes of each fitted well-phase sum to its remaining reserves
    diff = con.execute("""select max(abs(f.v - p.remaining) / greatest(p.remaining, 1)) from
                          (select well_id, phase, sum(volume) as v from marts.decline_forecast group by all) f
                          join marts.decline_params p using (well_id, phase)""").fetchone()[0]
    assert diff < 1e-9
    assert len(res.type_curves)
    con.close()


def test_eur_boe_counts_an_unforecast_phase_at_its_cumulative(tmp_path):
    con = warehouse.connect(tmp_path / "w.duckdb")
    warehouse.migrate(con)
    run_models(con, run_id="r")
    con.execute("delete from marts.decline_params")
    con.execute("""insert into marts.decline_params (well_id, phase, model, status, cum_to_date, remaining, eur)
                   values ('W1', 'oil', 'modified_hyperbolic', 'fitted', 1000, 500, 1500),
                          ('W1', 'gas', 'modified_hyperbolic', 'no_decline', 6000, null, null),
                          ('W2', 'oil', 'modified_hyperbolic', 'no_production', 0, null, null),
                          ('W2', 'gas', 'modified_hyperbolic', 'fitted', 600, 1200, 1800)""")
    run_models(con, run_id="r", select="int_well_reserves")
    rows = dict((w, (e, r)) for w, e, r in con.execute(
        "select well_id, eur_boe, remaining_boe from marts.int_well_reserves").fetchall())
    assert rows["W1"] == (1500 + 6000 / 6, 500)      # gas at its cumulative, nothing remaining
    assert rows["W2"] == (0 + 1800 / 6, 1200 / 6)
    con.close()
