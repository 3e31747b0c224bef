"""`basinlab pull eia` against a local fake EIA API v2 (real HTTP on a free port): pages, 429 and 500
then success, refused keys, malformed bodies (fail naming the series, nothing written), the two
files a pull writes and how the next run loads them. No test touches the network."""
from __future__ import annotations

import csv
import json

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from basinlab import config, warehouse
from basinlab.service.carry import carry_service_files
from basinlab.service.eia import EIAAuthError, EIAError, EIAFormatError, pull_eia, resolve_series
from basinlab.service.files import ServicePaths
from basinlab.service.http import Backoff
from service_support import FakeEIA, basinlab, built_data, eia_rows, window

MONTHS = window("2024-06", 30)


@pytest.fixture
def fake():
    series = {"RWTC": eia_rows("RWTC", MONTHS), "RBRTE": eia_rows("RBRTE", MONTHS, base=74.0),
              "RNGWHHD": eia_rows("RNGWHHD", MONTHS, "$/MMBTU", base=2.5)}
    with FakeEIA(series) as f:
        yield f


@pytest.fixture
def sp(tmp_path):
    return ServicePaths.resolve(tmp_path / "data")


def pull(fake, sp, **kw):
    kw.setdefault("backoff", Backoff(attempts=4, base_s=0.0, sleep=lambda _s: None))
    return pull_eia(sp, api_key=fake.key, base_url=fake.base_url, **kw)


def written(sp) -> list[str]:
    out = []
    for folder in (sp.paths.inbox / "prices", sp.received_eia):
        if folder.exists():
            out += sorted(p.name for p in folder.iterdir())
    return out


def test_pages_are_followed_to_the_total_and_both_files_written(fake, sp):
    res = pull(fake, sp, page_length=7)
    assert [p.pages for p in res.series] == [5, 5, 5] and all(p.total == 30 for p in res.series)
    offsets = [int(qs["offset"][0]) for path, qs in fake.requests if qs["facets[series][]"] == ["RWTC"]]
    assert offsets == [0, 7, 14, 21, 28]
    first = fake.requests[0][1]
    assert first["frequency"] == ["monthly"] and first["data[0]"] == ["value"] and fake.requests[0][0] == \
        "/v2/petroleum/pri/spt/data/"
    assert any(p == "/v2/natural-gas/pri/fut/data/" for p, _ in fake.requests)
    with open(res.prices_file, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 90 == res.prices_rows
    want = {(r["period"], b, r["value"]) for sid, b in (("RWTC", "WTI"), ("RBRTE", "BRENT"),
                                                        ("RNGWHHD", "HENRY_HUB")) for r in fake.series[sid]}
    assert {(r["price_month"], r["benchmark"], r["price_usd"]) for r in rows} == want
    received = json.loads(res.received_file.read_text())
    assert [s["series_id"] for s in received["series"]] == ["RWTC", "RBRTE", "RNGWHHD"]
    assert received["series"][0]["rows"] == fake.series["RWTC"]  # exactly as received
    assert res.prices_file.parent == sp.paths.inbox / "prices" and res.received_file.parent == sp.received_eia


def test_429_then_success_and_500_then_success(fake, sp):
    fake.script["RWTC"] = [(429, {"error": "Too many requests"}, {"Retry-After": "2"})]
    fake.script["RBRTE"] = [(500, b"Internal Server Error", {}), (502, b"bad gateway", {})]
    sleeps, said = [], []
    res = pull(fake, sp, series=["WTI", "BRENT"], backoff=Backoff(attempts=4, base_s=0.5, sleep=sleeps.append),
               progress=said.append)
    assert res.prices_rows == 60
    assert sleeps[0] == 2.0  # Retry-After honoured
    assert len(sleeps) == 3 and all(0 <= s <= 1.0 for s in sleeps[1:])  # then exponential backoff with jitter
    assert any("HTTP 429" in m for m in said) and any("HTTP 500" in m for m in said)


def test_retries_run_out_with_a_clear_error_and_nothing_written(fake, sp):
    fake.script["RWTC"] = [(503, b"", {})] * 10
    with pytest.raises(EIAError, match=r"EIA WTI \(RWTC\) page 1 \(offset 0\) failed 3 times; last: HTTP 503"):
        pull(fake, sp, backoff=Backoff(attempts=3, base_s=0, sleep=lambda _s: None))
    assert written(sp) == []


@pytest.mark.parametrize("status", [401, 403])
def test_a_refused_key_says_what_to_do_without_retrying(fake, sp, status):
    fake.script["RWTC"] = [(status, {"error": {"code": "API_KEY_INVALID",
                                               "message": "An invalid api_key was supplied."}}, {})]
    with pytest.raises(EIAAuthError) as exc:
        pull(fake, sp)
    msg = str(exc.value)
    assert f"HTTP {status}" in msg and "EIA_API_KEY" in msg and "invalid api_key" in msg
    assert fake.key not in msg and len(fake.requests) == 1 and written(sp) == []


def valid_page(sid="RBRTE", offset=0, length=5000):
    from service_support import eia_body

    return eia_body(eia_rows(sid, MONTHS), 30, offset, length)


def malformed_bodies():
    """Ways a body can fail to be an API v2 answer, each derived from a valid page."""
    out = {"not json": b"<html>Service Unavailable</html>", "json list": b"[1, 2, 3]", "empty object": {}}
    b = valid_page()
    out["no response"] = {k: v for k, v in b.items() if k != "response"}
    for key in ("data", "total"):
        d = json.loads(json.dumps(b))
        del d["response"][key]
        out[f"no response.{key}"] = d
    for label, field, value in [("data not a list", "data", {"0": 1}), ("total not a count", "total", "many")]:
        d = json.loads(json.dumps(b))
        d["response"][field] = value
        out[label] = d
    for label, field, value in [("bad period", "period", "2024-13"), ("daily period", "period", "2024-01-15"),
                                ("value text", "value", "n/a"), ("value bool", "value", True),
                                ("value nan", "value", "NaN"), ("other series", "series", "RWTC"),
                                ("period missing", "period", None)]:
        d = json.loads(json.dumps(b))
        d["response"]["data"][3][field] = value
        out[label] = d
    d = json.loads(json.dumps(b))
    d["response"]["data"][4] = "2024-01,70.1"
    out["row not an object"] = d
    d = json.loads(json.dumps(b))
    d["response"]["total"] = "60"
    d["response"]["data"] = d["response"]["data"][:0]
    out["empty page before total"] = d
    return out


@pytest.mark.parametrize("label,body", malformed_bodies().items(), ids=list(malformed_bodies()))
def test_a_malformed_body_fails_naming_the_series_and_writes_nothing(fake, sp, label, body):
    """WTI comes in fine first; BRENT's body is broken: the pull fails and writes nothing at all."""
    fake.script["RBRTE"] = [(200, body, {})]
    with pytest.raises(EIAError) as exc:
        pull(fake, sp)
    assert "BRENT" in str(exc.value) and "RBRTE" in str(exc.value), str(exc.value)
    assert written(sp) == []
    assert any(qs["facets[series][]"] == ["RWTC"] for _p, qs in fake.requests)  # WTI was fetched before


def test_duplicate_months_across_pages_are_malformed(fake, sp):
    rows = eia_rows("RWTC", MONTHS)
    fake.series["RWTC"] = rows[:10] + rows[5:10] + rows[10:]
    with pytest.raises(EIAFormatError, match=r"WTI \(RWTC\): month\(s\) \['2022-06"):
        pull(fake, sp, series=["WTI"])


@settings(max_examples=25, deadline=None)
@given(st.lists(st.sampled_from(["WTI", "wti", "RWTC", "Brent", "RBRTE", "HENRY_HUB", "hh", "RNGWHHD"]),
                min_size=1, max_size=5))
def test_series_names_and_ids_resolve(names):
    got = resolve_series(names)
    assert len(got) == len({s.name for s in got}) and {s.name for s in got} <= {"WTI", "BRENT", "HENRY_HUB"}


def test_unknown_series_missing_key_and_bad_months_are_refused(sp, monkeypatch):
    with pytest.raises(EIAError, match="unknown series 'GOLD'"):
        resolve_series(["GOLD"])
    monkeypatch.delenv("EIA_API_KEY", raising=False)
    with pytest.raises(EIAError, match="set EIA_API_KEY"):
        pull_eia(sp)
    with pytest.raises(EIAError, match="--start must be a month"):
        pull_eia(sp, api_key="k", start="2024")


def test_withheld_months_are_counted_not_written_and_a_repeat_pull_writes_nothing(fake, sp):
    fake.series["RWTC"][2]["value"] = None
    res = pull(fake, sp, series=["WTI"])
    assert res.withheld == {"WTI": [MONTHS[2]]} and res.prices_rows == 29
    again = pull(fake, sp, series=["WTI"])
    assert again.unchanged and len(written(sp)) == 2


def test_the_next_run_loads_prices_and_the_series_as_received(fake, sp, tmp_path):
    res = pull(fake, sp)
    paths = sp.paths
    con = warehouse.connect(tmp_path / "build.duckdb")
    warehouse.migrate(con)
    from basinlab.ingest import ingest_inbox

    report = ingest_inbox(con, paths.inbox, "run-1")
    assert [f.status for f in report.files] == ["loaded"] and report.files[0].rows_loaded == 90
    assert carry_service_files(con, paths, "run-1")["raw.eia_petroleum"] == 90
    got = con.execute("select series_id, strftime(period, '%Y-%m'), value, units from raw.eia_petroleum "
                      "order by series_id, period").fetchall()
    want = sorted((sid, r["period"], float(r["value"]), r["units"]) for sid in fake.series for r in fake.series[sid])
    assert got == want
    assert con.execute("select count(*) from raw.price_deck").fetchall()[0][0] == 90
    con.close()
    assert res.received_file.exists()


def test_the_key_never_reaches_files_or_output(fake, tmp_path):
    res = basinlab("-v", "pull", "eia", "--series", "WTI,HENRY_HUB", "--data-dir", str(tmp_path / "data"),
                   "--base-url", fake.base_url, env={"EIA_API_KEY": fake.key})
    assert res.returncode == 0, res.stderr
    assert "60 price rows" in res.stdout and "raw.eia_petroleum" in res.stdout
    assert fake.key not in res.stdout + res.stderr
    for p in (tmp_path / "data").rglob("*"):
        if p.is_file():
            assert fake.key.encode() not in p.read_bytes(), p
    bad = basinlab("pull", "eia", "--data-dir", str(tmp_path / "d2"), "--base-url", fake.base_url,
                   env={"EIA_API_KEY": "wrong"})
    assert bad.returncode == 1 and "refused the API key" in bad.stderr and "Traceback" not in bad.stderr


# --------------------------------------------------------------------------- in the built warehouse


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return built_data(tmp_path_factory)


@pytest.mark.kernel
def test_the_run_loaded_the_pulled_prices_and_raw_series(built):
    with duckdb.connect(str(config.Paths.resolve(built.data).warehouse), read_only=True) as con:
        raw = con.execute("select series_id, count(*) from raw.eia_petroleum group by 1 order by 1").fetchall()
        wti = con.execute("select strftime(price_month, '%Y-%m'), price_usd from staging.stg_prices "
                          "where benchmark = 'WTI' and _source_file like 'prices/eia_%' order by 1").fetchall()
    assert raw == [("RBRTE", 12), ("RNGWHHD", 12), ("RWTC", 12)]
    assert wti == [(r["period"], float(r["value"])) for r in eia_rows("RWTC", built.eia_months)]
