"""Memory bounded by configuration, not by data: the chain's SQL steps succeed under a DuckDB
memory limit smaller than the data they read (DuckDB spills to its temp directory).

No timings: the test asserts that a small ``BASINLAB_MEMORY_LIMIT`` is in force, that the data
is larger than it, and that ingest, transform (full, then incremental) and the decline step finish
with complete results.
"""
from __future__ import annotations

import pytest

from basinlab import config, ingest, transform, warehouse
from basinlab.decline.step import fit_warehouse
from basinlab.demo import generate_demo

LIMIT_MB = 64
WELLS = 400


@pytest.fixture
def small_memory(monkeypatch):
    monkeypatch.setenv(config.ENV_MEMORY_LIMIT, f"{LIMIT_MB}MB")
    monkeypatch.setenv(config.ENV_THREADS, "1")   # DuckDB wants tens of MB per thread: 64 MB is one thread's worth


def test_the_chain_runs_under_a_memory_limit_smaller_than_its_data(tmp_path, small_memory):
    generate_demo(tmp_path / "inbox", wells=WELLS, months=120, end_month="2024-06", seed=11, bad_rows=False)
    db = tmp_path / "w.duckdb"
    con = warehouse.connect(db)
    try:
        limit = con.execute("select current_setting('memory_limit')").fetchone()[0]
        assert config.parse_size(limit.replace(" ", ""), "memory_limit") <= LIMIT_MB << 20
        warehouse.migrate(con)
        ingest.ingest_inbox(con, tmp_path / "inbox", "big", month="2024-06").raise_for_failures()
        gl = con.sql("select * from raw.gl_records").to_arrow_table()    # the rows, uncompressed
        gl_rows, gl_bytes = gl.num_rows, gl.nbytes
        del gl
        assert gl_bytes > LIMIT_MB << 20, f"the data must outgrow the limit ({gl_bytes} bytes)"
        transform.run_models(con, column_lineage=False, full_refresh=True)
        assert con.execute("select count(*) from staging.stg_gl_lines").fetchone()[0] == gl_rows
        wells = con.execute("select count(distinct well_id) from staging.stg_production").fetchone()[0]
        assert wells == WELLS
        res = fit_warehouse(con, ml_trendlines=False, lookback=False, batch_wells=100)
        assert res.wells == wells
        assert con.execute("select count(*) from marts.decline_params").fetchone()[0] == 3 * wells
        assert con.execute("select count(distinct well_id) from marts.dim_wells").fetchone()[0] == wells
    finally:
        con.close()


def test_a_file_that_outgrows_the_limit_fails_naming_the_limit_not_a_side_effect(tmp_path, monkeypatch):
    """Under a limit too small to read a file at all, the file fails with DuckDB's out-of-memory cause,
    the limit in force and what to change — not the "transaction aborted" a clean-up would raise after
    it — and nothing of it reaches raw."""
    generate_demo(tmp_path / "inbox", wells=WELLS, months=120, end_month="2024-06", seed=11, bad_rows=False)
    monkeypatch.setenv(config.ENV_MEMORY_LIMIT, "20MB")
    monkeypatch.setenv(config.ENV_THREADS, "1")
    con = warehouse.connect(tmp_path / "w.duckdb")
    try:
        warehouse.migrate(con)
        gl = next((tmp_path / "inbox" / "gl").glob("*.csv"))
        res = ingest.ingest_file(con, gl, "gl", "tight", rel_name=f"gl/{gl.name}", month="2024-06")
        assert res.status == "failed"
        assert "ran out of memory" in res.error and config.ENV_MEMORY_LIMIT in res.error, res.error
        assert "transaction" not in res.error.lower(), res.error
        assert con.execute("select count(*) from raw.gl_records").fetchone()[0] == 0
        assert res.rows_read == res.rows_loaded + res.rows_rejected == 0
    finally:
        con.close()
