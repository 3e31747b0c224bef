"""Where the service keeps its files, and how it writes them.

Everything lives beside the warehouse, never in it::

    <data-dir>/service/keys.json          API keys (hashes only), mode 0600
    <data-dir>/service/access.jsonl       append-only access log (rotated to access-<stamp>.jsonl)
    <data-dir>/service/launches/          runs started through POST /runs: record + output log
    <data-dir>/service/pull_gl.json       the GL puller's state (last batch per stream)
    <data-dir>/received/eia/              EIA series as received, one JSON file per pull
    <data-dir>/inbox/gl/, inbox/prices/   what the pullers deliver to the next run
"""
from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .. import config
from ..warehouse import fsync_dir

SERVICE_DIR = "service"
RECEIVED_DIR = "received"


@dataclass(frozen=True)
class ServicePaths:
    """The service's files for one data dir (and the reports dir it serves)."""

    paths: config.Paths

    @classmethod
    def resolve(cls, data_dir: str | Path | None = None, reports_dir: str | Path | None = None) -> ServicePaths:
        return cls(config.Paths.resolve(data_dir, reports_dir))

    @property
    def root(self) -> Path:
        return self.paths.data_dir / SERVICE_DIR

    @property
    def keys(self) -> Path:
        return self.root / "keys.json"

    @property
    def access_log(self) -> Path:
        return self.root / "access.jsonl"

    @property
    def launches(self) -> Path:
        return self.root / "launches"

    @property
    def pull_gl_state(self) -> Path:
        return self.root / "pull_gl.json"

    @property
    def received_eia(self) -> Path:
        return self.paths.data_dir / RECEIVED_DIR / "eia"

    def access_logs(self) -> list[Path]:
        """The access log and its rotated parts, oldest first."""
        if not self.root.exists():
            return []
        rotated = sorted(self.root.glob("access-*.jsonl"))
        return rotated + ([self.access_log] if self.access_log.exists() else [])


def write_atomic(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write ``data`` to ``path`` so a reader sees the old file or the whole new one, never a part.

    The bytes go to a hidden temporary file in the same folder (the inbox ignores dot files),
    are flushed to disk, and the file is renamed over ``path``; then the folder is synced so
    the rename survives a crash.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)  # the umask may have narrowed (or widened) the mode at creation
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


class Busy(Exception):
    """Another process holds an exclusive file lock."""


@contextlib.contextmanager
def exclusive(lock_path: Path, what: str) -> Iterator[None]:
    """A non-blocking exclusive lock on ``lock_path`` (fcntl; released when the process dies)."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fh = open(lock_path, "a+")
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.close()
        raise Busy(f"{what} is already running (lock {lock_path} is held by another process)") from None
    try:
        yield
    finally:
        fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
        fh.close()


@contextlib.contextmanager
def blocking(lock_path: Path) -> Iterator[None]:
    """A blocking exclusive lock, for short read-modify-write sections (the key store)."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a+") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
