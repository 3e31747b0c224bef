"""Runs started through the API, and where a run's status comes from.

``POST /runs`` starts ``basinlab run --month M`` as a detached process (its own
session, so it outlives the API and a restart of it), exactly as a scheduler would:
the runner takes the one run lock and is the only writer. The API itself never
writes the warehouse.

A run that cannot start because another holds the lock is refused with 409 and
who holds it. The check happens twice: before starting (a quick refusal) and after
(the child's own lock attempt decides; a run that started in between is reported
the same way). The launch waits until the child holds the lock, so the answer
carries the real run id.

The status of a run (``GET /runs/{id}``) comes from, in order: the run log
``runs.jsonl`` (finished runs: succeeded, failed, abandoned), the lock (the run in
progress, with its progress lines when the API started it), and the published
warehouse's ``metadata.pipeline_runs``.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .. import config
from .files import ServicePaths, write_atomic

#: how long POST /runs waits for the started run to take the lock
START_TIMEOUT_S = 60.0


class RunBusy(Exception):
    """A run is in progress; ``holder`` is what its lock file says."""

    def __init__(self, message: str, holder: dict[str, Any] | None = None):
        super().__init__(message)
        self.holder = holder or {}


class RunStartFailed(Exception):
    """The started process exited before it held the lock."""


def _flock_held_proc(path: Path) -> bool | None:
    """Whether some process holds a flock on ``path``, from /proc/locks without taking it
    (None where /proc/locks is not available)."""
    try:
        st = os.stat(path)
        text = Path("/proc/locks").read_text()
    except OSError:
        return None
    dev = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    for line in text.splitlines():
        parts = line.split()
        # "1: FLOCK  ADVISORY  WRITE 1234 fd:01:5678 0 EOF" (blocked waiters carry a "->" marker)
        if "FLOCK" in parts and "->" not in parts and dev in parts:
            return True
    return False


def lock_holder(paths: config.Paths) -> dict[str, Any] | None:
    """What the run lock file says while a run holds it; None when no run is in progress."""
    if not paths.lock.exists():
        return None
    held = _flock_held_proc(paths.lock)
    if held is None:  # no /proc/locks: probe (takes the lock for an instant when it is free)
        with open(paths.lock, "a+") as fh:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                held = True
            else:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
                held = False
    if not held:
        return None
    try:
        info = json.loads(paths.lock.read_text(encoding="utf-8") or "{}")
    except (OSError, json.JSONDecodeError):
        info = {}
    return info if isinstance(info, dict) else {}


def describe_holder(holder: dict[str, Any]) -> str:
    if not holder.get("run_id"):
        return "another basinlab run (its lock file is being written)"
    return (f"run {holder.get('run_id')} for month {holder.get('month')} (pid {holder.get('pid')} on "
            f"{holder.get('host')}, started {holder.get('started_at')})")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Launcher:
    """Starts runs and remembers them (``<data-dir>/service/launches/<launch id>.json`` + ``.log``)."""

    def __init__(self, sp: ServicePaths):
        self.sp = sp
        self._lock = threading.Lock()

    def _record_path(self, launch_id: str) -> Path:
        return self.sp.launches / f"{launch_id}.json"

    def _save(self, rec: dict[str, Any]) -> None:
        write_atomic(self._record_path(rec["launch_id"]), json.dumps(rec, indent=1).encode(), mode=0o600)

    def load(self, launch_id: str) -> dict[str, Any] | None:
        p = self._record_path(launch_id)
        if not launch_id.startswith("launch-") or "/" in launch_id or not p.exists():
            return None
        try:
            return json.loads(p.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            return None

    def find_by_run(self, run_id: str) -> dict[str, Any] | None:
        if not self.sp.launches.exists():
            return None
        for p in sorted(self.sp.launches.glob("launch-*.json"), reverse=True):
            with contextlib.suppress(OSError, json.JSONDecodeError):
                rec = json.loads(p.read_text(encoding="utf-8"))
                if rec.get("run_id") == run_id:
                    return rec
        return None

    def start(self, month: str, requested_by: str, timeout_s: float = START_TIMEOUT_S) -> dict[str, Any]:
        """Start ``basinlab run --month month``; return the launch record with the run id.

        Raises RunBusy (a run holds the lock) or RunStartFailed (the process died at once).
        """
        config.parse_month(month)
        paths = self.sp.paths
        with self._lock:  # one launch at a time from this API
            holder = lock_holder(paths)
            if holder is not None:
                raise RunBusy(f"a run is in progress: {describe_holder(holder)}", holder)
            launch_id = f"launch-{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
            self.sp.launches.mkdir(parents=True, exist_ok=True)
            log_path = self.sp.launches / f"{launch_id}.log"
            cmd = [sys.executable, "-m", "basinlab.cli", "run", "--month", month,
                   "--data-dir", str(paths.data_dir), "--reports-dir", str(paths.reports_dir)]
            env = os.environ | {"PYTHONUNBUFFERED": "1", "PLOOMBER_STATS_ENABLED": "false"}
            with open(log_path, "ab") as log:
                proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                        start_new_session=True, env=env, cwd=str(paths.data_dir))
            rec: dict[str, Any] = {"launch_id": launch_id, "month": month, "pid": proc.pid,
                                   "requested_by": requested_by,
                                   "requested_at": _now(), "run_id": None, "exit_code": None, "finished_at": None,
                                   "log": log_path.name}
            self._save(rec)
            threading.Thread(target=self._reap, args=(proc, launch_id), daemon=True,
                             name=f"reap-{launch_id}").start()
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline:
                holder = lock_holder(paths)
                if holder and holder.get("pid") == proc.pid and holder.get("run_id"):
                    rec["run_id"] = holder["run_id"]
                    self._save(rec)
                    return rec
                code = proc.poll()
                if code is not None:
                    run_id = _run_id_from_log(log_path)
                    if run_id:  # it ran (and finished, or failed fast) before we saw it hold the lock
                        rec["run_id"] = run_id
                        self._save(rec)
                        return rec
                    tail = self.log_tail(rec, 20)
                    text = "\n".join(tail)
                    if "another run is in progress" in text:
                        raise RunBusy(next((ln.removeprefix("basinlab: error: ") for ln in tail
                                            if "another run is in progress" in ln), text))
                    raise RunStartFailed(f"`basinlab run --month {month}` exited with code {code} before it "
                                         f"started: {text[-1500:]}")
                time.sleep(0.05)
            return rec  # started but slow to take the lock: the record tells the caller to poll

    def _reap(self, proc: subprocess.Popen, launch_id: str) -> None:
        code = proc.wait()
        with self._lock, contextlib.suppress(OSError, json.JSONDecodeError):  # after start() has returned
            rec = self.load(launch_id) or {}
            rec.update(exit_code=code, finished_at=_now())
            if not rec.get("run_id"):
                rec["run_id"] = _run_id_from_log(self.sp.launches / rec.get("log", ""))
            self._save(rec)

    def log_tail(self, rec: dict[str, Any], n: int = 12) -> list[str]:
        p = self.sp.launches / rec.get("log", "")
        try:
            lines = p.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            return []
        return [ln.rstrip() for ln in lines if ln.strip()][-n:]


def _run_id_from_log(path: Path) -> str | None:
    """The runner's first line is ``basinlab run <run_id>: month …``."""
    try:
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines()[:5]:
            if line.startswith("basinlab run ") and ":" in line:
                return line.split()[2].rstrip(":")
    except OSError:
        pass
    return None


def run_log_entry(paths: config.Paths, run_id: str) -> dict[str, Any] | None:
    """The last ``runs.jsonl`` entry of ``run_id``."""
    if not paths.run_log.exists():
        return None
    found = None
    for line in paths.run_log.read_text(encoding="utf-8").splitlines():
        with contextlib.suppress(json.JSONDecodeError):
            e = json.loads(line)
            if isinstance(e, dict) and e.get("run_id") == run_id:
                found = e
    return found


def last_run(paths: config.Paths) -> dict[str, Any] | None:
    """The last entry of ``runs.jsonl`` (any status)."""
    if not paths.run_log.exists():
        return None
    last = None
    for line in paths.run_log.read_text(encoding="utf-8").splitlines():
        with contextlib.suppress(json.JSONDecodeError):
            e = json.loads(line)
            if isinstance(e, dict) and e.get("run_id"):
                last = e
    return last


def status_from_log(entry: dict[str, Any]) -> dict[str, Any]:
    """The API's view of a runs.jsonl entry (no file-system paths but the report's month)."""
    out = {k: entry.get(k) for k in ("run_id", "month", "status", "started_at", "finished_at", "seconds", "error")}
    out["steps"] = [{k: s.get(k) for k in ("step", "status", "started_at", "finished_at", "seconds", "rows_in",
                                           "rows_out", "error")} for s in entry.get("steps", [])]
    out["source"] = "runs.jsonl"
    if entry.get("status") == "succeeded":
        out["report"] = f"/reports/{entry.get('month')}"
    return out
