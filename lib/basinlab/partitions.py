"""Month partitions: marts rebuilt only for the calendar months whose inputs changed.

A model declares the column that holds each row's calendar month in its yml
(``config: {partition_by: production_month}``). Every build of such a model writes the months it
changed to ``metadata.model_changes`` under a build number (one more than the model's last):

* an incremental staging table (delete+insert, :mod:`basinlab.incremental`): the months of the rows
  it deleted and of the rows it inserted;
* a small table rebuilt on every run (``int_price_fx_monthly``): the months whose rows differ from
  the table before, found by comparing a hash of each month's rows;
* a mart declared ``incremental_strategy: insert_overwrite`` (below): the months it replaced;
* any full build: one row with ``all_months`` true (everything may have changed).

An ``insert_overwrite`` model (``config: {materialized: incremental, incremental_strategy:
insert_overwrite, partition_by: month}``) rebuilds only those months. At each build it records in
``metadata.model_inputs`` what it read: for every partitioned upstream the build number it caught
up to, for every other upstream (a dimension view such as ``stg_well_header``, the settings, the
oil differentials) a fingerprint of its whole contents. Its next build:

Full (``create or replace table``)
    when the table is missing, its SQL or declaration changed (checksum), no record exists, an
    unpartitioned upstream's fingerprint differs (a setting changed, an oil differential edited),
    a partitioned upstream was rebuilt in full since (or its change log lost entries), or on
    ``full_refresh``.
Keyed upstreams
    an unpartitioned upstream model with a one-column ``unique_key`` (``stg_well_header``:
    ``well_id``) whose fingerprint differs does not force a full build: the keys whose rows changed
    (per-key hashes in ``metadata.model_input_keys``) give the months to rebuild — those in which
    the model's partitioned inputs that carry the key column have rows of those keys (the model
    joins the keyed upstream to those rows only; prices and FX are not per well). A well added to
    the header rebuilds the months it produced in; a well's working interest edited, every month
    of that well.
Unchanged
    when no upstream logged a change since the build numbers it caught up to.
Months (``partitions: changed``, the default)
    the model is rendered with ``is_incremental()`` true and reads only the changed months
    (macro ``in_changed_months(column)``); in one transaction the table loses the rows of those
    months and gains the recomputed rows. Right for a model whose rows of a month depend only on
    its inputs' rows of that month (aggregates per month and well, field or basin).
From the first changed month (``partitions: from_first_changed``)
    for running totals and trailing windows per well, where a month depends on the months before
    it: every month from the earliest changed one on is rebuilt (``from_first_changed_month``),
    the model carrying what it needs from its own rows before that month (``{{ this }}``), or
    reading a declared number of months back for a trailing window. A restated month five years
    back rebuilds five years; a new month rebuilds one.

The result is the table a full build makes (``tests/test_incremental.py`` compares every table of
an incremental run with a full refresh of the same inputs, under restated months, new and dropped
wells, moved GL lines, restated prices and FX rates, edited headers and settings).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from . import catalog, sqlrender, warehouse

if TYPE_CHECKING:  # pragma: no cover
    from .transform import Model

CHANGES_TABLE = "metadata.model_changes"
INPUTS_TABLE = "metadata.model_inputs"
INPUT_KEYS_TABLE = "metadata.model_input_keys"
#: the temp table of the keys of a keyed upstream whose rows changed
CHANGED_KEYS = "_bl_changed_keys"
STATE_TABLE = "metadata.model_state"
#: the temp table of the months an insert_overwrite render reads (sqlrender.CHANGED_MONTHS)
CHANGED_MONTHS = sqlrender.CHANGED_MONTHS
#: the temp table of the recomputed rows
NEW_ROWS = "_bl_partition_rows"
#: config values
OVERWRITE = "insert_overwrite"
CHANGED, FROM_FIRST = "changed", "from_first_changed"
PARTITIONS = (CHANGED, FROM_FIRST)
FULL, INCREMENTAL, UNCHANGED = "full", "incremental", "unchanged"


class PartitionError(Exception):
    """A partitioned model declared in a way that cannot be rebuilt by month (named, with the reason)."""


@dataclass
class Plan:
    """What one build of an insert_overwrite model does and why."""

    mode: str                                  # full | incremental | unchanged
    reason: str
    checksum: str
    months: list[date] = field(default_factory=list)   # the upstream months changed (incremental)
    inputs: dict[str, dict[str, Any]] = field(default_factory=dict)   # upstream -> what was read
    rekey: set[str] = field(default_factory=set)   # keyed upstreams whose per-key hashes to record anew


# --------------------------------------------------------------------------- declaration


def check_model(model: Model, partitioned: set[str]) -> None:
    """Refuse a partition declaration that cannot work, naming the model, its file and the reason."""
    where = f"model {model.name} ({model.path})"
    names = [str(c.get("name")) for c in model.columns]
    if model.strategy not in ("", OVERWRITE):
        raise PartitionError(f"{where}: incremental_strategy must be {OVERWRITE} (or left out for delete+insert "
                             f"by unique_key), got {model.strategy!r}")
    if model.strategy and model.materialization != "incremental":
        raise PartitionError(f"{where}: incremental_strategy needs materialized: incremental")
    if model.partition_by and model.materialization == "view":
        raise PartitionError(f"{where}: a view has no partitions to log (partition_by needs a table)")
    if model.partition_by and names and model.partition_by not in names:
        raise PartitionError(f"{where}: partition_by column {model.partition_by} is not declared")
    if model.strategy != OVERWRITE:
        return
    if not model.partition_by:
        raise PartitionError(f"{where}: incremental_strategy insert_overwrite needs config.partition_by "
                             "(the column holding each row's month)")
    if model.partitions not in PARTITIONS:
        raise PartitionError(f"{where}: partitions must be one of {', '.join(PARTITIONS)}, got {model.partitions!r}")
    if not any(d in partitioned for d in model.depends_on):
        raise PartitionError(f"{where}: insert_overwrite reads no partitioned model, so no month could "
                             "ever be found changed (declare partition_by on an upstream model)")


# --------------------------------------------------------------------------- change log


def last_build(con, model: str) -> int | None:
    """The build number of ``model``'s last logged change (None when it never logged one)."""
    row = con.execute(f"select max(build_number) from {CHANGES_TABLE} where model = ?", [model]).fetchall()
    return None if row[0][0] is None else int(row[0][0])


def log_changes(con, model: Model, months: set[date] | None, run_id: str) -> int | None:
    """Log that a build of ``model`` changed ``months`` (None: every month, a full build).

    Nothing is logged for no months. A full build drops the model's older entries (no reader needs
    to go back past it). A model without any entry (its log lost) logs every month, numbered past
    any build a reader recorded: what changed before cannot be known, and a reader must not take
    the new build for one it has seen. Returns the new build number (None when nothing was logged)."""
    if months is not None and not months:
        return None
    name = model.name
    last = last_build(con, name)
    if last is None:
        months = None
        read = con.execute(f"select max(build_number) from {INPUTS_TABLE} where input = ?",
                           [model.relation]).fetchall()[0][0]
        last = int(read or 0)
    n = last + 1
    now = datetime.now()
    if months is None:
        con.execute(f"delete from {CHANGES_TABLE} where model = ?", [name])
        con.execute(f"insert into {CHANGES_TABLE} (model, build_number, month, all_months, run_id, logged_at) "
                    "values (?, ?, null, true, ?, ?)", [name, n, run_id, now])
        return n
    con.execute(f"insert into {CHANGES_TABLE} (model, build_number, month, all_months, run_id, logged_at) "
                "select ?, ?, unnest(?::date[]), false, ?, ?", [name, n, sorted(months), run_id, now])
    return n


def changes_since(con, model: str, since: int, until: int) -> tuple[bool, set[date]]:
    """``(rebuilt_in_full, months)`` logged by ``model`` after build ``since`` up to ``until``; a gap in
    the build numbers (entries lost) counts as a full rebuild."""
    rows = con.execute(f"select build_number, month, all_months from {CHANGES_TABLE} where model = ? "
                       "and build_number > ? and build_number <= ?", [model, since, until]).fetchall()
    builds = {int(r[0]) for r in rows}
    rebuilt = any(r[2] for r in rows) or builds != set(range(since + 1, until + 1))
    return rebuilt, {r[1] for r in rows if not r[2]}


def months_of(con, relation: str, column: str, where: str = "true") -> set[date]:
    """The distinct calendar months of ``column`` in ``relation``'s rows matching ``where``."""
    rows = con.execute(f"select distinct cast(date_trunc('month', {column}) as date) from {relation} "
                       f"where {where} and {column} is not null").fetchall()
    return {r[0] for r in rows}


# --------------------------------------------------------------------------- fingerprints


def _columns(con, relation: str) -> list[str]:
    """``relation``'s columns, quoted, in table order."""
    return [f'"{c}"' for c in warehouse.table_columns(con, relation)]


def _hash_sum(cols: list[str]) -> str:
    """The SQL of an order-independent sum of the rows' hashes over ``cols`` (128-bit: no overflow)."""
    return f"coalesce(sum(hash({', '.join(cols)})::hugeint), 0)"


def _read_columns(con, relation: str, read: list[str] | None) -> list[str]:
    """``relation``'s columns, only those in ``read`` when given (quoted; ``1`` when none is read)."""
    cols = _columns(con, relation)
    if read is None or not cols:
        return cols
    return [c for c in cols if c.strip('"') in set(read)] or ["1"]


def fingerprint(con, relation: str, read: list[str] | None = None) -> str:
    """An order-independent fingerprint of every row of ``relation`` (row count and the sum of the
    rows' hashes over the columns in ``read``, every column by default): equal contents give equal
    fingerprints, a changed value a different one."""
    cols = _read_columns(con, relation, read)
    if not cols:
        return "missing"
    n, h = con.execute(f"select count(*), {_hash_sum(cols)} from {relation}").fetchall()[0]
    return f"{n}:{h}"


def month_fingerprints(con, relation: str, column: str) -> dict[date | None, str]:
    """:func:`fingerprint` per calendar month of ``column`` (a small table: one grouped scan)."""
    cols = _columns(con, relation)
    if not cols:
        return {}
    rows = con.execute(f"select cast(date_trunc('month', {column}) as date), count(*), {_hash_sum(cols)} "
                       f"from {relation} group by 1").fetchall()
    return {r[0]: f"{r[1]}:{r[2]}" for r in rows}


def changed_months(before: dict[date | None, str] | None, after: dict[date | None, str]) -> set[date] | None:
    """The months whose rows differ between two :func:`month_fingerprints` (None: every month —
    no table before, or rows without a month changed)."""
    if before is None:
        return None
    changed = {m for m in set(before) | set(after) if before.get(m) != after.get(m)}
    return None if None in changed else changed


# --------------------------------------------------------------------------- insert_overwrite


def _recorded(con, model: str) -> tuple[str | None, dict[str, dict[str, Any]] | None]:
    row = con.execute(f"select checksum_sha256 from {STATE_TABLE} where model = ?", [model]).fetchall()
    inputs = con.execute(f"select input, build_number, fingerprint from {INPUTS_TABLE} where model = ?",
                         [model]).fetchall()
    if not inputs:
        return (row[0][0] if row else None), None
    return (row[0][0] if row else None), {r[0]: {"build_number": r[1], "fingerprint": r[2]} for r in inputs}


def _read_now(con, model: Model) -> dict[str, dict[str, Any]]:
    """What ``model``'s upstream relations are now: a build number for a partitioned one, a
    fingerprint for any other."""
    out: dict[str, dict[str, Any]] = {}
    for dep in model.depends_on:
        if dep in model.partitioned_inputs:
            out[dep] = {"build_number": last_build(con, model.partitioned_inputs[dep][0]), "fingerprint": None}
        else:
            out[dep] = {"build_number": None, "fingerprint": fingerprint(con, dep, model.input_columns.get(dep))}
    return out


def _key_hashes_sql(con, relation: str, key: str, read: list[str] | None) -> str:
    cols = _read_columns(con, relation, read)
    return (f"select cast(\"{key}\" as varchar) as key, cast({_hash_sum(cols)} as varchar) as row_hash "
            f"from {relation} group by 1")


def keyed_months(con, model: Model, dep: str) -> set[date] | None:
    """The months to rebuild for the rows of a keyed upstream that changed (a well's header edited,
    a well added): the months in which ``model``'s partitioned inputs that carry the key column have
    rows of the changed keys. The rule for the model: it joins the keyed upstream only to rows of
    such inputs, by that column (inputs without it — prices, FX rates — are not per key). None when
    it cannot tell (the upstream is not keyed, no input carries the key, no per-key record, a key
    is null): then the model is rebuilt in full."""
    key = model.keyed_inputs.get(dep)
    carriers = [rel for rel in model.partitioned_inputs if key and f'"{key}"' in _columns(con, rel)]
    if not carriers:
        return None
    if not con.execute(f"select count(*) from {INPUT_KEYS_TABLE} where model = ? and input = ?",
                       [model.name, dep]).fetchall()[0][0]:
        return None
    con.execute(f"""create or replace temp table {CHANGED_KEYS} as
        with now as ({_key_hashes_sql(con, dep, key, model.input_columns.get(dep))}),
             was as (select key, row_hash from {INPUT_KEYS_TABLE} where model = ? and input = ?)
        select coalesce(now.key, was.key) as key
        from now full outer join was on now.key is not distinct from was.key
        where now.row_hash is distinct from was.row_hash""", [model.name, dep])
    try:
        if con.execute(f"select count(*) from {CHANGED_KEYS} where key is null").fetchall()[0][0]:
            return None
        months: set[date] = set()
        for rel in carriers:
            col = model.partitioned_inputs[rel][1]
            months |= months_of(con, rel, col, f'cast("{key}" as varchar) in (select key from {CHANGED_KEYS})')
        return months
    finally:
        con.execute(f"drop table if exists {CHANGED_KEYS}")


def _full_reason(kind_now: str | None, full_refresh: bool, recorded: str | None, digest: str,
                 then: dict[str, dict[str, Any]] | None) -> str:
    if full_refresh:
        return "full refresh requested"
    if kind_now != "table":
        return "no table yet" if kind_now is None else f"was a {kind_now}"
    if recorded is None or then is None:
        return "no incremental state recorded"
    if recorded != digest:
        return "its SQL or declaration changed"
    return ""


def plan(con, model: Model, kind_now: str | None, full_refresh: bool, digest: str) -> Plan:
    """Decide how to build an insert_overwrite model: full (and why), by month (which), or unchanged."""
    recorded, then = _recorded(con, model.name)
    now = _read_now(con, model)
    keyed = set(model.keyed_inputs)

    def full(reason: str) -> Plan:
        return Plan(FULL, reason, digest, [], now, keyed)

    reason = _full_reason(kind_now, full_refresh, recorded, digest, then)
    if reason:
        return full(reason)
    assert then is not None
    months: set[date] = set()
    rekey: set[str] = set()
    for dep, seen in now.items():
        was = then.get(dep)
        if was is None:
            return full(f"no record of what it read from {dep}")
        if dep not in model.partitioned_inputs:
            if was["fingerprint"] == seen["fingerprint"]:
                continue
            got = keyed_months(con, model, dep)
            if got is None:
                return full(f"{dep} changed")
            months |= got
            rekey.add(dep)
            continue
        if seen["build_number"] is None or was["build_number"] is None:
            return full(f"{dep} has no logged build")
        if seen["build_number"] < was["build_number"]:   # its log went back (restored, edited by hand)
            return full(f"the change log of {dep} is older than what was read")
        if seen["build_number"] == was["build_number"]:
            continue
        rebuilt, got = changes_since(con, model.partitioned_inputs[dep][0], int(was["build_number"]),
                                     int(seen["build_number"]))
        if rebuilt:
            return full(f"{dep} was rebuilt in full (or its change log has a gap)")
        months |= got
    if not months:
        return Plan(UNCHANGED, "no upstream month changed", digest, [], now, rekey)
    return Plan(INCREMENTAL, f"{len(months)} month(s) changed upstream ({_span(months)})", digest, sorted(months),
                now, rekey)


def _span(months: set[date] | list[date]) -> str:
    ms = sorted(months)
    return f"{ms[0]:%Y-%m}" if len(ms) == 1 else f"{ms[0]:%Y-%m} … {ms[-1]:%Y-%m}"


def _delete_predicate(model: Model) -> str:
    col = model.partition_by
    if model.partitions == FROM_FIRST:
        return f"{col} >= (select min(month) from {CHANGED_MONTHS})"
    return f"{col} in (select month from {CHANGED_MONTHS})"


def overwrite(con, model: Model, p: Plan, sql: str) -> tuple[int, set[date]]:
    """Replace the rows of ``p.months`` (or from the first of them on) with ``sql``'s rows (the model
    rendered incrementally); returns the rows inserted and the months deleted or inserted.
    Runs in the caller's transaction."""
    con.execute(f"create or replace temp table {CHANGED_MONTHS} as select unnest(?::date[]) as month", [p.months])
    con.execute(f"create or replace temp table {NEW_ROWS} as\n{sql.strip().rstrip(';')}\n")
    pred = _delete_predicate(model)
    touched = months_of(con, model.relation, model.partition_by, pred) | months_of(con, NEW_ROWS, model.partition_by)
    con.execute(f"delete from {model.relation} where {pred}")
    con.execute(f"insert into {model.relation} by name select * from {NEW_ROWS}")
    n = con.execute(f"select count(*) from {NEW_ROWS}").fetchone()[0]
    con.execute(f"drop table if exists {NEW_ROWS}")
    con.execute(f"drop table if exists {CHANGED_MONTHS}")
    return int(n), touched


def record(con, model: Model, p: Plan, rows_merged: int, row_count: int, run_id: str) -> None:
    """Write the model's state and what it read (same transaction as the build)."""
    con.execute(f"delete from {STATE_TABLE} where model = ?", [model.name])
    row: dict[str, Any] = {
        "model": model.name, "checksum_sha256": p.checksum, "mode": p.mode, "reason": p.reason,
        "files_changed": 0, "rows_merged": rows_merged, "row_count": row_count, "run_id": run_id,
        "built_at": datetime.now(),
    }
    con.execute(catalog.insert_sql(STATE_TABLE, list(row)), list(row.values()))
    con.execute(f"delete from {INPUTS_TABLE} where model = ?", [model.name])
    for dep, seen in p.inputs.items():
        con.execute(f"insert into {INPUTS_TABLE} (model, input, build_number, fingerprint) values (?, ?, ?, ?)",
                    [model.name, dep, seen["build_number"], seen["fingerprint"]])
    for dep in sorted(p.rekey):
        con.execute(f"delete from {INPUT_KEYS_TABLE} where model = ? and input = ?", [model.name, dep])
        con.execute(f"insert into {INPUT_KEYS_TABLE} (model, input, key, row_hash) "
                    f"select ?, ?, key, row_hash from "
                    f"({_key_hashes_sql(con, dep, model.keyed_inputs[dep], model.input_columns.get(dep))})",
                    [model.name, dep])


__all__ = ["CHANGED", "CHANGED_KEYS", "CHANGED_MONTHS", "CHANGES_TABLE", "FROM_FIRST", "FULL", "INCREMENTAL",
           "INPUTS_TABLE", "INPUT_KEYS_TABLE", "OVERWRITE", "PartitionError", "Plan", "UNCHANGED", "changed_months",
           "changes_since", "check_model", "fingerprint", "keyed_months", "last_build", "log_changes",
           "month_fingerprints", "months_of", "overwrite", "plan", "record"]
