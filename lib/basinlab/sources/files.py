"""File adapters: CSV, Parquet and XLSX in the canonical layout or mapped by ``mapping.yml``.

Each file is read into a DuckDB temp table of text columns, one row per
source row, with the row's position kept so a rejected row can name its
line. CSV and Parquet use DuckDB's native readers; XLSX uses openpyxl
(DuckDB's excel extension downloads on first use and fails offline).

``mapping.yml`` (beside the files of a kind) maps another layout onto the
canonical one. It holds one mapping or a list of them under ``mappings:``,
each applying to the files matching ``files`` (a glob, default ``*``)::

    files: "prod_*.csv"
    delimiter: ";"            # CSV delimiter (default ",")
    encoding: latin-1         # CSV encoding: utf-8 (default), utf-16 or latin-1
    decimal: ","              # decimal separator in numbers (default ".")
    sheet: Monthly            # XLSX sheet name or 1-based index (default: first)
    header_row: 1             # XLSX row holding the header (default 1)
    columns:                  # canonical name: source column
      well_id: UWI
      production_month: PROD_DATE
      oil_bbl: OIL
    date:                     # when the month comes as year + month columns,
      year: YEAR              #   or in a non-ISO format
      month: MONTH
      format: "%d.%m.%Y"
    constants:                # canonical columns the file does not carry
      benchmark: WTI
    units:                    # oil/water: bbl | m3 | Sm3; gas: mcf | Sm3 | m3 | scf | mmcf
      oil: Sm3
      gas: Sm3
      water: m3
    values: rates             # volumes (default) | rates
    rate_basis: producing_day # rates × days_on (default) | calendar_day: rates × days in month
"""
from __future__ import annotations

import fnmatch
import math
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import yaml

from .base import SourceError
from .canonical import DATE, MONTH, KindSpec

from ..units import BBL_PER_M3, SCF_PER_MCF, SCF_PER_SM3

# Volume conversions to canonical units (see basinlab.units for the sources).

LIQUID_UNIT_FACTORS = {"bbl": 1.0, "m3": BBL_PER_M3, "sm3": BBL_PER_M3}
LIQUID_UNIT_FACTORS["msm3"] = 1e6 * BBL_PER_M3
GAS_UNIT_FACTORS = {
    "mcf": 1.0,
    "sm3": SCF_PER_SM3 / SCF_PER_MCF,
    "m3": SCF_PER_SM3 / SCF_PER_MCF,
    "scf": 1.0 / SCF_PER_MCF,
    "mmcf": 1000.0,
}
GAS_UNIT_FACTORS["msm3"] = 1e6 * SCF_PER_SM3 / SCF_PER_MCF
GAS_UNIT_FACTORS["gsm3"] = 1e9 * SCF_PER_SM3 / SCF_PER_MCF
PHASE_COLUMNS = {"oil": "oil_bbl", "gas": "gas_mcf", "water": "water_bbl"}

FORMATS = {".csv": "csv", ".txt": "csv", ".tsv": "csv", ".parquet": "parquet", ".pq": "parquet",
           ".xlsx": "xlsx", ".xlsm": "xlsx"}
MAPPING_FILE = "mapping.yml"
MAPPING_KEYS = {"files", "format", "delimiter", "decimal", "encoding", "sheet", "header_row", "columns", "date",
                "constants", "units", "values", "rate_basis"}
#: CSV encodings DuckDB reads natively
ENCODINGS = ("utf-8", "utf-16", "latin-1")


@dataclass
class Mapping:
    """How one file layout maps onto a kind's canonical columns."""

    source: Path | None = None
    files: str = "*"
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

    def factors(self) -> dict[str, float]:
        """Multiplicative factor per canonical volume column (unit conversion)."""
        out = {}
        for phase, unit in self.units.items():
            col = PHASE_COLUMNS[phase]
            table = GAS_UNIT_FACTORS if phase == "gas" else LIQUID_UNIT_FACTORS
            out[col] = table[str(unit).lower()]
        return out


def _mapping_error(path: Path, msg: str) -> SourceError:
    return SourceError(str(path), f"invalid mapping: {msg}")


def _parse_mapping(path: Path, raw: dict, spec: KindSpec) -> Mapping:
    if not isinstance(raw, dict):
        raise _mapping_error(path, "each mapping must be a key: value block")
    unknown = set(raw) - MAPPING_KEYS
    if unknown:
        raise _mapping_error(path, f"unknown key(s) {sorted(unknown)}; allowed: {sorted(MAPPING_KEYS)}")
    m = Mapping(source=path, **{k: v for k, v in raw.items() if v is not None})
    bad_cols = set(m.columns) - set(spec.names)
    if bad_cols:
        raise _mapping_error(path, f"columns maps unknown canonical column(s) {sorted(bad_cols)} "
                                   f"for kind {spec.kind}; canonical: {spec.names}")
    bad_const = set(m.constants) - set(spec.names)
    if bad_const:
        raise _mapping_error(path, f"constants names unknown canonical column(s) {sorted(bad_const)}")
    for phase, unit in m.units.items():
        if phase not in PHASE_COLUMNS:
            raise _mapping_error(path, f"units: unknown phase {phase!r} (oil, gas, water)")
        table = GAS_UNIT_FACTORS if phase == "gas" else LIQUID_UNIT_FACTORS
        if str(unit).lower() not in table:
            raise _mapping_error(path, f"units: {phase} unit {unit!r} not one of {sorted(table)}")
        if PHASE_COLUMNS[phase] not in spec.names:
            raise _mapping_error(path, f"units: kind {spec.kind} has no {phase} volumes")
    if m.values not in ("volumes", "rates"):
        raise _mapping_error(path, f"values must be volumes or rates, got {m.values!r}")
    if m.rate_basis not in ("producing_day", "calendar_day"):
        raise _mapping_error(path, f"rate_basis must be producing_day or calendar_day, got {m.rate_basis!r}")
    if m.values == "rates" and spec.kind != "well_production":
        raise _mapping_error(path, "values: rates applies to well_production only")
    if m.date and not ({"year", "month"} <= set(m.date) or "format" in m.date):
        raise _mapping_error(path, "date needs year + month columns, or a format")
    if str(m.encoding).lower() not in ENCODINGS:
        raise _mapping_error(path, f"encoding must be one of {', '.join(ENCODINGS)}, got {m.encoding!r}")
    if m.decimal not in (".", ","):
        raise _mapping_error(path, "decimal must be '.' or ','")
    return m


def load_mappings(kind_dir: Path, spec: KindSpec) -> list[Mapping]:
    """Read ``kind_dir/mapping.yml`` (none → empty list)."""
    path = kind_dir / MAPPING_FILE
    if not path.exists():
        return []
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise SourceError(str(path), f"mapping.yml is not valid YAML: {exc}") from exc
    entries = doc.get("mappings", [doc]) if isinstance(doc, dict) else doc
    if not isinstance(entries, list):
        raise _mapping_error(path, "expected a mapping or a list under 'mappings:'")
    return [_parse_mapping(path, e, spec) for e in entries]


def mapping_for(file: Path, mappings: list[Mapping]) -> Mapping | None:
    """The first mapping whose ``files`` glob matches the file name."""
    for m in mappings:
        if fnmatch.fnmatch(file.name, m.files):
            return m
    return None


def file_format(path: Path, mapping: Mapping | None = None) -> str | None:
    if mapping and mapping.format:
        return mapping.format
    return FORMATS.get(path.suffix.lower())


# --------------------------------------------------------------------------- reading


@dataclass
class StagedFile:
    """A file read into the temp table ``raw_table``, one row per source row, in file order.

    The readers preserve the file's row order (DuckDB's CSV and Parquet readers
    and a DataFrame scan do so with the default ``preserve_insertion_order``),
    and a materialised table's ``rowid`` follows that order. The rowids of a
    table created inside a transaction do not start at 0 (transaction-local
    rows are numbered from a high base), so the row index is
    ``rowid - first_rowid``; ``rowids_dense`` records whether they run without
    gaps (``max - min + 1 = count``), which that subtraction relies on.
    """

    raw_table: str
    rows_read: int
    line_offset: int          # source line = (rowid - first_rowid) + line_offset
    text_exprs: dict[str, str]  # canonical column -> SQL text expression over raw_table
    factors: dict[str, float]
    rates: str | None         # None | producing_day | calendar_day
    first_rowid: int = 0
    rowids_dense: bool = True


def _cell_text(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, datetime):
        return v.isoformat(sep=" ")
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, float):
        if math.isnan(v):
            return None
        return str(int(v)) if v.is_integer() else repr(v)
    return str(v)


def _read_xlsx(path: Path, mapping: Mapping | None) -> tuple[pd.DataFrame, int]:
    import openpyxl

    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for a bad file
        raise SourceError(str(path), f"not a readable XLSX workbook ({type(exc).__name__}: {exc})") from exc
    try:
        sheet = mapping.sheet if mapping else None
        if sheet is None:
            ws = wb.worksheets[0]
        elif isinstance(sheet, int):
            if not 1 <= sheet <= len(wb.worksheets):
                raise SourceError(str(path), f"sheet {sheet} does not exist (workbook has {len(wb.worksheets)})")
            ws = wb.worksheets[sheet - 1]
        else:
            if sheet not in wb.sheetnames:
                raise SourceError(str(path), f"sheet {sheet!r} not found (sheets: {wb.sheetnames})")
            ws = wb[sheet]
        header_row = mapping.header_row if mapping else 1
        rows = ws.iter_rows(min_row=header_row, values_only=True)
        try:
            header = next(rows)
        except StopIteration:
            raise SourceError(str(path), f"sheet {ws.title!r} is empty") from None
        names = [str(h).strip() if h is not None else f"column_{i + 1}" for i, h in enumerate(header)]
        data = [[_cell_text(v) for v in r[: len(names)]] for r in rows]
    finally:
        wb.close()
    # drop trailing fully-empty rows (Excel's used range often overshoots)
    while data and all(v is None for v in data[-1]):
        data.pop()
    df = pd.DataFrame(data, columns=names, dtype="object")
    return df, header_row + 1


def _resolve_columns(path: Path, spec: KindSpec, source_cols: list[str], mapping: Mapping | None) -> dict[str, str]:
    """canonical column -> SQL text expression over the raw temp table."""
    lookup = {c.strip().lower(): c for c in source_cols}

    def q(col: str) -> str:
        return '"' + col.replace('"', '""') + '"'

    def src(name: str) -> str | None:
        real = lookup.get(name.strip().lower())
        return q(real) if real else None

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
    if mapping and mapping.date:
        date_cols = [c for c in spec.columns if c.type in (MONTH, DATE) and c.required]
        target = date_cols[0].name if date_cols else None
        if target is None:
            raise _mapping_error(mapping.source or path, f"kind {spec.kind} has no date column to build")
        if "year" in mapping.date:
            y, m = src(mapping.date["year"]), src(mapping.date["month"])
            if not y or not m:
                raise SourceError(str(path), f"date columns {mapping.date['year']!r}/{mapping.date['month']!r} "
                                             f"not in the file (found: {', '.join(source_cols)})")
            exprs[target] = (f"case when try_cast({y} as integer) between 1 and 9999 and try_cast({m} as integer) "
                             f"between 1 and 12 then printf('%04d-%02d', try_cast({y} as integer), "
                             f"try_cast({m} as integer)) else cast({y} as varchar) || '-' || cast({m} as varchar) end")
        else:
            base = exprs.get(target)
            if base is None:
                raise SourceError(str(path), f"no column for {target}")
            fmt = mapping.date["format"].replace("'", "''")
            exprs[target] = f"coalesce(strftime(try_strptime({base}, '{fmt}'), '%Y-%m-%d'), {base})"
    if mapping and mapping.decimal == ",":
        for c in spec.columns:
            if c.name in exprs and c.type in ("number", "money"):
                e = exprs[c.name]
                exprs[c.name] = f"replace(replace({e}, '.', ''), ',', '.')"
    missing = [c for c in spec.required if c not in exprs]
    if missing:
        raise SourceError(
            str(path),
            f"missing required column(s) {', '.join(missing)} for kind {spec.kind} "
            f"(found: {', '.join(source_cols)}); rename them or map them in {MAPPING_FILE}",
        )
    return exprs


def _csv_shape_problem(path: Path, delim: str) -> str | None:
    """The first line whose field count differs from the header's (for a readable error)."""
    import csv

    try:
        with open(path, newline="", encoding="utf-8", errors="replace") as fh:
            reader = csv.reader(fh, delimiter=delim)
            header = next(reader, None)
            if header is None:
                return "the file is empty"
            for row in reader:
                if row and len(row) != len(header):
                    return (f"line {reader.line_num} has {len(row)} fields, the header has {len(header)} "
                            f"(delimiter {delim!r})")
    except csv.Error as exc:
        return f"{exc}"
    return None


def stage_file(con: duckdb.DuckDBPyConnection, path: Path, spec: KindSpec, mapping: Mapping | None,
               raw_table: str = "_bl_src") -> StagedFile:
    """Read ``path`` into the temp table ``raw_table`` and work out its column expressions.

    Raises
    ------
    SourceError
        The file cannot be parsed at all (named, with the reason).
    """
    fmt = file_format(path, mapping)
    con.execute(f"drop table if exists {raw_table}")
    p = str(path).replace("'", "''")
    try:
        if fmt == "csv":
            opts = ["header = true", "all_varchar = true", "skip = 0"]
            delim = mapping.delimiter if mapping and mapping.delimiter else ("\t" if path.suffix.lower() == ".tsv" else ",")
            opts.append("delim = '" + delim.replace("'", "''") + "'")
            if mapping and mapping.encoding.lower() != "utf-8":
                opts.append(f"encoding = '{mapping.encoding.lower()}'")
            con.execute(f"create temp table {raw_table} as select * from read_csv('{p}', {', '.join(opts)})")
            offset = 2  # header on line 1
        elif fmt == "parquet":
            con.execute(f"create temp table {raw_table} as select * from read_parquet('{p}')")
            offset = 1  # 1-based row index in the file
        elif fmt == "xlsx":
            df, offset = _read_xlsx(path, mapping)
            con.register("_bl_xlsx_df", df)
            try:
                con.execute(f"create temp table {raw_table} as select * from _bl_xlsx_df")
            finally:
                con.unregister("_bl_xlsx_df")
        else:
            raise SourceError(str(path), f"unsupported file type {path.suffix!r} (CSV, Parquet or XLSX)")
    except duckdb.Error as exc:
        msg = str(exc).strip().splitlines()
        detail = _csv_shape_problem(path, delim) if fmt == "csv" else None
        if fmt == "csv" and "not utf-8 encoded" in str(exc).lower():
            line = re.search(r"CSV Error on Line: (\d+)", str(exc))
            detail = (f"line {line.group(1) if line else '?'} is not valid UTF-8; if the file is Latin-1 "
                      f"(Excel on Windows) or UTF-16, say so in {MAPPING_FILE}: `encoding: latin-1`")
        raise SourceError(str(path), f"cannot be parsed as {fmt.upper()}: {detail or ' '.join(msg[:2])}",
                          line=None) from exc
    cols = [r[0] for r in con.execute(f"select column_name from (describe {raw_table})").fetchall()]
    rows, first, last = con.execute(f"select count(*), min(rowid), max(rowid) from {raw_table}").fetchone()
    exprs = _resolve_columns(path, spec, cols, mapping)
    return StagedFile(
        raw_table=raw_table,
        rows_read=int(rows),
        line_offset=offset,
        text_exprs=exprs,
        factors=mapping.factors() if mapping else {},
        rates=mapping.rate_basis if mapping and mapping.values == "rates" else None,
        first_rowid=int(first or 0),
        rowids_dense=rows == 0 or int(last) - int(first) + 1 == int(rows),
    )
