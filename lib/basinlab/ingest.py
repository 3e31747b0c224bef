"""Ingestion: files dropped in ``<data-dir>/inbox/<kind>/`` land in ``raw.*``.

Guarantees, per file:

* **Idempotent.** A file is identified by its sha256 in ``metadata.ingested_files``;
  the same content again loads nothing. A changed file under the same name is
  loaded as a new version and the rows of the version it replaces are
  superseded (status ``superseded``), not deleted.
* **Nothing silently dropped.** Every row is either loaded into its raw table
  or written to ``raw.rejected_rows`` with its file, line and reason:
  ``rows_read = rows_loaded + rows_rejected``, recorded per file.
* **All or nothing.** A file that cannot be parsed at all (wrong format,
  missing required columns, a bad ``mapping.yml``) loads nothing and fails
  the step with a message naming the file and the reason.

Validation runs inside DuckDB (``try_cast`` and row rules over the whole file
at once), so checking costs little over a bare ``read_csv``.
"""
from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import duckdb
import pandas as pd

from . import config
from .sources import canonical
from .sources.base import SourceError, SourceRead
from .sources.canonical import DATE, INTEGER, MONEY, MONTH, NUMBER, TEXT, KindSpec
from .sources.files import FORMATS, MAPPING_FILE, StagedFile, load_mappings, mapping_for, stage_file

log = logging.getLogger(__name__)

META_COLUMNS = ("_source_file", "_source_row", "_file_id", "_batch_id", "_ingested_at")
IGNORED_FILES = {MAPPING_FILE, "README.md", "README.txt", ".gitkeep"}


class IngestError(Exception):
    """One or more files could not be ingested; the message names each file and reason."""

    def __init__(self, failures: list["FileResult"]):
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


def _typed_expr(ctype: str, t: str) -> str:
    """SQL turning the text ``t`` into the column type (NULL when it does not parse)."""
    if ctype == TEXT:
        return t
    if ctype == NUMBER:
        return f"try_cast({t} as double)"
    if ctype == INTEGER:
        return f"try_cast(try_cast({t} as double) as integer)"
    if ctype == MONEY:
        return f"try_cast({t} as decimal(18, 2))"
    if ctype == MONTH:
        return (f"date_trunc('month', coalesce(try_strptime({t}, '%Y-%m'), try_cast({t} as timestamp), "
                f"try_strptime({t}, '%Y/%m'), try_strptime({t}, '%m/%d/%Y')))::date")
    if ctype == DATE:
        return (f"coalesce(try_cast({t} as date), try_cast(try_cast({t} as timestamp) as date), "
                f"try_cast(try_strptime({t}, '%m/%d/%Y') as date))")
    raise ValueError(ctype)


_TYPE_WORDS = {NUMBER: "number", INTEGER: "integer", MONEY: "amount", MONTH: "month", DATE: "date"}


def _any_true(conditions: list[str]) -> str:
    """TRUE when any condition is TRUE (NULL counts as not), never NULL."""
    return f"coalesce({' or '.join(f'({c})' for c in conditions)}, false)" if conditions else "false"


def _reasons(problems: list[tuple[str, str]]) -> str:
    """The '; '-joined reasons of the problems whose condition is TRUE ('' when none)."""
    if not problems:
        return "''"
    return "concat_ws('; ', " + ", ".join(f"case when {c} then {r} end" for c, r in problems) + ")"


def _validation_sql(spec: KindSpec, raw_table: str, text_exprs: dict[str, str], factors: dict[str, float],
                    rates: str | None, rid_expr: str = "rowid") -> str:
    """SELECT over the staged file: per source row ``_rid`` (``rid_expr``, the 0-based row index),
    the canonical typed columns, ``_bad`` (the row is rejected), ``_reason`` (why; NULL if loaded)
    and ``_rec`` (the staged row as received, a struct).

    Every step selects from one relation, without join, aggregate or ORDER BY,
    so rows come out in the staged (file) order.
    """
    names = spec.names
    typed_cols = [c for c in spec.columns if c.type != TEXT]
    received, first, texts, typed, problems = [], [], [], [], []
    for c in spec.columns:
        raw = f'"{c.name}__raw"'
        received.append(f"{text_exprs.get(c.name, 'cast(null as varchar)')} as {raw}")
        if c.type == TEXT:
            texts.append(f"nullif(trim({raw}), '') as {c.name}")
            if c.required:
                problems.append((f"{c.name} is null", f"'missing {c.name}'"))
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
                         f"'unparseable {_TYPE_WORDS[c.type]} in {c.name}: \"' || left({c.name}__t, 40) || '\"'"))
    conv = list(names)
    if rates:
        days = "days_on" if rates == "producing_day" else "day(last_day(production_month))"
        for vol in ("oil_bbl", "gas_mcf", "water_bbl"):
            conv[conv.index(vol)] = f"{vol} * {days} as {vol}"
        if rates == "producing_day":  # judged on the rates, before they are multiplied out
            problems.append(("days_on is null and (oil_bbl is not null or gas_mcf is not null "
                             "or water_bbl is not null)", "'daily rates given but days_on missing'"))
    rules = [(r.sql, r.reason_sql) for r in spec.rules]
    text_only = [c.name for c in spec.columns if c.type == TEXT]
    t_cols = [f"{c.name}__t" for c in typed_cols]
    return f"""
        with received as (   -- each canonical column's text, as received
            select {rid_expr} as _rid, {', '.join(received)}, _bl_row as _rec from {raw_table} _bl_row
        ),
        first_try as (       -- typed values parsed from that text
            select *{''.join(', ' + f for f in first)} from received
        ),
        texts as (           -- text columns; the trimmed text of values the first try could not parse
            select _rid, _rec, {', '.join([f"{c.name}__1" for c in typed_cols] + texts)} from first_try
        ),
        typed as (           -- typed values: the first try, else the trimmed text parsed
            select _rid, _rec, {', '.join(text_only + typed + t_cols)} from texts
        ),
        parsed as (          -- missing and unparseable values
            select *, {_any_true([c for c, _ in problems])} as _parse_bad from typed
        ),
        parse_reasons as (
            select _rid, _rec, {', '.join(names)}, _parse_bad,
                   case when _parse_bad then {_reasons(problems)} end as _parse_reason
            from parsed
        ),
        converted as (       -- canonical units; the row rules apply to these values
            select _rid, _rec, {', '.join(conv)}, _parse_bad, _parse_reason from parse_reasons
        ),
        checked as (
            select *, _parse_bad or {_any_true([c for c, _ in rules])} as _bad from converted
        )
        select _rid, {', '.join(names)}, _bad,
               case when _bad then coalesce(nullif(concat_ws('; ', _parse_reason, nullif({_reasons(rules)}, '')), ''),
                                            'rejected by a row rule') end as _reason,
               _rec
        from checked
    """


# --------------------------------------------------------------------------- per file


def _new_file_id(con: duckdb.DuckDBPyConnection) -> int:
    return int(con.execute("select nextval('metadata.ingested_files_seq')").fetchone()[0])


def _record_file(con, res: FileResult, batch_id: str, size: int) -> None:
    con.execute(
        "update metadata.ingested_files set status = 'superseded', superseded_by = ? "
        "where file_name = ? and status = 'loaded'",
        [res.file_id, res.file_name],
    )
    con.execute(
        """insert into metadata.ingested_files
           (file_id, kind, file_name, sha256, size_bytes, version, status, superseded_by,
            rows_read, rows_loaded, rows_rejected, batch_id, ingested_at, seconds)
           values (?, ?, ?, ?, ?, ?, 'loaded', null, ?, ?, ?, ?, current_timestamp::timestamp, ?)""",
        [res.file_id, res.kind, res.file_name, res.sha256, size, res.version, res.rows_read,
         res.rows_loaded, res.rows_rejected, batch_id, res.seconds],
    )


def _row_index(staged: StagedFile) -> tuple[str, str]:
    """SQL for the 0-based row index of a staged row, and the ORDER BY an insert then needs.

    The staged table's rowids follow the file order (DuckDB documents rowid as
    the materialised form of the original row order). When they are also dense
    (checked at staging) the index is a subtraction and no sort is needed: a
    single-table scan keeps its order through SELECT and WHERE (DuckDB's
    "Order Preservation" page), and with ``preserve_insertion_order`` an
    INSERT stores the rows in that order (tests/test_ingest.py checks it across
    row groups). Otherwise the rows are numbered by a window over rowid, whose
    output order is not guaranteed, so the inserts sort on the index.
    """
    if staged.rowids_dense:
        return f"rowid - {staged.first_rowid}", ""
    return "row_number() over (order by rowid) - 1", "order by _rid"


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


def _load_sql_validated(con, path: Path, rel: str, spec: KindSpec, mappings, file_id: int, batch_id: str,
                        res: FileResult) -> None:
    with _insertion_order_kept(con):
        _load_staged(con, path, rel, spec, mappings, file_id, batch_id, res)


def _load_staged(con, path: Path, rel: str, spec: KindSpec, mappings, file_id: int, batch_id: str,
                 res: FileResult) -> None:
    staged = stage_file(con, path, spec, mapping_for(path, mappings))
    rid, order_by = _row_index(staged)
    validated = _validation_sql(spec, staged.raw_table, staged.text_exprs, staged.factors, staged.rates, rid)
    cols = ", ".join(spec.names)
    # the load: straight from the validation into the raw table, no intermediate table.
    # current_timestamp is the transaction's start: one value for every row of the file.
    loaded = con.execute(
        f"""insert into raw.{spec.table} ({cols}, {', '.join(META_COLUMNS)})
            select {cols}, $file, _rid + {staged.line_offset}, {file_id}, $batch, current_timestamp::timestamp
            from ({validated}) where not _bad {order_by}""",
        {"file": rel, "batch": batch_id},
    ).fetchone()[0]
    rejected = 0
    if loaded < staged.rows_read:
        # the rejects: the same validation, the other side of the partition; only these rows
        # build their reasons and the JSON of the row as received
        rejected = con.execute(
            f"""insert into raw.rejected_rows
                select $kind, $file, _rid + {staged.line_offset}, _reason, to_json(_rec)::varchar,
                       {file_id}, $batch, current_timestamp::timestamp
                from ({validated}) where _bad {order_by}""",
            {"kind": spec.kind, "file": rel, "batch": batch_id},
        ).fetchone()[0]
    if loaded + rejected != staged.rows_read:  # pragma: no cover - the filters are complementary
        raise SourceError(rel, f"accounting mismatch: read {staged.rows_read} != loaded {loaded} "
                               f"+ rejected {rejected}")
    res.rows_read, res.rows_loaded, res.rows_rejected = staged.rows_read, int(loaded), int(rejected)
    con.execute(f"drop table if exists {staged.raw_table}")


def _load_adapter(con, path: Path, rel: str, kind: str, file_id: int, batch_id: str, res: FileResult) -> None:
    if kind == "volve":
        from .sources.volve import read_volve

        read: SourceRead = read_volve(path)
    else:  # pragma: no cover - guarded by the caller
        raise SourceError(rel, f"no adapter for kind {kind}")
    for table, df in read.tables.items():
        if df is None or df.empty:
            continue
        target_cols = [r[0] for r in con.execute(
            "select column_name from information_schema.columns where table_schema = 'raw' and table_name = ? "
            "order by ordinal_position", [table]).fetchall()]
        if not target_cols:
            raise SourceError(rel, f"adapter produced unknown raw table {table!r}")
        data_cols = [c for c in target_cols if c not in META_COLUMNS]
        missing = [c for c in data_cols if c not in df.columns]
        frame = df.copy()
        for c in missing:
            frame[c] = None
        con.register("_bl_adapter_df", frame[data_cols + ["_source_row"]])
        try:
            con.execute(
                f"""insert into raw.{table} ({', '.join(data_cols)}, {', '.join(META_COLUMNS)})
                    select {', '.join(data_cols)}, ?, _source_row, {file_id}, ?, current_timestamp::timestamp
                    from _bl_adapter_df""",
                [rel, batch_id],
            )
        finally:
            con.unregister("_bl_adapter_df")
    for rej in read.rejects:
        con.execute(
            "insert into raw.rejected_rows values (?, ?, ?, ?, ?, ?, ?, current_timestamp::timestamp)",
            [kind, rel, rej.line, rej.reason, json.dumps(rej.record, default=str), file_id, batch_id],
        )
    if read.rows_read != read.rows_loaded + len(read.rejects):
        raise SourceError(rel, f"adapter accounting mismatch: read {read.rows_read} != loaded "
                               f"{read.rows_loaded} + rejected {len(read.rejects)}")
    res.rows_read, res.rows_loaded, res.rows_rejected = read.rows_read, read.rows_loaded, len(read.rejects)
    res.note = "; ".join(read.notes) or None


def ingest_file(con: duckdb.DuckDBPyConnection, path: Path, kind: str, batch_id: str,
                rel_name: str | None = None, mappings: list | None = None) -> FileResult:
    """Load one file of a kind, in its own transaction. Never raises for a bad file: see ``status``."""
    t0 = time.perf_counter()
    rel = rel_name or f"{kind}/{path.name}"
    res = FileResult(kind=kind, file_name=rel, status="failed")
    try:
        res.sha256 = file_sha256(path)
        size = path.stat().st_size
        # the same content is already current (under this or another name): nothing new to load.
        # Content seen only in superseded versions is loaded again: a file put back to an earlier
        # version must win over the version it replaced.
        seen = con.execute(
            "select file_id, file_name, status from metadata.ingested_files where sha256 = ? and kind = ? "
            "and status = 'loaded' order by file_id desc limit 1", [res.sha256, kind]).fetchone()
        if seen:
            res.status, res.file_id = "duplicate", int(seen[0])
            res.note = f"same content already ingested as {seen[1]} (file_id {seen[0]}, {seen[2]})"
            res.seconds = time.perf_counter() - t0
            return res
        prev = con.execute("select coalesce(max(version), 0), list(file_id) filter (where status = 'loaded') "
                           "from metadata.ingested_files where file_name = ?", [rel]).fetchone()
        con.execute("begin transaction")
        try:
            file_id = _new_file_id(con)
            res.file_id, res.version = file_id, int(prev[0]) + 1
            if kind in canonical.ADAPTER_KINDS:
                _load_adapter(con, path, rel, kind, file_id, batch_id, res)
            else:
                spec = canonical.KINDS[kind]
                maps = mappings if mappings is not None else load_mappings(path.parent, spec)
                _load_sql_validated(con, path, rel, spec, maps, file_id, batch_id, res)
            res.seconds = time.perf_counter() - t0
            res.superseded = [int(x) for x in (prev[1] or [])]
            _record_file(con, res, batch_id, size)
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise
        res.status = "loaded"
    except SourceError as exc:
        res.error = exc.reason if exc.file.endswith(path.name) else str(exc)
        res.rows_read = res.rows_loaded = res.rows_rejected = 0
    except duckdb.Error as exc:
        res.error = f"database error while loading: {str(exc).splitlines()[0]}"
        res.rows_read = res.rows_loaded = res.rows_rejected = 0
    res.seconds = time.perf_counter() - t0
    return res


def discover_files(inbox: Path) -> tuple[list[tuple[str, Path]], list[str]]:
    """(kind, path) for every loadable file in the inbox, in load order, and warnings for the rest."""
    found: list[tuple[str, Path]] = []
    warnings: list[str] = []
    if not inbox.exists():
        return found, [f"inbox {inbox} does not exist: nothing to ingest"]
    for entry in sorted(inbox.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_file():
            if entry.name not in IGNORED_FILES:
                warnings.append(f"{entry.name}: files go in a kind folder (inbox/<kind>/), "
                                f"one of {', '.join(config.SOURCE_KINDS)}; skipped")
            continue
        if entry.name not in config.SOURCE_KINDS:
            warnings.append(f"{entry.name}/: unknown kind folder (expected one of "
                            f"{', '.join(config.SOURCE_KINDS)}); skipped")
    for kind in canonical.KIND_ORDER:
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
                 progress: Callable[[str], None] | None = None) -> IngestReport:
    """Ingest every file under ``inbox/<kind>/``. Per-file failures are in the report
    (call :meth:`IngestReport.raise_for_failures` to stop on them)."""
    inbox = Path(inbox)
    files, warnings = discover_files(inbox)
    report = IngestReport(batch_id=batch_id, warnings=warnings)
    mapping_cache: dict[Path, list] = {}
    for i, (kind, path) in enumerate(files, 1):
        rel = str(path.relative_to(inbox))
        maps = None
        if kind not in canonical.ADAPTER_KINDS:
            try:
                if path.parent not in mapping_cache:
                    mapping_cache[path.parent] = load_mappings(path.parent, canonical.KINDS[kind])
                maps = mapping_cache[path.parent]
            except SourceError as exc:
                report.files.append(FileResult(kind=kind, file_name=rel, status="failed", error=str(exc)))
                continue
        res = ingest_file(con, path, kind, batch_id, rel_name=rel, mappings=maps)
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
