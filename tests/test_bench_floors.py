"""bench/floors.py: each floor does the work of its step, bare — the same rows, models, checks and fits."""
import importlib.util
from pathlib import Path

import pandas as pd
import pytest

from basinlab import generate_demo, ingest_inbox, quality, run_models, warehouse
from basinlab.decline import fit_wells
from basinlab.decline.engine import clean_production
from basinlab.decline.step import LOOKBACK_WELLS, lookback_sample
from basinlab.transform import load_project

FLOORS_PY = Path(__file__).resolve().parents[1] / "bench" / "floors.py"
MONTH = "2024-06"
WELLS = 8


def _load_floors():
    spec = importlib.util.spec_from_file_location("bench_floors", FLOORS_PY)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


floors = _load_floors()


def _counts(con) -> dict[str, int]:
    project = load_project()
    return {m.relation: con.execute(f"select count(*) from {m.relation}").fetchone()[0]
            for m in project.models.values()}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A demo inbox ingested and transformed as the chain's first run does it (decline tables empty), the
    model row counts of that build, then decline results standing in for the decline step's."""
    root = tmp_path_factory.mktemp("floors")
    generate_demo(root / "inbox", wells=WELLS, months=24, end_month=MONTH, seed=3)
    con = warehouse.connect(root / "warehouse.duckdb")
    warehouse.migrate(con)
    report = ingest_inbox(con, root / "inbox", "b1", month=MONTH)
    run_models(con, run_id="r", column_lineage=False)
    counts = _counts(con)
    wells = [w for (w,) in con.execute("select distinct well_id from staging.stg_production").fetchall()]
    con.executemany("insert into marts.decline_params (well_id, phase, model, status, cum_to_date, remaining, eur) "
                    "values (?, 'oil', 'modified_hyperbolic', 'fitted', 1000, 500, 1500)", [[w] for w in wells])
    con.close()
    return root, report, counts


def test_ingest_floor_loads_every_row_of_every_file(built, tmp_path):
    root, report, _ = built
    files = floors.inbox_files(root / "inbox")
    assert {f.suffix for f in files} >= {".csv", ".parquet", ".xlsx"}   # every format of the demo inbox
    con = warehouse.connect(tmp_path / "bare.duckdb")
    assert floors.bare_load(con, files) == report.rows_read
    assert con.execute("select count(*) from duckdb_tables()").fetchone()[0] == len(files)
    con.close()


def test_transform_floor_rebuilds_every_model_as_the_chain_built_it(built, tmp_path):
    root, _, counts = built
    published = root / "warehouse.duckdb"
    before = published.read_bytes()
    assert floors.transform_floor(published, tmp_path / "copy.duckdb") > 0
    assert published.read_bytes() == before                         # the published file is not touched
    con = warehouse.connect(tmp_path / "copy.duckdb", read_only=True)
    # the same rows per model as the chain's first build, which found the decline tables empty
    assert _counts(con) == counts
    assert con.execute("select count(*) from marts.decline_params").fetchone()[0] == 0
    con.close()


def test_quality_floor_runs_every_check_and_records_nothing(built):
    root, _, _ = built
    con = warehouse.connect(root / "warehouse.duckdb", read_only=True)
    recorded = con.execute("select count(*) from metadata.data_quality_checks").fetchone()[0]
    assert floors.run_checks_bare(con, MONTH) == len(quality.all_checks(load_project(), MONTH))
    assert con.execute("select count(*) from metadata.data_quality_checks").fetchone()[0] == recorded
    con.close()


@pytest.mark.parametrize("batch_wells", [1, 3, WELLS])
def test_decline_floor_fits_every_well_phase_up_to_the_month_batch_size_aside(built, batch_wells):
    root, _, _ = built
    con = warehouse.connect(root / "warehouse.duckdb", read_only=True)
    cfg = floors.notebook_fit_config()
    for month in (MONTH, "2023-09"):
        prod = con.execute("select * from staging.stg_production where production_month <= ?::date "
                           "order by well_id, production_month", [f"{month}-01"]).df()
        whole = fit_wells(clean_production(prod)[0], cfg)
        got = floors.fit_all_wells(con, month, cfg, batch_wells=batch_wells)
        pd.testing.assert_frame_equal(got, whole)
        assert len(got) == prod["well_id"].nunique() * len(cfg.phases)
    # as of the lookback cut the step fits only its sample of the wells: the floor too
    wells = con.execute("select distinct well_id from staging.stg_production").fetchnumpy()["well_id"]
    sample = set(lookback_sample(wells, 3))
    prod = con.execute("select * from staging.stg_production where production_month <= ?::date "
                       "order by well_id, production_month", [f"{MONTH}-01"]).df()
    whole = fit_wells(clean_production(prod[prod["well_id"].isin(sample)])[0].reset_index(drop=True), cfg)
    got = floors.fit_all_wells(con, MONTH, cfg, batch_wells=batch_wells, wells_at_most=3)
    assert set(got["well_id"]) == sample
    pd.testing.assert_frame_equal(got, whole)
    con.close()


def test_decline_floor_fit_config_follows_the_notebook_parameters(tmp_path):
    import nbformat

    nb = nbformat.read(floors.DECLINE_NOTEBOOK, as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    cell.source = (cell.source.replace("min_points: int = 9", "min_points: int = 5")
                   .replace("b_max: float = 2.0", "b_max: float = 1.5"))
    nbformat.write(nb, tmp_path / "decline.ipynb")
    cfg = floors.notebook_fit_config(tmp_path / "decline.ipynb")
    assert (cfg.min_points, cfg.b_bounds) == (5, (0.0, 1.5))


@pytest.mark.parametrize("month, expected", [("2024-06", ["2024-06", "2023-06"]), ("2024-01", ["2024-01", "2023-01"]),
                                             ("2000-12", ["2000-12", "1999-12"])])
def test_decline_floor_fits_as_of_the_month_and_the_lookback_cut(tmp_path, month, expected):
    import nbformat

    assert floors.fit_months(month) == [(expected[0], None), (expected[1], LOOKBACK_WELLS)]
    nb = nbformat.read(floors.DECLINE_NOTEBOOK, as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    assert "lookback: bool = True" in cell.source and f"lookback_wells: int = {LOOKBACK_WELLS}" in cell.source
    cell.source = cell.source.replace(f"lookback_wells: int = {LOOKBACK_WELLS}", "lookback_wells: int = 250")
    nbformat.write(nb, tmp_path / "sampled.ipynb")
    assert floors.fit_months(month, tmp_path / "sampled.ipynb") == [(expected[0], None), (expected[1], 250)]
    cell.source = cell.source.replace("lookback: bool = True", "lookback: bool = False")
    nbformat.write(nb, tmp_path / "decline.ipynb")
    assert floors.fit_months(month, tmp_path / "decline.ipynb") == [(month, None)]
