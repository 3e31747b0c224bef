"""Drift detection: the live warehouse against the declaration (:mod:`basinlab.catalog`).

:func:`compare` lists, per relation, what differs: a declared table that is missing, a column
missing or extra, a type or NOT NULL that changed, a view where a table is declared (or the
reverse) — all **drift**, which blocks the runner's publish and makes ``basinlab db validate`` exit
1 — and tables nobody declared (made by hand in a sandbox, left by an older version): reported as
**notes**, never fatal. :meth:`Report.text` is the readable diff::

    - marts.decline_lookback                 missing (declared in sql/catalog/decline.yml)
    ~ raw.well_header.lateral_length_ft      type VARCHAR, declared DOUBLE
    + marts.my_scratch                       not declared (made by hand, or left by an older version)
"""
from __future__ import annotations

from dataclasses import dataclass, field

from . import catalog as cat_mod
from .catalog import MIGRATIONS, SCHEMAS, Catalog

DRIFT, NOTE = "drift", "note"


@dataclass(frozen=True)
class Finding:
    severity: str      # drift | note
    relation: str      # schema.table or schema.table.column
    what: str          # missing | extra | type | not_null | kind
    detail: str

    def line(self, width: int = 52) -> str:
        mark = {"missing": "-", "extra": "+"}.get(self.what, "~")
        return f"{mark} {self.relation:{width}s} {self.detail}"


@dataclass
class Report:
    where: str
    findings: list[Finding] = field(default_factory=list)
    tables_checked: int = 0
    columns_checked: int = 0

    @property
    def drift(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == DRIFT]

    @property
    def notes(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == NOTE]

    @property
    def ok(self) -> bool:
        return not self.drift

    def text(self) -> str:
        lines = []
        width = max([len(f.relation) for f in self.findings] + [20])
        if self.drift:
            lines.append(f"{self.where}: {len(self.drift)} difference(s) from the declaration:")
            lines += ["  " + f.line(width) for f in self.drift]
        else:
            lines.append(f"{self.where}: matches the declaration ({self.tables_checked} tables, "
                         f"{self.columns_checked} columns)")
        if self.notes:
            lines.append(f"  {len(self.notes)} relation(s) not declared (reported, not an error):")
            lines += ["  " + f.line(width) for f in self.notes]
        return "\n".join(lines)


def live_relations(con, schemas: tuple[str, ...] = SCHEMAS) -> dict[str, tuple[str, dict[str, tuple[str, bool]]]]:
    """``{schema.table: (BASE TABLE | VIEW, {column: (type, nullable)})}`` of the connection's database."""
    marks = ", ".join("?" for _ in schemas)
    kinds = dict(con.execute(
        f"""select table_schema || '.' || table_name, table_type from information_schema.tables
            where table_catalog = current_database() and table_schema in ({marks})""", list(schemas)).fetchall())
    out: dict[str, tuple[str, dict[str, tuple[str, bool]]]] = {rel: (k, {}) for rel, k in kinds.items()}
    for rel, col, typ, nullable in con.execute(
            f"""select table_schema || '.' || table_name, column_name, data_type, is_nullable
                from information_schema.columns
                where table_catalog = current_database() and table_schema in ({marks})
                order by table_schema, table_name, ordinal_position""", list(schemas)).fetchall():
        if rel in out:
            out[rel][1][col] = (cat_mod.normalise_type(typ), nullable == "YES")
    return out


def compare(con, catalog: Catalog | None = None, schemas: tuple[str, ...] = SCHEMAS,
            where: str = "warehouse", owners: tuple[str, ...] | None = None) -> Report:
    """Compare the connection's database with the declaration (``owners``: only tables these own,
    e.g. ``("migrations",)`` for a freshly migrated file)."""
    catalog = catalog or cat_mod.load()
    live = live_relations(con, schemas)
    report = Report(where)
    declared = {r: t for r, t in catalog.tables.items() if t.schema in schemas
                and (owners is None or t.owner in owners)}
    for rel, t in sorted(declared.items()):
        if rel not in live:
            report.findings.append(Finding(DRIFT, rel, "missing", f"missing (declared in {_short(t.path)})"))
            continue
        kind, cols = live[rel]
        report.tables_checked += 1
        want_kind = "VIEW" if t.materialization == "view" else "BASE TABLE"
        if kind != want_kind:
            report.findings.append(Finding(DRIFT, rel, "kind", f"is a {_kind_word(kind)}, declared a "
                                                               f"{_kind_word(want_kind)}"))
        for c in t.columns:
            name = f"{rel}.{c.name}"
            if c.name not in cols:
                report.findings.append(Finding(DRIFT, name, "missing", f"column missing (declared {c.data_type})"))
                continue
            report.columns_checked += 1
            typ, nullable = cols[c.name]
            if typ != c.type_key:
                report.findings.append(Finding(DRIFT, name, "type", f"type {typ}, declared {c.type_key}"))
            if t.owner == MIGRATIONS and nullable == c.not_null:
                report.findings.append(Finding(
                    DRIFT, name, "not_null",
                    f"{'nullable' if nullable else 'NOT NULL'}, declared {'NOT NULL' if c.not_null else 'nullable'}"))
        for extra in [n for n in cols if n not in t.names]:
            report.findings.append(Finding(DRIFT, f"{rel}.{extra}", "extra",
                                           f"column not declared ({cols[extra][0]}; add it to {_short(t.path)})"))
    if owners is None:
        for rel in sorted(set(live) - set(catalog.tables)):
            report.findings.append(Finding(NOTE, rel, "extra", f"{_kind_word(live[rel][0])} not declared "
                                                               "(made by hand, or left by an older version)"))
    return report


def _kind_word(kind: str) -> str:
    return "view" if kind == "VIEW" else "table"


def _short(path: str) -> str:
    marker = "/sql/"
    return "sql/" + path.split(marker, 1)[1] if marker in path else path


__all__ = ["DRIFT", "NOTE", "Finding", "Report", "compare", "live_relations"]
