"""The declaration (sql/**/*.yml) against the migrations, the code that writes tables, and the docs."""
from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from basinlab import catalog, config, drift, schemadocs, warehouse
from basinlab.catalog import MIGRATIONS
from basinlab.transform import load_project


@pytest.fixture(scope="module")
def cat():
    return catalog.load()


def migrated() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    warehouse.migrate(con)
    return con


def test_migrations_applied_to_an_empty_database_give_exactly_the_declared_raw_and_metadata(cat):
    con = migrated()
    report = drift.compare(con, cat, owners=(MIGRATIONS,))
    assert report.ok, report.text()
    live = set(drift.live_relations(con))
    declared = {t.relation for t in cat.owned_by(MIGRATIONS)}
    assert live == declared          # nothing else: the decline tables are the step's, not the migrations'
    assert report.columns_checked == sum(len(t.columns) for t in cat.owned_by(MIGRATIONS))


def _mutations(cat):
    """Every way one declared raw/metadata column can disagree with the migrations."""
    out = []
    for t in cat.owned_by(MIGRATIONS):
        for c in t.columns:
            other = "varchar" if c.type_key != "VARCHAR" else "bigint"
            out += [(t.relation, c.name, "type", other), (t.relation, c.name, "drop", None)]
            if not t.primary_key or c.name not in t.primary_key:
                out.append((t.relation, c.name, "not_null", None))
    return out


@settings(max_examples=12, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_a_declaration_that_disagrees_with_the_migrations_is_caught(tmp_path_factory, data):
    cat = catalog.load()
    relation, column, how, arg = data.draw(st.sampled_from(_mutations(cat)))
    root = tmp_path_factory.mktemp("sql")
    shutil.copytree(config.SQL_DIR / "catalog", root / "catalog")   # the raw / metadata declaration
    schema, name = relation.split(".")
    path = root / "catalog" / f"{schema}.yml"
    doc = yaml.safe_load(path.read_text())
    table = next(t for t in doc["sources"][0]["tables"] if t["name"] == name)
    col = next(c for c in table["columns"] if c["name"] == column)
    if how == "type":
        col["data_type"] = arg
    elif how == "drop":
        table["columns"].remove(col)
    else:
        col["constraints"] = [] if col.get("constraints") else ["not_null"]
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    report = drift.compare(migrated(), catalog.load(root), owners=(MIGRATIONS,))
    assert not report.ok
    assert any(f.relation == f"{relation}.{column}" for f in report.drift), report.text()


def test_the_decline_step_writes_the_declared_columns(cat):
    from basinlab.decline import step

    for relation, cols in step.TABLE_SCHEMAS.items():
        t = cat.table(relation)
        assert t.owner == "decline step"
        assert cols == t.types()


def test_every_model_is_declared_and_every_declared_model_exists(cat):
    project = load_project()
    models = {m.relation for m in project.models.values()}
    declared = {t.relation for t in cat.tables.values() if t.owner == catalog.TRANSFORM}
    assert models == declared


def test_every_column_of_every_table_is_described_with_a_type(cat):
    missing = [f"{t.relation}.{c.name}" for t in cat.tables.values() for c in t.columns
               if not c.description.strip() or not c.data_type]
    assert missing == []
    assert len(cat.tables) >= 48 and {t.schema for t in cat.tables.values()} == set(catalog.SCHEMAS)


def test_committed_warehouse_docs_are_up_to_date():
    committed = schemadocs.DOC_PATH.read_text(encoding="utf-8")
    assert committed == schemadocs.render(), "docs/warehouse.md is stale: run `basinlab db docs`"


def test_docs_show_every_column_and_the_er_diagram_links(cat):
    text = schemadocs.render()
    for t in cat.tables.values():
        assert f"### {t.relation}" in text
        for c in t.columns:
            assert f"| `{c.name}` | {c.data_type} |" in text
    er = schemadocs.er_diagram(cat)
    assert er.startswith("erDiagram")
    assert 'marts__dim_wells ||--o{ marts__mart_revenue : "well_id -> well_id"' in er
    assert "metadata__ingested_files ||--o{ raw__well_production" in er


def test_the_definitions_the_issue_names_are_in_the_descriptions(cat):
    fin = cat.table("marts.agg_monthly_financials")
    assert "JIB" in fin.description and "not gross x WI" in fin.description
    assert "NGL" in fin.column("revenue_calculated_usd").description
    assert "net_wi_boe" in fin.column("loe_per_boe_usd").description
    net = fin.column("netback_per_boe_usd").description
    assert "workovers and severance" in net and "net working-interest BOE" in net
    assert "G&A" in fin.column("noi_usd").description
    rev = cat.table("marts.mart_revenue")
    assert "gas_price_fraction_of_henry_hub" in rev.column("gas_price_usd_per_mcf").description
    column = cat.table("marts.mart_production_monthly").column("producing_well_count")
    assert "oil_bbl > 0 or gas_mcf > 0" in column.description
    assert "transaction" in cat.table("staging.stg_gl_lines").column("accounting_month").description


def test_vocabularies_match_the_code_that_produces_the_values(cat):
    from basinlab.decline import engine, fitting, models

    assert set(cat.vocabulary("decline_status").values) == set(engine.FORECAST_STATUSES)
    assert set(fitting.STATUSES) <= set(cat.vocabulary("decline_status").values)
    assert set(cat.vocabulary("decline_method").values) == set(engine.METHODS)
    assert set(cat.vocabulary("decline_model").values) == set(models.MODEL_NAMES)
    assert set(cat.vocabulary("phase").values) == set(fitting.PHASES)
    from basinlab.quality import SEVERITIES
    assert set(cat.vocabulary("check_severity").values) == set(SEVERITIES)
    from basinlab.runner import FINAL_STATUSES, STEPS
    assert set(FINAL_STATUSES) <= set(cat.vocabulary("run_status").values)
    assert {s.name for s in STEPS} == set(cat.vocabulary("run_step").values)
    from basinlab.service.keys import PERMISSIONS
    assert set(PERMISSIONS) == set(cat.vocabulary("permission").values)
    from basinlab.service import eia
    assert {s.benchmark for s in eia.SERIES.values()} == set(cat.vocabulary("benchmark").values)


def test_source_kinds_are_a_registry_and_ingest_names_none(cat):
    from basinlab.sources import registry

    assert list(registry.KINDS) == list(cat.vocabulary("source_kind").values)
    for kind in registry.KINDS.values():
        for table in kind.tables:
            assert cat.table(f"raw.{table}").owner == MIGRATIONS
        if ":" in kind.adapter and kind.inbox:
            assert callable(kind.reader())
    code = (config.PACKAGE_DIR / "ingest.py").read_text() + (config.PACKAGE_DIR / "config.py").read_text()
    for name in registry.KINDS:
        assert f'"{name}"' not in code and f"'{name}'" not in code, name


def test_the_constants_in_sql_are_the_ones_the_code_uses():
    from basinlab import settings as st
    from basinlab.decline import conversions

    assert st.constant("days_per_year") == conversions.DAYS_PER_YEAR
    project = load_project()
    assert "gas_mcf / 6.0" in project.models["stg_production"].sql          # rendered from const.gas_mcf_per_boe
    assert "{{" not in project.models["stg_production"].sql
    raw = Path(project.models["stg_production"].path).read_text()
    assert "6.0" not in raw and "const.gas_mcf_per_boe" in raw


def test_staging_dedup_and_lineage_come_from_one_macro():
    project = load_project()
    for m in project.models.values():
        if m.schema != "staging" or m.name in ("stg_current_files", "stg_settings"):
            continue
        assert "current_rows(" in m.raw_sql and "lineage_columns()" in m.raw_sql, m.name
        assert "row_number() over" not in m.raw_sql
        assert "staging.stg_current_files" in m.depends_on   # the rendered SQL still reads it: lineage intact


def test_a_model_that_does_not_render_is_named(tmp_path):
    from basinlab.transform import ProjectError

    (tmp_path / "staging").mkdir()
    (tmp_path / "staging" / "a.sql").write_text("select {{ no_such_macro() }} as x")
    with pytest.raises(ProjectError, match=r"a\.sql.*no_such_macro"):
        load_project(tmp_path)


def test_ensure_tables_makes_missing_step_tables_empty_with_the_declared_columns(cat):
    con = migrated()
    made = catalog.ensure_tables(con, "decline step")
    assert set(made) == {t.relation for t in cat.owned_by("decline step")}
    assert drift.compare(con, cat, owners=("decline step",)).ok
    assert catalog.ensure_tables(con, "decline step") == []


def test_writers_build_their_inserts_from_the_declaration(cat):
    from basinlab import ingest
    from basinlab.service import audit

    for t in cat.in_schema("raw"):
        if t.name != "rejected_rows":
            assert tuple(t.names[-len(ingest.META_COLUMNS):]) == ingest.META_COLUMNS, t.relation
    assert audit.COLUMNS == tuple(c for c in cat.table("metadata.connection_audit").names if not c.startswith("_"))
    assert catalog.insert_sql("metadata.pipeline_runs", ["run_id", "month"]).startswith(
        "insert into metadata.pipeline_runs (run_id, month) values (?, ?)")
    with pytest.raises(catalog.CatalogError, match="declares no column nope"):
        catalog.insert_sql("metadata.pipeline_runs", ["run_id", "nope"])
