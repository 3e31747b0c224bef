"""File adapters: CSV, Parquet and XLSX in the canonical layout or mapped by ``mapping.yml``.

Each file is read into a DuckDB temp table, one row per data record, with the
record's position kept so a rejected row names the line a person sees in an
editor (CSV: the physical line the record starts on; XLSX: the sheet row;
Parquet: the 1-based row). The common CSV file (one record per line, no quote
character) is not copied: it is validated straight from ``read_csv``
(:func:`streamable`). CSV and Parquet use DuckDB's native readers through
a path that names exactly the one file (:mod:`basinlab.sources.csvfile`);
XLSX uses openpyxl (DuckDB's excel extension downloads on first use and fails
offline).

``mapping.yml`` (beside the files of a kind) maps another layout onto the
canonical one. It holds one mapping or a list of them under ``mappings:``,
each applying to the files matching ``files`` (a glob, default ``*``)::

    files: "prod_*.csv"
    delimiter: ";"            # CSV delimiter, one character (default ",")
    encoding: latin-1         # CSV encoding: utf-8 (default), utf-16 or latin-1
    decimal: ","              # decimal separator in numbers (default ".")
    sheet: Monthly            # XLSX sheet name or 1-based index (default: first)
    header_row: 1             # line (CSV) or sheet row (XLSX) holding the header (default 1)
    columns:                  # canonical name: source column
      well_id: UWI
      production_month: PROD_DATE
      oil_bbl: OIL
    date:                     # when the month comes as year + month columns,
      year: YEAR              #   or in a format of its own (needed for 01/02/2024-style dates)
      month: MONTH
      format: "%d.%m.%Y"
    constants:                # canonical columns the file does not carry
      benchmark: WTI
    units:                    # oil/water: bbl | m3 | Sm3 | MSm3; gas: mcf | Sm3 | m3 | scf | mmcf | MSm3 | GSm3
      oil: Sm3
      gas: Sm3
      water: m3
    values: rates             # volumes (default) | rates
    rate_basis: producing_day # rates × days_on (default) | calendar_day: rates × days in month
    aggregate: mean           # rows sharing a key are combined: sum | mean | median | min | max | first | last,
                              #   or per column: {oil_bbl: sum, days_on: sum}

A malformed entry fails only the files it governs (its ``files`` glob; every
file no other entry claims when the glob itself is unusable), with one message
naming mapping.yml and the key.
"""
from __future__ import annotations

import csv
import fnmatch
import math
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import yaml

from ..units import BBL_PER_M3, SCF_PER_MCF, SCF_PER_SM3
from . import csvfile
from .base import SourceError
from .canonical import DATE, MONEY, MONTH, NUMBER, KindSpec

# Volume conversions to canonical units (see basinlab.units for the sources).

LIQUID_UNIT_FACTORS = {"bbl": 1.0, "m3": BBL_PER_M3, "sm3": BBL_PER_M3, "msm3": 1e6 * BBL_PER_M3}
GAS_UNIT_FACTORS = {
    "mcf": 1.0,
    "sm3": SCF_PER_SM3 / SCF_PER_MCF,
    "m3": SCF_PER_SM3 / SCF_PER_MCF,
    "scf": 1.0 / SCF_PER_MCF,
    "mmcf": 1000.0,
    "msm3": 1e6 * SCF_PER_SM3 / SCF_PER_MCF,
    "gsm3": 1e9 * SCF_PER_SM3 / SCF_PER_MCF,
}
PHASE_COLUMNS = {"oil": "oil_bbl", "gas": "gas_mcf", "water": "water_bbl"}
VOLUME_COLUMNS = tuple(PHASE_COLUMNS.values())

FORMATS = {".csv": "csv", ".txt": "csv", ".tsv": "csv", ".parquet": "parquet", ".pq": "parquet",
           ".xlsx": "xlsx", ".xlsm": "xlsx"}
MAPPING_FILE = "mapping.yml"
MAPPING_KEYS = {"files", "format", "delimiter", "decimal", "encoding", "sheet", "header_row", "columns", "date",
                "constants", "units", "values", "rate_basis", "aggregate"}
#: CSV encodings read (UTF-16 is transcoded to UTF-8 first), with the spellings accepted for them
ENCODINGS = ("utf-8", "utf-16", "latin-1")
_ENCODING_ALIASES = {"utf-8": "utf-8", "utf8": "utf-8", "utf-8-sig": "utf-8", "utf-16": "utf-16", "utf16": "utf-16",
                     "latin-1": "latin-1", "latin1": "latin-1", "iso-8859-1": "latin-1", "iso8859-1": "latin-1"}
#: aggregate functions of ``aggregate:`` and their SQL (``{c}`` the column, ordered by source line)
AGGREGATES = {"sum": "sum({c})", "mean": "avg({c})", "median": "median({c})", "min": "min({c})",
              "max": "max({c})", "first": "arg_min({c}, _line)", "last": "arg_max({c}, _line)"}
#: kinds whose rows may be aggregated (a well header or a GL line has nothing to combine)
AGGREGATE_KINDS = ("well_production", "prices", "fx")
MAX_HEADER_ROW = 1_000_000


@dataclass
class Mapping:
    """How one file layout maps onto a kind's canonical columns.

    ``error`` set means the entry is malformed: the files it governs fail with it.
    """

    source: Path | None = None
    files: str | None = "*"
    format: str | None = None
    delimiter: str | None = None
    encoding: str = "utf-8"
    decimal: str = "."
    sheet: str | int | None = None
    header_row: int = 1
    columns: dict[str, str] = field(default_factory=dict)
    date: dict[str, str] = field(default_factory=dict)
    constants: dict[str, Any] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)
    values: str = "volumes"
    rate_basis: str = "producing_day"
    aggregate: dict[str, str] = field(default_factory=dict)   # canonical column -> function
    error: str | None = None
    where: str = ""          # "mapping.yml" or "mapping.yml, mapping 2" for messages

    def factors(self) -> dict[str, float]:
        """Multiplicative factor per canonical volume column (unit conversion)."""
        out = {}
        for phase, unit in self.units.items():
            col = PHASE_COLUMNS[phase]
            table = GAS_UNIT_FACTORS if phase == "gas" else LIQUID_UNIT_FACTORS
            out[col] = table[str(unit).lower()]
        return out


class MappingError(ValueError):
    """A malformed mapping value: ``key`` names the offending key."""

    def __init__(self, key: str, msg: str):
        self.key = key
        super().__init__(msg)


def _mapping_error(path: Path, msg: str) -> SourceError:
    return SourceError(str(path), f"invalid mapping: {msg}")


def _show(v: Any) -> str:
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


def _need_str(key: str, v: Any, what: str = "a text value", numbers: bool = False) -> str:
    """``v`` as text: a non-empty string (or, with ``numbers``, a finite number)."""
    kinds = (str, int, float) if numbers else (str,)
    if isinstance(v, bool) or not isinstance(v, kinds) or (isinstance(v, float) and not math.isfinite(v)):
        quote = "" if numbers else " (quote a name that looks like a number)"
        raise MappingError(key, f"must be {what}{quote}, got {_show(v)}")
    s = str(v)
    if not s.strip():
        raise MappingError(key, f"must be {what}, got an empty value")
    return s


def _need_dict(key: str, v: Any) -> dict:
    if not isinstance(v, dict):
        raise MappingError(key, f"must be a block of name: value pairs, got {_show(v)}")
    return v


def _need_int(key: str, v: Any, lo: int, hi: int) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise MappingError(key, f"must be a whole number from {lo} to {hi:,}, got {_show(v)}")
    if not lo <= v <= hi:
        raise MappingError(key, f"must be a whole number from {lo} to {hi:,}, got {v}")
    return v


_FORMAT_YEAR = re.compile(r"%[Yy]")
_FORMAT_MONTH = re.compile(r"%[mbB]")
_FORMAT_DIRECTIVE = re.compile(r"%(.)")
#: strptime directives DuckDB understands
_KNOWN_DIRECTIVES = set("aAwdbBmyYHIpMSfzZjUWcxXgGuV%e-")


def _check_date(key: str, d: Any, spec: KindSpec) -> dict[str, str]:
    d = _need_dict(key, d)
    unknown = set(d) - {"year", "month", "format"}
    if unknown:
        raise MappingError(key, f"unknown key(s) {sorted(map(str, unknown))}; use year + month, or format")
    out = {}
    if "year" in d or "month" in d:
        if not ("year" in d and "month" in d):
            raise MappingError(key, "needs both year and month (the source columns)")
        if "format" in d:
            raise MappingError(key, "give year + month columns or a format, not both")
        out["year"] = _need_str(f"{key}.year", d["year"], "a source column name")
        out["month"] = _need_str(f"{key}.month", d["month"], "a source column name")
    elif "format" in d:
        fmt = d["format"]
        if not isinstance(fmt, str) or not fmt.strip():
            raise MappingError(f"{key}.format", f"must be a strptime format such as \"%d.%m.%Y\", got {_show(fmt)}")
        bad = [c for c in _FORMAT_DIRECTIVE.findall(fmt) if c not in _KNOWN_DIRECTIVES]
        if bad:
            raise MappingError(f"{key}.format", f"unknown directive(s) {', '.join('%' + c for c in bad)} in {fmt!r}")
        if not (_FORMAT_YEAR.search(fmt) and _FORMAT_MONTH.search(fmt)):
            raise MappingError(f"{key}.format", f"{fmt!r} needs a year (%Y or %y) and a month (%m, %b or %B)")
        out["format"] = fmt
    else:
        raise MappingError(key, "needs year + month columns, or a format")
    if not [c for c in spec.columns if c.type in (MONTH, DATE) and c.required]:
        raise MappingError(key, f"kind {spec.kind} has no date column to build")
    return out


def _check_aggregate(key: str, v: Any, spec: KindSpec) -> dict[str, str]:
    numeric = [c.name for c in spec.columns if c.type == NUMBER and c.name not in spec.key]
    if spec.kind not in AGGREGATE_KINDS:
        raise MappingError(key, f"applies to {', '.join(AGGREGATE_KINDS)} only, not {spec.kind}")
    funcs = sorted(AGGREGATES)
    if isinstance(v, str):
        if v.lower() not in AGGREGATES:
            raise MappingError(key, f"must be one of {', '.join(funcs)} (or per column), got {_show(v)}")
        return {c: v.lower() for c in numeric}
    d = _need_dict(key, v)
    out = {}
    for col, fn in d.items():
        if col not in numeric:
            raise MappingError(key, f"{_show(col)} is not a numeric column of {spec.kind} "
                                    f"(one of {', '.join(numeric)})")
        if not isinstance(fn, str) or fn.lower() not in AGGREGATES:
            raise MappingError(f"{key}.{col}", f"must be one of {', '.join(funcs)}, got {_show(fn)}")
        out[col] = fn.lower()
    if not out:
        raise MappingError(key, "names no column")
    return out


def _parse_file_keys(m: Mapping, v: dict) -> None:
    """``files`` and ``format``: which files the mapping governs and how they are read."""
    if "files" in v:
        m.files = _need_str("files", v["files"], "a file name glob such as \"prod_*.csv\"")
    if "format" in v:
        fmt = _need_str("format", v["format"], "csv, parquet or xlsx").lower()
        if fmt not in set(FORMATS.values()):
            raise MappingError("format", f"must be csv, parquet or xlsx, got {_show(v['format'])}")
        m.format = fmt


def _parse_table_keys(m: Mapping, v: dict) -> None:
    """``sheet`` and ``header_row``: where the table starts."""
    if "sheet" in v:
        m.sheet = _check_sheet(v["sheet"])
    if "header_row" in v:
        m.header_row = _need_int("header_row", v["header_row"], 1, MAX_HEADER_ROW)


def _check_sheet(s: Any) -> str | int:
    """A sheet name (not blank) or a 1-based sheet number."""
    if isinstance(s, bool) or not isinstance(s, (str, int)) or (isinstance(s, int) and s < 1) \
            or (isinstance(s, str) and not s.strip()):
        raise MappingError("sheet", f"must be a sheet name or a 1-based sheet number, got {_show(s)}")
    return s


def _parse_csv_keys(m: Mapping, v: dict) -> None:
    """``delimiter``, ``decimal`` and ``encoding`` of a CSV file (a decimal comma needs another delimiter)."""
    if "delimiter" in v:
        d = v["delimiter"]
        if not isinstance(d, str) or len(d) != 1 or d in "\"\r\n":
            raise MappingError("delimiter", f"must be one character (not a quote or line break), got {_show(d)}")
        m.delimiter = d
    if "decimal" in v:
        if v["decimal"] not in (".", ","):
            raise MappingError("decimal", f"must be \".\" or \",\", got {_show(v['decimal'])}")
        m.decimal = v["decimal"]
    if m.decimal == "," and (m.delimiter or ",") == ",":
        raise MappingError("decimal", "\",\" needs another delimiter (e.g. delimiter: \";\")")
    if "encoding" in v:
        enc = v["encoding"]
        if not isinstance(enc, str) or enc.strip().lower() not in _ENCODING_ALIASES:
            raise MappingError("encoding", f"must be one of {', '.join(ENCODINGS)}, got {_show(enc)}")
        m.encoding = _ENCODING_ALIASES[enc.strip().lower()]


def _parse_column_keys(m: Mapping, v: dict, spec: KindSpec) -> None:
    """``columns``, ``constants`` and ``date``: where each canonical column comes from."""
    if "columns" in v:
        cols = _need_dict("columns", v["columns"])
        for canon, src in cols.items():
            if canon not in spec.names:
                raise MappingError("columns", f"{_show(canon)} is not a canonical column of {spec.kind} "
                                              f"({', '.join(spec.names)})")
            m.columns[canon] = _need_str(f"columns.{canon}", src, "a source column name")
    if "constants" in v:
        consts = _need_dict("constants", v["constants"])
        for canon, val in consts.items():
            if canon not in spec.names:
                raise MappingError("constants", f"{_show(canon)} is not a canonical column of {spec.kind} "
                                                f"({', '.join(spec.names)})")
            if canon in m.columns:
                raise MappingError("constants", f"{canon} is both mapped to a column and given a constant")
            if isinstance(val, (date, datetime)):
                val = val.isoformat()
            m.constants[canon] = _need_str(f"constants.{canon}", val, "a single value", numbers=True)
    if "date" in v:
        m.date = _check_date("date", v["date"], spec)


def _check_units(raw: Any, spec: KindSpec) -> dict[str, str]:
    """``units``: per phase (oil, gas, water) one of the known units of that phase."""
    out: dict[str, str] = {}
    units = _need_dict("units", raw)
    for phase, unit in units.items():
        if phase not in PHASE_COLUMNS:
            raise MappingError("units", f"unknown phase {_show(phase)} (oil, gas, water)")
        table = GAS_UNIT_FACTORS if phase == "gas" else LIQUID_UNIT_FACTORS
        if not isinstance(unit, str) or unit.lower() not in table:
            raise MappingError(f"units.{phase}", f"must be one of {', '.join(sorted(table))}, got {_show(unit)}")
        if PHASE_COLUMNS[phase] not in spec.names:
            raise MappingError("units", f"kind {spec.kind} has no {phase} volumes")
        out[phase] = unit
    return out


def _parse_value_keys(m: Mapping, v: dict, spec: KindSpec) -> None:
    """``values`` (volumes or rates), ``rate_basis`` and ``aggregate``."""
    if "values" in v:
        if v["values"] not in ("volumes", "rates"):
            raise MappingError("values", f"must be volumes or rates, got {_show(v['values'])}")
        m.values = v["values"]
        if m.values == "rates" and spec.kind != "well_production":
            raise MappingError("values", "rates applies to well_production only")
    if "rate_basis" in v:
        if v["rate_basis"] not in ("producing_day", "calendar_day"):
            raise MappingError("rate_basis", f"must be producing_day or calendar_day, got {_show(v['rate_basis'])}")
        m.rate_basis = v["rate_basis"]
    if "aggregate" in v:
        m.aggregate = _check_aggregate("aggregate", v["aggregate"], spec)


def _parse_entry(raw: Any, spec: KindSpec, source: Path, where: str) -> Mapping:
    """A validated Mapping; MappingError naming the key otherwise."""
    if not isinstance(raw, dict):
        raise MappingError("mapping", f"each mapping must be a block of key: value pairs, got {_show(raw)}")
    unknown = [k for k in raw if k not in MAPPING_KEYS]
    if unknown:
        raise MappingError(str(unknown[0]), f"not a mapping key (unknown: {', '.join(sorted(map(str, unknown)))}; "
                                            f"allowed: {', '.join(sorted(MAPPING_KEYS))})")
    m = Mapping(source=source, where=where)
    v = {k: x for k, x in raw.items() if x is not None}
    # validated in the order of MAPPING_KEYS' documentation: the first bad key is the one reported
    _parse_file_keys(m, v)
    _parse_csv_keys(m, v)
    _parse_table_keys(m, v)
    _parse_column_keys(m, v, spec)
    if "units" in v:
        m.units.update(_check_units(v["units"], spec))
    _parse_value_keys(m, v, spec)
    return m


def load_mappings(kind_dir: Path, spec: KindSpec) -> list[Mapping]:
    """Read ``kind_dir/mapping.yml`` (none → empty list).

    Never raises for a malformed file: a malformed entry comes back with ``error`` set
    (see :func:`mapping_for`); a file that is not readable YAML, or whose layout is
    wrong, comes back as one error entry governing every file of the folder.
    """
    path = kind_dir / MAPPING_FILE
    if not path.exists():
        return []
    rel = f"{kind_dir.name}/{MAPPING_FILE}"

    def broken(msg: str, files: str | None = None, where: str = MAPPING_FILE) -> Mapping:
        return Mapping(source=path, files=files, error=f"{where} ({rel}): {msg}", where=where)

    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except UnicodeDecodeError:
        return [broken("is not UTF-8 text")]
    except yaml.YAMLError as exc:
        detail = " ".join(str(exc).split())
        return [broken(f"is not valid YAML: {detail}")]
    if isinstance(doc, dict) and "mappings" in doc:
        if set(doc) != {"mappings"}:
            others = sorted(str(k) for k in doc if k != "mappings")
            return [broken(f"key(s) {others} next to 'mappings:': put them inside each mapping")]
        entries = doc["mappings"]
        if not isinstance(entries, list) or not entries:
            return [broken(f"key 'mappings' must be a list of mappings, got {_show(entries)}")]
        listed = True
    elif isinstance(doc, dict):
        entries, listed = [doc], False
    else:
        return [broken(f"must be a block of key: value pairs or 'mappings:' with a list, got {_show(doc)}")]
    out = []
    for i, raw in enumerate(entries, 1):
        where = f"{MAPPING_FILE}, mapping {i}" if listed else MAPPING_FILE
        try:
            out.append(_parse_entry(raw, spec, path, where))
        except MappingError as exc:
            files = raw.get("files") if isinstance(raw, dict) else None
            glob = files if isinstance(files, str) and files.strip() and exc.key != "files" else None
            out.append(broken(f"key '{exc.key}': {exc}", files=glob, where=where))
        except Exception as exc:  # noqa: BLE001 - a mapping value no check foresaw: still one message
            out.append(broken(f"cannot be read ({type(exc).__name__}: {exc})", where=where))
    return out


def mapping_for(file: Path, mappings: list[Mapping]) -> Mapping | None:
    """The first mapping whose ``files`` glob matches the file name.

    A malformed entry whose glob is unusable governs every file no other entry
    matches (the file may have been meant for it).
    """
    unknown_glob = None
    for m in mappings:
        if m.files is None:
            unknown_glob = unknown_glob or m
        elif fnmatch.fnmatchcase(file.name, m.files) or fnmatch.fnmatch(file.name, m.files):
            return m
    return unknown_glob


def file_format(path: Path, mapping: Mapping | None = None) -> str | None:
    if mapping and mapping.format:
        return mapping.format
    return FORMATS.get(path.suffix.lower())


# --------------------------------------------------------------------------- reading


@dataclass
class StagedFile:
    """A file read into the temp table ``raw_table``, one row per data record, in file order.

    The row index and line of each record come either from the table itself
    (``rows_table`` None: ``rowid - first_rowid`` and ``index + line_offset``;
    the readers keep file order and a materialised table's rowid follows it,
    and ``rowids_dense`` records that the rowids run without gaps) or from
    ``rows_table``, a side table joined by position holding ``_bl_rid``,
    ``_bl_line`` and, for XLSX, ``_bl_problem`` (a reason the row must be
    rejected that its text cannot show, e.g. a formula without a cached value).
    """

    raw_table: str
    rows_read: int
    line_offset: int
    text_exprs: dict[str, str]  # canonical column -> SQL text expression over the row alias _bl_row
    factors: dict[str, float]
    rates: str | None         # None | producing_day | calendar_day
    first_rowid: int = 0
    rowids_dense: bool = True
    rows_table: str | None = None
    has_problems: bool = False
    date_formats: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    #: ``raw_table`` is not a table but a subquery reading the file itself (see :func:`streamable`): each
    #: statement over it reads the file again; record *i* (0-based) is on line *i* + ``line_offset``
    streamed: bool = False


def _cell_text(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, datetime):
        return v.isoformat(sep=" ")
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, float):
        if math.isnan(v):
            return "NaN"
        if math.isinf(v):
            return "Infinity" if v > 0 else "-Infinity"
        return str(int(v)) if v.is_integer() and abs(v) < 1e15 else repr(v)
    return str(v)


def _is_formula(v: Any) -> bool:
    if isinstance(v, str):
        return v.startswith("=")
    return type(v).__name__ in ("ArrayFormula", "DataTableFormula")


@dataclass
class _Sheet:
    header: list[str]
    rows: list[list[str | None]]
    lines: list[int]
    formulas: dict[int, dict[int, str]]   # column index -> {row index: formula} for formulas without a value


def _open_xlsx(path: Path, data_only: bool):
    """The workbook, read-only (cached values when ``data_only``, else the formulas); SourceError if unreadable."""
    import openpyxl

    try:
        return openpyxl.load_workbook(path, read_only=True, data_only=data_only)
    except Exception as exc:  # noqa: BLE001 - openpyxl raises many types for a bad file
        raise SourceError(str(path), f"not a readable XLSX workbook ({type(exc).__name__}: {exc})") from exc


def _pick_sheet(path: Path, wb: Any, mapping: Mapping | None):
    """The worksheet ``mapping.sheet`` names (a name or a 1-based number), else the first."""
    sheets = wb.worksheets
    if not sheets:
        raise SourceError(str(path), "the workbook has no worksheets")
    sheet = mapping.sheet if mapping else None
    if sheet is None:
        return sheets[0]
    if isinstance(sheet, int):
        if not 1 <= sheet <= len(sheets):
            raise SourceError(str(path), f"sheet {sheet} (mapping.yml key 'sheet') does not exist "
                                         f"(the workbook has {len(sheets)})")
        return sheets[sheet - 1]
    if sheet not in wb.sheetnames:
        raise SourceError(str(path), f"sheet {sheet!r} (mapping.yml key 'sheet') not found "
                                     f"(sheets: {wb.sheetnames})")
    return wb[sheet]


def _uncalculated_formulas(path: Path, mapping: Mapping | None, header_row: int, width: int,
                           rows: list[list[str | None]], lines: list[int],
                           blank_idx: list[int]) -> dict[int, dict[int, str]]:
    """{column: {record: formula}} for the empty cells (of the records ``blank_idx``) that hold a formula
    Excel never calculated (no cached value): read from the workbook's formulas."""
    formulas: dict[int, dict[int, str]] = {}
    wb = _open_xlsx(path, False)
    try:
        ws = _pick_sheet(path, wb, mapping)
        wanted = {lines[i]: i for i in blank_idx}
        for n, r in enumerate(ws.iter_rows(min_row=header_row + 1, values_only=True), start=header_row + 1):
            i = wanted.get(n)
            if i is None:
                continue
            for j, v in enumerate(r[:width]):
                if rows[i][j] is None and _is_formula(v):
                    formulas.setdefault(j, {})[i] = v if isinstance(v, str) else getattr(v, "text", "formula")
    finally:
        wb.close()
    return formulas


def _read_xlsx(path: Path, mapping: Mapping | None) -> _Sheet:
    """The sheet's header, its non-empty rows with their sheet row numbers, and formulas without cached values."""
    header_row = mapping.header_row if mapping else 1
    wb = _open_xlsx(path, True)
    try:
        ws = _pick_sheet(path, wb, mapping)
        title = ws.title
        it = ws.iter_rows(min_row=header_row, values_only=True)
        header_cells = next(it, None)
        if header_cells is None or all(v is None for v in header_cells):
            raise SourceError(str(path), f"sheet {title!r} has no header in row {header_row}")
        width = len(header_cells)
        while width and header_cells[width - 1] is None:
            width -= 1
        names = [str(h).strip() if h is not None else f"column_{i + 1}" for i, h in enumerate(header_cells[:width])]
        rows, lines, blank_idx = [], [], []
        for n, r in enumerate(it, start=header_row + 1):
            cells = list(r[:width]) + [None] * max(0, width - len(r))
            texts = [_cell_text(v) for v in cells]
            if all(t is None or not t.strip() for t in texts):
                continue  # an empty row is not a record
            rows.append(texts)
            lines.append(n)
            if any(v is None for v in cells):
                blank_idx.append(len(rows) - 1)
    finally:
        wb.close()
    formulas: dict[int, dict[int, str]] = {}
    if blank_idx:  # a None may be a formula Excel never calculated: look at the formulas
        formulas = _uncalculated_formulas(path, mapping, header_row, width, rows, lines, blank_idx)
    return _Sheet(names, rows, lines, formulas)


def _q(col: str) -> str:
    return '"' + col.replace('"', '""') + '"'


def _int_text(e: str) -> str:
    """SQL: the whole number in text ``e`` (``2024``, ``2024.0``), NULL otherwise (never rounds)."""
    d = f"try_cast({e} as double)"
    return f"(case when {d} = trunc({d}) and abs({d}) < 1e9 then cast({d} as bigint) end)"


def _date_expression(path: Path, spec: KindSpec, mapping: Mapping, src: Any, exprs: dict[str, str],
                     source_cols: list[str]) -> list[str]:
    """Set the kind's required date column in ``exprs`` from ``mapping.date``: a year and a month column,
    or a column and its strptime format. Returns the source columns the date reads (year, month)."""
    date_source: list[str] = []
    target = [c for c in spec.columns if c.type in (MONTH, DATE) and c.required][0].name
    if "year" in mapping.date:
        y, m = src(mapping.date["year"]), src(mapping.date["month"])
        if not y or not m:
            raise SourceError(str(path), f"date columns {mapping.date['year']!r}/{mapping.date['month']!r} "
                                         f"(mapping.yml key 'date') not in the file "
                                         f"(found: {', '.join(source_cols)})")
        date_source = [mapping.date["year"], mapping.date["month"]]
        yi, mi = _int_text(f"cast({y} as varchar)"), _int_text(f"cast({m} as varchar)")
        exprs[target] = (f"case when {yi} between 1 and 9999 and {mi} between 1 and 12 "
                         f"then printf('%04d-%02d', {yi}, {mi}) "
                         f"else cast({y} as varchar) || '-' || cast({m} as varchar) end")
    else:
        base = exprs.get(target)
        if base is None:
            raise SourceError(str(path), f"no column for {target}")
        fmt = mapping.date["format"].replace("'", "''")
        exprs[target] = f"coalesce(strftime(try_strptime(trim({base}), '{fmt}'), '%Y-%m-%d'), {base})"
    return date_source


def _resolve_columns(path: Path, spec: KindSpec, source_cols: list[str], header: list[str],
                     mapping: Mapping | None) -> tuple[dict[str, str], set[str]]:
    """canonical column -> SQL text expression over the staged row ``_bl_row``, and the source columns used.

    ``source_cols`` are the staged table's column names; ``header`` the names as the
    file spells them (for the repeated-header check, which DuckDB's renaming would hide).
    """
    lookup = {c.strip().lower(): c for c in source_cols}
    used: set[str] = set()

    def src(name: str) -> str | None:
        real = lookup.get(str(name).strip().lower())
        if real is None:
            return None
        used.add(real)
        return f"_bl_row.{_q(real)}"

    exprs: dict[str, str] = {}
    wanted = dict(mapping.columns) if mapping else {}
    missing_mapped = []
    for canon in spec.names:
        if mapping and canon in mapping.constants:
            val = str(mapping.constants[canon]).replace("'", "''")
            exprs[canon] = f"'{val}'"
            continue
        name = wanted.get(canon, canon)
        expr = src(name)
        if expr is None and canon in wanted:
            missing_mapped.append(f"{canon} <- {name}")
        if expr is not None:
            exprs[canon] = f"cast({expr} as varchar)"
    if missing_mapped:
        raise SourceError(str(path), f"mapped column(s) not in the file: {', '.join(missing_mapped)} "
                                     f"(found: {', '.join(source_cols)})")
    date_source = _date_expression(path, spec, mapping, src, exprs, source_cols) if mapping and mapping.date else []
    if mapping and mapping.decimal == ",":
        for c in spec.columns:
            if c.name in exprs and c.type in (NUMBER, MONEY):
                e = exprs[c.name]
                exprs[c.name] = f"replace(replace({e}, '.', ''), ',', '.')"
    missing = [c for c in spec.required if c not in exprs]
    if missing:
        raise SourceError(
            str(path),
            f"missing required column(s) {', '.join(missing)} for kind {spec.kind} "
            f"(found: {', '.join(source_cols)}); rename them or map them in {MAPPING_FILE}",
        )
    if spec.kind == "well_production" and not any(v in exprs for v in VOLUME_COLUMNS):
        how = (f"map them in {MAPPING_FILE} (key 'columns')" if mapping
               else f"name them so or map them in {MAPPING_FILE}")
        raise SourceError(str(path), f"no volume column: the file carries none of oil_bbl, gas_mcf, water_bbl "
                                     f"(found: {', '.join(source_cols)}); {how}")
    # a repeated column name is ambiguous when basinlab would read it
    wanted_names = {str(n).strip().lower() for n in [*spec.names, *wanted.values(), *date_source]}
    seen: dict[str, int] = {}
    for i, h in enumerate(header, 1):
        key = str(h).strip().lower()
        if key in seen and key in wanted_names:
            raise SourceError(str(path), f"the header repeats column {str(h).strip()!r} (columns {seen[key]} and "
                                         f"{i}); basinlab cannot tell which to read: rename or remove one")
        seen.setdefault(key, i)
    return exprs, used


def _csv_problem(path: Path, encoding: str, delim: str, header_row: int) -> str | None:
    """A readable reason a CSV file cannot be parsed: a record whose field count differs, or bad bytes."""
    try:
        return csvfile.read_with_python(path, encoding, delim, header_row).problem
    except UnicodeDecodeError:
        return None
    except csv.Error as exc:
        return str(exc)


_DUCKDB_LINE = re.compile(r"CSV Error on Line: (\d+)")


def _register(con, name: str, df: pd.DataFrame) -> None:
    con.register("_bl_df", df)
    try:
        con.execute(f"create temp table {name} as select * from _bl_df")
    finally:
        con.unregister("_bl_df")


def _rows_table(con, name: str, lines, problems: list[str | None] | None = None) -> None:
    lines = np.asarray(lines, dtype=np.int64)
    df = pd.DataFrame({"_bl_rid": np.arange(len(lines), dtype=np.int64), "_bl_line": lines})
    if problems is not None:
        df["_bl_problem"] = pd.Series(problems, dtype="object")
    con.execute(f"drop table if exists {name}")
    _register(con, name, df)


def _frame(header: list[str], rows: list[list[str | None]]) -> pd.DataFrame:
    """Text rows as a DataFrame; repeated names get a suffix (a repeat basinlab reads has failed already)."""
    names, seen = [], {}
    for i, h in enumerate(header):
        n = str(h).strip() or f"column_{i + 1}"
        k = n.lower()
        if k in seen:
            seen[k] += 1
            n = f"{n}_{seen[k]}"
        else:
            seen[k] = 0
        names.append(n)
    width = len(names)
    cols = list(zip(*[(r + [None] * width)[:width] for r in rows])) if rows else [[] for _ in names]
    return pd.DataFrame({n: pd.Series(c, dtype="object") for n, c in zip(names, cols)})


def csv_delimiter(path: Path, mapping: Mapping | None) -> str:
    """The delimiter of a CSV file: the mapping's, else a tab for ``.tsv``, else a comma."""
    if mapping and mapping.delimiter:
        return mapping.delimiter
    return "\t" if path.suffix.lower() == ".tsv" else ","


def streamable(path: Path, mapping: Mapping | None, scan: csvfile.Scan | None) -> bool:
    """Can the file be validated and loaded straight from ``read_csv``, without a staged copy?

    Yes for the common CSV file, whose :func:`~basinlab.sources.csvfile.scan` shows each line after
    the header to be one record, so record *i* (0-based) is on line *i + 2*: no quote character at
    all (no record spans lines), no blank line before its last content, no bare carriage return,
    the header on line 1, UTF-8 or Latin-1. Such a file is read by every statement over it: in
    parallel when the statement needs no row numbers, else numbered by ``row_number() over ()``
    (DuckDB runs that streaming window in one thread, in the order the reader produces the rows;
    see :func:`basinlab.ingest._load_sql_validated`). A file DuckDB then cannot parse (a ragged
    record, bad bytes) fails the statement: the caller loads it again through the staged path,
    which explains the problem (:class:`StreamFailed`).
    """
    if scan is None or (mapping is not None and mapping.error) or file_format(path, mapping) != "csv":
        return False
    encoding = mapping.encoding if mapping else "utf-8"
    header_row = mapping.header_row if mapping else 1
    return (encoding in ("utf-8", "latin-1") and not scan.empty and not scan.has_quote and not scan.lone_cr
            and not scan.needs_clean(header_row))


class StreamFailed(Exception):
    """DuckDB failed on a streamed file (:func:`streamable`): load it through the staged path instead,
    which names the problem. The transaction the failure happened in is aborted."""


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


class _Reader:
    """Reads one CSV file into the staged table (see :mod:`basinlab.sources.csvfile` for the paths taken)."""

    def __init__(self, con, path: Path, mapping: Mapping | None, private: csvfile.PrivateDir, raw_table: str,
                 rows_table: str, scan: csvfile.Scan | None = None):
        self.con, self.path, self.private, self.scan = con, path, private, scan
        self.raw_table, self.rows_table_name = raw_table, rows_table
        self.encoding = mapping.encoding if mapping else "utf-8"
        self.delim = csv_delimiter(path, mapping)
        self.header_row = mapping.header_row if mapping else 1
        self.notes: list[str] = []

    def fail(self, reason: str) -> SourceError:
        return SourceError(str(self.path), f"cannot be parsed as CSV: {reason}")

    def _read_csv(self, source: Path, path: str = "$path", delim: str = "$delim") -> str:
        """The ``read_csv`` call every staged or streamed read uses (``path``, ``delim``: SQL)."""
        opts = ("header = true, all_varchar = true, skip = 0, quote = '\"', escape = '\"', comment = '', "
                f"hive_partitioning = false, delim = {delim}")
        if self.encoding == "latin-1":
            opts += ", encoding = 'latin-1'"
        return f"read_csv({path}, {opts})"

    def _duckdb(self, source: Path) -> int:
        """Read ``source`` with DuckDB into the staged table; the record count."""
        p = csvfile.literal_path(source, self.private, ".csv")
        self.con.execute(f"drop table if exists {self.raw_table}")
        self.con.execute(f"create temp table {self.raw_table} as select * from {self._read_csv(source)}",
                         {"path": p, "delim": self.delim})
        return int(self.con.execute(f"select count(*) from {self.raw_table}").fetchone()[0])

    def streamed(self) -> tuple[str, list[str], int]:
        """(the subquery reading the file, header as spelled in the file, records) of a
        :func:`streamable` file; nothing is read but the header and DuckDB's sniffing sample."""
        p = csvfile.literal_path(self.path, self.private, ".csv")
        self.path_for_python, self.encoding_for_python = self.path, self.encoding
        sql = f"(select * from {self._read_csv(self.path, _sql_text(p), _sql_text(self.delim))})"
        return sql, self._first_record(self.path), self.scan.plain_records()

    def _explain(self, exc: duckdb.Error, source: Path, dropped: list[int]) -> SourceError | None:
        """A readable error for a file DuckDB cannot parse; None when Python's reader should take it."""
        text = str(exc)
        if "not utf-8 encoded" in text.lower() or "invalid unicode" in text.lower():
            line = csvfile.first_invalid_utf8_line(source)
            line = csvfile.original_line(line, dropped) if line else None
            return self.fail(f"line {line if line else '?'} is not valid UTF-8; if the file is Latin-1 (Excel on "
                             f"Windows) or UTF-16, say so in {MAPPING_FILE}: `encoding: latin-1`")
        problem = _csv_problem(self.path_for_python, self.encoding_for_python, self.delim, self.header_row)
        if problem:
            return self.fail(problem)
        return None

    def _duckdb_parsed(self, source: Path) -> int | None:
        """Records read by DuckDB's reader, None when Python's reader should take the file; a readable
        :class:`SourceError` when the file is malformed. Running out of memory (or an interrupt) is not
        a parse problem: it propagates, so the Python reader cannot hide the cause."""
        try:
            return self._duckdb(source)
        except (duckdb.OutOfMemoryException, duckdb.InterruptException):
            raise
        except duckdb.Error as exc:
            err = self._explain(exc, source, [])
            if err:
                raise err from exc
            return None

    def read(self) -> tuple[list[str], int, int | None]:
        """(header as spelled in the file, records, line offset or None when a rows table holds the lines)."""
        source, encoding = self.path, self.encoding
        if encoding == "utf-16":  # transcoded once: every later step reads UTF-8
            raw = self.path.read_bytes()
            try:
                text = raw.decode("utf-16")
            except UnicodeDecodeError as exc:
                raise self.fail(f"byte {exc.start} is not valid UTF-16") from exc
            source = self.private.get() / "source-utf8.csv"
            source.write_bytes(text.encode("utf-8"))
            encoding = "utf-8"
            self.encoding = "utf-8"
        self.path_for_python, self.encoding_for_python = source, encoding
        sc = (self.scan if self.scan is not None and source == self.path
              else csvfile.scan(source, self.delim))
        if sc.empty:
            raise self.fail("the file is empty (no header row)")
        if sc.lone_cr:
            return self._python(source, "line breaks are bare carriage returns")
        if not sc.needs_clean(self.header_row):
            header = self._first_record(source)
            n = self._duckdb_parsed(source)
            if n is None:
                return self._python(source, "DuckDB could not parse its quoting")
            if n == sc.plain_records():
                return header, n, 2
            # records span lines (quoted line breaks): map them
            rm = csvfile.map_records(source.read_bytes(), encoding, self.delim, self.header_row)
            if rm.clean is None and len(rm.lines) == n:
                _rows_table(self.con, self.rows_table_name, rm.lines)
                return rm.header, n, None
            return self._python(source, "its records could not be matched to lines")
        rm = csvfile.map_records(source.read_bytes(), encoding, self.delim, self.header_row)
        if rm.header_line == 0:
            raise self.fail("the file is empty (no header row)" if self.header_row == 1 else
                            f"no header at or below line {self.header_row} (mapping.yml key 'header_row')")
        target = source
        if rm.clean is not None:
            target = self.private.get() / "source-clean.csv"
            target.write_bytes(rm.clean)
            self.notes.append(f"{len(rm.dropped_lines)} blank or preamble line(s) are not records")
        try:
            n = self._duckdb(target)
        except duckdb.Error as exc:
            err = self._explain(exc, source, rm.dropped_lines)
            if err:
                raise err from exc
            return self._python(source, "DuckDB could not parse its quoting")
        if n != len(rm.lines):
            return self._python(source, "its records could not be matched to lines")
        _rows_table(self.con, self.rows_table_name, rm.lines)
        return rm.header, n, None

    def _first_record(self, source: Path) -> list[str]:
        with open(source, newline="", encoding=csvfile._py_encoding(self.encoding), errors="replace") as fh:
            for rec in csv.reader(fh, delimiter=self.delim):
                if not csvfile.is_blank_record(rec, self.delim):
                    return rec
        return []

    def _python(self, source: Path, why: str) -> tuple[list[str], int, int | None]:
        try:
            pr = csvfile.read_with_python(source, self.encoding, self.delim, self.header_row)
        except UnicodeDecodeError as exc:
            line = csvfile.first_invalid_utf8_line(source) if self.encoding == "utf-8" else None
            raise self.fail(f"line {line or '?'} is not valid {self.encoding.upper()} ({exc.reason}); set "
                            f"`encoding:` in {MAPPING_FILE}") from exc
        except csv.Error as exc:
            raise self.fail(str(exc)) from exc
        if not pr.header:
            raise self.fail("the file is empty (no header row)")
        if pr.problem:
            raise self.fail(pr.problem)
        self.con.execute(f"drop table if exists {self.raw_table}")
        _register(self.con, self.raw_table, _frame(pr.header, pr.rows))
        _rows_table(self.con, self.rows_table_name, pr.lines)
        self.notes.append(f"read with Python's csv module ({why})")
        return pr.header, len(pr.rows), None


def stage_file(con: duckdb.DuckDBPyConnection, path: Path, spec: KindSpec, mapping: Mapping | None,
               private: csvfile.PrivateDir | None = None, raw_table: str = "_bl_src",
               rows_table: str = "_bl_rows", scan: csvfile.Scan | None = None,
               stream: bool = False) -> StagedFile:
    """Read ``path`` into the temp table ``raw_table`` and work out its column expressions.

    ``scan`` is the file's :func:`basinlab.sources.csvfile.scan` when the caller has it already.
    ``stream``: a :func:`streamable` file is not copied into ``raw_table``; the staged file's
    ``raw_table`` is a subquery reading the file (``streamed``), and a DuckDB error on it means
    :class:`StreamFailed`.

    Raises
    ------
    SourceError
        The file cannot be parsed at all (named, with the reason).
    """
    if mapping is not None and mapping.error:
        raise SourceError(str(path), mapping.error)
    own_private = private is None
    private = private or csvfile.PrivateDir()
    try:
        if stream and streamable(path, mapping, scan):
            return _stage_streamed(con, path, spec, mapping, private, scan)
        return _stage(con, path, spec, mapping, private, raw_table, rows_table, scan)
    finally:
        if own_private:
            private.close()


def _date_formats(spec: KindSpec, mapping: Mapping | None) -> dict[str, str]:
    if mapping and mapping.date.get("format"):
        target = [c for c in spec.columns if c.type in (MONTH, DATE) and c.required][0].name
        return {target: mapping.date["format"]}
    return {}


def _stage_streamed(con, path: Path, spec: KindSpec, mapping: Mapping | None, private: csvfile.PrivateDir,
                    scan: csvfile.Scan) -> StagedFile:
    reader = _Reader(con, path, mapping, private, "", "", scan)
    sql, header, rows = reader.streamed()
    try:
        cols = [r[0] for r in con.execute(f"select column_name from (describe {sql})").fetchall()]
    except (duckdb.OutOfMemoryException, duckdb.InterruptException):
        raise
    except duckdb.Error as exc:
        raise StreamFailed(str(exc)) from exc
    try:
        exprs, _ = _resolve_columns(path, spec, cols, header, mapping)
    except SourceError as exc:   # the staged path reads the whole file first: its reason comes first
        raise StreamFailed(str(exc)) from exc
    return StagedFile(raw_table=sql, rows_read=rows, line_offset=2, text_exprs=exprs,
                      factors=mapping.factors() if mapping else {},
                      rates=mapping.rate_basis if mapping and mapping.values == "rates" else None,
                      date_formats=_date_formats(spec, mapping), streamed=True)


def _stage(con, path: Path, spec: KindSpec, mapping: Mapping | None, private: csvfile.PrivateDir,
           raw_table: str, rows_table: str, scan: csvfile.Scan | None) -> StagedFile:
    fmt = file_format(path, mapping)
    con.execute(f"drop table if exists {raw_table}")
    con.execute(f"drop table if exists {rows_table}")
    notes: list[str] = []
    side = False
    problems_by_col: dict[str, dict[int, str]] = {}
    if fmt == "csv":
        reader = _Reader(con, path, mapping, private, raw_table, rows_table, scan)
        header, rows, offset = reader.read()
        notes += reader.notes
        side = offset is None
        offset = offset or 0
    elif fmt == "parquet":
        p = csvfile.literal_path(path, private, ".parquet")
        try:
            import pyarrow.parquet as pq

            header = list(pq.read_schema(p).names)
            con.execute(f"create temp table {raw_table} as select * from read_parquet($p, hive_partitioning = false)",
                        {"p": p})
        except duckdb.Error as exc:
            raise SourceError(str(path), f"cannot be read as Parquet: {str(exc).strip().splitlines()[0]}") from exc
        except Exception as exc:  # noqa: BLE001 - pyarrow's errors for a file that is not Parquet
            raise SourceError(str(path), f"cannot be read as Parquet ({type(exc).__name__}: {exc})") from exc
        rows = int(con.execute(f"select count(*) from {raw_table}").fetchone()[0])
        offset = 1  # the 1-based row in the file
    elif fmt == "xlsx":
        sheet = _read_xlsx(path, mapping)
        header = sheet.header
        df = _frame(sheet.header, sheet.rows)
        _register(con, raw_table, df)
        rows = len(sheet.rows)
        names = list(df.columns)
        problems_by_col = {names[j]: v for j, v in sheet.formulas.items()}
        side, offset = True, 0
        xlsx_lines = sheet.lines
        _rows_table(con, rows_table, xlsx_lines)
    else:
        raise SourceError(str(path), f"unsupported file type {path.suffix!r} (CSV, Parquet or XLSX)")
    cols = [r[0] for r in con.execute(f"select column_name from (describe {raw_table})").fetchall()]
    exprs, used = _resolve_columns(path, spec, cols, header, mapping)
    if any(c.lower() == "rowid" for c in cols) and not side:
        # a source column named rowid hides DuckDB's rowid pseudo-column: number the rows in a side table
        _rows_table(con, rows_table, np.arange(rows, dtype=np.int64) + offset)
        side = True
    has_problems = False
    if fmt == "xlsx":
        per_row: dict[int, list[str]] = {}
        for col, rows_ in problems_by_col.items():
            if col not in used:
                continue
            for i, formula in rows_.items():
                per_row.setdefault(i, []).append(
                    f'formula without a cached value in {col}: "{formula[:40]}" (Excel never calculated it: '
                    f"open the workbook in Excel and save it, or paste the values)")
        if per_row:
            problems = [("; ".join(per_row[i]) if i in per_row else None) for i in range(rows)]
            _rows_table(con, rows_table, xlsx_lines, problems)
            has_problems = True
    first = last = None
    if not side:
        _, first, last = con.execute(f"select count(*), min(rowid), max(rowid) from {raw_table}").fetchone()
    date_formats = _date_formats(spec, mapping)
    return StagedFile(
        raw_table=raw_table,
        rows_read=int(rows),
        line_offset=offset,
        text_exprs=exprs,
        factors=mapping.factors() if mapping else {},
        rates=mapping.rate_basis if mapping and mapping.values == "rates" else None,
        first_rowid=int(first or 0),
        rowids_dense=side or rows == 0 or int(last) - int(first) + 1 == int(rows),
        rows_table=rows_table if side else None,
        has_problems=has_problems,
        date_formats=date_formats,
        notes=notes,
    )
