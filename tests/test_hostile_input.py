"""Hostile input, generated: what a source file can do to the warehouse.

Every test builds files the way a careless or unlucky source would (file names
full of glob characters, dialects, blank lines, quoted line breaks, encodings,
values that are not values, duplicate keys, malformed mappings) and checks, per
file, what the non-negotiables promise:

* rows read = the file's data records, counted here independently (with
  Python's csv module and while rendering the file) = rows loaded + rows rejected;
* each rejected row names the line a person sees in an editor (where the record
  starts), each loaded row carries that line in ``_source_row``;
* no non-finite number and no date outside the plausible window reaches ``raw``;
* a file that cannot be read fails alone, named, and the rest of the inbox loads.
"""
from __future__ import annotations

import csv
import io
import json
import math
import random
import re
import shutil
import tempfile
import zipfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import duckdb
import openpyxl
import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from basinlab import config, ingest, quality, warehouse
from basinlab.sources import canonical
from basinlab.sources.files import MAPPING_KEYS

# --------------------------------------------------------------------------- fixtures

_TEMPLATE: dict[str, Path] = {}


def _template() -> Path:
    """A migrated, empty warehouse file, copied for every example (migrating costs ~0.4 s)."""
    if "path" not in _TEMPLATE:
        d = Path(tempfile.mkdtemp(prefix="bl-template-"))
        con = warehouse.connect(d / "template.duckdb")
        warehouse.migrate(con)
        con.close()
        _TEMPLATE["path"] = d / "template.duckdb"
    return _TEMPLATE["path"]


@contextmanager
def fresh():
    """(inbox dir, connection to a fresh migrated warehouse) in a private temp dir."""
    with tempfile.TemporaryDirectory(prefix="bl-hostile-") as tmp:
        root = Path(tmp)
        shutil.copy(_template(), root / "w.duckdb")
        con = warehouse.connect(root / "w.duckdb")
        try:
            yield root / "inbox", con
        finally:
            con.close()


HYPO = settings(max_examples=12, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

MONTH = "2024-06"
#: every spelling of a non-finite number DuckDB's double cast accepts (checked in the test below)
NON_FINITE = ["nan", "NaN", "NAN", "-nan", "+nan", "inf", "-inf", "+inf", "Inf", "INF", "infinity",
              "-Infinity", "INFINITY", "1e400", "-1e400", " nan ", "\tInf"]
OUT_OF_WINDOW_MONTHS = ["9999-12", "1850-01", "0024-06", "1899-12", "3000-01-15"]
AMBIGUOUS_DATES = ["1/2/24", "01/02/2024", "24-06", "12/31/2023", "3.4.2024", "06-24"]


def test_the_non_finite_spellings_are_the_ones_duckdb_parses():
    con = duckdb.connect()
    for s in NON_FINITE:
        v = con.execute("select try_cast(? as double)", [s]).fetchone()[0]
        assert v is not None and not math.isfinite(v), s


def records_of(data: bytes, encoding: str, delimiter: str, header_row: int = 1) -> list[tuple[int, list[str]]]:
    """(start line, fields) of every data record, by Python's csv module: the definition, independently."""
    text = data.decode({"utf-8": "utf-8-sig"}.get(encoding, encoding))
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    out, prev, header_seen = [], 0, False
    for rec in reader:
        start, prev = prev + 1, reader.line_num
        ws = " \t\r\n\f\v".replace(delimiter, "")
        if not rec or (len(rec) == 1 and not rec[0].strip(ws)):
            continue
        if start < header_row:
            continue
        if not header_seen:
            header_seen = True
            continue
        out.append((start, rec))
    return out


def loaded_lines(con, table: str, rel: str) -> list[int]:
    return [r[0] for r in con.execute(f"select _source_row from raw.{table} where _source_file = ? "
                                      "order by _source_row", [rel]).fetchall()]


def rejected(con, rel: str) -> dict[int, str]:
    return dict(con.execute("select source_line, reason from raw.rejected_rows where source_file = ?",
                            [rel]).fetchall())


def assert_raw_holds_only_values(con, month: str | None = MONTH) -> None:
    """No non-finite or implausibly large number and no date outside the window in any raw table."""
    for kind, spec in canonical.KINDS.items():
        for c in spec.columns:
            if c.type == canonical.NUMBER:
                n = con.execute(f"select count(*) from raw.{spec.table} where not isfinite({c.name}) "
                                f"or abs({c.name}) > {canonical.MAX_ABS_NUMBER}").fetchone()[0]
                assert n == 0, (kind, c.name)
        w = ingest.plausible_window(spec, month)
        n = con.execute(f"select count(*) from raw.{spec.table} where {w.column} < date '{w.lo}' "
                        f"or date_trunc('month', {w.column}) > date '{w.hi}'").fetchone()[0]
        assert n == 0, (kind, w.column)


# --------------------------------------------------------------------------- rows per kind


@dataclass
class Row:
    values: dict[str, str]
    bad: bool = False        # the generator made it hostile: it must be rejected
    why: str = ""


@dataclass
class KindRows:
    kind: str
    columns: list[str]
    rows: list[Row] = field(default_factory=list)


GOOD_MONTHS = [f"{y}-{m:02d}" for y in range(2019, 2024) for m in range(1, 13)]
BENCHMARKS = ["WTI", "HENRY_HUB", "BRENT"]
CURRENCIES = ["CAD", "EUR", "NOK", "GBP"]


def good_row(kind: str, i: int, rnd: random.Random, text: str) -> dict[str, str]:
    """A valid row of ``kind`` whose key is unique to ``i``; ``text`` goes into a free-text column."""
    month = GOOD_MONTHS[i % len(GOOD_MONTHS)]
    if kind == "well_production":
        return {"well_id": f"W{i}", "production_month": rnd.choice([month, month + "-15", month + "-01 00:00:00"]),
                "days_on": str(rnd.randint(0, 28)), "oil_bbl": f"{rnd.uniform(0, 5e4):.2f}",
                "gas_mcf": rnd.choice(["", f"{rnd.uniform(0, 9e4):.1f}"]), "water_bbl": str(rnd.randint(0, 900))}
    if kind == "well_header":
        wi = round(rnd.uniform(0.2, 1), 3)
        return {"well_id": f"H{i}", "well_name": text, "field": "Eagle Ford", "first_production_month": month,
                "lateral_length_ft": str(rnd.randint(0, 12000)), "working_interest": str(wi),
                "net_revenue_interest": str(round(wi * 0.8, 3))}
    if kind == "gl":
        amount = f"{rnd.randint(1, 10**6) / 100:.2f}"
        debit = rnd.random() < 0.5
        return {"journal_id": f"J{i // 2}", "line_number": str(i % 2 + 1), "transaction_date": f"{month}-28",
                "account_code": str(rnd.choice([1200, 4000, 5000])), "description": text,
                "debit_amount": amount if debit else "", "credit_amount": "" if debit else amount}
    if kind == "prices":
        return {"price_month": GOOD_MONTHS[i % len(GOOD_MONTHS)],
                "benchmark": BENCHMARKS[(i // len(GOOD_MONTHS)) % 3], "price_usd": f"{rnd.uniform(2, 120):.2f}"}
    if kind == "fx":
        return {"rate_month": GOOD_MONTHS[i % len(GOOD_MONTHS)],
                "currency": CURRENCIES[(i // len(GOOD_MONTHS)) % 4], "units_per_usd": f"{rnd.uniform(0.5, 12):.4f}"}
    raise ValueError(kind)


KIND_DATE = {"well_production": "production_month", "well_header": "first_production_month",
             "gl": "transaction_date", "prices": "price_month", "fx": "rate_month"}
KIND_NUMBERS = {"well_production": ["days_on", "oil_bbl", "gas_mcf", "water_bbl"],
                "well_header": ["lateral_length_ft", "working_interest", "net_revenue_interest"],
                "gl": ["debit_amount", "credit_amount"], "prices": ["price_usd"], "fx": ["units_per_usd"]}
#: a non-key value to change for a conflicting duplicate
KIND_CHANGE = {"well_production": "water_bbl", "well_header": "lateral_length_ft", "prices": "price_usd",
               "fx": "units_per_usd", "gl": "account_code"}
HOSTILE = ("non_finite", "huge", "window", "ambiguous", "fraction")


def make_hostile(kind: str, row: dict[str, str], how: str, pick: int) -> tuple[dict[str, str], bool]:
    """``row`` with one hostile value (``pick`` chooses which); False when ``how`` does not apply to the kind."""
    row = dict(row)
    nums = KIND_NUMBERS[kind]
    if how == "non_finite":
        col = nums[pick % len(nums)]
        if kind == "gl":  # an amount on the side the line uses
            col = "debit_amount" if row["debit_amount"] else "credit_amount"
        row[col] = NON_FINITE[pick % len(NON_FINITE)]
    elif how == "huge":
        col = nums[pick % len(nums)]
        if kind == "gl":
            col = "debit_amount" if row["debit_amount"] else "credit_amount"
        row[col] = ["1e20", "-3e300", "1e400", "123456789012345678"][pick % 4]
    elif how == "window":
        v = OUT_OF_WINDOW_MONTHS[pick % len(OUT_OF_WINDOW_MONTHS)]
        if kind == "gl" and len(v) == 7:
            v += "-28"
        if kind in ("prices", "fx") and v.startswith("3000"):
            v = "2999-01"  # beyond the 30-year forward window too
        row[KIND_DATE[kind]] = v
    elif how == "ambiguous":
        row[KIND_DATE[kind]] = AMBIGUOUS_DATES[pick % len(AMBIGUOUS_DATES)]
    elif how == "fraction":
        if kind != "gl":
            return row, False
        row["line_number"] = f"{int(row['line_number']) + 10}.5"
    return row, True


FREE_TEXT = st.text(alphabet=st.sampled_from(list("ab Zø,;|\"'\n\t#=")), max_size=12)
LATIN1_SAFE = set("ab Zø,;|\"'\n\t#=")


@st.composite
def kind_rows(draw, kind: str, extra_columns: list[str]) -> KindRows:
    """Rows of ``kind``: good ones, hostile ones (marked bad) and duplicates, in file order."""
    seed = draw(st.integers(0, 2**32 - 1))
    rnd = random.Random(seed)
    n = draw(st.integers(1, 12))
    columns = [c for c in canonical.KINDS[kind].names if c in good_row(kind, 0, rnd, "")] + extra_columns
    rows: list[Row] = []
    for i in range(n):
        text = draw(FREE_TEXT)
        values = good_row(kind, i, rnd, text)
        for c in extra_columns:
            values[c] = draw(FREE_TEXT)
        how = draw(st.sampled_from((None,) * 4 + HOSTILE))
        if how:
            values, applies = make_hostile(kind, values, how, draw(st.integers(0, 50)))
            rows.append(Row(values, bad=applies, why=how if applies else ""))
        else:
            rows.append(Row(values))
    # duplicates: exact copies (the copy is rejected) or conflicting ones (every row of the key is)
    involved: set[int] = set()   # one duplicate story per key
    for _ in range(draw(st.integers(0, 2))):
        good = [r for r in rows if not r.bad and id(r) not in involved]
        if not good:
            break
        orig = good[draw(st.integers(0, len(good) - 1))]
        involved.add(id(orig))
        at = rows.index(orig) + 1 + draw(st.integers(0, len(rows) - rows.index(orig) - 1))
        if draw(st.booleans()):
            rows.insert(at, Row(dict(orig.values), bad=True, why="exact duplicate"))
        else:
            changed = dict(orig.values)
            col = KIND_CHANGE[kind]
            changed[col] = "7777" if changed[col] != "7777" else "8888"
            orig.bad, orig.why = True, "conflicting duplicate"
            rows.insert(at, Row(changed, bad=True, why="conflicting duplicate"))
    return KindRows(kind, columns, rows)


@dataclass
class Dialect:
    delimiter: str
    quoting: int
    newline: str
    bom: bool
    encoding: str
    blanks: dict[int, str]          # record index -> blank line(s) inserted before it
    trailing: str
    preamble: list[str]             # lines above the header (mapping header_row)


@st.composite
def dialects(draw) -> Dialect:
    delimiter = draw(st.sampled_from([",", ";", "\t", "|"]))
    newline = draw(st.sampled_from(["\n", "\r\n", "\n", "\r\n", "\r"]))   # "\r": old Mac line ends
    # a blank line: empty or whitespace (a lone CR only in an LF file: in a CRLF file it would be a line break)
    blank = st.sampled_from(["", "   ", " \t "] + (["\r"] if newline == "\n" else [])).map(
        lambda s: s.replace("\t", " ") if delimiter == "\t" else s)
    return Dialect(
        delimiter=delimiter,
        # csv.writer quotes a field holding a line feed only when its line terminator has one
        quoting=csv.QUOTE_ALL if newline == "\r" else draw(st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL])),
        newline=newline,
        bom=draw(st.booleans()),
        encoding=draw(st.sampled_from(["utf-8", "utf-8", "latin-1", "utf-16"])),
        blanks=draw(st.dictionaries(st.integers(0, 14), st.lists(blank, min_size=1, max_size=2).map(tuple),
                                    max_size=3)),
        trailing=draw(st.sampled_from(["", "\n", "\n\n", "\n  \n"])),
        preamble=draw(st.lists(st.sampled_from(["exported by SCADA", "", "units: bbl"]), max_size=2)),
    )


def render(kr: KindRows, d: Dialect) -> tuple[bytes, list[int], str | None]:
    """The file's bytes, the line each row starts on, and the mapping.yml it needs (or None)."""
    out = io.StringIO(newline="")
    line = 1

    def emit(text: str) -> None:
        nonlocal line
        out.write(text)
        line += len(re.findall(r"\r\n|\r|\n", text))   # an editor breaks lines at each of them

    for p in d.preamble:
        emit(p + d.newline)
    w = csv.writer(out, delimiter=d.delimiter, quoting=d.quoting, lineterminator=d.newline)
    emit(_csv_line(w, kr.columns, d))
    starts = []
    for i, r in enumerate(kr.rows):
        for b in d.blanks.get(i, ()):
            emit(b + d.newline)
        starts.append(line)
        emit(_csv_line(w, [r.values.get(c, "") for c in kr.columns], d))
    emit(d.trailing.replace("\n", d.newline))
    text = out.getvalue()
    if d.bom and d.encoding == "utf-8":
        text = "\ufeff" + text
    data = text.encode(d.encoding)
    mapping = {}
    if d.delimiter != ",":
        mapping["delimiter"] = d.delimiter
    if d.encoding != "utf-8":
        mapping["encoding"] = d.encoding
    if d.preamble:
        mapping["header_row"] = len(d.preamble) + 1
    return data, starts, (yaml.safe_dump(mapping) if mapping else None)


def _csv_line(w, fields: list[str], d: Dialect) -> str:
    buf = io.StringIO(newline="")
    csv.writer(buf, delimiter=d.delimiter, quoting=d.quoting, lineterminator=d.newline).writerow(fields)
    return buf.getvalue()


EXTRA_COLUMNS = st.lists(st.sampled_from(["rowid", "ROWID", "_line", "_rid", "_rec", "notes", "Extra col"]),
                         max_size=2, unique_by=str.lower)


def _put_rows(inbox, kind: str, payload: bytes, mapping: str | None) -> None:
    """A generated file of ``kind`` in the inbox as ``<kind>/rows.csv``, with its ``mapping.yml`` when it has one."""
    folder = inbox / kind
    folder.mkdir(parents=True)
    (folder / "rows.csv").write_bytes(payload)
    if mapping:
        (folder / "mapping.yml").write_text(mapping)


@pytest.mark.parametrize("kind", list(canonical.KINDS))
@HYPO
@given(data=st.data())
def test_csv_dialects_rows_lines_and_values(kind, data):
    extra = data.draw(EXTRA_COLUMNS)
    kr = data.draw(kind_rows(kind, extra))
    d = data.draw(dialects())
    if d.encoding == "latin-1":
        assume(all(set(v) <= LATIN1_SAFE | set("0123456789.-:ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz +\t")
                   for r in kr.rows for v in r.values.values()))
    payload, starts, mapping = render(kr, d)
    with fresh() as (inbox, con):
        _put_rows(inbox, kind, payload, mapping)
        rep = ingest.ingest_inbox(con, inbox, "b1", month=MONTH)
        (f,) = rep.files
        assert f.status == "loaded", f.error
        records = records_of(payload, d.encoding, d.delimiter, len(d.preamble) + 1)
        # rows read = data records, counted twice independently (csv module, rendering) = loaded + rejected
        assert [s for s, _ in records] == starts
        assert f.rows_read == len(records) == len(kr.rows)
        assert f.rows_loaded + f.rows_rejected == f.rows_read
        rel = f"{kind}/rows.csv"
        rej = rejected(con, rel)
        loaded = loaded_lines(con, canonical.KINDS[kind].table, rel)
        # every record is on exactly one side, named by the line it starts on
        assert sorted(list(rej) + loaded) == starts
        expected_bad = {s for s, r in zip(starts, kr.rows) if r.bad}
        assert set(rej) == expected_bad, {s: (r.why, r.values) for s, r in zip(starts, kr.rows)}
        for s, r in zip(starts, kr.rows):
            if r.why == "exact duplicate":
                assert rej[s].startswith("duplicate of line"), rej[s]
            elif r.why == "conflicting duplicate":
                assert rej[s].startswith("conflicting rows"), rej[s]
            elif r.why == "ambiguous":
                assert "ambiguous date" in rej[s] or "unparseable" in rej[s], rej[s]
            elif r.why == "window":
                assert "plausible window" in rej[s], rej[s]
            elif r.why == "fraction":
                assert "not a whole number" in rej[s], rej[s]
        assert_raw_holds_only_values(con)


# --------------------------------------------------------------------------- file names

NAME_CHARS = list("ab[]{}*?!,. '\"\n\t-_=~$()üø漢#%&+") + ["\\"]
NAMES = st.text(alphabet=st.sampled_from(NAME_CHARS), min_size=1, max_size=10).filter(
    lambda s: not s.startswith(".") and s.strip() != "" and "/" not in s)


def _production_csv(well: str) -> bytes:
    return (f"well_id,production_month,days_on,oil_bbl,gas_mcf,water_bbl\n"
            f"{well},2024-01,31,1,1,1\n{well},2024-02,29,2,2,2\n").encode()


def _write_named(folder: Path, name: str, fmt: str, well: str) -> Path:
    path = folder / f"{name}.{fmt}"
    if fmt == "csv":
        path.write_bytes(_production_csv(well))
    elif fmt == "parquet":
        pd.DataFrame({"well_id": [well, well], "production_month": ["2024-01", "2024-02"],
                      "oil_bbl": [1.0, 2.0]}).to_parquet(path)
    else:
        wb = openpyxl.Workbook()
        ws = wb.active
        ws.append(["well_id", "production_month", "oil_bbl"])
        ws.append([well, "2024-01", 1])
        ws.append([well, "2024-02", 2])
        wb.save(path)
    return path


def _decoys(name: str) -> list[str]:
    """Names a glob reading of ``name`` would match instead (each special character as a plain one)."""
    out = set()
    for plain in ("s", "a", "b", "x"):
        out.add("".join(plain if ch in "[]{}*?!\\" else ch for ch in name))
    inner = name.replace("[", "").replace("]", "")
    out.add(inner)
    return [n for n in out if n != name and not n.startswith(".") and n.strip() and "/" not in n]


@HYPO
@given(name=NAMES, fmt=st.sampled_from(["csv", "parquet", "xlsx"]))
def test_every_reader_opens_exactly_the_file_it_names(name, fmt):
    with fresh() as (inbox, con):
        folder = inbox / "well_production"
        folder.mkdir(parents=True)
        files = {name: "HOSTILE"}
        for i, other in enumerate(_decoys(name)):
            files[other] = f"DECOY{i}"
        for n, well in files.items():
            _write_named(folder, n, fmt, well)
        rep = ingest.ingest_inbox(con, inbox, "b1", month=MONTH)
        assert len(rep.files) == len(files)
        for f in rep.files:
            assert f.status == "loaded", (f.file_name, f.error)
            assert (f.rows_read, f.rows_loaded, f.rows_rejected) == (2, 2, 0), f
            stem = f.file_name[len("well_production/"):-len(fmt) - 1]
            wells = con.execute("select distinct well_id from raw.well_production where _source_file = ?",
                                [f.file_name]).fetchall()
            assert wells == [(files[stem],)], (f.file_name, wells)


def _volve_workbook(path: Path, well: str, rows: list[tuple]) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Daily Production Data"
    ws.append(["DATEPRD", "WELL_BORE_CODE", "NPD_WELL_BORE_NAME", "NPD_FIELD_NAME", "ON_STREAM_HRS",
               "BORE_OIL_VOL", "BORE_GAS_VOL", "BORE_WAT_VOL", "BORE_WI_VOL", "FLOW_KIND", "WELL_TYPE"])
    for day, oil in rows:
        ws.append([day, f"NO {well}", well, "VOLVE", 24, oil, 10.0, 1.0, None, "production", "OP"])
    wb.save(path)


@settings(max_examples=5, deadline=None, derandomize=True)
@given(name=NAMES)
def test_the_volve_adapter_opens_exactly_the_file_it_names(name):
    with fresh() as (inbox, con):
        folder = inbox / "volve"
        folder.mkdir(parents=True)
        ok = [(date(2014, 1, d), 100.0) for d in range(1, 4)]
        _volve_workbook(folder / f"{name}.xlsx", "15/9-HOSTILE", ok)
        for i, other in enumerate(_decoys(name)):
            _volve_workbook(folder / f"{other}.xlsx", f"15/9-DECOY{i}", ok[:1])
        rep = ingest.ingest_inbox(con, inbox, "b1", month=MONTH)
        mine = [f for f in rep.files if f.file_name == f"volve/{name}.xlsx"]
        assert [f.status for f in rep.files] == ["loaded"] * len(rep.files)
        assert mine[0].rows_read == 3
        wells = con.execute("select distinct well_id from raw.well_production where _source_file = ?",
                            [mine[0].file_name]).fetchall()
        assert wells == [("15/9-HOSTILE",)]


def test_the_volve_adapter_rejects_non_finite_and_out_of_window_days(tmp_path):
    with fresh() as (inbox, con):
        (inbox / "volve").mkdir(parents=True)
        rows = [(date(2014, 1, 1), 100.0), (date(2014, 1, 2), "NaN"), (date(2014, 1, 3), "inf"),
                (date(2014, 1, 4), "1e400"), (date(1850, 1, 1), 5.0), (date(2999, 1, 1), 5.0),
                (date(2014, 1, 5), 50.0)]
        _volve_workbook(inbox / "volve/v.xlsx", "15/9-F-1", rows)
        (f,) = ingest.ingest_inbox(con, inbox, "b1", month=MONTH).files
        assert (f.rows_read, f.rows_loaded, f.rows_rejected) == (7, 2, 5)
        rej = rejected(con, "volve/v.xlsx")
        assert sorted(rej) == [3, 4, 5, 6, 7]  # Excel rows: header is row 1
        assert all("not a finite number" in rej[r] for r in (3, 4, 5))
        assert all("plausible window" in rej[r] for r in (6, 7))
        oil = con.execute("select sum(oil_bbl) from raw.well_production").fetchone()[0]
        assert oil == pytest.approx(150.0 * 6.28981)
        assert_raw_holds_only_values(con)


# --------------------------------------------------------------------------- XLSX and Parquet


@HYPO
@given(data=st.data())
def test_xlsx_rows_are_sheet_rows_and_formulas_without_values_are_rejected(data):
    n = data.draw(st.integers(1, 10))
    header_row = data.draw(st.integers(1, 3))
    plan = []  # (kind of row, values)
    for _ in range(n):
        how = data.draw(st.sampled_from(["good", "good", "empty", "formula_used", "formula_unused", "nan_text",
                                         "huge"]))
        plan.append(how)
    with fresh() as (inbox, con):
        (inbox / "well_production").mkdir(parents=True)
        wb = openpyxl.Workbook()
        ws = wb.active
        for _ in range(header_row - 1):
            ws.append(["exported", "by", "someone"])
        ws.append(["well_id", "production_month", "oil_bbl", "note"])
        sheet_row, expect_loaded, expect_rejected = header_row, [], []
        for i, how in enumerate(plan):
            sheet_row += 1
            if how == "empty":
                ws.append([None, None, None, None])
                continue
            row = [f"W{i}", "2024-01", float(i), "x"]
            if how == "formula_used":
                row[2] = "=1+1"
            elif how == "formula_unused":
                row[3] = "=NOW()"
            elif how == "nan_text":
                row[2] = data.draw(st.sampled_from(NON_FINITE))
            elif how == "huge":
                row[2] = 1e300
            ws.append(row)
            (expect_rejected if how in ("formula_used", "nan_text", "huge") else expect_loaded).append(sheet_row)
        if header_row > 1:
            (inbox / "well_production/mapping.yml").write_text(f"header_row: {header_row}\n")
        wb.save(inbox / "well_production/book.xlsx")
        (f,) = ingest.ingest_inbox(con, inbox, "b1", month=MONTH).files
        assert f.status == "loaded", f.error
        assert f.rows_read == len(expect_loaded) + len(expect_rejected) == f.rows_loaded + f.rows_rejected
        rel = "well_production/book.xlsx"
        assert loaded_lines(con, "well_production", rel) == expect_loaded
        rej = rejected(con, rel)
        assert sorted(rej) == expect_rejected
        for line, how in zip(range(header_row + 1, sheet_row + 1), plan):
            if how == "formula_used":
                assert rej[line].startswith("formula without a cached value in oil_bbl"), rej[line]
        assert_raw_holds_only_values(con)


@pytest.mark.parametrize("kind", ["well_production", "well_header", "prices", "fx"])
def test_parquet_doubles_that_are_not_numbers_are_rejected(kind):
    """A Parquet double column holds NaN and infinities natively (pandas would write NaN as null)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rnd = random.Random(7)
    rows = [good_row(kind, i, rnd, "n") for i in range(8)]
    specials = [float("nan"), float("inf"), float("-inf"), 1e300]
    bad_rows = set()
    columns = {}
    for col in rows[0]:
        values = [r[col] for r in rows]
        if col in KIND_NUMBERS[kind]:
            values = [float(v) if v != "" else None for v in values]
        columns[col] = values
    for j, v in enumerate(specials):
        col = KIND_NUMBERS[kind][j % len(KIND_NUMBERS[kind])]
        columns[col][j * 2] = v
        bad_rows.add(j * 2 + 1)       # the 1-based row in the file
    table = pa.table({c: pa.array(v, type=pa.float64() if c in KIND_NUMBERS[kind] else pa.string(),
                                  from_pandas=False) for c, v in columns.items()})
    with fresh() as (inbox, con):
        (inbox / kind).mkdir(parents=True)
        pq.write_table(table, inbox / kind / "native.parquet")
        (f,) = ingest.ingest_inbox(con, inbox, "b1", month=MONTH).files
        assert (f.rows_read, f.rows_loaded, f.rows_rejected) == (8, 8 - len(bad_rows), len(bad_rows)), f
        rej = rejected(con, f"{kind}/native.parquet")
        assert set(rej) == bad_rows
        assert all(("non-finite" in r or "implausibly large" in r) for r in rej.values()), rej
        assert_raw_holds_only_values(con)


# --------------------------------------------------------------------------- files that fail alone


REPEATED_HEADERS = ["oil_bbl,oil_bbl", "oil_bbl,OIL_BBL", "oil_bbl, oil_bbl ", "Oil_Bbl,oil_bbl"]


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
@pytest.mark.parametrize("pair", REPEATED_HEADERS)
def test_a_repeated_header_fails_the_file_named(pair, fmt):
    with fresh() as (inbox, con):
        folder = inbox / "well_production"
        folder.mkdir(parents=True)
        header = ["well_id", "production_month", *pair.split(",")]
        if fmt == "csv":
            (folder / "rep.csv").write_text(",".join(header) + "\nW1,2024-01,1,2\n")
        else:
            wb = openpyxl.Workbook()
            wb.active.append(header)
            wb.active.append(["W1", "2024-01", 1, 2])
            wb.save(folder / "rep.xlsx")
        (folder / "good.csv").write_bytes(_production_csv("G"))
        rep = ingest.ingest_inbox(con, inbox, "b1", month=MONTH)
        by = {f.file_name: f for f in rep.files}
        bad = by[f"well_production/rep.{fmt}"]
        assert bad.status == "failed" and "repeats column" in bad.error and "oil_bbl" in bad.error.lower()
        assert by["well_production/good.csv"].status == "loaded"
        with pytest.raises(ingest.IngestError, match=f"rep.{fmt}"):
            rep.raise_for_failures()


@pytest.mark.parametrize("body, mapping", [
    ("well_id,production_month,days_on\nW1,2024-01,30\n", None),
    ("UWI,Month,Days,Oil\nW1,2024-01,30,5\n", "columns: {well_id: UWI, production_month: Month, days_on: Days}\n"),
])
def test_a_production_file_without_volumes_fails_named(body, mapping):
    with fresh() as (inbox, con):
        folder = inbox / "well_production"
        folder.mkdir(parents=True)
        (folder / "novol.csv").write_text(body)
        if mapping:
            (folder / "mapping.yml").write_text(mapping)
        (inbox / "prices").mkdir()
        (inbox / "prices/p.csv").write_text("price_month,benchmark,price_usd\n2024-01,WTI,70\n")
        rep = ingest.ingest_inbox(con, inbox, "b1", month=MONTH)
        by = {f.file_name: f for f in rep.files}
        assert by["well_production/novol.csv"].status == "failed"
        assert "no volume column" in by["well_production/novol.csv"].error
        assert by["prices/p.csv"].status == "loaded"
        assert con.execute("select count(*) from raw.well_production").fetchone()[0] == 0


def _xlsx_without_sheets(path: Path) -> None:
    parts = {
        "[Content_Types].xml": '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
                               'content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats'
                               '-package.relationships+xml"/><Override PartName="/xl/workbook.xml" ContentType='
                               '"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/></Types>',
        "_rels/.rels": '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/'
                       'relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/'
                       'officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>',
        "xl/workbook.xml": '<?xml version="1.0"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/'
                           '2006/main"><sheets/></workbook>',
        "xl/_rels/workbook.xml.rels": '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/'
                                      'package/2006/relationships"/>',
    }
    with zipfile.ZipFile(path, "w") as z:
        for name, text in parts.items():
            z.writestr(name, text)


@pytest.mark.parametrize("case", ["no_sheets", "not_a_workbook", "empty_csv", "blank_csv", "header_row_beyond"])
def test_unreadable_files_fail_alone_with_one_message(case):
    with fresh() as (inbox, con):
        folder = inbox / "well_production"
        folder.mkdir(parents=True)
        name = {"no_sheets": "x.xlsx", "not_a_workbook": "x.xlsx"}.get(case, "x.csv")
        if case == "no_sheets":
            _xlsx_without_sheets(folder / name)
        elif case == "not_a_workbook":
            (folder / name).write_bytes(b"PK\x03\x04 not really")
        elif case == "empty_csv":
            (folder / name).write_bytes(b"")
        elif case == "blank_csv":
            (folder / name).write_bytes(b"\n \n\t\n")
        else:
            (folder / "mapping.yml").write_text("files: x.csv\nheader_row: 40\n")
            (folder / name).write_bytes(_production_csv("X"))
        (folder / "good.csv").write_bytes(_production_csv("G"))
        rep = ingest.ingest_inbox(con, inbox, "b1", month=MONTH)
        by = {f.file_name: f for f in rep.files}
        bad = by[f"well_production/{name}"]
        assert bad.status == "failed" and bad.error and "\n" not in bad.error and "Traceback" not in bad.error
        assert by["well_production/good.csv"].status == "loaded"


# --------------------------------------------------------------------------- malformed mappings

#: for each mapping key, values that are not what the schema allows
_ANY_WRONG_TYPE = st.one_of(st.integers(-5, 5), st.floats(allow_nan=True), st.booleans(),
                            st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=3),
                                                                                 st.integers(), max_size=2))
_TEXT = st.text(alphabet="abcxyz_ %", min_size=0, max_size=6)
BAD_VALUES = {
    "files": st.one_of(_ANY_WRONG_TYPE, st.sampled_from(["", "   "])),
    "format": st.one_of(_ANY_WRONG_TYPE, _TEXT.filter(lambda s: s.lower() not in ("csv", "parquet", "xlsx"))),
    "delimiter": st.one_of(_ANY_WRONG_TYPE, st.sampled_from(["", ";;", "ab", '"', "\n", "\r", "tab"])),
    "decimal": st.one_of(_ANY_WRONG_TYPE, _TEXT.filter(lambda s: s not in (".", ","))),
    "encoding": st.one_of(_ANY_WRONG_TYPE, st.sampled_from(["utf-32", "cp1252", "", "ascii", "UTF-7"])),
    "sheet": st.one_of(st.booleans(), st.integers(-5, 0), st.floats(), st.lists(st.integers(), max_size=2),
                       st.sampled_from(["", " "])),
    "header_row": st.one_of(st.sampled_from(["abc", "1", "", 0, -3, 10**7, 1.5, True]), st.lists(st.integers())),
    "columns": st.one_of(st.sampled_from(["oil", 5, ["well_id"]]),
                         st.just({"not_a_column": "X"}), st.just({"well_id": 5}), st.just({"well_id": ["UWI"]})),
    "date": st.one_of(st.sampled_from(["%Y-%m", 5, ["year"]]), st.just({"format": 5}),
                      st.just({"format": "%d"}), st.just({"format": "%Q-%m"}), st.just({"year": "Y"}),
                      st.just({"when": "x"}), st.just({"year": "Y", "month": "M", "format": "%Y-%m"})),
    "constants": st.one_of(st.sampled_from(["WTI", 5]), st.just({"nope": 1}), st.just({"well_id": [1, 2]}),
                           st.just({"well_id": {"a": 1}})),
    "units": st.one_of(st.sampled_from(["oil", 5, ["oil"]]), st.just({"oil": "litres"}), st.just({"condensate": "bbl"}),
                       st.just({"gas": 5}), st.just({"oil": ["bbl"]})),
    "values": st.one_of(_ANY_WRONG_TYPE, _TEXT.filter(lambda s: s not in ("volumes", "rates"))),
    "rate_basis": st.one_of(_ANY_WRONG_TYPE, _TEXT.filter(lambda s: s not in ("producing_day", "calendar_day"))),
    "aggregate": st.one_of(st.sampled_from(["average", 5, ["sum"]]), st.just({"oil_bbl": "avg"}),
                           st.just({"well_id": "sum"}), st.just({"nope": "sum"}), st.just({})),
    "colums": st.just({"well_id": "UWI"}),  # a misspelt key
}
assert set(BAD_VALUES) - {"colums"} == MAPPING_KEYS


@settings(max_examples=24, deadline=None, derandomize=True)
@given(key=st.sampled_from(sorted(BAD_VALUES)), data=st.data(), listed=st.booleans())
def test_a_malformed_mapping_value_fails_only_the_files_it_governs(key, data, listed):
    value = data.draw(BAD_VALUES[key])
    assume(value is not None)
    with fresh() as (inbox, con):
        folder = inbox / "well_production"
        folder.mkdir(parents=True)
        (folder / "bad_1.csv").write_bytes(_production_csv("B"))
        (folder / "ok_1.csv").write_bytes(_production_csv("O"))
        entry = {"files": "bad_*.csv", key: value} if key != "files" else {"files": value}
        good = {"files": "ok_*.csv", "columns": {"well_id": "well_id"}}
        doc = {"mappings": [entry, good]} if listed else entry
        (folder / "mapping.yml").write_text(yaml.safe_dump(doc, allow_unicode=True))
        (inbox / "prices").mkdir()
        (inbox / "prices/p.csv").write_text("price_month,benchmark,price_usd\n2024-01,WTI,70\n")
        rep = ingest.ingest_inbox(con, inbox, "b1", month=MONTH)
        by = {f.file_name: f for f in rep.files}
        bad = by["well_production/bad_1.csv"]
        assert bad.status == "failed", (key, value)
        assert "mapping.yml" in bad.error and f"'{key}" in bad.error, bad.error
        assert "\n" not in bad.error
        assert by["prices/p.csv"].status == "loaded"
        ok = by["well_production/ok_1.csv"]
        if listed:          # its own valid entry governs it
            assert ok.status == "loaded", ok.error
        elif key != "files":  # the one broken entry's glob does not match it: canonical layout
            assert ok.status == "loaded", ok.error
        else:               # a broken glob may have been meant for any file
            assert ok.status == "failed" and "'files" in ok.error


@pytest.mark.parametrize("text", ["files: [unclosed\n", "- just\n- a list\n", "mappings: 5\n",
                                  "mappings: []\n", "mappings: [{files: a}]\ndelimiter: ';'\n", "\xff\xfe"])
def test_an_unreadable_mapping_file_fails_its_folder_only(text):
    with fresh() as (inbox, con):
        folder = inbox / "well_production"
        folder.mkdir(parents=True)
        (folder / "p.csv").write_bytes(_production_csv("P"))
        (folder / "mapping.yml").write_bytes(text.encode("latin-1"))
        (inbox / "prices").mkdir()
        (inbox / "prices/p.csv").write_text("price_month,benchmark,price_usd\n2024-01,WTI,70\n")
        rep = ingest.ingest_inbox(con, inbox, "b1", month=MONTH)
        by = {f.file_name: f for f in rep.files}
        assert by["well_production/p.csv"].status == "failed"
        assert "mapping.yml" in by["well_production/p.csv"].error
        assert by["prices/p.csv"].status == "loaded"


# --------------------------------------------------------------------------- duplicates and aggregates


def test_daily_prices_mapped_as_monthly_aggregate_by_mean_and_reconcile():
    rnd = random.Random(3)
    days = pd.bdate_range("2023-11-01", "2024-02-29")
    prices = [round(rnd.uniform(60, 90), 2) for _ in days]
    prices[5] = float("nan")
    lines = ["Date,Price"] + [f"{d:%Y-%m-%d},{'NaN' if math.isnan(p) else p}" for d, p in zip(days, prices)]
    with fresh() as (inbox, con):
        (inbox / "prices").mkdir(parents=True)
        (inbox / "prices/wti-daily.csv").write_text("\n".join(lines) + "\n")
        (inbox / "prices/mapping.yml").write_text(
            "files: wti-daily.csv\ncolumns: {price_month: Date, price_usd: Price}\nconstants: {benchmark: WTI}\n"
            "aggregate: {price_usd: mean}\n")
        (f,) = ingest.ingest_inbox(con, inbox, "b1", month=MONTH).files
        assert f.status == "loaded", f.error
        assert f.rows_read == len(days) == f.rows_loaded + f.rows_rejected and f.rows_rejected == 1
        got = dict(con.execute("select strftime(price_month, '%Y-%m'), price_usd from raw.price_deck").fetchall())
        expected = pd.Series(prices, index=days).dropna().groupby(lambda d: f"{d:%Y-%m}").mean()
        assert got.keys() == set(expected.index)
        for m, v in expected.items():
            assert got[m] == pytest.approx(v)
        first_lines = con.execute("select _source_row from raw.price_deck order by 1").fetchall()
        assert [r[0] for r in first_lines] == sorted(
            min(i + 2 for i, d in enumerate(days) if f"{d:%Y-%m}" == m and not math.isnan(prices[i]))
            for m in expected.index)


def test_daily_volumes_aggregate_by_sum_and_a_failing_aggregate_rejects_its_rows():
    body = ["well,day,hours,oil"]
    for d in range(1, 31):
        body.append(f"A,2024-04-{d:02d},1,{d}")
    for d in range(1, 31):
        body.append(f"B,2024-04-{d:02d},2,1")   # 60 producing days in April: the sum fails the days_on rule
    with fresh() as (inbox, con):
        (inbox / "well_production").mkdir(parents=True)
        (inbox / "well_production/daily.csv").write_text("\n".join(body) + "\n")
        (inbox / "well_production/mapping.yml").write_text(
            "columns: {well_id: well, production_month: day, days_on: hours, oil_bbl: oil}\n"
            "aggregate: {oil_bbl: sum, days_on: sum}\n")
        (f,) = ingest.ingest_inbox(con, inbox, "b1", month=MONTH).files
        assert (f.rows_read, f.rows_loaded, f.rows_rejected) == (60, 30, 30)
        assert con.execute("select well_id, oil_bbl, days_on, _source_row from raw.well_production").fetchall() == [
            ("A", float(sum(range(1, 31))), 30.0, 2)]
        reasons = set(rejected(con, "well_production/daily.csv").values())
        assert len(reasons) == 1 and reasons.pop().startswith("aggregated row fails a row rule (lines 32, 33")


def test_aggregate_does_not_combine_columns_it_was_not_told_about():
    with fresh() as (inbox, con):
        (inbox / "well_production").mkdir(parents=True)
        (inbox / "well_production/d.csv").write_text(
            "well_id,production_month,oil_bbl,water_bbl\nA,2024-01-01,1,5\nA,2024-01-02,2,5\n"
            "B,2024-01-01,1,5\nB,2024-01-02,2,6\n")
        (inbox / "well_production/mapping.yml").write_text("aggregate: {oil_bbl: sum}\n")
        (f,) = ingest.ingest_inbox(con, inbox, "b1", month=MONTH).files
        assert (f.rows_loaded, f.rows_rejected) == (2, 2)
        got = con.execute("select well_id, oil_bbl, water_bbl from raw.well_production").fetchall()
        assert got == [("A", 3.0, 5.0)]
        assert all("rows disagree on water_bbl" in r for r in rejected(con, "well_production/d.csv").values())


# --------------------------------------------------------------------------- restated files


def _current(con, name: str) -> list[tuple]:
    return con.execute("""select p.well_id, p.oil_bbl, f.version from raw.well_production p
                          join metadata.ingested_files f on f.file_id = p._file_id
                          where f.status = 'loaded' and f.file_name = ? order by 1""", [name]).fetchall()


@pytest.mark.parametrize("story", ["b_becomes_a", "b_becomes_a_then_back", "a_copied_to_b"])
def test_files_are_superseded_by_name_and_skipped_only_when_unchanged(story):
    a = _production_csv("A")
    b = _production_csv("B")
    with fresh() as (inbox, con):
        folder = inbox / "well_production"
        folder.mkdir(parents=True)
        (folder / "a.csv").write_bytes(a)
        if story != "a_copied_to_b":
            (folder / "b.csv").write_bytes(b)
        first = ingest.ingest_inbox(con, inbox, "b1", month=MONTH)
        assert all(f.status == "loaded" for f in first.files)
        (folder / "b.csv").write_bytes(a)       # restated: now a.csv's content
        second = {f.file_name: f for f in ingest.ingest_inbox(con, inbox, "b2", month=MONTH).files}
        assert second["well_production/a.csv"].status == "duplicate"   # unchanged
        assert second["well_production/b.csv"].status == "loaded"
        assert "same content as well_production/a.csv" in second["well_production/b.csv"].note
        version = 1 if story == "a_copied_to_b" else 2
        assert _current(con, "well_production/b.csv") == [("A", 1.0, version), ("A", 2.0, version)]
        if story == "b_becomes_a_then_back":
            (folder / "b.csv").write_bytes(b)
            third = {f.file_name: f for f in ingest.ingest_inbox(con, inbox, "b3", month=MONTH).files}
            assert third["well_production/b.csv"].status == "loaded"
            assert _current(con, "well_production/b.csv") == [("B", 1.0, 3), ("B", 2.0, 3)]
        assert con.execute("select count(*) from metadata.ingested_files where status = 'loaded'").fetchone()[0] == 2


# --------------------------------------------------------------------------- the plausible window


@given(run=st.sampled_from(["1999-03", "2020-12", "2024-06", "2031-01"]),
       today=st.dates(date(2020, 1, 1), date(2035, 12, 31)))
@settings(max_examples=40, deadline=None, derandomize=True)
def test_the_window_ends_at_the_later_of_the_run_month_and_today(run, today):
    y, m = config.parse_month(run)
    later = max(date(y, m, 1), date(today.year, today.month, 1))
    for kind, spec in canonical.KINDS.items():
        w = ingest.plausible_window(spec, run, today)
        months_ahead = (w.hi.year - later.year) * 12 + w.hi.month - later.month
        assert months_ahead == {"prices": 360, "fx": 360, "gl": 1, "well_header": 60}.get(kind, 0)
        assert w.lo == date(1900, 1, 1)


def test_a_rerun_of_an_old_month_keeps_rows_of_newer_months():
    today = date.today()
    this_month = f"{today:%Y-%m}"
    nxt = ingest._add_months(date(today.year, today.month, 1), 1)
    with fresh() as (inbox, con):
        (inbox / "well_production").mkdir(parents=True)
        (inbox / "well_production/p.csv").write_text(
            "well_id,production_month,oil_bbl\nW1,2019-01,1\n"
            f"W1,{this_month},2\nW1,{nxt:%Y-%m},3\n")
        (inbox / "prices").mkdir()
        (inbox / "prices/strip.csv").write_text(
            f"price_month,benchmark,price_usd\n{nxt:%Y-%m},WTI,70\n{nxt.year + 10}-01,WTI,75\n")
        rep = {f.file_name: f for f in ingest.ingest_inbox(con, inbox, "b1", month="2019-01").files}
        assert (rep["well_production/p.csv"].rows_loaded, rep["well_production/p.csv"].rows_rejected) == (2, 1)
        assert "after the plausible window" in rejected(con, "well_production/p.csv")[4]
        assert rep["prices/strip.csv"].rows_loaded == 2   # a forward strip may run ahead


# --------------------------------------------------------------------------- the zero-production check


@pytest.mark.parametrize("report, previous, fails", [
    ((0, 0, 0), (10, 0, 0), True),
    ((None, None, None), (0, 5, 0), True),
    ((0, 0, 1), (10, 0, 0), False),     # some water: not "entirely zero"
    ((0, 0, 0), (0, 0, 0), False),      # both zero: nothing was lost this month
    ((5, 0, 0), (10, 0, 0), False),
])
def test_the_zero_production_check_stops_a_month_that_lost_its_volumes(report, previous, fails):
    con = duckdb.connect()
    con.execute("create schema staging")
    con.execute("create table staging.stg_production (well_id varchar, production_month date, oil_bbl double, "
                "gas_mcf double, water_bbl double)")
    for well in ("W1", "W2"):
        con.execute("insert into staging.stg_production values (?, date '2024-06-01', ?, ?, ?)",
                    [well, *(None if v is None else v for v in report)])
        con.execute("insert into staging.stg_production values (?, date '2024-05-01', ?, ?, ?)", [well, *previous])
    checks = {c.check_name: c for c in quality.sql_checks(config.SQL_DIR / "checks", "2024-06")}
    check = checks["production_not_all_zero"]
    assert check.severity == "error"
    res = quality.run_check(con, check)
    assert res.error is None and (res.status == "fail") == fails
    # without a month: the latest production month
    latest = {c.check_name: c for c in quality.sql_checks(config.SQL_DIR / "checks")}["production_not_all_zero"]
    assert (quality.run_check(con, latest).status == "fail") == fails
    if fails:
        assert json.loads(res.sample)[0]["production_month"].startswith("2024-06")


# --------------------------------------------------------------------------- end to end


def _tree_digest(root: Path) -> dict[str, str]:
    import hashlib

    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.slow
def test_a_run_with_hostile_files_publishes_only_values_or_fails_naming_the_file(tmp_path):
    """Two real runs: hostile rows are quarantined and the run publishes a report; then a file
    that cannot be read fails the run by name, leaving warehouse and report byte-identical."""
    from basinlab import demo, runner

    data, reports = tmp_path / "data", tmp_path / "reports"
    inbox = data / "inbox"
    demo.generate_demo(inbox, wells=8, months=12, end_month=MONTH, seed=42)
    with open(inbox / "well_production/demo_production.csv", newline="") as fh:
        demo_rows = list(csv.DictReader(fh))
    copies = [r for r in demo_rows if r["production_month"].startswith(MONTH)][:2]
    cols = list(demo_rows[0])
    hostile = [",".join(cols), ""]
    hostile += [",".join(r[c] for c in cols) for r in copies]            # exact copies of real rows: load
    w = copies[0]["well_id"]
    hostile += [f"{w},2023-01,30,NaN,1,1", f"{w},2023-02,30,inf,1,1", f"{w},9999-12,30,1,1,1",
                f"{w},1/2/24,30,1,1,1", f"{w},2023-03,30,1e400,1,1", "",
                f"{w},2023-04,30,5,1,1", f"{w},2023-04,30,6,1,1"]              # conflicting: both rejected
    payload = ("\n".join(hostile) + "\n").encode()
    (inbox / "well_production/late[s] *?.csv").write_bytes(payload)
    n = len(records_of(payload, "utf-8", ","))
    res = runner.run_month(MONTH, data_dir=data, reports_dir=reports, demo=True, demo_wells=8, demo_months=12,
                           progress=None)
    assert res.status == "succeeded", res.error
    pdf = reports / MONTH / f"basinlab_{MONTH}.pdf"
    assert pdf.stat().st_size > 10_000
    con = warehouse.connect(data / "warehouse.duckdb", read_only=True)
    try:
        assert_raw_holds_only_values(con)
        f = con.execute("select rows_read, rows_loaded, rows_rejected from metadata.ingested_files "
                        "where file_name like '%late[s]%'").fetchone()
        assert f == (n, 2, n - 2)
    finally:
        con.close()
    report_before = _tree_digest(reports / MONTH)
    wh_before = (data / "warehouse.duckdb").read_bytes()
    (inbox / "well_production/broken {a,b}.csv").write_text(
        "well_id,production_month,oil_bbl,OIL_BBL\nX,2024-06,1,2\n")
    with pytest.raises(runner.RunError, match=r"broken \{a,b\}\.csv.*repeats column"):
        runner.run_month(MONTH, data_dir=data, reports_dir=reports, demo=True, demo_wells=8, demo_months=12,
                         progress=None)
    assert (data / "warehouse.duckdb").read_bytes() == wh_before
    assert _tree_digest(reports / MONTH) == report_before


# --------------------------------------------------------------------------- load modes

#: what can go wrong in a CSV file that has no quote character (the files loaded without a staged copy)
BREAKAGES = (None, None, None, "ragged_long", "ragged_short", "bad_utf8", "only_header")


def _unquoted(kr: KindRows, delimiter: str) -> KindRows:
    """``kr`` with every character a CSV writer would quote taken out of its values."""
    drop = str.maketrans("", "", '"\r\n' + delimiter)
    return KindRows(kr.kind, kr.columns, [Row({c: v.translate(drop) for c, v in r.values.items()}, r.bad, r.why)
                                          for r in kr.rows])


def _warehouse_outcome(con, kind: str) -> tuple:
    """Everything a load leaves behind for one file, in storage order (ingest times left out)."""
    table = canonical.KINDS[kind].table
    return (con.execute(f"select * exclude (_ingested_at) from raw.{table} order by rowid").fetchall(),
            con.execute("select * exclude (_ingested_at) from raw.rejected_rows order by rowid").fetchall(),
            con.execute("select kind, file_name, sha256, size_bytes, version, status, rows_read, rows_loaded, "
                        "rows_rejected from metadata.ingested_files order by file_id").fetchall())


@settings(max_examples=20, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data(), kind=st.sampled_from(list(canonical.KINDS)),
       delimiter=st.sampled_from([",", ";", "|", "\t"]), newline=st.sampled_from(["\n", "\r\n"]),
       encoding=st.sampled_from(["utf-8", "utf-8", "latin-1"]), breakage=st.sampled_from(BREAKAGES))
def test_unstaged_loads_equal_the_staged_load(data, kind, delimiter, newline, encoding, breakage):
    # a CSV file without quote characters or blank lines is loaded straight from read_csv: in parallel,
    # its lines set from the rows' order, or streamed, numbered as read; one with rejects or keys that
    # may repeat, or that DuckDB cannot read, falls back to the staged readers. Whichever way,
    # the warehouse must hold exactly what the staged load leaves: rows, lines, order, rejects and
    # reasons, the file's record, or the same failure.
    kr = _unquoted(data.draw(kind_rows(kind, data.draw(EXTRA_COLUMNS))), delimiter)
    d = Dialect(delimiter=delimiter, quoting=csv.QUOTE_MINIMAL, newline=newline, bom=data.draw(st.booleans()),
                encoding=encoding, blanks={}, trailing=data.draw(st.sampled_from(["", "\n"])), preamble=[])
    if encoding == "latin-1":
        kr = KindRows(kr.kind, kr.columns, [Row({c: v.encode("latin-1", "replace").decode("latin-1")
                                                 for c, v in r.values.items()}) for r in kr.rows])
    payload, _, mapping = render(kr, d)
    lines = payload.split(newline.encode())
    at = 1 + data.draw(st.integers(0, max(len(kr.rows) - 1, 0)))
    if breakage == "ragged_long":
        lines[at] += (delimiter + "x").encode()
    elif breakage == "ragged_short" and delimiter.encode() in lines[at]:
        lines[at] = lines[at].rsplit(delimiter.encode(), 1)[0]
    elif breakage == "bad_utf8" and encoding == "utf-8":
        lines[at] += b"\xff"
    elif breakage == "only_header":
        lines = lines[:1] + [b""]
    payload = newline.encode().join(lines)
    assert b'"' not in payload
    outcomes = {}
    for first in ingest.LOAD_MODES:
        with fresh() as (inbox, con):
            _put_rows(inbox, kind, payload, mapping)
            modes = ingest.LOAD_MODES
            ingest.LOAD_MODES = ingest.LOAD_MODES[ingest.LOAD_MODES.index(first):]
            try:
                (f,) = ingest.ingest_inbox(con, inbox, "b1", month=MONTH).files
            finally:
                ingest.LOAD_MODES = modes
            outcomes[first] = ((f.status, f.error, f.rows_read, f.rows_loaded, f.rows_rejected, f.note),
                               _warehouse_outcome(con, kind))
    assert outcomes["parallel"] == outcomes["staged"]
    assert outcomes["streamed"] == outcomes["staged"]
