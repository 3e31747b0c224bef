"""Faults: runs killed with SIGKILL at every step boundary and inside publish, the report swap and the
PDF; a full disk; read-only data and reports dirs; the runner's own quality gate; a deleted migration.

The kill points are deterministic: ``BASINLAB_FAULT=<point>`` makes the runner SIGKILL itself there
(``basinlab.faults``). The kill matrix is one chain on one data dir, cheap by design: each run after
a kill must first recover what the killed run left (and it does so before anything else), then is
itself killed at the next point, so every kill's remains are recovered by a real next run; the last
run completes. Runs only execute the notebooks their kill point needs (the build starts as a copy of
the published warehouse, so the quality step alone makes a publishable build).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import nbformat
import pytest

import basinlab
from basinlab import config, runner, warehouse
from basinlab.decline.step import fit_warehouse
from basinlab.report import report_manifest

MONTH = "2024-06"
EXE = Path(sys.executable).with_name("basinlab")

pytestmark = pytest.mark.slow


def sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def build_published(root: Path, wells: int = 8, months: int = 12) -> tuple[Path, Path]:
    """A data dir with a published warehouse built in-process (no notebooks): demo inbox, ingest,
    models, decline fits. Returns (data dir, reports dir)."""
    data, reports = root / "data", root / "reports"
    basinlab.generate_demo(data / "inbox", wells=wells, months=months, end_month=MONTH, seed=5)
    build = root / "seed.duckdb"
    con = warehouse.connect(build)
    warehouse.migrate(con)
    basinlab.ingest_inbox(con, data / "inbox", "seed")
    basinlab.run_models(con, run_id="seed")
    fit_warehouse(con, run_id="seed")
    con.close()
    warehouse.publish(build, data / config.WAREHOUSE_FILE, data / config.SNAPSHOTS_DIR)
    reports.mkdir()
    return data, reports


def write_report(reports: Path, run_id: str) -> Path:
    """A complete report folder for ``MONTH`` as a run leaves it (files + a manifest with their sha256),
    without running the report notebook."""
    from basinlab.report import write_manifest

    folder = reports / MONTH
    (folder / "notebooks").mkdir(parents=True)
    files = [folder / f"basinlab_{MONTH}.pdf", folder / f"basinlab_{MONTH}.xlsx", folder / "notebooks/05_report.ipynb"]
    for i, f in enumerate(files):
        f.write_bytes(f"{run_id} output {i}\n".encode() * 100)
    write_manifest(folder / "manifest.json", run_id=run_id, month=MONTH, parameters={}, inputs=[], row_counts={},
                   checks=[], outputs=files)
    return folder


#: A process that imports the runner and papermill once (5 s on a loaded 2-core box) and forks one
#: child per run: each run is still its own process, started as a scheduler would and killed for real.
ZYGOTE = textwrap.dedent("""
    import json, os, sys, tempfile
    import papermill, nbclient, jupyter_client, nbconvert  # noqa: F401  the slow imports, once
    from basinlab import runner
    for line in sys.stdin:
        job = json.loads(line)
        log = os.open(job["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        sys.stdout.flush(); sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            os.dup2(log, 1); os.dup2(log, 2)
            os.environ.update(job["env"])
            tempfile.tempdir = None
            steps = tuple(s for s in runner.STEPS if s.name in job["steps"].split(","))
            try:
                runner.run_month(job["month"], data_dir=job["data"], reports_dir=job["reports"], steps=steps,
                                 progress=lambda m: print(m, flush=True))
                code = 0
            except runner.RunError as exc:
                print(f"basinlab: error: {exc}", flush=True)
                code = 1
            os._exit(code)
        os.close(log)
        _, status = os.waitpid(pid, 0)
        print(json.dumps({"pid": pid, "code": os.waitstatus_to_exitcode(status)}), flush=True)
""")


class Runs:
    """Runs for one data dir, each a forked child of a pre-imported runner process."""

    def __init__(self, data: Path, reports: Path, tmp: Path):
        self.data, self.reports, self.tmp, self.n = data, reports, tmp, 0
        self.proc = subprocess.Popen([sys.executable, "-c", ZYGOTE], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, cwd="/", env=os.environ | {"PLOOMBER_STATS_ENABLED": "false"})

    def __call__(self, steps: str, fault: str = "") -> subprocess.CompletedProcess:
        self.n += 1
        log = self.tmp / f"run-{self.n}.log"
        job = {"month": MONTH, "data": str(self.data), "reports": str(self.reports), "steps": steps, "log": str(log),
               "env": {"BASINLAB_FAULT": fault, "TMPDIR": str(self.tmp), "PLOOMBER_STATS_ENABLED": "false"}}
        self.proc.stdin.write(json.dumps(job) + "\n")
        self.proc.stdin.flush()
        done = json.loads(self.proc.stdout.readline())
        out = log.read_text()
        log.unlink()
        return subprocess.CompletedProcess([f"run {steps} fault={fault}"], done["code"], out, out)

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


@pytest.fixture
def short_tmp():
    """A private TMPDIR for the runs (their browser profiles), short enough for Chromium's socket path."""
    import tempfile

    d = Path(tempfile.mkdtemp(prefix="blf-", dir="/tmp" if Path("/tmp").is_dir() else None))
    yield d
    shutil.rmtree(d, ignore_errors=True)


def cli(*args, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([str(EXE), *map(str, args)], capture_output=True, text=True, cwd="/",
                          env=os.environ | {"PLOOMBER_STATS_ENABLED": "false"}, timeout=300, **kw)


def counts(data: Path) -> dict[str, int]:
    con = warehouse.connect(data / config.WAREHOUSE_FILE, read_only=True)
    try:
        return warehouse.table_counts(con)
    finally:
        con.close()


def published_runs(data: Path) -> set[str]:
    con = warehouse.connect(data / config.WAREHOUSE_FILE, read_only=True)
    try:
        return {r[0] for r in con.execute("select run_id from metadata.pipeline_runs").fetchall()}
    finally:
        con.close()


def lock_run_id(data: Path) -> str:
    return json.loads((data / config.LOCK_FILE).read_text())["run_id"]


def log_states(data: Path) -> dict[str, dict]:
    return {r["run_id"]: r for r in runner.run_states(runner.load_run_log(config.Paths.resolve(data)))}


def browser_processes(profile_root: Path) -> list[int]:
    from basinlab.report.browser import _processes_using

    return _processes_using(profile_root)


# --------------------------------------------------------------------------- the kill matrix

#: (fault point, the steps that run needs, whether the kill comes after the publish)
KILLS = [
    ("after:ingest", "ingest", False),
    ("after:transform", "transform", False),
    ("after:decline", "decline", False),
    ("after:quality", "quality", False),
    ("publish:linked", "quality", False),
    ("publish:replaced", "quality", True),
    ("report:swap", "quality,report", True),
    ("pdf", "quality,report", True),
]


def test_kill_matrix_every_kill_is_recovered_by_the_next_run(tmp_path, short_tmp):
    data, reports = build_published(tmp_path)
    tmp = short_tmp
    run = Runs(data, reports, tmp)
    first = run("quality,report")             # the last good report
    assert first.returncode == 0, first.stdout + first.stderr
    good_counts = counts(data)
    report_dir = reports / MONTH
    last_report_run = report_manifest(report_dir)["run_id"]
    previous: str | None = None

    for fault, steps, published in KILLS:
        before_sha = sha(data / config.WAREHOUSE_FILE)
        res = run(steps, fault=fault)
        assert res.returncode == -signal.SIGKILL, f"{fault}: not killed\n{res.stdout}\n{res.stderr}"
        killed = lock_run_id(data)                                        # the lock still names the dead run
        if previous:                                                      # this run first recovered the last kill
            assert f"earlier run {previous} did not finish: recorded as abandoned" in res.stdout, res.stdout
            assert log_states(data)[previous]["status"] == "abandoned"

        # the published warehouse opens, with its previous row counts or the killed run's
        assert counts(data) == good_counts, fault
        if published:
            assert killed in published_runs(data), f"{fault}: the build should have been published"
        else:
            assert sha(data / config.WAREHOUSE_FILE) == before_sha, f"{fault}: published warehouse changed"
            assert killed not in published_runs(data)

        # the last report is complete (after a kill inside the swap: a complete copy waits beside it)
        if fault == "report:swap":
            assert not report_dir.exists()
            spare = [p for p in reports.iterdir() if p.name.startswith((f".{MONTH}.old-", ".staging-"))]
            assert spare and all(report_manifest(p) for p in spare), spare
        else:
            doc = report_manifest(report_dir)
            assert doc is not None, f"{fault}: the report in place is not complete"
            assert doc["run_id"] == last_report_run, fault

        # monitoring sees the dead run at once
        mon = cli("runs", "--data-dir", data, "--strict")
        assert mon.returncode == 1, mon.stdout + mon.stderr
        assert f"dead run: {killed}" in mon.stdout and killed in mon.stderr
        assert "Traceback" not in mon.stdout + mon.stderr

        if fault == "pdf":  # the browser died with the run (its own process group, parent-death signal)
            profiles = list(tmp.glob("basinlab-browser-*"))
            deadline = time.monotonic() + 10
            while browser_processes(tmp) and time.monotonic() < deadline:
                time.sleep(0.2)
            assert browser_processes(tmp) == [], "browser processes outlived the killed run"
            assert profiles, "expected the dead run's browser profile to be left for the next run to clean"
        if fault == "report:swap":
            last_report_run = killed                      # its staged report is the newest complete one
        previous = killed

    # the next run succeeds and leaves everything clean
    final = run("quality,report")
    run.close()
    assert final.returncode == 0, final.stdout + final.stderr
    assert f"earlier run {previous} did not finish: recorded as abandoned (it had published its warehouse)" \
        in final.stdout
    assert "removed the browser profile" in final.stdout
    assert not list(tmp.glob("basinlab-browser-*")) and not list(tmp.glob("basinlab-report-*"))
    doc = report_manifest(report_dir)
    assert doc is not None and doc["run_id"] == latest_run_id(data)
    assert not [p for p in reports.iterdir() if p.name.startswith((".staging-", f".{MONTH}.old-"))]
    assert counts(data) == good_counts
    states = log_states(data)
    abandoned = {rid: s for rid, s in states.items() if s["status"] == "abandoned"}
    assert len(abandoned) == len(KILLS)
    assert [s["published"] for s in abandoned.values()] == [p for _, _, p in KILLS]
    assert cli("runs", "--data-dir", data, "--strict").returncode == 0
    assert (data / config.LOCK_FILE).read_text() == ""
    assert not [p for p in (data / "builds").glob("*.duckdb") if not p.name.endswith(".failed.duckdb")]
    assert len(list((data / "builds").glob("*.failed.duckdb"))) <= runner.FAILED_KEPT


def latest_run_id(data: Path) -> str:
    """The run id of the latest run in the log."""
    return runner.run_states(runner.load_run_log(config.Paths.resolve(data)))[-1]["run_id"]


# --------------------------------------------------------------------------- one published data dir per test


@pytest.fixture(scope="module")
def seed(tmp_path_factory) -> tuple[Path, Path]:
    return build_published(tmp_path_factory.mktemp("seed"))


@pytest.fixture
def dirs(seed, tmp_path) -> tuple[Path, Path]:
    data, reports = tmp_path / "data", tmp_path / "reports"
    shutil.copytree(seed[0], data)
    shutil.copytree(seed[1], reports)
    return data, reports


def last_log(data: Path) -> dict:
    return json.loads((data / config.RUN_LOG_FILE).read_text().splitlines()[-1])


# --------------------------------------------------------------------------- dead runs are visible at once


def test_a_run_killed_while_holding_the_lock_is_reported_dead_at_once(tmp_path):
    data = tmp_path / "data"
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import time
        from basinlab import config, runner
        with runner.run_lock(config.Paths.resolve({str(data)!r}), "2024-06_RUN-X", "2024-06"):
            print("locked", flush=True)
            time.sleep(120)
    """)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        alive = cli("runs", "--data-dir", data, "--strict")
        assert alive.returncode == 0, alive.stdout + alive.stderr      # a run in progress is not a failure
        assert "in progress: run 2024-06_RUN-X" in alive.stdout
        state = runner.read_lock(config.Paths.resolve(data))
        assert state.alive and state.pid == holder.pid
    finally:
        holder.kill()                                                   # SIGKILL: the lock file keeps its record
        holder.wait()
    state = runner.read_lock(config.Paths.resolve(data))
    assert state is not None and not state.alive and state.run_id == "2024-06_RUN-X"
    res = cli("runs", "--data-dir", data, "--strict")
    assert res.returncode == 1
    assert f"dead run: 2024-06_RUN-X for month 2024-06 (pid {holder.pid})" in res.stdout
    assert "2024-06_RUN-X" in res.stderr and "Traceback" not in res.stdout + res.stderr


# --------------------------------------------------------------------------- full disk


def du(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def virtual_disk(monkeypatch, data: Path, capacity: int) -> None:
    """The data dir on a disk of ``capacity`` bytes: free = capacity - what the data dir holds now."""
    monkeypatch.setattr(runner, "disk_free", lambda _path: capacity - du(data))


def test_a_full_disk_refuses_the_build_saying_what_is_needed_and_free(dirs, monkeypatch):
    data, reports = dirs
    wh = data / config.WAREHOUSE_FILE
    before = sha(wh)
    need = 2 * wh.stat().st_size + runner.DISK_MARGIN_BYTES
    virtual_disk(monkeypatch, data, du(data) + need // 2)
    free = need - need // 2
    with pytest.raises(runner.NotEnoughSpace) as err:
        runner.run_month(MONTH, data_dir=data, reports_dir=reports, steps=(), progress=None)
    msg = str(err.value)
    assert "\n" not in msg and str(data) in msg
    assert f"need about {need / 1e6:,.0f} MB" in msg and f"{free / 1e6:,.0f} MB free" in msg
    assert sha(wh) == before
    assert not list((data / "builds").glob("*.duckdb")) if (data / "builds").exists() else True
    assert last_log(data)["status"] == "failed" and "not enough free disk space" in last_log(data)["error"]
    assert (data / config.LOCK_FILE).read_text() == ""


def test_old_failed_builds_make_room_and_a_failed_build_that_would_starve_the_next_run_is_deleted(
        dirs, monkeypatch):
    data, reports = dirs
    builds = data / "builds"
    builds.mkdir(exist_ok=True)
    size = 4 * 1024**2
    old = [builds / f"2024-05_2024060{i}T000000_00000{i}.failed.duckdb" for i in (1, 2)]
    for i, p in enumerate(old):
        p.write_bytes(b"\0" * size)
        os.utime(p, (1_700_000_000 + i, 1_700_000_000 + i))
    need = 2 * (data / config.WAREHOUSE_FILE).stat().st_size + runner.DISK_MARGIN_BYTES
    # free space is short of a build by half an old failed build: deleting the oldest one makes room,
    # but the failed build of this run would then leave too little for the next run
    virtual_disk(monkeypatch, data, du(data) + need - size // 2)
    said: list[str] = []
    with pytest.raises(runner.RunError, match="no data-quality results were recorded"):
        runner.run_month(MONTH, data_dir=data, reports_dir=reports, steps=(), progress=said.append)
    out = "\n".join(said)
    assert not old[0].exists() and old[1].exists(), out
    assert f"deleted the failed build {old[0].name}" in out
    assert "was deleted, not kept" in out and "the next run needs about" in out
    assert sorted(p.name for p in builds.glob("*.duckdb")) == [old[1].name]


def test_a_failed_build_is_kept_when_the_disk_has_room(dirs, monkeypatch):
    data, reports = dirs
    virtual_disk(monkeypatch, data, 10**12)
    with pytest.raises(runner.RunError, match="no data-quality results were recorded"):
        runner.run_month(MONTH, data_dir=data, reports_dir=reports, steps=(), progress=None)
    kept = list((data / "builds").glob("*.failed.duckdb"))
    assert len(kept) == 1 and kept[0].name.startswith(last_log(data)["run_id"])


# --------------------------------------------------------------------------- the gate belongs to the runner


def quality_notebook_copy(tmp_path: Path, drop: str) -> Path:
    """04_quality.ipynb with every source line containing ``drop`` removed (the line must exist)."""
    nb = nbformat.read(config.NOTEBOOKS_DIR / "04_quality.ipynb", as_version=4)
    hits = 0
    for cell in nb.cells:
        lines = cell.source.splitlines()
        kept = [ln for ln in lines if drop not in ln]
        hits += len(lines) - len(kept)
        cell.source = "\n".join(kept)
    assert hits, f"04_quality.ipynb has no line with {drop!r}: update this test"
    out = tmp_path / "04_quality_edited.ipynb"
    nbformat.write(nb, out)
    return out


def test_the_runner_refuses_to_publish_failing_checks_when_the_notebook_lost_its_gate(dirs, tmp_path):
    data, reports = dirs
    wh = data / config.WAREHOUSE_FILE
    con = warehouse.connect(wh)                                     # an unbalanced journal slipped in
    con.execute("""insert into raw.gl_records (journal_id, line_number, transaction_date, account_code,
                       debit_amount, credit_amount, currency, _source_file, _source_row, _file_id, _batch_id,
                       _ingested_at)
                   select 'JE-UNBALANCED', n, date '2024-06-15', a, d, c, 'USD', _source_file, 900 + n,
                          _file_id, _batch_id, _ingested_at
                   from (select * from raw.gl_records limit 1),
                        (values (1, '5000', 1000.0, null), (2, '2000', null, 900.0)) v(n, a, d, c)""")
    basinlab.run_models(con, run_id="tampered")
    con.close()
    before = sha(wh)
    step = runner.Step("quality", "04_quality.ipynb", source=quality_notebook_copy(tmp_path, "quality.gate("))
    with pytest.raises(runner.RunError) as err:
        runner.run_month(MONTH, data_dir=data, reports_dir=reports, steps=(step,), progress=None)
    assert "quality gate refused to publish" in str(err.value) and "gl_journals_balance" in str(err.value)
    assert sha(wh) == before
    assert last_log(data)["status"] == "failed" and [s["status"] for s in last_log(data)["steps"]] == ["succeeded"]


def test_the_runner_refuses_to_publish_a_run_that_recorded_no_checks(dirs, tmp_path):
    data, reports = dirs
    before = sha(data / config.WAREHOUSE_FILE)
    nb = nbformat.read(config.NOTEBOOKS_DIR / "04_quality.ipynb", as_version=4)
    opens = next(i for i, c in enumerate(nb.cells) if "open_context(" in c.source)
    nb.cells = nb.cells[:opens + 1] + [nbformat.v4.new_code_cell("ctx.close()", metadata={"tags": []})]  # no checks
    edited = tmp_path / "04_quality_no_checks.ipynb"
    nbformat.write(nb, edited)
    step = runner.Step("quality", "04_quality.ipynb", source=edited)
    with pytest.raises(runner.RunError, match="no data-quality results were recorded for run"):
        runner.run_month(MONTH, data_dir=data, reports_dir=reports, steps=(step,), progress=None)
    assert sha(data / config.WAREHOUSE_FILE) == before


# --------------------------------------------------------------------------- migrations


def test_a_deleted_applied_migration_refuses_the_run_in_one_line(dirs):
    data, reports = dirs
    con = warehouse.connect(data / config.WAREHOUSE_FILE)
    con.execute("insert into metadata.schema_migrations values (99, 'gone', ?, current_timestamp::timestamp, 1.0)",
                ["a" * 64])
    con.close()
    before = sha(data / config.WAREHOUSE_FILE)
    with pytest.raises(runner.RunError) as err:
        runner.run_month(MONTH, data_dir=data, reports_dir=reports, steps=(), progress=None)
    msg = str(err.value)
    assert "\n" not in msg and "V099__gone.sql" in msg and "missing" in msg and "restore" in msg
    assert sha(data / config.WAREHOUSE_FILE) == before
    res = cli("db", "status", "--data-dir", data)
    assert res.returncode == 1 and "missing" in res.stdout and "V099__gone.sql" in res.stderr


# --------------------------------------------------------------------------- read-only dirs


def read_only_tree(root: Path) -> None:
    for p in [root, *root.rglob("*")]:
        p.chmod(0o555 if p.is_dir() else 0o444)


def writable_tree(root: Path) -> None:
    for p in [root, *root.rglob("*")]:
        p.chmod(0o755 if p.is_dir() else 0o644)


def _root_read_only_method() -> str:
    """How to make a folder read-only for root (who ignores permissions): a read-only bind mount in a
    private mount namespace (a real EROFS, as on a read-only volume), else the immutable attribute."""
    import tempfile

    probe = Path(tempfile.mkdtemp(prefix="blro-"))
    try:
        ok = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                             f'mount --bind "{probe}" "{probe}" && mount -o remount,bind,ro "{probe}" '
                             f'&& ! touch "{probe}/x" 2>/dev/null'], capture_output=True)
        return "mount" if ok.returncode == 0 else "chattr"
    except FileNotFoundError:
        return "chattr"
    finally:
        shutil.rmtree(probe, ignore_errors=True)


def cli_read_only(read_only: list[Path], *args) -> subprocess.CompletedProcess:
    """``basinlab *args`` with the folders in ``read_only`` not writable for it."""
    if os.geteuid() != 0:
        for d in read_only:
            read_only_tree(d)
        try:
            return cli(*args)
        finally:
            for d in read_only:
                writable_tree(d)
    if _root_read_only_method() == "mount":
        mounts = " && ".join(f'mount --bind "{d}" "{d}" && mount -o remount,bind,ro "{d}"' for d in read_only)
        return subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", mounts + ' && exec "$@"',
                               "sh", str(EXE), *map(str, args)], capture_output=True, text=True, cwd="/",
                              env=os.environ | {"PLOOMBER_STATS_ENABLED": "false"}, timeout=300)
    subprocess.run(["chattr", "-R", "+i", *map(str, read_only)], check=True)
    try:
        return cli(*args)
    finally:
        subprocess.run(["chattr", "-R", "-i", *map(str, read_only)], check=True)


def one_line_error(res: subprocess.CompletedProcess) -> str:
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert "Traceback" not in res.stdout + res.stderr, res.stderr
    assert len(lines) == 1 and lines[0].startswith("basinlab: error: "), res.stderr
    return lines[0]


def test_a_read_only_data_dir_ends_in_one_line_and_readers_still_work(dirs):
    data, reports = dirs
    wh_before = sha(data / config.WAREHOUSE_FILE)
    res = cli_read_only([data], "run", "--month", MONTH, "--data-dir", data, "--reports-dir", reports)
    assert res.returncode == 1
    line = one_line_error(res)
    assert f"data dir {data}" in line and "writable" in line, line
    assert sha(data / config.WAREHOUSE_FILE) == wh_before
    for args in (("runs", "--data-dir", data, "--strict"), ("db", "status", "--data-dir", data)):
        ok = cli_read_only([data], *args)
        assert ok.returncode == 0 and "Traceback" not in ok.stdout + ok.stderr, ok.stdout + ok.stderr
    chk = cli_read_only([data], "check", "--data-dir", data)
    assert chk.returncode in (0, 1) and " checks on " in chk.stdout, chk.stdout + chk.stderr
    assert "Traceback" not in chk.stdout + chk.stderr
    mig = cli_read_only([data], "db", "migrate", "--warehouse", data / "copy.duckdb")
    assert mig.returncode == 1 and str(data) in one_line_error(mig)


def test_a_read_only_reports_dir_ends_in_one_line_before_anything_changes(dirs):
    data, reports = dirs
    wh_before = sha(data / config.WAREHOUSE_FILE)
    res = cli_read_only([reports], "run", "--month", MONTH, "--data-dir", data, "--reports-dir", reports)
    assert res.returncode == 1
    line = one_line_error(res)
    assert f"reports dir {reports}" in line and "writable" in line, line
    assert sha(data / config.WAREHOUSE_FILE) == wh_before
    assert not (data / "builds").exists() and not (data / config.LOCK_FILE).exists()
