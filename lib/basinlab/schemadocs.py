"""``docs/warehouse.md``, generated from the declaration (``basinlab db docs``).

One section per schema, one table per relation: every column with its type, unit, description and
checks; the relation's owner (a migration, the transform, a Python step), grain, upstream relations
(lineage) and table checks; a Mermaid ER diagram whose keys come from the ``unique`` /
``unique_combination`` tests and ``primary_key`` constraints and whose links come from the
``relationships`` tests; then the vocabularies and the settings. A test regenerates it and fails
when the committed file differs or a column has no description.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from . import catalog as cat_mod
from . import config
from . import settings as settings_mod
from .catalog import SCHEMAS, Catalog, Table

DOC_PATH = config.REPO_ROOT / "docs" / "warehouse.md"

SCHEMA_WORDS = {
    "raw": "Source rows as accepted, in canonical columns and units, with lineage. Created by the migrations.",
    "staging": "Views over raw: current file versions only, deduplicated, typed, unit-normalised.",
    "marts": ("Tables: intermediate models (int_*), facts, dimensions, aggregates, marts, "
              "and the decline step's results."),
    "metadata": ("What the pipeline did and used: migrations, files, runs, model runs, checks, lineage, "
                 "settings, audit."),
}


def _test_words(test: Any) -> str:
    if isinstance(test, str):
        return test
    (name, args), = test.items() if isinstance(test, dict) and len(test) == 1 else (("?", test),)
    args = args or {}
    sev = (args.get("config") or {}).get("severity") if isinstance(args, dict) else None
    suffix = " (warn)" if sev == "warn" else ""
    if name == "accepted_values":
        what = (f"vocabulary {args['vocabulary']}" if args.get("vocabulary")
                else ", ".join(map(str, args.get("values", []))))
        return f"accepted_values: {what}{suffix}"
    if name == "relationships":
        return f"relationships: {args.get('to')}.{args.get('field')}{suffix}"
    if name == "range":
        lo, hi = args.get("min"), args.get("max")
        return f"range: {'' if lo is None else lo}..{'' if hi is None else hi}{suffix}"
    if name == "expression":
        return f"expression: `{args.get('expression')}`{suffix}"
    if name == "unique_combination":
        cols = args if isinstance(args, list) else args.get("columns") or args.get("value") or []
        return f"unique: ({', '.join(cols)})"
    return f"{name}{suffix}"


def _cell(text: Any) -> str:
    return str(text if text is not None else "").replace("|", "\\|").replace("\n", " ")


def _grain(t: Table) -> list[str]:
    for test in t.tests:
        if isinstance(test, dict) and "unique_combination" in test:
            v = test["unique_combination"]
            return list(v if isinstance(v, list) else v.get("columns") or [])
    if t.primary_key:
        return list(t.primary_key)
    for c in t.columns:
        if "unique" in [x if isinstance(x, str) else next(iter(x)) for x in c.tests]:
            return [c.name]
    return []


def _relationships(cat: Catalog) -> list[tuple[Table, str, str, str]]:
    """(child table, child column, parent relation, parent column) of every relationships test."""
    out = []
    models = {t.name: t.relation for t in cat.tables.values()}
    for t in cat.tables.values():
        for c in t.columns:
            for test in c.tests:
                if isinstance(test, dict) and "relationships" in test:
                    to = str(test["relationships"]["to"])
                    out.append((t, c.name, to if "." in to else models.get(to, to), test["relationships"]["field"]))
    return out


def _mermaid_type(t: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", t.split("(")[0])


def er_diagram(cat: Catalog) -> str:
    """A Mermaid ``erDiagram``: the relations in a relationship, with their keys and linking columns."""
    rels = _relationships(cat)
    involved: dict[str, set[str]] = {}
    for child, col, parent, pcol in rels:
        involved.setdefault(child.relation, set()).add(col)
        involved.setdefault(parent, set()).add(pcol)
    lines = ["erDiagram"]
    for child, col, parent, pcol in sorted(rels, key=lambda r: (r[2], r[0].relation, r[1])):
        lines.append(f'    {_ent(parent)} ||--o{{ {_ent(child.relation)} : "{col} -> {pcol}"')
    for rel in sorted(involved):
        t = cat.tables.get(rel)
        if t is None:
            continue
        keys = _grain(t)
        lines.append(f"    {_ent(rel)} {{")
        for c in t.columns:
            if c.name in keys or c.name in involved[rel]:
                mark = " PK" if c.name in keys else ""
                if any(r[0].relation == rel and r[1] == c.name for r in rels):
                    mark += ", FK" if mark else " FK"
                lines.append(f"        {_mermaid_type(c.data_type)} {c.name}{mark}")
        lines.append("    }")
    return "\n".join(lines)


def _ent(relation: str) -> str:
    return relation.replace(".", "__")


def render(sql_dir: str | Path | None = None) -> str:
    """The text of docs/warehouse.md for the declaration under ``sql_dir``."""
    from .transform import load_project  # upstream relations of the models (lineage)

    cat = cat_mod.load(sql_dir)
    project = load_project(sql_dir or config.SQL_DIR)
    n_cols = sum(len(t.columns) for t in cat.tables.values())
    described = sum(1 for t in cat.tables.values() for c in t.columns if c.description)
    out = ["# The warehouse", "",
           "<!-- Generated by `basinlab db docs` from the declaration (sql/**/*.yml). Do not edit by hand:",
           "     change the yml and run `basinlab db docs`; tests/test_catalog.py fails when this file is stale. -->",
           "",
           f"{len(cat.tables)} relations, {n_cols} columns, {described} described "
           f"({100.0 * described / max(n_cols, 1):.0f} %). Types are DuckDB's; units as declared. "
           "Where a relation comes from: *migrations* (sql/migrations, raw and metadata), *transform* "
           "(a SQL model in sql/<layer>/, with its upstream relations), or the Python step that writes it.",
           "", "## Contents", ""]
    for schema in SCHEMAS:
        out.append(f"- [{schema}](#{schema}) — " + ", ".join(
            f"[{t.name}](#{schema}{t.name})" for t in sorted(cat.in_schema(schema), key=lambda t: t.name)))
    out += ["- [Relationships](#relationships)", "- [Vocabularies](#vocabularies)", "- [Settings](#settings)", "",
            "## Relationships", "", "Keys (PK) from the unique tests and primary keys; links from the "
            "`relationships` tests (child column -> parent column).", "", "```mermaid", er_diagram(cat), "```", ""]
    for schema in SCHEMAS:
        out += [f"## {schema}", "", SCHEMA_WORDS[schema], ""]
        for t in sorted(cat.in_schema(schema), key=lambda t: t.name):
            out += _table_section(t, project)
    out += _vocabulary_section(cat)
    out += _settings_section()
    return "\n".join(out).rstrip() + "\n"


def _table_section(t: Table, project) -> list[str]:
    out = [f"### {t.schema}.{t.name}", "", t.description or "", ""]
    if t.owner == cat_mod.TRANSFORM:
        m = project.models.get(t.name)
        up = ", ".join(f"`{d}`" for d in sorted(m.depends_on)) if m else "-"
        path = Path(m.path).relative_to(project.sql_dir.parent) if m else "?"
        how = f"{t.materialization}: {t.refresh}" if t.refresh else t.materialization
        out.append(f"- built by: the transform, `{path}` ({how}); upstream: {up or '-'}")
    elif t.owner == cat_mod.MIGRATIONS:
        out.append("- created by: the migrations (sql/migrations/)")
    else:
        out.append(f"- written by: the {t.owner}")
    grain = _grain(t)
    if grain:
        out.append(f"- grain: one row per ({', '.join(grain)})")
    if t.tests:
        out.append("- checks: " + "; ".join(_cell(_test_words(x)) for x in t.tests))
    out += ["", "| column | type | unit | description | checks |", "|---|---|---|---|---|"]
    for c in t.columns:
        checks = ([f"not null{' (PK)' if c.name in t.primary_key else ''}"] if c.not_null else []) + \
                 [_test_words(x) for x in c.tests]
        out.append(f"| `{c.name}` | {c.data_type} | {_cell(c.unit or '')} | {_cell(c.description)} | "
                   f"{_cell('; '.join(checks))} |")
    out.append("")
    return out


def _vocabulary_section(cat: Catalog) -> list[str]:
    out = ["## Vocabularies", "", "Closed sets of values (sql/catalog/vocabularies.yml; source_kind from "
           "sql/catalog/kinds.yml), checked with `accepted_values` where they land.", ""]
    for name, v in sorted(cat.vocabularies.items()):
        out += [f"### {name}", "", v.description, "", "| value | meaning |", "|---|---|"]
        out += [f"| `{x}` | {_cell(v.meanings.get(x, ''))} |" for x in v.values]
        out.append("")
    return out


def _settings_section() -> list[str]:
    out = ["## Settings", "", "Declared in sql/catalog/settings.yml; edited in `<data-dir>/settings.yml`; "
           "recorded by every run in `metadata.transform_settings` (and `metadata.oil_differentials`).", "",
           "| setting | type | unit | default | allowed | meaning |", "|---|---|---|---|---|---|"]
    for s in settings_mod.declared().values():
        out.append(f"| `{s.name}` | {s.type} | {_cell(s.unit)} | {_cell(s.default)} | {_cell(s.allowed())} | "
                   f"{_cell(s.description)} |")
    out += ["", "| constant | value | unit | meaning |", "|---|---|---|---|"]
    out += [f"| `{c.name}` | {c.value:g} | {_cell(c.unit)} | {_cell(c.description)} |"
            for c in settings_mod.constants().values()]
    out.append("")
    return out


def write(path: Path = DOC_PATH, sql_dir: str | Path | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(sql_dir), encoding="utf-8")
    return path


__all__ = ["DOC_PATH", "er_diagram", "render", "write"]
