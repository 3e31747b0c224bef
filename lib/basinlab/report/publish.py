"""Run manifest and all-or-nothing publication of a report folder."""
from __future__ import annotations

import datetime as _dt
import json
import math
import os
import re
import shutil
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..faults import fault_point
from ..warehouse import fsync_dir
from ._common import ReportError, atomic_write_text, sha256_file

MANIFEST_SCHEMA_VERSION = 1


def _json_default(o: Any) -> Any:
    if isinstance(o, Path):
        return str(o)
    if isinstance(o, (_dt.datetime, _dt.date)):
        return o.isoformat()
    if hasattr(o, "item"):  # numpy / pandas scalar
        try:
            return o.item()
        except (TypeError, ValueError):
            pass
    if isinstance(o, (set, frozenset)):
        return sorted(o, key=str)
    return str(o)


def _clean(o: Any) -> Any:
    """JSON-safe copy: NaN/inf/NA/NaT → null, numpy/pandas scalars → Python values."""
    if isinstance(o, Mapping):
        return {str(k): _clean(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_clean(v) for v in o]
    if isinstance(o, (set, frozenset)):
        return [_clean(v) for v in sorted(o, key=str)]
    if o is None or isinstance(o, (bool, int, str)):
        return o
    if isinstance(o, float):
        return o if math.isfinite(o) else None
    try:
        import pandas as pd

        if o is pd.NA or o is pd.NaT:
            return None
        if isinstance(o, pd.Timestamp):
            return o.isoformat()
    except ImportError:  # pragma: no cover
        pass
    if hasattr(o, "item") and not isinstance(o, (bytes, bytearray)):
        try:
            return _clean(o.item())
        except (TypeError, ValueError):
            pass
    return _json_default(o)


def write_manifest(
    path: str | os.PathLike[str],
    *,
    run_id: str,
    month: str,
    parameters: Mapping[str, Any],
    inputs: Sequence[Mapping[str, Any]],
    row_counts: Mapping[str, Any],
    checks: Sequence[Mapping[str, Any]],
    outputs: Sequence[str | os.PathLike[str]],
) -> Path:
    """Write the run manifest (JSON, atomically) and return its path.

    ``outputs`` are files that must exist; each is listed with its ``sha256``
    and ``size_bytes``, and its path relative to the manifest's folder when it
    lives inside it (so the folder can be moved), else absolute.
    """
    path = Path(path)
    base = path.parent.resolve()
    out_entries = []
    for o in outputs:
        p = Path(o).resolve()
        if not p.is_file():
            raise ReportError(f"manifest output does not exist: {p}")
        try:
            rel = p.relative_to(base).as_posix()
        except ValueError:
            rel = str(p)
        out_entries.append({"file": rel, "sha256": sha256_file(p), "size_bytes": p.stat().st_size})
    doc = {
        "schema_version": MANIFEST_SCHEMA_VERSION,
        "run_id": run_id,
        "month": month,
        "generated_at": _dt.datetime.now(_dt.UTC).replace(microsecond=0).isoformat(),
        "parameters": dict(parameters),
        "inputs": [dict(i) for i in inputs],
        "row_counts": dict(row_counts),
        "checks": [dict(c) for c in checks],
        "outputs": out_entries,
    }
    text = json.dumps(_clean(doc), indent=2, default=_json_default, ensure_ascii=False,
                      allow_nan=False)
    return atomic_write_text(path, text + "\n")


def publish_report_dir(staging_dir: str | os.PathLike[str], final_dir: str | os.PathLike[str]) -> Path:
    """Replace ``final_dir`` with the completed ``staging_dir``, all or nothing.

    The old folder is renamed to a hidden backup beside it, the staging folder
    is renamed into place, then the backup is deleted.  If the second rename
    fails the backup is renamed back, so the last good report stays intact.
    A kill between the two renames leaves the backup and the staging folder,
    both complete: :func:`recover_report_dirs` (run at the start of every run)
    puts the newer one in place.
    Both folders must be on the same filesystem (stage next to the final folder).
    """
    staging = Path(staging_dir)
    final = Path(final_dir)
    if not staging.is_dir():
        raise ReportError(f"staging folder {staging} does not exist; {final} left unchanged")
    if staging.resolve() == final.resolve():
        raise ReportError(f"staging folder and final folder are the same: {final}")
    final.parent.mkdir(parents=True, exist_ok=True)

    backup: Path | None = None
    if final.exists():
        backup = final.with_name(f"{BACKUP_PREFIX.format(month=final.name)}{uuid.uuid4().hex[:8]}")
        try:
            os.rename(final, backup)
        except OSError as e:
            raise ReportError(f"could not move the current report {final} aside: {e}") from e
    fault_point("report:swap")
    try:
        os.rename(staging, final)
    except BaseException as e:
        if backup is not None:
            try:
                os.rename(backup, final)
            except OSError as e2:  # pragma: no cover - would need two failing renames
                raise ReportError(
                    f"publishing {staging} failed ({e}) and restoring the previous report "
                    f"failed too ({e2}); the previous report is at {backup}"
                ) from e
        if isinstance(e, OSError):
            raise ReportError(f"could not publish {staging} as {final}: {e}") from e
        raise
    fsync_dir(final.parent)
    if backup is not None:
        shutil.rmtree(backup, ignore_errors=True)
    # Leftovers of an earlier interrupted publish (older than the report just published).
    for stale in final.parent.glob(f"{BACKUP_PREFIX.format(month=final.name)}*"):
        shutil.rmtree(stale, ignore_errors=True)
    return final


#: ``reports/.2024-06.old-1a2b3c4d``: the report a swap moved aside
BACKUP_PREFIX = ".{month}.old-"
#: ``reports/.staging-<run_id>``: a run's report being assembled
STAGING_PREFIX = ".staging-"
#: report folders: a month YYYY-MM, a quarter YYYY-QN or a year YYYY (see report.period)
_MONTH_DIR = re.compile(r"^\d{4}(?:-(?:0[1-9]|1[0-2])|-Q[1-4])?$")
_BACKUP_DIR = re.compile(r"^\.(\d{4}(?:-(?:0[1-9]|1[0-2])|-Q[1-4])?)\.old-")


def report_manifest(folder: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The folder's manifest when the report is complete, else None.

    Complete means: ``manifest.json`` parses, and every output it lists exists with
    the size and sha256 the manifest recorded.
    """
    folder = Path(folder)
    try:
        doc = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict) or not isinstance(doc.get("outputs"), list) or not doc["outputs"]:
        return None
    for o in doc["outputs"]:
        try:
            p = Path(o["file"])
            p = p if p.is_absolute() else folder / p
            if p.stat().st_size != o.get("size_bytes", p.stat().st_size) or sha256_file(p) != o["sha256"]:
                return None
        except (OSError, KeyError, TypeError):
            return None
    return doc


def _month_of(folder: Path, doc: dict[str, Any] | None) -> str | None:
    if doc and isinstance(doc.get("month"), str) and _MONTH_DIR.match(doc["month"]):
        return doc["month"]
    name = folder.name
    if _MONTH_DIR.match(name):
        return name
    m = _BACKUP_DIR.match(name)
    if m:
        return m.group(1)
    if name.startswith(STAGING_PREFIX):
        head = name[len(STAGING_PREFIX):].split("_", 1)[0]
        head = head[len("report-"):] if head.startswith("report-") else head
        return head if _MONTH_DIR.match(head) else None
    return None


def recover_report_dirs(reports_dir: str | os.PathLike[str], failed_dir: str | os.PathLike[str] | None = None,
                        say: Callable[[str], None] | None = None) -> list[str]:
    """Put the newest complete report of every month in place after an interrupted swap.

    Looks at ``reports/YYYY-MM/``, the backups a swap moves aside (``.YYYY-MM.old-*``)
    and the staging folders of runs that died (``.staging-<run_id>``). Per month, the
    newest *complete* copy (see :func:`report_manifest`; ordered by the manifest's
    ``generated_at``) becomes ``reports/YYYY-MM/``; copies older than it are deleted,
    and so are incomplete staging folders (their executed notebooks are moved to
    ``failed_dir/<run_id>/`` for inspection). The only complete copy of a month is
    never deleted; a month with no complete copy at all keeps whatever it has (a
    missing folder is restored from the newest backup). Returns one line per action.
    Call it only while no run can be writing (under the run lock).
    """
    say = say or (lambda _m: None)
    root = Path(reports_dir)
    if not root.is_dir():
        return []
    actions: list[str] = []

    def act(msg: str) -> None:
        actions.append(msg)
        say(f"  {msg}")

    for month, entries in sorted(_report_copies(root).items()):
        _recover_month(root / month, month, entries, failed_dir, act)
    return actions


_Copy = tuple[Path, str, "dict[str, Any] | None"]  # (folder, final | backup | staging, manifest or None)


def _report_copies(root: Path) -> dict[str, list[_Copy]]:
    """Every copy of a report under ``root`` by month: the folder in place, the backups of a swap and
    the staging folders of runs, each with its manifest when it is complete."""
    by_month: dict[str, list[_Copy]] = {}
    for p in sorted(root.iterdir()):
        if not p.is_dir():
            continue
        if _MONTH_DIR.match(p.name):
            kind = "final"
        elif _BACKUP_DIR.match(p.name):
            kind = "backup"
        elif p.name.startswith(STAGING_PREFIX):
            kind = "staging"
        else:
            continue
        doc = report_manifest(p)
        month = _month_of(p, doc)
        if month:
            by_month.setdefault(month, []).append((p, kind, doc))
    return by_month


def _copy_age(e: _Copy) -> tuple[str, int, str]:
    doc = e[2] or {}
    # on a tie the folder already in place wins (no needless swap)
    return (str(doc.get("generated_at", "")), 1 if e[1] == "final" else 0, str(doc.get("run_id", "")))


def _recover_month(final: Path, month: str, entries: list[_Copy], failed_dir: str | os.PathLike[str] | None,
                   act: Callable[[str], None]) -> None:
    """Put the newest complete copy of one month in place (or, with none complete and the folder
    missing, the newest backup), then remove the copies it supersedes."""
    spare = [e for e in entries if e[1] != "final"]
    if not spare:
        return
    complete = [e for e in entries if e[2] is not None]
    best = max(complete, key=_copy_age) if complete else None
    if best is not None and best[1] != "final":
        publish_report_dir(best[0], final)
        act(f"report {month}: restored the complete report of run {best[2].get('run_id')} "
            f"from {best[0].name} (an earlier run stopped while replacing it)")
    elif best is None and not final.exists():
        backups = sorted((e for e in spare if e[1] == "backup"), key=lambda e: e[0].stat().st_mtime)
        if backups:
            os.rename(backups[-1][0], final)
            act(f"report {month}: restored {backups[-1][0].name} (no complete copy with a manifest found)")
    _remove_spare_copies(month, spare, best, failed_dir, act)


def _remove_spare_copies(month: str, spare: list[_Copy], best: _Copy | None,
                         failed_dir: str | os.PathLike[str] | None, act: Callable[[str], None]) -> None:
    """Delete the copies ``best`` supersedes; with nothing complete, backups stay. An incomplete staging
    folder's executed notebooks move to ``failed_dir/<run_id>/`` first."""
    for p, kind, doc in spare:
        if not p.exists() or (best is not None and p == best[0]):
            continue
        if best is None and kind == "backup":
            continue  # nothing complete to stand in for it: keep it
        if kind == "staging" and doc is None and failed_dir is not None and (p / "notebooks").is_dir():
            dest = Path(failed_dir) / p.name[len(STAGING_PREFIX):]
            dest.parent.mkdir(parents=True, exist_ok=True)
            if not dest.exists():
                shutil.move(str(p / "notebooks"), str(dest))
                act(f"report {month}: unfinished report of a stopped run removed; its notebooks kept in {dest}")
        shutil.rmtree(p, ignore_errors=True)
