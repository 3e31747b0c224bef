"""Incremental models: rebuild only the keys whose raw rows changed since the model's last build.

A model declared ``config: {materialized: incremental, unique_key: [...]}`` in its yml is a table.
Its first build, and every build after its SQL or declaration changed, is a full one
(``create or replace table``). Later builds do work proportional to what changed:

What changed
    The file versions added to or removed from ``staging.stg_current_files`` since the model's
    last build (``metadata.model_files`` holds the set it was built from, with each file's rows in
    the model's raw source: a file whose rows in raw changed without a new version — written by
    hand, restored from a backup — counts as changed too). A new month's files are
    added; a restated file (a new version under the same name) adds the new version and removes the
    one it supersedes; a file whose rows were all rejected is never current. Rows of every other
    file are unchanged, so only the business keys occurring in a changed file can have a different
    winner (``current_rows`` picks the latest current row per key) — restated months far in the
    past included, and keys a restatement dropped.

How it merges (delete+insert)
    The model is rendered with ``is_incremental()`` true: the macro ``current_rows`` keeps only
    the keys found in a changed file (in both the added and the removed versions), recomputed
    from *all* their current rows. Then, in one transaction, the table loses every row that came
    from a removed file (``_file_id``) and every row whose ``unique_key`` is among the recomputed
    ones, and gains the recomputed rows. The result is the same table a full build would make
    (``tests/test_incremental.py`` compares them row by row).

Rules for an incremental model (checked where they can be): it reads raw tables through
``current_rows`` (its upstream is ``raw.*`` and ``staging.stg_current_files`` only), it emits one
row per winning raw row (no filter after the deduplication) and carries ``_file_id``, and its
``unique_key`` is a function of the deduplication key. Small dimensions stay views; marts that
aggregate or run windows over a whole well history stay tables rebuilt in full.

A full rebuild happens when the table is missing (or is a view), when ``metadata.model_state``
has no row for it, when the checksum of its rendered SQL and declaration differs from the one
recorded, or on ``run_models(full_refresh=True)`` (``basinlab run --full-refresh``).
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import duckdb

from . import catalog, partitions, sqlrender

if TYPE_CHECKING:  # pragma: no cover
    from .transform import Model

#: the owner of metadata.model_state / metadata.model_files in sql/catalog/incremental.yml
OWNER = "transform runner"
STATE_TABLE = "metadata.model_state"
FILES_TABLE = "metadata.model_files"
#: the file set a build reads (a model of the project, built before every staging model)
CURRENT_FILES = "staging.stg_current_files"
#: the temp table of the recomputed rows
NEW_ROWS = "_bl_incremental_rows"
#: the lineage column every incremental model carries
FILE_ID = "_file_id"

FULL, INCREMENTAL, UNCHANGED = "full", "incremental", "unchanged"


class IncrementalError(Exception):
    """An incremental model that breaks the rules (no unique key, no ``_file_id``, a model upstream)."""


@dataclass
class Plan:
    """What one build of an incremental model does and why."""

    mode: str                      # full | incremental | unchanged
    reason: str
    checksum: str
    current: dict[int, int]        # the file ids current now -> their rows in the model's raw source(s)
    changed: list[int]             # added, removed or with other rows since the last build (incremental only)


@dataclass
class Outcome:
    mode: str
    rows_merged: int
    row_count: int


def checksum(model: Model) -> str:
    """SHA-256 of what builds ``model``: its rendered SQL (macros and constants included), both
    renders' difference (the incremental filter), its yml config and its declared columns."""
    payload = {
        "sql": model.sql,
        "incremental_sql": render_incremental(model),
        "unique_key": model.unique_key,
        "partition": [model.strategy, model.partition_by, model.partitions],
        "columns": [{k: v for k, v in c.items() if k in ("name", "data_type")} for c in model.columns],
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def render_incremental(model: Model) -> str:
    """The model's SQL with ``is_incremental()`` true."""
    try:
        return sqlrender.render(model.raw_sql, model.path, model.path.parent.parent, incremental=True,
                                this=model.relation)
    except sqlrender.RenderError as exc:
        raise IncrementalError(str(exc)) from None


def check_model(model: Model, model_relations: set[str]) -> None:
    """Refuse an incremental model that cannot be merged soundly (named, with the reason)."""
    where = f"model {model.name} ({model.path})"
    if not model.unique_key:
        raise IncrementalError(f"{where}: materialized incremental needs config.unique_key (a list of columns)")
    ups = [d for d in model.depends_on if d in model_relations and d != CURRENT_FILES]
    if ups:
        raise IncrementalError(f"{where}: an incremental model reads raw tables through current_rows; "
                               f"it reads the model(s) {', '.join(ups)}")
    names = [str(c.get("name")) for c in model.columns]
    if names and FILE_ID not in names:
        raise IncrementalError(f"{where}: an incremental model carries {FILE_ID} (lineage_columns())")
    missing = [k for k in model.unique_key if names and k not in names]
    if missing:
        raise IncrementalError(f"{where}: unique_key column(s) {', '.join(missing)} are not declared")


def ensure_state(con) -> None:
    catalog.ensure_tables(con, OWNER)


def _recorded(con, model: str) -> tuple[str | None, dict[int, int]]:
    row = con.execute(f"select checksum_sha256 from {STATE_TABLE} where model = ?", [model]).fetchall()
    files = con.execute(f"select file_id, row_count from {FILES_TABLE} where model = ?", [model]).fetchall()
    return (row[0][0] if row else None), {int(r[0]): int(r[1] or 0) for r in files}


def _current(con, model: Model) -> dict[int, int]:
    """The current file ids and their rows in the model's raw source(s): a file whose rows in raw
    changed without a new version (written by hand, restored) counts as changed too."""
    raws = [d for d in model.depends_on if d.startswith("raw.")]
    counts = " union all ".join(f"select _file_id, count(*) as n from {r} group by _file_id" for r in raws)
    sql = (f"select f.file_id, coalesce(sum(c.n), 0) from {CURRENT_FILES} as f "
           + (f"left join ({counts}) as c on c._file_id = f.file_id " if raws else "")
           + "group by f.file_id order by f.file_id")
    return {int(f): int(n) for f, n in con.execute(sql).fetchall()}


def plan(con, model: Model, kind_now: str | None, full_refresh: bool) -> Plan:
    """Decide how to build ``model``: full (and why), incremental (which files), or unchanged."""
    digest = checksum(model)
    current = _current(con, model)
    recorded, files_then = _recorded(con, model.name)
    reason = ""
    if full_refresh:
        reason = "full refresh requested"
    elif kind_now != "table":
        reason = "no table yet" if kind_now is None else f"was a {kind_now}"
    elif recorded is None:
        reason = "no incremental state recorded"
    elif recorded != digest:
        reason = "its SQL or declaration changed"
    if reason:
        return Plan(FULL, reason, digest, current, [])
    changed = sorted(f for f in set(current) | set(files_then) if current.get(f) != files_then.get(f))
    if not changed:
        return Plan(UNCHANGED, "no file changed", digest, current, [])
    return Plan(INCREMENTAL, f"{len(changed)} file version(s) added, removed or changed in raw", digest, current,
                changed)


def merge(con, model: Model, p: Plan, run_id: str) -> int:
    """Delete+insert the rows of the keys in ``p.changed``'s files; returns the rows inserted.

    A model with ``partition_by`` logs the months of the rows deleted and inserted
    (:func:`basinlab.partitions.log_changes`). Runs in the caller's transaction (see :func:`build`)."""
    con.execute(f"create or replace temp table {sqlrender.CHANGED_FILES} as "
                "select unnest(?::bigint[]) as file_id", [p.changed])
    body = render_incremental(model).strip().rstrip(";")
    con.execute(f"create or replace temp table {NEW_ROWS} as\n{body}\n")
    match = " and ".join(f"t.{k} is not distinct from n.{k}" for k in model.unique_key)
    by_file = f"{FILE_ID} in (select file_id from {sqlrender.CHANGED_FILES})"
    by_key = f"exists (select 1 from {NEW_ROWS} as n where {match})"
    if model.partition_by:   # the months of the rows going and coming, for the models downstream
        col = model.partition_by
        months = (partitions.months_of(con, model.relation, col, by_file)
                  | partitions.months_of(con, f"{model.relation} as t", f"t.{col}", by_key)
                  | partitions.months_of(con, NEW_ROWS, col))
    con.execute(f"delete from {model.relation} where {by_file}")
    con.execute(f"delete from {model.relation} as t where {by_key}")
    con.execute(f"insert into {model.relation} by name select * from {NEW_ROWS}")
    n = con.execute(f"select count(*) from {NEW_ROWS}").fetchone()[0]
    con.execute(f"drop table if exists {NEW_ROWS}")
    con.execute(f"drop table if exists {sqlrender.CHANGED_FILES}")
    if model.partition_by:
        partitions.log_changes(con, model, months, run_id)
    return int(n)


def record(con, model: Model, p: Plan, outcome: Outcome, run_id: str) -> None:
    """Write the model's state after a successful build (same transaction as the build)."""
    con.execute(f"delete from {STATE_TABLE} where model = ?", [model.name])
    row: dict[str, Any] = {
        "model": model.name, "checksum_sha256": p.checksum, "mode": outcome.mode, "reason": p.reason,
        "files_changed": len(p.changed), "rows_merged": outcome.rows_merged, "row_count": outcome.row_count,
        "run_id": run_id, "built_at": datetime.now(),
    }
    con.execute(catalog.insert_sql(STATE_TABLE, list(row)), list(row.values()))
    con.execute(f"delete from {FILES_TABLE} where model = ?", [model.name])
    if p.current:
        con.execute(f"insert into {FILES_TABLE} (model, file_id, row_count) "
                    "select ?, unnest(?::bigint[]), unnest(?::bigint[])",
                    [model.name, list(p.current), list(p.current.values())])


def _create_table(con, model: Model, kind_now: str | None) -> None:
    """``create or replace table`` the model in full (dropping the view it was before)."""
    if kind_now == "view":
        con.execute(f"drop view if exists {model.relation} cascade")
    con.execute(f"create or replace table {model.relation} as\n{model.sql.strip().rstrip(';')}\n")


def _create_full(con, model: Model, kind_now: str | None, run_id: str) -> None:
    _create_table(con, model, kind_now)
    if model.partition_by:
        partitions.log_changes(con, model, None, run_id)


def build(con, model: Model, kind_now: str | None, full_refresh: bool, run_id: str) -> tuple[Plan, Outcome]:
    """Build an incremental model (full, merged or left as it is) and record its state, atomically."""
    p = plan(con, model, kind_now, full_refresh)
    with _transaction(con):
        if p.mode == FULL:
            _create_full(con, model, kind_now, run_id)
        n_rows = con.execute(f"select count(*) from {model.relation}").fetchone()[0]
        merged = merge(con, model, p, run_id) if p.mode == INCREMENTAL else (n_rows if p.mode == FULL else 0)
        if p.mode == INCREMENTAL:
            n_rows = con.execute(f"select count(*) from {model.relation}").fetchone()[0]
        out = Outcome(p.mode, int(merged), int(n_rows))
        record(con, model, p, out, run_id)
    return p, out


def build_overwrite(con, model: Model, kind_now: str | None, full_refresh: bool,
                    run_id: str) -> tuple[partitions.Plan, Outcome]:
    """Build an insert_overwrite model (full, by month or left as it is), log the months it changed
    and record its state and inputs, atomically (:mod:`basinlab.partitions`)."""
    p = partitions.plan(con, model, kind_now, full_refresh, checksum(model))
    with _transaction(con):
        merged = 0
        if p.mode == partitions.FULL:
            _create_full(con, model, kind_now, run_id)
        elif p.mode == partitions.INCREMENTAL:
            merged, touched = partitions.overwrite(con, model, p, render_incremental(model))
            partitions.log_changes(con, model, touched, run_id)
        n_rows = int(con.execute(f"select count(*) from {model.relation}").fetchone()[0])
        out = Outcome(p.mode, n_rows if p.mode == partitions.FULL else merged, n_rows)
        partitions.record(con, model, p, out.rows_merged, n_rows, run_id)
    return p, out


def build_logged_table(con, model: Model, kind_now: str | None, run_id: str) -> set | None:
    """Rebuild a (small) table that declares ``partition_by`` and log the months whose rows changed,
    found by comparing each month's fingerprint before and after; atomically. Returns the months
    (None: all)."""
    with _transaction(con):
        before = partitions.month_fingerprints(con, model.relation, model.partition_by) \
            if kind_now == "table" else None
        _create_table(con, model, kind_now)
        months = partitions.changed_months(before, partitions.month_fingerprints(con, model.relation,
                                                                                 model.partition_by))
        partitions.log_changes(con, model, months, run_id)
    return months


@contextlib.contextmanager
def _transaction(con) -> Iterator[None]:
    """One transaction around a build, committed when it succeeds and rolled back when anything
    raises — unless the caller holds one (then the caller's commit or rollback covers the build)."""
    try:
        con.execute("begin transaction")
        own = True
    except duckdb.TransactionException:
        own = False
    try:
        yield
    except BaseException:
        if own:
            con.execute("rollback")
        raise
    if own:
        con.execute("commit")


@dataclass(frozen=True)
class Contents:
    """An order-independent summary of a table's rows (:func:`table_checksums`)."""

    rows: int
    checksum: int                          # sum of the hashes of the rows' exact (non-double) columns
    sums: dict[str, tuple[float, float]]   # double column -> (sum, sum of squares)

    def differences(self, other: Contents, rtol: float = 1e-9) -> list[str]:
        """What differs from ``other``, in words (doubles within ``rtol`` count as equal: sums over
        differently ordered rows differ in their last bits)."""
        out = []
        if self.rows != other.rows:
            out.append(f"{self.rows} rows vs {other.rows}")
        if self.checksum != other.checksum:
            out.append("the rows' exact columns differ")
        for col, (a, a2) in self.sums.items():
            b, b2 = other.sums.get(col, (None, None))
            if b is None or not (math.isclose(a, b, rel_tol=rtol, abs_tol=1e-6)
                                 and math.isclose(a2, b2, rel_tol=rtol, abs_tol=1e-6)):
                out.append(f"{col}: sum {a!r} vs {b!r}")
        return out


def table_checksums(con, schemas: tuple[str, ...] = ("staging", "marts")) -> dict[str, Contents]:
    """``{relation: Contents}`` of every table and view of ``schemas``: row count, an order-independent
    checksum of every row's exact columns and the sums of its doubles — what an incremental build
    and a full refresh must agree on."""
    cols: dict[str, list[tuple[str, bool]]] = {}
    for schema, table, column, dtype in con.execute(
            "select table_schema, table_name, column_name, data_type from information_schema.columns "
            "where table_catalog = current_database() and table_schema in (select unnest(?::varchar[])) "
            "order by table_schema, table_name, ordinal_position", [list(schemas)]).fetchall():
        cols.setdefault(f"{schema}.{table}", []).append((column, dtype in ("DOUBLE", "FLOAT")))
    out: dict[str, Contents] = {}
    for rel, spec in cols.items():
        exact = [f'"{c}"' for c, dbl in spec if not dbl] or ["1"]
        doubles = [c for c, dbl in spec if dbl]
        sums = "".join(f', coalesce(sum(case when isfinite("{c}") then "{c}" end), 0), '
                       f'coalesce(sum(case when isfinite("{c}") then "{c}" * "{c}" end), 0)' for c in doubles)
        row = con.execute(f"select count(*), coalesce(sum(hash({', '.join(exact)})::hugeint), 0){sums} "
                          f"from {rel}").fetchone()
        out[rel] = Contents(int(row[0]), int(row[1]),
                            {c: (float(row[2 + 2 * i]), float(row[3 + 2 * i])) for i, c in enumerate(doubles)})
    return out


__all__ = ["CURRENT_FILES", "Contents", "FILES_TABLE", "FULL", "INCREMENTAL", "IncrementalError", "OWNER", "Outcome",
           "Plan", "STATE_TABLE", "UNCHANGED", "build", "build_logged_table", "build_overwrite", "check_model",
           "checksum", "ensure_state", "merge", "plan", "record", "render_incremental", "table_checksums"]
