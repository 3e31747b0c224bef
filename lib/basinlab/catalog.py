"""The warehouse, declared once: every table of every schema, its columns, types, units, descriptions and checks.

The declaration is YAML in dbt's shape, beside what it describes (see ``docs/ARCHITECTURE.md``,
"The declaration")::

    sql/staging/_staging.yml          the SQL models of each layer: models:, one entry per model,
    sql/intermediate/_intermediate.yml    every column with data_type, unit, description, tests
    sql/marts/_marts.yml
    sql/catalog/raw.yml               tables the migrations create (raw.*, metadata.*): sources:
    sql/catalog/metadata.yml              with the same column fields plus constraints (not_null,
                                          primary_key) — a test applies every migration to an
                                          empty database and compares, so the two cannot disagree
    sql/catalog/decline.yml           marts tables a Python step writes (decline_*, ml_trendlines)
    sql/catalog/vocabularies.yml      the closed sets of values (statuses, methods, kinds, …)
    sql/catalog/glossary.yml          what a column name means wherever it appears (well_id, _source_file, …)
    sql/catalog/kinds.yml             the source kinds (see :mod:`basinlab.sources.registry`)
    sql/catalog/settings.yml          the settings a user can edit and the fixed constants
                                      (see :mod:`basinlab.settings`)

Why YAML beside the models rather than one big schema file: the model yml is where an engineer
adding a model already writes its description and tests (dbt's convention, which the transform
runner reads); one more key per column (``data_type``, ``unit``) keeps each table's facts in one
place, next to its SQL. Tables that no model builds get the same shape in ``sql/catalog/``. The
migrations stay the DDL history of ``raw``/``metadata`` (applied, checksummed, immutable); the
declaration says what that history must add up to.

Python code that writes a table reads its columns from here (:func:`table_schemas`,
:meth:`Table.names`) instead of repeating them; :func:`validate` compares a live warehouse with
the declaration.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from . import config

#: folder under sql/ with model SQL -> (schema, default materialization)
LAYERS: dict[str, tuple[str, str]] = {
    "staging": ("staging", "view"),
    "intermediate": ("marts", "table"),
    "marts": ("marts", "table"),
}
SCHEMAS = ("raw", "staging", "marts", "metadata")
CATALOG_DIR = "catalog"

#: who creates a table: the migrations, the transform (a SQL model), or a named Python writer
MIGRATIONS, TRANSFORM = "migrations", "transform"

#: lineage columns every raw table carries (where each row came from)
LINEAGE_COLUMNS = ("_source_file", "_source_row", "_file_id", "_batch_id", "_ingested_at")


#: libyaml's parser when PyYAML has it (ten times faster on the declaration), else the pure-Python one
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class CatalogError(Exception):
    """The declaration cannot be read: the message names the file and what is wrong."""


@dataclass(frozen=True)
class Column:
    name: str
    data_type: str                 # DuckDB type as declared, lower case: varchar, double, decimal(18,2), …
    description: str = ""
    unit: str | None = None
    not_null: bool = False         # a NOT NULL constraint (tables the migrations create)
    tests: tuple[Any, ...] = ()

    @property
    def type_key(self) -> str:
        return normalise_type(self.data_type)


@dataclass(frozen=True)
class Table:
    schema: str
    name: str
    description: str
    columns: tuple[Column, ...]
    owner: str                     # migrations | transform | the Python writer, e.g. "decline step"
    materialization: str = "table"  # table | view
    primary_key: tuple[str, ...] = ()
    tests: tuple[Any, ...] = ()
    path: str = ""                 # the yml file that declares it
    meta: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    refresh: str = ""              # how an incremental model (or a table logging its months) is rebuilt, in words

    @property
    def relation(self) -> str:
        return f"{self.schema}.{self.name}"

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"{self.relation} declares no column {name!r} ({self.path})")

    def types(self) -> dict[str, str]:
        """``{column: declared type}`` in declared order."""
        return {c.name: c.data_type for c in self.columns}

    def data_columns(self) -> list[str]:
        """The columns that are not lineage (``_source_file`` …)."""
        return [c.name for c in self.columns if not c.name.startswith("_")]

    def create_sql(self) -> str:
        """``create table if not exists`` with the declared columns (for tables a Python writer owns)."""
        cols = ", ".join(f'"{c.name}" {c.data_type}' for c in self.columns)
        return f"create table if not exists {self.relation} ({cols})"


@dataclass(frozen=True)
class Vocabulary:
    name: str
    description: str
    values: tuple[str, ...]
    meanings: dict[str, str] = field(default_factory=dict, hash=False, compare=False)
    #: further keys of the declaration (account_class: accounts; benchmark: units)
    extra: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    def sql_list(self) -> str:
        """``('a', 'b')`` for an SQL ``in``."""
        return "(" + ", ".join("'" + v.replace("'", "''") + "'" for v in self.values) + ")"

    def words(self) -> str:
        """``a, b or c`` for messages."""
        vals = list(self.values)
        return vals[0] if len(vals) == 1 else ", ".join(vals[:-1]) + " or " + vals[-1]


@dataclass
class Catalog:
    sql_dir: Path
    tables: dict[str, Table]
    vocabularies: dict[str, Vocabulary]
    glossary: dict[str, dict[str, Any]]
    documents: dict[str, Any]     # the other catalog documents as read (kinds, settings)

    def table(self, relation: str) -> Table:
        try:
            return self.tables[relation]
        except KeyError:
            raise CatalogError(f"{relation} is not declared in {self.sql_dir} (declare it in a yml file: "
                               f"sql/<layer>/_<layer>.yml for a model, sql/{CATALOG_DIR}/ otherwise)") from None

    def vocabulary(self, name: str) -> Vocabulary:
        try:
            return self.vocabularies[name]
        except KeyError:
            raise CatalogError(f"vocabulary {name!r} is not declared in sql/{CATALOG_DIR}/vocabularies.yml "
                               f"(declared: {', '.join(sorted(self.vocabularies))})") from None

    def in_schema(self, schema: str) -> list[Table]:
        return [t for t in self.tables.values() if t.schema == schema]

    def owned_by(self, owner: str) -> list[Table]:
        return [t for t in self.tables.values() if t.owner == owner]


def normalise_type(t: str) -> str:
    """A type as DuckDB's information_schema spells it, for comparison (``decimal(18, 2)`` -> ``DECIMAL(18,2)``)."""
    t = re.sub(r"\s+", "", str(t)).upper()
    return {"TEXT": "VARCHAR", "STRING": "VARCHAR", "INT": "INTEGER", "INT4": "INTEGER", "INT8": "BIGINT",
            "FLOAT8": "DOUBLE", "BOOL": "BOOLEAN", "TIMESTAMP_US": "TIMESTAMP", "NUMERIC(18,2)": "DECIMAL(18,2)"
            }.get(t, t)


# --------------------------------------------------------------------------- reading


def _read(path: Path) -> dict[str, Any]:
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_LOADER) or {}
    except yaml.YAMLError as exc:
        raise CatalogError(f"{path}: invalid yml: {exc}") from None
    if not isinstance(data, dict):
        raise CatalogError(f"{path}: expected a mapping at the top")
    return data


def _columns(entries: Any, where: str, glossary: dict[str, dict[str, Any]]) -> tuple[Column, ...]:
    out = []
    seen = set()
    for c in entries or []:
        if not isinstance(c, dict) or "name" not in c:
            raise CatalogError(f"{where}: every column needs a name")
        name = str(c["name"])
        if name in seen:
            raise CatalogError(f"{where}: column {name} is declared twice")
        seen.add(name)
        if not c.get("data_type"):
            raise CatalogError(f"{where}: column {name} has no data_type")
        g = glossary.get(name, {})
        constraints = [str(x) for x in c.get("constraints") or []]
        unknown = set(constraints) - {"not_null", "primary_key"}
        if unknown:
            raise CatalogError(f"{where}: column {name}: constraints are not_null or primary_key, "
                               f"got {sorted(unknown)}")
        out.append(Column(
            name=name,
            data_type=str(c["data_type"]).strip().lower(),
            description=" ".join(str(c.get("description") or g.get("description") or "").split()),
            unit=c.get("unit", g.get("unit")),
            not_null=bool(constraints),
            tests=tuple(c.get("tests") or c.get("data_tests") or ()),
        ))
    return tuple(out)


#: SQL type of each settings type (staging.stg_settings has one column per scalar setting)
SETTING_SQL_TYPES = {"currency": "varchar", "text": "varchar", "number": "double", "integer": "integer"}


def _settings_columns(doc: dict[str, Any], where: str) -> tuple[Column, ...]:
    """The columns of a model declared with ``meta: {columns_from: settings}``: one per scalar setting."""
    out = []
    for name, d in (doc.get("settings") or {}).items():
        if d.get("type") in SETTING_SQL_TYPES:
            out.append(Column(str(name), SETTING_SQL_TYPES[d["type"]],
                              "The setting in force: " + " ".join(str(d.get("description", "")).split()),
                              d.get("unit")))
    if not out:
        raise CatalogError(f"{where}: columns_from: settings, but sql/{CATALOG_DIR}/settings.yml declares none")
    return tuple(out)


def _primary_key(entries: Any) -> tuple[str, ...]:
    return tuple(str(c["name"]) for c in entries or [] if "primary_key" in (c.get("constraints") or []))


def _catalog_stamp(root: Path) -> tuple:
    return tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in sorted((root / CATALOG_DIR).glob("*.yml")))


@functools.lru_cache(maxsize=8)
def _documents(sql_dir: str, stamp: tuple) -> dict[str, tuple[Path, dict[str, Any]]]:
    cat_dir = Path(sql_dir) / CATALOG_DIR
    return {p.stem: (p, _read(p)) for p in sorted(cat_dir.glob("*.yml"))} if cat_dir.is_dir() else {}


def documents(sql_dir: str | Path | None = None) -> dict[str, dict[str, Any]]:
    """The documents of ``sql/catalog/`` by file stem (``kinds``, ``settings``, …), as read; no model yml."""
    root = Path(sql_dir) if sql_dir else config.SQL_DIR
    return {k: v[1] for k, v in _documents(str(root), _catalog_stamp(root)).items()}


def _vocabularies(docs: dict[str, tuple[Path, dict[str, Any]]]) -> dict[str, Vocabulary]:
    vocab_path, vocab_doc = docs.get("vocabularies", (None, {}))
    vocabularies = {}
    for name, v in (vocab_doc.get("vocabularies") or {}).items():
        vals = v.get("values") if isinstance(v, dict) else v
        if not isinstance(vals, (list, dict)) or not vals:
            raise CatalogError(f"{vocab_path}: vocabulary {name} needs values")
        meanings = dict(vals) if isinstance(vals, dict) else {}
        extra = {k: x for k, x in v.items() if k not in ("values", "description")} if isinstance(v, dict) else {}
        vocabularies[name] = Vocabulary(name, str((v or {}).get("description", "")) if isinstance(v, dict) else "",
                                        tuple(str(x) for x in (vals if isinstance(vals, list) else vals.keys())),
                                        {str(k): " ".join(str(m or "").split()) for k, m in meanings.items()},
                                        extra)
    kinds_doc = docs.get("kinds", (None, {}))[1]
    if kinds_doc.get("kinds") and "source_kind" not in vocabularies:
        ks = kinds_doc["kinds"]
        vocabularies["source_kind"] = Vocabulary(
            "source_kind",
            "A source kind (sql/catalog/kinds.yml): an inbox folder, or a feed carried in by the runner.",
            tuple(str(k) for k in ks), {str(k): " ".join(str((d or {}).get("description", "")).split())
                                        for k, d in ks.items()})
    return vocabularies


def vocabularies(sql_dir: str | Path | None = None) -> dict[str, Vocabulary]:
    """The declared vocabularies (``sql/catalog/vocabularies.yml`` and the kinds)."""
    root = Path(sql_dir) if sql_dir else config.SQL_DIR
    return _vocabularies(_documents(str(root), _catalog_stamp(root)))


def vocabulary(name: str, sql_dir: str | Path | None = None) -> Vocabulary:
    vocs = vocabularies(sql_dir)
    if name not in vocs:
        raise CatalogError(f"vocabulary {name!r} is not declared in sql/{CATALOG_DIR}/vocabularies.yml "
                           f"(declared: {', '.join(sorted(vocs))})")
    return vocs[name]


@functools.lru_cache(maxsize=8)
def _load(sql_dir: str, stamp: tuple) -> Catalog:
    root = Path(sql_dir)
    docs = dict(_documents(sql_dir, _catalog_stamp(root)))
    glossary = {str(k): (v or {}) for k, v in (docs.pop("glossary", (None, {}))[1].get("columns") or {}).items()}
    vocabularies = _vocabularies(docs)
    docs.pop("vocabularies", None)
    tables: dict[str, Table] = {}

    def add(t: Table) -> None:
        if t.relation in tables:
            raise CatalogError(f"{t.relation} is declared twice: {tables[t.relation].path} and {t.path}")
        tables[t.relation] = t

    for path, doc in docs.values():
        for src in doc.get("sources") or []:
            schema = src.get("schema") or src.get("name")
            owner = (src.get("meta") or {}).get("owner") or MIGRATIONS
            for tb in src.get("tables") or []:
                where = f"{path}: {schema}.{tb.get('name')}"
                meta = dict(tb.get("meta") or {})
                add(Table(schema, str(tb["name"]), " ".join(str(tb.get("description") or "").split()),
                          _columns(tb.get("columns"), where, glossary), meta.get("owner", owner),
                          "table", _primary_key(tb.get("columns")), tuple(tb.get("tests") or ()), str(path), meta))
    for folder, (schema, default_mat) in LAYERS.items():
        d = root / folder
        for path in sorted(d.glob("*.yml")) if d.is_dir() else []:
            for m in _read(path).get("models") or []:
                if not isinstance(m, dict) or "name" not in m:
                    raise CatalogError(f"{path}: every models: entry needs a name")
                cfg = m.get("config") or {}
                where = f"{path}: model {m['name']}"
                cols = _columns(m.get("columns"), where, glossary)
                if (m.get("meta") or {}).get("columns_from") == "settings":
                    cols = _settings_columns(docs.get("settings", (None, {}))[1], where)
                add(Table(schema, str(m["name"]), " ".join(str(m.get("description") or "").split()),
                          cols, TRANSFORM,
                          str(cfg.get("materialized", m.get("materialized", default_mat))), (),
                          tuple(m.get("tests") or m.get("data_tests") or ()), str(path), dict(m.get("meta") or {}),
                          _refresh(cfg)))
    return Catalog(root, tables, vocabularies, glossary, {k: v[1] for k, v in docs.items()})


def _refresh(cfg: dict[str, Any]) -> str:
    """How a model's config rebuilds it, in words (basinlab.incremental, basinlab.partitions)."""
    part = cfg.get("partition_by")
    if cfg.get("incremental_strategy") == "insert_overwrite":
        span = "every month from the first one whose inputs changed" \
            if cfg.get("partitions") == "from_first_changed" else "the months whose inputs changed"
        return f"partitioned by {part}, rebuilds {span}"
    if cfg.get("materialized") == "incremental":
        key = cfg.get("unique_key") or []
        key = ", ".join(key) if isinstance(key, list) else str(key)
        return f"merges by ({key}) the rows of the changed files" + (f"; logs the months ({part}) it changed"
                                                                       if part else "")
    return f"logs the months ({part}) whose rows changed" if part else ""


def _stamp(root: Path) -> tuple:
    files = sorted(list((root / CATALOG_DIR).glob("*.yml")) + [p for f in LAYERS for p in (root / f).glob("*.yml")])
    return tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in files)


def load(sql_dir: str | Path | None = None) -> Catalog:
    """The declaration under ``sql_dir`` (default ``config.SQL_DIR``); re-read when a yml file changes."""
    root = Path(sql_dir) if sql_dir else config.SQL_DIR
    return _load(str(root), _stamp(root))


def table_schemas(*relations: str, sql_dir: str | Path | None = None) -> dict[str, dict[str, str]]:
    """``{relation: {column: declared type}}`` of the given tables, in declared order: what a Python
    writer casts its frame to (the decline step's ``TABLE_SCHEMAS``)."""
    cat = load(sql_dir)
    return {r: cat.table(r).types() for r in relations}


def columns(relation: str, sql_dir: str | Path | None = None, lineage: bool = True) -> list[str]:
    """The declared column names of ``relation`` (without the ``_``-prefixed lineage columns when ``lineage=False``)."""
    t = load(sql_dir).table(relation)
    return t.names if lineage else t.data_columns()


def insert_sql(relation: str, names: list[str] | tuple[str, ...] | None = None,
               sql_dir: str | Path | None = None) -> str:
    """``insert into <relation> (<columns>) values (?, …)`` for the declared columns (all of them, in
    declared order, or ``names`` after checking that each is declared): the metadata writers build
    their inserts from the declaration instead of repeating the column list."""
    declared = columns(relation, sql_dir)
    names = list(names) if names is not None else declared
    unknown = [n for n in names if n not in declared]
    if unknown:
        raise CatalogError(f"{relation} declares no column {', '.join(unknown)} (declared: {', '.join(declared)})")
    return f"insert into {relation} ({', '.join(names)}) values ({', '.join('?' for _ in names)})"


def ensure_tables(con, owner: str, sql_dir: str | Path | None = None) -> list[str]:
    """Create, empty and with their declared columns, the tables ``owner`` writes that do not exist yet.

    The decline step owns ``marts.decline_*`` and ``marts.ml_trendlines`` (it replaces them on every
    run); the models downstream of them (``dim_wells``, the forecast moving averages) must build
    before the step has ever run, so the transform creates any that are missing first. Returns the
    relations created.
    """
    made = []
    for t in load(sql_dir).owned_by(owner):
        exists = con.execute("select count(*) from information_schema.tables where table_schema = ? "
                             "and table_name = ? and table_catalog = current_database()",
                             [t.schema, t.name]).fetchall()[0][0]
        if not exists:
            con.execute(f"create schema if not exists {t.schema}")
            con.execute(t.create_sql())
            made.append(t.relation)
    return made


__all__ = ["CATALOG_DIR", "Catalog", "CatalogError", "Column", "LAYERS", "LINEAGE_COLUMNS", "MIGRATIONS",
           "SCHEMAS", "TRANSFORM", "Table", "Vocabulary", "columns", "documents", "ensure_tables", "insert_sql",
           "load", "normalise_type", "table_schemas", "vocabularies", "vocabulary"]
