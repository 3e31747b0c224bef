"""The query builder on a small hand-made warehouse: strict JSON for awkward values, keyset pages in
both orders, typed filters, and values that never reach the SQL text."""
from __future__ import annotations

import json

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from basinlab.service import query as q
from basinlab.service.published import PublishedWarehouse

RES = q.Resource("wells", "/wells", "marts", "dim_wells", ("well_id",), "test", month_column="first_month",
                 aliases={"well": q.Alias("well_id")})


@pytest.fixture(scope="module")
def pw(tmp_path_factory):
    path = tmp_path_factory.mktemp("q") / "warehouse.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("create schema marts")
        con.execute("""create table marts.dim_wells as
            select 'W' || lpad(cast(i as varchar), 3, '0') as well_id,
                   case i % 4 when 0 then 'nan'::double when 1 then 'inf'::double when 2 then null else i * 1.5 end
                       as eur_boe,
                   cast(i * 100 + 0.25 as decimal(18, 2)) as amount_usd,
                   cast(i as hugeint) as wells_n,
                   cast(date '2024-01-01' + to_months(cast(i % 12 as integer)) as date) as first_month,
                   timestamp '2024-01-01 08:30:00' + to_hours(cast(i as integer)) as loaded_at,
                   i % 2 = 0 as active,
                   'field "' || (i % 3) || '''s' as field
            from range(37) r(i)""")
    yield PublishedWarehouse(path)


def page(pw, params, limit=10):
    with pw.cursor() as (snap, cur):
        return q.run_query(RES, snap, cur, list(params), default_limit=limit, max_limit=50)


def strict(text: str):
    def no_constants(name):
        raise ValueError(f"not JSON: {name}")
    return json.loads(text, parse_constant=no_constants)


def test_json_rows_are_strict_json_with_exact_decimals_and_iso_dates(pw):
    p = page(pw, [("limit", "8")])
    rows = [strict(r) for r in p.json_rows]
    assert [r["eur_boe"] for r in rows[:4]] == [None, None, None, 4.5]  # NaN, inf and null are all null
    assert '"amount_usd":100.25' in p.json_rows[1] and rows[1]["wells_n"] == 1
    assert rows[1]["first_month"] == "2024-02-01" and rows[1]["loaded_at"].startswith("2024-01-01")
    assert rows[2]["field"] == 'field "2\'s' and rows[2]["active"] is True


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_keyset_pages_in_both_orders(pw, order):
    seen, cursor = [], None
    while True:
        params = [("limit", "5"), ("order", order), ("columns", "well_id")] + ([("cursor", cursor)] if cursor else [])
        p = page(pw, params)
        seen += [strict(r)["well_id"] for r in p.json_rows]
        cursor = p.next_cursor
        if not cursor:
            break
    want = sorted(f"W{i:03d}" for i in range(37))
    assert seen == (want if order == "asc" else want[::-1])


def test_csv_pages_carry_the_same_cursor_as_json(pw):
    a = page(pw, [("limit", "7")])
    b = page(pw, [("limit", "7"), ("format", "csv")])
    assert b.table.num_rows == a.rows == 7 and b.next_cursor == a.next_cursor
    nxt = page(pw, [("limit", "7"), ("format", "csv"), ("cursor", b.next_cursor)])
    assert nxt.table.column("well_id").to_pylist()[0] == "W007"
    assert q.encode_table(b.table, "csv").splitlines()[0].startswith(b'"well_id"')


def test_typed_filters_and_month_ranges(pw):
    assert page(pw, [("active", "true")], limit=50).rows == 19
    assert page(pw, [("wells_n", "5")]).rows == 1
    assert page(pw, [("amount_usd", "300.25")]).rows == 1
    assert page(pw, [("first_month", "2024-03")], limit=50).rows == 3  # month -> the month's first day
    assert page(pw, [("from", "2024-11"), ("to", "2024-12")], limit=50).rows == 6
    assert page(pw, [("well", "W001"), ("well", "W002")]).rows == 2
    for params, msg in [([("active", "maybe")], "true or false"), ([("wells_n", "1.5")], "whole number"),
                        ([("amount_usd", "12abc")], "is not a number"), ([("loaded_at", "yesterday")], "ISO time"),
                        ([("eur_boe", "nan")], "is not a number"), ([("well_id", "x" * 201)], "longer than")]:
        with pytest.raises(q.QueryError, match=msg):
            page(pw, params)


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(["well_id", "eur_boe", "amount_usd", "wells_n", "first_month", "loaded_at", "active",
                        "field", "from", "to", "limit", "order", "format", "columns", "cursor", "well"]),
       st.text(max_size=60))
def test_any_value_in_any_parameter_is_a_page_or_a_400(pw, name, value):
    try:
        p = page(pw, [(name, value)])
    except q.QueryError as exc:
        assert exc.status == 400 and exc.message
        return
    if name in ("well_id", "field", "well"):  # text: bound as a value, matching only itself
        col = "well_id" if name == "well" else name
        assert all(strict(r)[col] == value for r in p.json_rows)
