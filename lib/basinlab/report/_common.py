"""Shared helpers for the report package: errors, hashing, atomic writes."""
from __future__ import annotations

import contextlib
import hashlib
import math
import os
import tempfile
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

#: what the report shows for a number that is missing or not a number (NaN, None, ±inf)
NOT_REPORTED = "not reported"


class ReportError(RuntimeError):
    """A report could not be rendered or published; the message says why."""


class BrowserNotFoundError(ReportError):
    """No Chromium-family browser was found to print the PDF."""


def sha256_file(path: str | os.PathLike[str], chunk_size: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's content."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk_size), b""):
            h.update(block)
    return h.hexdigest()


@contextlib.contextmanager
def atomic_path(final: str | os.PathLike[str], suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``final``; rename it over ``final`` on success.

    The temporary file lives in the same directory so the rename is atomic;
    on any exception it is removed and ``final`` is left as it was.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{final.name}.", suffix=suffix if suffix is not None else f".tmp{final.suffix}",
        dir=final.parent,
    )
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        # mkstemp creates 0600 files; give the published file ordinary permissions.
        umask = os.umask(0)
        os.umask(umask)
        with contextlib.suppress(OSError):
            os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, final)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def atomic_write_bytes(final: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``final`` atomically (temp file + fsync + rename)."""
    final = Path(final)
    with atomic_path(final) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    return final


def atomic_write_text(final: str | os.PathLike[str], text: str) -> Path:
    """Write UTF-8 ``text`` to ``final`` atomically."""
    return atomic_write_bytes(final, text.encode("utf-8"))


# --------------------------------------------------------------------------- values


def is_missing(v: Any) -> bool:
    """True for a value the report cannot show as a number: None, NaN, ±inf, pandas NA/NaT,
    non-finite Decimals and numpy scalars of those (without importing pandas)."""
    if v is None:
        return True
    if isinstance(v, bool):
        return False
    if isinstance(v, float):  # numpy.float64 too
        return not math.isfinite(v)
    if isinstance(v, Decimal):
        return not v.is_finite()
    if type(v).__name__ in ("NAType", "NaTType"):
        return True
    if hasattr(v, "dtype") and hasattr(v, "item") and not isinstance(v, (int, str)):  # other numpy scalars
        try:
            x = v.item()
        except (TypeError, ValueError):
            return False
        return x is None or (type(x) is not type(v) and is_missing(x))
    return False


def fmt_number(v: Any, spec: str, missing: str = NOT_REPORTED) -> str:
    """``format(v, spec)``, or ``missing`` for a value that is not a finite number."""
    if is_missing(v):
        return missing
    try:
        return format(v, spec)
    except (TypeError, ValueError):
        return str(v)
