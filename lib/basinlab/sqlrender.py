"""Rendering the SQL of ``sql/``: one Jinja environment for the models and the checks.

A model or check is a Jinja template (dbt's syntax) rendered once, before sqlglot reads its
dependencies and DuckDB runs it. What a template can use:

=================================  ==========================================================
``{{ current_rows(src, key=[…]) }}``  the current rows of a raw table: rows of the file versions
                                   in ``staging.stg_current_files``, the latest per key
``{{ lineage_columns() }}``        ``_source_file, _source_row, _batch_id, _file_id, _ingested_at``
``{{ const.gas_mcf_per_boe }}``    a constant declared in ``sql/catalog/settings.yml`` (a literal)
``{{ settings_columns() }}``       one typed column per setting (``staging.stg_settings``)
``{{ vocabulary('benchmark') }}``  a declared vocabulary as an SQL list ``('WTI', …)``
``{{ account_class(expr) }}``      the chart of accounts' classes as a CASE over ``expr``
``{{ month }}``                    (checks) the report month as a DATE expression
``this``, ``is_incremental()``     the model's relation; whether this render is an incremental run
``changed_files``                  (incremental runs) the temp table of the file ids added to or
                                   removed from ``staging.stg_current_files`` since the model's last build
=================================  ==========================================================

Macros are the files in ``sql/macros/*.sql`` (Jinja ``{% macro %}`` blocks), callable from every
template. An incremental model (``config: {materialized: incremental}``) is rendered a second time at
run time with ``is_incremental()`` true (:mod:`basinlab.incremental`), so its
``{% if is_incremental() %}`` filter — in the staging models, inside the macro ``current_rows`` — keeps
only the keys that changed: the same templates and macros, no second templating system.
"""
from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import jinja2

from . import catalog, config
from . import settings as settings_mod

MACROS_DIR = "macros"


class RenderError(Exception):
    """A template that does not render: the message names the file and Jinja's reason."""


def _settings_columns() -> str:
    """``coalesce(max(case when setting = 'x' then <typed value> end), <default>) as x`` per scalar setting."""
    parts = []
    for name, spec in settings_mod.declared().items():
        if spec.type == "currency":
            value, default = "upper(trim(value))", "'" + str(spec.default).upper() + "'"
        elif spec.type == "integer":
            value, default = "try_cast(value as integer)", str(int(spec.default))
        elif spec.type == "number":
            value, default = "try_cast(value as double)", repr(float(spec.default))
        else:
            continue  # maps have their own table (metadata.oil_differentials)
        parts.append(f"coalesce(max(case when setting = '{name}' then {value} end), {default})\n"
                     f"            as {name}")
    return ",\n        ".join(parts)


def _account_class(expr: str) -> str:
    """CASE mapping an account code to its class (vocabulary account_class; others balance_sheet)."""
    voc = catalog.vocabulary("account_class")
    accounts: dict[str, list[str]] = voc.extra.get("accounts") or {}
    lines = ["case"]
    for cls, codes in accounts.items():
        if cls not in voc.values:
            raise catalog.CatalogError(f"vocabulary account_class: accounts: {cls} is not one of its values")
        lines.append(f"            when {expr} in ({', '.join(repr(str(c)) for c in codes)}) then '{cls}'")
    others = [v for v in voc.values if v not in accounts]
    if len(others) != 1:
        raise catalog.CatalogError("vocabulary account_class: exactly one value (balance_sheet) has no accounts: list")
    lines.append(f"            else '{others[0]}'")
    lines.append("        end")
    return "\n".join(lines)


#: the temp table of changed file ids an incremental render filters on (basinlab.incremental makes it)
CHANGED_FILES = "_bl_changed_files"
#: the temp table of changed months an insert_overwrite render filters on (basinlab.partitions makes it)
CHANGED_MONTHS = "_bl_changed_months"


@functools.lru_cache(maxsize=8)
def _environment(sql_dir: str, stamp: tuple, incremental: bool = False) -> jinja2.Environment:
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True, autoescape=False)
    env.globals.update(
        const={name: c.value for name, c in settings_mod.constants(sql_dir).items()},
        vocabulary=lambda name: catalog.vocabulary(name, sql_dir).sql_list(),
        settings_columns=_settings_columns,
        account_class=_account_class,
        is_incremental=lambda: incremental,
        changed_files=CHANGED_FILES,
        changed_months=CHANGED_MONTHS,
    )
    for path in sorted((Path(sql_dir) / MACROS_DIR).glob("*.sql")):
        try:
            module = env.from_string(path.read_text(encoding="utf-8")).module
        except jinja2.TemplateError as exc:
            raise RenderError(f"{path}: {exc}") from None
        for name in dir(module):
            obj = getattr(module, name)
            if isinstance(obj, jinja2.runtime.Macro):
                env.globals[name] = obj
    return env


def environment(sql_dir: str | Path | None = None, incremental: bool = False) -> jinja2.Environment:
    root = Path(sql_dir) if sql_dir else config.SQL_DIR
    stamp = tuple((str(p), p.stat().st_mtime_ns) for p in sorted((root / MACROS_DIR).glob("*.sql")))
    return _environment(str(root), stamp, incremental)


def render(text: str, where: str | Path, sql_dir: str | Path | None = None, incremental: bool = False,
           **context: Any) -> str:
    """Render one template (``incremental``: with ``is_incremental()`` true, for an incremental model's
    run); :class:`RenderError` naming ``where`` when it does not render."""
    try:
        return environment(sql_dir, incremental).from_string(text).render(**context)
    except jinja2.TemplateError as exc:
        line = getattr(exc, "lineno", None)
        raise RenderError(f"{where}{f', line {line}' if line else ''}: {exc}") from None
    except catalog.CatalogError as exc:
        raise RenderError(f"{where}: {exc}") from None


__all__ = ["CHANGED_FILES", "CHANGED_MONTHS", "MACROS_DIR", "RenderError", "environment", "render"]
