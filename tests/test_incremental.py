"""Incremental runs: the same warehouse contents as a full refresh of the same inputs.

A small demo is delivered month by month (:func:`basinlab.demo_monthly.monthly_deliveries`); the
warehouse is built for month M-1, then the next deliveries arrive — the new month, restated old
files, a new well, a well dropped from a restated file, GL lines re-sent under another date — in
generated combinations. The incremental transform (and decline step) must leave every staging and
mart table as a full refresh (and a refit of every well) of the same raw data does.
"""
from __future__ import annotations

import csv
import random
import shutil
from dataclasses import replace
from datetime import date
from pathlib import Path

import duckdb
import pytest

from basinlab import incremental, ingest, partitions, transform, warehouse
from basinlab.demo import generate_demo
from basinlab.demo_monthly import monthly_deliveries

MONTH, PREV = "2024-06", "2024-05"
WELLS, MONTHS = 14, 20


# --------------------------------------------------------------------------- inbox changes


def _rows(path: Path) -> tuple[list[str], list[list[str]]]:
    with path.open(newline="") as fh:
        r = list(csv.reader(fh))
    return r[0], r[1:]


def _write(path: Path, header: list[str], rows: list[list[str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)


def _old_month_file(inbox: Path, kind: str, rng: random.Random) -> Path:
    files = sorted(p for p in (inbox / kind).glob("*_20*.csv") if PREV not in p.name and MONTH not in p.name)
    return rng.choice(files)


def restate_old_month(inbox: Path, rng: random.Random) -> None:
    """A new version of an old month's production file: volumes changed, one row dropped."""
    path = _old_month_file(inbox, "well_production", rng)
    header, rows = _rows(path)
    oil = header.index("oil_bbl")
    for row in rng.sample(rows, max(1, len(rows) // 3)):
        row[oil] = f"{float(row[oil] or 0) * 1.25 + 1:.2f}"
    rows.pop(rng.randrange(len(rows)))
    _write(path, header, rows)


def add_new_well(inbox: Path, rng: random.Random) -> None:
    """A well never seen before: a header file for it and production for the last three months."""
    header, rows = _rows(next((inbox / "well_header").glob("*.csv")))
    new = list(rng.choice(rows))
    new[header.index("well_id")] = "42-999-00001"
    _write(inbox / "well_header" / "new_well_header.csv", header, [new])
    months = ["2024-04", PREV, MONTH]
    _write(inbox / "well_production" / "new_well_production.csv",
           ["well_id", "production_month", "days_on", "oil_bbl", "gas_mcf", "water_bbl"],
           [["42-999-00001", m, "30", f"{900 - 50 * i}", f"{1500 - 80 * i}", "200"] for i, m in enumerate(months)])


def remove_a_well(inbox: Path, rng: random.Random) -> None:
    """A restated old month without one of its wells: the well-month goes away."""
    path = _old_month_file(inbox, "well_production", rng)
    header, rows = _rows(path)
    gone = rng.choice(rows)[header.index("well_id")]
    _write(path, header, [r for r in rows if r[header.index("well_id")] != gone])


def resend_gl_lines(inbox: Path, rng: random.Random) -> None:
    """A late GL file re-sending old journal lines under a later date: the lines move month."""
    path = _old_month_file(inbox, "gl", rng)
    header, rows = _rows(path)
    picked = rng.sample(rows, min(4, len(rows)))
    for r in picked:
        r[header.index("transaction_date")] = f"{MONTH}-15"
    _write(inbox / "gl" / "late_resent_lines.csv", header, picked)


def cut_new_month(inbox: Path, rng: random.Random) -> None:
    """Only some wells report in the new month (the others keep their history)."""
    path = inbox / "well_production" / f"demo_production_{MONTH}.csv"
    header, rows = _rows(path)
    _write(path, header, rows[: max(1, len(rows) // 2)])


def restate_price(inbox: Path, rng: random.Random) -> None:
    """A new version of the price deck: an old month's WTI revised and a later month dropped (the
    months after it carry the revised price forward)."""
    path = next((inbox / "prices").glob("*.parquet"))
    con = duckdb.connect()
    try:
        months = [r[0] for r in con.execute("select distinct price_month from read_parquet(?) order by 1",
                                            [str(path)]).fetchall()]
        revised, dropped = rng.choice(months[1:-3]), rng.choice(months[-3:-1])
        con.execute(f"""copy (select * replace (case when price_month = '{revised}' and benchmark = 'WTI'
                                                     then price_usd * 1.2 + 1 else price_usd end as price_usd)
                              from read_parquet('{path}') where not (price_month = '{dropped}'))
                        to '{path}' (format parquet)""")
    finally:
        con.close()


def restate_fx(inbox: Path, rng: random.Random) -> None:
    """A new version of the FX workbook: one old month's rate revised for every currency."""
    import openpyxl

    path = next((inbox / "fx").glob("*.xlsx"))
    wb = openpyxl.load_workbook(path)
    ws = wb.worksheets[0]
    months = sorted({r[0].value for r in ws.iter_rows(min_row=2)})
    revised = rng.choice(months[:-2])
    for row in ws.iter_rows(min_row=2):
        if row[0].value == revised:
            row[2].value = float(row[2].value) * 1.1
    wb.save(path)


def edit_header(inbox: Path, rng: random.Random) -> None:
    """A new version of the well header: one well's working interest and field edited (every month
    of every mart that reads the header changes)."""
    path = next((inbox / "well_header").glob("demo_*.csv"))
    header, rows = _rows(path)
    row = rng.choice(rows)
    row[header.index("working_interest")] = "0.5000"
    row[header.index("field")] = "Edited Field"
    _write(path, header, rows)


def resend_header(inbox: Path, rng: random.Random) -> None:
    """The well header re-sent under a new name, its rows in another order (a new file version with
    the same wells: only the rows' lineage changes)."""
    path = next((inbox / "well_header").glob("demo_*.csv"))
    header, rows = _rows(path)
    rng.shuffle(rows)
    _write(inbox / "well_header" / "zz_resent_wells.csv", header, rows)


CHANGES = {"restate_old_month": restate_old_month, "add_new_well": add_new_well, "remove_a_well": remove_a_well,
           "resend_gl_lines": resend_gl_lines, "cut_new_month": cut_new_month, "restate_price": restate_price,
           "restate_fx": restate_fx, "edit_header": edit_header, "resend_header": resend_header}


def _cases() -> list[tuple[str, tuple[str, ...], int]]:
    """The new month alone, every change at once, and generated combinations (seeded)."""
    cases = [("new_month_only", (), 0), ("all_changes", tuple(sorted(CHANGES)), 1)]
    for seed in (7, 11, 13, 17):
        rng = random.Random(seed)
        combo = tuple(sorted(rng.sample(sorted(CHANGES), 2)))
        cases.append(("+".join(combo), combo, seed))
    return cases


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """A demo source, and a warehouse ingested and transformed up to month M-1."""
    root = tmp_path_factory.mktemp("incremental")
    generate_demo(root / "source", wells=WELLS, months=MONTHS, end_month=MONTH, seed=5)
    monthly_deliveries(root / "source", root / "inbox", PREV)
    con = warehouse.connect(root / "base.duckdb")
    warehouse.migrate(con)
    ingest.ingest_inbox(con, root / "inbox", "batch-1", month=PREV)
    transform.run_models(con, column_lineage=False)
    con.close()
    return root


def _next_delivery(base: Path, tmp: Path, changes: tuple[str, ...], seed: int,
                   start: Path | None = None) -> tuple[Path, Path]:
    """Copy the M-1 warehouse (``start``, default the base one) and inbox, deliver month M with
    ``changes``, ingest."""
    db, inbox = tmp / "w.duckdb", tmp / "inbox"
    shutil.copyfile(start or base / "base.duckdb", db)
    shutil.copytree(base / "inbox", inbox)
    monthly_deliveries(base / "source", inbox, MONTH)
    rng = random.Random(seed)
    for name in changes:
        CHANGES[name](inbox, rng)
    con = warehouse.connect(db)
    try:
        report = ingest.ingest_inbox(con, inbox, "batch-2", month=MONTH)
        report.raise_for_failures()
    finally:
        con.close()
    return db, inbox


def _contents(path: Path) -> dict[str, incremental.Contents]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return incremental.table_checksums(con)
    finally:
        con.close()


def _assert_same(a: dict[str, incremental.Contents], b: dict[str, incremental.Contents]) -> None:
    assert sorted(a) == sorted(b)
    diffs = {rel: a[rel].differences(b[rel]) for rel in a if a[rel].differences(b[rel])}
    assert not diffs, diffs


def _assert_same_as_full_refresh(db: Path, tmp_path: Path) -> None:
    """Every staging and mart table of ``db`` equals a full refresh of a copy of it."""
    full = tmp_path / "full.duckdb"
    shutil.copyfile(db, full)
    con = warehouse.connect(full)
    try:
        transform.run_models(con, column_lineage=False, full_refresh=True)
    finally:
        con.close()
    _assert_same(_contents(db), _contents(full))


# --------------------------------------------------------------------------- tests


@pytest.mark.parametrize("name,changes,seed", _cases(), ids=[c[0] for c in _cases()])
def test_incremental_run_equals_full_refresh(base, tmp_path, name, changes, seed):
    db, _ = _next_delivery(base, tmp_path, changes, seed)
    con = warehouse.connect(db)
    try:
        results = transform.run_models(con, column_lineage=False)
        state = dict(con.execute("select model, mode from metadata.model_state").fetchall())
    finally:
        con.close()
    assert state["stg_production"] == incremental.INCREMENTAL       # merged, not rebuilt
    assert state["stg_gl_lines"] == incremental.INCREMENTAL
    assert all(r.status == "success" for r in results)
    full = tmp_path / "full.duckdb"
    shutil.copyfile(db, full)
    con = warehouse.connect(full)
    try:
        transform.run_models(con, column_lineage=False, full_refresh=True)
        assert set(dict(con.execute("select model, mode from metadata.model_state").fetchall()).values()) == {"full"}
    finally:
        con.close()
    inc, ref = _contents(db), _contents(full)
    assert inc["staging.stg_production"].rows > 0 and inc["marts.mart_production_monthly"].rows > 0
    _assert_same(inc, ref)


OVERWRITE_MODELS = ("int_production_cumulative", "int_production_moving_avg", "int_well_features", "int_gl_well_month",
                    "mart_production_monthly", "mart_revenue", "agg_monthly_financials")


def test_a_new_month_rebuilds_only_that_month_of_the_marts(base, tmp_path):
    """The month-partitioned marts replace the new month's rows and nothing else."""
    db, _ = _next_delivery(base, tmp_path, (), 0)
    con = warehouse.connect(db)
    try:
        before = {m: con.execute(f"select count(*) from marts.{m} where {c} < ?::date",
                                 [f"{MONTH}-01"]).fetchone()[0] for m, c in _partition_columns().items()}
        transform.run_models(con, column_lineage=False)
        state = {r[0]: r[1:] for r in con.execute(
            "select model, mode, rows_merged, row_count from metadata.model_state").fetchall()}
        logged = {m: {r[0] for r in con.execute(
            "select month from metadata.model_changes where model = ? and build_number = "
            "(select max(build_number) from metadata.model_changes where model = ?)", [m, m]).fetchall()}
            for m in OVERWRITE_MODELS}
        new_rows = {m: con.execute(f"select count(*) from marts.{m} where {c} = ?::date",
                                   [f"{MONTH}-01"]).fetchone()[0] for m, c in _partition_columns().items()}
    finally:
        con.close()
    month = date.fromisoformat(f"{MONTH}-01")
    for m in OVERWRITE_MODELS:
        mode, rows_merged, row_count = state[m]
        assert mode == incremental.INCREMENTAL, (m, mode)
        assert logged[m] == {month}, (m, logged[m])
        assert rows_merged == new_rows[m] > 0, m                           # only the new month's rows were written
        assert row_count == before[m] + new_rows[m], m                     # every earlier row kept


def test_a_well_added_to_the_header_rebuilds_only_the_months_it_reports(base, tmp_path):
    """The header is keyed (stg_well_header by well_id): a new well's header row rebuilds the months the
    well has rows in, not every month; an edited well rebuilds that well's months."""
    db, _ = _next_delivery(base, tmp_path, ("add_new_well",), 0)
    con = warehouse.connect(db)
    try:
        transform.run_models(con, column_lineage=False)
        state = dict(con.execute("select model, mode from metadata.model_state").fetchall())
        logged = {r[0] for r in con.execute(
            "select month from metadata.model_changes where model = 'mart_production_monthly' and build_number = "
            "(select max(build_number) from metadata.model_changes where model = 'mart_production_monthly')")
            .fetchall()}
    finally:
        con.close()
    assert {m: state[m] for m in OVERWRITE_MODELS} == dict.fromkeys(OVERWRITE_MODELS, incremental.INCREMENTAL)
    assert logged == {date.fromisoformat(f"{m}-01") for m in ("2024-04", PREV, MONTH)}   # the new well's months


@pytest.mark.parametrize("change", ["resend_header", "settings_provenance"])
def test_what_the_marts_do_not_read_rebuilds_nothing(base, tmp_path, change):
    """A re-sent header (new lineage, same wells) or a setting's provenance recorded anew (same value,
    another source): the marts rebuild the new month only — their fingerprints cover the columns
    they read."""
    db, _ = _next_delivery(base, tmp_path, ("resend_header",) if change == "resend_header" else (), 2)
    con = warehouse.connect(db)
    try:
        if change == "settings_provenance":
            con.execute("update metadata.oil_differentials set source = '/elsewhere/settings.yml line 34'")
        else:
            assert con.execute("select count(distinct _source_file) from staging.stg_well_header").fetchone()[0] == 1
        transform.run_models(con, column_lineage=False)
        if change == "resend_header":
            assert con.execute("select any_value(_source_file) from staging.stg_well_header"
                               ).fetchone()[0].endswith("zz_resent_wells.csv")
        state = dict(con.execute("select model, reason from metadata.model_state").fetchall())
    finally:
        con.close()
    assert {m: state[m] for m in OVERWRITE_MODELS} == dict.fromkeys(OVERWRITE_MODELS,
                                                                    "1 month(s) changed upstream (2024-06)")
    _assert_same_as_full_refresh(db, tmp_path)


def _partition_columns() -> dict[str, str]:
    project = transform.load_project()
    return {m: project.models[m].partition_by for m in OVERWRITE_MODELS}


@pytest.mark.parametrize("setting,value", [("gas_price_fraction_of_henry_hub", 0.7), ("reporting_currency", "CAD")])
def test_a_changed_setting_rebuilds_what_reads_it(base, tmp_path, setting, value):
    """A setting edited between runs: the marts that read it are rebuilt in full, the others by month;
    the warehouse equals a full refresh with the same setting."""
    db, _ = _next_delivery(base, tmp_path, (), 0)
    full = tmp_path / "full.duckdb"
    shutil.copyfile(db, full)
    for path, refresh in ((db, False), (full, True)):
        con = warehouse.connect(path)
        try:
            transform.run_models(con, column_lineage=False, full_refresh=refresh, settings={setting: value})
            if not refresh:
                state = dict(con.execute("select model, reason from metadata.model_state").fetchall())
        finally:
            con.close()
    assert state["mart_revenue"] == "staging.stg_settings changed"
    assert state["int_production_cumulative"].startswith("1 month(s) changed upstream")
    _assert_same(_contents(db), _contents(full))


def test_a_failed_month_rebuild_leaves_the_mart_and_its_log_as_they_were(base, tmp_path, monkeypatch):
    db, _ = _next_delivery(base, tmp_path, ("restate_old_month",), 3)
    before = _contents(db)["marts.mart_revenue"]
    con = warehouse.connect(db)
    real = partitions.overwrite

    def failing(con_, model, p, sql):
        if model.name == "mart_revenue":
            con_.execute(f"delete from {model.relation}")           # half done ...
            raise duckdb.IOException("disk full")                    # ... then the disk fills
        return real(con_, model, p, sql)

    monkeypatch.setattr(partitions, "overwrite", failing)
    try:
        with pytest.raises(transform.ModelError, match="mart_revenue"):
            transform.run_models(con, column_lineage=False)
        n_logged = con.execute("select count(*) from metadata.model_changes where model = 'mart_revenue'").fetchone()[0]
        built = con.execute("select count(*) from metadata.model_state where model = 'mart_revenue' "
                            "and mode = 'incremental'").fetchone()[0]
    finally:
        con.close()
    assert not _contents(db)["marts.mart_revenue"].differences(before)
    assert n_logged == 1 and built == 0                                 # only the first (full) build's entry
    monkeypatch.setattr(partitions, "overwrite", real)
    con = warehouse.connect(db)
    try:
        transform.run_models(con, column_lineage=False)                 # the next run catches up
    finally:
        con.close()
    _assert_same_as_full_refresh(db, tmp_path)


@pytest.mark.parametrize("loss", ["whole_log", "whole_log_then_a_build", "one_build", "inputs_record"])
def test_a_lost_change_log_rebuilds_in_full(base, tmp_path, loss):
    """Change-log entries or the record of what a mart read lost (a hand edit, a partial restore):
    the marts downstream are rebuilt in full, never left stale."""
    db, _ = _next_delivery(base, tmp_path, ("restate_old_month",), 5)
    con = warehouse.connect(db)
    try:
        transform.run_models(con, column_lineage=False, select="stg_production")     # build 2 of staging
        con.execute("insert into raw.well_production by name select * replace (well_id || 'X' as well_id) "
                    "from raw.well_production where _file_id = (select max(_file_id) from raw.well_production) "
                    "limit 1")
        transform.run_models(con, column_lineage=False, select="stg_production")     # build 3
        con.execute({"whole_log": "delete from metadata.model_changes where model = 'stg_production'",
                     "one_build": "delete from metadata.model_changes where model = 'stg_production' "
                                  "and build_number = 2",
                     "whole_log_then_a_build": "delete from metadata.model_changes where model = 'stg_production'",
                     "inputs_record": "delete from metadata.model_inputs where model = 'int_production_cumulative'",
                     }[loss])
        if loss == "whole_log_then_a_build":   # staging logs build 1 again, below what the mart read
            con.execute("delete from raw.well_production where rowid = (select min(rowid) from raw.well_production)")
            transform.run_models(con, column_lineage=False, select="stg_production")
        transform.run_models(con, column_lineage=False)
        mode = con.execute("select mode from metadata.model_state "
                           "where model = 'int_production_cumulative'").fetchone()[0]
    finally:
        con.close()
    assert mode == incremental.FULL
    _assert_same_as_full_refresh(db, tmp_path)


def test_a_second_run_without_new_files_changes_nothing(base, tmp_path):
    db = tmp_path / "w.duckdb"
    shutil.copyfile(base / "base.duckdb", db)
    before = _contents(db)
    con = warehouse.connect(db)
    try:
        transform.run_models(con, column_lineage=False)
        modes = set(dict(con.execute("select model, mode from metadata.model_state").fetchall()).values())
    finally:
        con.close()
    assert modes == {incremental.UNCHANGED}
    _assert_same(_contents(db), before)


def test_raw_rows_changed_without_a_new_file_version_are_merged(base, tmp_path):
    """Rows written into raw by hand under an existing file id (or restored) are seen by the row count."""
    db = tmp_path / "w.duckdb"
    shutil.copyfile(base / "base.duckdb", db)
    con = warehouse.connect(db)
    try:
        con.execute("""insert into raw.well_production by name
                       select * replace ('42-999-00002' as well_id, 900 + _source_row as _source_row)
                       from raw.well_production where _file_id = (select max(_file_id) from raw.well_production)
                       limit 2""")
        con.execute("delete from raw.gl_records where rowid in (select min(rowid) from raw.gl_records)")
        transform.run_models(con, column_lineage=False)
        assert "42-999-00002" in {r[0] for r in con.execute("select well_id from staging.stg_production").fetchall()}
    finally:
        con.close()
    _assert_same_as_full_refresh(db, tmp_path)


def test_a_changed_model_or_a_missing_table_is_rebuilt_in_full(base, tmp_path):
    db = tmp_path / "w.duckdb"
    shutil.copyfile(base / "base.duckdb", db)
    project = transform.load_project()
    m = project.models["stg_production"]
    con = warehouse.connect(db)
    try:
        assert incremental.plan(con, m, "table", False).mode == incremental.UNCHANGED
        assert incremental.plan(con, m, "table", True).reason == "full refresh requested"
        changed = replace(m, sql=m.sql.replace("as days_on", "as days_on -- edited"))
        assert incremental.plan(con, changed, "table", False).reason == "its SQL or declaration changed"
        assert incremental.plan(con, m, None, False).mode == incremental.FULL
        assert incremental.plan(con, m, "view", False).mode == incremental.FULL
    finally:
        con.close()


@pytest.mark.parametrize("problem", ["no_key", "reads_a_model", "no_file_id"])
def test_an_incremental_model_that_cannot_merge_soundly_is_refused(problem):
    project = transform.load_project()
    m = project.models["stg_production"]
    relations = {x.relation for x in project.models.values()}
    bad = {"no_key": replace(m, unique_key=[]),
           "reads_a_model": replace(m, depends_on=m.depends_on + ["staging.stg_well_header"]),
           "no_file_id": replace(m, columns=[c for c in m.columns if c.get("name") != "_file_id"])}[problem]
    incremental.check_model(m, relations)
    with pytest.raises(incremental.IncrementalError, match="stg_production"):
        incremental.check_model(bad, relations)


@pytest.mark.parametrize("problem", ["view", "no_partition_by", "undeclared_column", "bad_partitions",
                                     "no_partitioned_input", "bad_strategy", "strategy_on_a_table"])
def test_a_partitioned_model_that_cannot_be_rebuilt_by_month_is_refused(problem):
    project = transform.load_project()
    m = project.models["mart_revenue"]
    partitioned = {x.relation for x in project.models.values() if x.partition_by and x.materialization != "view"}
    bad = {"view": replace(m, materialization="view"),
           "no_partition_by": replace(m, partition_by=""),
           "undeclared_column": replace(m, partition_by="month_of_sale"),
           "bad_partitions": replace(m, partitions="sometimes"),
           "no_partitioned_input": replace(m, depends_on=["staging.stg_well_header"]),
           "bad_strategy": replace(m, strategy="merge"),
           "strategy_on_a_table": replace(m, materialization="table")}[problem]
    partitions.check_model(m, partitioned)
    with pytest.raises(partitions.PartitionError, match="mart_revenue"):
        partitions.check_model(bad, partitioned)


def _fit_kept_and_all(db: Path, every: Path, kw: dict) -> dict:
    """The decline step as of M on ``db`` (keeping what it can) and on ``every``, a copy of it made first,
    refitting every well: the results by ``refit_all``."""
    from basinlab.decline.step import fit_warehouse

    shutil.copyfile(db, every)
    res = {}
    for path, refit_all in ((db, False), (every, True)):
        con = warehouse.connect(path)
        try:
            res[refit_all] = fit_warehouse(con, month=MONTH, refit_all=refit_all, **kw)
        finally:
            con.close()
    return res


@pytest.mark.parametrize("changes,seed", [(("cut_new_month", "restate_old_month"), 4),
                                          (("add_new_well", "cut_new_month", "remove_a_well"), 9)])
def test_refit_of_changed_wells_equals_refit_all(base, tmp_path, changes, seed):
    """Fit as of M-1, deliver M with changes; the fit keeping unchanged wells equals a refit of all."""
    from basinlab.decline.step import fit_warehouse

    kw = dict(ml_trendlines=False, economic_limits=False, lookback=False, rebuild_models=False, batch_wells=5)
    start = tmp_path / "start.duckdb"
    shutil.copyfile(base / "base.duckdb", start)
    con = warehouse.connect(start)
    fit_warehouse(con, month=PREV, **kw)
    con.close()
    (tmp_path / "next").mkdir()
    db, _ = _next_delivery(base, tmp_path / "next", changes, seed, start=start)
    con = warehouse.connect(db)
    transform.run_models(con, column_lineage=False)
    con.execute(f"attach '{start}' as fitted (read_only)")
    changed = {r[0] for r in con.execute("""
        with new as (select well_id, production_month, days_on, oil_bbl, gas_mcf, water_bbl
                     from staging.stg_production where production_month <= ?::date),
             old as (select well_id, production_month, days_on, oil_bbl, gas_mcf, water_bbl
                     from fitted.staging.stg_production where production_month <= ?::date),
             diff as ((select * from new except all select * from old)
                      union all (select * from old except all select * from new))
        select distinct well_id from diff where well_id in (select well_id from new)""",
                                         [f"{MONTH}-01", f"{PREV}-01"]).fetchall()}
    con.execute("detach fitted")
    con.close()
    every = tmp_path / "every.duckdb"
    res = _fit_kept_and_all(db, every, kw)
    n_wells = res[True].wells
    assert res[True].wells_refit == n_wells and res[True].wells_reused == 0
    assert 0 < res[False].wells_reused < n_wells                    # some kept, some refit
    assert res[False].wells_refit == len(changed)                    # exactly the wells whose history changed
    a, b = _contents(db), _contents(every)
    for rel in ("marts.decline_fits", "marts.decline_params", "marts.decline_forecast",
                "marts.decline_forecast_bands", "marts.decline_type_curves"):
        assert a[rel].rows > 0
        assert not a[rel].differences(b[rel]), (rel, a[rel].differences(b[rel]))


CUT = "2023-06"   # the lookback's cut of a run as of MONTH


def _changed_wells(con, old: str, up_to: str) -> tuple[set[str], set[str]]:
    """Wells with rows up to ``up_to`` in the warehouse of ``con``, and those of them whose rows up to it
    differ from the ``old`` attached warehouse's."""
    rows = """select well_id, production_month, days_on, oil_bbl, gas_mcf, water_bbl
              from {db}staging.stg_production where production_month <= ?::date"""
    new, was = rows.format(db=""), rows.format(db=f"{old}.")
    wells = {r[0] for r in con.execute(f"select distinct well_id from ({new})", [f"{up_to}-01"]).fetchall()}
    changed = {r[0] for r in con.execute(f"""
        with diff as ((select * from ({new}) except all select * from ({was}))
                      union all (select * from ({was}) except all select * from ({new})))
        select distinct well_id from diff""", [f"{up_to}-01"] * 4).fetchall()}
    return wells, changed & wells


@pytest.mark.parametrize("changes,seed", [((), 0), (("restate_old_month",), 2), (("restate_old_month",), 6),
                                          (("add_new_well", "remove_a_well", "restate_old_month"), 9)])
def test_the_lookback_keeps_the_fits_made_as_of_its_cut(base, tmp_path, changes, seed):
    """A run as of the cut month stores its fits; the run a year later fits each well whose rows up to
    the cut are unchanged once (its cut fit is kept), refits the others there, and writes what a refit
    of every well writes (fits, forecast, backtest)."""
    from basinlab.decline.step import fit_warehouse

    kw = dict(ml_trendlines=False, economic_limits=False, rebuild_models=False, batch_wells=5)
    start = tmp_path / "start.duckdb"
    shutil.copyfile(base / "base.duckdb", start)
    con = warehouse.connect(start)
    first = fit_warehouse(con, month=CUT, **kw)
    con.close()
    assert first.wells_refit > 0 and first.cut_fits_reused == first.cut_fits_refit == 0   # no rows a year before
    (tmp_path / "next").mkdir()
    db, _ = _next_delivery(base, tmp_path / "next", changes, seed, start=start)
    con = warehouse.connect(db)
    transform.run_models(con, column_lineage=False)
    con.execute(f"attach '{start}' as fitted (read_only)")
    at_cut, changed_at_cut = _changed_wells(con, "fitted", CUT)
    con.execute("detach fitted")
    con.close()
    every = tmp_path / "every.duckdb"
    res = _fit_kept_and_all(db, every, kw)
    assert res[True].cut_fits_reused == 0 and res[True].cut_fits_refit == len(at_cut)
    assert res[False].cut_fits_refit == len(changed_at_cut)          # exactly the wells restated up to the cut
    assert res[False].cut_fits_reused == len(at_cut - changed_at_cut) > 0
    a, b = _contents(db), _contents(every)
    for rel in ("marts.decline_fits", "marts.decline_params", "marts.decline_forecast", "marts.decline_backtest",
                "marts.decline_backtest_summary", "marts.decline_lookback"):
        assert a[rel].rows > 0
        assert not a[rel].differences(b[rel]), (rel, a[rel].differences(b[rel]))
    con = duckdb.connect(str(db), read_only=True)
    try:
        months = dict(con.execute("select as_of_month::varchar, count(distinct well_id) from marts.decline_fits "
                                  "group by all").fetchall())
    finally:
        con.close()
    assert months == {f"{CUT}-01": len(at_cut), f"{MONTH}-01": res[False].wells}   # the run's two months only


def test_a_fingerprint_tells_apart_which_value_is_missing():
    """Histories that differ only in which value of a month is missing (or zero) have different fingerprints:
    a kept fit is only ever the fit of the same rows."""
    from basinlab.decline.step import FINGERPRINT_SQL

    rows = [(1, None, 5.0, 7.0), (1, 5.0, None, 7.0), (1, 5.0, 7.0, None), (None, 1, 5.0, 7.0),
            (1, 5.0, 0.0, 7.0), (1, 0.0, 5.0, 7.0), (1, 5.0, 7.0, 0.0), (1, 5.0, 7.0, 0.0)]
    con = duckdb.connect()
    con.execute("create table p (well_id varchar, production_month date, days_on double, oil_bbl double, "
                "gas_mcf double, water_bbl double)")
    for i, (d, o, g, w) in enumerate(rows):
        con.execute("insert into p values (?, '2024-01-01', ?, ?, ?, ?)", [f"W{i}", d, o, g, w])
    fps = {w: now for w, now, _ in con.execute(FINGERPRINT_SQL.format(prod="p", cut="null::date")).fetchall()}
    assert len(set(fps.values())) == len(rows) - 1 and fps["W6"] == fps["W7"]   # only the equal rows agree


def test_the_fingerprint_as_of_the_cut_is_the_one_a_run_of_that_month_computes():
    """Fingerprints as of the month and as of the cut come from one scan: the cut's equals the month's
    fingerprint of the same rows alone (a run of the cut month), and is missing without rows by then."""
    from basinlab.decline.step import FINGERPRINT_SQL

    rng = random.Random(3)
    con = duckdb.connect()
    con.execute("create table p (well_id varchar, production_month date, days_on double, oil_bbl double, "
                "gas_mcf double, water_bbl double)")
    for w in range(12):
        first = rng.randrange(0, 30)
        for m in sorted(rng.sample(range(first, 36), rng.randrange(1, 36 - first + 1))):   # gaps, any start
            con.execute("insert into p values (?, make_date(2022 + ? // 12, ? % 12 + 1, 1), ?, ?, ?, ?)",
                        [f"W{w}", m, m, *[None if rng.random() < 0.2 else round(rng.uniform(0, 900), 2)
                                           for _ in range(4)]])
    cut = "2023-06-01"
    both = {w: (now, at_cut) for w, now, at_cut in
            con.execute(FINGERPRINT_SQL.format(prod="p", cut=f"'{cut}'::date")).fetchall()}
    alone = {w: now for w, now, _ in con.execute(FINGERPRINT_SQL.format(
        prod=f"(select * from p where production_month <= '{cut}')", cut="null::date")).fetchall()}
    assert {w for w, (_, c) in both.items() if c is not None} == set(alone)
    assert all(both[w][1] == fp for w, fp in alone.items())
    assert any(c is None for _, c in both.values()) and any(n != c for n, c in both.values() if c)
