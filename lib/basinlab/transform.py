"""Run the SQL models in ``sql/`` in dependency order, dbt-style, on one DuckDB connection.

Layout (one obvious way to add a model: drop a ``.sql`` file in the right folder)::

    sql/staging/*.sql        schema ``staging``, materialized as views by default
    sql/intermediate/*.sql   schema ``marts``,   tables by default (``int_*``)
    sql/marts/*.sql          schema ``marts``,   tables by default
    sql/<folder>/_<folder>.yml   per-model description, columns, tests,
                                 ``config: {materialized: view|table|incremental}``
                                 and ``sources:`` (external tables a Python step writes, e.g. marts.decline_params)

The file name is the table name. The order comes from the SQL itself: every model's
table references are parsed with sqlglot (DuckDB dialect, CTE names excluded) and
must be schema-qualified: ``raw.well_production``, ``staging.stg_production``,
``marts.int_production_cumulative``. A reference resolves to

* another model (an edge in the DAG),
* a source: a ``raw.*`` / ``metadata.*`` table that exists in the connection's catalog,
  or an external source declared under ``sources:`` in a yml file. A model that depends
  (directly or through its upstream models) on a declared external source that does not
  exist is skipped with status ``skipped`` and a reason; it does not fail the run.

Anything else is an error naming the model and its file (:class:`MissingReferenceError`);
a cycle is an error naming the models in it (:class:`CycleError`).

Each model is created with ``create or replace view|table <schema>.<name> as <sql>``, or, for an
``incremental`` model (``config: {materialized: incremental, unique_key: [...]}``), merged with the
rows of the keys whose files changed since its last build (:mod:`basinlab.incremental`; a full build
when its SQL or declaration changed, when it is missing, or with ``full_refresh=True``), and recorded
in ``metadata.model_runs``; its upstream tables (and, where sqlglot can
tell cheaply, the upstream column of each directly-selected output column) are recorded
in ``metadata.data_lineage``. A failing model is recorded and raises :class:`ModelError`
naming the model, its file and DuckDB's message.

Rendering: every model is a Jinja template (dbt's syntax), rendered once when the project
loads, before sqlglot reads it — macros in ``sql/macros/``, constants, vocabularies and the
settings' columns (:mod:`basinlab.sqlrender`). ``Model.raw_sql`` is the file, ``Model.sql`` what runs.

Settings (reporting currency, gas heating value, oil differentials, tolerances) are declared in
``sql/catalog/settings.yml``, edited in ``<data-dir>/settings.yml`` and recorded by every run in
``metadata.transform_settings`` / ``metadata.oil_differentials`` (:mod:`basinlab.settings`); the
models read them through the view ``staging.stg_settings``. ``run_models(settings={...})`` records
overrides first (source ``override``), so the values a run used stay visible in the warehouse.

Tables a Python step writes and models read (``marts.decline_params`` …) are declared in
``sql/catalog/`` with their owner; ``run_models`` creates any that does not exist yet, empty, with
the declared columns, so the models downstream always build.
"""
from __future__ import annotations

import fnmatch
import graphlib
import re
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import sqlglot
import yaml
from sqlglot import exp

from basinlab import catalog, config, incremental, partitions, sqlrender, warehouse
from basinlab import settings as settings_mod

DIALECT = "duckdb"

#: folder under sql/ -> (schema, default materialization)
LAYERS: dict[str, tuple[str, str]] = catalog.LAYERS

#: how a model can be built (``config: {materialized: ...}``)
MATERIALIZATIONS = ("view", "table", "incremental")

#: schemas whose tables are sources when they exist in the catalog
SOURCE_SCHEMAS = ("raw", "metadata")


def settings_keys() -> tuple[str, ...]:
    """The settings ``run_models(settings=...)`` accepts: those declared in sql/catalog/settings.yml."""
    return tuple(settings_mod.declared())


# --------------------------------------------------------------------------- errors


class ProjectError(Exception):
    """The sql/ project cannot be loaded (bad yml, bad SQL, missing reference, cycle)."""


class MissingReferenceError(ProjectError):
    def __init__(self, model: str, path: Path | str, reference: str, detail: str = ""):
        self.model, self.path, self.reference = model, str(path), reference
        msg = f"model {model} ({path}) references {reference}, which is neither a model nor a known source"
        super().__init__(msg + (f": {detail}" if detail else ""))


class CycleError(ProjectError):
    def __init__(self, models: list[str]):
        self.models = models
        super().__init__("dependency cycle between models: " + " -> ".join(models))


class ModelError(Exception):
    """A model failed in DuckDB. Carries the model's name, file and DuckDB's message."""

    def __init__(self, model: str, path: Path | str, message: str):
        self.model, self.path, self.message = model, str(path), message
        super().__init__(f"model {model} ({path}) failed: {message}")


# --------------------------------------------------------------------------- project


@dataclass
class Model:
    name: str
    path: Path
    schema: str
    materialization: str
    sql: str                     # rendered: what DuckDB runs
    depends_on: list[str] = field(default_factory=list)   # qualified names: models and sources
    raw_sql: str = ""            # the file as written (a Jinja template)
    description: str = ""
    columns: list[dict[str, Any]] = field(default_factory=list)
    tests: list[Any] = field(default_factory=list)
    unique_key: list[str] = field(default_factory=list)   # incremental models: the merge key
    strategy: str = ""           # incremental models: "" (delete+insert by unique_key) or insert_overwrite
    partition_by: str = ""       # the column holding each row's calendar month (basinlab.partitions)
    partitions: str = "changed"  # insert_overwrite: rebuild the changed months, or from_first_changed on
    partitioned_inputs: dict[str, tuple[str, str]] = field(default_factory=dict)   # relation -> (model, its month col)
    keyed_inputs: dict[str, str] = field(default_factory=dict)   # unpartitioned upstream model -> its one-column key
    input_columns: dict[str, list[str] | None] = field(default_factory=dict)   # unpartitioned upstream -> columns read

    @property
    def relation(self) -> str:
        return f"{self.schema}.{self.name}"


@dataclass
class Source:
    name: str            # table name
    schema: str
    description: str = ""
    declared: bool = True  # declared in yml (external) vs discovered raw./metadata.
    owner: str = ""        # the Python writer that creates it (sql/catalog/*.yml meta.owner)

    @property
    def relation(self) -> str:
        return f"{self.schema}.{self.name}"


@dataclass
class ModelResult:
    model: str
    schema: str
    materialization: str
    status: str                  # success | skipped | error
    row_count: int | None = None
    seconds: float = 0.0
    error: str | None = None
    path: str = ""

    @property
    def relation(self) -> str:
        return f"{self.schema}.{self.model}"


class Project:
    """The models of a sql/ dir, their dependencies and yml metadata."""

    def __init__(self, sql_dir: Path, models: dict[str, Model], sources: dict[str, Source]):
        self.sql_dir = sql_dir
        self.models = models            # name -> Model
        self.sources = sources          # relation -> declared external Source
        self._by_relation = {m.relation: m for m in models.values()}
        self.order = self._toposort()

    # -- graph
    def model_for(self, relation: str) -> Model | None:
        return self._by_relation.get(relation)

    def upstream_models(self, name: str) -> list[str]:
        return [self._by_relation[d].name for d in self.models[name].depends_on if d in self._by_relation]

    def downstream_models(self, name: str) -> list[str]:
        rel = self.models[name].relation
        return [m.name for m in self.models.values() if rel in m.depends_on]

    def _toposort(self) -> list[str]:
        """The models in dependency order, ties broken by name: the same order in every process
        (``static_order`` would follow set iteration, which changes with the hash seed)."""
        graph = {name: sorted(set(self.upstream_models(name))) for name in sorted(self.models)}
        ts = graphlib.TopologicalSorter(graph)
        try:
            ts.prepare()
        except graphlib.CycleError as e:
            cycle = list(e.args[1]) if len(e.args) > 1 else []
            raise CycleError(cycle) from None
        order: list[str] = []
        while ts.is_active():
            ready = sorted(ts.get_ready())
            order.extend(ready)
            ts.done(*ready)
        return order

    # -- selection
    def _resolve_name(self, token: str) -> tuple[str, str]:
        """token -> ('model', name) | ('source', relation)."""
        if token in self.models:
            return "model", token
        if token in self._by_relation:
            return "model", self._by_relation[token].name
        if token in self.sources:
            return "source", token
        matches = [rel for rel in self.sources if rel.split(".", 1)[1] == token]
        if len(matches) == 1:
            return "source", matches[0]
        raise ProjectError(
            f"selection {token!r} matches no model or declared source "
            f"(models: {', '.join(sorted(self.models))})"
        )

    def _descendants(self, relation: str) -> set[str]:
        out: set[str] = set()
        stack = [relation]
        while stack:
            rel = stack.pop()
            for m in self.models.values():
                if rel in m.depends_on and m.name not in out:
                    out.add(m.name)
                    stack.append(m.relation)
        return out

    def _ancestors(self, name: str) -> set[str]:
        out: set[str] = set()
        stack = [name]
        while stack:
            for up in self.upstream_models(stack.pop()):
                if up not in out:
                    out.add(up)
                    stack.append(up)
        return out

    def select(self, spec: str | None) -> list[str]:
        """Model names selected by ``spec``, in run order.

        ``NAME`` the model; ``NAME+`` the model and everything downstream; ``+NAME`` the
        model and everything upstream; ``+NAME+`` both. NAME may be a model name, a
        schema-qualified relation, a declared source (``decline_params+`` = every model
        downstream of marts.decline_params) or a glob (``stg_*``). Several specs may be
        separated by spaces or commas (union). ``None``/empty selects everything.
        """
        if not spec or not str(spec).strip():
            return list(self.order)
        chosen: set[str] = set()
        for token in re.split(r"[,\s]+", str(spec).strip()):
            if not token:
                continue
            up = token.startswith("+")
            down = token.endswith("+")
            name = token.strip("+")
            if any(ch in name for ch in "*?["):
                names = [n for n in self.models if fnmatch.fnmatch(n, name)]
                if not names:
                    raise ProjectError(f"selection {token!r} matches no model")
                targets = [("model", n) for n in names]
            else:
                targets = [self._resolve_name(name)]
            for kind, ident in targets:
                if kind == "model":
                    chosen.add(ident)
                    if down:
                        chosen |= self._descendants(self.models[ident].relation)
                    if up:
                        chosen |= self._ancestors(ident)
                else:  # a source: only what is downstream of it
                    chosen |= self._descendants(ident)
        return [n for n in self.order if n in chosen]

    # -- docs
    def mermaid(self) -> str:
        """A mermaid ``graph LR`` of sources and models (paste into markdown / a notebook)."""

        def node_id(rel: str) -> str:
            return re.sub(r"[^A-Za-z0-9_]", "_", rel)

        lines = ["graph LR"]
        seen_sources: set[str] = set()
        for name in self.order:
            m = self.models[name]
            for dep in m.depends_on:
                if dep not in self._by_relation and dep not in seen_sources:
                    seen_sources.add(dep)
                    lines.append(f"    {node_id(dep)}[({dep})]")
        for name in self.order:
            m = self.models[name]
            shape = f"{node_id(m.relation)}[\"{m.relation}<br/><i>{m.materialization}</i>\"]"
            lines.append(f"    {shape}")
        for name in self.order:
            m = self.models[name]
            for dep in m.depends_on:
                lines.append(f"    {node_id(dep)} --> {node_id(m.relation)}")
        lines.append("    classDef source fill:#eef,stroke:#88a")
        if seen_sources:
            lines.append("    class " + ",".join(node_id(s) for s in sorted(seen_sources)) + " source")
        return "\n".join(lines)

    def __repr__(self) -> str:  # pragma: no cover
        return f"Project({self.sql_dir}, {len(self.models)} models)"


def _read_yml(folder: Path) -> dict[str, Any]:
    docs: dict[str, Any] = {"models": [], "sources": []}
    for yml in sorted(list(folder.glob("*.yml")) + list(folder.glob("*.yaml"))):
        try:
            data = yaml.load(yml.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) or {}
        except yaml.YAMLError as e:
            raise ProjectError(f"{yml}: invalid yml: {e}") from None
        if not isinstance(data, dict):
            raise ProjectError(f"{yml}: expected a mapping with models:/sources:")
        for entry in data.get("models") or []:
            if not isinstance(entry, dict) or "name" not in entry:
                raise ProjectError(f"{yml}: every models: entry needs a name")
            entry = dict(entry)
            entry["_yml"] = str(yml)
            docs["models"].append(entry)
        for src in data.get("sources") or []:
            if not isinstance(src, dict):
                raise ProjectError(f"{yml}: every sources: entry needs schema/name and tables")
            schema = src.get("schema") or src.get("name")
            for tbl in src.get("tables") or []:
                tname = tbl["name"] if isinstance(tbl, dict) else str(tbl)
                desc = tbl.get("description", "") if isinstance(tbl, dict) else ""
                docs["sources"].append(Source(tname, schema, desc, True))
    return docs


def table_references(sql: str, model: str = "?", path: Path | str = "?") -> list[tuple[str, str]]:
    """``[(schema, table), ...]`` referenced by ``sql`` (CTE names and table functions excluded).

    Unqualified names that are not CTEs come back with schema ``''`` (load_project refuses them).
    """
    try:
        statements = [s for s in sqlglot.parse(sql, dialect=DIALECT) if s is not None]
    except sqlglot.errors.ParseError as e:
        raise ProjectError(f"model {model} ({path}): SQL does not parse: {e}") from None
    if len(statements) != 1:
        raise ProjectError(f"model {model} ({path}): expected exactly one select statement, found {len(statements)}")
    tree = statements[0]
    ctes = {c.alias_or_name.lower() for c in tree.find_all(exp.CTE)}
    refs: list[tuple[str, str]] = []
    for tbl in tree.find_all(exp.Table):
        if not isinstance(tbl.this, exp.Identifier):
            continue  # table function: range(), generate_series(), read_csv() ...
        name, db = tbl.name.lower(), (tbl.db or "").lower()
        if not db and name in ctes:
            continue
        if tbl.catalog:
            db = f"{tbl.catalog.lower()}.{db}"
        ref = (db, name)
        if ref not in refs:
            refs.append(ref)
    return refs


def _declared_sources(sql_dir: Path) -> dict[str, Source]:
    """The external tables declared in ``sql/catalog/`` (tables Python steps write, with their owner).

    Tables in the source schemas and tables the transform or the migrations own are not sources
    here; an empty dict when there is no catalog folder. A bad catalog raises
    :class:`ProjectError` with the catalog's message.
    """
    sources: dict[str, Source] = {}
    if (sql_dir / catalog.CATALOG_DIR).is_dir():   # tables Python steps write, declared with their owner
        try:
            declared = catalog.load(sql_dir)
        except catalog.CatalogError as exc:
            raise ProjectError(str(exc)) from None
        for t in declared.tables.values():
            if t.schema not in SOURCE_SCHEMAS and t.owner not in (catalog.TRANSFORM, catalog.MIGRATIONS):
                sources[t.relation] = Source(t.name, t.schema, t.description, True, t.owner)
    return sources


def _read_layer_models(d: Path, schema: str, default_mat: str, sql_dir: Path, models: dict[str, Model]) -> None:
    """Render every ``*.sql`` file of one layer folder into ``models``, in file-name order.

    The model takes the layer's schema and default materialization (the yml may change the
    latter later). A name already defined in any layer, or a template that does not render,
    raises :class:`ProjectError` naming the file(s).
    """
    for path in sorted(d.glob("*.sql")):
        name = path.stem
        if name in models:
            raise ProjectError(f"model {name} is defined twice: {models[name].path} and {path}")
        text = path.read_text(encoding="utf-8")
        try:
            rendered = sqlrender.render(text, path, sql_dir, this=f"{schema}.{name}")
        except sqlrender.RenderError as exc:
            raise ProjectError(str(exc)) from None
        models[name] = Model(name, path, schema, default_mat, rendered, raw_sql=text)


def _read_layers(
    sql_dir: Path, models: dict[str, Model], sources: dict[str, Source]
) -> dict[str, dict[str, Any]]:
    """Read each layer folder of :data:`LAYERS` in turn: its yml first, then its models.

    Models are added to ``models`` and yml-declared sources to ``sources`` (a later declaration
    of the same relation wins); returns the yml entry of every model described, by name.
    """
    yml_models: dict[str, dict[str, Any]] = {}
    for folder, (schema, default_mat) in LAYERS.items():
        d = sql_dir / folder
        if not d.is_dir():
            continue
        docs = _read_yml(d)
        for entry in docs["models"]:
            yml_models[entry["name"]] = entry
        for src in docs["sources"]:
            sources[src.relation] = src
        _read_layer_models(d, schema, default_mat, sql_dir, models)
    return yml_models


def _configure_model(m: Model, entry: dict[str, Any]) -> None:
    """Apply one yml entry to its model: materialization, unique key, description, columns, tests.

    ``materialized`` is read from ``config:`` first, then from the entry itself, else the layer's
    default stays; a value outside :data:`MATERIALIZATIONS` raises :class:`ProjectError` naming
    the yml file and the model.
    """
    cfg = entry.get("config") or {}
    mat = cfg.get("materialized", entry.get("materialized", m.materialization))
    if mat not in MATERIALIZATIONS:
        raise ProjectError(f"{entry['_yml']}: model {m.name}: materialized must be one of "
                           f"{', '.join(MATERIALIZATIONS)}, got {mat!r}")
    m.materialization = mat
    key = cfg.get("unique_key") or []
    m.unique_key = [str(k) for k in ([key] if isinstance(key, str) else key)]
    m.strategy = str(cfg.get("incremental_strategy") or "")
    m.partition_by = str(cfg.get("partition_by") or "")
    m.partitions = str(cfg.get("partitions") or partitions.CHANGED)
    m.description = str(entry.get("description") or "").strip()
    m.columns = list(entry.get("columns") or [])
    m.tests = list(entry.get("tests") or entry.get("data_tests") or [])


def _model_dependencies(
    m: Model, models: dict[str, Model], relations: dict[str, Model], sources: dict[str, Source]
) -> list[str]:
    """The relations ``m`` reads, in order of first reference, checked against the project.

    An unqualified name raises :class:`MissingReferenceError` (with a hint when it names a
    model); a ``staging``/``marts`` reference that is neither a model nor a declared source raises
    :class:`MissingReferenceError`; a model reading itself raises :class:`CycleError`.
    """
    deps: list[str] = []
    for db, name in table_references(m.sql, m.name, m.path):
        if not db:
            hint = f"; did you mean {models[name].relation}?" if name in models else ""
            raise MissingReferenceError(
                m.name, m.path, name,
                "references must be schema-qualified (raw.x, metadata.x, staging.x, marts.x)" + hint)
        rel = f"{db}.{name}"
        if rel not in relations and rel not in sources and db not in SOURCE_SCHEMAS:
            raise MissingReferenceError(m.name, m.path, rel)
        if rel == m.relation:
            raise CycleError([m.name, m.name])
        if rel not in deps:
            deps.append(rel)
    return deps


def columns_read(sql: str, relation: str) -> list[str] | None:
    """The columns of ``relation`` that ``sql`` may read: None when a select takes ``*`` from it (every
    column), else every column name the SQL mentions anywhere — a superset of those it reads, so that
    a fingerprint over them changes whenever what the model reads changes (and not when a column it
    never reads does: a file's lineage, a setting's provenance)."""
    tree = sqlglot.parse_one(sql, read=DIALECT)
    schema, name = relation.split(".", 1)
    for select in tree.find_all(exp.Select):
        aliases = {t.alias_or_name for t in select.find_all(exp.Table)
                   if t.find_ancestor(exp.Select) is select and t.name == name and t.db == schema}
        if aliases and any(isinstance(e, exp.Star) or (isinstance(e, exp.Column) and isinstance(e.this, exp.Star)
                                                       and e.table in aliases | {""})
                           for e in select.expressions):
            return None
    return sorted({c.name for c in tree.find_all(exp.Column)})


def _check_incremental_models(models: dict[str, Model], relations: dict[str, Model]) -> None:
    """Check every incremental and partitioned model's declaration (:func:`basinlab.incremental.check_model`,
    :func:`basinlab.partitions.check_model`) and tell each model which of its inputs are partitioned.

    The first bad one raises :class:`ProjectError` with the module's message.
    """
    partitioned = {m.relation for m in models.values() if m.partition_by and m.materialization != "view"}
    for m in models.values():
        m.partitioned_inputs = {d: (relations[d].name, relations[d].partition_by) for d in m.depends_on
                                if d in partitioned}
        m.keyed_inputs = {d: relations[d].unique_key[0] for d in m.depends_on
                          if d in relations and d not in partitioned and len(relations[d].unique_key) == 1}
        if m.strategy == partitions.OVERWRITE:
            m.input_columns = {d: columns_read(m.sql, d) for d in m.depends_on if d not in partitioned}
        try:
            partitions.check_model(m, partitioned)
            if m.materialization == "incremental" and m.strategy != partitions.OVERWRITE:
                incremental.check_model(m, set(relations))
        except (incremental.IncrementalError, partitions.PartitionError) as exc:
            raise ProjectError(str(exc)) from None


def load_project(sql_dir: str | Path = config.SQL_DIR) -> Project:
    """Read every model and yml under ``sql_dir`` and build the DAG (no database needed).

    Raises :class:`MissingReferenceError` for a reference into ``staging``/``marts`` that
    is neither a model nor a declared source, or for an unqualified table name, and
    :class:`CycleError` for a cycle. ``raw.*``/``metadata.*`` references are checked
    against the catalog when the models run.
    """
    sql_dir = Path(sql_dir)
    models: dict[str, Model] = {}
    sources = _declared_sources(sql_dir)
    yml_models = _read_layers(sql_dir, models, sources)
    for name, entry in yml_models.items():
        if name not in models:
            raise ProjectError(f"{entry['_yml']}: yml describes model {name}, but there is no {name}.sql")
        _configure_model(models[name], entry)

    relations = {m.relation: m for m in models.values()}
    for m in models.values():
        m.depends_on = _model_dependencies(m, models, relations, sources)
    _check_incremental_models(models, relations)
    return Project(sql_dir, models, sources)


# --------------------------------------------------------------------------- running


def _exists(con, relation: str) -> bool:
    schema, name = relation.split(".", 1)
    return bool(con.execute("select count(*) from information_schema.tables where table_catalog = current_database() "
                            "and table_schema = ? and table_name = ?", [schema, name]).fetchall()[0][0])


def _catalog(con) -> dict[str, str]:
    """relation -> 'table' | 'view' for every relation in the current database."""
    rows = con.execute(
        """
        select schema_name || '.' || table_name, 'table' from duckdb_tables() where database_name = current_database()
        union all
        select schema_name || '.' || view_name, 'view' from duckdb_views()
        where database_name = current_database() and not internal
        """
    ).fetchall()
    return {r[0].lower(): r[1] for r in rows}


def apply_settings(con, settings: dict[str, Any] | None) -> None:
    """Record ``settings`` (overrides of the declared settings, validated like settings.yml) in
    metadata.transform_settings with source ``override``; a setting without a row takes its default.

    Raises :class:`basinlab.settings.SettingsError` (a ``ValueError``) naming an unknown key or a bad value.
    """
    settings_mod.ensure_recorded(con)
    if not settings:
        return
    current = settings_mod.defaults()
    recorded = dict(con.execute("select setting, value from metadata.transform_settings").fetchall())
    specs = settings_mod.declared()
    for name, text in recorded.items():      # keep what the run recorded (settings.yml), override the rest
        if name in specs and specs[name].scalar:
            try:
                current.values[name] = specs[name].parse(
                    text if specs[name].type == "currency" else settings_mod._coerce_text(text), "recorded")
            except settings_mod.SettingsError:
                pass
    diffs = dict(con.execute("select basin, differential_usd_per_bbl from metadata.oil_differentials").fetchall())
    for name, spec in specs.items():
        if not spec.scalar and diffs:
            current.values[name] = diffs
    updated = current.with_overrides(settings, where="run_models(settings=...)")
    sources = dict(con.execute("select setting, source from metadata.transform_settings").fetchall())
    for name in specs:
        if name not in settings:
            updated.sources[name] = sources.get(name) or settings_mod.DEFAULT
    settings_mod.record(con, updated)


def _record_run(con, run_id: str, r: ModelResult) -> None:
    con.execute(
        "insert into metadata.model_runs "
        "(run_id, model, schema_name, materialization, status, row_count, seconds, error, ran_at) "
        "values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [run_id, r.model, r.schema, r.materialization, r.status, r.row_count, r.seconds, r.error, datetime.now()],
    )


_LINEAGE_MAX_DEPTH = 40   # scopes deep to trace a column before giving up (guards pathological SQL)


def _lineage_schema(con, deps: Iterable[str]) -> dict[str, dict[str, dict[str, str]]]:
    """The columns and types of the upstream relations, as sqlglot's nested schema mapping.

    ``{schema: {table: {column: type}}}`` for every relation in ``deps`` that has columns in
    the warehouse; sqlglot's qualifier needs it to expand ``select *`` and attribute bare
    column names to their table.
    """
    schema: dict[str, dict[str, dict[str, str]]] = {}
    for rel in deps:
        s, t = rel.split(".", 1)
        cols = warehouse.table_columns(con, rel)
        if cols:
            schema.setdefault(s, {})[t] = cols
    return schema


def _leaf_columns(node: exp.Expression) -> list[exp.Column]:
    """The column references an output expression reads.

    Walks ``node`` without entering nested subqueries/selects (a scalar subquery is not a
    source of the output) and, for a window function, only into the function itself, so the
    columns that only partition or order the window are not counted.
    """
    out: list[exp.Column] = []
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, exp.Column):
            out.append(n)
            continue
        if isinstance(n, (exp.Subquery, exp.Select)) and n is not node:
            continue
        if isinstance(n, exp.Window):
            stack.append(n.this)
            continue
        stack.extend(n.iter_expressions())
    return out


def _select_branches(src) -> list:
    """The plain ``select`` scopes under a scope, in order: the scope itself, or every branch
    of a union / set operation (nested set operations flattened left to right)."""
    branches: list = []
    pending = [src]
    while pending:
        sc = pending.pop(0)
        if isinstance(sc.expression, exp.Select):
            branches.append(sc)
        else:
            pending[:0] = list(
                getattr(sc, "set_operation_scopes", None) or getattr(sc, "union_scopes", None) or []
            )
    return branches


def _trace_into_scope(src, column: str, memo: dict, depth: int) -> set[tuple[str, str]]:
    """The (relation, column) sources of ``column`` as a derived table / CTE scope outputs it.

    A union feeds the column from every branch, by position (the names come from branch 1); each
    column the branch's projection reads is traced further down with :func:`_trace_column`.
    """
    found: set[tuple[str, str]] = set()
    branches = _select_branches(src)
    position = None
    if branches:
        names = [p.alias_or_name for p in branches[0].expression.expressions]
        position = names.index(column) if column in names else None
    for sub in branches if position is not None else []:
        projs = sub.expression.expressions
        if position < len(projs):
            for c in _leaf_columns(projs[position]):
                if c.table:
                    found |= _trace_column(sub, c.table, c.name, memo, depth + 1)
    return found


def _trace_column(scope, table: str, column: str, memo: dict, depth: int = 0) -> set[tuple[str, str]]:
    """The (warehouse relation, column) pairs that ``table.column`` in ``scope`` comes from.

    A physical table is the answer itself; a derived table or CTE is traced into, up to
    :data:`_LINEAGE_MAX_DEPTH` scopes deep. ``memo`` (keyed by scope and column) makes shared
    CTEs cheap and stops a self-reference from recursing forever.
    """
    from sqlglot.optimizer.scope import Scope

    key = (id(scope), f"{table}.{column}")
    if key in memo:
        return memo[key]
    memo[key] = set()
    found: set[tuple[str, str]] = set()
    src = scope.sources.get(table)
    if isinstance(src, exp.Table) and src.db:
        found.add((f"{src.db}.{src.name}".lower(), column))
    elif isinstance(src, Scope) and depth < _LINEAGE_MAX_DEPTH:
        found = _trace_into_scope(src, column, memo, depth)
    memo[key] = found
    return found


def _column_lineage(model: Model, con, deps: Iterable[str]) -> list[tuple[str, str, str]]:
    """[(output column, source relation, source column)] traced through CTEs and subqueries.

    Every column an output expression reads (``trim(well_id)``, ``oil_bbl / days``, ``sum(x)``)
    counts as a source of that output; columns that only partition or order a window, or sit in
    a scalar subquery, do not. Best effort: returns [] when sqlglot cannot qualify the model."""
    from sqlglot.optimizer.qualify import qualify
    from sqlglot.optimizer.scope import build_scope

    schema = _lineage_schema(con, deps)
    tree = sqlglot.parse_one(model.sql, dialect=DIALECT)
    tree = qualify(tree, schema=schema, dialect=DIALECT, validate_qualify_columns=False,
                   identify=False, quote_identifiers=False)
    root = build_scope(tree)
    if root is None or not isinstance(root.expression, exp.Select):
        return []

    memo: dict[tuple[int, str], set[tuple[str, str]]] = {}
    out: list[tuple[str, str, str]] = []
    for proj in root.expression.expressions:
        sources: set[tuple[str, str]] = set()
        for c in _leaf_columns(proj):
            if c.table:
                sources |= _trace_column(root, c.table, c.name, memo)
        for rel, col in sorted(sources):
            out.append((proj.alias_or_name, rel, col))
    return out


def _record_lineage(con, run_id: str, model: Model, column_lineage: bool) -> None:
    now = datetime.now()
    rows: list[tuple] = [(run_id, model.relation, dep, None, None, now) for dep in model.depends_on]
    if column_lineage:
        try:
            for col, src, src_col in _column_lineage(model, con, model.depends_on):
                rows.append((run_id, model.relation, src, col, src_col, now))
        except Exception:  # noqa: BLE001 - column lineage is best effort, never fails a run
            pass
    if rows:
        con.executemany(
            "insert into metadata.data_lineage (run_id, model, source_table, column_name, source_column, recorded_at) "
            "values (?, ?, ?, ?, ?, ?)",
            rows,
        )


def _apply_run_settings(con, settings: dict[str, Any] | None) -> None:
    """Record the run's settings (:func:`apply_settings`) when the warehouse has the settings table.

    Without ``metadata.transform_settings`` (migrations not applied) the run goes on with the
    models' defaults, unless overrides were asked for: then a ``ValueError`` says what to do.
    """
    if _exists(con, "metadata.transform_settings"):
        apply_settings(con, settings)
    elif settings:
        raise ValueError("settings= needs metadata.transform_settings: apply the migrations first")


def _ensure_run_tables(con, project: Project, selected: list[str], say: Callable[[str], None]) -> None:
    """Create what the selected models need before they run: the declared external tables that
    do not exist yet (empty, with their declared columns, announced through ``say``) and, when an
    incremental model is selected, the incremental state tables."""
    for owner in sorted({s.owner for s in project.sources.values() if s.owner}):
        for rel in catalog.ensure_tables(con, owner, project.sql_dir):
            say(f"made  {rel} (empty, as declared; {owner} fills it)")
    if any(project.models[n].materialization == "incremental" for n in selected):
        incremental.ensure_state(con)


def _check_warehouse_references(project: Project, selected: list[str], catalog_: dict[str, str]) -> None:
    """Validate sources before touching anything: every relation a selected model reads that is
    neither a model nor a declared source must exist in the warehouse, else
    :class:`MissingReferenceError` names the model, its file and the relation."""
    for name in selected:
        m = project.models[name]
        for dep in m.depends_on:
            if project.model_for(dep) or dep in project.sources:
                continue
            if dep not in catalog_:
                raise MissingReferenceError(m.name, m.path, dep, "no such table in the warehouse")


def _skip_reason(
    project: Project, m: Model, selected: list[str], skipped: dict[str, str], catalog_: dict[str, str]
) -> str | None:
    """Why ``m`` cannot be built in this run, or None when it can.

    The first upstream relation (in the model's reference order) that was skipped, is a declared
    external source not created yet, or is an unselected model never built, gives the reason.
    """
    for dep in m.depends_on:
        if dep in skipped:
            return f"upstream {dep} skipped ({skipped[dep]})"
        if dep in project.sources and dep not in catalog_:
            return f"external source {dep} does not exist yet"
        up = project.model_for(dep)
        if up is not None and up.name not in selected and dep not in catalog_:
            return f"upstream model {dep} is not built (select it too)"
    return None


def _skip_model(con, run_id: str, m: Model, reason: str, skipped: dict[str, str],
                results: list[ModelResult], say: Callable[[str], None]) -> None:
    """Record ``m`` as skipped for ``reason``: in ``skipped`` (so its downstream models skip too),
    in ``metadata.model_runs``, in ``results`` and through ``say``."""
    skipped[m.relation] = reason
    r = ModelResult(m.name, m.schema, m.materialization, "skipped", None, 0.0, reason, str(m.path))
    _record_run(con, run_id, r)
    results.append(r)
    say(f"skip  {m.relation}: {reason}")


def _run_model(con, run_id: str, m: Model, catalog_: dict[str, str], full_refresh: bool, column_lineage: bool,
               results: list[ModelResult], say: Callable[[str], None]) -> None:
    """Build one model and record it (``metadata.model_runs``, lineage, ``results``, ``say``).

    A table is checkpointed to the file once built, and ``catalog_`` learns the new relation. A
    failure is recorded with status ``error`` (appended to ``results`` even if recording fails)
    and raises :class:`ModelError` naming the model, its file and DuckDB's message.
    """
    t0 = time.perf_counter()
    kind = "view" if m.materialization == "view" else "table"
    try:
        n, how = _build(con, m, catalog_.get(m.relation), full_refresh, run_id)
    except Exception as e:  # duckdb.Error and friends
        r = ModelResult(m.name, m.schema, m.materialization, "error", None,
                        time.perf_counter() - t0, str(e).strip(), str(m.path))
        try:
            _record_run(con, run_id, r)
        finally:
            results.append(r)
        say(f"FAIL  {m.relation}: {e}")
        raise ModelError(m.name, m.path, str(e).strip()) from e
    if kind == "table":
        _checkpoint(con)
    secs = time.perf_counter() - t0
    catalog_[m.relation] = kind
    r = ModelResult(m.name, m.schema, m.materialization, "success", None if n is None else int(n), secs, None,
                    str(m.path))
    _record_run(con, run_id, r)
    _record_lineage(con, run_id, m, column_lineage)
    results.append(r)
    say(f"ok    {m.relation} ({how}{'' if n is None else f', {n} rows'}, {secs:.2f}s)")


def run_models(
    con,
    run_id: str | None = None,
    select: str | None = None,
    project: Project | None = None,
    progress: Callable[[str], None] | None = None,
    settings: dict[str, Any] | None = None,
    column_lineage: bool = True,
    full_refresh: bool = False,
) -> list[ModelResult]:
    """Build the selected models (default: all) in DAG order on ``con``.

    Incremental models merge the rows of the files that changed since their last build
    (:mod:`basinlab.incremental`); ``full_refresh=True`` rebuilds them in full.

    Returns one :class:`ModelResult` per selected model (status success | skipped).
    A model whose upstream includes a missing declared external source is skipped
    (and so is everything downstream of it). A reference to a ``raw.``/``metadata.``
    table that does not exist raises :class:`MissingReferenceError` before anything
    runs; a model that fails in DuckDB is recorded with status ``error`` and raises
    :class:`ModelError`.
    """
    project = project or load_project()
    run_id = run_id or f"adhoc-{datetime.now():%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
    say = progress or (lambda _msg: None)
    _apply_run_settings(con, settings)
    selected = project.select(select)
    _ensure_run_tables(con, project, selected, say)
    catalog_ = _catalog(con)
    _check_warehouse_references(project, selected, catalog_)

    for schema in sorted({project.models[n].schema for n in selected}):
        con.execute(f"create schema if not exists {schema}")

    results: list[ModelResult] = []
    skipped: dict[str, str] = {}   # relation -> reason
    for name in selected:
        m = project.models[name]
        reason = _skip_reason(project, m, selected, skipped, catalog_)
        if reason:
            _skip_model(con, run_id, m, reason, skipped, results, say)
            continue
        _run_model(con, run_id, m, catalog_, full_refresh, column_lineage, results, say)
    return results


def _checkpoint(con) -> None:
    """Write a table just built to the file: until a checkpoint DuckDB keeps it in memory it cannot
    evict, and under a small memory limit the next model then fails (tests/test_memory_bound.py).
    Skipped inside a caller's transaction."""
    try:
        con.execute("checkpoint")
    except duckdb.Error:
        pass


def _build(con, m: Model, kind_now: str | None, full_refresh: bool, run_id: str) -> tuple[int | None, str]:
    """Build one model; returns its row count (None for a view: not counted) and how it was built, in words."""
    if m.materialization == "incremental" and m.strategy == partitions.OVERWRITE:
        po, out = incremental.build_overwrite(con, m, kind_now, full_refresh, run_id)
        if po.mode == partitions.INCREMENTAL:
            return out.row_count, f"insert_overwrite: {out.rows_merged} rows for {po.reason}"
        return out.row_count, f"insert_overwrite table, {po.mode}: {po.reason}"
    if m.materialization == "incremental":
        p, out = incremental.build(con, m, kind_now, full_refresh, run_id)
        if p.mode == incremental.INCREMENTAL:
            return out.row_count, f"incremental: {out.rows_merged} rows merged from {len(p.changed)} changed file(s)"
        return out.row_count, f"incremental table, {p.mode}: {p.reason}"
    if m.materialization == "table" and m.partition_by:
        months = incremental.build_logged_table(con, m, kind_now, run_id)
        n = int(con.execute(f"select count(*) from {m.relation}").fetchone()[0])
        return n, f"table, {'every month' if months is None else len(months)} month(s) changed"
    kind = "view" if m.materialization == "view" else "table"
    other = "table" if kind == "view" else "view"
    if kind_now == other:   # switching materialization: drop the other kind first
        con.execute(f"drop {other} if exists {m.relation} cascade")
    body = m.sql.strip().rstrip(";")
    con.execute(f"create or replace {kind} {m.relation} as\n{body}\n")
    if kind == "view":   # not counted: a count runs the view's whole query (18 M GL lines at 20,000 wells)
        return None, kind
    return int(con.execute(f"select count(*) from {m.relation}").fetchone()[0]), kind


def results_frame(results: list[ModelResult]):
    """The results of :func:`run_models` as a pandas DataFrame (for notebooks)."""
    import pandas as pd

    return pd.DataFrame(
        [
            {"model": r.relation, "materialization": r.materialization, "status": r.status,
             "row_count": r.row_count, "seconds": round(r.seconds, 3), "error": r.error}
            for r in results
        ],
        columns=["model", "materialization", "status", "row_count", "seconds", "error"],
    )


__all__ = [
    "CycleError", "MissingReferenceError", "Model", "ModelError", "ModelResult", "Project",
    "ProjectError", "Source", "apply_settings", "columns_read", "load_project", "results_frame", "settings_keys",
    "run_models", "table_references",
]
