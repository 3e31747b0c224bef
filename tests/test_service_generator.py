"""The served GL generator: the demo's own ledger, a history plus timed batches of whole balanced
journals, deterministic in seed and time; its HTTP routes (history pages, NDJSON stream)."""
from __future__ import annotations

import csv
import json
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from basinlab import config
from basinlab.demo import GL_COLUMNS, generate_demo
from basinlab.service.api import ServiceSettings, create_app
from basinlab.service.generator import GeneratorConfig, GLGenerator
from service_support import make_key

CFG = GeneratorConfig(seed=11, wells=6, months=8, end_month="2024-03", stream_months=3, batch_journals=7,
                      interval_s=10.0, epoch=1_000_000.0)


class Clock:
    def __init__(self, t: float):
        self.t = t

    def __call__(self) -> float:
        return self.t


def demo_lines(tmp_path, cfg: GeneratorConfig) -> list[dict[str, str]]:
    """gl/demo_gl.csv as `basinlab demo` writes it, read with the csv module (independent of the generator)."""
    generate_demo(tmp_path / "inbox", wells=cfg.wells, months=cfg.months, end_month=cfg.end_month, seed=cfg.seed)
    with open(tmp_path / "inbox" / "gl" / "demo_gl.csv", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def gen():
    return GLGenerator(CFG, clock=Clock(CFG.epoch))


def norm(rows) -> list[tuple]:
    return [tuple("" if r[c] is None else str(r[c]) for c in GL_COLUMNS) for r in rows]


def test_the_ledger_is_the_demo_ledger(gen, tmp_path):
    assert norm(gen.lines.to_pylist()) == norm(demo_lines(tmp_path, CFG))


def test_history_then_batches_cover_every_journal_once_in_order(gen, tmp_path):
    lines = demo_lines(tmp_path, CFG)
    first_stream = "2024-01"  # the last 3 months of the 8 ending 2024-03
    history = [r for r in lines if r["transaction_date"][:7] < first_stream]
    assert gen.history_lines == len(history) and gen.first_stream_month == first_stream
    streamed = []
    for seq in range(gen.n_batches):
        b = gen.batch(seq)
        journals = list(dict.fromkeys(r["journal_id"] for r in b["lines"]))
        assert 1 <= len(journals) <= CFG.batch_journals and b["journals"] == len(journals)
        if seq < gen.n_batches - 1:
            assert len(journals) == CFG.batch_journals
        streamed.extend(b["lines"])
    assert norm(streamed) == norm(lines[len(history):])
    ids = [r["journal_id"] for r in streamed]
    # a journal never straddles two batches
    owner = {}
    for seq in range(gen.n_batches):
        for r in gen.batch(seq)["lines"]:
            assert owner.setdefault(r["journal_id"], seq) == seq
    assert len(set(ids)) == len(owner)


def test_every_batch_balances_to_the_cent(gen):
    for seq in range(gen.n_batches):
        b = gen.batch(seq)
        per_journal: dict[str, Decimal] = {}
        for r in b["lines"]:
            amt = Decimal(r["debit_amount"] or "0") - Decimal(r["credit_amount"] or "0")
            per_journal[r["journal_id"]] = per_journal.get(r["journal_id"], Decimal(0)) + amt
        assert all(v == 0 for v in per_journal.values()), seq
        assert Decimal(b["debit_total"]) == Decimal(b["credit_total"]) > 0


def test_same_seed_and_settings_give_the_same_batches_whatever_the_timing():
    a = GLGenerator(CFG, clock=Clock(0))
    b = GLGenerator(GeneratorConfig(**{**CFG.__dict__, "interval_s": 0.5, "epoch": 5.0}), clock=Clock(0))
    assert a.stream_id == b.stream_id
    assert all(a.batch(i)["lines"] == b.batch(i)["lines"] and a.batch(i)["batch_id"] == b.batch(i)["batch_id"]
               for i in range(a.n_batches))
    c = GLGenerator(GeneratorConfig(**{**CFG.__dict__, "seed": 12}), clock=Clock(0))
    assert c.stream_id != a.stream_id and c.batch(0)["lines"] != a.batch(0)["lines"]


@settings(max_examples=80, deadline=None)
@given(st.floats(min_value=-100.0, max_value=400.0, allow_nan=False))
def test_release_schedule_is_a_function_of_time(gen, dt):
    now = CFG.epoch + dt
    n = gen.released(now)
    since = now - CFG.epoch
    expected = 0 if since < 0 else min(gen.n_batches, int(since // CFG.interval_s) + 1)
    assert n == expected
    for seq in range(gen.n_batches):
        assert (seq < n) == (gen.release_time(seq) <= now)


@pytest.mark.parametrize("bad,match", [
    (dict(stream_months=9), "stream_months"), (dict(batch_journals=0), "batch_journals"),
    (dict(interval_s=0.0), "interval"), (dict(interval_s=float("nan")), "interval"), (dict(wells=0), "wells"),
    (dict(end_month="2024-13"), "YYYY-MM")])
def test_bad_settings_are_refused_with_the_reason(bad, match):
    with pytest.raises(ValueError, match=match):
        GLGenerator(GeneratorConfig(**{**CFG.__dict__, **bad}))


# --------------------------------------------------------------------------- over HTTP (ASGI)


@pytest.fixture
def client(tmp_path):
    paths = config.Paths.resolve(tmp_path / "data", tmp_path / "reports")
    app = create_app(ServiceSettings(paths, generator=CFG))
    clock = Clock(CFG.epoch - 1)
    app.state.service._generator = GLGenerator(CFG, clock=clock)
    key = make_key(paths.data_dir, "g", "read")
    with TestClient(app) as c:
        c.headers["Authorization"] = f"Bearer {key}"
        c.clock = clock
        c.gen = app.state.service._generator
        yield c


def stream(client, **params) -> list[dict]:
    r = client.get("/generator/gl/stream", params={"follow": "false", **params})
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/x-ndjson")
    assert r.headers["x-stream-id"] == client.gen.stream_id
    return [json.loads(line) for line in r.text.splitlines()]


def all_pages(client, path, **params) -> list[dict]:
    rows, cursor = [], None
    while True:
        r = client.get(path, params={**params, **({"cursor": cursor} if cursor else {})})
        assert r.status_code == 200, r.text
        body = r.json()
        rows += body["data"]
        cursor = body["next_cursor"]
        if not cursor:
            return rows


def test_history_route_serves_only_what_is_released(client, tmp_path):
    lines = demo_lines(tmp_path, CFG)
    hist = all_pages(client, "/generator/gl", limit=50)
    assert len(hist) == client.gen.history_lines
    assert {r["batch_id"] for r in hist} == {None}
    client.clock.t = CFG.epoch + 2 * CFG.interval_s  # batches 0, 1, 2 out
    now = all_pages(client, "/generator/gl", limit=500)
    released_lines = sum(client.gen.batch(i)["line_count"] for i in range(3))
    assert len(now) == client.gen.history_lines + released_lines
    # a date range: the demo lines of that month, with amounts exactly as in the file
    feb = all_pages(client, "/generator/gl", **{"from": "2023-11", "to": "2023-11"})
    want = [r for r in lines if r["transaction_date"].startswith("2023-11")]
    def dec(v):
        return None if v in (None, "") else Decimal(str(v))

    assert [(r["journal_id"], r["line_number"], dec(r["debit_amount"]), dec(r["credit_amount"])) for r in feb] == [
        (r["journal_id"], int(r["line_number"]), dec(r["debit_amount"]), dec(r["credit_amount"])) for r in want]


def test_stream_sends_released_batches_then_caught_up_then_end(client):
    assert stream(client) == [{"type": "caught_up", "stream_id": client.gen.stream_id, "next_sequence": 0,
                               "next_release_at": stream(client)[0]["next_release_at"]}]
    client.clock.t = CFG.epoch + CFG.interval_s  # 0 and 1 out
    msgs = stream(client)
    assert [m["type"] for m in msgs] == ["batch", "batch", "caught_up"]
    assert [m["sequence"] for m in msgs[:2]] == [0, 1] and msgs[2]["next_sequence"] == 2
    assert msgs[0]["batch_id"] == f"{client.gen.stream_id}-000000"
    assert stream(client, after=0)[0]["sequence"] == 1
    assert [m["sequence"] for m in stream(client, after=-1, limit=1)] == [0]
    client.clock.t = CFG.epoch + 10_000
    msgs = stream(client, after=client.gen.n_batches - 3)
    assert [m["type"] for m in msgs] == ["batch", "batch", "end"]
    assert msgs[-1]["last_sequence"] == client.gen.n_batches - 1


@pytest.mark.parametrize("params", [{"after": "-2"}, {"after": "x"}, {"limit": "0"}, {"follow": "maybe"},
                                    {"since": "1"}])
def test_stream_refuses_bad_parameters(client, params):
    r = client.get("/generator/gl/stream", params=params)
    assert r.status_code == 400 and r.json()["error"]["message"]


def test_generator_info(client):
    client.clock.t = CFG.epoch + 25.0
    info = client.get("/generator").json()
    assert info["stream_id"] == client.gen.stream_id
    assert info["batches"] == {"total": client.gen.n_batches, "released": 3, "last_sequence": 2,
                               "next_sequence": 3, "next_release_at": info["batches"]["next_release_at"]}
    assert info["window"] == {"first_month": "2023-08", "last_month": "2024-03", "first_stream_month": "2024-01"}
