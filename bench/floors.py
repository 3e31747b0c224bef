"""Floors of the pipeline's steps: the same work done bare, to measure what the chain adds.

Used by ``bench/pipeline.py`` (each step against its floor, in the same run, on the same data) and
``bench/ingest.py`` (:func:`bare_load`). A floor is the engine work a step cannot avoid, with
nothing of what the chain adds around it (notebook kernel, validation, rejects, lineage, metadata
rows, checkpoints, row counts, charts, the lookback, the forecast, the writes):

* ingest — DuckDB's bare readers of the same inbox files (``read_csv`` / ``read_parquet`` with
  auto-detection, no checks; an ``.xlsx`` through ``pandas.read_excel``) into one table per file of
  a fresh database file (:func:`ingest_floor`);
* transform — every model's SQL, rendered as the chain renders it for a full refresh
  (:func:`basinlab.transform.load_project`), run bare as ``create or replace table|view … as <sql>``
  in dependency order on a copy of the published warehouse (:func:`transform_floor`);
* quality — the SQL of every check of the quality step (:func:`basinlab.quality.all_checks`) run bare
  against the published warehouse, the violating rows fetched, nothing recorded (:func:`quality_floor`);
* decline — the fitter alone (:func:`basinlab.decline.fit_wells` with the decline notebook's
  :class:`~basinlab.decline.FitConfig`) on every well-phase, read and fitted in batches of
  :data:`~basinlab.decline.step.DEFAULT_BATCH_WELLS` wells like the step, as of each month the step
  fits as of: the run month (every well) and the lookback cut a year earlier (the lookback's wells: at
  most its ``lookback_wells``, the step's fixed sample) (:func:`decline_floor`).

Each floor connects with :func:`basinlab.warehouse.connect`, so it runs with the chain's DuckDB
resource settings (memory limit, threads, spill folder): the difference is what the chain does,
not how DuckDB is configured.
"""
from __future__ import annotations

import ast
import shutil
import time
from collections.abc import Iterable
from pathlib import Path

import duckdb
import pandas as pd

from basinlab import config, quality, warehouse
from basinlab.decline import FitConfig, fit_wells
from basinlab.decline.engine import clean_production
from basinlab.decline.step import DEFAULT_BATCH_WELLS, LOOKBACK_MONTHS, config_month, lookback_sample
from basinlab.transform import load_project

#: what each floor is, for the JSON line
DESCRIPTIONS: dict[str, str] = {
    "ingest": "bare DuckDB read_csv/read_parquet (auto-detect, no checks; xlsx via pandas) of the same inbox "
              "files into one table per file of a fresh database",
    "transform": "the same rendered model SQL as 'create or replace table|view ... as <sql>' in DAG order on a "
                 "copy of the published warehouse (decline tables emptied, as the chain's transform saw them); "
                 "no lineage, metadata rows, checkpoints or counts",
    "quality": "the same check SQL (yml tests, sql/checks, freshness) run bare on the published warehouse, "
               "violating rows fetched, nothing recorded",
    "decline": "fit_wells alone with the notebook's FitConfig on every well-phase of staging.stg_production up "
               "to the month and, for the lookback's wells (at most lookback_wells, the step's sample), up to the "
               "lookback cut 12 months earlier (the two fits the step makes), read and fitted in batches like the "
               "step; no forecast, backtest scoring, ML or writes",
}

#: the decline notebook, whose parameter defaults give the fit configuration
DECLINE_NOTEBOOK = config.NOTEBOOKS_DIR / "03_decline.ipynb"


def _timed(fn, *args) -> float:
    """Seconds one call of ``fn(*args)`` takes."""
    t0 = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t0


# --------------------------------------------------------------------------- ingest


def _table_name(path: Path, i: int) -> str:
    """A table name for the ``i``-th file: its kind folder and stem, made an identifier."""
    return "".join(c if c.isalnum() else "_" for c in f"t{i}_{path.parent.name}_{path.stem}")


def bare_load(con: duckdb.DuckDBPyConnection, files: Iterable[Path]) -> int:
    """Load each file into its own table of ``con`` with DuckDB's bare auto-detecting reader; rows loaded.

    ``.csv`` through ``read_csv``, ``.parquet`` through ``read_parquet``, ``.xlsx`` through
    ``pandas.read_excel`` (DuckDB's excel extension is not bundled). No type checks, no rejects, no
    lineage: a bad value stops the load, which is why the floor is measured on clean files.
    """
    rows = 0
    for i, path in enumerate(files):
        table = _table_name(Path(path), i)
        suffix = Path(path).suffix.lower()
        if suffix == ".xlsx":
            con.register("_bl_xlsx", pd.read_excel(path))
            con.execute(f"create table {table} as select * from _bl_xlsx")
            con.unregister("_bl_xlsx")
        else:
            reader = "read_parquet" if suffix == ".parquet" else "read_csv"
            con.execute(f"create table {table} as select * from {reader}(?)", [str(path)])
        rows += con.execute(f"select count(*) from {table}").fetchone()[0]
    return int(rows)


def inbox_files(inbox: Path) -> list[Path]:
    """The data files of an inbox (``<kind>/<file>``), in name order."""
    return sorted(p for p in Path(inbox).glob("*/*") if p.suffix.lower() in (".csv", ".parquet", ".xlsx"))


def ingest_floor(inbox: Path, db: Path) -> float:
    """Seconds to :func:`bare_load` every file of ``inbox`` into the fresh database file ``db``
    (connect and close included: the tables are on disk when it returns)."""
    def load() -> None:
        con = warehouse.connect(db)
        try:
            bare_load(con, inbox_files(inbox))
        finally:
            con.close()
    return _timed(load)


# --------------------------------------------------------------------------- transform


def rebuild_models_bare(con: duckdb.DuckDBPyConnection) -> int:
    """Rebuild every model of the project on ``con`` in dependency order, bare; the number of models.

    The SQL is the model's full-refresh render (``Model.sql``, what the chain runs for a full build);
    each model is one ``create or replace table|view``: no lineage, no metadata rows, no checkpoint per
    model, no ``count(*)``. An incremental model is built as a table.
    """
    project = load_project()
    for name in project.order:
        m = project.models[name]
        kind = "view" if m.materialization == "view" else "table"
        con.execute(f"create or replace {kind} {m.relation} as\n{m.sql.strip().rstrip(';')}\n")
    return len(project.order)


def _empty_external_sources(con: duckdb.DuckDBPyConnection) -> None:
    """Empty the tables a Python step writes and the models read (the decline step's): on a first run the
    chain's transform finds them created empty, so its models do not see the decline results."""
    tables = {r for (r,) in con.execute("select schema_name || '.' || table_name from duckdb_tables() "
                                        "where database_name = current_database()").fetchall()}
    for relation in load_project().sources:     # declared external tables: the Python steps' (not transform's)
        if relation in tables:
            con.execute(f"delete from {relation}")


def transform_floor(published: Path, copy: Path) -> float:
    """Seconds to rebuild every model bare (:func:`rebuild_models_bare`) on ``copy``, a copy of the
    ``published`` warehouse whose decline tables are emptied first (copy and emptying not timed)."""
    shutil.copyfile(published, copy)
    con = warehouse.connect(copy)
    try:
        _empty_external_sources(con)
        con.execute("checkpoint")
        seconds = _timed(rebuild_models_bare, con)
        seconds += _timed(con.close)   # the last tables reach the file, as the chain's do
    finally:
        con.close()
    return seconds


# --------------------------------------------------------------------------- quality


def run_checks_bare(con: duckdb.DuckDBPyConnection, month: str) -> int:
    """Run the SQL of every check of the quality step for ``month`` on ``con``, fetching the violating
    rows and recording nothing; the number of checks."""
    checks = quality.all_checks(load_project(), month)
    for check in checks:
        con.execute(check.sql).fetchall()
    return len(checks)


def quality_floor(published: Path, month: str) -> float:
    """Seconds to :func:`run_checks_bare` on the ``published`` warehouse (opened read-only, as a reader)."""
    con = warehouse.connect(published, read_only=True)
    try:
        return _timed(run_checks_bare, con, month)
    finally:
        con.close()


# --------------------------------------------------------------------------- decline


def notebook_fit_config(notebook: Path = DECLINE_NOTEBOOK) -> FitConfig:
    """The :class:`FitConfig` the decline notebook builds from its parameter defaults (the runner
    passes none of them on a default run)."""
    import papermill as pm

    p = {name: ast.literal_eval(spec["default"]) for name, spec in pm.inspect_notebook(str(notebook)).items()}
    return FitConfig(model=p["model"], dterm=p["terminal_decline"], b_bounds=(0.0, p["b_max"]),
                     min_points=p["min_points"], half_life_months=p["half_life_months"])


def fit_all_wells(con: duckdb.DuckDBPyConnection, month: str, fit_config: FitConfig,
                  batch_wells: int = DEFAULT_BATCH_WELLS, wells_at_most: int | None = None) -> pd.DataFrame:
    """Fit every well-phase of ``staging.stg_production`` up to ``month`` with :func:`fit_wells`, reading
    and fitting ``batch_wells`` wells at a time by well-id range like the decline step; the fits. With
    ``wells_at_most``, only the wells of :func:`~basinlab.decline.step.lookback_sample` (the wells the
    step fits as of the lookback cut when more have production by then)."""
    as_of = config_month(month)
    wells = [w for (w,) in con.execute("select distinct well_id from staging.stg_production "
                                       "where production_month <= ?::date order by well_id", [as_of]).fetchall()]
    sample = lookback_sample(wells, wells_at_most) if wells_at_most is not None else None
    if sample is not None:
        wells = list(sample)
    fits = []
    for start in range(0, len(wells), batch_wells):
        lo, hi = wells[start], wells[min(start + batch_wells, len(wells)) - 1]
        prod = con.execute("""select well_id, production_month, days_on, oil_bbl, gas_mcf, water_bbl
                              from staging.stg_production
                              where well_id between ? and ? and production_month <= ?::date
                              order by well_id, production_month""", [lo, hi, as_of]).df()
        if sample is not None:
            prod = prod[prod["well_id"].isin(wells[start:start + batch_wells])]
        rows, _dropped = clean_production(prod)
        fits.append(fit_wells(rows, fit_config))
    return pd.concat(fits, ignore_index=True) if fits else pd.DataFrame()


def fit_months(month: str, notebook: Path = DECLINE_NOTEBOOK) -> list[tuple[str, int | None]]:
    """The months the decline step fits as of, each with the most wells it fits then (``None``: every
    well): the run month, every well; and, when the notebook's ``lookback`` parameter is on (its
    default), the lookback cut :data:`LOOKBACK_MONTHS` earlier, at most its ``lookback_wells``."""
    import papermill as pm

    params = pm.inspect_notebook(str(notebook))
    lookback = ast.literal_eval(params["lookback"]["default"]) if "lookback" in params else True
    at_most = ast.literal_eval(params["lookback_wells"]["default"]) if "lookback_wells" in params else None
    cut = (pd.Period(month, "M") - LOOKBACK_MONTHS).strftime("%Y-%m")
    return [(month, None), (cut, at_most)] if lookback else [(month, None)]


def decline_floor(published: Path, month: str) -> float:
    """Seconds to :func:`fit_all_wells` of the ``published`` warehouse with :func:`notebook_fit_config` as of
    each of :func:`fit_months` (the fits the step makes: as of the month, and as of the lookback cut for
    the lookback's wells)."""
    fit_config = notebook_fit_config()
    con = warehouse.connect(published, read_only=True)
    try:
        return sum(_timed(fit_all_wells, con, m, fit_config, DEFAULT_BATCH_WELLS, at_most)
                   for m, at_most in fit_months(month))
    finally:
        con.close()


def measure(data_dir: Path, scratch: Path, month: str) -> dict[str, float]:
    """Every floor, in seconds, for the run that published ``data_dir/warehouse.duckdb`` from
    ``data_dir/inbox``; ``scratch`` is an empty folder for the floors' database files."""
    published = Path(data_dir) / "warehouse.duckdb"
    scratch.mkdir(parents=True, exist_ok=True)
    return {
        "ingest": ingest_floor(Path(data_dir) / "inbox", scratch / "ingest_floor.duckdb"),
        "transform": transform_floor(published, scratch / "transform_floor.duckdb"),
        "quality": quality_floor(published, month),
        "decline": decline_floor(published, month),
    }
