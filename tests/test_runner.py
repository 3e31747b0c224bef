"""The monthly pipeline end to end: real papermill runs of the real notebooks, a real DuckDB file,
a real Chromium-printed PDF and a real openpyxl workbook, opened and checked."""
from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import openpyxl
import pytest
from pypdf import PdfReader

from basinlab import config, runner
from basinlab.report.labels import label_for

MONTH = "2024-06"
WELLS, MONTHS = 12, 24

pytestmark = pytest.mark.slow


def basinlab(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """The real console command (as a scheduler runs it), from a directory that is not the repo."""
    exe = Path(sys.executable).with_name("basinlab")
    return subprocess.run([str(exe), *args], capture_output=True, text=True, cwd=cwd or Path("/"),
                          env=os.environ | {"PLOOMBER_STATS_ENABLED": "false"}, timeout=600)


def sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    root = tmp_path_factory.mktemp("run")
    data, reports = root / "data", root / "reports"
    res = basinlab("run", "--month", MONTH, "--demo", "--wells", str(WELLS), "--months", str(MONTHS),
                   "--data-dir", str(data), "--reports-dir", str(reports))
    assert res.returncode == 0, res.stdout + res.stderr
    return data, reports, res


def clone(published, tmp_path):
    """A private copy of the published data and reports dirs for a test that changes them."""
    data, reports, _ = published
    d, r = tmp_path / "data", tmp_path / "reports"
    shutil.copytree(data, d)
    shutil.copytree(reports, r)
    return d, r


def june_production_from_inbox(data: Path) -> tuple[int, float]:
    """Producing wells and calendar-day BOE rate for June, straight from the demo CSV (independent of the SQL)."""
    wells, boe = set(), 0.0
    with open(data / "inbox/well_production/demo_production.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            if row["production_month"].startswith(MONTH):
                oil, gas = float(row["oil_bbl"] or 0), float(row["gas_mcf"] or 0)
                boe += oil + gas / 6
                if float(row["days_on"] or 0) > 0 and (oil > 0 or gas > 0):
                    wells.add(row["well_id"])
    return len(wells), boe / 30


def test_run_prints_progress_and_where_the_report_is(published):
    _, reports, res = published
    out = res.stdout
    for step in ("ingest", "transform", "decline", "quality", "report"):
        assert f"[{step}] succeeded" in out
    assert str(reports / MONTH / f"basinlab_{MONTH}.pdf") in out
    assert "Kernel is running over TCP" not in out + res.stderr


def test_pdf_has_the_months_kpis_and_no_code(published):
    data, reports, _ = published
    pdf = reports / MONTH / f"basinlab_{MONTH}.pdf"
    reader = PdfReader(pdf)
    assert len(reader.pages) >= 4
    text = "\n".join(p.extract_text() for p in reader.pages)
    wells, boe_per_day = june_production_from_inbox(data)
    assert f"basinlab monthly report — {MONTH}" in text
    assert f"{boe_per_day:,.0f}" in text           # production KPI, derived from the source file
    assert f"{wells} producing wells" in text
    for section in ("Summary", "Production", "Financials", "Decline forecasts", "Data quality"):
        assert section in text
    for code in ("import basinlab", "open_context", "show_table(", "%sql"):
        assert code not in text


def test_xlsx_sheets_filter_and_hold_the_month(published):
    data, reports, _ = published
    wb = openpyxl.load_workbook(reports / MONTH / f"basinlab_{MONTH}.xlsx")
    for name in ("About", "KPIs", "Production by field", "Wells this month", "Financials by month",
                 "Decline parameters", "Data quality", "Rejected rows"):
        assert name in wb.sheetnames
    wells_sheet = wb["Wells this month"]
    assert wells_sheet.auto_filter.ref and wells_sheet.freeze_panes == "A2"
    header = [c.value for c in wells_sheet[1]]
    ids = {r[header.index(label_for("well_id"))] for r in wells_sheet.iter_rows(min_row=2, values_only=True)}
    with open(data / "inbox/well_production/demo_production.csv", newline="") as fh:
        expected = {r["well_id"] for r in csv.DictReader(fh) if r["production_month"].startswith(MONTH)}
    assert ids == expected
    rejected = wb["Rejected rows"]
    assert rejected.max_row - 1 == 7  # the demo's deliberate bad rows: 5 production + 2 GL


def test_metadata_records_the_run_steps_files_and_checks(published):
    data, _, res = published
    con = duckdb.connect(str(data / "warehouse.duckdb"), read_only=True)
    runs = con.execute("select run_id, month, status from metadata.pipeline_runs").fetchall()
    assert len(runs) == 1 and runs[0][1:] == (MONTH, "published")
    steps = dict(con.execute("select step, status from metadata.pipeline_run_steps").fetchall())
    assert steps == {"ingest": "succeeded", "transform": "succeeded", "decline": "succeeded",
                     "quality": "succeeded"}
    rows = con.execute("select sum(rows_read), sum(rows_loaded), sum(rows_rejected) "
                       "from metadata.ingested_files").fetchone()
    assert rows[0] == rows[1] + rows[2] and rows[2] == 7
    assert con.execute("select count(*) from metadata.data_quality_checks where status = 'fail' "
                       "and severity = 'error'").fetchone()[0] == 0
    assert con.execute("select count(*) from metadata.model_runs").fetchone()[0] > 10
    con.close()


def test_the_run_log_records_the_run_as_it_goes_and_runs_shows_it(published):
    data, _, res = published
    records = [json.loads(line) for line in (data / "runs.jsonl").read_text().splitlines()]
    assert [r["status"] for r in records] == ["running", "publishing", "succeeded"]
    assert len({r["run_id"] for r in records}) == 1 and records[-1]["published"] is True
    assert "[gate]" in res.stdout                   # the runner gated the build itself
    runs = basinlab("runs", "--data-dir", str(data), "--strict")
    assert runs.returncode == 0, runs.stdout + runs.stderr
    lines = [ln for ln in runs.stdout.splitlines() if records[0]["run_id"] in ln]
    assert len(lines) == 1 and "succeeded" in lines[0]
    assert (data / ".basinlab.lock").read_text() == ""


def test_manifest_lists_inputs_with_their_sha256(published):
    data, reports, _ = published
    manifest = json.loads((reports / MONTH / "manifest.json").read_text())
    assert manifest["month"] == MONTH
    by_file = {i["file"]: i for i in manifest["inputs"]}
    for p in (data / "inbox").rglob("*.*"):
        rel = str(p.relative_to(data / "inbox"))
        assert by_file[rel]["sha256"] == sha(p)
    executed = sorted(p.name for p in (reports / MONTH / "notebooks").glob("*.ipynb"))
    assert executed == ["01_ingest.ipynb", "02_transform.ipynb", "03_decline.ipynb", "04_quality.ipynb",
                        "05_report.ipynb"]


def test_rerun_of_the_month_is_idempotent_and_keeps_a_snapshot(published, tmp_path):
    data, reports = clone(published, tmp_path)
    con = duckdb.connect(str(data / "warehouse.duckdb"), read_only=True)
    before = con.execute("select count(*) from metadata.ingested_files").fetchone()[0]
    con.close()
    res = basinlab("run", "--month", MONTH, "--demo", "--wells", str(WELLS), "--months", str(MONTHS),
                   "--data-dir", str(data), "--reports-dir", str(reports))
    assert res.returncode == 0, res.stderr
    con = duckdb.connect(str(data / "warehouse.duckdb"), read_only=True)
    assert con.execute("select count(*) from metadata.ingested_files").fetchone()[0] == before
    # the earlier run's final outcome (report included) is carried into the new build from runs.jsonl
    statuses = [r[0] for r in con.execute("select status from metadata.pipeline_runs order by started_at").fetchall()]
    assert statuses == ["succeeded", "published"]
    first_steps = {r[0] for r in con.execute(
        "select step from metadata.pipeline_run_steps where run_id = (select min(run_id) from metadata.pipeline_runs)"
    ).fetchall()}
    assert "report" in first_steps
    con.close()
    assert len(list((data / "snapshots").glob("*.duckdb"))) == 1


def test_unparseable_file_fails_the_run_and_leaves_warehouse_and_report(published, tmp_path):
    data, reports = clone(published, tmp_path)
    wh_sha, pdf_sha = sha(data / "warehouse.duckdb"), sha(reports / MONTH / f"basinlab_{MONTH}.pdf")
    (data / "inbox/well_production/broken.csv").write_text("uwi;date;oil\nW1;2024-06;5\n")
    res = basinlab("run", "--month", MONTH, "--data-dir", str(data), "--reports-dir", str(reports))
    assert res.returncode == 1
    assert "well_production/broken.csv" in res.stderr and "missing required column" in res.stderr
    assert "01_ingest.ipynb" in res.stderr
    assert "Traceback" not in res.stderr
    assert sha(data / "warehouse.duckdb") == wh_sha
    assert sha(reports / MONTH / f"basinlab_{MONTH}.pdf") == pdf_sha
    kept = list((reports / "_failed").glob("*/01_ingest.ipynb"))
    assert len(kept) == 1 and str(kept[0]) in res.stderr
    assert list((data / "builds").glob("*.failed.duckdb"))


def test_error_level_check_stops_the_run_before_publishing(published, tmp_path):
    data, reports = clone(published, tmp_path)
    wh_sha = sha(data / "warehouse.duckdb")
    (data / "inbox/gl/unbalanced.csv").write_text(
        "journal_id,line_number,transaction_date,account_code,debit_amount,credit_amount,currency\n"
        "JE-UNBAL-1,1,2024-06-30,5000,100.00,,USD\n"
        "JE-UNBAL-1,2,2024-06-30,2000,,90.00,USD\n")
    res = basinlab("run", "--month", MONTH, "--data-dir", str(data), "--reports-dir", str(reports))
    assert res.returncode == 1
    assert "04_quality.ipynb" in res.stderr and "gl_journals_balance" in res.stderr
    assert sha(data / "warehouse.duckdb") == wh_sha
    # the failure is recorded and reaches the warehouse with the next good run
    log = [json.loads(line) for line in (data / "runs.jsonl").read_text().splitlines()]
    assert log[-1]["status"] == "failed" and "gl_journals_balance" in log[-1]["error"]


def test_second_concurrent_run_is_refused_naming_the_first(published, tmp_path):
    data, reports = clone(published, tmp_path)
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import time
        from basinlab import config, runner
        with runner.run_lock(config.Paths.resolve({str(data)!r}, {str(reports)!r}), "RUN-HOLDING", "2024-05"):
            print("locked", flush=True)
            time.sleep(60)
    """)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        res = basinlab("run", "--month", MONTH, "--data-dir", str(data), "--reports-dir", str(reports))
        assert res.returncode == 1
        assert "another run is in progress" in res.stderr and "RUN-HOLDING" in res.stderr
        assert str(holder.pid) in res.stderr
    finally:
        holder.kill()
        holder.wait()


def test_reader_keeps_working_through_a_publish(published, tmp_path):
    data, reports = clone(published, tmp_path)
    reader = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys, duckdb
        con = duckdb.connect({str(data / 'warehouse.duckdb')!r}, read_only=True)
        q = "select count(*) from metadata.pipeline_runs"
        print(con.execute(q).fetchone()[0], flush=True)
        sys.stdin.readline()
        print(con.execute(q).fetchone()[0], con.execute("select count(*) from marts.dim_wells").fetchone()[0],
              flush=True)
    """)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert reader.stdout.readline().strip() == "1"
        res = basinlab("run", "--month", MONTH, "--data-dir", str(data), "--reports-dir", str(reports))
        assert res.returncode == 0, res.stderr  # the reader's read-only handle does not block the run
        reader.stdin.write("\n")
        reader.stdin.flush()
        runs, wells = reader.stdout.readline().split()
        assert runs == "1" and int(wells) == WELLS   # still reading its consistent snapshot
    finally:
        reader.kill()
        reader.wait()
    con = duckdb.connect(str(data / "warehouse.duckdb"), read_only=True)
    assert con.execute("select count(*) from metadata.pipeline_runs").fetchone()[0] == 2
    con.close()


def test_parameters_are_checked_before_a_notebook_runs(tmp_path):
    nb = config.NOTEBOOKS_DIR / "02_transform.ipynb"
    with pytest.raises(runner.RunError, match="does not declare parameter"):
        runner.check_parameters(nb, {"month": MONTH, "colour": "blue"})
    import nbformat

    doc = nbformat.read(nb, as_version=4)
    for c in doc.cells:
        c.metadata["tags"] = []
    untagged = tmp_path / "untagged.ipynb"
    nbformat.write(doc, untagged)
    with pytest.raises(runner.RunError, match="no cell tagged 'parameters'"):
        runner.check_parameters(untagged, {})


def test_bad_month_is_a_usage_error():
    res = basinlab("run", "--month", "2024-13")
    assert res.returncode == 2 and "YYYY-MM" in res.stderr


VOLVE = config.SHARED_DATA_DIR / "volve" / "Volve production data.xlsx"
EIA = config.SHARED_DATA_DIR / "prices"


@pytest.mark.skipif(not (VOLVE.exists() and EIA.exists()),
                    reason=f"real data not present at {config.SHARED_DATA_DIR} (Volve workbook, EIA prices)")
def test_real_data_month_volve_production_and_eia_prices(tmp_path):
    """The whole chain on data nobody here wrote: the Volve workbook as published and EIA price files
    mapped with a mapping.yml; no GL, so the report says financials are not reported."""
    inbox = tmp_path / "data" / "inbox"
    (inbox / "volve").mkdir(parents=True)
    (inbox / "prices").mkdir()
    shutil.copy(VOLVE, inbox / "volve")
    for name in ("wti-monthly.csv", "henry-hub-monthly.csv"):
        shutil.copy(EIA / name, inbox / "prices")
    (inbox / "prices" / "mapping.yml").write_text(textwrap.dedent("""
        mappings:
          - files: "wti-monthly.csv"
            columns: {price_month: Date, price_usd: Price}
            constants: {benchmark: WTI}
          - files: "henry-hub-monthly.csv"
            columns: {price_month: Month, price_usd: Price}
            constants: {benchmark: HENRY_HUB}
    """))
    res = basinlab("run", "--month", "2016-08", "--data-dir", str(tmp_path / "data"),
                   "--reports-dir", str(tmp_path / "reports"))
    assert res.returncode == 0, res.stdout + res.stderr
    con = duckdb.connect(str(tmp_path / "data" / "warehouse.duckdb"), read_only=True)
    files = con.execute("select kind, rows_read, rows_loaded, rows_rejected from metadata.ingested_files").fetchall()
    assert all(read == loaded + rejected for _, read, loaded, rejected in files)
    volve = [f for f in files if f[0] == "volve"][0]
    assert volve[1] == 15_832                               # every daily row accounted for
    producers = {r[0] for r in con.execute("select distinct well_id from staging.stg_production "
                                            "where oil_bbl > 0").fetchall()}
    statuses = dict(con.execute("select well_id, status from marts.decline_params where phase = 'oil'").fetchall())
    assert producers <= set(statuses) and all(statuses[w] for w in producers)
    con.close()
    pdf = tmp_path / "reports" / "2016-08" / "basinlab_2016-08.pdf"
    text = "\n".join(p.extract_text() for p in PdfReader(pdf).pages)
    assert "No GL lines are booked" in text and "Revenue calculated from the price deck" in text
    wb = openpyxl.load_workbook(tmp_path / "reports" / "2016-08" / "basinlab_2016-08.xlsx", read_only=True)
    wells = {r[0] for r in wb["Wells this month"].iter_rows(min_row=2, values_only=True)}
    assert "15/9-F-12" in wells


def test_sigterm_stops_the_run_cleanly(published, tmp_path):
    data, reports = clone(published, tmp_path)
    wh_sha = sha(data / "warehouse.duckdb")
    proc = subprocess.Popen([str(Path(sys.executable).with_name("basinlab")), "run", "--month", MONTH,
                             "--data-dir", str(data), "--reports-dir", str(reports)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd="/")
    for line in proc.stdout:
        if "[transform]" in line:
            break
    proc.terminate()                                  # what `docker compose stop` sends
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1
    assert "stopped by signal SIGTERM" in err
    assert sha(data / "warehouse.duckdb") == wh_sha
    assert not [p for p in (data / "builds").glob("*.duckdb") if not p.name.endswith(".failed.duckdb")]
    last = json.loads((data / "runs.jsonl").read_text().splitlines()[-1])
    assert last["status"] == "failed" and "SIGTERM" in last["error"]


def test_manifest_checks_are_this_runs(published):
    data, reports, _ = published
    manifest = json.loads((reports / MONTH / "manifest.json").read_text())
    con = duckdb.connect(str(data / "warehouse.duckdb"), read_only=True)
    n = con.execute("select count(*) from metadata.data_quality_checks where run_id = ?",
                    [manifest["run_id"]]).fetchone()[0]
    con.close()
    assert n > 0 and len(manifest["checks"]) == n


def test_a_warehouse_problem_fails_the_run_with_a_message_not_a_traceback(published, tmp_path):
    data, reports = clone(published, tmp_path)
    con = duckdb.connect(str(data / "warehouse.duckdb"))
    con.execute("update metadata.schema_migrations set checksum_sha256 = 'tampered' where version = 1")
    con.close()
    res = basinlab("run", "--month", MONTH, "--data-dir", str(data), "--reports-dir", str(reports))
    assert res.returncode == 1
    assert "V001__initial_schema.sql" in res.stderr and "Traceback" not in res.stderr
    last = json.loads((data / "runs.jsonl").read_text().splitlines()[-1])
    assert last["status"] == "failed"
    assert not [p for p in (data / "builds").glob("*.duckdb") if not p.name.endswith(".failed.duckdb")]


def test_run_log_with_repeated_entries_imports_once(tmp_path):
    from basinlab import warehouse

    paths = config.Paths.resolve(tmp_path / "data", tmp_path / "reports")
    paths.data_dir.mkdir(parents=True)
    entries = [{"run_id": "2024-06_x", "month": "2024-06", "status": s, "started_at": "2024-07-01 06:00:00",
                "steps": [{"step": "ingest", "notebook": "01_ingest.ipynb", "status": "failed",
                           "started_at": "2024-07-01 06:00:00"}]}
               for s in ("running", "abandoned")]
    paths.run_log.write_text("".join(json.dumps(e) + "\n" for e in entries))
    con = warehouse.connect(tmp_path / "w.duckdb")
    warehouse.migrate(con)
    runner._import_run_log(con, paths)
    runner._import_run_log(con, paths)          # and again on the next run: still one row
    assert con.execute("select status from metadata.pipeline_runs").fetchall() == [("abandoned",)]
    assert con.execute("select count(*) from metadata.pipeline_run_steps").fetchone()[0] == 1
    con.close()
