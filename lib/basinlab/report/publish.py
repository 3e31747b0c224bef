"""Run manifest and all-or-nothing publication of a report folder."""
from __future__ import annotations

import datetime as _dt
import json
import math
import os
import shutil
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

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
        "generated_at": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
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
        backup = final.with_name(f".{final.name}.old-{uuid.uuid4().hex[:8]}")
        try:
            os.rename(final, backup)
        except OSError as e:
            raise ReportError(f"could not move the current report {final} aside: {e}") from e
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
    if backup is not None:
        shutil.rmtree(backup, ignore_errors=True)
    # Leftovers of an earlier interrupted publish.
    for stale in final.parent.glob(f".{final.name}.old-*"):
        shutil.rmtree(stale, ignore_errors=True)
    return final
