"""The access log: one JSON line per request, appended beside the warehouse, carried in by runs.

The API appends to ``<data-dir>/service/access.jsonl`` (never the warehouse: the
service must not need the writer). Each line::

    {"request_id": "…", "requested_at": "2024-07-01T08:00:00.123+00:00", "key_id": "1a2b3c4d",
     "key_name": "analyst", "permission": "read", "auth": "ok", "client": "127.0.0.1",
     "method": "GET", "route": "/production/monthly", "path": "/production/monthly",
     "parameters": {"field": "Bakken"}, "status": 200, "rows_returned": 1000,
     "duration_ms": 12.3, "warehouse_version": "1234-1719820800000000000"}

Secrets never appear: requests are known by key id and name, query strings hold no
keys (keys travel in headers only), and parameters whose name looks like a secret
are masked anyway. When the file passes :data:`ROTATE_BYTES` it is renamed to
``access-<UTC stamp>.jsonl`` and a new one is started; nothing is ever deleted.

:func:`carry_audit_log` runs inside the runner (on the build file, before the
notebooks) and inserts every complete line whose ``request_id`` the warehouse
does not have yet into ``metadata.connection_audit``: running it twice inserts
nothing the second time. A line the API is still writing (no newline yet) waits
for the next run; a complete line that is not valid JSON is kept as a row with
``auth = 'unreadable'`` and the raw text in ``parameters``, never dropped.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .. import catalog
from .files import ServicePaths

ROTATE_BYTES = 64 * 1024 * 1024
SECRET_PARAM_RE = re.compile(r"(key|token|secret|password|auth)", re.IGNORECASE)

#: where the access log is carried (columns declared in sql/catalog/metadata.yml)
AUDIT_TABLE = "metadata.connection_audit"
#: the access record's fields: the declared columns of the audit table without the carry's lineage (_source_file …)
COLUMNS = tuple(catalog.columns(AUDIT_TABLE, lineage=False))


def mask_parameters(params: dict[str, Any]) -> dict[str, Any]:
    """Parameters as logged: values of secret-looking names masked, long values cut."""
    out: dict[str, Any] = {}
    for k, v in params.items():
        if SECRET_PARAM_RE.search(k):
            out[k] = "***"
        elif isinstance(v, str) and len(v) > 500:
            out[k] = v[:500] + "…"
        else:
            out[k] = v
    return out


class AccessLog:
    """Appends access records; thread-safe within the process, line-atomic across processes
    (one ``write`` of a whole line to an ``O_APPEND`` file)."""

    def __init__(self, path: Path, rotate_bytes: int = ROTATE_BYTES):
        self.path = Path(path)
        self.rotate_bytes = rotate_bytes
        self._lock = threading.Lock()

    def write(self, record: dict[str, Any]) -> None:
        line = (json.dumps(record, default=str, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line)
                size = os.fstat(fd).st_size
            finally:
                os.close(fd)
            if size >= self.rotate_bytes:
                stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
                os.replace(self.path, self.path.with_name(f"access-{stamp}.jsonl"))


def read_records(path: Path) -> tuple[list[dict[str, Any]], int]:
    """Complete lines of one access log as records; returns (records, unreadable lines kept).

    The last line is skipped while it has no newline (the API may be writing it).
    """
    data = path.read_bytes()
    end = data.rfind(b"\n")
    data = data[: end + 1] if end >= 0 else b""
    records: list[dict[str, Any]] = []
    bad = 0
    offset = 0
    for raw in data.split(b"\n")[:-1]:
        line_offset = offset
        offset += len(raw) + 1
        if not raw.strip():
            continue
        try:
            rec = json.loads(raw)
            if not isinstance(rec, dict) or not rec.get("request_id"):
                raise ValueError("not an access record")
        except ValueError:
            bad += 1
            text = raw.decode("utf-8", errors="replace")
            rec = {"request_id": "unreadable-" + hashlib.sha256(f"{path.name}:{line_offset}:".encode()
                                                                 + raw).hexdigest()[:24],
                   "requested_at": datetime.fromtimestamp(path.stat().st_mtime, UTC).isoformat(),
                   "auth": "unreadable", "method": "?", "route": "?", "path": "?",
                   "parameters": {"line": text[:2000], "byte_offset": line_offset}, "status": 0,
                   "duration_ms": 0.0}
        records.append(rec)
    return records, bad


def carry_audit_log(con, paths, batch_id: str) -> int:
    """Insert the access-log lines the warehouse does not have into ``metadata.connection_audit``.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        The run's build file, read-write (the runner is the only writer).
    paths : basinlab.config.Paths
        The run's paths; the logs are ``<data-dir>/service/access*.jsonl``.
    batch_id : str
        The run id, stored in ``_batch_id``.

    Returns the number of rows inserted (0 when there is no log, or nothing new).
    """
    import pyarrow as pa

    sp = ServicePaths(paths)
    logs = sp.access_logs()
    if not logs:
        return 0
    exists = con.execute("select count(*) from information_schema.tables where table_schema = 'metadata' "
                         "and table_name = 'connection_audit'").fetchall()[0][0]
    if not exists:  # migrations not applied (the runner migrates first; a bare call may not)
        raise RuntimeError("metadata.connection_audit does not exist: apply the migrations first "
                           "(V005__connection_audit.sql)")
    cols: dict[str, list] = {c: [] for c in (*COLUMNS, "_source_file")}
    for log in logs:
        records, _bad = read_records(log)
        for r in records:
            for c in COLUMNS:
                v = r.get(c)
                if c == "parameters" and v is not None and not isinstance(v, str):
                    v = json.dumps(v, ensure_ascii=False, sort_keys=True)
                cols[c].append(v)
            cols["_source_file"].append(log.name)
    if not cols["request_id"]:
        return 0
    t = pa.table({
        "requested_at": pa.array([_utc_naive(v) for v in cols["requested_at"]], pa.timestamp("us")),
        **{c: pa.array([None if v is None else str(v) for v in cols[c]], pa.string())
           for c in ("request_id", "key_id", "key_name", "permission", "auth", "client",
                     "method", "route", "path", "parameters", "warehouse_version", "_source_file")},
        "status": pa.array([int(v) if v is not None else 0 for v in cols["status"]], pa.int32()),
        "rows_returned": pa.array([int(v) if v is not None else None for v in cols["rows_returned"]], pa.int64()),
        "duration_ms": pa.array([float(v) if v is not None else 0.0 for v in cols["duration_ms"]], pa.float64()),
    })
    con.register("_bl_access_log", t)
    try:
        before = con.execute("select count(*) from metadata.connection_audit").fetchall()[0][0]
        con.execute(
            f"""insert into {AUDIT_TABLE} ({', '.join(catalog.columns(AUDIT_TABLE))})
               select distinct on (l.request_id)
                      l.request_id, coalesce(l.requested_at, current_timestamp::timestamp),
                      l.key_id, l.key_name, l.permission, coalesce(l.auth, 'unknown'), l.client,
                      coalesce(l.method, '?'), coalesce(l.route, '?'), coalesce(l.path, '?'), l.parameters,
                      l.status, l.rows_returned, l.duration_ms, l.warehouse_version, l._source_file, ?,
                      current_timestamp::timestamp
               from _bl_access_log l
               where not exists (select 1 from metadata.connection_audit a where a.request_id = l.request_id)
               order by l.request_id""",
            [batch_id])
        after = con.execute("select count(*) from metadata.connection_audit").fetchall()[0][0]
    finally:
        con.unregister("_bl_access_log")
    return int(after - before)


def _utc_naive(value: Any) -> datetime | None:
    """An ISO time from the log as naive UTC (the warehouse's timestamps are naive)."""
    try:
        t = datetime.fromisoformat(str(value))
    except (TypeError, ValueError):
        return None
    return t.astimezone(UTC).replace(tzinfo=None) if t.tzinfo else t
