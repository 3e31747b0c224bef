"""The data API: the auth matrix over the route table, rate limiting, generated SQL-injection attempts
in every filter, filters and formats against direct DuckDB reads, keyset pages stable across a
publish, reports, runs, health, the audit, and `basinlab serve` over real HTTP."""
from __future__ import annotations

import hashlib
import io
import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import duckdb
import httpx
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from basinlab import config, runner
from basinlab.service import query as q
from basinlab.service.api import FailureLimiter, ServiceSettings, create_app
from basinlab.service.files import ServicePaths
from basinlab.service.generator import GeneratorConfig
from basinlab.service.keys import PERMISSIONS, KeyStore
from service_support import GEN, MONTH, basinlab, built_data, clone, free_port, make_key

PUBLIC = {"/health", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return built_data(tmp_path_factory)


def settings_for(paths, **kw) -> ServiceSettings:
    return ServiceSettings(paths, generator=GeneratorConfig(**GEN, interval_s=0.01, epoch=0.0), **kw)


@pytest.fixture(scope="module")
def api(built, tmp_path_factory):
    """A TestClient over a private copy of the built data dir, with one key of every kind."""
    paths = clone(built, tmp_path_factory.mktemp("api"))
    app = create_app(settings_for(paths, auth_failures=10**6))
    store = KeyStore(ServicePaths(paths).keys)
    keys = {p: store.create(f"k-{p}", p).token for p in PERMISSIONS}
    revoked = store.create("gone", "admin").token
    store.revoke("gone")
    expired = store.create("old", "admin", expires_days=1e-9).token
    with TestClient(app) as c:
        c.paths, c.keys, c.app = paths, keys, app
        c.bad = {"missing": None, "malformed": "not-a-key", "unknown": "blk_0badc0de_" + "x" * 43,
                 "revoked": revoked, "expired": expired}
        yield c


def auth(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


def call(c, method: str, path: str, token: str | None):
    """One request per route that is harmless when allowed (bad bodies, unknown names, no follow)."""
    url = (path.replace("{run_id}", "no-such-run").replace("{month}", MONTH).replace("{artifact}", "manifest")
           .replace("{name}", "no-such-key"))
    if method == "POST":
        body = {"/runs": {"month": "not-a-month"}, "/keys": {"name": ""}}.get(path, {})
        return c.post(url, json=body, headers=auth(token))
    params = {"follow": "false", "limit": "1"} if path.endswith("/stream") else {"limit": "1"} if path in {
        r.path for r in q.RESOURCES} | {"/generator/gl"} else {}
    return c.get(url, params=params, headers=auth(token))


def routes(app) -> list[tuple[str, str]]:
    out = []
    for r in app.routes:
        if isinstance(r, APIRoute) and r.path not in PUBLIC:
            out += [(m, r.path) for m in sorted(r.methods)]
    return out


@pytest.mark.kernel
def test_every_route_but_health_and_docs_needs_a_key_and_declares_a_permission(api):
    svc = api.app.state.service
    assert sorted(routes(api.app)) == sorted(svc.route_permissions)
    assert {r.path for r in q.RESOURCES} <= {p for _m, p in routes(api.app)}


@pytest.mark.kernel
def test_auth_matrix(api):
    svc = api.app.state.service
    seen = []
    for (method, path), needed in sorted(svc.route_permissions.items()):
        for why, token in api.bad.items():
            r = call(api, method, path, token)
            assert r.status_code == 401, (method, path, why, r.status_code, r.text)
            assert r.headers["www-authenticate"].startswith("Bearer")
            seen.append((path, why, 401))
        for perm, token in api.keys.items():
            r = call(api, method, path, token)
            allowed = PERMISSIONS.index(perm) >= PERMISSIONS.index(needed)
            if allowed:
                assert r.status_code not in (401, 403, 429, 500), (method, path, perm, r.status_code, r.text)
            else:
                assert r.status_code == 403, (method, path, perm, r.status_code)
                assert needed in r.json()["error"]["message"]
            seen.append((path, perm, r.status_code))
    # every one of these requests is in the access log with how it was refused
    lines = [json.loads(x) for x in ServicePaths(api.paths).access_log.read_text().splitlines()]
    for why in api.bad:
        assert sum(1 for x in lines if x["auth"] == why and x["status"] == 401) >= len(svc.route_permissions)
    assert any(x["status"] == 403 and x["key_name"] == "k-read" for x in lines)


@pytest.mark.kernel
def test_keys_travel_in_either_header_never_the_url(api):
    token = api.keys["read"]
    assert api.get("/wells", headers={"X-API-Key": token}).status_code == 200
    assert api.get("/wells", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    r = api.get("/wells", params={"api_key": token})
    assert r.status_code == 401


@pytest.mark.kernel
def test_failed_authentications_are_rate_limited_per_client(built, tmp_path):
    paths = config.Paths.resolve(tmp_path / "d", tmp_path / "r")
    app = create_app(settings_for(paths, auth_failures=3, auth_window_s=60, auth_block_s=30))
    good = make_key(paths.data_dir, "ok", "read")
    now = [1000.0]
    app.state.service.limiter.clock = lambda: now[0]
    with TestClient(app) as c:
        for _ in range(3):
            assert c.get("/catalog", headers=auth("blk_11111111_" + "y" * 43)).status_code == 401
        r = c.get("/catalog", headers=auth(good))  # even the right key: the client is blocked first
        assert r.status_code == 429 and r.headers["retry-after"] == "30"
        now[0] += 29.5
        assert c.get("/catalog", headers=auth(good)).headers["retry-after"] == "1"
        now[0] += 1
        assert c.get("/catalog", headers=auth(good)).status_code == 200
        assert c.get("/health").status_code in (200, 503)  # never rate limited
    lines = [json.loads(x) for x in ServicePaths(paths).access_log.read_text().splitlines()]
    assert [x["auth"] for x in lines if x["route"] == "/catalog"].count("rate_limited") == 2


def test_failure_limiter_counts_per_client_within_the_window():
    now = [0.0]
    lim = FailureLimiter(limit=2, window_s=10, block_s=5, clock=lambda: now[0])
    lim.failure("a")
    now[0] = 11.0  # the first failure left the window
    lim.failure("a")
    lim.failure("b")
    assert lim.blocked_for("a") == 0 and lim.blocked_for("b") == 0
    lim.failure("a")
    assert lim.blocked_for("a") == 5 and lim.blocked_for("b") == 0


# --------------------------------------------------------------------------- SQL injection


def hostile_values() -> list[str]:
    """Payloads built from SQL-injection fragments (quotes, comments, stacked statements, unions,
    casts, NULs, wildcards, unicode) in every prefix/suffix combination."""
    prefixes = ["", "1", "x'", "x\"", "2024-01", "%", "\\"]
    payloads = ["' or '1'='1", "\" or \"1\"=\"1", "'; drop table marts.dim_wells; --", "1; select 1",
                "') union select * from metadata.schema_migrations --", "1 or 1=1", "/* */", "\x00",
                "'||(select version())||'", "é⚠️", "1e999", "0x41", "null", "true", "'::date", "$$", "?"]
    suffixes = ["", "--", " #", "'"]
    return [p + m + s for p, m, s in itertools.product(prefixes, payloads, suffixes)]


def warehouse_fingerprint(path) -> tuple:
    with duckdb.connect(str(path), read_only=True) as con:
        counts = con.execute("select count(*) from marts.dim_wells").fetchall()
        tables = con.execute("select count(*) from information_schema.tables").fetchall()
    return hashlib.sha256(path.read_bytes()).hexdigest(), counts, tables


@pytest.mark.kernel
def test_sql_injection_in_every_filter_of_every_route(api):
    before = warehouse_fingerprint(api.paths.warehouse)
    values = hostile_values()
    token = api.keys["read"]
    with duckdb.connect(str(api.paths.warehouse), read_only=True) as con:
        cols = {(s, t): [(c, typ) for c, typ in con.execute(
            "select column_name, data_type from information_schema.columns where table_schema = ? and "
            "table_name = ? order by ordinal_position", [s, t]).fetchall()] for s, t in
            {(r.schema, r.table) for r in q.RESOURCES}}
    i = 0
    for res in q.RESOURCES:
        names = [c for c, _t in cols[(res.schema, res.table)]] + list(res.aliases) + ["from", "to", "columns",
                                                                                     "order", "format", "limit",
                                                                                     "cursor"]
        for name in names:
            for _ in range(2):  # two different payloads per filter, cycling through the list
                value = values[i % len(values)]
                i += 1
                r = api.get(res.path, params={name: value}, headers=auth(token))
                assert r.status_code in (200, 400), (res.path, name, value, r.status_code, r.text)
                if r.status_code == 200:
                    body = r.json()
                    if name in dict(cols[(res.schema, res.table)]) or name in res.aliases:
                        col = res.aliases[name].column if name in res.aliases else name
                        assert all(str(row.get(col)) == value for row in body["data"] if col in row), (name, value)
                        assert body["rows"] == 0, (res.path, name, value)
                else:
                    assert r.json()["error"]["message"]
    assert i > 250
    # a hostile parameter *name* is an unknown parameter, never SQL
    for value in values[:40]:
        r = api.get("/wells", params={value: "1"}, headers=auth(token))
        assert r.status_code == 400 and "unknown parameter" in r.json()["error"]["message"]
    assert warehouse_fingerprint(api.paths.warehouse) == before


@pytest.mark.kernel
def test_a_quote_in_a_text_filter_matches_nothing_instead_of_everything(api):
    token = api.keys["read"]
    everything = api.get("/wells", headers=auth(token)).json()["rows"]
    assert everything > 0
    for v in ("x' or '1'='1", "' or 1=1 --", "%"):
        assert api.get("/wells", params={"field": v}, headers=auth(token)).json()["rows"] == 0


# --------------------------------------------------------------------------- filters and formats


def direct(paths, sql: str, params: list | None = None) -> list[tuple]:
    with duckdb.connect(str(paths.warehouse), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


def all_rows(api, path, **params) -> list[dict]:
    rows, cursor, pages = [], None, 0
    while True:
        r = api.get(path, params={**params, **({"cursor": cursor} if cursor else {})},
                    headers=auth(api.keys["read"]))
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["rows"] == len(body["data"]) <= int(params.get("limit", 1000))
        rows += body["data"]
        pages += 1
        cursor = body["next_cursor"]
        if not cursor:
            return rows


@pytest.mark.kernel
@pytest.mark.parametrize("res", q.RESOURCES, ids=lambda r: r.name)
def test_keyset_pages_walk_the_whole_table_once_in_key_order(api, res):
    where = ""
    if res.latest:  # /quality: the latest run's rows by default
        where = (f" where {res.latest[0]} = (select {res.latest[0]} from {res.qualified} "
                 f"order by {res.latest[1]} desc limit 1)")
    keys = ", ".join(f'"{k}"' for k in res.key)
    want = direct(api.paths, f"select {keys} from {res.qualified}{where} order by {keys}")
    assert len(set(want)) == len(want), f"{res.qualified}: the key {res.key} is not unique"
    got = all_rows(api, res.path, limit=max(3, len(want) // 4 or 1), columns=",".join(res.key))
    norm = [tuple(str(v) if v is not None else None for v in r) for r in want]
    iso = re.compile(r"^(\d{4}-\d\d-\d\d)T")  # JSON times are ISO (T); DuckDB's str() uses a space
    assert [tuple(r[k] if r[k] is None else iso.sub(r"\1 ", str(r[k])) for k in res.key) for r in got] == norm


@pytest.mark.kernel
def test_filters_agree_with_a_direct_query(api):
    field, basin = direct(api.paths, "select field, basin from marts.dim_wells order by well_id limit 1")[0]
    got = all_rows(api, "/production/monthly", level="field", field=field, **{"from": "2023-10", "to": "2024-03"})
    want = direct(api.paths, "select key, production_month, gross_oil_bbl from marts.mart_production_monthly "
                             "where level = 'field' and field = ? and production_month between '2023-10-01' and "
                             "'2024-03-31' order by key, production_month", [field])
    assert [(r["key"], r["production_month"], r["gross_oil_bbl"]) for r in got] == [
        (k, m.isoformat(), v) for k, m, v in want] and want
    well = direct(api.paths, "select well_id from marts.dim_wells order by well_id limit 1")[0][0]
    rows = all_rows(api, "/production/monthly", well=well)
    assert rows and {r["level"] for r in rows} == {"well"} and {r["key"] for r in rows} == {well}
    two = all_rows(api, "/wells", basin=[basin, "Nowhere"], columns="well_id,basin")
    assert {r["basin"] for r in two} == {basin}
    yearly = all_rows(api, "/production/yearly", level="basin", **{"from": "2024", "to": "2024"})
    assert yearly and {r["production_year"] for r in yearly} == {2024}


@pytest.mark.parametrize("params,fragment", [
    ({"bogus": "1"}, "unknown parameter 'bogus'"),
    ({"from": "2024-13"}, "from must be a month YYYY-MM"),
    ({"to": "24-01"}, "to must be a month YYYY-MM"),
    ({"from": "2024-05", "to": "2024-01"}, "is after to"),
    ({"limit": "0"}, "limit must be a whole number from 1 to"),
    ({"limit": "10001"}, "limit must be a whole number from 1 to 10000"),
    ({"format": "xml"}, "format must be one of json, csv, parquet"),
    ({"order": "sideways"}, "order must be asc or desc"),
    ({"columns": "level,nope"}, "'nope' not in marts.mart_production_monthly"),
    ({"gross_oil_bbl": "lots"}, "is not a number"),
    ({"production_month": "June"}, "production_month must be a month YYYY-MM"),
    ({"cursor": "garbage"}, "cursor is not valid"),
])
@pytest.mark.kernel
def test_bad_requests_say_what_is_allowed(api, params, fragment):
    r = api.get("/production/monthly", params=params, headers=auth(api.keys["read"]))
    assert r.status_code == 400
    err = r.json()["error"]
    assert fragment in err["message"]
    if "unknown parameter" in fragment or "not in" in fragment:
        assert "level" in err["allowed"] and "production_month" in err["allowed"]


@pytest.mark.kernel
def test_a_cursor_cannot_be_replayed_on_another_query(api):
    page = api.get("/wells", params={"limit": 2}, headers=auth(api.keys["read"])).json()
    r = api.get("/wells", params={"limit": 2, "field": "Bakken", "cursor": page["next_cursor"]},
                headers=auth(api.keys["read"]))
    assert r.status_code == 400 and "another query" in r.json()["error"]["message"]


@pytest.mark.kernel
def test_csv_and_parquet_hold_the_same_rows_as_json(api):
    params = {"limit": 25, "columns": "well_id,production_month,oil_bbl,net_revenue_usd"}
    h = auth(api.keys["read"])
    js = api.get("/revenue", params=params, headers=h).json()
    cs = api.get("/revenue", params={**params, "format": "csv"}, headers=h)
    pa_ = api.get("/revenue", params={**params, "format": "parquet"}, headers=h)
    assert cs.headers["content-type"].startswith("text/csv") and "revenue.csv" in cs.headers["content-disposition"]
    assert cs.headers["x-next-cursor"] == js["next_cursor"] and 'rel="next"' in cs.headers["link"]
    t_csv = pacsv.read_csv(io.BytesIO(cs.content)).to_pylist()
    t_pq = pq.read_table(io.BytesIO(pa_.content)).to_pylist()
    assert len(t_csv) == len(t_pq) == js["rows"] == 25
    for a, b, c in zip(js["data"], t_csv, t_pq):
        assert a["well_id"] == b["well_id"] == c["well_id"]
        assert a["production_month"] == str(b["production_month"]) == str(c["production_month"])
        assert a["net_revenue_usd"] == pytest.approx(b["net_revenue_usd"]) == pytest.approx(c["net_revenue_usd"])


@pytest.mark.kernel
def test_catalog_lists_every_resource_with_its_columns(api):
    body = api.get("/catalog", headers=auth(api.keys["read"])).json()
    by = {r["path"]: r for r in body["resources"]}
    assert set(by) == {r.path for r in q.RESOURCES}
    wells = by["/wells"]
    assert wells["available"] and wells["key"] == ["well_id"]
    assert [c["name"] for c in wells["columns"]] == [r[0] for r in direct(
        api.paths, "select column_name from information_schema.columns where table_schema = 'marts' and "
                   "table_name = 'dim_wells' order by ordinal_position")]


# --------------------------------------------------------------------------- publishes


def republish(paths, mutate) -> None:
    """What the runner does: copy, change the copy, rename it over the published file."""
    build = paths.data_dir / "builds" / "test-build.duckdb"
    build.parent.mkdir(exist_ok=True)
    shutil.copy2(paths.warehouse, build)
    with duckdb.connect(str(build)) as con:
        mutate(con)
    os.replace(build, paths.warehouse)


@pytest.mark.kernel
def test_pages_stay_consistent_across_a_publish(built, tmp_path):
    paths = clone(built, tmp_path)
    app = create_app(settings_for(paths))
    key = make_key(paths.data_dir, "pager", "read")
    res = q.BY_NAME["production_monthly"]
    keyq = "select level, key, production_month from marts.mart_production_monthly order by 1, 2, 3"
    before = [tuple(map(str, r)) for r in direct(paths, keyq)]
    with TestClient(app) as c:
        h = auth(key)
        first = c.get(res.path, params={"limit": 30, "columns": "level,key,production_month"}, headers=h)
        v1 = first.headers["x-warehouse-version"]
        page1 = [(r["level"], r["key"], r["production_month"]) for r in first.json()["data"]]
        cut = page1[-1]

        def mutate(con):
            # rows disappear before and after the cursor, new rows appear before and after it
            con.execute("delete from marts.mart_production_monthly where (level, key, production_month) in "
                        "(select level, key, production_month from marts.mart_production_monthly "
                        " order by 1, 2, 3 limit 5)")
            con.execute("delete from marts.mart_production_monthly where (level, key, production_month) in "
                        "(select level, key, production_month from marts.mart_production_monthly "
                        " order by 1, 2, 3 offset 60 limit 7)")
            con.execute("insert into marts.mart_production_monthly (level, key, production_month) values "
                        "('aaa', 'before', '2020-01-01'), ('zzz', 'after', '2020-01-01')")
            con.execute("update marts.mart_production_monthly set gross_oil_bbl = -1")

        republish(paths, mutate)
        after = [tuple(map(str, r)) for r in direct(paths, keyq)]
        rest, cursor = [], first.json()["next_cursor"]
        versions = set()
        while cursor:
            r = c.get(res.path, params={"limit": 30, "columns": "level,key,production_month,gross_oil_bbl",
                                        "cursor": cursor}, headers=h)
            assert r.status_code == 400  # the columns changed: a new query, refused
            r = c.get(res.path, params={"limit": 30, "columns": "level,key,production_month", "cursor": cursor},
                      headers=h)
            body = r.json()
            versions.add(r.headers["x-warehouse-version"])
            rest += [(x["level"], x["key"], x["production_month"]) for x in body["data"]]
            cursor = body["next_cursor"]
    assert versions and v1 not in versions  # the next request saw the new publish
    allkeys = page1 + rest
    assert len(allkeys) == len(set(allkeys)), "a row came twice"
    assert rest == [k for k in after if k > cut], \
        "the pages after the publish are exactly the new rows after the cursor"
    survivors = set(before) & set(after)
    assert survivors <= set(allkeys), "a row present before and after the publish was skipped"
    assert ("zzz", "after", "2020-01-01") in rest and ("aaa", "before", "2020-01-01") not in allkeys


# --------------------------------------------------------------------------- health, reports, runs


@pytest.mark.kernel
def test_health_needs_no_key_and_says_nothing_sensitive(api, built):
    r = api.get("/health")
    assert r.status_code == 200
    body = r.json()
    assert body["warehouse"]["present"] and body["warehouse"]["age_seconds"] >= 0
    assert body["last_run"]["status"] == "succeeded" and body["last_run"]["month"] == MONTH
    text = r.text
    for secret in [*api.keys.values(), str(api.paths.data_dir), str(built.root), "k-admin", "error"]:
        assert secret not in text


def test_health_without_a_warehouse_is_503(tmp_path):
    with TestClient(create_app(settings_for(config.Paths.resolve(tmp_path / "d", tmp_path / "r")))) as c:
        r = c.get("/health")
        assert r.status_code == 503 and r.json()["status"] == "no_warehouse"


@pytest.mark.kernel
def test_reports_are_listed_and_downloadable(api):
    h = auth(api.keys["read"])
    listing = api.get("/reports", headers=h).json()["reports"]
    assert [b["month"] for b in listing] == [MONTH] and set(listing[0]["files"]) == {"pdf", "xlsx", "manifest"}
    one = api.get(f"/reports/{MONTH}", headers=h).json()
    manifest = json.loads((api.paths.reports_dir / MONTH / "manifest.json").read_text())
    assert one["manifest"]["run_id"] == manifest["run_id"]
    pdf = api.get(f"/reports/{MONTH}/pdf", headers=h)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF") and pdf.headers["content-type"] == \
        "application/pdf"
    xlsx = api.get(f"/reports/{MONTH}/xlsx", headers=h)
    assert xlsx.content.startswith(b"PK") and f"basinlab_{MONTH}.xlsx" in xlsx.headers["content-disposition"]
    assert api.get("/reports/2024-13", headers=h).status_code == 400
    assert api.get("/reports/1999-01", headers=h).status_code == 404
    assert api.get(f"/reports/{MONTH}/docx", headers=h).json()["error"]["allowed"] == ["pdf", "xlsx", "manifest"]
    assert api.get(f"/reports/{MONTH}/..%2F..%2Fetc", headers=h).status_code in (400, 404)


@pytest.mark.kernel
def test_run_status_from_the_run_log_and_unknown_runs(api, built):
    h = auth(api.keys["read"])
    run_id = json.loads(built.paths.run_log.read_text().splitlines()[-1])["run_id"]
    body = api.get(f"/runs/{run_id}", headers=h).json()
    assert body["status"] == "succeeded" and body["report"] == f"/reports/{MONTH}"
    assert [s["step"] for s in body["steps"]] == ["ingest", "transform", "decline", "quality", "report"]
    assert api.get("/runs/nope", headers=h).status_code == 404
    runs = api.get("/runs", params={"order": "desc"}, headers=h).json()
    assert runs["data"][0]["run_id"] == run_id


@pytest.mark.kernel
def test_post_runs_is_refused_while_a_run_holds_the_lock(api):
    h = auth(api.keys["write"])
    with runner.run_lock(api.paths, "2024-05_held_by_test", "2024-05"):
        r = api.post("/runs", json={"month": "2024-05"}, headers=h)
        assert r.status_code == 409
        err = r.json()["error"]
        assert "2024-05_held_by_test" in err["message"] and err["holder"]["run_id"] == "2024-05_held_by_test"
        assert api.get("/runs/2024-05_held_by_test", headers=auth(api.keys["read"])).json()["status"] == "running"
        assert api.get("/health").json()["run_in_progress"]["run_id"] == "2024-05_held_by_test"
    for body in ({"month": "2024-13"}, {"month": 202406}, {"month": "2024-06", "demo": True}, []):
        assert api.post("/runs", json=body, headers=h).status_code == 400


@pytest.mark.kernel
def test_post_runs_starts_a_real_detached_run_and_reports_its_outcome(tmp_path):
    """A real `basinlab run` started through the API; its published warehouse is broken on purpose so
    the run fails in a second, before any notebook, and the failure is what the API reports."""
    paths = config.Paths.resolve(tmp_path / "data", tmp_path / "reports")
    paths.data_dir.mkdir(parents=True)
    paths.warehouse.write_bytes(b"this is not a duckdb file" * 100)
    app = create_app(settings_for(paths))
    key = make_key(paths.data_dir, "ops", "write")
    with TestClient(app) as c:
        r = c.post("/runs", json={"month": "2024-06"}, headers=auth(key))
        assert r.status_code == 202, r.text
        started = r.json()
        assert started["run_id"].startswith("2024-06_") and r.headers["location"] == f"/runs/{started['run_id']}"
        deadline = time.monotonic() + 120
        while True:
            st = c.get(f"/runs/{started['run_id']}", headers=auth(key)).json()
            if st.get("status") in ("failed", "succeeded") or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert st["status"] == "failed" and st["error"] and st["launch"]["requested_by"] == "ops"
        via_launch = c.get(f"/runs/{started['launch_id']}", headers=auth(key)).json()
        assert via_launch["run_id"] == started["run_id"]


# --------------------------------------------------------------------------- audit


@pytest.mark.kernel
def test_audit_never_holds_a_secret_and_was_carried_by_the_run(api, built):
    lines = ServicePaths(api.paths).access_log.read_text()
    for token in [*api.keys.values(), *[t for t in api.bad.values() if t]]:
        assert token not in lines and token.split("_", 2)[-1] not in lines
    with duckdb.connect(str(built.paths.warehouse), read_only=True) as con:
        carried = con.execute("select route, status, key_name, auth from metadata.connection_audit").fetchall()
        text = json.dumps(con.execute("select * from metadata.connection_audit").fetchall(), default=str)
    routes_seen = {(r[0], r[1]) for r in carried}
    assert ("/generator", 200) in routes_seen and ("/wells", 503) in routes_seen
    assert ("/generator/gl/stream", 200) in routes_seen
    assert {r[2] for r in carried if r[3] == "ok"} == {"session-reader"}
    assert built.read_key not in text and built.read_key.split("_", 2)[-1] not in text


# --------------------------------------------------------------------------- real HTTP


@pytest.mark.kernel
def test_basinlab_serve_over_real_http(built, tmp_path):
    """`basinlab serve` as an operator starts it: key from `basinlab keys create`, curl-style requests."""
    paths = clone(built, tmp_path)
    token = basinlab("keys", "create", "--name", "curl", "--permission", "read", "--data-dir",
                     str(paths.data_dir)).stdout.strip()
    port = free_port()
    exe = os.path.join(os.path.dirname(sys.executable), "basinlab")
    proc = subprocess.Popen([exe, "serve", "--port", str(port), "--data-dir", str(paths.data_dir),
                             "--reports-dir", str(paths.reports_dir), "--gl-wells", "4", "--gl-months", "3",
                             "--gl-end-month", MONTH, "--gl-stream-months", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, "basinlab serve did not come up"
            time.sleep(0.2)
        r = httpx.get(f"{url}/production/monthly", params={"level": "basin", "limit": 5},
                      headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200 and r.json()["rows"] == 5
        assert httpx.get(f"{url}/wells").status_code == 401
        assert httpx.get(f"{url}/docs").status_code == 200 and "openapi" in httpx.get(f"{url}/openapi.json").text
        assert "server" not in {k.lower() for k in r.headers}
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    assert "GET /production/monthly" in out  # uvicorn's access log ...
    assert token not in out and token.split("_", 2)[-1] not in out  # ... never with the key
    log = ServicePaths(paths).access_log.read_text()
    assert token not in log and '"key_name":"curl"' in log
