"""The ``basinlab`` console command, run as a user (or a scheduler) runs it: the installed script,
in a subprocess, from ``/`` so every path must resolve from the package and never from the CWD.

``basinlab run`` end to end (and its lock) is covered in test_runner.py.
"""
from __future__ import annotations

import csv
import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

import basinlab
from basinlab import config

EXE = Path(sys.executable).with_name("basinlab")
MONTH = "2024-06"


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(EXE), *map(str, args)], capture_output=True, text=True, cwd="/",
                          env=os.environ | {"PLOOMBER_STATS_ENABLED": "false"}, timeout=300)


def tree(root: Path) -> dict[str, str]:
    """Relative path -> sha256 of every file under root."""
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def no_traceback(res: subprocess.CompletedProcess) -> None:
    assert "Traceback" not in res.stderr + res.stdout, res.stderr


# --------------------------------------------------------------------------- version / demo


def test_console_script_is_installed_and_prints_the_version():
    assert EXE.exists(), f"{EXE} missing: is the project installed in this environment?"
    res = cli("--version")
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == f"basinlab {basinlab.__version__}"


def demo(out: Path, seed: int) -> subprocess.CompletedProcess:
    return cli("demo", "--wells", "5", "--months", "12", "--end-month", MONTH, "--seed", seed, "--out", out)


def test_demo_is_deterministic_per_seed_and_lists_its_files(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    ra, rb, rc = demo(a, 7), demo(b, 7), demo(c, 8)
    for r in (ra, rb, rc):
        assert r.returncode == 0, r.stderr
        no_traceback(r)
    ta, tb, tc = tree(a), tree(b), tree(c)
    assert ta, "the demo wrote no files"
    assert ta == tb, "same seed must give byte-identical files"
    assert set(ta) == set(tc)
    assert all(ta[k] != tc[k] for k in ta), \
        f"a different seed must change every file; unchanged: {[k for k in ta if ta[k] == tc[k]]}"
    # every file is printed as `<kind> <rows> rows <path>`, and the count is right for the CSVs
    listed = re.findall(r"^(\w+)\s+([\d,]+) rows\s+(\S+)$", ra.stdout, flags=re.M)
    assert {Path(p).relative_to(a).as_posix() for _, _, p in listed} == set(ta), ra.stdout
    for kind, rows, path in listed:
        p = Path(path)
        assert p.is_absolute() and p.parent.name == kind, (kind, path)
        if p.suffix == ".csv":
            with open(p, newline="", encoding="utf-8") as fh:
                assert sum(1 for _ in csv.reader(fh)) - 1 == int(rows.replace(",", "")), path


def test_demo_with_a_bad_month_is_a_usage_error_naming_the_format(tmp_path):
    res = cli("demo", "--end-month", "2024-13", "--out", tmp_path / "inbox")
    assert res.returncode == 2
    assert "YYYY-MM" in res.stderr and "2024-13" in res.stderr, res.stderr
    assert not (tmp_path / "inbox").exists()
    no_traceback(res)


# --------------------------------------------------------------------------- db


def migration_files() -> list[str]:
    return sorted(p.name for p in config.MIGRATIONS_DIR.glob("V*.sql"))


def status_lines(out: str) -> dict[str, str]:
    """`V001 initial_schema  applied ...` -> {'V001': 'applied'}"""
    return dict(re.findall(r"^\s+(V\d{3,})\s+\S+\s+(\w+)", out, flags=re.M))


def test_db_status_migrate_status(tmp_path):
    wh = tmp_path / "new.duckdb"
    versions = {f.split("__")[0] for f in migration_files()}
    assert versions, "no migrations found in sql/migrations"

    res = cli("db", "status", "--warehouse", wh)
    assert res.returncode == 0, res.stderr
    assert "pending" in res.stdout and status_lines(res.stdout) == {v: "pending" for v in versions}, res.stdout
    assert not wh.exists(), "db status must not create the warehouse"

    res = cli("db", "migrate", "--warehouse", wh)
    assert res.returncode == 0, res.stderr
    for f in migration_files():
        assert f in res.stdout, res.stdout
    assert wh.exists()

    res = cli("db", "status", "--warehouse", wh)
    assert res.returncode == 0, res.stderr
    assert status_lines(res.stdout) == {v: "applied" for v in versions}, res.stdout

    res = cli("db", "migrate", "--warehouse", wh)
    assert res.returncode == 0 and "up to date" in res.stdout, res.stdout + res.stderr


def test_db_detects_a_changed_migration_and_refuses_to_migrate(tmp_path):
    wh = tmp_path / "w.duckdb"
    assert cli("db", "migrate", "--warehouse", wh).returncode == 0
    first = migration_files()[0]
    con = duckdb.connect(str(wh))
    con.execute("update metadata.schema_migrations set checksum_sha256 = ? where version = 1", ["0" * 64])
    con.close()

    res = cli("db", "status", "--warehouse", wh)
    assert res.returncode == 1, res.stdout + res.stderr
    assert status_lines(res.stdout)["V001"] == "changed", res.stdout

    before = hashlib.sha256(wh.read_bytes()).hexdigest()
    res = cli("db", "migrate", "--warehouse", wh)
    assert res.returncode == 1, res.stdout + res.stderr
    assert first in res.stderr and "changed" in res.stderr, res.stderr
    no_traceback(res)
    assert hashlib.sha256(wh.read_bytes()).hexdigest() == before


def test_db_migrate_refuses_the_published_warehouse(tmp_path):
    data = tmp_path / "data"
    published = data / config.WAREHOUSE_FILE
    assert cli("db", "migrate", "--warehouse", published).returncode == 0  # create it
    before = hashlib.sha256(published.read_bytes()).hexdigest()
    res = cli("db", "migrate", "--data-dir", data)
    assert res.returncode == 1, res.stdout + res.stderr
    assert "published warehouse" in res.stderr and str(published) in res.stderr, res.stderr
    assert "--warehouse" in res.stderr, "the message should say how to migrate another file"
    no_traceback(res)
    assert hashlib.sha256(published.read_bytes()).hexdigest() == before


@pytest.fixture(scope="module")
def published_dir(tmp_path_factory) -> Path:
    """A data dir as the runner leaves it: the published warehouse, a run log, a snapshot."""
    data = tmp_path_factory.mktemp("pub") / "data"
    assert cli("db", "migrate", "--warehouse", data / config.WAREHOUSE_FILE).returncode == 0
    (data / config.RUN_LOG_FILE).write_text("")
    (data / config.SNAPSHOTS_DIR).mkdir()
    shutil.copy2(data / config.WAREHOUSE_FILE, data / config.SNAPSHOTS_DIR / "warehouse-20240101T000000.duckdb")
    return data


def _spellings(data: Path, tmp: Path) -> dict[str, tuple[list[str], dict, Path | None]]:
    """Ways to name the published warehouse (or its snapshot): args for `db migrate`, extra env, cwd."""
    wh = data / config.WAREHOUSE_FILE
    other = tmp / "elsewhere"
    other.mkdir(exist_ok=True)
    (other / "link.duckdb").unlink(missing_ok=True)
    os.symlink(wh, other / "link.duckdb")
    (other / "hard.duckdb").unlink(missing_ok=True)
    os.link(wh, other / "hard.duckdb")
    snap = next((data / config.SNAPSHOTS_DIR).glob("*.duckdb"))
    return {
        "absolute path": (["--warehouse", str(wh)], {}, None),
        "relative path with ..": (["--warehouse", f"../../{data.name}/./{config.WAREHOUSE_FILE}"], {},
                                  data / config.SNAPSHOTS_DIR),
        "symlink elsewhere": (["--warehouse", str(other / "link.duckdb")], {}, None),
        "hard link elsewhere, --data-dir": (["--warehouse", str(other / "hard.duckdb"), "--data-dir", str(data)],
                                            {}, None),
        "hard link elsewhere, BASINLAB_DATA_DIR": (["--warehouse", str(other / "hard.duckdb")],
                                                   {"BASINLAB_DATA_DIR": str(data)}, None),
        "a snapshot": (["--warehouse", str(snap)], {}, None),
    }


@pytest.mark.parametrize("spelling", ["absolute path", "relative path with ..", "symlink elsewhere",
                                      "hard link elsewhere, --data-dir", "hard link elsewhere, BASINLAB_DATA_DIR",
                                      "a snapshot"])
def test_db_migrate_refuses_the_published_warehouse_however_it_is_named(published_dir, tmp_path, spelling):
    args, env, cwd = _spellings(published_dir, tmp_path)[spelling]
    wh = published_dir / config.WAREHOUSE_FILE
    before = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in [wh, *published_dir.rglob("*.duckdb")]}
    files = sorted(published_dir.rglob("*"))
    res = subprocess.run([str(EXE), "db", "migrate", *args], capture_output=True, text=True, cwd=cwd or "/",
                         env=os.environ | {"PLOOMBER_STATS_ENABLED": "false"} | env, timeout=120)
    assert res.returncode == 1, res.stdout + res.stderr
    no_traceback(res)
    assert "only the runner writes it" in res.stderr and "basinlab run" in res.stderr, res.stderr
    assert {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in before} == before
    assert sorted(published_dir.rglob("*")) == files, "nothing created beside the published warehouse"


def test_db_migrate_still_migrates_a_copy_of_the_published_warehouse(published_dir, tmp_path):
    copy = tmp_path / config.WAREHOUSE_FILE
    shutil.copy2(published_dir / config.WAREHOUSE_FILE, copy)
    res = cli("db", "migrate", "--warehouse", copy)
    assert res.returncode == 0 and "up to date" in res.stdout, res.stdout + res.stderr


# --------------------------------------------------------------------------- models


def model_files() -> set[str]:
    return {p.stem for d in ("staging", "intermediate", "marts") for p in (config.SQL_DIR / d).glob("*.sql")}


def parse_models(out: str) -> dict[str, set[str]]:
    """`marts.int_x   table <- staging.a, raw.b` -> {'int_x': {'a', 'b'}} (names without schema)."""
    models = {}
    for line in out.splitlines():
        m = re.match(r"^(\w+)\.(\w+)\s+(\w+)\s+<-\s+(.*)$", line.strip())
        assert m, f"unexpected line in `basinlab models`: {line!r}"
        deps = {d.strip().split(".")[-1] for d in m.group(4).split(",") if d.strip() not in ("", "-")}
        models[m.group(2)] = deps
    return models


def test_models_lists_every_model_with_its_dependencies():
    res = cli("models")
    assert res.returncode == 0, res.stderr
    models = parse_models(res.stdout)
    assert set(models) == model_files()
    assert "stg_production" in models["int_production_cumulative"]
    assert "raw.well_production" in res.stdout


def test_models_mermaid_has_the_known_edges():
    res = cli("models", "--mermaid")
    assert res.returncode == 0, res.stderr
    first = res.stdout.lstrip().splitlines()[0]
    assert first.startswith(("graph", "flowchart")), first
    edges = set(re.findall(r"^\s*(\w+)\s*-->\s*(\w+)\s*$", res.stdout, flags=re.M))
    assert ("staging_stg_production", "marts_int_production_cumulative") in edges, res.stdout
    assert ("marts_int_production_cumulative", "marts_mart_production_monthly") in edges
    # every model appears as a node
    for name in model_files():
        assert name in res.stdout, name


def test_models_select_downstream_lists_only_downstream_models():
    everything = parse_models(cli("models").stdout)
    expected, frontier = {"stg_production"}, {"stg_production"}
    while frontier:
        frontier = {m for m, deps in everything.items() if deps & frontier} - expected
        expected |= frontier
    res = cli("models", "--select", "stg_production+", "--list")
    assert res.returncode == 0, res.stderr
    selected = set(parse_models(res.stdout))
    assert selected == expected
    assert {"int_production_cumulative", "mart_production_monthly"} <= selected
    assert "stg_fx" not in selected and "stg_gl_lines" not in selected


def test_models_select_runs_the_model_and_its_downstream_on_the_sandbox(tmp_path):
    from basinlab import connect, generate_demo, ingest_inbox, migrate

    data = tmp_path / "data"
    generate_demo(data / "inbox", wells=4, months=8, end_month="2024-06", seed=3)
    con = connect(data / "dev.duckdb")
    migrate(con)
    ingest_inbox(con, data / "inbox", "b1")
    con.close()
    res = cli("models", "--select", "+mart_production_monthly", "--data-dir", data)
    assert res.returncode == 0, res.stderr
    con = connect(data / "dev.duckdb", read_only=True)
    built = {r[0] for r in con.execute("select model from metadata.model_runs where status = 'success'").fetchall()}
    rows = con.execute("select count(*) from marts.mart_production_monthly where level = 'well'").fetchone()[0]
    con.close()
    assert {"stg_production", "int_production_cumulative", "mart_production_monthly"} <= built
    assert "agg_monthly_financials" not in built            # not upstream of the selection
    assert rows > 0
    refused = cli("models", "--select", "stg_production", "--warehouse", data / "warehouse.duckdb",
                  "--data-dir", data)
    assert refused.returncode == 1 and "published warehouse" in refused.stderr


def test_models_select_unknown_name_fails_listing_the_models():
    res = cli("models", "--select", "no_such_model+")
    assert res.returncode == 1
    assert "no_such_model" in res.stderr and "stg_production" in res.stderr, res.stderr
    no_traceback(res)


# --------------------------------------------------------------------------- check


def test_check_without_a_warehouse_fails_clearly(tmp_path):
    data = tmp_path / "data"
    res = cli("check", "--data-dir", data)
    assert res.returncode == 1
    assert "does not exist" in res.stderr and str(data / config.WAREHOUSE_FILE) in res.stderr, res.stderr
    assert "basinlab run" in res.stderr, "the message should say how to build the warehouse"
    no_traceback(res)
    assert not data.exists(), "a read-only check must not create the data dir"


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """A small warehouse built in-process (ingest + models), published as <data>/warehouse.duckdb."""
    root = tmp_path_factory.mktemp("check")
    inbox = root / "inbox"
    basinlab.generate_demo(inbox, wells=5, months=12, end_month=MONTH, seed=7)
    build = root / "build.duckdb"
    con = basinlab.connect(build)
    basinlab.migrate(con)
    basinlab.ingest_inbox(con, inbox, "b1")
    basinlab.run_models(con, run_id="r1")
    con.close()
    data = root / "data"
    data.mkdir()
    shutil.copy2(build, data / config.WAREHOUSE_FILE)
    return data


SUMMARY = re.compile(r"^(\d+) checks on .*: (\d+) passed, (\d+) warnings, (\d+) errors", re.M)


def check_rows(out: str) -> dict[str, str]:
    """check_name -> PASS / FAIL (error) / WARN from the printed lines (``MARK  name  where  N rows``)."""
    return {m.group(2): m.group(1) for m in re.finditer(r"^(PASS|FAIL|WARN)\s+(\w+)\s", out, re.M)}


def test_check_passes_on_a_good_warehouse_and_prints_the_summary(built):
    before = hashlib.sha256((built / config.WAREHOUSE_FILE).read_bytes()).hexdigest()
    res = cli("check", "--data-dir", built, "--month", MONTH, "--all")
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr
    m = SUMMARY.search(res.stdout)
    assert m, res.stdout[-2000:]
    total, passed, warns, errors = map(int, m.groups())
    assert total > 0 and errors == 0 and passed + warns == total
    rows = check_rows(res.stdout)
    assert len(rows) == total, "every check printed as a row"
    assert rows["gl_journals_balance"] == "PASS"
    quiet = cli("check", "--data-dir", built, "--month", MONTH)
    assert quiet.returncode == 0 and not check_rows(quiet.stdout), "without --all only failing checks are listed"
    assert hashlib.sha256((built / config.WAREHOUSE_FILE).read_bytes()).hexdigest() == before, \
        "check must open the published warehouse read-only"
    assert not (built / (config.WAREHOUSE_FILE + ".wal")).exists()


def test_check_fails_on_a_month_that_is_not_loaded(built):
    res = cli("check", "--data-dir", built, "--month", "2031-01")
    assert res.returncode == 1
    assert check_rows(res.stdout)["freshness_stg_production"] == "FAIL", res.stdout[-3000:]


def test_check_fails_naming_an_unbalanced_journal(built, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(built, data)
    con = basinlab.connect(data / config.WAREHOUSE_FILE)
    file_id = con.execute("select nextval('metadata.ingested_files_seq')").fetchone()[0]
    con.execute(
        """insert into metadata.ingested_files (file_id, kind, file_name, sha256, size_bytes, version, status,
               rows_read, rows_loaded, rows_rejected, batch_id, ingested_at)
           values (?, 'gl', 'gl/unbalanced.csv', ?, 100, 1, 'loaded', 2, 2, 0, 'b2', current_timestamp::timestamp)""",
        [file_id, "f" * 64])
    for line, debit, credit in ((1, 1000.00, None), (2, None, 900.00)):
        con.execute(
            """insert into raw.gl_records (journal_id, line_number, transaction_date, account_code, account_name,
                   description, debit_amount, credit_amount, currency, _source_file, _source_row, _file_id,
                   _batch_id, _ingested_at)
               values ('JE-UNBALANCED', ?, date '2024-06-15', ?, 'test', 'unbalanced test journal', ?, ?, 'USD',
                       'gl/unbalanced.csv', ?, ?, 'b2', current_timestamp::timestamp)""",
            [line, "5000" if debit else "2000", debit, credit, line + 1, file_id])
    basinlab.run_models(con, run_id="r2")
    con.close()

    res = cli("check", "--data-dir", data, "--month", MONTH)
    assert res.returncode == 1, res.stdout[-3000:]
    no_traceback(res)
    assert check_rows(res.stdout)["gl_journals_balance"] == "FAIL", res.stdout[-3000:]
    assert "JE-UNBALANCED" in res.stdout      # the failing sample names the journal
    m = SUMMARY.search(res.stdout)
    assert m and int(m.group(4)) >= 1, res.stdout[-2000:]


# --------------------------------------------------------------------------- lab


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.kernel
def test_lab_starts_jupyterlab_on_the_notebooks(tmp_path):
    """`basinlab lab` (the compose `lab` service's command, and `make lab`) serves the repo's notebooks,
    also as root (containers, cloud VMs, CI: this suite runs as root there) with no Jupyter config."""
    import json
    import time
    import urllib.error
    import urllib.request

    port, token = free_port(), "basinlab-test-token"
    log = tmp_path / "lab.log"
    env = os.environ | {"JUPYTER_CONFIG_DIR": str(tmp_path / "jconfig"),
                        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
                        "JUPYTER_DATA_DIR": str(tmp_path / "jdata"), "JUPYTER_TOKEN": token,
                        "PLOOMBER_STATS_ENABLED": "false"}
    with open(log, "w") as fh:
        proc = subprocess.Popen([str(EXE), "lab", "--ip", "127.0.0.1", "--port", str(port), "--no-browser",
                                 "--data-dir", str(tmp_path / "data")], cwd="/", env=env, stdout=fh,
                                stderr=subprocess.STDOUT)
    try:
        status, deadline = None, time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status?token={token}", timeout=2) as r:
                    status = r.status
                    break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.25)
        assert status == 200, f"`basinlab lab` did not start JupyterLab (exit code {proc.poll()}). Log:\n" \
            + log.read_text()[-2000:]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/lab?token={token}", timeout=10) as r:
            assert r.status == 200 and "JupyterLab" in r.read().decode("utf-8", "replace")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/contents/notebooks?token={token}",
                                    timeout=10) as r:
            names = {c["name"] for c in json.load(r)["content"]}
        assert "01_ingest.ipynb" in names and "05_report.ipynb" in names, names
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    out = log.read_text()
    if os.geteuid() == 0:
        assert "running as root" in out and "--allow-root" in out, out[-2000:]
    assert "Traceback" not in out, out[-3000:]


def test_runs_lists_outcomes_and_strict_flags_a_failed_latest_run(tmp_path):
    data = tmp_path / "data"
    res = cli("runs", "--data-dir", data)
    assert res.returncode == 0 and "no runs recorded yet" in res.stdout
    data.mkdir()
    (data / config.RUN_LOG_FILE).write_text(
        '{"run_id": "2024-05_a", "month": "2024-05", "status": "succeeded", "seconds": 20.5, '
        '"started_at": "2024-06-02 06:00:00"}\n'
        '{"run_id": "2024-06_b", "month": "2024-06", "status": "failed", "seconds": 3.0, '
        '"started_at": "2024-07-02 06:00:00", "error": "step ingest failed in 01_ingest.ipynb, cell 5: boom\\nmore"}\n')
    res = cli("runs", "--data-dir", data)
    assert res.returncode == 0
    lines = [ln for ln in res.stdout.splitlines() if ln.startswith("2024-")]
    assert len(lines) == 2 and "succeeded" in lines[0] and "20.5s" in lines[0]
    assert "failed" in lines[1] and "01_ingest.ipynb, cell 5: boom" in lines[1] and "more" not in lines[1]
    assert cli("runs", "--data-dir", data, "--strict").returncode == 1
