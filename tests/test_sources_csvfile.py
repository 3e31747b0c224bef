"""The cheap pass over a CSV file's bytes (:func:`basinlab.sources.csvfile.scan`) against its definition.

``scan`` reads a file in chunks, hashes them in a thread and finds line feeds and the first
blank line with numpy; every figure it returns is restated here on the whole bytes at once,
plainly, and the two must agree on generated files whatever the chunk size.
"""
from __future__ import annotations

import hashlib
import re

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from basinlab.sources import csvfile

#: line contents around which the scan's decisions turn: blanks of each kind, quotes, CRs, a BOM
PIECES = ["a,b", "1,2", "x", '"q"', ",,", " ", "  ", "\t", "\f", "\v", "\r", "", "é", ";", "\ufeff"]
ENDINGS = ["\n", "\r\n", "\r", "\n\n", " \n"]


def reference(data: bytes, delimiter: str) -> dict:
    """What the scan must find, from the module's definitions, on the whole bytes."""
    ws = csvfile._ws(delimiter)
    body = data[len(csvfile.BOM):] if data.startswith(csvfile.BOM) else data
    last = len(data.rstrip(ws)) - 1                     # the last byte that is not whitespace
    empty = last < 0
    tail = data[last + 1:]
    after_last_line = tail.split(b"\n", 1)[1] if b"\n" in tail else b""
    blank = re.compile(rb"\n[" + re.escape(ws.replace(b"\n", b"")) + rb"]*\n").search(data)
    leading = not body.split(b"\n", 1)[0].strip(ws) and b"\n" in body
    return {
        "sha256": hashlib.sha256(data).hexdigest(),
        "size": len(data),
        "has_quote": b'"' in data,
        "lone_cr": re.search(rb"\r(?!\n)", data) is not None,
        "blank_inside": leading or (blank is not None and blank.start() < last)
        or bool(after_last_line.strip(b"\r\n")),
        "lines": 0 if empty else data[:last + 1].count(b"\n") + 1,
        "empty": empty,
    }


@st.composite
def csv_bytes(draw) -> bytes:
    lines = draw(st.lists(st.tuples(st.lists(st.sampled_from(PIECES), max_size=4).map("".join),
                                    st.sampled_from(ENDINGS)), max_size=30))
    text = "".join(a + b for a, b in lines) + draw(st.sampled_from(["", "x", " ", "\n", "\r"]))
    return text.encode("utf-8")


@settings(max_examples=150, deadline=None, derandomize=True)
@given(data=csv_bytes(), chunk=st.sampled_from([1, 2, 3, 7, 16, 64, 1 << 22]),
       delimiter=st.sampled_from([",", "\t", ";"]))
def test_scan_matches_its_definition_at_any_chunk_size(tmp_path_factory, data, chunk, delimiter):
    # the leading blank line is looked for in the first chunk (4 MB in use): a first line that fits
    assume(b"\n" in data[len(csvfile.BOM) if data.startswith(csvfile.BOM) else 0:chunk] or b"\n" not in data)
    path = tmp_path_factory.mktemp("scan") / "f.csv"
    path.write_bytes(data)
    old = csvfile.CHUNK
    csvfile.CHUNK = chunk
    try:
        got = csvfile.scan(path, delimiter)
    finally:
        csvfile.CHUNK = old
    assert got.__dict__ == reference(data, delimiter), data


def test_scan_of_a_file_many_chunks_long(tmp_path, monkeypatch):
    # the hashing thread sees every chunk once and in order, however many wait for it
    data = b"".join(b"W%d,2024-01,31,%d\n" % (i, i) for i in range(20_000)) + b"\n \nlast,1\n"
    path = tmp_path / "f.csv"
    path.write_bytes(data)
    monkeypatch.setattr(csvfile, "CHUNK", 4096)
    assert csvfile.scan(path).__dict__ == reference(data, ",")


def test_a_read_error_stops_the_hashing_thread(tmp_path):
    with pytest.raises(OSError):
        csvfile.scan(tmp_path / "missing.csv")
    assert not [t for t in __import__("threading").enumerate() if t.name == "basinlab-sha256"]
