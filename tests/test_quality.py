"""Data-quality checks: yml tests, SQL checks, built-ins, persistence and the gate."""
from __future__ import annotations

import json

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from basinlab import quality
from basinlab.quality import QualityGateError, checks_summary_frame, gate, run_checks
from basinlab.transform import load_project, run_models
from fixtures_sql import add_file, gl, header, new_warehouse, price, prod


def by_name(results):
    return {r.check_name: r for r in results}


# --------------------------------------------------------------------------- yml tests on a tiny project

YML = """
models:
  - name: items
    tests:
      - unique_combination: [order_id, line]
    columns:
      - name: status
        tests:
          - accepted_values: {values: [open, closed]}
      - name: parent_id
        tests:
          - relationships: {to: parents, field: id}
      - name: qty
        tests:
          - range: {min: 0, max: 10}
          - not_null:
              config: {severity: warn}
      - name: price
        tests:
          - expression: {expression: "price >= qty"}
  - name: parents
    columns:
      - name: id
        tests: [unique, not_null]
"""

GOOD_ITEMS = [
    ("o1", 1, "open", "p1", 1.0, 5.0),
    ("o1", 2, "closed", "p2", 10.0, 10.0),   # range is inclusive
    ("o2", 1, None, None, 0.0, 1.0),         # nulls pass accepted_values / relationships
]
GOOD_PARENTS = [("p1",), ("p2",)]


def tiny(tmp_path, items, parents):
    root = tmp_path / "sql"
    (root / "staging").mkdir(parents=True)
    (root / "checks").mkdir()
    (root / "staging" / "_staging.yml").write_text(YML)
    (root / "staging" / "items.sql").write_text("select * from raw.test_items")
    (root / "staging" / "parents.sql").write_text("select * from raw.test_parents")
    con = new_warehouse()
    con.execute("create table raw.test_items (order_id varchar, line integer, status varchar, "
                "parent_id varchar, qty double, price double)")
    con.execute("create table raw.test_parents (id varchar)")
    if items:
        con.executemany("insert into raw.test_items values (?, ?, ?, ?, ?, ?)", items)
    if parents:
        con.executemany("insert into raw.test_parents values (?)", parents)
    project = load_project(root)
    run_models(con, project=project)
    return con, project


def test_yml_checks_pass_on_good_data(tmp_path):
    con, project = tiny(tmp_path, GOOD_ITEMS, GOOD_PARENTS)
    results = run_checks(con, project=project)
    assert len(results) == 8
    assert all(r.status == "pass" for r in results), checks_summary_frame(results)
    gate(results)


@pytest.mark.parametrize("bad_rows, check, failing", [
    ([("o1", 1, "open", "p1", 2.0, 5.0)], "unique_combination_items_order_id__line", 1),
    ([("o3", 1, "pending", "p1", 1.0, 5.0), ("o3", 2, "lost", "p1", 1.0, 5.0)], "accepted_values_items_status", 2),
    ([("o3", 1, "open", "p9", 1.0, 5.0)], "relationships_items_parent_id", 1),
    ([("o3", 1, "open", "p1", -1.0, 5.0), ("o3", 2, "open", "p1", 10.5, 50.0)], "range_items_qty", 2),
    ([("o3", 1, "open", "p1", 3.0, 2.0)], "expression_items_price", 1),
])
def test_yml_check_fails_on_crafted_bad_row(tmp_path, bad_rows, check, failing):
    con, project = tiny(tmp_path, GOOD_ITEMS + bad_rows, GOOD_PARENTS)
    results = by_name(run_checks(con, project=project))
    r = results[check]
    assert (r.status, r.failing_rows, r.severity) == ("fail", failing, "error")
    assert 1 <= len(json.loads(r.sample)) <= 5
    others = [x for name, x in results.items() if name != check and x.status == "fail"]
    assert others == []
    with pytest.raises(QualityGateError) as e:
        gate(list(results.values()))
    assert check in str(e.value) and f"{failing} failing row" in str(e.value)


def test_unique_counts_duplicated_values_and_warn_does_not_gate(tmp_path):
    con, project = tiny(tmp_path, GOOD_ITEMS + [("o9", 1, "open", "p1", None, 1.0)], GOOD_PARENTS + [("p1",), ("p1",)])
    results = by_name(run_checks(con, project=project))
    assert results["unique_parents_id"].failing_rows == 1          # one duplicated value (3 rows)
    assert json.loads(results["unique_parents_id"].sample)[0]["n_records"] == 3
    warn = results["not_null_items_qty"]
    assert (warn.status, warn.severity, warn.failing_rows) == ("fail", "warn", 1)
    with pytest.raises(QualityGateError) as e:
        gate(list(results.values()))
    assert "unique_parents_id" in str(e.value) and "not_null_items_qty" not in str(e.value)


def test_sql_check_header_sets_severity(tmp_path):
    con, project = tiny(tmp_path, GOOD_ITEMS, GOOD_PARENTS)
    (project.sql_dir / "checks" / "no_big_orders.sql").write_text(
        "-- severity: warn\n-- description: nothing above 5\nselect * from staging.items where qty > 5\n")
    r = by_name(run_checks(con, project=project))["no_big_orders"]
    assert (r.check_type, r.severity, r.status, r.failing_rows, r.description) == \
        ("sql", "warn", "fail", 1, "nothing above 5")


# --------------------------------------------------------------------------- the real project


@pytest.fixture()
def loaded():
    con = new_warehouse()
    add_file(con, "well_header", [header("W1", wi=1.0, nri=0.8)])
    add_file(con, "well_production", [prod("W1", "2024-01", oil=100, gas=60, days_on=31),
                                      prod("W1", "2024-02", oil=90, gas=60, days_on=29)])
    add_file(con, "price_deck", [price("2024-01", "WTI", 80.0), price("2024-01", "HENRY_HUB", 3.0)])
    add_file(con, "gl_records", [
        gl("J1", 1, "2024-01-31", "1200", debit=100.0),
        gl("J1", 2, "2024-01-31", "4000", credit=100.0, well_id="W1"),
    ])
    yield con
    con.close()


def test_unbalanced_journal_is_an_error(loaded):
    add_file(loaded, "gl_records", [
        gl("J2", 1, "2024-01-31", "5000", debit=500.0, well_id="W1"),
        gl("J2", 2, "2024-01-31", "2000", credit=499.99),
    ])
    project = load_project()
    run_models(loaded, project=project)
    results = by_name(run_checks(loaded, run_id="q1", project=project))
    r = results["gl_journals_balance"]
    assert (r.status, r.severity, r.failing_rows) == ("fail", "error", 1)
    sample = json.loads(r.sample)[0]
    assert sample["journal_id"] == "J2" and sample["imbalance"] == pytest.approx(0.01)
    assert results["reconcile_production_volumes"].status == "pass"
    with pytest.raises(QualityGateError, match="gl_journals_balance"):
        gate(list(results.values()))
    persisted = loaded.execute("select count(*), count(*) filter (where status = 'fail') "
                               "from metadata.data_quality_checks where run_id = 'q1'").fetchone()
    assert persisted[0] == len(results) and persisted[1] >= 1


def test_freshness_and_revenue_variance(loaded):
    project = load_project()
    run_models(loaded, project=project)
    results = by_name(run_checks(loaded, month="2024-02", project=project, persist=False))
    assert results["freshness_stg_production"].status == "pass"
    assert results["freshness_mart_production_monthly"].status == "pass"
    # booked 100 vs calculated ~ thousands: warn, not error
    rv = results["revenue_booked_vs_calculated"]
    assert (rv.status, rv.severity) == ("fail", "warn")
    errors = [r for r in results.values() if r.status == "fail" and r.severity == "error"]
    assert errors == [], checks_summary_frame(errors)
    stale = by_name(run_checks(loaded, month="2024-03", project=project, persist=False))
    assert stale["freshness_stg_production"].status == "fail"
    assert loaded.execute("select count(*) from metadata.data_quality_checks").fetchone()[0] == 0


def test_reconciliation_catches_a_mart_that_lost_volume(loaded):
    project = load_project()
    run_models(loaded, project=project)
    loaded.execute("delete from marts.mart_production_monthly "
                   "where level = 'field' and production_month = '2024-02-01'")
    r = by_name(run_checks(loaded, project=project, persist=False))["reconcile_production_volumes"]
    assert r.status == "fail" and r.failing_rows == 1
    assert json.loads(r.sample)[0]["layer"] == "mart_field"


def test_run_checks_on_read_only_connection(tmp_path):
    path = tmp_path / "published.duckdb"
    con = new_warehouse(path)
    add_file(con, "well_header", [header("W1")])
    add_file(con, "well_production", [prod("W1", "2024-01", oil=1, days_on=1)])
    project = load_project()
    run_models(con, project=project)
    con.close()
    ro = duckdb.connect(str(path), read_only=True)
    try:
        results = run_checks(ro, month="2024-01", project=project, persist=False)
        assert results and not [r for r in results if r.error]
        # persist=True on a read-only connection is a no-op, not a crash
        run_checks(ro, project=project, persist=True)
        assert ro.execute("select count(*) from metadata.data_quality_checks").fetchone()[0] == 0
    finally:
        ro.close()
    frame = checks_summary_frame(results)
    assert list(frame.columns[:7]) == ["check_name", "model", "column_name", "check_type", "severity", "status",
                                       "failing_rows"]


def test_a_check_on_a_missing_table_fails_with_the_error(tmp_path):
    con = new_warehouse()
    results = by_name(run_checks(con, persist=False))   # no models built
    r = results["unique_dim_wells_well_id"]
    assert r.status == "fail" and r.error and "dim_wells" in r.error
    with pytest.raises(QualityGateError, match="could not run"):
        gate([r])


def test_every_declared_check_builds():
    checks = quality.all_checks(load_project(), month="2024-06")
    names = [c.check_name for c in checks]
    assert len(names) == len(set(names))
    assert {"gl_journals_balance", "reconcile_production_volumes", "revenue_booked_vs_calculated",
            "freshness_stg_production"} <= set(names)
    assert all(c.severity in ("error", "warn") for c in checks)


@pytest.mark.parametrize("seed", range(12))
def test_relationships_counts_each_orphan_child_row_once(tmp_path, seed):
    """The relationships check (an anti join) counts every child row whose value has no parent, once,
    whatever the parent's duplicates and nulls; null children pass; a ``where`` filter narrows the children."""
    import random

    rng = random.Random(seed)
    keys = [f"p{i}" for i in range(8)] + [None]
    parents = [(rng.choice(keys),) for _ in range(rng.randint(0, 12))]
    items = [(f"o{i}", rng.randint(1, 3), "open", rng.choice(keys), float(rng.randint(0, 10)), 10.0)
             for i in range(rng.randint(0, 40))]
    con, project = tiny(tmp_path, items, parents)
    known = {p for (p,) in parents if p is not None}
    plain = quality.build_test(project, "items", "staging.items", "parent_id", {"relationships": {
        "to": "parents", "field": "id"}})
    filtered = quality.build_test(project, "items", "staging.items", "parent_id", {"relationships": {
        "to": "parents", "field": "id", "config": {"where": "line = 2"}}})
    expect_plain = sum(1 for it in items if it[3] is not None and it[3] not in known)
    expect_filtered = sum(1 for it in items if it[1] == 2 and it[3] is not None and it[3] not in known)
    assert quality.run_check(con, plain).failing_rows == expect_plain
    assert quality.run_check(con, filtered).failing_rows == expect_filtered
    sample = quality.run_check(con, plain).sample
    if expect_plain:
        rows = json.loads(sample)
        assert all(r["parent_id"] not in known and set(r) == {"order_id", "line", "status", "parent_id", "qty",
                                                                 "price"} for r in rows)


@pytest.mark.parametrize("seed", range(10))
def test_jib_recovery_check_flags_each_well_month_off_its_partner_share(seed):
    """sql/checks/jib_recovery_matches_partner_share.sql on generated GL lines (revenue, LOE, workover,
    G&T, 5900 recoveries, unknown wells, null classes) against the rule computed here in Python."""
    import random

    from basinlab import config

    rng = random.Random(seed)
    check, = [c for c in quality.sql_checks(config.SQL_DIR / "checks") if c.check_name ==
              "jib_recovery_matches_partner_share"]
    con = duckdb.connect()
    con.execute("create schema marts; create schema staging")
    con.execute("create table staging.stg_well_header (well_id varchar, working_interest double)")
    wi = {"W1": 1.0, "W2": 0.75, "W3": 0.5, "W4": None}
    con.executemany("insert into staging.stg_well_header values (?, ?)", list(wi.items()))
    classes = [("loe", "5000"), ("workover", "5100"), ("gathering_transport", "5300"), ("revenue", "4000"),
               ("jib_recovery", "5900"), (None, "5900"), ("capex", "1700"), (None, None)]
    lines = []
    for _ in range(rng.randint(0, 60)):
        cls, code = rng.choice(classes)
        lines.append((rng.choice(["W1", "W2", "W3", "W4", "W9", None]), rng.choice(["2024-05-01", "2024-06-01"]),
                      cls, code, round(rng.uniform(-500, 500), 2)))
    con.execute("create table marts.fct_gl_transactions (well_id varchar, accounting_month date, "
                "account_class varchar, account_code varchar, signed_amount_usd double)")
    if lines:
        con.executemany("insert into marts.fct_gl_transactions values (?, ?, ?, ?, ?)", lines)
    # the check reads the lines summed per well-month (marts.int_gl_well_month's columns)
    con.execute("""create table marts.int_gl_well_month as
        select well_id, accounting_month as month,
               sum(signed_amount_usd) filter (where account_class = 'loe') as loe_gross_usd,
               sum(signed_amount_usd) filter (where account_class = 'workover') as workover_gross_usd,
               sum(signed_amount_usd) filter (where account_class = 'gathering_transport')
                   as gathering_transport_gross_usd,
               sum(signed_amount_usd) filter (where account_code = '5900') as opex_jib_recovery_usd
        from marts.fct_gl_transactions group by all""")
    groups: dict = {}
    for well, month, cls, code, amount in lines:
        if well is None:
            continue
        g = groups.setdefault((well, month), {"gross": None, "jib": None})
        if cls in ("loe", "workover", "gathering_transport"):
            g["gross"] = (g["gross"] or 0) + amount
        if code == "5900":
            g["jib"] = (g["jib"] or 0) + amount
    expect = 0
    for (well, _month), g in groups.items():
        if g["jib"] is None:
            continue
        w = wi.get(well)
        if w is None:
            expect += 1
            continue
        share = (g["gross"] or 0) * (1 - w)
        expect += abs(g["jib"] - share) > max(1.0, 0.01 * abs(share)) + 1e-9
    assert quality.run_check(con, check).failing_rows == expect


ROW_TESTS = [  # (column, test): every row-level test type, filters, a broken predicate, one non-row test
    ("status", "not_null"), ("qty", "not_null"), ("parent_id", {"not_null": {"config": {"where": "line = 2"}}}),
    ("status", {"accepted_values": {"values": ["open", "closed"]}}),
    ("status", {"accepted_values": {"values": ["open"], "config": {"where": "qty > 2"}}}),
    ("qty", {"range": {"min": 0, "max": 5}}), ("price", {"range": {"min": 1}}),
    (None, {"expression": {"expression": "qty * price < 40"}}),
    (None, {"expression": {"expression": "no_such_column > 0", "name": "broken_expression"}}),
    ("order_id", "unique"),
]


@settings(max_examples=40, deadline=None)
@given(items=st.lists(st.tuples(st.sampled_from(["o1", "o2", "o3", None]), st.integers(1, 3),
                                st.sampled_from(["open", "closed", "lost", "", None]),
                                st.sampled_from(["p1", "p2", None]),
                                st.one_of(st.none(), st.floats(-3, 9, allow_nan=False)),
                                st.one_of(st.none(), st.floats(0, 20, allow_nan=False))), max_size=30),
       picks=st.sets(st.integers(0, len(ROW_TESTS) - 1), min_size=1))
def test_row_checks_counted_in_one_scan_give_the_results_of_each_check_alone(items, picks):
    """The row-level checks of a model counted in one shared scan (count_row_checks) give the same status,
    count, sample and error as each check run alone — a broken predicate included (its model's checks then
    run alone)."""
    con = duckdb.connect()
    con.execute("create schema staging; create table staging.items (order_id varchar, line integer, "
                "status varchar, parent_id varchar, qty double, price double)")
    if items:
        con.executemany("insert into staging.items values (?, ?, ?, ?, ?, ?)", items)
    checks = [quality.build_test(None, "items", "staging.items", ROW_TESTS[i][0], ROW_TESTS[i][1])
              for i in sorted(picks)]
    counted = quality.count_row_checks(con, checks)
    assert all(checks[i].violation is not None for i in counted)
    for i, check in enumerate(checks):
        alone, shared = quality.run_check(con, check), quality.run_check(con, check, counted.get(i))
        assert (shared.status, shared.failing_rows, shared.sample, shared.error) == \
            (alone.status, alone.failing_rows, alone.sample, alone.error), check.check_name
        if check.violation is not None and alone.error is None:
            expect = con.execute(f"select count(*) from staging.items where {check.violation}").fetchone()[0]
            assert alone.failing_rows == expect


_KEY_TEXT = st.one_of(st.none(), st.sampled_from(["", " ", "a", "A", "é", "a\x00b"]),
                      st.text(st.characters(blacklist_categories=("Cs",)), max_size=4))


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(st.tuples(_KEY_TEXT, st.one_of(st.none(), st.integers(-3, 3))), max_size=40),
       with_filter=st.booleans())
def test_duplicates_found_through_hashes_are_those_of_grouping_by_the_key(rows, with_filter):
    """``unique`` and ``unique_combination`` group by the key's hash first, then by the key only where a hash
    repeats: the same duplicated values and counts as grouping every row by the key — whatever the keys
    (nulls, blanks, case, NUL bytes, repeats) and with a ``where`` filter."""
    con = duckdb.connect()
    try:
        con.execute("create table t (k varchar, n integer)")
        if rows:
            con.executemany("insert into t values (?, ?)", [list(r) for r in rows])
        flt = "n is distinct from 0" if with_filter else "true"
        for cols, extra in (("k, n", ""), ("k", " and k is not null")):
            got = con.execute(quality._duplicates_sql("t", cols, flt + extra)).fetchall()
            want = con.execute(f"select {cols}, count(*) from t where {flt}{extra} group by {cols} "
                               "having count(*) > 1").fetchall()
            assert sorted(got, key=repr) == sorted(want, key=repr)
    finally:
        con.close()
