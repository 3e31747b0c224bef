"""The monthly pipeline: one writer, a build file, papermill, atomic publish.

``run_month("2024-06")`` does, in order:

1. takes the run lock ``<data-dir>/.basinlab.lock`` (a second run fails at once,
   naming the run that holds it);
2. optionally generates the demo inbox for the month;
3. copies the published warehouse to ``builds/<run_id>.duckdb`` and migrates it;
4. executes the writer notebooks on the build file with papermill
   (01_ingest → 02_transform → 03_decline → 04_quality); each step is
   recorded in ``metadata.pipeline_run_steps``;
5. publishes the build over ``warehouse.duckdb`` with an atomic rename
   (the previous file kept in ``snapshots/``) — only when every step passed;
6. executes 05_report against the published file read-only, prints the PDF,
   writes the manifest, and swaps the finished folder into ``reports/YYYY-MM/``.

A failing step stops the run with a non-zero exit and a message naming the
notebook, the cell and the error; the published warehouse and the last
report stay as they were; the partial executed notebook and the failed build
are kept for inspection.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import re
import shutil
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from . import __version__, config, warehouse
from .service.carry import carry_service_files

log = logging.getLogger(__name__)

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Step:
    name: str
    notebook: str
    writer: bool = True


STEPS: tuple[Step, ...] = (
    Step("ingest", "01_ingest.ipynb"),
    Step("transform", "02_transform.ipynb"),
    Step("decline", "03_decline.ipynb"),
    Step("quality", "04_quality.ipynb"),
    Step("report", "05_report.ipynb", writer=False),
)

#: failed builds and failed-run notebooks kept for inspection
FAILED_KEPT = 3


class RunError(Exception):
    """A run that did not complete. ``str()`` is the message for the user."""


class RunLockedError(RunError):
    """Another run holds the lock."""


class RunInterrupted(RunError):
    """The run was stopped: SIGTERM (a scheduler or container stop) or Ctrl-C."""


@contextlib.contextmanager
def _stop_cleanly_on_sigterm() -> Iterator[None]:
    """Turn SIGTERM into a RunInterrupted so a stopped run cleans up like a failed one
    (build kept, run logged, lock released) instead of dying mid-write."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _handler(signum, _frame):
        raise RunInterrupted(f"the run was stopped by signal {signal.Signals(signum).name}")

    previous = signal.signal(signal.SIGTERM, _handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class StepFailed(RunError):
    """A notebook raised. ``notebook`` is where the partial executed notebook is kept."""

    def __init__(self, step: str, notebook: Path, message: str, cell: int | None = None):
        super().__init__(message)
        self.step, self.notebook, self.cell, self.message = step, notebook, cell, message

    def __str__(self) -> str:
        where = f"{self.notebook.name}" + (f", cell {self.cell}" if self.cell is not None else "")
        return f"step {self.step} failed in {where}: {self.message}\n  executed notebook kept at {self.notebook}"


@dataclass
class StepResult:
    step: str
    notebook: str
    status: str
    started_at: str
    finished_at: str | None = None
    seconds: float = 0.0
    rows_in: int | None = None
    rows_out: int | None = None
    error: str | None = None


@dataclass
class RunResult:
    run_id: str
    month: str
    status: str
    steps: list[StepResult] = field(default_factory=list)
    pdf: Path | None = None
    xlsx: Path | None = None
    report_dir: Path | None = None
    warehouse: Path | None = None
    error: str | None = None
    seconds: float = 0.0
    #: seconds of the work outside the notebooks (demo, build copy, publish, pdf, …)
    timings: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("pdf", "xlsx", "report_dir", "warehouse"):
            d[k] = str(d[k]) if d[k] else None
        return d


# --------------------------------------------------------------------------- lock


@contextlib.contextmanager
def run_lock(paths: config.Paths, run_id: str, month: str) -> Iterator[None]:
    """Exclusive, non-blocking run lock. The lock dies with the process (fcntl)."""
    paths.data_dir.mkdir(parents=True, exist_ok=True)
    fh = open(paths.lock, "a+")
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.seek(0)
        holder = fh.read().strip()
        fh.close()
        try:
            info = json.loads(holder)
            who = (f"run {info.get('run_id')} for month {info.get('month')} (pid {info.get('pid')} on "
                   f"{info.get('host')}, started {info.get('started_at')})")
        except (json.JSONDecodeError, AttributeError):
            who = "another basinlab run"
        raise RunLockedError(f"another run is in progress: {who}. Only one run writes at a time; "
                             f"wait for it to finish (lock file {paths.lock}).") from None
    try:
        fh.seek(0)
        fh.truncate()
        fh.write(json.dumps({"run_id": run_id, "month": month, "pid": os.getpid(), "host": socket.gethostname(),
                             "started_at": datetime.now().isoformat(timespec="seconds")}))
        fh.flush()
        yield
    finally:
        with contextlib.suppress(OSError):
            fh.seek(0)
            fh.truncate()
        fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
        fh.close()


# --------------------------------------------------------------------------- helpers


def new_run_id(month: str) -> str:
    return f"{month}_{datetime.now():%Y%m%dT%H%M%S}_{uuid.uuid4().hex[:6]}"


def _now() -> str:
    return datetime.now().isoformat(sep=" ", timespec="seconds")


def _with_con(path: Path, fn: Callable[[duckdb.DuckDBPyConnection], Any], read_only: bool = False) -> Any:
    con = warehouse.connect(path, read_only=read_only)
    try:
        return fn(con)
    finally:
        con.close()


def _scalar(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> int | None:
    try:
        v = con.execute(sql, params or []).fetchone()[0]
        return int(v) if v is not None else None
    except duckdb.Error:
        return None


#: rows in / rows out per step, measured on the build file after the step
STEP_METRICS: dict[str, tuple[str, str]] = {
    "ingest": ("select sum(rows_read) from metadata.ingested_files where batch_id = ?",
               "select sum(rows_loaded) from metadata.ingested_files where batch_id = ?"),
    "transform": ("select count(*) from raw.well_production",
                  "select sum(row_count) from metadata.model_runs where run_id = ? and status = 'success'"),
    "decline": ("select count(distinct well_id) from staging.stg_production",
                "select count(*) from marts.decline_params"),
    "quality": ("select count(*) from metadata.data_quality_checks where run_id = ?",
                "select count(*) from metadata.data_quality_checks where run_id = ? and status = 'pass'"),
}


def _step_metrics(con, step: str, run_id: str) -> tuple[int | None, int | None]:
    if step not in STEP_METRICS:
        return None, None
    q_in, q_out = STEP_METRICS[step]
    return (_scalar(con, q_in, [run_id] if "?" in q_in else []),
            _scalar(con, q_out, [run_id] if "?" in q_out else []))


def _record_step(con, run_id: str, s: StepResult) -> None:
    con.execute("delete from metadata.pipeline_run_steps where run_id = ? and step = ?", [run_id, s.step])
    con.execute("insert into metadata.pipeline_run_steps values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [run_id, s.step, s.notebook, s.status, s.started_at, s.finished_at, s.rows_in, s.rows_out, s.error])


def _record_run(con, r: RunResult, started_at: str, paths: config.Paths, finished: bool) -> None:
    con.execute("delete from metadata.pipeline_runs where run_id = ?", [r.run_id])
    con.execute("insert into metadata.pipeline_runs values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [r.run_id, r.month, r.status, started_at, _now() if finished else None, r.error,
                 str(paths.data_dir), str(paths.reports_dir), __version__])


def _append_run_log(paths: config.Paths, r: RunResult, started_at: str) -> None:
    entry = r.to_json() | {"started_at": started_at, "finished_at": _now()}
    with open(paths.run_log, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(entry, default=str) + "\n")


def _import_run_log(con, paths: config.Paths) -> None:
    """Bring runs the warehouse has not seen (failed runs, report steps) in from runs.jsonl."""
    if not paths.run_log.exists():
        return
    known = {r[0]: r[1] for r in con.execute("select run_id, status from metadata.pipeline_runs").fetchall()}
    known_steps = {(a, b) for a, b in con.execute("select run_id, step from metadata.pipeline_run_steps").fetchall()}
    for line in paths.run_log.read_text(encoding="utf-8").splitlines():
        try:
            e = json.loads(line)
        except json.JSONDecodeError:
            continue
        rid = e.get("run_id")
        if not rid:
            continue
        if rid not in known:
            con.execute("insert into metadata.pipeline_runs values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        [rid, e.get("month"), e.get("status"), e.get("started_at"), e.get("finished_at"),
                         e.get("error"), str(paths.data_dir), str(paths.reports_dir), __version__])
            known[rid] = e.get("status")
        elif known[rid] != e.get("status"):
            con.execute("update metadata.pipeline_runs set status = ?, finished_at = ?, error = ? where run_id = ?",
                        [e.get("status"), e.get("finished_at"), e.get("error"), rid])
            known[rid] = e.get("status")
        for s in e.get("steps", []):
            if (rid, s["step"]) not in known_steps:
                known_steps.add((rid, s["step"]))
                con.execute("insert into metadata.pipeline_run_steps values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                            [rid, s["step"], s["notebook"], s["status"], s["started_at"], s.get("finished_at"),
                             s.get("rows_in"), s.get("rows_out"), s.get("error")])


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _papermill_error_message(exc: Exception, stderr_text: str) -> tuple[str, int | None]:
    """A one-paragraph message from a PapermillExecutionError (jupysql errors arrive with empty ename)."""
    ename = getattr(exc, "ename", "") or ""
    evalue = getattr(exc, "evalue", "") or ""
    cell = getattr(exc, "exec_count", None)
    if not ename and not evalue:
        tail = [ln for ln in _ANSI.sub("", stderr_text).splitlines() if ln.strip()
                and "Kernel is running over TCP" not in ln]
        evalue = " ".join(tail[-3:]) if tail else str(exc).strip().splitlines()[-1]
    msg = f"{ename}: {evalue}" if ename else evalue
    return _ANSI.sub("", msg).strip(), cell


def execute_notebook(step: Step, out_dir: Path, parameters: dict[str, Any], progress: Progress | None = None
                     ) -> Path:
    """Run one notebook with papermill's Python API; raise StepFailed with a readable message."""
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    src = config.NOTEBOOKS_DIR / step.notebook
    out = out_dir / step.notebook
    out.parent.mkdir(parents=True, exist_ok=True)
    check_parameters(src, parameters)
    stderr_path = out_dir / f".{step.name}.stderr"
    try:
        with open(stderr_path, "w", encoding="utf-8") as err, _kernel_stderr_to(err):
            pm.execute_notebook(str(src), str(out), parameters=parameters, kernel_name="python3",
                                progress_bar=False, log_output=False, stderr_file=err,
                                cwd=str(config.NOTEBOOKS_DIR), start_timeout=120,
                                extra_arguments=["--IPKernelApp.log_level=ERROR"])
    except PapermillExecutionError as exc:
        msg, cell = _papermill_error_message(exc, stderr_path.read_text(encoding="utf-8", errors="replace"))
        raise StepFailed(step.name, out, msg, cell) from None
    except Exception as exc:  # kernel died, notebook unreadable, …
        raise StepFailed(step.name, out, f"{type(exc).__name__}: {exc}") from None
    finally:
        stderr_path.unlink(missing_ok=True)
    return out


@contextlib.contextmanager
def _kernel_stderr_to(fh) -> Iterator[None]:
    """Send this process's fd 2 — which the kernel inherits — to ``fh`` while a notebook runs,
    so kernel start/stop chatter never reaches the user; the runner's own messages are unaffected
    (they go through ``progress``) and the file feeds error messages."""
    import sys

    sys.stderr.flush()
    saved = os.dup(2)
    try:
        os.dup2(fh.fileno(), 2)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


def check_parameters(notebook: Path, parameters: dict[str, Any]) -> None:
    """Refuse a notebook without a ``parameters`` cell or with unknown parameter names
    (papermill only warns about both)."""
    import nbformat
    from papermill.inspection import _infer_parameters

    nb = nbformat.read(notebook, as_version=4)
    if not any("parameters" in c.get("metadata", {}).get("tags", []) for c in nb.cells):
        raise RunError(f"{notebook.name} has no cell tagged 'parameters'")
    known = {p.name for p in _infer_parameters(nb)}
    unknown = set(parameters) - known
    if unknown:
        raise RunError(f"{notebook.name} does not declare parameter(s) {sorted(unknown)} (declares {sorted(known)})")


def _prune(paths: list[Path], keep: int) -> None:
    for p in sorted(paths, key=lambda p: p.stat().st_mtime)[: max(0, len(paths) - keep)]:
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)
            p.with_name(p.name + ".wal").unlink(missing_ok=True)


# --------------------------------------------------------------------------- the run


def run_month(month: str, *, data_dir: str | Path | None = None, reports_dir: str | Path | None = None,
              demo: bool = False, demo_wells: int = 200, demo_months: int = 60, demo_seed: int = 42,
              progress: Progress | None = print, steps: tuple[Step, ...] = STEPS) -> RunResult:
    """Run the monthly pipeline for ``month`` (YYYY-MM). Raises RunError on failure."""
    config.parse_month(month)
    paths = config.Paths.resolve(data_dir, reports_dir)
    os.environ["PLOOMBER_STATS_ENABLED"] = "false"
    say = progress or (lambda s: None)
    run_id = new_run_id(month)
    t_run = time.perf_counter()
    started_at = _now()
    result = RunResult(run_id=run_id, month=month, status="running", warehouse=paths.warehouse)
    with run_lock(paths, run_id, month), _stop_cleanly_on_sigterm():
        say(f"basinlab run {run_id}: month {month}, data {paths.data_dir}, reports {paths.reports_dir}")
        recover_abandoned(paths, say)
        if demo:
            from .demo import generate_demo

            t0 = time.perf_counter()
            demo_res = generate_demo(paths.inbox, wells=demo_wells, months=demo_months, end_month=month,
                                     seed=demo_seed)
            result.timings["demo"] = time.perf_counter() - t0
            say(f"  demo inbox: {len(demo_res.files)} files for {demo_wells} wells x {demo_months} months "
                f"({result.timings['demo']:.1f}s)")
        build = paths.builds / f"{run_id}.duckdb"
        staging_dir = paths.reports_dir / f".staging-{run_id}"
        nb_dir = staging_dir / "notebooks"
        base_params = {"run_id": run_id, "month": month, "data_dir": str(paths.data_dir)}
        try:
            try:
                t0 = time.perf_counter()
                warehouse.copy_for_build(paths.warehouse, build)

                def _start(con):
                    warehouse.migrate(con)
                    _import_run_log(con, paths)
                    carry_service_files(con, paths, run_id)  # access log -> connection_audit; EIA as received
                    _record_run(con, result, started_at, paths, finished=False)

                _with_con(build, _start)
                result.timings["build_setup"] = time.perf_counter() - t0
                for step in [s for s in steps if s.writer]:
                    params = base_params | {"warehouse": str(build)}
                    result.steps.append(_run_step(step, build, nb_dir, params, run_id, say))
                # all writer steps passed: seal the run record, then publish atomically
                result.status = "published"
                t0 = time.perf_counter()
                _with_con(build, lambda con: _record_run(con, result, started_at, paths, finished=True))
                snap = warehouse.publish(build, paths.warehouse, paths.snapshots, label=run_id)
                result.timings["publish"] = time.perf_counter() - t0
                say(f"  published {paths.warehouse}" + (f" (previous kept as {snap.name})" if snap else ""))
                for step in [s for s in steps if not s.writer]:
                    params = base_params | {"warehouse": str(paths.warehouse),
                                            "output_dir": str(staging_dir)}
                    result.steps.append(_run_step(step, None, nb_dir, params, run_id, say))
                _finish_report(result, paths, staging_dir, month, run_id, base_params, say)
                result.status = "succeeded"
            except RunError:
                raise
            except KeyboardInterrupt:
                raise RunInterrupted("the run was interrupted (Ctrl-C)") from None
            except (warehouse.WarehouseError, duckdb.Error, OSError) as exc:
                raise RunError(f"{type(exc).__name__}: {exc}") from exc
            except Exception as exc:  # a report or library error: still a failed run, never a traceback
                raise RunError(f"{type(exc).__name__}: {exc}") from exc
        except RunError as exc:
            result.status = "failed"
            kept = _keep_failed(paths, build, staging_dir, run_id, say)
            if isinstance(exc, StepFailed) and kept is not None:
                exc.notebook = kept / exc.notebook.name
            result.error = str(exc)
            raise
        finally:
            result.seconds = time.perf_counter() - t_run
            _append_run_log(paths, result, started_at)
            shutil.rmtree(staging_dir, ignore_errors=True)
        say(f"done in {result.seconds:.1f}s\n  PDF:   {result.pdf}\n  Excel: {result.xlsx}")
        return result


def _run_step(step: Step, build: Path | None, nb_dir: Path, params: dict, run_id: str, say: Progress) -> StepResult:
    s = StepResult(step.name, step.notebook, "running", _now())
    say(f"  [{step.name}] {step.notebook} …")
    t0 = time.perf_counter()
    error: StepFailed | None = None
    try:
        execute_notebook(step, nb_dir, params)
        s.status = "succeeded"
    except StepFailed as exc:
        s.status, s.error, error = "failed", str(exc).splitlines()[0], exc
    s.seconds = time.perf_counter() - t0
    s.finished_at = _now()
    if build is not None:
        def _rec(con):
            s.rows_in, s.rows_out = _step_metrics(con, step.name, run_id)
            _record_step(con, run_id, s)
        _with_con(build, _rec)
    detail = f"rows in {s.rows_in:,} out {s.rows_out:,}" if s.rows_in is not None and s.rows_out is not None else ""
    say(f"  [{step.name}] {s.status} in {s.seconds:.1f}s {detail}".rstrip())
    if error:
        raise error
    return s


def _finish_report(result: RunResult, paths: config.Paths, staging_dir: Path, month: str, run_id: str,
                   params: dict, say: Progress) -> None:
    from . import report

    nb = staging_dir / "notebooks" / "05_report.ipynb"
    pdf = staging_dir / f"basinlab_{month}.pdf"
    xlsx = staging_dir / f"basinlab_{month}.xlsx"
    t0 = time.perf_counter()
    try:
        report.notebook_to_pdf(nb, pdf, title=f"basinlab monthly report — {month}")
    except Exception as exc:
        raise RunError(f"PDF rendering failed: {exc}") from exc
    result.timings["pdf"] = time.perf_counter() - t0
    say(f"  [pdf] {pdf.name} ({result.timings['pdf']:.1f}s)")
    if not xlsx.exists():
        raise RunError(f"the report notebook did not write {xlsx.name}")
    manifest_inputs, row_counts, checks = _manifest_facts(paths.warehouse, run_id)
    outputs = sorted(p for p in staging_dir.rglob("*") if p.is_file() and not p.name.startswith("."))
    report.write_manifest(staging_dir / "manifest.json", run_id=run_id, month=month, parameters=params,
                          inputs=manifest_inputs, row_counts=row_counts, checks=checks, outputs=outputs)
    final = paths.month_reports(month)
    report.publish_report_dir(staging_dir, final)
    result.report_dir = final
    result.pdf = final / pdf.name
    result.xlsx = final / xlsx.name


def _manifest_facts(published: Path, run_id: str) -> tuple[list[dict], dict[str, int], list[dict]]:
    def _facts(con):
        inputs = con.execute(
            """select file_name as file, kind, sha256, version, status, rows_read, rows_loaded, rows_rejected,
                      batch_id, strftime(ingested_at, '%Y-%m-%dT%H:%M:%S') as ingested_at
               from metadata.ingested_files order by file_id""").df().to_dict("records")
        counts = warehouse.table_counts(con)
        checks = con.execute(
            """select check_name, model, column_name, check_type, severity, status, failing_rows
               from metadata.data_quality_checks where run_id = ?
               order by severity, check_name""", [run_id]).df().to_dict("records")
        return inputs, counts, checks

    return _with_con(published, _facts, read_only=True)


def _move_wal(build: Path, kept: Path) -> None:
    """Keep a build's write-ahead log with it: without it the kept copy would lose committed work."""
    wal = build.with_name(build.name + ".wal")
    if wal.exists():
        os.replace(wal, kept.with_name(kept.name + ".wal"))


def recover_abandoned(paths: config.Paths, say: Progress = lambda _m: None) -> list[str]:
    """Clean up after runs that died without cleaning up (killed, machine restarted).

    Called under the run lock, so no other run is alive: a build file that is not marked
    failed, or a report staging folder, belongs to a dead run. Its build is kept as
    ``*.failed.duckdb`` and the run is logged as ``abandoned`` in runs.jsonl (and so reaches
    ``metadata.pipeline_runs``). Returns the abandoned run ids.
    """
    gone: list[str] = []
    if paths.builds.exists():
        for build in sorted(paths.builds.glob("*.duckdb")):
            if build.name.endswith(".failed.duckdb"):
                continue
            run_id = build.stem
            kept = build.with_name(f"{run_id}.failed.duckdb")
            os.replace(build, kept)
            _move_wal(build, kept)
            month = run_id.split("_", 1)[0]
            entry = RunResult(run_id=run_id, month=month, status="abandoned",
                              error="the run stopped before finishing (process killed?); its build was kept")
            _append_run_log(paths, entry, started_at=_now())
            gone.append(run_id)
            say(f"  earlier run {run_id} did not finish: recorded as abandoned, its build kept for inspection")
        _prune(list(paths.builds.glob("*.failed.duckdb")), FAILED_KEPT)
    if paths.reports_dir.exists():
        for staging in paths.reports_dir.glob(".staging-*"):
            shutil.rmtree(staging, ignore_errors=True)
    return gone


def _keep_failed(paths: config.Paths, build: Path, staging_dir: Path, run_id: str, say: Progress) -> Path | None:
    """Keep the failed run's notebooks and build for inspection; returns the notebooks' folder."""
    failed_dir = paths.reports_dir / "_failed" / run_id
    kept_dir = None
    if (staging_dir / "notebooks").exists():
        kept_dir = failed_dir
        failed_dir.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(staging_dir / "notebooks"), str(failed_dir))
        say(f"  executed notebooks of the failed run kept in {failed_dir}")
        _prune([p for p in failed_dir.parent.iterdir() if p.is_dir()], FAILED_KEPT)
    if build.exists():
        kept = build.with_name(build.stem + ".failed.duckdb")
        os.replace(build, kept)
        _move_wal(build, kept)
        say(f"  failed build kept as {kept} (the published warehouse is unchanged)")
        _prune(list(paths.builds.glob("*.failed.duckdb")), FAILED_KEPT)
    return kept_dir
