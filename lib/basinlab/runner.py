"""The monthly pipeline: one writer, a build file, papermill, atomic publish.

``run_month("2024-06")`` does, in order:

1. checks that the data dir and the reports dir are writable, and takes the run
   lock ``<data-dir>/.basinlab.lock`` (a second run fails at once, naming the run
   that holds it);
2. recovers what runs that died left behind (:func:`recover`): the newest complete
   report of each month back in place, dead runs logged as ``abandoned`` (also
   when one was killed after publishing), their builds kept or deleted, stale
   browser profiles removed — before anything else;
3. logs the run as ``running`` in ``runs.jsonl`` and, optionally, generates the demo inbox;
4. checks the free disk space (≈ 2 × the warehouse), copies the published warehouse
   to ``builds/<run_id>.duckdb`` and migrates it;
5. executes the writer notebooks on the build file with papermill
   (01_ingest → 02_transform → 03_decline → 04_quality); each step is
   recorded in ``metadata.pipeline_run_steps``;
6. gates the build itself (:func:`basinlab.quality.gate_run`: this run's check
   results, whatever the notebooks did), logs ``publishing``, and publishes the
   build over ``warehouse.duckdb`` with an atomic rename (the previous file kept
   in ``snapshots/``);
7. executes 05_report against the published file read-only, prints the PDF,
   writes the manifest, and swaps the finished folder into ``reports/YYYY-MM/``.

A failing step stops the run with a non-zero exit and a one-line message naming
the notebook, the cell and the error (every operating error names the path and
what to do); the published warehouse and the last report stay as they were; the
partial executed notebook and the failed build are kept for inspection (the
build only while the disk has room for it and the next run).
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import re
import shutil
import signal
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from . import __version__, catalog, config, settings, warehouse
from .faults import fault_point
from .service.carry import carry_service_files

if TYPE_CHECKING:
    from .report import bundle as rb

log = logging.getLogger(__name__)

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Step:
    name: str
    notebook: str
    writer: bool = True
    #: the notebook file to execute; default ``notebooks/<notebook>`` (a seam for tests and custom chains)
    source: Path | None = None

    @property
    def path(self) -> Path:
        return Path(self.source) if self.source else config.NOTEBOOKS_DIR / self.notebook


STEPS: tuple[Step, ...] = (
    Step("ingest", "01_ingest.ipynb"),
    Step("transform", "02_transform.ipynb"),
    Step("decline", "03_decline.ipynb"),
    Step("quality", "04_quality.ipynb"),
    Step("report", "05_report.ipynb", writer=False),
)

#: failed builds and failed-run notebooks kept for inspection
FAILED_KEPT = 3

#: free space a run needs before it builds: DISK_GROWTH_FACTOR × the published warehouse
#: (the build copy, and its growth while the notebooks write it) + DISK_MARGIN_BYTES
#: (report, executed notebooks, the DuckDB write-ahead log)
DISK_GROWTH_FACTOR = 2.0
DISK_MARGIN_BYTES = 128 * 1024**2

#: statuses a run log record ends a run with; ``running`` / ``publishing`` mean it has not ended
FINAL_STATUSES = ("succeeded", "failed", "abandoned")


class RunError(Exception):
    """A run that did not complete. ``str()`` is the message for the user."""


class RunLockedError(RunError):
    """Another run holds the lock."""


class RunInterrupted(RunError):
    """The run was stopped: SIGTERM (a scheduler or container stop) or Ctrl-C."""


class NotEnoughSpace(RunError):
    """The disk holding the data dir has too little room for a build."""


@contextlib.contextmanager
def _stop_cleanly_on_sigterm() -> Iterator[None]:
    """Turn SIGTERM into a RunInterrupted so a stopped run cleans up like a failed one
    (build kept, run logged, lock released) instead of dying mid-write."""
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


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Hold SIGTERM/SIGINT back for a few lines (publish and its record happen together or not at all)."""
    import threading

    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "pthread_sigmask"):
        yield
        return
    held = {signal.SIGTERM, signal.SIGINT}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


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
    #: the run's build replaced the published warehouse (also true for a run that failed afterwards)
    published: bool = False
    pid: int | None = None

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("pdf", "xlsx", "report_dir", "warehouse"):
            d[k] = str(d[k]) if d[k] else None
        return d


# --------------------------------------------------------------------------- operating errors


def os_problem(exc: OSError, what: str = "") -> str:
    """One line for an operating error: what could not be done, the path, why, and what to do."""
    path = exc.filename or ""
    reason = exc.strerror or str(exc)
    doing = f"cannot {what} " if what else "cannot write "
    head = f"{doing}{path}: {reason}" if path else f"{doing.strip()}: {reason}"
    if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        hint = ("make it writable for the user running basinlab (a read-only mount or wrong owner?), "
                "or point --data-dir / --reports-dir at a writable folder")
    elif exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        hint = "the disk is full: free space there (old failed builds in builds/ and snapshots/ can go) and run again"
    elif exc.errno == errno.ENOENT:
        hint = "the folder is missing: check the path (and that its disk is mounted)"
    else:
        hint = ""
    return head + (f" — {hint}" if hint else "")


def _probe_writable(folder: Path, role: str) -> None:
    """Create ``folder`` if needed and a file in it; a RunError naming the folder when that fails."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".basinlab-probe-"):
            pass
    except OSError as exc:
        exc.filename = str(folder)   # the folder, not the probe file
        raise RunError(f"the {role} {folder} is not writable: " + os_problem(exc, "write in")) from None


def preflight(paths: config.Paths) -> None:
    """Refuse, in one line each, a data dir or reports dir the run could not write (read-only
    mount, wrong owner, missing disk) before anything is taken or changed."""
    _probe_writable(paths.data_dir, "data dir")
    for sub in (paths.builds, paths.snapshots):
        if sub.exists():
            _probe_writable(sub, "folder")
    for f in (paths.run_log, paths.warehouse):
        if f.exists() and not os.access(f, os.R_OK):
            raise RunError(f"cannot read {f}: permission denied — make it readable for the user running basinlab")
    if paths.run_log.exists() and not os.access(paths.run_log, os.W_OK):
        raise RunError(f"cannot append to the run log {paths.run_log}: permission denied — make it writable for "
                       "the user running basinlab")
    _probe_writable(paths.reports_dir, "reports dir")


# --------------------------------------------------------------------------- disk space


def disk_free(path: Path) -> int:
    """Free bytes on the disk holding ``path`` (tests replace this function)."""
    return shutil.disk_usage(path).free


def _file_size(p: Path) -> int:
    total = 0
    for f in (p, p.with_name(p.name + ".wal")):
        with contextlib.suppress(OSError):
            total += f.stat().st_size
    return total


def space_needed(paths: config.Paths) -> int:
    """Bytes a run needs free before it builds: ≈ 2 × the published warehouse + a margin."""
    return int(DISK_GROWTH_FACTOR * _file_size(paths.warehouse)) + DISK_MARGIN_BYTES


def _mb(n: float) -> str:
    return f"{n / 1e9:,.1f} GB" if n >= 1e9 else f"{n / 1e6:,.0f} MB"


def _failed_builds(paths: config.Paths) -> list[Path]:
    if not paths.builds.exists():
        return []
    return sorted(paths.builds.glob("*.failed.duckdb"), key=lambda p: p.stat().st_mtime)


def _delete_build(p: Path) -> None:
    p.unlink(missing_ok=True)
    p.with_name(p.name + ".wal").unlink(missing_ok=True)


def check_disk_space(paths: config.Paths, say: Progress = lambda _m: None) -> None:
    """Refuse to build without room for the build (≈ 2 × the warehouse + margin), after deleting
    kept failed builds (oldest first) when that makes the room; one line naming need and free."""
    need = space_needed(paths)
    free = disk_free(paths.data_dir)
    for old in _failed_builds(paths):
        if free >= need:
            break
        size = _file_size(old)
        _delete_build(old)
        say(f"  low disk space: deleted the failed build {old.name} kept for inspection ({_mb(size)})")
        free = disk_free(paths.data_dir)
    if free < need:
        wh = _file_size(paths.warehouse)
        raise NotEnoughSpace(
            f"not enough free disk space for a build in {paths.data_dir}: need about {_mb(need)} "
            f"({DISK_GROWTH_FACTOR:g} × the {_mb(wh)} warehouse + {_mb(DISK_MARGIN_BYTES)} margin), "
            f"{_mb(free)} free — free space on that disk (old snapshots/ can go) or move --data-dir")


# --------------------------------------------------------------------------- lock


@dataclass
class LockState:
    """What the lock file says: the run that holds (or held) it, and whether it is alive."""

    run_id: str | None
    month: str | None
    pid: int | None
    host: str | None
    started_at: str | None
    alive: bool
    path: Path

    def describe(self) -> str:
        return (f"run {self.run_id} for month {self.month} (pid {self.pid} on {self.host}, "
                f"started {self.started_at})")


def _parse_lock(text: str) -> dict[str, Any]:
    try:
        info = json.loads(text)
    except json.JSONDecodeError:
        return {}
    return info if isinstance(info, dict) else {}


def read_lock(paths: config.Paths) -> LockState | None:
    """The run named in the lock file and whether it still runs; None when no run holds or held it.

    A run that ends (even by failing) empties the lock file; a run killed with SIGKILL
    leaves its record behind while its lock (fcntl, released by the kernel) is free: that
    run is dead. On the same host a pid that no longer exists means dead as well.
    Reads only (works on a read-only data dir).
    """
    try:
        fh = open(paths.lock, encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise RunError(f"cannot read the run lock: {os_problem(exc, 'read')}") from None
    with fh:
        info = _parse_lock(fh.read().strip())
        if not info:
            return None
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            held = True
        except OSError:  # no flock on this filesystem: trust the pid
            held = True
        else:
            held = False
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
    pid = info.get("pid") if isinstance(info.get("pid"), int) else None
    same_host = info.get("host") == socket.gethostname()
    from .report.browser import pid_alive  # lazily: the report package is heavy to import

    alive = held and not (same_host and pid is not None and not pid_alive(pid))
    return LockState(info.get("run_id"), info.get("month"), pid, info.get("host"), info.get("started_at"),
                     alive, paths.lock)


@contextlib.contextmanager
def run_lock(paths: config.Paths, run_id: str, month: str, wait_s: float = 1.0) -> Iterator[dict[str, Any]]:
    """Exclusive run lock (fcntl; it dies with the process). Yields what the lock file held
    before (a run that died without releasing it), ``{}`` when it was clean.

    A held lock is retried for ``wait_s`` (a monitor's short shared probe) before the run
    is refused, naming the run that holds it.
    """
    try:
        paths.data_dir.mkdir(parents=True, exist_ok=True)
        fh = open(paths.lock, "a+", encoding="utf-8")
    except OSError as exc:
        raise RunError(f"cannot take the run lock in the data dir {paths.data_dir}: "
                       + os_problem(exc, "write")) from None
    deadline = time.monotonic() + wait_s
    while True:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() < deadline:
                time.sleep(0.05)
                continue
            fh.seek(0)
            info = _parse_lock(fh.read().strip())
            fh.close()
            who = (f"run {info.get('run_id')} for month {info.get('month')} (pid {info.get('pid')} on "
                   f"{info.get('host')}, started {info.get('started_at')})") if info else "another basinlab run"
            raise RunLockedError(f"another run is in progress: {who}. Only one run writes at a time; "
                                 f"wait for it to finish (lock file {paths.lock}).") from None
    try:
        fh.seek(0)
        stale = _parse_lock(fh.read().strip())
        fh.seek(0)
        fh.truncate()
        fh.write(json.dumps({"run_id": run_id, "month": month, "pid": os.getpid(), "host": socket.gethostname(),
                             "started_at": datetime.now().isoformat(timespec="seconds")}))
        fh.flush()
        os.fsync(fh.fileno())
    except OSError as exc:
        fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
        fh.close()
        raise RunError(f"cannot write the run lock {paths.lock}: " + os_problem(exc, "write")) from None
    try:
        yield stale
    finally:
        with contextlib.suppress(OSError):
            fh.seek(0)
            fh.truncate()
            fh.flush()
        fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
        fh.close()


# --------------------------------------------------------------------------- run log


def load_run_log(paths: config.Paths) -> list[dict[str, Any]]:
    """Every record of ``runs.jsonl`` in order (unparseable lines skipped)."""
    try:
        text = paths.run_log.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise RunError(f"cannot read the run log: {os_problem(exc, 'read')}") from None
    out = []
    for line in text.splitlines():
        try:
            e = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(e, dict) and e.get("run_id"):
            out.append(e)
    return out


def run_states(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One record per run (its records merged, the latest status winning), in the order runs started."""
    runs: dict[str, dict[str, Any]] = {}
    for e in entries:
        rid = e["run_id"]
        prev = runs.get(rid, {})
        merged = prev | {k: v for k, v in e.items() if v not in (None, [], {}) or k not in prev}
        merged["status"] = e.get("status")
        if prev.get("started_at"):
            merged["started_at"] = prev["started_at"]
        runs[rid] = merged
    return list(runs.values())


def dead_runs(paths: config.Paths, lock: LockState | None = None) -> list[dict[str, Any]]:
    """Runs that started and never ended, and are not running now (killed, machine restarted):
    the run log's last record for them says ``running`` or ``publishing``, or the lock file
    still names them while nothing holds it."""
    lock = lock if lock is not None else read_lock(paths)
    alive_id = lock.run_id if lock and lock.alive else None
    out = [r for r in run_states(load_run_log(paths))
           if r.get("status") not in FINAL_STATUSES and r["run_id"] != alive_id]
    if lock and not lock.alive and lock.run_id and lock.run_id not in {r["run_id"] for r in out}:
        states = {r["run_id"]: r for r in run_states(load_run_log(paths))}
        if states.get(lock.run_id, {}).get("status") not in FINAL_STATUSES:
            out.append({"run_id": lock.run_id, "month": lock.month, "status": "running", "pid": lock.pid,
                        "started_at": lock.started_at})
    return out


def _append_run_log(paths: config.Paths, r: RunResult, started_at: str, finished: bool = True) -> None:
    entry = r.to_json() | {"started_at": started_at, "finished_at": _now() if finished else None}
    _append_record(paths, entry)


def _append_record(paths: config.Paths, entry: dict[str, Any]) -> None:
    with open(paths.run_log, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(entry, default=str) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


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


#: the metadata tables the runner writes; their columns come from the declaration (sql/catalog/metadata.yml)
RUNS_TABLE, STEPS_TABLE = "metadata.pipeline_runs", "metadata.pipeline_run_steps"


def _insert(con, relation: str, row: dict[str, Any]) -> None:
    con.execute(catalog.insert_sql(relation, list(row)), list(row.values()))


def _step_row(run_id: str, s: dict[str, Any]) -> dict[str, Any]:
    return {"run_id": run_id, "step": s["step"], "notebook": s.get("notebook"), "status": s.get("status"),
            "started_at": s.get("started_at"), "finished_at": s.get("finished_at"), "rows_in": s.get("rows_in"),
            "rows_out": s.get("rows_out"), "error": s.get("error")}


def _run_row(run_id: str, month: str | None, status: str | None, started_at: str | None, finished_at: str | None,
             error: str | None, paths: config.Paths) -> dict[str, Any]:
    return {"run_id": run_id, "month": month, "status": status, "started_at": started_at, "finished_at": finished_at,
            "error": error, "data_dir": str(paths.data_dir), "reports_dir": str(paths.reports_dir),
            "basinlab_version": __version__}


def _record_step(con, run_id: str, s: StepResult) -> None:
    con.execute(f"delete from {STEPS_TABLE} where run_id = ? and step = ?", [run_id, s.step])
    _insert(con, STEPS_TABLE, _step_row(run_id, asdict(s)))


def _record_run(con, r: RunResult, started_at: str, paths: config.Paths, finished: bool) -> None:
    con.execute(f"delete from {RUNS_TABLE} where run_id = ?", [r.run_id])
    _insert(con, RUNS_TABLE, _run_row(r.run_id, r.month, r.status, started_at, _now() if finished else None,
                                      r.error, paths))


def _import_run_log(con, paths: config.Paths) -> None:
    """Bring runs the warehouse has not seen (failed and abandoned runs, report steps) in from runs.jsonl."""
    entries = load_run_log(paths)
    if not entries:
        return
    known = {r[0]: r[1] for r in con.execute("select run_id, status from metadata.pipeline_runs").fetchall()}
    known_steps = {(a, b) for a, b in con.execute("select run_id, step from metadata.pipeline_run_steps").fetchall()}
    for e in entries:
        rid = e["run_id"]
        if rid not in known:
            _insert(con, RUNS_TABLE, _run_row(rid, e.get("month"), e.get("status"), e.get("started_at"),
                                              e.get("finished_at"), e.get("error"), paths))
            known[rid] = e.get("status")
        elif known[rid] != e.get("status"):
            con.execute("update metadata.pipeline_runs set status = ?, finished_at = ?, error = ? where run_id = ?",
                        [e.get("status"), e.get("finished_at"), e.get("error"), rid])
            known[rid] = e.get("status")
        for s in e.get("steps") or []:
            if (rid, s["step"]) not in known_steps:
                known_steps.add((rid, s["step"]))
                _insert(con, STEPS_TABLE, _step_row(rid, s))


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

    src = step.path
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


@contextlib.contextmanager
def _as_run_errors() -> Iterator[None]:
    """Every failure inside a run as a :class:`RunError` with a one-line message (never a traceback):
    Ctrl-C as :class:`RunInterrupted`, warehouse, OS and DuckDB errors named, anything else by type."""
    try:
        yield
    except RunError:
        raise
    except KeyboardInterrupt:
        raise RunInterrupted("the run was interrupted (Ctrl-C)") from None
    except warehouse.WarehouseError as exc:
        raise RunError(str(exc)) from exc
    except OSError as exc:
        raise RunError(os_problem(exc)) from exc
    except duckdb.Error as exc:
        raise RunError(f"DuckDB: {_first_line(exc)}") from exc
    except Exception as exc:  # a report or library error: still a failed run, never a traceback
        raise RunError(f"{type(exc).__name__}: {_first_line(exc)}") from exc


def _demo_inbox(paths: config.Paths, month: str, wells: int, months: int, seed: int, result: RunResult,
                say: Progress) -> None:
    """``--demo``: write the demo inbox ending at ``month`` (timed in ``result.timings["demo"]``)."""
    from .demo import generate_demo

    t0 = time.perf_counter()
    demo_res = generate_demo(paths.inbox, wells=wells, months=months, end_month=month, seed=seed)
    result.timings["demo"] = time.perf_counter() - t0
    say(f"  demo inbox: {len(demo_res.files)} files for {wells} wells x {months} months "
        f"({result.timings['demo']:.1f}s)")


def _import_papermill_beside() -> threading.Thread:
    """Import papermill (and nbclient, jupyter_client: 2.2-2.4 s here) in a thread, while the run sets
    up (the demo inbox, the copy of the warehouse for the build): the first step would pay it otherwise.
    Join the thread before the first notebook. A failed import is left to :func:`execute_notebook`,
    which imports again and reports it as the step's error."""
    def _import() -> None:
        try:
            import papermill  # noqa: F401
        except Exception:  # noqa: BLE001 - reported by execute_notebook's own import
            pass

    thread = threading.Thread(target=_import, name="basinlab-import-papermill", daemon=True)
    thread.start()
    return thread


def run_month(month: str, *, data_dir: str | Path | None = None, reports_dir: str | Path | None = None,
              demo: bool = False, demo_wells: int = 200, demo_months: int = 60, demo_seed: int = 42,
              progress: Progress | None = print, steps: tuple[Step, ...] = STEPS,
              full_refresh: bool = False, refit_all: bool = False) -> RunResult:
    """Run the monthly pipeline for ``month`` (YYYY-MM). Raises RunError on failure.

    ``steps`` is the notebook chain (default :data:`STEPS`); whatever it holds, nothing
    is published unless this run recorded data-quality results and none of its
    error-level checks failed. The run works incrementally where it can: ``full_refresh``
    rebuilds the incremental models in full (the transform step's parameter ``full_refresh``),
    ``refit_all`` refits every well (the decline step's ``refit_all``).
    """
    config.parse_month(month)
    paths = config.Paths.resolve(data_dir, reports_dir)
    os.environ["PLOOMBER_STATS_ENABLED"] = "false"
    say = _quiet_on_broken_output(progress)
    run_id = new_run_id(month)
    t_run = time.perf_counter()
    started_at = _now()
    result = RunResult(run_id=run_id, month=month, status="running", warehouse=paths.warehouse, pid=os.getpid())
    preflight(paths)
    with run_lock(paths, run_id, month) as stale, _stop_cleanly_on_sigterm():
        say(f"basinlab run {run_id}: month {month}, data {paths.data_dir}, reports {paths.reports_dir}")
        importing = _import_papermill_beside()
        build = paths.builds / f"{run_id}.duckdb"
        staging_dir = paths.reports_dir / f".staging-{run_id}"
        nb_dir = staging_dir / "notebooks"
        base_params = {"run_id": run_id, "month": month, "data_dir": str(paths.data_dir)}
        ok = False
        try:
            with _as_run_errors():
                recover(paths, say, stale_lock=stale)          # before anything else
                _append_run_log(paths, result, started_at, finished=False)
                if demo:
                    _demo_inbox(paths, month, demo_wells, demo_months, demo_seed, result, say)
                run_settings = _load_settings(paths, say)
                t0 = time.perf_counter()
                check_disk_space(paths, say)
                warehouse.copy_for_build(paths.warehouse, build)

                def _start(con):
                    warehouse.migrate(con)
                    settings.record(con, run_settings)        # the values in force, for the models and the record
                    _import_run_log(con, paths)
                    carry_service_files(con, paths, run_id)  # access log -> connection_audit; EIA as received
                    _record_run(con, result, started_at, paths, finished=False)

                _with_con(build, _start)
                importing.join()
                result.timings["build_setup"] = time.perf_counter() - t0
                flags = step_flags(full_refresh=full_refresh, refit_all=refit_all)
                for step in [s for s in steps if s.writer]:
                    params = base_params | {"warehouse": str(build)} | flags.get(step.name, {})
                    result.steps.append(_run_step(step, build, nb_dir, params, run_id, say))
                    fault_point(f"after:{step.name}")
                # the runner's own gate: this run's check results, whatever the notebooks did
                t0 = time.perf_counter()
                n_checks = _gate(build, run_id, month)
                say(f"  [gate] {n_checks} check results of this run, no error-level failure")
                validate_build(build, say)                     # drift from the declaration blocks publish
                # seal the run record, log "publishing", then publish atomically
                result.status = "published"
                _with_con(build, lambda con: _record_run(con, result, started_at, paths, finished=True))
                with _signals_held():
                    _append_record(paths, result.to_json() | {"status": "publishing", "started_at": started_at})
                    snap = warehouse.publish(build, paths.warehouse, paths.snapshots, label=run_id)
                    result.published = True
                result.timings["publish"] = time.perf_counter() - t0
                say(f"  published {paths.warehouse}" + (f" (previous kept as {snap.name})" if snap else ""))
                for step in [s for s in steps if not s.writer]:
                    params = base_params | {"warehouse": str(paths.warehouse),
                                            "output_dir": str(staging_dir)}
                    result.steps.append(_run_step(step, None, nb_dir, params, run_id, say))
                if any(not s.writer for s in steps):
                    _finish_report(result, paths, staging_dir, month, run_id,
                                   base_params | {"settings": run_settings.manifest()}, say)
                result.status = "succeeded"
                ok = True
        except RunError as exc:
            result.status = "failed"
            try:
                kept = _keep_failed(paths, build, staging_dir, run_id, say)
            except OSError as keep_exc:
                kept = None
                say(f"  could not keep the failed run's files: {os_problem(keep_exc)}")
            if isinstance(exc, StepFailed) and kept is not None:
                exc.notebook = kept / exc.notebook.name
            result.error = str(exc)
            raise
        finally:
            result.seconds = time.perf_counter() - t_run
            try:
                _append_run_log(paths, result, started_at)
            except OSError as exc:
                msg = f"could not record the run in the run log: {os_problem(exc)}"
                if ok:
                    raise RunError(msg) from None
                say(f"  {msg}")
            _discard_staging(staging_dir, say)
        say(f"done in {result.seconds:.1f}s\n  PDF:   {result.pdf}\n  Excel: {result.xlsx}")
        return result


def step_flags(*, full_refresh: bool = False, refit_all: bool = False) -> dict[str, dict[str, Any]]:
    """The per-step parameters of the run's options, by step name (only those set: a custom chain
    whose notebooks do not declare them runs as before unless the option is asked for)."""
    flags: dict[str, dict[str, Any]] = {}
    if full_refresh:
        flags["transform"] = {"full_refresh": True}
    if refit_all:
        flags["decline"] = {"refit_all": True}
    return flags


def _quiet_on_broken_output(progress: Progress | None) -> Progress:
    """Progress that never stops a run: a closed log pipe (a scheduler that went away) or a full
    disk under the log loses lines, not the run."""
    def say(msg: str) -> None:
        if progress is None:
            return
        try:
            progress(msg)
        except OSError:
            pass
    return say


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _gate(build: Path, run_id: str, month: str) -> int:
    """Refuse to publish unless this run's checks are recorded in the build and none at error level failed."""
    from . import quality

    try:
        return _with_con(build, lambda con: quality.gate_run(con, run_id, month=month), read_only=True)
    except quality.QualityGateError as exc:
        raise RunError(f"the quality gate refused to publish run {run_id}: {exc}") from None


def _load_settings(paths: config.Paths, say: Progress) -> settings.Settings:
    """The data dir's settings.yml (written with the defaults on the first run), validated."""
    try:
        s = settings.load(paths.data_dir)
    except settings.SettingsError as exc:
        raise RunError(f"the settings cannot be used: {exc}") from None
    for note in s.notes:
        say(f"  {note}")
    changed = [k for k, src in s.sources.items() if src != settings.DEFAULT]
    say(f"  settings: {s.path}" + (f" ({len(changed)} changed from the defaults: {', '.join(changed)})"
                                   if changed else " (all defaults)"))
    return s


def validate_build(build: Path, say: Progress = lambda _m: None) -> None:
    """Refuse to publish a build that differs from the declaration (sql/**/*.yml): a missing table or
    column, an undeclared column, a changed type. Tables nobody declared are reported, not refused."""
    from . import drift

    report = _with_con(build, lambda con: drift.compare(con, where=f"build {build.name}"), read_only=True)
    for f in report.notes:
        say(f"  note: {f.relation}: {f.detail}")
    if not report.ok:
        raise RunError("the build does not match the declared schema, so nothing is published (declare the "
                       "change in sql/**/*.yml, or fix the code that wrote it):\n" + report.text())
    say(f"  [validate] {report.tables_checked} tables, {report.columns_checked} columns as declared")


def restore_warehouse(source: str, make_build: Callable[[Path, Progress], Any], *,
                      data_dir: str | Path | None = None, progress: Progress | None = print) -> RunResult:
    """Publish a warehouse rebuilt from a backup or snapshot through the runner's path: under the run
    lock, after recovery and the disk check, ``make_build(build_path, say)`` writes a new build file;
    it is validated against the declaration and published atomically (the current warehouse kept as a
    snapshot). Logged in runs.jsonl as a run of month ``restore``. Raises RunError."""
    paths = config.Paths.resolve(data_dir)
    say = _quiet_on_broken_output(progress)
    run_id = f"restore_{datetime.now():%Y%m%dT%H%M%S}_{uuid.uuid4().hex[:6]}"
    result = RunResult(run_id=run_id, month="restore", status="running", warehouse=paths.warehouse, pid=os.getpid())
    started_at = _now()
    _probe_writable(paths.data_dir, "data dir")
    t_run = time.perf_counter()
    with run_lock(paths, run_id, "restore") as stale, _stop_cleanly_on_sigterm():
        build = paths.builds / f"{run_id}.duckdb"
        try:
            try:
                recover(paths, say, stale_lock=stale)
                _append_record(paths, result.to_json() | {"started_at": started_at, "source": source})
                check_disk_space(paths, say)
                build.parent.mkdir(parents=True, exist_ok=True)
                make_build(build, say)
                validate_build(build, say)
                result.status = "published"
                with _signals_held():
                    _append_record(paths, result.to_json() | {"status": "publishing", "started_at": started_at})
                    snap = warehouse.publish(build, paths.warehouse, paths.snapshots, label=run_id)
                    result.published = True
                say(f"  published {paths.warehouse} from {source}"
                    + (f" (previous kept as {snap.name})" if snap else ""))
                result.status = "succeeded"
            except RunError:
                raise
            except KeyboardInterrupt:
                raise RunInterrupted("the restore was interrupted (Ctrl-C)") from None
            except OSError as exc:
                raise RunError(os_problem(exc)) from exc
            except Exception as exc:      # BackupError, WarehouseError, DuckDB: one message
                raise RunError(_first_line(exc)) from exc
        except RunError as exc:
            result.status, result.error = "failed", str(exc)
            if build.exists():
                _keep_build(paths, build, say)
            raise
        finally:
            result.seconds = time.perf_counter() - t_run
            with contextlib.suppress(OSError):
                _append_run_log(paths, result, started_at)
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
    """PDF, manifest and the swap into reports/YYYY-MM/ (:func:`basinlab.report.bundle.finish_report_dir`)."""
    from .report import ReportError
    from .report.bundle import finish_report_dir

    try:
        bundle = finish_report_dir(staging_dir, paths.month_reports(month), slug=month, run_id=run_id,
                                   params=params, published=paths.warehouse, say=say,
                                   title=f"basinlab monthly report — {month}")
    except ReportError as exc:
        raise RunError(str(exc)) from exc
    result.timings.update(bundle.timings)
    result.report_dir = bundle.folder
    result.pdf = bundle.pdf
    result.xlsx = bundle.xlsx


def _move_wal(build: Path, kept: Path) -> None:
    """Keep a build's write-ahead log with it: without it the kept copy would lose committed work."""
    wal = build.with_name(build.name + ".wal")
    if wal.exists():
        os.replace(wal, kept.with_name(kept.name + ".wal"))


# --------------------------------------------------------------------------- recovery


def recover(paths: config.Paths, say: Progress = lambda _m: None,
            stale_lock: dict[str, Any] | None = None) -> list[str]:
    """Clean up after runs that died without cleaning up (killed, machine restarted).

    Called under the run lock at the start of every run, before anything else, so no
    other run is alive:

    1. reports: the newest complete copy of each month's report is put back in place
       (a kill between the two renames of a report swap leaves none in place);
    2. runs whose last record in ``runs.jsonl`` is ``running`` or ``publishing`` (or that
       the lock file or a leftover build names) are logged as ``abandoned``, saying
       whether their warehouse was published (a kill after the rename, before the run
       could log it) and whether their report was finished; their builds are kept as
       ``*.failed.duckdb`` while the disk has room for them and the next build;
    3. browser profiles of printers that died are removed (and their browsers killed).

    Returns the abandoned run ids.
    """
    from .report import recover_report_dirs, report_manifest
    from .report.browser import cleanup_stale_profiles

    recover_report_dirs(paths.reports_dir, paths.reports_dir / "_failed", say)
    states = {r["run_id"]: r for r in run_states(load_run_log(paths))}
    dead = {rid: r for rid, r in states.items() if r.get("status") not in FINAL_STATUSES}
    if stale_lock and stale_lock.get("run_id") and states.get(stale_lock["run_id"], {}).get("status") \
            not in FINAL_STATUSES:
        rid = stale_lock["run_id"]
        dead.setdefault(rid, {"run_id": rid, "month": stale_lock.get("month"), "pid": stale_lock.get("pid"),
                              "started_at": stale_lock.get("started_at")})
    if paths.builds.exists():
        for b in sorted(paths.builds.glob("*.duckdb")):
            if b.name.endswith(".failed.duckdb") or b.stem in dead:
                continue
            if states.get(b.stem, {}).get("status") in FINAL_STATUSES:  # ended, but its build was left behind
                if _keep_build(paths, b, say) is not None:
                    say(f"  build {b.name} of the ended run {b.stem} kept for inspection")
                continue
            dead[b.stem] = states.get(b.stem, {"run_id": b.stem, "month": b.stem.split("_", 1)[0]})
    published = _published_run_ids(paths, list(dead))
    for rid, r in dead.items():
        month = r.get("month") or rid.split("_", 1)[0]
        build = paths.builds / f"{rid}.duckdb"
        kept = _keep_build(paths, build, say) if build.exists() else None
        was_published = rid in published
        if was_published:
            doc = report_manifest(paths.reports_dir / month) if config.MONTH_RE.match(month or "") else None
            report_done = bool(doc and doc.get("run_id") == rid)
            error = ("the run was killed after publishing its warehouse (its data is live, but the run was never "
                     "logged as finished); " + (f"its report for {month} was complete and is in place"
                                                if report_done else f"its report for {month} was not finished: "
                                                f"run `basinlab run --month {month}` again to write it"))
        else:
            error = "the run stopped before finishing (process killed?); nothing of it was published"
            if kept is not None:
                error += f"; its build was kept as {kept.name}"
        entry = {k: v for k, v in r.items() if k not in ("status", "error", "finished_at")}
        entry |= {"run_id": rid, "month": month, "status": "abandoned", "error": error, "published": was_published,
                  "finished_at": _now(), "recovered_at": _now()}
        _append_record(paths, entry)
        say(f"  earlier run {rid} did not finish: recorded as abandoned"
            + (" (it had published its warehouse)" if was_published else "")
            + (", its build kept for inspection" if kept is not None else ""))
    for folder in cleanup_stale_profiles():
        say(f"  removed the browser profile {folder} of a run that died while printing")
    if paths.builds.exists():
        _prune(list(paths.builds.glob("*.failed.duckdb")), FAILED_KEPT)
    return list(dead)


def _published_run_ids(paths: config.Paths, run_ids: list[str]) -> set[str]:
    """Which of ``run_ids`` the published warehouse records (their build was published)."""
    if not run_ids or not paths.warehouse.exists():
        return set()
    try:
        rows = _with_con(paths.warehouse, lambda con: con.execute(
            "select run_id from metadata.pipeline_runs where run_id in (select unnest(?))", [run_ids]).fetchall(),
            read_only=True)
    except (warehouse.WarehouseError, duckdb.Error):
        return set()
    return {r[0] for r in rows}


def _keep_build(paths: config.Paths, build: Path, say: Progress) -> Path | None:
    """Keep a failed or abandoned build as ``*.failed.duckdb`` — only while the disk keeps room for
    the next run's build (≈ 2 × the warehouse + margin), deleting older kept builds first when that
    is enough; otherwise delete it and say so (older kept builds stay: the next run reclaims them
    before building if it must)."""
    need_next = space_needed(paths)
    free = disk_free(paths.builds)
    older = [p for p in _failed_builds(paths) if p != build]
    if free < need_next and free + sum(_file_size(p) for p in older) >= need_next:
        for old in older:
            if free >= need_next:
                break
            _delete_build(old)
            say(f"  low disk space: deleted the older failed build {old.name} to keep this one")
            free = disk_free(paths.builds)
    if free < need_next:
        size = _file_size(build)
        _delete_build(build)
        say(f"  the failed build {build.name} ({_mb(size)}) was deleted, not kept: {_mb(free)} free and the next "
            f"run needs about {_mb(need_next)}")
        return None
    kept = build.with_name(build.stem + ".failed.duckdb")
    os.replace(build, kept)
    _move_wal(build, kept)
    _prune(list(paths.builds.glob("*.failed.duckdb")), FAILED_KEPT)
    return kept


def _keep_failed(paths: config.Paths, build: Path, staging_dir: Path, run_id: str, say: Progress) -> Path | None:
    """Keep the failed run's notebooks and build for inspection; returns the notebooks' folder."""
    from .report import report_manifest

    failed_dir = paths.reports_dir / "_failed" / run_id
    kept_dir = None
    if (staging_dir / "notebooks").exists():
        kept_dir = failed_dir
        failed_dir.parent.mkdir(parents=True, exist_ok=True)
        if report_manifest(staging_dir) is not None:   # a complete report stays complete
            shutil.copytree(staging_dir / "notebooks", failed_dir, dirs_exist_ok=True)
        else:
            shutil.move(str(staging_dir / "notebooks"), str(failed_dir))
        say(f"  executed notebooks of the failed run kept in {failed_dir}")
        _prune([p for p in failed_dir.parent.iterdir() if p.is_dir()], FAILED_KEPT)
    if build.exists():
        kept = _keep_build(paths, build, say)
        if kept is not None:
            say(f"  failed build kept as {kept} (the published warehouse is unchanged)")
    return kept_dir


def _discard_staging(staging_dir: Path, say: Progress) -> None:
    """Remove the run's report staging folder — unless it holds a complete report that could not
    be put in place: that is never deleted (the next run's recovery puts it in place)."""
    if not staging_dir.exists():
        return
    from .report import report_manifest

    if report_manifest(staging_dir) is not None:
        say(f"  the finished report could not be put in place; it is kept at {staging_dir} "
            "and the next run puts it in place")
        return
    shutil.rmtree(staging_dir, ignore_errors=True)


def render_period(period: str, *, data_dir: str | Path | None = None, reports_dir: str | Path | None = None,
                  say: Callable[[str], None] = print) -> rb.ReportBundle:
    """Re-render the report of a month (``YYYY-MM``), quarter (``YYYY-QN``) or year (``YYYY``) from the
    PUBLISHED warehouse, read-only, without running the chain: into ``reports/<period>/`` through a staging
    folder, the manifest and the all-or-nothing swap. Holds the run lock while it works, so a run and a
    re-render never swap the same folder at once (a run in progress makes it fail at once, naming the run).
    """
    from .report import bundle as rb
    from .report.period import Period
    from .report.publish import STAGING_PREFIX, recover_report_dirs, report_manifest

    p = Period.parse(period)
    paths = config.Paths.resolve(data_dir, reports_dir)
    if not paths.warehouse.exists():
        raise rb.ReportError(f"no published warehouse at {paths.warehouse}: run `basinlab run --month YYYY-MM` first")
    preflight(paths)
    report_id = f"report-{p.slug}_{datetime.now():%Y%m%dT%H%M%S}_{uuid.uuid4().hex[:6]}"
    t_all = time.perf_counter()
    with run_lock(paths, report_id, p.end.strftime("%Y-%m")):
        recover_report_dirs(paths.reports_dir, paths.reports_dir / "_failed", say)
        rb.check_period_has_data(paths.warehouse, p)
        staging = paths.reports_dir / f"{STAGING_PREFIX}{report_id}"
        params = {"run_id": report_id, "month": p.end.strftime("%Y-%m"), "period": p.slug,
                  "warehouse": str(paths.warehouse), "data_dir": str(paths.data_dir), "output_dir": str(staging)}
        say(f"basinlab report {p.slug}: from {paths.warehouse} (read-only) into {paths.reports_dir / p.slug}")
        try:
            t0 = time.perf_counter()
            step = Step("report", "05_report.ipynb", writer=False)
            execute_notebook(step, staging / "notebooks", params)
            say(f"  [report] 05_report.ipynb ({time.perf_counter() - t0:.1f}s)")
            bundle = rb.finish_report_dir(staging, paths.reports_dir / p.slug, slug=p.slug, run_id=report_id,
                                       params=params, published=paths.warehouse, facts_run_id=None, say=say)
        except StepFailed as exc:
            raise rb.ReportError(str(exc).splitlines()[0]) from exc
        finally:
            if staging.exists():
                if report_manifest(staging) is None:
                    with contextlib.suppress(OSError):
                        shutil.rmtree(staging)
    bundle.timings["total"] = time.perf_counter() - t_all
    say(f"done in {bundle.timings['total']:.1f}s\n  PDF:   {bundle.pdf}\n  Excel: {bundle.xlsx}")
    return bundle
