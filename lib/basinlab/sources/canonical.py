"""The canonical layout of every file kind: columns, types, keys and row rules.

Declared in ``sql/catalog/kinds.yml`` (keys, date window, row rules) and
``sql/catalog/raw.yml`` (the raw table's columns and types); this module turns the
declaration into :class:`KindSpec` objects. Each file kind lands in one ``raw``
table. Every source adapter produces these columns (as text for the SQL-validated
file adapters, typed for the Python adapters); the ingest core types them, applies
the row rules and sends each failing row to ``raw.rejected_rows`` with its reason.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from .. import catalog

# column types understood by the validator
TEXT = "text"
MONTH = "month"      # YYYY-MM or any date; truncated to the first of the month
DATE = "date"
NUMBER = "number"    # double
INTEGER = "integer"
MONEY = "money"      # decimal(18, 2)


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    required: bool = False
    doc: str = ""


@dataclass(frozen=True)
class RowRule:
    """A row-level rule: ``sql`` is a boolean over typed columns that is TRUE for a bad row."""

    sql: str
    reason_sql: str  # SQL expression giving the human-readable reason


@dataclass(frozen=True)
class KindSpec:
    """One inbox kind.

    ``key`` names the columns identifying a row; ``key_sql`` the same key as the
    staging models compare it (e.g. ``upper(benchmark)``): two rows of one file
    with equal ``key_sql`` values are duplicates. ``window_column`` is the date
    that must fall in the plausible window, ``lead_months`` how far past the
    later of the run month and the current month it may run (``lead_reason`` says why).
    """

    kind: str
    table: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    rules: tuple[RowRule, ...] = ()
    doc: str = ""
    key_sql: tuple[str, ...] = ()
    window_column: str | None = None
    lead_months: int = 0
    lead_reason: str = "the later of the run month and the current month"

    @property
    def key_exprs(self) -> tuple[str, ...]:
        return self.key_sql or self.key

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def required(self) -> list[str]:
        return [c.name for c in self.columns if c.required]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)


#: the earliest plausible month of any dated value
EARLIEST_MONTH = "1900-01"
#: how far ahead price and FX decks may run (forward strips and curves), in months
FORWARD_MONTHS = 360
#: how far ahead a well header's first production may be planned, in months
PLANNED_MONTHS = 60
#: the largest magnitude accepted in a numeric column; beyond it a value is a unit or typing error,
#: and sums of such values would overflow to infinity
MAX_ABS_NUMBER = 1e15


def _fmt(col: str) -> str:
    return f"coalesce(cast({col} as varchar), 'null')"


_PLACEHOLDER = re.compile(r"\{(values:|words:)?([A-Za-z_][A-Za-z0-9_]*)\}")


def _expand(text: str, columns: set[str], cat: catalog.Catalog) -> str:
    """Fill a declared rule's placeholders: ``{col}`` (a column's value as text), ``{values:V}`` (vocabulary
    V as an SQL list), ``{words:V}`` (the same in words). Other braces (``[A-Za-z]{3}``) stay."""
    def sub(m: re.Match) -> str:
        prefix, name = m.group(1), m.group(2)
        if prefix == "values:":
            return cat.vocabulary(name).sql_list()
        if prefix == "words:":
            return cat.vocabulary(name).words()
        return _fmt(name) if name in columns else m.group(0)
    return _PLACEHOLDER.sub(sub, text)


def _column_type(col: catalog.Column) -> str:
    """The parse type of a canonical column, from its declared type (and ``_month`` for months)."""
    t = col.type_key
    if t == "DATE":
        return MONTH if col.name.endswith("_month") else DATE
    return {"VARCHAR": TEXT, "DOUBLE": NUMBER, "INTEGER": INTEGER, "DECIMAL(18,2)": MONEY}.get(t) or _bad_type(col)


def _bad_type(col: catalog.Column) -> str:
    raise catalog.CatalogError(f"raw column {col.name} has type {col.data_type}, which a file kind cannot parse "
                               "(varchar, double, integer, decimal(18,2) or date)")


def kind_spec(name: str, decl: dict, cat: catalog.Catalog) -> KindSpec:
    """The :class:`KindSpec` of a file kind declared in ``sql/catalog/kinds.yml``: its columns are the
    data columns of its raw table as declared in ``raw.yml``."""
    (table,) = decl["tables"]
    raw = cat.table(f"raw.{table}")
    cols = tuple(Column(c.name, _column_type(c), c.not_null, c.description)
                 for c in raw.columns if not c.name.startswith("_"))
    names = {c.name for c in cols}
    window = decl.get("window") or {}
    rules = tuple(RowRule(_expand(r["when"], names, cat), _expand(r["reason"], names, cat))
                  for r in decl.get("rules") or [])
    return KindSpec(kind=name, table=table, columns=cols, key=tuple(decl["key"]), rules=rules,
                    doc=str(decl.get("description", "")), key_sql=tuple(decl.get("key_sql") or ()),
                    window_column=window.get("column"), lead_months=int(window.get("lead_months", 0)),
                    lead_reason=str(window.get("why", KindSpec.lead_reason)))


def _file_kinds() -> dict[str, KindSpec]:
    cat = catalog.load()
    kinds = cat.documents.get("kinds", {}).get("kinds") or {}
    return {name: kind_spec(name, d, cat) for name, d in sorted(kinds.items(), key=lambda kv: kv[1]["order"])
            if ":" not in str(d.get("adapter", ""))}


#: the SQL-validated file kinds (adapter ``sources.files``), in load order, built from the declaration;
#: every kind, with its adapter, is in :mod:`basinlab.sources.registry`
KINDS: dict[str, KindSpec] = _file_kinds()
