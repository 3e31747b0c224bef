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

import duckdb
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
    assert doc is not None and doc["run_id"] == lock_or_last(data)
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


def lock_or_last(data: Path) -> str:
    """The run id of the latest run in the log."""
    return runner.run_states(runner.load_run_log(config.Paths.resolve(data)))[-1]["run_id"]
