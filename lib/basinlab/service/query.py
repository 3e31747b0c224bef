"""The data resources the API serves, and how a request becomes one parameterised query.

Every resource is one warehouse table with a *key* that orders it stably. A
request may filter on

* any column of the table, by name (``?field=Bakken``; repeat for a list:
  ``?field=Bakken&field=Eagle Ford``), the value checked against the column's
  type (``?days_on=abc`` on a number is a 400);
* the resource's shorthands (``well``, ``field``, ``basin``, …), which map to a
  column (and may imply another filter: ``well=X`` on production means
  ``level=well&key=X``);
* a month range ``from`` / ``to`` (``YYYY-MM`` or ``YYYY-MM-DD``, inclusive) on the
  resource's month or year column;

and choose ``columns`` (comma list), ``limit`` (page size, capped), ``order``
(``asc`` / ``desc`` on the key), ``format`` (``json`` / ``csv`` / ``parquet``) and
``cursor`` (the next page). Names are checked against an allow-list read from the
warehouse's ``information_schema`` (per publish); an unknown name is a 400 that
lists the allowed ones. Values are always bound as parameters, never formatted
into the SQL; identifiers in the SQL come only from that allow-list.

Pagination is *keyset*, not offset: the cursor carries the key of the last row
sent and the next page is ``where (key…) > (cursor…) order by key… limit n``.
With offsets, rows inserted or removed before the current position by a publish
between two pages would shift every later row (duplicates or gaps); with a
keyset, a client paging through while a run publishes never sees a row twice
and never skips a row that exists in both versions. The cursor also carries a
hash of the filters, so it cannot be replayed against another query.
"""
from __future__ import annotations

import base64
import calendar
import hashlib
import io
import json
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from .published import CATALOG, Snapshot

FORMATS = ("json", "csv", "parquet")
MEDIA_TYPES = {"json": "application/json", "csv": "text/csv; charset=utf-8",
               "parquet": "application/vnd.apache.parquet"}
COMMON_PARAMS = ("format", "limit", "cursor", "columns", "order", "from", "to")
MAX_VALUE_LENGTH = 200
MAX_VALUES_PER_FILTER = 100
MONTH_RE = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
DATE_RE = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])-(\d{2})$")
YEAR_RE = re.compile(r"^(\d{4})$")


class QueryError(Exception):
    """A bad request: ``status`` (400 unless said), a message, and what is allowed."""

    def __init__(self, message: str, allowed: list[str] | None = None, status: int = 400):
        super().__init__(message)
        self.message, self.allowed, self.status = message, allowed, status


@dataclass(frozen=True)
class Alias:
    """A shorthand filter: ``column`` gets the value; ``implies`` adds fixed filters."""

    column: str
    implies: tuple[tuple[str, str], ...] = ()
    doc: str = ""


@dataclass(frozen=True)
class Resource:
    name: str
    path: str
    schema: str
    table: str
    key: tuple[str, ...]
    summary: str
    month_column: str | None = None
    year_column: str | None = None
    aliases: dict[str, Alias] = field(default_factory=dict)
    #: (column, order column): without a filter on ``column`` (or with ``column=latest``) only the
    #: rows of its latest value by ``order column`` are returned
    latest: tuple[str, str] | None = None

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.table}"


def _well(col: str = "well_id") -> Alias:
    return Alias(col, doc="well id (API number)")


_LEVEL = "well, field or basin"
RESOURCES: tuple[Resource, ...] = (
    Resource("wells", "/wells", "marts", "dim_wells", ("well_id",),
             "Wells: header, status, cumulative volumes, decline models and EUR (marts.dim_wells).",
             aliases={"well": _well()}),
    Resource("production_monthly", "/production/monthly", "marts", "mart_production_monthly",
             ("level", "key", "production_month"),
             f"Monthly production per {_LEVEL} (marts.mart_production_monthly): gross and net volumes, "
             "calendar-day rates, well counts. `level` picks the grain.",
             month_column="production_month",
             aliases={"well": Alias("key", (("level", "well"),), "well id: the well-level rows of this well")}),
    Resource("production_yearly", "/production/yearly", "marts", "mart_production_yearly",
             ("level", "key", "production_year"),
             f"Yearly production per {_LEVEL} (marts.mart_production_yearly). `from`/`to` take years "
             "(YYYY or YYYY-MM).",
             year_column="production_year",
             aliases={"well": Alias("key", (("level", "well"),), "well id: the well-level rows of this well")}),
    Resource("production_wells", "/production/wells", "marts", "int_production_cumulative",
             ("well_id", "production_month"),
             "Per well and month: volumes, calendar-day rates and cumulatives (marts.int_production_cumulative).",
             month_column="production_month", aliases={"well": _well()}),
    Resource("revenue", "/revenue", "marts", "mart_revenue", ("well_id", "production_month"),
             "Revenue per well and month at realised prices, gross and net (marts.mart_revenue).",
             month_column="production_month", aliases={"well": _well()}),
    Resource("financials_monthly", "/financials/monthly", "marts", "agg_monthly_financials",
             ("level", "key", "month"),
             f"Monthly financials per {_LEVEL}: revenue, LOE, severance, G&T, G&A, capex, NOI, netback "
             "(marts.agg_monthly_financials).",
             month_column="month",
             aliases={"well": Alias("key", (("level", "well"),), "well id: the well-level rows of this well")}),
    Resource("kpis_monthly", "/kpis/monthly", "marts", "mart_kpis_monthly", ("month",),
             "Company KPIs per month (marts.mart_kpis_monthly).", month_column="month"),
    Resource("jib", "/jib", "marts", "agg_jib_summary", ("partner_id", "month"),
             "Joint-interest billing per partner and month (marts.agg_jib_summary).",
             month_column="month", aliases={"partner": Alias("partner_id", doc="partner id (P001…)")}),
    Resource("gl", "/gl", "marts", "fct_gl_transactions", ("journal_id", "line_number"),
             "GL journal lines with account classes and USD amounts (marts.fct_gl_transactions).",
             month_column="accounting_month",
             aliases={"well": _well(), "partner": Alias("partner_id", doc="partner id"),
                      "account": Alias("account_code", doc="account code, e.g. 5000")}),
    Resource("decline_params", "/decline/params", "marts", "decline_params", ("well_id", "phase"),
             "Decline-curve fits per well and phase: model, qi, di, b, dterm, EUR, status (marts.decline_params).",
             aliases={"well": _well()}),
    Resource("decline_forecast", "/decline/forecast", "marts", "decline_forecast", ("well_id", "phase", "month"),
             "Monthly forecast per well and phase (marts.decline_forecast).",
             month_column="month", aliases={"well": _well()}),
    Resource("type_curves", "/decline/type-curves", "marts", "decline_type_curves",
             ("group", "phase", "month_index"),
             "P10/P50/P90 type curves per field and phase (marts.decline_type_curves).",
             aliases={"field": Alias("group", doc="field name (the type-curve group)")}),
    Resource("runs", "/runs", "metadata", "pipeline_runs", ("started_at", "run_id"),
             "Pipeline runs recorded in the published warehouse (metadata.pipeline_runs; `order=desc` for the "
             "latest first). GET /runs/{run_id} also knows runs still running, or failed since the last publish."),
    Resource("quality", "/quality", "metadata", "data_quality_checks", ("run_id", "check_name"),
             "Data-quality check results (metadata.data_quality_checks); the latest run's unless "
             "run_id is given (run_id=all for every run).",
             aliases={"run": Alias("run_id", doc="run id, latest or all")}, latest=("run_id", "checked_at")),
)
BY_NAME = {r.name: r for r in RESOURCES}

#: the served GL generator's ledger (an in-memory table, see basinlab.service.generator)
GENERATOR_GL = Resource(
    "generator_gl", "/generator/gl", "generator", "gl_lines", ("journal_id", "line_number"),
    "The demo GL ledger as released so far: the history plus every stream batch already out. `from`/`to` "
    "filter the transaction date (YYYY-MM or YYYY-MM-DD).",
    month_column="transaction_date",
    aliases={"well": _well(), "account": Alias("account_code", doc="account code, e.g. 5000")})


# --------------------------------------------------------------------------- values


def _type_family(duck_type: str) -> str:
    t = duck_type.upper()
    if t.startswith(("VARCHAR", "TEXT", "STRING", "CHAR", "UUID")):
        return "text"
    if t == "DATE":
        return "date"
    if t.startswith("TIMESTAMP"):
        return "timestamp"
    if t in ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER",
             "UBIGINT", "UHUGEINT"):
        return "integer"
    if t.startswith(("DOUBLE", "FLOAT", "REAL", "DECIMAL", "NUMERIC")):
        return "number"
    if t == "BOOLEAN":
        return "boolean"
    return "other"


def parse_month_or_date(value: str, name: str, end: bool = False) -> date:
    """``YYYY-MM`` (first day, or last day when ``end``) or ``YYYY-MM-DD``; 400 otherwise."""
    v = value.strip()
    m = MONTH_RE.match(v)
    if m:
        y, mo = int(m.group(1)), int(m.group(2))
        return date(y, mo, calendar.monthrange(y, mo)[1] if end else 1)
    d = DATE_RE.match(v)
    if d:
        try:
            return date(int(d.group(1)), int(d.group(2)), int(d.group(3)))
        except ValueError:
            pass
    raise QueryError(f"{name} must be a month YYYY-MM (e.g. 2024-06) or a date YYYY-MM-DD, got {value!r}")


def coerce(value: str, column: str, duck_type: str) -> Any:
    """The Python value to bind for ``column = ?``; a 400 naming the column and type when it does not parse."""
    if len(value) > MAX_VALUE_LENGTH:
        raise QueryError(f"value for {column} is longer than {MAX_VALUE_LENGTH} characters")
    fam = _type_family(duck_type)
    v = value.strip()
    try:
        if fam == "text":
            return value
        if fam == "date":
            return parse_month_or_date(v, column)
        if fam == "timestamp":
            return datetime.fromisoformat(v)
        if fam == "integer":
            if not re.fullmatch(r"[+-]?[0-9]{1,38}", v):
                raise ValueError
            return int(v)
        if fam == "number":
            d = Decimal(v)
            if not d.is_finite():
                raise ValueError
            return float(d) if not duck_type.upper().startswith(("DECIMAL", "NUMERIC")) else d
        if fam == "boolean":
            low = v.lower()
            if low in ("true", "1", "yes"):
                return True
            if low in ("false", "0", "no"):
                return False
            raise ValueError
    except QueryError:
        raise
    except (ValueError, InvalidOperation):
        hint = {"date": "a month YYYY-MM or a date YYYY-MM-DD", "timestamp": "an ISO time YYYY-MM-DDTHH:MM:SS",
                "integer": "a whole number", "number": "a number", "boolean": "true or false"}[fam]
        raise QueryError(f"value {value!r} for {column} ({duck_type}) is not {hint}") from None
    raise QueryError(f"column {column} ({duck_type}) cannot be filtered on")


# --------------------------------------------------------------------------- cursor


def _jsonable(v: Any) -> Any:
    if isinstance(v, (date, datetime)):
        return v.isoformat()
    if isinstance(v, Decimal):
        return str(v)
    return v


def encode_cursor(values: list[Any], fingerprint: str) -> str:
    raw = json.dumps({"v": 1, "k": [_jsonable(v) for v in values], "f": fingerprint}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, n_keys: int, fingerprint: str) -> list[Any]:
    try:
        pad = "=" * (-len(cursor) % 4)
        doc = json.loads(base64.urlsafe_b64decode(cursor + pad))
        values = doc["k"]
        if doc.get("v") != 1 or not isinstance(values, list) or len(values) != n_keys:
            raise ValueError
        if any(not isinstance(v, (str, int, float, bool)) and v is not None for v in values):
            raise ValueError
    except (ValueError, KeyError, TypeError):
        raise QueryError("cursor is not valid: pass the next_cursor of the previous page unchanged") from None
    if doc.get("f") != fingerprint:
        raise QueryError("cursor belongs to another query (different resource, filters, columns or order): "
                         "start again without a cursor")
    return values


# --------------------------------------------------------------------------- the query


@dataclass
class Page:
    """One page: ``json_rows`` (each row already JSON text, made by DuckDB) for ``format=json``,
    else ``table`` (Arrow) for CSV and Parquet."""

    resource: Resource
    columns: list[str]
    next_cursor: str | None
    format: str
    snapshot_label: str
    published_at: float
    table: Any = None  # pyarrow.Table of the requested columns (csv, parquet)
    json_rows: list[str] | None = None

    @property
    def rows(self) -> int:
        return len(self.json_rows) if self.json_rows is not None else self.table.num_rows


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def allowed_params(resource: Resource, columns: list[str]) -> list[str]:
    extra = list(resource.aliases)
    common = [p for p in COMMON_PARAMS
              if p not in ("from", "to") or resource.month_column or resource.year_column]
    return common + extra + [c for c in columns if c not in common and c not in extra]


def _one(grouped: dict[str, list[str]], name: str) -> str | None:
    vals = grouped.get(name)
    return vals[0] if vals else None


def _group_params(resource: Resource, params: list[tuple[str, str]], allowed: list[str]) -> dict[str, list[str]]:
    """The query string as name -> values; unknown names and repeated common parameters refused."""
    grouped: dict[str, list[str]] = {}
    for k, v in params:
        grouped.setdefault(k, []).append(v)
    unknown = sorted(k for k in grouped if k not in allowed)
    if unknown:
        raise QueryError(f"unknown parameter{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))} for "
                         f"{resource.path}: use a column of {resource.qualified} or one of the common parameters",
                         allowed)
    for k in COMMON_PARAMS:
        if len(grouped.get(k, [])) > 1:
            raise QueryError(f"parameter {k!r} given more than once")
    return grouped


def _page_shape(resource: Resource, grouped: dict[str, list[str]], types: dict[str, str], colnames: list[str],
                default_limit: int, max_limit: int) -> tuple[str, str, int, list[str]]:
    """(format, order, limit, columns) of the page asked for."""
    fmt = (_one(grouped, "format") or "json").lower()
    if fmt not in FORMATS:
        raise QueryError(f"format must be one of {', '.join(FORMATS)}, got {_one(grouped, 'format')!r}",
                         list(FORMATS))
    order = (_one(grouped, "order") or "asc").lower()
    if order not in ("asc", "desc"):
        raise QueryError(f"order must be asc or desc (on the key {', '.join(resource.key)}), "
                         f"got {_one(grouped, 'order')!r}", ["asc", "desc"])
    limit_raw = _one(grouped, "limit")
    if limit_raw is None:
        limit = default_limit
    elif re.fullmatch(r"[0-9]{1,9}", limit_raw) and 1 <= int(limit_raw) <= max_limit:
        limit = int(limit_raw)
    else:
        raise QueryError(f"limit must be a whole number from 1 to {max_limit}, got {limit_raw!r}")
    columns = _one(grouped, "columns")
    if not columns:
        return fmt, order, limit, colnames
    wanted = [c.strip() for c in columns.split(",") if c.strip()]
    bad = [c for c in wanted if c not in types]
    if bad or not wanted:
        raise QueryError(f"columns: {', '.join(map(repr, bad)) or '(empty)'} not in {resource.qualified}",
                         colnames)
    return fmt, order, limit, list(dict.fromkeys(wanted))


def _expand_filters(resource: Resource, grouped: dict[str, list[str]], types: dict[str, str]) -> dict[str, list[str]]:
    """Filters as column -> values, aliases expanded into their column and the conditions they imply."""
    filters: dict[str, list[str]] = {}
    for name, vals in grouped.items():
        if name in COMMON_PARAMS:
            continue
        if name not in resource.aliases:
            filters.setdefault(name, []).extend(vals)
            continue
        alias = resource.aliases[name]
        filters.setdefault(alias.column, []).extend(vals)
        for col, val in alias.implies:
            if col in types:
                filters.setdefault(col, [])
                if val not in filters[col]:
                    filters[col].append(val)
    return filters


def _filter_conditions(resource: Resource, filters: dict[str, list[str]], types: dict[str, str],
                       colnames: list[str], src: str) -> tuple[list[str], list[Any]]:
    """(conditions, bound values) of the column filters; the ``latest`` shorthand's column keeps only
    its latest value unless asked for ``all`` (or given values)."""
    where: list[str] = []
    binds: list[Any] = []
    latest_col = resource.latest[0] if resource.latest else None
    for col, vals in sorted(filters.items()):
        if col not in types:
            raise QueryError(f"{col} is not a column of {resource.qualified}", colnames)
        if len(vals) > MAX_VALUES_PER_FILTER:
            raise QueryError(f"at most {MAX_VALUES_PER_FILTER} values per filter ({col} has {len(vals)})")
        if col == latest_col and vals in (["latest"], ["all"]):
            continue
        coerced = [coerce(v, col, types[col]) for v in vals]
        if len(coerced) == 1:
            where.append(f"{_ident(col)} = ?")
        else:
            where.append(f"{_ident(col)} in ({', '.join('?' for _ in coerced)})")
        binds.extend(coerced)
    if latest_col and filters.get(latest_col, ["latest"]) == ["latest"] and latest_col in types:
        order_col = resource.latest[1]
        where.append(f"{_ident(latest_col)} = (select {_ident(latest_col)} from {src} "
                     f"order by {_ident(order_col)} desc nulls last limit 1)")
    return where, binds


def _bounds(col: str, lo: Any, hi: Any, where: list[str], binds: list[Any]) -> None:
    if lo is not None:
        where.append(f"{_ident(col)} >= ?")
        binds.append(lo)
    if hi is not None:
        where.append(f"{_ident(col)} <= ?")
        binds.append(hi)


def _year_of(name: str, v: str | None) -> int | None:
    if v is None:
        return None
    m = YEAR_RE.match(v.strip()) or MONTH_RE.match(v.strip())
    if not m:
        raise QueryError(f"{name} must be a year YYYY (or a month YYYY-MM), got {v!r}")
    return int(m.group(1))


def _period_conditions(resource: Resource, lo: str | None, hi: str | None) -> tuple[list[str], list[Any]]:
    """(conditions, bound values) of ``from`` / ``to`` on the resource's month (or year) column."""
    where: list[str] = []
    binds: list[Any] = []
    if (lo or hi) and resource.month_column:
        lo_d = parse_month_or_date(lo, "from") if lo else None
        hi_d = parse_month_or_date(hi, "to", end=True) if hi else None
        if lo_d and hi_d and lo_d > hi_d:
            raise QueryError(f"from ({lo}) is after to ({hi})")
        _bounds(resource.month_column, lo_d or None, hi_d or None, where, binds)
    elif (lo or hi) and resource.year_column:
        years = [_year_of("from", lo), _year_of("to", hi)]
        if years[0] is not None and years[1] is not None and years[0] > years[1]:
            raise QueryError(f"from ({lo}) is after to ({hi})")
        _bounds(resource.year_column, years[0], years[1], where, binds)
    return where, binds


def _fetch_page(page: Page, cur, sql: str, binds: list[Any], types: dict[str, str], key: list[str],
                limit: int, fingerprint: str) -> Page:
    """Run the page query (one row more than the limit tells whether a next page exists)."""
    wanted = page.columns
    if page.format == "json":
        # DuckDB writes each row's JSON (several times faster than Python's json for wide pages);
        # NaN/inf are not JSON: they become null
        fields = ", ".join(f"{_ident(c)} := {_json_safe('t.' + _ident(c), types[c])}" for c in wanted)
        keys = ", ".join(f"t.{_ident(f'__key{i}')}" for i in range(len(key)))
        rows = cur.execute(f"select to_json(struct_pack({fields})), {keys} from ({sql}) t", binds).fetchall()
        last = rows[limit - 1][1:] if len(rows) > limit else None
        page.json_rows = [r[0] for r in rows[:limit]]
    else:
        table = cur.sql(sql, params=binds).to_arrow_table()
        last = None
        if table.num_rows > limit:
            table = table.slice(0, limit)
            row = table.slice(limit - 1, 1).to_pylist()[0]
            last = [row[f"__key{i}"] for i in range(len(key))]
        page.table = table.select(list(range(len(wanted))))
    if last is not None:
        page.next_cursor = encode_cursor(list(last), fingerprint)
    return page


def run_query(resource: Resource, snap: Snapshot, cur, params: list[tuple[str, str]], *, default_limit: int,
              max_limit: int, extra: tuple[str, list] | None = None) -> Page:
    """Validate ``params`` (the query string as pairs) against the warehouse and fetch one page.

    ``extra`` is a fixed condition of the caller's (SQL with ``?``, values), e.g. the generator's
    "released lines only"; it is not part of the cursor's fingerprint.

    Stages: the parameters grouped and checked (:func:`_group_params`), the page's shape
    (:func:`_page_shape`), the filters (:func:`_expand_filters`, :func:`_filter_conditions`), the
    period (:func:`_period_conditions`), the keyset cursor, then the fetch (:func:`_fetch_page`).
    """
    table_cols = snap.columns().get((resource.schema, resource.table))
    if table_cols is None:
        raise QueryError(f"{resource.qualified} is not in the published warehouse (it was published before "
                         "this table existed): the next run builds it", status=503)
    types = dict(table_cols)
    colnames = [c for c, _ in table_cols]
    grouped = _group_params(resource, params, allowed_params(resource, colnames))
    fmt, order, limit, wanted = _page_shape(resource, grouped, types, colnames, default_limit, max_limit)
    filters = _expand_filters(resource, grouped, types)
    src = f"{_ident(CATALOG)}.{_ident(resource.schema)}.{_ident(resource.table)}"
    where, binds = _filter_conditions(resource, filters, types, colnames, src)
    lo, hi = _one(grouped, "from"), _one(grouped, "to")
    period_where, period_binds = _period_conditions(resource, lo, hi)
    where += period_where
    binds += period_binds

    if extra:
        where.append(f"({extra[0]})")
        binds.extend(extra[1])
    key = list(resource.key)
    missing_key = [k for k in key if k not in types]
    if missing_key:
        raise QueryError(f"{resource.qualified} lacks its key column(s) {missing_key}", status=503)
    fingerprint = hashlib.sha256(json.dumps([resource.name, sorted((k, sorted(v)) for k, v in filters.items()),
                                             lo, hi, wanted, order], default=str).encode()).hexdigest()[:16]
    cursor = _one(grouped, "cursor")
    if cursor:
        values = decode_cursor(cursor, len(key), fingerprint)
        cmp = ">" if order == "asc" else "<"
        where.append(f"({', '.join(_ident(k) for k in key)}) {cmp} "
                     f"({', '.join(f'cast(? as {types[k]})' for k in key)})")
        binds.extend(values)
    direction = "asc" if order == "asc" else "desc"
    hidden = [f"{_ident(k)} as {_ident(f'__key{i}')}" for i, k in enumerate(key)]
    sql = (f"select {', '.join([_ident(c) for c in wanted] + hidden)} from {src}"
           + (f" where {' and '.join(where)}" if where else "")
           + f" order by {', '.join(f'{_ident(k)} {direction}' for k in key)} limit ?")
    binds.append(limit + 1)
    page = Page(resource, wanted, None, fmt, snap.label, snap.published_at)
    return _fetch_page(page, cur, sql, binds, types, key, limit, fingerprint)


def _json_safe(expr: str, duck_type: str) -> str:
    t = duck_type.upper()
    if t.startswith(("DOUBLE", "FLOAT", "REAL")):
        return f"case when isfinite({expr}) then {expr} end"
    return expr


# --------------------------------------------------------------------------- encodings


def json_default(v: Any) -> Any:
    if isinstance(v, (datetime, date)):
        return v.isoformat()
    if isinstance(v, Decimal):
        return str(v)
    if isinstance(v, bytes):
        return base64.b64encode(v).decode()
    return str(v)


def encode_table(table, fmt: str) -> bytes:
    """CSV (header row, UTF-8) or Parquet bytes of an Arrow table."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    buf = io.BytesIO()
    if fmt == "csv":
        pacsv.write_csv(table, buf)
    elif fmt == "parquet":
        pq.write_table(table, buf, compression="snappy")
    else:
        raise ValueError(fmt)
    return buf.getvalue()
