"""Ingestion: files dropped in ``<data-dir>/inbox/<kind>/`` land in ``raw.*``.

Guarantees, per file:

* **Idempotent.** A file is identified by its name within its kind
  (``well_production/p.csv``); it is skipped when its current version in
  ``metadata.ingested_files`` has the same sha256. A changed file is loaded as a
  new version and the rows of the version it replaces are superseded (status
  ``superseded``), not deleted — even when its new content equals another
  file's or one of its own earlier versions.
* **Nothing silently dropped.** Every row is either loaded into its raw table
  or written to ``raw.rejected_rows`` with its file, line and reason:
  ``rows_read = rows_loaded + rows_rejected``, recorded per file.
* **All or nothing.** A file that cannot be parsed at all (wrong format,
  missing required columns, a bad ``mapping.yml``) loads nothing and fails
  the step with a message naming the file and the reason.

* **Nothing invented.** Rows read are the file's data records (blank lines and
  a preamble are not records), each rejected row names the line a person sees
  in an editor, and duplicate keys within a file are never silently shadowed:
  rows that agree load once (the copies are rejected naming the first line),
  rows that differ are all rejected naming their lines, unless the mapping
  says how to combine them (``aggregate:``).
* **Only values.** Non-finite or implausibly large numbers, dates outside the
  plausible window, ambiguous dates, fractional integers: rejected rows, with
  the reason.

Validation runs inside DuckDB (``try_cast`` and row rules over the whole file
at once), so checking costs little over a bare ``read_csv``. The common CSV file
(one record per line, no quote character) is validated straight from
``read_csv`` in parallel, without a staged copy; its rows' lines are set from
their order once every record has loaded (else it is loaded again, numbering its
rows): see :func:`_load_sql_validated`.
"""
from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from . import catalog, config
from .sources import canonical, registry
from .sources.base import SourceError, SourceRead
from .sources.canonical import DATE, INTEGER, MONEY, MONTH, NUMBER, TEXT, KindSpec
from .sources.csvfile import PrivateDir
from .sources.csvfile import Scan as CsvScan
from .sources.csvfile import scan as csv_scan
from .sources.files import (
    AGGREGATES,
    FORMATS,
    MAPPING_FILE,
    Mapping,
    StagedFile,
    StreamFailed,
    csv_delimiter,
    file_format,
    load_mappings,
    mapping_for,
    stage_file,
)

log = logging.getLogger(__name__)

#: the lineage columns every raw table ends with (declared in sql/catalog/raw.yml)
META_COLUMNS = catalog.LINEAGE_COLUMNS
IGNORED_FILES = {MAPPING_FILE, "README.md", "README.txt", ".gitkeep"}


class IngestError(Exception):
    """One or more files could not be ingested; the message names each file and reason."""

    def __init__(self, failures: list[FileResult]):
        self.failures = failures
        lines = [f"  - {f.file_name}: {f.error}" for f in failures]
        super().__init__(f"{len(failures)} file(s) could not be ingested:\n" + "\n".join(lines))


@dataclass
class FileResult:
    kind: str
    file_name: str
    status: str               # loaded | duplicate | failed
    file_id: int | None = None
    version: int | None = None
    sha256: str = ""
    rows_read: int = 0
    rows_loaded: int = 0
    rows_rejected: int = 0
    superseded: list[int] = field(default_factory=list)
    seconds: float = 0.0
    error: str | None = None
    note: str | None = None
    keys_unique: bool | None = None   # ingest proved each key at most once among the loaded rows


@dataclass
class IngestReport:
    batch_id: str
    files: list[FileResult] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def failures(self) -> list[FileResult]:
        return [f for f in self.files if f.status == "failed"]

    @property
    def rows_read(self) -> int:
        return sum(f.rows_read for f in self.files)

    @property
    def rows_loaded(self) -> int:
        return sum(f.rows_loaded for f in self.files)

    @property
    def rows_rejected(self) -> int:
        return sum(f.rows_rejected for f in self.files)

    def frame(self) -> pd.DataFrame:
        cols = ["kind", "file_name", "status", "version", "rows_read", "rows_loaded", "rows_rejected",
                "seconds", "error", "note"]
        return pd.DataFrame([{k: asdict(f)[k] for k in cols} for f in self.files], columns=cols)

    def raise_for_failures(self) -> None:
        if self.failures:
            raise IngestError(self.failures)


def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


# --------------------------------------------------------------------------- SQL validation
#
# One generated SELECT (``_validation_sql``) turns the staged text columns into
# the canonical typed columns and decides, per source row, whether the row is
# loaded or rejected (``_bad``) and why (``_reason``). The load and the reject
# insert both run it over the same staged table, filtered on ``not _bad`` and
# ``_bad``, so together they take every row exactly once.
#
# Its per-row work is most of what ingest costs beyond a bare read, so it is
# written to keep that small on the common case, a row that parses:
#
# * values are parsed from the text as received. DuckDB's casts skip
#   surrounding spaces themselves; ``trim`` (a string copy per value) runs
#   only on the values the first attempt could not parse, whose trimmed text
#   is kept (``<col>__t``) for the retry and the reasons. Each such step is
#   its own column in its own CTE, referenced by name: DuckDB evaluates every
#   expression of a projection for every row (only CASE branches and later
#   COALESCE arguments are lazy), and its common-subexpression optimizer
#   hoists an expression used twice into a projection below, out of any CASE.
# * the reasons (string building) are behind ``case when _parse_bad`` /
#   ``case when _bad``, and the load does not select them, so DuckDB drops
#   them from its plan; only rejected rows build them.
#
# Duplicates: after the load, one aggregate over the file's loaded rows looks
# for a key that occurs twice. Only then (or when the mapping aggregates) is
# the file loaded again through ``_load_grouped``, which materialises the
# validation, groups the good rows by key and decides per group.


def _typed_expr(ctype: str, t: str) -> str:
    """SQL turning the text ``t`` into the column type (NULL when it does not parse).

    Dates must put the year first (``YYYY-MM``, ``YYYY-MM-DD``, ``YYYY/MM``, ``YYYY/MM/DD``, an ISO
    timestamp): ``01/02/2024`` or ``24-06`` could mean two things and need a format in mapping.yml.
    Integers must be whole numbers (``1.5`` does not parse; ``2.0`` is 2).
    """
    if ctype == TEXT:
        return t
    if ctype == NUMBER:
        return f"try_cast({t} as double)"
    if ctype == INTEGER:
        d = f"try_cast({t} as double)"
        return f"case when {d} = trunc({d}) and abs({d}) < 2147483648 then cast({d} as integer) end"
    if ctype == MONEY:
        return f"try_cast({t} as decimal(18, 2))"
    if ctype == MONTH:
        return (f"date_trunc('month', case substr({t}, 5, 1) "
                f"when '-' then coalesce(try_strptime({t}, '%Y-%m'), try_cast({t} as timestamp)) "
                f"when '/' then coalesce(try_strptime({t}, '%Y/%m'), try_strptime({t}, '%Y/%m/%d')) end)::date")
    if ctype == DATE:
        return (f"case substr({t}, 5, 1) "
                f"when '-' then coalesce(try_cast({t} as date), try_cast(try_cast({t} as timestamp) as date)) "
                f"when '/' then try_cast(try_strptime({t}, '%Y/%m/%d') as date) end")
    raise ValueError(ctype)


_TYPE_WORDS = {NUMBER: "number", INTEGER: "integer", MONEY: "amount", MONTH: "month", DATE: "date"}
#: day-month-year orders that read two ways (1/2/24, 01.02.2024, 24-06)
_AMBIGUOUS_DATE = r"[0-9]{1,2}[-/.][0-9]{1,2}([-/.][0-9]{2,4})?([ T].*)?"


def _unparseable_reason(ctype: str, col: str, t: str, date_format: str | None) -> str:
    """SQL: why the text ``t`` of ``col`` did not parse (only evaluated for rejected rows)."""
    shown = f"left({t}, 40)"
    plain = f"'unparseable {_TYPE_WORDS[ctype]} in {col}: \"' || {shown} || '\"'"
    d = f"try_cast({t} as double)"
    if ctype == INTEGER:
        return (f"case when not isfinite({d}) then 'non-finite value in {col}: \"' || {shown} || '\"' "
                f"when {d} is not null then 'not a whole number in {col}: \"' || {shown} || '\"' else {plain} end")
    if ctype == MONEY:
        return (f"case when not isfinite({d}) then 'non-finite value in {col}: \"' || {shown} || '\"' "
                f"when {d} is not null then 'amount out of range in {col}: \"' || {shown} || '\"' else {plain} end")
    if ctype in (MONTH, DATE):
        if date_format:
            fmt = date_format.replace("'", "''")
            return (f"'{col} does not match the date format in mapping.yml: \"' || {shown} || '\" "
                    f"(format \"{fmt}\", key date.format)'")
        return (f"case when regexp_full_match({t}, '{_AMBIGUOUS_DATE}') then 'ambiguous date in {col}: \"' || "
                f"{shown} || '\" (day, month and year order unknown, give it in mapping.yml, e.g. "
                f"date: {{format: \"%d/%m/%Y\"}})' else {plain} end")
    return plain


def _trimmed_text(t: str) -> str:
    """SQL: ``nullif(trim(t), '')`` without a string copy for the common value, plain ASCII that begins
    and ends with a printable character other than a space (``trim`` removes spaces and Unicode space
    separators only, so such a value is its own trimmed text). Inside a CASE branch, so DuckDB's
    common-subexpression optimizer cannot hoist the ``trim`` out for every row."""
    return (f"case when {t} >= '!' and not ends_with({t}, ' ') and strlen({t}) = length({t}) then {t} "
            f"else nullif(trim({t}), '') end")


def _any_true(conditions: list[str]) -> str:
    """TRUE when any condition is TRUE (NULL counts as not), never NULL."""
    return f"coalesce({' or '.join(f'({c})' for c in conditions)}, false)" if conditions else "false"


def _reasons(problems: list[tuple[str, str]]) -> str:
    """The '; '-joined reasons of the problems whose condition is TRUE ('' when none)."""
    if not problems:
        return "''"
    return "concat_ws('; ', " + ", ".join(f"case when {c} then {r} end" for c, r in problems) + ")"


@dataclass(frozen=True)
class Window:
    """The plausible window of a kind's date column: ``lo`` .. ``hi`` (first days of months, inclusive)."""

    column: str
    lo: date
    hi: date
    why: str


def _add_months(d: date, n: int) -> date:
    y, m = divmod(d.year * 12 + d.month - 1 + n, 12)
    return date(y, m + 1, 1)


def plausible_window(spec: KindSpec, month: str | None = None, today: date | None = None) -> Window | None:
    """The window of ``spec``'s date column for a run of ``month`` (YYYY-MM; None: the current month).

    From January 1900 to the later of the run month and the current calendar month,
    plus ``spec.lead_months`` (forward price and FX decks; GL reversing entries).
    Using the later of the two keeps a re-run of an older month from rejecting rows
    of newer months that a file loaded during that re-run already holds.
    """
    if not spec.window_column:
        return None
    today = today or date.today()
    current = date(today.year, today.month, 1)
    run = date(*config.parse_month(month), 1) if month else current
    hi = _add_months(max(run, current), spec.lead_months)
    y, m = (int(x) for x in canonical.EARLIEST_MONTH.split("-"))
    return Window(spec.window_column, date(y, m, 1), hi, spec.lead_reason)


def _value_rules(spec: KindSpec, window: Window | None) -> list[tuple[str, str]]:
    """Rules on the converted values every kind shares: finite numbers of a sane size, dates in the window."""
    rules = []
    for c in spec.columns:
        if c.type == NUMBER:
            # one comparison per value: DuckDB orders NaN above every number, so NaN, ±inf and the
            # implausibly large all compare greater; the reason (rejected rows only) tells them apart
            # (each reason expression appears once: DuckDB hoists a repeated one out of its CASE,
            # and would format every row's value)
            rules.append((f"abs({c.name}) > {canonical.MAX_ABS_NUMBER!r}",
                          f"case when isfinite({c.name}) then 'implausibly large {c.name} (' "
                          f"else 'non-finite {c.name} (' end || format('{{}}', {c.name}) || "
                          f"case when isfinite({c.name}) then ', the limit is {canonical.MAX_ABS_NUMBER:.0e})' "
                          f"else ')' end"))
    if window:
        col = window.column
        width = 10 if spec.column(col).type == DATE else 7     # YYYY-MM-DD or YYYY-MM
        last = (_add_months(window.hi, 1) - timedelta(days=1)) if spec.column(col).type == DATE else window.hi
        rules.append((f"{col} < date '{window.lo}' or {col} > date '{last}'",
                      f"case when {col} < date '{window.lo}' then '{col} before the plausible window (' "
                      f"else '{col} after the plausible window (' end || left(cast({col} as varchar), {width}) || "
                      f"case when {col} < date '{window.lo}' then ' < {window.lo:%Y-%m})' "
                      f"else ' > {window.hi:%Y-%m}, {window.why})' end"))
    return rules


def _validation_sql(spec: KindSpec, staged: StagedFile, window: Window | None = None,
                    numbered: bool = True) -> str:
    """SELECT over the staged file: per source row ``_rid`` (0-based), ``_line`` (the line a person sees),
    the canonical typed columns, ``_bad`` (the row is rejected), ``_reason`` (why; NULL if loaded)
    and ``_rec`` (the staged row as received, a struct).

    Every step selects from one relation (the staged table, joined by position to its rows table
    when it has one), without join on keys, aggregate or ORDER BY, so rows come out in file order.
    """
    names = spec.names
    typed_cols = [c for c in spec.columns if c.type != TEXT]
    if staged.streamed:      # the file read as the statement runs: rows numbered as they come, in file order
        source = f"{staged.raw_table} _bl_row"
        # unnumbered (``_rid`` and ``_line`` 0): nothing keeps DuckDB from reading the file in parallel
        rid = "row_number() over () - 1" if numbered else "0"
        line = f"{rid} + {staged.line_offset}" if numbered else "0"
        extra = "cast(null as varchar)"
    elif staged.rows_table:
        source = f"{staged.raw_table} _bl_row positional join {staged.rows_table} _bl_side"
        rid, line = "_bl_side._bl_rid", "_bl_side._bl_line"
        extra = "_bl_side._bl_problem" if staged.has_problems else "cast(null as varchar)"
    else:
        source = f"{staged.raw_table} _bl_row"
        rid = (f"_bl_row.rowid - {staged.first_rowid}" if staged.rowids_dense
               else "row_number() over (order by _bl_row.rowid) - 1")
        line = f"{rid} + {staged.line_offset}"
        extra = "cast(null as varchar)"
    text_exprs, factors, rates = staged.text_exprs, staged.factors, staged.rates
    received, first, texts, typed, problems = [], [], [], [], []
    # when a row is rejected for its values: the problems' conditions, merged where they only tell
    # reasons apart (a required value that is null is missing or unparseable: either way, rejected)
    bad_when: list[str] = []
    for c in spec.columns:
        raw = f'"{c.name}__raw"'
        received.append(f"{text_exprs.get(c.name, 'cast(null as varchar)')} as {raw}")
        if c.type == TEXT:
            texts.append(f"{_trimmed_text(raw)} as {c.name}")
            if c.required:
                problems.append((f"{c.name} is null", f"'missing {c.name}'"))
                bad_when.append(f"{c.name} is null")
            continue
        first.append(f"{_typed_expr(c.type, raw)} as {c.name}__1")
        texts.append(f"case when {c.name}__1 is null then nullif(trim({raw}), '') end as {c.name}__t")
        value = f"coalesce({c.name}__1, {_typed_expr(c.type, f'{c.name}__t')})"
        if factors.get(c.name, 1.0) != 1.0:
            value = f"{value} * {factors[c.name]!r}"
        typed.append(f"{value} as {c.name}")
        if c.required:
            problems.append((f"{c.name} is null and {c.name}__t is null", f"'missing {c.name}'"))
        problems.append((f"{c.name} is null and {c.name}__t is not null",
                         _unparseable_reason(c.type, c.name, f"{c.name}__t", staged.date_formats.get(c.name))))
        bad_when.append(f"{c.name} is null" if c.required else f"{c.name} is null and {c.name}__t is not null")
    problems.append(("_xproblem is not null", "_xproblem"))
    if staged.has_problems:    # else _xproblem is a NULL constant
        bad_when.append("_xproblem is not null")
    conv = list(names)
    if rates:
        days = "days_on" if rates == "producing_day" else "day(last_day(production_month))"
        for vol in ("oil_bbl", "gas_mcf", "water_bbl"):
            conv[conv.index(vol)] = f"{vol} * {days} as {vol}"
        if rates == "producing_day":  # judged on the rates, before they are multiplied out
            bad_when.append("days_on is null and (oil_bbl is not null or gas_mcf is not null "
                            "or water_bbl is not null)")
            problems.append(("days_on is null and (oil_bbl is not null or gas_mcf is not null "
                             "or water_bbl is not null)", "'daily rates given but days_on missing'"))
    rules = _value_rules(spec, window) + [(r.sql, r.reason_sql) for r in spec.rules]
    text_only = [c.name for c in spec.columns if c.type == TEXT]
    t_cols = [f"{c.name}__t" for c in typed_cols]
    keep = "_rid, _line, _rec, _xproblem"
    return f"""
        with received as (   -- each canonical column's text, as received
            select {rid} as _rid, {line} as _line, {extra} as _xproblem, {', '.join(received)}, _bl_row as _rec
            from {source}
        ),
        first_try as (       -- typed values parsed from that text
            select *{''.join(', ' + f for f in first)} from received
        ),
        texts as (           -- text columns; the trimmed text of values the first try could not parse
            select {keep}, {', '.join([f"{c.name}__1" for c in typed_cols] + texts)} from first_try
        ),
        typed as (           -- typed values: the first try, else the trimmed text parsed
            select {keep}, {', '.join(text_only + typed + t_cols)} from texts
        ),
        parsed as (          -- missing and unparseable values
            select *, {_any_true(bad_when)} as _parse_bad from typed
        ),
        parse_reasons as (
            select _rid, _line, _rec, {', '.join(names)}, _parse_bad,
                   case when _parse_bad then {_reasons(problems)} end as _parse_reason
            from parsed
        ),
        converted as (       -- canonical units; the row rules apply to these values
            select _rid, _line, _rec, {', '.join(conv)}, _parse_bad, _parse_reason from parse_reasons
        ),
        checked as (
            select *, _parse_bad or {_any_true([c for c, _ in rules])} as _bad from converted
        )
        select _rid, _line, {', '.join(names)}, _bad,
               case when _bad then coalesce(nullif(concat_ws('; ', _parse_reason, nullif({_reasons(rules)}, '')), ''),
                                            'rejected by a row rule') end as _reason,
               _rec
        from checked
    """


# --------------------------------------------------------------------------- per file


def _new_file_id(con: duckdb.DuckDBPyConnection) -> int:
    return int(con.execute("select nextval('metadata.ingested_files_seq')").fetchall()[0][0])


def _record_file(con, res: FileResult, batch_id: str, size: int) -> None:
    con.execute(
        "update metadata.ingested_files set status = 'superseded', superseded_by = ? "
        "where file_name = ? and status = 'loaded'",
        [res.file_id, res.file_name],
    )
    con.execute(
        """insert into metadata.ingested_files
           (file_id, kind, file_name, sha256, size_bytes, version, status, superseded_by,
            rows_read, rows_loaded, rows_rejected, batch_id, ingested_at, seconds, keys_unique)
           values (?, ?, ?, ?, ?, ?, 'loaded', null, ?, ?, ?, ?, current_timestamp::timestamp, ?, ?)""",
        [res.file_id, res.kind, res.file_name, res.sha256, size, res.version, res.rows_read,
         res.rows_loaded, res.rows_rejected, batch_id, res.seconds, res.keys_unique],
    )


@contextmanager
def _insertion_order_kept(con):
    """Run with ``preserve_insertion_order`` on (DuckDB's default; a session may have turned it
    off to save memory): the readers keep the file's row order, and so the line numbers, only then."""
    kept = con.execute("select current_setting('preserve_insertion_order')").fetchone()[0]
    if not kept:
        con.execute("set preserve_insertion_order = true")
    try:
        yield
    finally:
        if not kept:
            con.execute("set preserve_insertion_order = false")


@dataclass
class _Load:
    """One validated file being loaded: what the inserts need."""

    con: duckdb.DuckDBPyConnection
    spec: KindSpec
    staged: StagedFile
    validated: str
    rel: str
    file_id: int
    batch_id: str
    #: set by a parallel load: the line of the file's first row (the lines are set by :func:`_number_lines`)
    first_line: int | None = None

    @property
    def params(self) -> dict:
        return {"kind": self.spec.kind, "file": self.rel, "batch": self.batch_id}


class _Reload(Exception):
    """Load the file again, in a new transaction, the ``mode`` way (see :func:`_load_sql_validated`)."""

    def __init__(self, mode: str, why: str):
        super().__init__(why)
        self.mode, self.why = mode, why


#: the ways a file is loaded, cheapest first; each falls back only to a later one
LOAD_MODES = ("parallel", "streamed", "staged")


def _load_sql_validated(con, path: Path, rel: str, spec: KindSpec, mapping: Mapping | None, file_id: int,
                        batch_id: str, res: FileResult, window: Window | None,
                        private: PrivateDir, scan: CsvScan | None = None, mode: str = "staged") -> int | None:
    """Stage, validate and load one file, the ``mode`` way; for a parallel load, the line of its first
    row (the lines are set once the rows are committed: :func:`_number_lines`), else None.

    * ``staged``: the file is read into a temp table first (every format, every CSV dialect); the
      row index is the table's rowid or a side table of lines.
    * ``streamed``: a :func:`~basinlab.sources.files.streamable` CSV file is validated and loaded
      straight from ``read_csv`` (no staged copy), its rows numbered as DuckDB reads them (one thread).
    * ``parallel``: the same, unnumbered, so DuckDB reads and validates it in parallel; the load keeps
      file order, so when every record loaded (no reject) and the file's rows took dense rowids, a
      loaded row's line is its rowid's offset + 2, set once the rows are committed. Otherwise the file is loaded
      again: staged when it has rejects or a key that may repeat (staging reads in parallel too, and
      numbers every row), streamed when only the rowids were not dense.

    A mode that cannot finish raises :class:`_Reload` naming the next one (the transaction must be
    rolled back: DuckDB aborts it on an error).
    """
    with _insertion_order_kept(con):
        try:
            staged = stage_file(con, path, spec, mapping, private, scan=scan, stream=mode != "staged")
        except StreamFailed as exc:
            raise _Reload("staged", str(exc)) from exc
        aggregate = mapping.aggregate if mapping is not None else None
        if mode == "parallel" and (not staged.streamed or aggregate):
            mode = "streamed"
        if not staged.streamed:
            mode = "staged"
        if staged.notes:
            res.note = "; ".join(staged.notes)
        ld = _Load(con, spec, staged, _validation_sql(spec, staged, window, numbered=mode != "parallel"), rel,
                   file_id, batch_id)
        temp_tables = ([] if staged.streamed else [staged.raw_table, staged.rows_table]) + ["_bl_v", "_bl_g"]
        try:
            loaded, rejected = _load_by_mode(ld, mode, aggregate, res)
        except (duckdb.OutOfMemoryException, duckdb.InterruptException):
            raise
        except duckdb.Error as exc:
            if staged.streamed:   # DuckDB cannot read it as it is: the staged readers explain why
                raise _Reload("staged", str(exc)) from exc
            raise
        else:
            for t in temp_tables:
                if t:
                    con.execute(f"drop table if exists {t}")
    if staged.streamed and loaded + rejected != staged.rows_read:   # DuckDB's records are not the lines
        raise _Reload("staged", f"read {loaded + rejected} records, the file has {staged.rows_read} lines")
    if loaded + rejected != staged.rows_read:  # pragma: no cover - the filters are complementary
        raise SourceError(rel, f"accounting mismatch: read {staged.rows_read} != loaded {loaded} "
                               f"+ rejected {rejected}")
    res.rows_read, res.rows_loaded, res.rows_rejected = staged.rows_read, int(loaded), int(rejected)
    # every path above leaves each key at most once: the plain load when no hash repeats, else the grouped
    # load (one row per key, or one aggregated row per key)
    res.keys_unique = bool(spec.key)
    return ld.first_line


#: above this many loaded rows the repeated-key check runs in DuckDB (it spills to disk) rather than numpy
NUMPY_KEY_CHECK_ROWS = 20_000_000


def _may_repeat_a_key(con, spec: KindSpec, file_id: int, loaded: int) -> bool:
    """Could a key occur twice among the file's loaded rows?

    Equal keys have equal hashes, so all hashes distinct proves every key is; a repeated hash
    (a repeated key, or a collision) sends the file through the grouped path, which decides
    exactly. The hashes are sorted in numpy: a quarter of what DuckDB's distinct aggregate costs
    on the transaction's own rows, which it scans in one thread.
    """
    if loaded < 2:
        return False
    hashed = f"hash({', '.join(spec.key_exprs)})"
    where = f"from raw.{spec.table} where _file_id = {file_id}"
    if loaded > NUMPY_KEY_CHECK_ROWS:
        return bool(con.execute(f"select count(*) > count(distinct {hashed}) {where}").fetchone()[0])
    h = con.execute(f"select {hashed} as h {where}").fetchnumpy()["h"]
    h = np.sort(np.asarray(h))
    return bool((h[1:] == h[:-1]).any())


def _load_plain(ld: _Load) -> tuple[int, int]:
    """Every good row loaded, every bad row rejected, in file order: (loaded, rejected)."""
    spec, staged = ld.spec, ld.staged
    order_by = "" if staged.streamed or staged.rows_table or staged.rowids_dense else "order by _rid"
    cols = ", ".join(spec.names)
    # the load: straight from the validation into the raw table, no intermediate table.
    # current_timestamp is the transaction's start: one value for every row of the file.
    loaded = ld.con.execute(
        f"""insert into raw.{spec.table} ({cols}, {', '.join(META_COLUMNS)})
            select {cols}, $file, _line, {ld.file_id}, $batch, current_timestamp::timestamp
            from ({ld.validated}) where not _bad {order_by}""",
        {"file": ld.rel, "batch": ld.batch_id},
    ).fetchone()[0]
    rejected = 0
    if loaded < staged.rows_read:
        # the rejects: the same validation, the other side of the partition; only these rows
        # build their reasons and the JSON of the row as received
        rejected = ld.con.execute(
            f"""insert into raw.rejected_rows
                select $kind, $file, _line, _reason, to_json(_rec)::varchar,
                       {ld.file_id}, $batch, current_timestamp::timestamp
                from ({ld.validated}) where _bad {order_by}""",
            ld.params,
        ).fetchone()[0]
    return int(loaded), int(rejected)


def _load_by_mode(ld: _Load, mode: str, aggregate: dict[str, str] | None, res: FileResult) -> tuple[int, int]:
    """(loaded, rejected) of the validated file, loaded the ``mode`` way (see :func:`_load_sql_validated`)."""
    con, spec, file_id = ld.con, ld.spec, ld.file_id
    if mode == "parallel":
        loaded = _load_parallel(ld)
        if _may_repeat_a_key(con, spec, file_id, loaded):
            raise _Reload("staged", "a key may repeat")
        return loaded, 0
    if aggregate:
        return _load_grouped(ld, aggregate, res)
    loaded, rejected = _load_plain(ld)
    if _may_repeat_a_key(con, spec, file_id, loaded):  # load again, deciding per key
        con.execute(f"delete from raw.{spec.table} where _file_id = {file_id}")
        con.execute(f"delete from raw.rejected_rows where _file_id = {file_id}")
        loaded, rejected = _load_grouped(ld, None, res)
    return loaded, rejected


def _load_parallel(ld: _Load) -> int:
    """Load a streamed file read unnumbered (in parallel); the rows loaded, each with its line.

    Raises :class:`_Reload`: staged when a record was rejected, streamed when the file's rows did
    not take dense rowids, so their lines cannot be told from them.
    """
    con, spec, staged = ld.con, ld.spec, ld.staged
    cols = ", ".join(spec.names)
    loaded = int(con.execute(
        f"""insert into raw.{spec.table} ({cols}, {', '.join(META_COLUMNS)})
            select {cols}, $file, 0, {ld.file_id}, $batch, current_timestamp::timestamp
            from ({ld.validated}) where not _bad""",
        {"file": ld.rel, "batch": ld.batch_id},
    ).fetchone()[0])
    if loaded != staged.rows_read:
        raise _Reload("staged", f"{staged.rows_read - loaded} record(s) rejected")
    first, last, n = con.execute(f"select min(rowid), max(rowid), count(*) from raw.{spec.table} "
                                 f"where _file_id = {ld.file_id}").fetchone()
    if n != loaded or (n and int(last) - int(first) + 1 != n):
        raise _Reload("streamed", "the rows did not take dense rowids")
    if n:
        # the load kept file order (one insert, insertion order preserved): row i is on line i + offset.
        # The lines are set once the rows are committed (:func:`_number_lines`).
        ld.first_line = staged.line_offset
    return loaded


def _begin_numbered(con, table: str, file_id: int, first_line: int, load_streamed: Callable[[], object]) -> None:
    """Begin the transaction that records a file whose rows a parallel load committed, with their lines
    set (:func:`_number_lines`); when their rowids do not give their order, the rows are deleted and
    ``load_streamed`` loads the file again, numbered as read, in that transaction."""
    con.execute("begin transaction")
    if _number_lines(con, table, file_id, first_line):
        return
    _rollback(con)
    con.execute(f"delete from raw.{table} where _file_id = {int(file_id)}")
    con.execute("begin transaction")
    load_streamed()


def _rollback(con) -> None:
    """Roll back the open transaction, if any (a failed commit has already ended it): the error that
    led here is the one to report, not that no transaction was left."""
    try:
        con.execute("rollback")
    except duckdb.TransactionException:
        pass


def _number_lines(con, table: str, file_id: int, first_line: int) -> bool:
    """Set the line of each committed row of a parallel load, in file order from ``first_line``;
    False (nothing set) when the rows' rowids are not dense, so their order cannot be told from them.

    Run in the transaction after the one that committed the rows, before the file is recorded:
    DuckDB updates committed rows in a fraction of what updating the rows of the transaction that
    inserted them costs (it rewrites those at commit: 4.6 s + 1.3 s of checkpoint for 18 M GL lines,
    against 0.7 s). The rows take new rowids when they are committed, so the lines are counted from
    those. Until the file is recorded its rows are not read (staging reads the rows of recorded files
    only), and :func:`drop_unrecorded_rows` removes them if the process stops in between.
    """
    first, last, n = con.execute(f"select min(rowid), max(rowid), count(*) from raw.{table} "
                                 f"where _file_id = {int(file_id)}").fetchone()
    if not n or int(last) - int(first) + 1 != n:
        return False
    con.execute(f"update raw.{table} set _source_row = rowid - {int(first)} + {int(first_line)} "
                f"where _file_id = {int(file_id)}")
    return True


def _out_of_memory(con, exc: Exception) -> str:
    """The reason a file failed when DuckDB ran out of its memory limit: the limit, the threads and
    what to change (the limit bounds each connection; :func:`basinlab.config.duckdb_resources`)."""
    try:
        limit, threads = con.execute("select current_setting('memory_limit'), current_setting('threads')").fetchone()
    except duckdb.Error:
        limit, threads = "?", "?"
    return (f"DuckDB ran out of memory loading it (memory_limit {limit}, {threads} thread(s): "
            f"{str(exc).splitlines()[0]}): raise {config.ENV_MEMORY_LIMIT} or lower {config.ENV_THREADS}")


def _lines_text(col: str = "_lines", shown: int = 10) -> str:
    """SQL: '3, 9, 14' from a list of lines, '3, 9, … (25 rows)' when long."""
    return (f"array_to_string({col}[1:{shown}], ', ') || "
            f"case when len({col}) > {shown} then ', … (' || len({col}) || ' rows)' else '' end")


def _load_grouped(ld: _Load, aggregate: dict[str, str] | None, res: FileResult) -> tuple[int, int]:
    """Load a file whose rows share keys: (source rows loaded, rows rejected).

    Without ``aggregate``, per key: one row loads; rows with the same values as the
    first are rejected as its duplicates; rows with differing values are all rejected
    (none is silently preferred). With ``aggregate``, the good rows of each key are
    combined into one raw row (``_source_row`` = its first line); a combined row that
    fails a row rule rejects all its rows. ``rows_loaded`` counts source rows that
    went into loaded raw rows.
    """
    con, spec = ld.con, ld.spec
    keys = spec.key_exprs
    kcols = [f"_k{i}" for i in range(len(keys))]
    con.execute("drop table if exists _bl_v")
    con.execute(f"create temp table _bl_v as select *, {', '.join(f'{k} as {c}' for k, c in zip(keys, kcols))} "
                f"from ({ld.validated})")
    key_names = ", ".join(spec.key)
    key_values = "concat_ws(', ', " + ", ".join(
        f"strftime(v.{k}, '%Y-%m')" if spec.column(k).type == MONTH else f"cast(v.{k} as varchar)"
        for k in spec.key) + ")"
    join = " and ".join(f"v.{c} = g.{c}" for c in kcols)
    con.execute("drop table if exists _bl_g")
    names = spec.names
    # rows agree when their keys (as staging compares them) and other values are equal
    others = [n for n in names if n not in spec.key]
    if aggregate is None:
        con.execute(f"""create temp table _bl_g as
                        select {', '.join(kcols)}, count(*) as _n, min(_line) as _first,
                               count(distinct row({', '.join(kcols + others)})) as _variants,
                               list(_line order by _line) as _lines
                        from _bl_v where not _bad group by all""")
        keep = "(g._n = 1 or (g._variants = 1 and v._line = g._first))"
        loaded = con.execute(
            f"""insert into raw.{spec.table} ({', '.join(names)}, {', '.join(META_COLUMNS)})
                select {', '.join('v.' + n for n in names)}, $file, v._line, {ld.file_id}, $batch,
                       current_timestamp::timestamp
                from _bl_v v join _bl_g g on {join} where not v._bad and {keep} order by v._rid""",
            {"file": ld.rel, "batch": ld.batch_id}).fetchone()[0]
        reason = (f"""case when v._bad then v._reason
                      when g._variants = 1 then 'duplicate of line ' || g._first || ' (the same values for the '
                           || 'same {key_names})'
                      else 'conflicting rows for one {key_names} (' || {key_values} || ' on lines '
                           || {_lines_text('g._lines')} || ': keep one, or combine them with aggregate: '
                           || 'in mapping.yml)' end""")
        rejected = con.execute(
            f"""insert into raw.rejected_rows
                select $kind, $file, v._line, {reason}, to_json(v._rec)::varchar, {ld.file_id}, $batch,
                       current_timestamp::timestamp
                from _bl_v v left join _bl_g g on {join}
                where v._bad or not {keep} order by v._rid""", ld.params).fetchone()[0]
        dups = con.execute("select count(*) filter (where _n > 1), coalesce(sum(_n) filter (where _n > 1), 0) "
                           "from _bl_g").fetchone()
        _add_note(res, f"{dups[1]} rows share {dups[0]} key(s) ({key_names}): one kept per key where the rows "
                       f"agree, none where they differ")
        return int(loaded), int(rejected)
    # aggregate: combine the good rows of each key
    selects, conflicts = [], []
    for c in names:
        if c in aggregate:
            selects.append(AGGREGATES[aggregate[c]].replace("arg_min(", "arg_min_null(")
                           .replace("arg_max(", "arg_max_null(").format(c=c) + f" as {c}")
        else:
            selects.append(f"arg_min({c}, _line) as {c}")
            if c not in spec.key:
                conflicts.append(c)
    conflict_rules = [(f"_nd_{c} > 1", f"'rows disagree on {c}, which aggregate: does not combine'")
                      for c in conflicts]
    rules = conflict_rules + _value_rules(spec, None) + [(r.sql, r.reason_sql) for r in spec.rules]
    con.execute(f"""create temp table _bl_g as
                    with g as (
                        select {', '.join(kcols)}, count(*) as _n, min(_line) as _first,
                               list(_line order by _line) as _lines, {', '.join(selects)}
                               {''.join(f', count(distinct {c}) as _nd_{c}' for c in conflicts)}
                        from _bl_v where not _bad group by {', '.join(kcols)}
                    )
                    select *, {_any_true([c for c, _ in rules])} as _gbad, {_reasons(rules)} as _greason from g""")
    inserted = con.execute(
        f"""insert into raw.{spec.table} ({', '.join(names)}, {', '.join(META_COLUMNS)})
            select {', '.join(names)}, $file, _first, {ld.file_id}, $batch, current_timestamp::timestamp
            from _bl_g where not _gbad order by _first""",
        {"file": ld.rel, "batch": ld.batch_id}).fetchone()[0]
    rejected = con.execute(
        f"""insert into raw.rejected_rows
            select $kind, $file, v._line,
                   case when v._bad then v._reason
                        else 'aggregated row fails a row rule (lines ' || {_lines_text('g._lines')} || ': '
                             || g._greason || ')' end,
                   to_json(v._rec)::varchar, {ld.file_id}, $batch, current_timestamp::timestamp
            from _bl_v v left join _bl_g g on {join}
            where v._bad or g._gbad order by v._rid""", ld.params).fetchone()[0]
    loaded = con.execute("select coalesce(sum(_n), 0) from _bl_g where not _gbad").fetchone()[0]
    how = ", ".join(f"{fn} of {c}" for c, fn in aggregate.items())
    _add_note(res, f"aggregated {loaded} source rows into {inserted} rows ({how}; rows_loaded counts source rows)")
    return int(loaded), int(rejected)


def _add_note(res: FileResult, note: str) -> None:
    res.note = f"{res.note}; {note}" if res.note else note


def _load_cheapest_way(con, path: Path, rel: str, spec: KindSpec, mapping: Mapping | None, file_id: int,
                       batch_id: str, res: FileResult, window: Window | None, scan: CsvScan | None,
                       mode: str = LOAD_MODES[0]) -> int | None:
    """:func:`_load_sql_validated` the cheapest of :data:`LOAD_MODES` from ``mode`` on that can finish;
    what it returns."""
    with PrivateDir() as private:
        while True:
            try:
                return _load_sql_validated(con, path, rel, spec, mapping, file_id, batch_id, res, window,
                                           private, scan, mode)
            except _Reload as again:
                # a cheaper way could not finish: a new transaction (DuckDB aborts one on
                # an error), the same file id (the rolled-back one was never seen)
                log.debug("%s: loading again %s (%s)", rel, again.mode, again.why)
                con.execute("rollback")
                con.execute("begin transaction")
                res.note = None
                mode = again.mode


def _load_adapter(con, path: Path, rel: str, kind: registry.Kind, file_id: int, batch_id: str, res: FileResult,
                  month: str | None = None) -> None:
    """Load a file that a Python adapter reads whole (the kind's declared ``adapter`` function)."""
    spec = kind.window_spec
    window = plausible_window(spec, month) if spec else None
    read: SourceRead = kind.reader()(path, window=(window.lo, window.hi) if window else None)
    for table, df in read.tables.items():
        if df is None or df.empty:
            continue
        if table not in kind.tables:
            raise SourceError(rel, f"adapter produced the raw table {table!r}, which kind {kind.name} does not "
                                   f"declare (tables: {', '.join(kind.tables)} in sql/catalog/kinds.yml)")
        data_cols = catalog.columns(f"raw.{table}", lineage=False)
        frame = df.copy()
        for c in data_cols:
            if c not in frame.columns:
                frame[c] = None
        con.register("_bl_adapter_df", frame[data_cols + ["_source_row"]])
        try:
            con.execute(
                f"""insert into raw.{table} ({', '.join(data_cols)}, {', '.join(META_COLUMNS)})
                    select {', '.join(data_cols)}, ?, _source_row, {file_id}, ?, current_timestamp::timestamp
                    from _bl_adapter_df""",
                [rel, batch_id],
            ).fetchall()
        finally:
            con.unregister("_bl_adapter_df")
    for rej in read.rejects:
        con.execute(
            "insert into raw.rejected_rows values (?, ?, ?, ?, ?, ?, ?, current_timestamp::timestamp)",
            [kind.name, rel, rej.line, rej.reason, json.dumps(rej.record, default=str), file_id, batch_id],
        ).fetchall()
    if read.rows_read != read.rows_loaded + len(read.rejects):
        raise SourceError(rel, f"adapter accounting mismatch: read {read.rows_read} != loaded "
                               f"{read.rows_loaded} + rejected {len(read.rejects)}")
    res.rows_read, res.rows_loaded, res.rows_rejected = read.rows_read, read.rows_loaded, len(read.rejects)
    res.note = "; ".join(read.notes) or None


def ingest_file(con: duckdb.DuckDBPyConnection, path: Path, kind: str, batch_id: str,
                rel_name: str | None = None, mappings: list | None = None, month: str | None = None) -> FileResult:
    """Load one file of a kind, all or nothing. Never raises for a bad file: see ``status``.

    The file's rows and its record in ``metadata.ingested_files`` are committed together, except
    after a parallel load, whose rows are committed first and numbered in the transaction that
    records the file (:func:`_number_lines`); a failure in between removes them again.

    ``month`` is the run month (YYYY-MM; None: the current month), which bounds the plausible
    window of dates (see :func:`plausible_window`).
    """
    t0 = time.perf_counter()
    rel = rel_name or f"{kind}/{path.name}"
    res = FileResult(kind=kind, file_name=rel, status="failed")
    try:
        mapping = scan = None
        spec = registry.get(kind).spec
        if spec is not None:
            maps = mappings if mappings is not None else load_mappings(path.parent, spec)
            mapping = mapping_for(path, maps)
        if spec is not None and file_format(path, mapping) == "csv":
            scan = csv_scan(path, csv_delimiter(path, mapping))   # the CSV's shape and its sha256, in one pass
            res.sha256 = scan.sha256
        else:
            res.sha256 = file_sha256(path)
        size = path.stat().st_size
        # a file is identified by its name within the kind: it is skipped only when its current
        # version has this very content. A changed file is a new version (even when its content
        # equals another file's, or one of its own earlier versions) and supersedes the current one.
        prev = con.execute(
            "select coalesce(max(version), 0), list(file_id) filter (where status = 'loaded'), "
            "max(file_id) filter (where status = 'loaded' and sha256 = ?) "
            "from metadata.ingested_files where file_name = ?", [res.sha256, rel]).fetchone()
        if prev[2] is not None:
            res.status, res.file_id = "duplicate", int(prev[2])
            res.note = f"unchanged since it was loaded (file_id {prev[2]})"
            res.seconds = time.perf_counter() - t0
            return res
        same = con.execute("select file_name from metadata.ingested_files where sha256 = ? and kind = ? "
                           "and status = 'loaded' and file_name <> ? order by file_id desc limit 1",
                           [res.sha256, kind, rel]).fetchone()
        unrecorded = None      # the raw table holding this file's committed, not yet recorded rows
        first_line = None
        con.execute("begin transaction")
        try:
            file_id = _new_file_id(con)
            res.file_id, res.version = file_id, int(prev[0]) + 1
            if spec is None:
                _load_adapter(con, path, rel, registry.get(kind), file_id, batch_id, res, month)
            else:
                window = plausible_window(spec, month)
                first_line = _load_cheapest_way(con, path, rel, spec, mapping, file_id, batch_id, res, window, scan)
            if same:
                _add_note(res, f"same content as {same[0]}, loaded as a file of its own")
            if first_line is not None:
                # a parallel load: commit the rows, then number them and record the file (see _number_lines)
                con.execute("commit")
                unrecorded = spec.table
                _begin_numbered(con, spec.table, file_id, first_line, lambda: _load_cheapest_way(
                    con, path, rel, spec, mapping, file_id, batch_id, res, window, scan, mode="streamed"))
            res.seconds = time.perf_counter() - t0
            res.superseded = [int(x) for x in (prev[1] or [])]
            _record_file(con, res, batch_id, size)
            con.execute("commit")
        except BaseException:
            _rollback(con)
            if unrecorded:   # the rows were committed, the file was not recorded: remove them
                con.execute(f"delete from raw.{unrecorded} where _file_id = {int(res.file_id)}")
            raise
        res.status = "loaded"
    except SourceError as exc:
        res.error = exc.reason if exc.file.endswith(path.name) else str(exc)
    except duckdb.OutOfMemoryException as exc:
        res.error = _out_of_memory(con, exc)
    except duckdb.Error as exc:
        res.error = f"database error while loading: {str(exc).splitlines()[0]}"
    except OSError as exc:
        res.error = f"cannot read the file: {exc.strerror or exc}"
    except Exception as exc:  # noqa: BLE001 - one odd file must never stop the others
        log.exception("unexpected error ingesting %s", rel)
        res.error = f"unexpected error while loading ({type(exc).__name__}: {exc})"
    if res.status == "failed":
        res.rows_read = res.rows_loaded = res.rows_rejected = 0
    res.seconds = time.perf_counter() - t0
    return res


def drop_unrecorded_rows(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Delete the raw rows of files never recorded in ``metadata.ingested_files``; a warning per file.

    A parallel load commits a file's rows before it numbers them and records the file
    (:func:`_number_lines`); a process stopped in between leaves rows nothing reads (staging reads
    the rows of recorded files only). They are removed before the next load, which loads the file again.
    """
    tables = con.execute(
        "select table_name, coalesce(max(column_name) filter (where column_name in ('_source_file', 'source_file')), "
        "'null') from duckdb_columns() where database_name = current_database() and schema_name = 'raw' "
        "group by table_name having bool_or(column_name = '_file_id') order by table_name").fetchall()
    warnings = []
    for table, name_col in tables:
        found = con.execute(
            f"select _file_id, any_value({name_col}), count(*) from raw.{table} "
            f"where _file_id not in (select file_id from metadata.ingested_files) "
            f"group by _file_id order by _file_id").fetchall()
        if not found:
            continue
        con.execute(f"delete from raw.{table} where _file_id in ({', '.join(str(int(f)) for f, _, _ in found)})")
        warnings += [f"{name}: removed {n:,} row(s) of raw.{table} that a load stopped before it recorded the "
                     f"file (file_id {f}); a file still in the inbox loads again" for f, name, n in found]
    return warnings


def discover_files(inbox: Path) -> tuple[list[tuple[str, Path]], list[str]]:
    """(kind, path) for every loadable file in the inbox, in load order, and warnings for the rest."""
    found: list[tuple[str, Path]] = []
    warnings: list[str] = []
    if not inbox.exists():
        return found, [f"inbox {inbox} does not exist: nothing to ingest"]
    kinds = [k.name for k in registry.inbox_kinds()]
    for entry in sorted(inbox.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_file():
            if entry.name not in IGNORED_FILES:
                warnings.append(f"{entry.name}: files go in a kind folder (inbox/<kind>/), "
                                f"one of {', '.join(kinds)}; skipped")
            continue
        if entry.name not in kinds:
            warnings.append(f"{entry.name}/: unknown kind folder (expected one of "
                            f"{', '.join(kinds)}); skipped")
    for kind in kinds:
        kdir = inbox / kind
        if not kdir.is_dir():
            continue
        for p in sorted(kdir.rglob("*")):
            if not p.is_file() or p.name.startswith(".") or p.name in IGNORED_FILES:
                continue
            if p.suffix.lower() not in FORMATS:
                warnings.append(f"{kind}/{p.relative_to(kdir)}: unsupported file type {p.suffix!r} "
                                "(CSV, Parquet or XLSX); skipped")
                continue
            found.append((kind, p))
    return found, warnings


def ingest_inbox(con: duckdb.DuckDBPyConnection, inbox: str | Path, batch_id: str,
                 progress: Callable[[str], None] | None = None, month: str | None = None) -> IngestReport:
    """Ingest every file under ``inbox/<kind>/``. Per-file failures are in the report
    (call :meth:`IngestReport.raise_for_failures` to stop on them).

    ``month`` is the run month (YYYY-MM, as ``basinlab run`` passes it; None or "" when
    standalone: the current month). Dates after the later of it and the current month
    (plus each kind's lead, see :func:`plausible_window`) are rejected.
    """
    if month:
        config.parse_month(month)
    month = month or None
    inbox = Path(inbox)
    files, warnings = discover_files(inbox)
    warnings += drop_unrecorded_rows(con)
    report = IngestReport(batch_id=batch_id, warnings=warnings)
    mapping_cache: dict[Path, list] = {}
    for i, (kind, path) in enumerate(files, 1):
        rel = str(path.relative_to(inbox))
        maps = None
        spec = registry.get(kind).spec
        if spec is not None:
            try:
                if path.parent not in mapping_cache:
                    mapping_cache[path.parent] = load_mappings(path.parent, spec)
                maps = mapping_cache[path.parent]
            except SourceError as exc:
                report.files.append(FileResult(kind=kind, file_name=rel, status="failed", error=str(exc)))
                continue
        res = ingest_file(con, path, kind, batch_id, rel_name=rel, mappings=maps, month=month)
        report.files.append(res)
        if progress:
            detail = {"loaded": f"{res.rows_loaded:,} rows loaded, {res.rows_rejected:,} rejected",
                      "duplicate": "unchanged, skipped",
                      "failed": f"FAILED: {res.error}"}[res.status]
            progress(f"[{i}/{len(files)}] {rel}: {detail} ({res.seconds:.2f}s)")
    return report


def require_production(con: duckdb.DuckDBPyConnection, inbox: str | Path) -> int:
    """Stop early, with what to do, when the warehouse holds no production at all.

    Returns the number of current production rows. Raises :class:`IngestError`-like
    ``RuntimeError`` naming the inbox when there are none (an empty inbox on a new data dir).
    """
    n = int(con.execute("""select count(*) from raw.well_production p
                           join metadata.ingested_files f on f.file_id = p._file_id and f.status = 'loaded'
                        """).fetchone()[0])
    if n == 0:
        raise NoProductionError(
            f"no production data: the warehouse has none and {Path(inbox)} brought none. Drop files in "
            f"{Path(inbox)}/well_production/ (or a Volve workbook in volve/), or run with --demo")
    return n


class NoProductionError(RuntimeError):
    """The warehouse has no production rows to work on."""


#: SQL turning a reject reason into its category: the first clause without the values
#: ('negative oil_bbl -5.0' -> 'negative oil_bbl'; 'unparseable month in production_month: "2024-13"'
#: -> 'unparseable month in production_month'; 'days_on 45.0 outside 0..30 for 2024-06' -> 'days_on outside the month')
REASON_CATEGORY_SQL = r"""trim(regexp_replace(regexp_replace(regexp_replace(regexp_replace(
        split_part(reason, ';', 1),
        ': "[^"]*"', '', 'g'),
        ' \(.*\)', '', 'g'),
        ' outside [-0-9.]+\.\.[-0-9.]+ for [0-9]{4}-[0-9]{2}', ' outside the month', 'g'),
        ' -?[0-9][0-9.]*', '', 'g'))"""


def rejected_summary(con: duckdb.DuckDBPyConnection, batch_id: str | None = None) -> pd.DataFrame:
    """Rejected rows of current file versions by file and reason category, with the first line and an example."""
    where = "and r._batch_id = ?" if batch_id else ""
    return con.execute(
        f"""select r.source_file, {REASON_CATEGORY_SQL} as reason, count(*) as rows,
                   min(r.source_line) as first_line, arg_min(r.reason, r.source_line) as example
            from raw.rejected_rows r
            join metadata.ingested_files f on f.file_id = r._file_id and f.status = 'loaded'
            where true {where}
            group by all order by rows desc, r.source_file, reason""",
        [batch_id] if batch_id else [],
    ).df()
