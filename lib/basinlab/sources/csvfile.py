"""CSV files as a person sees them: records, the line each starts on, and a path DuckDB reads literally.

DuckDB's ``read_csv`` is fast and is what basinlab uses to parse CSV, but three
of its behaviours do not match what a person sees in an editor:

* **paths are patterns.** ``read_csv('late[s].csv')`` reads ``lates.csv``;
  ``*`` and ``?`` match other files. :func:`literal_path` gives a path that
  names exactly the one file: the file itself when its path holds only plain
  characters, else a symlink with a plain name in a private temporary folder
  (hive-style ``key=value`` folders count as not plain: DuckDB would add
  their keys as columns).
* **blank lines vanish and multi-line fields shift lines.** DuckDB skips empty
  lines and reads a quoted field across line breaks, so "header line + row
  index" is not the line a record starts on; a whitespace-only line fails its
  sniffer. :func:`scan` finds out, cheaply, whether a file needs a line map.
* **leading blank lines and a preamble above the header.**

What counts as a data record (the definition the tests use too): every record
after the header as Python's :mod:`csv` module reads it, except lines that are
empty or hold only ASCII whitespace (spaces, tabs, CR, FF, VT; a tab is not
whitespace in a tab-separated file). A line holding only delimiters (``,,,,``)
*is* a record (and is rejected for its missing values).

The common file (no quote character, no blank line before its last content)
costs one chunked pass over its bytes: its records are its lines. A file with
quote characters is read by DuckDB as is and its record count compared with its
line count: equal means no record spans lines. Otherwise the file is mapped
(:func:`map_records`, vectorised: record boundaries are the line breaks outside
quotes) and, when it has blank lines or a preamble, a copy without them is read.
When DuckDB and the map still disagree on the records (stray quote characters
DuckDB and Python read differently), the file is read with Python's csv module
(:func:`read_with_python`), slower but the definition itself.
"""
from __future__ import annotations

import csv
import hashlib
import io
import os
import queue
import re
import shutil
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

#: characters a path may hold for DuckDB to read it literally (no glob, no hive ``key=value``)
_PLAIN_PATH = re.compile(r"[A-Za-z0-9_./+-]+")
#: a blank line (empty or whitespace only) between two line breaks
_WS = b" \t\r\n\f\v"


def _ws(delimiter: str) -> bytes:
    """The bytes a blank line may hold: ASCII whitespace, except the delimiter (a tab-separated
    line of tabs is a record of empty fields)."""
    return bytes(b for b in _WS if bytes([b]) != delimiter.encode("latin-1", "replace"))


def is_blank_record(fields: list[str], delimiter: str) -> bool:
    """True for what Python's csv module returns for a blank line (no record, per the definition)."""
    return not fields or (len(fields) == 1 and not fields[0].strip(_ws(delimiter).decode()))
BOM = b"\xef\xbb\xbf"
CHUNK = 1 << 22


def is_plain_path(path: str | os.PathLike) -> bool:
    """True when DuckDB reads ``path`` literally (only plain characters, no glob or hive syntax)."""
    return bool(_PLAIN_PATH.fullmatch(str(path)))


def _plain_temp_base() -> Path:
    for cand in (tempfile.gettempdir(), "/tmp", "/var/tmp", "/dev/shm"):
        p = Path(cand)
        try:
            real = p.resolve()
        except OSError:
            continue
        if real.is_dir() and is_plain_path(real) and os.access(real, os.W_OK):
            return real
    raise OSError("no temporary folder with a plain path (letters, digits, . _ - / only) to read files "
                  "through; set TMPDIR to one")


class PrivateDir:
    """A private temporary folder with a plain path, removed on close (a context manager)."""

    def __init__(self) -> None:
        self.path: Path | None = None

    def get(self) -> Path:
        if self.path is None:
            self.path = Path(tempfile.mkdtemp(prefix="basinlab-read-", dir=_plain_temp_base()))
        return self.path

    def close(self) -> None:
        if self.path is not None:
            shutil.rmtree(self.path, ignore_errors=True)
            self.path = None

    def __enter__(self) -> PrivateDir:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def literal_path(path: Path, private: PrivateDir, suffix: str) -> str:
    """A path DuckDB opens as exactly this one file (see the module docstring)."""
    real = Path(os.path.abspath(path))
    if is_plain_path(real):
        return str(real)
    link = private.get() / f"source{suffix}"
    if link.exists() or link.is_symlink():
        link.unlink()
    try:
        os.symlink(real, link)
    except OSError:  # a file system without symlinks: a copy reads the same bytes
        shutil.copyfile(real, link)
    return str(link)


# --------------------------------------------------------------------------- the cheap pass


@dataclass
class Scan:
    """What one chunked pass over a CSV file's bytes tells (see :func:`scan`)."""

    sha256: str
    size: int
    has_quote: bool
    lone_cr: bool              # a carriage return not followed by a line feed (old Mac / mixed endings)
    blank_inside: bool         # a blank line (or a leading one) before the last content: DuckDB must not see it
    lines: int                 # lines up to the last non-whitespace byte (0 for an empty file)
    empty: bool                # no non-whitespace content at all

    def plain_records(self) -> int:
        """Records when each line after the header is one record."""
        return max(self.lines - 1, 0)

    def needs_clean(self, header_row: int = 1) -> bool:
        return self.blank_inside or header_row > 1


def _blank_line(ws: bytes) -> re.Pattern:
    """A blank line between two line feeds (its literal first byte makes the search fast)."""
    return re.compile(rb"\n[" + re.escape(ws.replace(b"\n", b"")) + rb"]*\n")


def _last_content(block: bytes, ws: bytes) -> int:
    """Index of the last byte of ``block`` that is not whitespace, -1 when none (no copy of the block)."""
    step = 256
    end = len(block)
    while end > 0:
        part = block[max(0, end - step):end].rstrip(ws)
        if part:
            return max(0, end - step) + len(part) - 1
        end -= step
        step *= 4
    return -1


def _first_blank_line(block: bytes, blank_line: re.Pattern, nl: np.ndarray, starts_blank: np.ndarray):
    """The first match of ``blank_line`` in ``block`` (None when none), whose line feeds are at ``nl``.

    A blank line starts at a line feed followed by a blank-line byte (``starts_blank``, indexed by
    byte); the regex starts at the first such line feed, so a file without one is not searched."""
    inner = nl[:np.searchsorted(nl, len(block) - 1)]          # line feeds with a byte after them
    if not len(inner):
        return None
    cand = inner[starts_blank[np.frombuffer(block, dtype=np.uint8)[inner + 1]]]
    return blank_line.search(block, int(cand[0])) if len(cand) else None


class _Hasher:
    """sha256 of the blocks put to it, computed in a thread while the caller works on them (hashlib
    releases the GIL on large blocks); :meth:`hexdigest` waits for it. At most ``depth`` blocks wait."""

    def __init__(self, depth: int = 4):
        self.h = hashlib.sha256()
        self.q: queue.Queue = queue.Queue(maxsize=depth)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="basinlab-sha256", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while (block := self.q.get()) is not None:
            try:
                self.h.update(block)
            except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
                self.error = exc

    def update(self, block: bytes) -> None:
        self.q.put(block)

    def close(self) -> None:
        self.q.put(None)
        self.thread.join()

    def hexdigest(self) -> str:
        self.close()
        if self.error is not None:
            raise self.error
        return self.h.hexdigest()


def scan(path: Path, delimiter: str = ",") -> Scan:
    """One chunked pass: sha256, quote characters, lone CRs, blank lines, line count.

    The sha256 is computed in a thread beside the rest. Line feeds are found with numpy; a
    regex finds the first blank line, searched in each chunk from its first line feed followed
    by a blank-line byte, and across each chunk boundary (no chunk is copied); once one is
    found the rest is not searched.
    """
    h = _Hasher()
    try:
        return _scan(path, delimiter, h)
    finally:
        if h.thread.is_alive():
            h.close()


def _scan(path: Path, delimiter: str, h: _Hasher) -> Scan:
    size = 0
    has_quote = lone_cr = False
    n_lf = 0
    first_blank: int | None = None   # offset of the first blank line found
    last_content = -1                # offset of the last non-whitespace byte
    tail = b""                       # whitespace after the last non-whitespace byte
    carry = b""                      # from the previous chunk's last line feed on (a line across chunks)
    leading_blank = pending_cr = False
    first = True
    ws = _ws(delimiter)
    blank_line = _blank_line(ws)
    starts_blank = np.zeros(256, dtype=bool)
    starts_blank[list(ws.replace(b"\n", b"") + b"\n")] = True
    with open(path, "rb") as fh:
        while block := fh.read(CHUNK):
            h.update(block)
            nl = np.flatnonzero(np.frombuffer(block, dtype=np.uint8) == 0x0A)
            if first:
                first = False
                body = block[len(BOM):] if block.startswith(BOM) else block
                first_line = body.split(b"\n", 1)[0]
                leading_blank = not first_line.strip(ws) and b"\n" in body
            n_lf += len(nl)
            if not has_quote and b'"' in block:
                has_quote = True
            if pending_cr and not block.startswith(b"\n"):
                lone_cr = True
            if not lone_cr and b"\r" in block:
                cr = block.count(b"\r")
                crlf = block.count(b"\r\n")
                if cr != crlf and not (cr == crlf + 1 and block.endswith(b"\r")):
                    lone_cr = True
            pending_cr = block.endswith(b"\r")   # a CR at a chunk's end: the next chunk must start with LF
            if first_blank is None:
                # across the boundary: the previous chunk's last line and this chunk's first one
                first_nl = block.find(b"\n")
                edge = carry + (block[:first_nl + 1] if first_nl >= 0 else block)
                m = blank_line.search(edge) if carry else None
                if m:
                    first_blank = size - len(carry) + m.start()
                else:
                    m = _first_blank_line(block, blank_line, nl, starts_blank)
                    if m:
                        first_blank = size + m.start()
                cut = block.rfind(b"\n")
                carry = block[cut:] if cut >= 0 else (edge if carry and len(edge) < CHUNK else b"")
            last = _last_content(block, ws)
            if last >= 0:
                last_content = size + last
                tail = block[last + 1:]
            else:
                tail += block
            size += len(block)
    lone_cr = lone_cr or pending_cr       # the file ends on a bare CR
    empty = last_content < 0
    lines = 0 if empty else n_lf - tail.count(b"\n") + 1
    # whitespace-only lines after the last record fail DuckDB's sniffer (spaces ending the last record do not)
    after_last_line = tail.split(b"\n", 1)[1] if b"\n" in tail else b""
    trailing_spaces = bool(after_last_line.strip(b"\r\n"))
    interior_blank = first_blank is not None and first_blank < last_content
    return Scan(sha256=h.hexdigest(), size=size, has_quote=has_quote, lone_cr=lone_cr,
                blank_inside=leading_blank or interior_blank or trailing_spaces, lines=lines, empty=empty)


# --------------------------------------------------------------------------- the record map


@dataclass
class RecordMap:
    """Records of a CSV file: the header's line and each data record's first line."""

    header: list[str]
    header_line: int
    lines: np.ndarray                       # int64, the first line of each data record
    clean: bytes | None = None              # the file without blank lines / preamble (None: read the file)
    dropped_lines: list[int] = field(default_factory=list)  # physical lines not in ``clean``


def decode_header(raw: bytes, encoding: str, delimiter: str) -> list[str]:
    """Column names from a header record's bytes (BOM dropped)."""
    text = raw.decode(_py_encoding(encoding), errors="replace")
    row = next(csv.reader(io.StringIO(text), delimiter=delimiter), [])
    return row


def _py_encoding(encoding: str) -> str:
    e = encoding.lower().replace("_", "-")
    return {"utf-8": "utf-8-sig", "utf8": "utf-8-sig", "latin-1": "latin-1", "latin1": "latin-1",
            "utf-16": "utf-16"}.get(e, e)


def map_records(data: bytes, encoding: str, delimiter: str, header_row: int = 1) -> RecordMap:
    """The record map of a CSV file's bytes (LF or CRLF line ends), vectorised.

    Record boundaries are the line feeds outside quotes: with RFC 4180 quoting
    (a quote inside a quoted field is doubled) a line feed is inside a quoted
    field exactly when an odd number of quote characters precede it.
    """
    a = np.frombuffer(data, dtype=np.uint8)
    nl = np.flatnonzero(a == 0x0A)
    if b'"' in data:
        quotes = np.flatnonzero(a == 0x22)
        term = nl[(np.searchsorted(quotes, nl) & 1) == 0]
    else:
        term = nl
    starts = np.concatenate(([0], term + 1)).astype(np.int64)
    ends = np.concatenate((term, [len(data)])).astype(np.int64)   # exclusive, before the line feed
    start_lines = np.searchsorted(nl, starts) + 1                  # physical line each segment starts on
    # blank segments: empty, or whitespace only (checked in Python for the few that start with whitespace)
    length = ends - starts
    blank = length == 0
    bom = len(BOM) if data.startswith(BOM) else 0
    cand = np.flatnonzero(~blank)
    ws = _ws(delimiter)
    if len(cand):
        first_byte = a[np.minimum(starts[cand] + np.where(starts[cand] == 0, bom, 0), len(a) - 1)]
        starts_ws = np.isin(first_byte, np.frombuffer(ws, dtype=np.uint8))
        for i in cand[starts_ws]:
            s = int(starts[i]) + (bom if starts[i] == 0 else 0)
            if not data[s:int(ends[i])].strip(ws):
                blank[i] = True
    blank |= start_lines < header_row            # a preamble above the header is not data
    kept = np.flatnonzero(~blank)
    if len(kept) == 0:
        return RecordMap(header=[], header_line=0, lines=np.zeros(0, dtype=np.int64))
    h = kept[0]
    header = decode_header(data[starts[h]:ends[h]], encoding, delimiter)
    if header and header[0].startswith("\ufeff"):
        header[0] = header[0][1:]
    records = kept[1:]
    rm = RecordMap(header=header, header_line=int(start_lines[h]), lines=start_lines[records].astype(np.int64))
    # blank segments to leave out of the copy DuckDB reads; empty ones after the last record are harmless
    dropped = np.flatnonzero(blank & ~((np.arange(len(blank)) > kept[-1]) & (length == 0)))
    if len(dropped):
        # the file without blank segments before its last record: kept runs joined (one slice per run)
        pieces, pos = [], 0
        for i in dropped:
            s, e = int(starts[i]), int(ends[i])
            if s > pos:
                pieces.append(data[pos:s])
            pos = min(e + 1, len(data))
        pieces.append(data[pos:])
        rm.clean = b"".join(pieces)
        # every physical line a dropped segment covers
        seg_end_lines = np.searchsorted(nl, ends[dropped]) + 1
        rm.dropped_lines = [ln for s, e in zip(start_lines[dropped], seg_end_lines) for ln in range(int(s), int(e) + 1)]
    return rm


def original_line(clean_line: int, dropped_lines: list[int]) -> int:
    """The physical line of the original file holding line ``clean_line`` of the cleaned copy."""
    line = clean_line
    for d in dropped_lines:  # sorted
        if d <= line:
            line += 1
        else:
            break
    return line


# --------------------------------------------------------------------------- Python's csv module


@dataclass
class PythonRead:
    header: list[str]
    header_line: int
    rows: list[list[str]]
    lines: list[int]
    problem: str | None = None   # the first record whose field count differs from the header's


def read_with_python(path: Path, encoding: str, delimiter: str, header_row: int = 1,
                     max_problems: int = 1) -> PythonRead:
    """Every data record with the line it starts on, by Python's csv module (the definition)."""
    with open(path, newline="", encoding=_py_encoding(encoding)) as fh:
        reader = csv.reader(fh, delimiter=delimiter)
        header: list[str] | None = None
        header_line = 0
        rows: list[list[str]] = []
        lines: list[int] = []
        problem = None
        prev = 0
        for rec in reader:
            start, prev = prev + 1, reader.line_num
            if is_blank_record(rec, delimiter):
                continue  # an empty or whitespace-only line is not a record
            if start < header_row:
                continue
            if header is None:
                header, header_line = rec, start
                if header and header[0].startswith("\ufeff"):
                    header[0] = header[0][1:]
                continue
            if len(rec) != len(header) and problem is None:
                problem = (f"line {start} has {len(rec)} fields, the header has {len(header)} "
                           f"(delimiter {delimiter!r})")
            rows.append(rec)
            lines.append(start)
    return PythonRead(header or [], header_line, rows, lines, problem)


def first_invalid_utf8_line(path: Path) -> int | None:
    """The line of the first byte sequence that is not UTF-8, or None."""
    data = Path(path).read_bytes()
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return data.count(b"\n", 0, exc.start) + 1
    return None
