"""`basinlab pull gl` over real HTTP (uvicorn on a free port): one file per batch, exactly once,
through restarts, crashes, 503s and cut connections; and the stream -> pull -> run path end to end."""
from __future__ import annotations

import csv
import json
import threading
import time
from decimal import Decimal

import duckdb
import pytest
from fastapi import FastAPI
from fastapi.responses import StreamingResponse

from basinlab import config
from basinlab.demo import GL_COLUMNS, generate_demo
from basinlab.service import pull as pull_mod
from basinlab.service.api import ServiceSettings, create_app
from basinlab.service.files import Busy, ServicePaths, exclusive
from basinlab.service.generator import GeneratorConfig, GLGenerator
from basinlab.service.http import Backoff
from basinlab.service.pull import GLPuller, PullError
from service_support import GEN, MONTH, basinlab, built_data, make_key, serve_app

SMALL = GeneratorConfig(seed=3, wells=5, months=6, end_month="2024-02", stream_months=4, batch_journals=9,
                        interval_s=0.01)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The real API serving a small generator whose batches are all out (epoch in the past)."""
    root = tmp_path_factory.mktemp("pull_server")
    paths = config.Paths.resolve(root / "data", root / "reports")
    app = create_app(ServiceSettings(paths, generator=GeneratorConfig(**{**SMALL.__dict__, "epoch": 0.0})))
    key = make_key(paths.data_dir, "puller", "read")
    with serve_app(app) as url:
        yield url, key, app.state.service.generator()


def puller(url, data, key, **kw) -> GLPuller:
    kw.setdefault("backoff", Backoff(attempts=4, base_s=0.0))
    return GLPuller(url, ServicePaths.resolve(data), key=key, **kw)


def inbox_files(data) -> list[str]:
    folder = data / "inbox" / "gl"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def demo_gl_lines(tmp_path, cfg: GeneratorConfig) -> list[list[str]]:
    generate_demo(tmp_path / "demo", wells=cfg.wells, months=cfg.months, end_month=cfg.end_month, seed=cfg.seed)
    with open(tmp_path / "demo" / "gl" / "demo_gl.csv", newline="") as fh:
        return list(csv.reader(fh))[1:]


def test_each_batch_becomes_one_canonical_csv_file_once(server, tmp_path):
    url, key, gen = server
    data = tmp_path / "data"
    res = puller(url, data, key).run()
    names = [f"stream_{gen.stream_id}-{i:06d}.csv" for i in range(gen.n_batches)]
    assert inbox_files(data) == names and len(res.written) == gen.n_batches and res.ended
    # the files hold the demo's streamed months, line for line, in the canonical GL layout
    got = []
    for n in names:
        with open(data / "inbox" / "gl" / n, newline="") as fh:
            rows = list(csv.reader(fh))
        assert tuple(rows[0]) == GL_COLUMNS
        got += rows[1:]
    demo = [r for r in demo_gl_lines(tmp_path, SMALL) if r[2][:7] >= gen.first_stream_month]
    assert got == demo
    state = json.loads((data / "service" / "pull_gl.json").read_text())
    assert state["streams"][gen.stream_id]["last_sequence"] == gen.n_batches - 1
    stamps = {n: (data / "inbox" / "gl" / n).stat().st_mtime_ns for n in names}
    again = puller(url, data, key).run()
    assert again.written == [] and again.already_present == [] and again.ended
    assert {n: (data / "inbox" / "gl" / n).stat().st_mtime_ns for n in names} == stamps


def test_a_restarted_puller_neither_skips_nor_duplicates(server, tmp_path):
    url, key, gen = server
    data = tmp_path / "data"
    seen = []
    for step in (2, 3, 1, None):
        res = puller(url, data, key).run(max_batches=step)
        seen += res.written
    assert seen == [f"{gen.stream_id}-{i:06d}" for i in range(gen.n_batches)]
    assert len(inbox_files(data)) == gen.n_batches


def test_killed_between_the_file_and_the_state_the_batch_is_recognised_not_rewritten(server, tmp_path,
                                                                                         monkeypatch):
    url, key, gen = server
    data = tmp_path / "data"
    real = pull_mod.save_state
    calls = {"n": 0}

    def dying(sp, state):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt("killed")  # after batch 2's file, before its state
        real(sp, state)

    monkeypatch.setattr(pull_mod, "save_state", dying)
    with pytest.raises(KeyboardInterrupt):
        puller(url, data, key).run()
    monkeypatch.setattr(pull_mod, "save_state", real)
    assert len(inbox_files(data)) == 3
    res = puller(url, data, key).run()
    assert res.already_present == [f"{gen.stream_id}-000002"]
    assert len(res.written) == gen.n_batches - 3 and len(inbox_files(data)) == gen.n_batches
    assert not [p for p in (data / "inbox" / "gl").iterdir() if p.name.startswith(".")]


class Flaky:
    """Wraps the API: the first `fail` stream requests get 503 (Retry-After: 0), the next one is cut
    after `cut_after` batches."""

    def __init__(self, app, fail: int, cut_after: int):
        self.app, self.fail, self.cut_after, self.calls = app, fail, cut_after, 0

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["path"] == "/generator/gl/stream":
            self.calls += 1
            if self.calls <= self.fail:
                await send({"type": "http.response.start", "status": 503,
                            "headers": [(b"retry-after", b"0"), (b"content-length", b"0")]})
                await send({"type": "http.response.body", "body": b""})
                return
            if self.calls == self.fail + 1:
                sent = 0

                async def cutting(msg):
                    nonlocal sent
                    if msg["type"] == "http.response.body" and msg.get("body"):
                        sent += 1
                        if sent > self.cut_after:
                            raise ConnectionResetError("connection cut by the test")
                    await send(msg)

                await self.app(scope, receive, cutting)
                return
        await self.app(scope, receive, send)


def test_retries_with_backoff_through_503s_and_a_cut_connection(tmp_path):
    paths = config.Paths.resolve(tmp_path / "srv", tmp_path / "r")
    app = create_app(ServiceSettings(paths, generator=GeneratorConfig(**{**SMALL.__dict__, "epoch": 0.0})))
    key = make_key(paths.data_dir, "p", "read")
    flaky = Flaky(app, fail=2, cut_after=2)
    sleeps, said = [], []
    with serve_app(flaky) as url:
        gen = app.state.service.generator()
        res = GLPuller(url, ServicePaths.resolve(tmp_path / "data"), key=key, progress=said.append,
                       backoff=Backoff(attempts=5, base_s=0.01, sleep=sleeps.append)).run()
    assert res.written == [f"{gen.stream_id}-{i:06d}" for i in range(gen.n_batches)]
    assert flaky.calls == 4  # 503, 503, cut after 2 batches, the rest
    assert sum("HTTP 503" in m for m in said) == 2 and any("connection" in m.lower() or "Protocol" in m
                                                           for m in said)


def test_a_refused_key_stops_at_once_saying_what_to_do(server, tmp_path):
    url, _key, _gen = server
    sleeps = []
    for bad in (None, "blk_00000000_" + "A" * 43):
        with pytest.raises(PullError, match="BASINLAB_API_KEY") as exc:
            GLPuller(url, ServicePaths.resolve(tmp_path / "data"), key=bad,
                     backoff=Backoff(sleep=sleeps.append)).run()
        assert "401" in str(exc.value)
    assert sleeps == [] and inbox_files(tmp_path / "data") == []


def fake_server(gen: GLGenerator, messages: list[dict]):
    app = FastAPI()

    @app.get("/generator")
    def info():
        return gen.info()

    @app.get("/generator/gl/stream")
    def stream(after: int = -1):
        body = [m for m in messages if m.get("sequence", 10**9) > after or m["type"] != "batch"]
        return StreamingResponse((json.dumps(m) + "\n" for m in body), media_type="application/x-ndjson")

    return app


@pytest.fixture(scope="module")
def small_gen():
    return GLGenerator(GeneratorConfig(**{**SMALL.__dict__, "epoch": 0.0}))


def test_a_missing_batch_stops_the_puller_after_what_it_had(small_gen, tmp_path):
    msgs = [small_gen.batch(0), small_gen.batch(2), {"type": "end"}]
    with serve_app(fake_server(small_gen, msgs)) as url:
        with pytest.raises(PullError, match="expected batch 1 .* got 2: a batch is missing"):
            puller(url, tmp_path / "data", None).run()
    assert inbox_files(tmp_path / "data") == [f"stream_{small_gen.stream_id}-000000.csv"]


def test_an_unbalanced_batch_is_refused_and_not_written(small_gen, tmp_path):
    bad = json.loads(json.dumps(small_gen.batch(0)))
    line = next(r for r in bad["lines"] if r["debit_amount"])
    line["debit_amount"] = str(Decimal(line["debit_amount"]) + Decimal("0.01"))
    with serve_app(fake_server(small_gen, [bad, {"type": "end"}])) as url:
        with pytest.raises(PullError, match="do not balance"):
            puller(url, tmp_path / "data", None).run()
    assert inbox_files(tmp_path / "data") == []


def test_an_existing_file_with_other_content_is_never_overwritten(server, tmp_path):
    url, key, gen = server
    target = tmp_path / "data" / "inbox" / "gl" / f"stream_{gen.stream_id}-000000.csv"
    target.parent.mkdir(parents=True)
    target.write_text("journal_id\nsomething else\n")
    with pytest.raises(PullError, match="refusing to overwrite"):
        puller(url, tmp_path / "data", key).run()
    assert target.read_text() == "journal_id\nsomething else\n"


def test_one_puller_per_data_dir(server, tmp_path):
    url, key, _gen = server
    sp = ServicePaths.resolve(tmp_path / "data")
    with exclusive(sp.root / "pull_gl.lock", "another puller"):
        with pytest.raises(Busy, match="already running"):
            puller(url, tmp_path / "data", key).run()


def test_follow_takes_batches_as_they_are_released(tmp_path):
    """With --follow the puller is connected before the batches exist and takes each as it comes out."""
    cfg = GeneratorConfig(**{**SMALL.__dict__, "interval_s": 0.25, "epoch": time.time() + 1.0})
    paths = config.Paths.resolve(tmp_path / "srv", tmp_path / "r")
    app = create_app(ServiceSettings(paths, generator=cfg))
    key = make_key(paths.data_dir, "p", "read")
    stop = threading.Event()
    released_at_arrival: list[int] = []

    with serve_app(app) as url:
        gen = app.state.service.generator()

        def progress(msg: str) -> None:
            if msg.startswith("batch "):
                released_at_arrival.append(gen.released())
            if "is complete" in msg:
                stop.set()

        res = GLPuller(url, ServicePaths.resolve(tmp_path / "data"), key=key, progress=progress, stop=stop,
                       idle_poll_s=0.05).run(follow=True)
    assert res.written == [f"{gen.stream_id}-{i:06d}" for i in range(gen.n_batches)] and res.ended
    # the first batch arrived while later ones were not released yet: it was streamed, not caught up
    assert released_at_arrival[0] < gen.n_batches
    assert released_at_arrival == sorted(released_at_arrival)


def test_cli_pull_gl(server, tmp_path):
    url, key, gen = server
    res = basinlab("pull", "gl", "--from", url, "--data-dir", str(tmp_path / "data"),
                   env={"BASINLAB_API_KEY": key})
    assert res.returncode == 0, res.stderr
    assert f"{gen.n_batches} new batch file(s)" in res.stdout and "complete" in res.stdout
    assert key not in res.stdout + res.stderr
    (tmp_path / "k").write_text("blk_00000000_" + "B" * 43 + "\n")
    bad = basinlab("pull", "gl", "--from", url, "--key-file", str(tmp_path / "k"), "--data-dir",
                   str(tmp_path / "d2"))
    assert bad.returncode == 1 and "refused the key" in bad.stderr and "Traceback" not in bad.stderr


# --------------------------------------------------------------------------- end to end


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return built_data(tmp_path_factory)


@pytest.mark.kernel
def test_stream_pull_run_end_to_end(built, tmp_path):
    """The demo GL, streamed over HTTP and pulled into the inbox, is what the run published."""
    cfg = GeneratorConfig(**GEN)
    demo = demo_gl_lines(tmp_path, cfg)
    files = sorted((built.data / "inbox" / "gl").glob("stream_*.csv"))
    assert len(files) == built.batches
    with duckdb.connect(str(built.data / "warehouse.duckdb"), read_only=True) as con:
        got = con.execute("""select journal_id, line_number, strftime(transaction_date, '%Y-%m-%d'), account_code,
                                    coalesce(cast(debit_amount as varchar), ''),
                                    coalesce(cast(credit_amount as varchar), '')
                             from marts.fct_gl_transactions where _source_file like 'gl/stream_%'
                             order by journal_id, line_number""").fetchall()
        n_files = con.execute("select count(*) from metadata.ingested_files where kind = 'gl' "
                              "and file_name like 'gl/stream_%' and status = 'loaded'").fetchall()[0][0]
        unbalanced = con.execute("""select journal_id from marts.fct_gl_transactions group by 1
                                    having sum(debit_amount) <> sum(credit_amount)""").fetchall()
    # the warehouse books an empty side as 0.00
    want = sorted((r[0], int(r[1]), r[2], r[3], f"{Decimal(r[9] or 0):.2f}", f"{Decimal(r[10] or 0):.2f}")
                  for r in demo)
    assert got == want
    assert n_files == built.batches and unbalanced == []
    assert "[ingest] succeeded" in built.run.stdout and MONTH in built.run.stdout
