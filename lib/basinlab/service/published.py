"""Read-only connections to the *published* warehouse, one database instance per publish.

The runner publishes by ``os.replace(build, warehouse.duckdb)``: a reader that has
the old file open keeps reading the old inode; a new opener sees the new file.
Two things would break that inside one long-lived server process:

* DuckDB caches database instances by path: ``duckdb.connect(path, read_only=True)``
  while any connection to that path is still open in the process returns the
  *cached old* database, so the server would serve the old data forever. (Even a
  ``/proc/self/fd/N`` path is resolved to the same cache entry.)
* Closing the old connection to get around the cache would break requests still
  reading it.

So every publish gets its own in-memory DuckDB instance with the file ATTACHed
read-only as catalog ``wh``: instances are never shared, so there is no cache to
hit. A publish is recognised by the file's ``(st_dev, st_ino, st_mtime_ns,
st_size)``. A request :meth:`PublishedWarehouse.acquire`s the current
:class:`Snapshot` (reference counted) and reads through its own cursor; a publish
in the middle of the request does not touch that snapshot, and the next request
gets the new one. An old snapshot is closed when its last request releases it.

Nothing here ever opens the file read-write, and a read-only attach never blocks
the runner: the runner writes build files and only renames over the published one.
"""
from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

CATALOG = "wh"
#: threads per snapshot instance; requests run concurrently in cursors on top of this
DEFAULT_THREADS = 2
#: memory per snapshot instance (several can be open while old requests finish);
#: ``$BASINLAB_MEMORY_LIMIT`` / ``$BASINLAB_THREADS`` / ``$BASINLAB_TEMP_DIR`` override these
#: (:func:`basinlab.config.duckdb_resources`)
DEFAULT_MEMORY_LIMIT = "1GB"


class NotPublished(Exception):
    """There is no published warehouse (yet)."""


def file_version(path: Path) -> tuple[int, int, int, int] | None:
    """``(st_dev, st_ino, st_mtime_ns, st_size)`` of the file, or None when it is missing."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size


def version_label(version: tuple[int, int, int, int] | None) -> str | None:
    return f"{version[1]}-{version[2]}" if version else None


@dataclass
class Snapshot:
    """One published file, attached read-only in its own DuckDB instance."""

    version: tuple[int, int, int, int]
    con: duckdb.DuckDBPyConnection
    opened_at: float
    refs: int = 0
    retired: bool = False
    _columns: dict[tuple[str, str], list[tuple[str, str]]] | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def label(self) -> str:
        return version_label(self.version) or ""

    @property
    def published_at(self) -> float:
        """Modification time of the published file (the runner closes the build just before renaming it)."""
        return self.version[2] / 1e9

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A cursor for one request (one thread); close it when done."""
        return self.con.cursor()

    def columns(self) -> dict[tuple[str, str], list[tuple[str, str]]]:
        """``{(schema, table): [(column, type), …]}`` from information_schema, read once per snapshot."""
        with self._lock:
            if self._columns is None:
                cur = self.con.cursor()
                try:
                    rows = cur.execute(
                        "select table_schema, table_name, column_name, data_type from information_schema.columns "
                        "where table_catalog = ? order by table_schema, table_name, ordinal_position",
                        [CATALOG]).fetchall()
                finally:
                    cur.close()
                cols: dict[tuple[str, str], list[tuple[str, str]]] = {}
                for s, t, c, typ in rows:
                    cols.setdefault((s, t), []).append((c, typ))
                self._columns = cols
            return self._columns

    def close(self) -> None:
        with contextlib.suppress(duckdb.Error):
            self.con.close()


def _open(path: Path, threads: int, memory_limit: str) -> duckdb.DuckDBPyConnection:
    from .. import config, warehouse

    resources = config.duckdb_resources(path, read_only=True, memory_limit=memory_limit, threads=threads)
    return warehouse.attach_read_only(path, CATALOG, resources)


class PublishedWarehouse:
    """The published warehouse as the service reads it: see the module docstring."""

    def __init__(self, path: Path, threads: int = DEFAULT_THREADS, memory_limit: str = DEFAULT_MEMORY_LIMIT):
        self.path = Path(path)
        self.threads = threads
        self.memory_limit = memory_limit
        self._current: Snapshot | None = None
        self._lock = threading.Lock()
        self.opened = 0  # snapshots opened so far (a figure for tests and /health)

    def _current_snapshot(self) -> Snapshot:
        version = file_version(self.path)
        with self._lock:
            cur = self._current
            if version is None:
                if cur is not None:
                    self._retire(cur)
                    self._current = None
                raise NotPublished(f"no published warehouse at {self.path.name} yet: a successful "
                                   "`basinlab run --month YYYY-MM` publishes one")
            if cur is not None and cur.version == version:
                cur.refs += 1
                return cur
            for _attempt in range(5):
                con = _open(self.path, self.threads, self.memory_limit)
                # the file may have been replaced between stat and attach: make sure we attached `version`
                after = file_version(self.path)
                if after == version:
                    break
                con.close()
                if after is None:
                    raise NotPublished(f"the published warehouse {self.path.name} disappeared")
                version = after
            else:  # publishes faster than we can attach: use what we have
                con = _open(self.path, self.threads, self.memory_limit)
                version = file_version(self.path) or version
            snap = Snapshot(version=version, con=con, opened_at=time.time(), refs=1)
            self.opened += 1
            if cur is not None:
                self._retire(cur)
            self._current = snap
            return snap

    def _retire(self, snap: Snapshot) -> None:
        snap.retired = True
        if snap.refs == 0:
            snap.close()

    def _release(self, snap: Snapshot) -> None:
        with self._lock:
            snap.refs -= 1
            if snap.retired and snap.refs == 0:
                snap.close()

    @contextlib.contextmanager
    def acquire(self) -> Iterator[Snapshot]:
        """The snapshot of the current publish, held for the ``with`` block."""
        snap = self._current_snapshot()
        try:
            yield snap
        finally:
            self._release(snap)

    @contextlib.contextmanager
    def cursor(self) -> Iterator[tuple[Snapshot, duckdb.DuckDBPyConnection]]:
        """``(snapshot, cursor)`` for one request; the cursor is closed afterwards."""
        with self.acquire() as snap:
            cur = snap.cursor()
            try:
                yield snap, cur
            finally:
                with contextlib.suppress(duckdb.Error):
                    cur.close()

    def close(self) -> None:
        with self._lock:
            if self._current is not None:
                self._retire(self._current)
                self._current = None
