"""Shared helpers of the service tests: real HTTP servers on free ports, keys, the built warehouse.

The warehouse the service tests read is built **once per test session** (``built_data``,
cached here) by the path the issue asks to be tested end to end: a demo inbox
(8 wells x 12 months) without its GL file, the demo GL pulled from the served
generator's stream over real HTTP (``basinlab.service.pull``), EIA prices pulled
from a local fake EIA server, a few API requests so the access log has lines, then
one real ``basinlab run``. The API tests reuse that published warehouse and its
report bundle.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from basinlab import config
from basinlab.service.files import ServicePaths
from basinlab.service.generator import GeneratorConfig
from basinlab.service.keys import KeyStore

MONTH = "2024-06"
WELLS, MONTHS, SEED = 8, 12, 7
GEN = dict(seed=SEED, wells=WELLS, months=MONTHS, end_month=MONTH, stream_months=MONTHS, batch_journals=40)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve_app(app, port: int | None = None):
    """Serve an ASGI app with uvicorn in a thread on a free port; yields the base URL."""
    import uvicorn

    port = port or free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    server.install_signal_handlers = lambda: None
    t = threading.Thread(target=server.run, daemon=True)
    t.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not t.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        t.join(timeout=15)


def make_key(data_dir: Path, name: str, permission: str, **kw) -> str:
    return KeyStore(ServicePaths.resolve(data_dir).keys).create(name, permission, **kw).token


def basinlab(*args: str, env: dict[str, str] | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("basinlab")
    return subprocess.run([str(exe), *args], capture_output=True, text=True, cwd="/", timeout=timeout,
                          env=os.environ | {"PLOOMBER_STATS_ENABLED": "false"} | (env or {}))


# --------------------------------------------------------------------------- a fake EIA API v2


def eia_rows(series_id: str, months: list[str], units: str = "$/BBL", base: float = 70.0) -> list[dict]:
    """Rows in the shape EIA's v2 spot-price routes send (values as strings, as EIA does)."""
    names = {"RWTC": ("EPCWTI", "WTI Crude Oil", "Cushing, OK WTI Spot Price FOB (Dollars per Barrel)"),
             "RBRTE": ("EPCBRENT", "UK Brent Crude Oil", "Europe Brent Spot Price FOB (Dollars per Barrel)"),
             "RNGWHHD": ("EPG0", "Natural Gas", "Henry Hub Natural Gas Spot Price (Dollars per Million Btu)")}
    product, pname, desc = names.get(series_id, ("X", "X", series_id))
    return [{"period": m, "duoarea": "YCUOK", "area-name": "NA", "product": product, "product-name": pname,
             "process": "PF4", "process-name": "Spot Price FOB", "series": series_id, "series-description": desc,
             "value": f"{base + i * 0.37:.2f}", "units": units} for i, m in enumerate(months)]


def eia_body(rows: list[dict], total: int, offset: int, length: int) -> dict:
    return {"response": {"total": str(total), "dateFormat": "YYYY-MM", "frequency": "monthly",
                         "data": rows[offset:offset + length], "description": "Spot Prices",
                         "warnings": []},
            "request": {"command": "/v2/petroleum/pri/spt/data/", "params": {"frequency": "monthly"}},
            "apiVersion": "2.1.8"}


class FakeEIA:
    """A local HTTP server answering ``GET /v2/<route>/data/`` like EIA's API v2.

    ``series`` maps an EIA series id to its rows. ``script`` maps a series id to a list of
    canned answers consumed one per request before the normal pages: ``(status, body, headers)``
    where body is a dict (sent as JSON) or bytes. Every request is recorded (path, params).
    """

    def __init__(self, series: dict[str, list[dict]], key: str = "test-eia-key"):
        self.series = series
        self.key = key
        self.script: dict[str, list[tuple[int, Any, dict]]] = {}
        self.requests: list[tuple[str, dict[str, list[str]]]] = []
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):  # keep test output quiet
                pass

            def do_GET(self):
                u = urlparse(self.path)
                qs = parse_qs(u.query)
                sid = (qs.get("facets[series][]") or [""])[0]
                with fake._lock:
                    fake.requests.append((u.path, qs))
                    canned = fake.script.get(sid) or []
                    answer = canned.pop(0) if canned else None
                if answer is None:
                    if (qs.get("api_key") or [""])[0] != fake.key:
                        answer = (403, {"error": {"code": "API_KEY_INVALID",
                                                  "message": "An invalid api_key was supplied."}}, {})
                    elif sid not in fake.series:
                        answer = (400, {"error": f"Invalid facet value {sid}"}, {})
                    else:
                        rows = fake.series[sid]
                        off = int((qs.get("offset") or ["0"])[0])
                        length = int((qs.get("length") or ["5000"])[0])
                        answer = (200, eia_body(rows, len(rows), off, length), {})
                status, body, headers = answer
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v2"
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02},
                                        daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def window(end: str = MONTH, months: int = MONTHS) -> list[str]:
    y, m = map(int, end.split("-"))
    idx = y * 12 + m - 1 - (months - 1)
    return [f"{(idx + i) // 12:04d}-{(idx + i) % 12 + 1:02d}" for i in range(months)]


# --------------------------------------------------------------------------- the built warehouse


@dataclass
class Built:
    root: Path
    data: Path
    reports: Path
    stream_id: str
    batches: int
    read_key: str
    eia_months: list[str]
    run: subprocess.CompletedProcess

    @property
    def paths(self) -> config.Paths:
        return config.Paths.resolve(self.data, self.reports)


_BUILT: dict[str, Built] = {}


def built_data(tmp_path_factory) -> Built:
    """The session's published warehouse (see the module docstring); built on first use."""
    if "built" in _BUILT:
        return _BUILT["built"]
    from basinlab.demo import generate_demo
    from basinlab.service.api import ServiceSettings, create_app
    from basinlab.service.eia import pull_eia
    from basinlab.service.http import Backoff
    from basinlab.service.pull import GLPuller

    root = tmp_path_factory.mktemp("service_built")
    data, reports = root / "data", root / "reports"
    generate_demo(data / "inbox", wells=WELLS, months=MONTHS, end_month=MONTH, seed=SEED)
    (data / "inbox" / "gl" / "demo_gl.csv").unlink()  # the GL comes from the stream instead
    paths = config.Paths.resolve(data, reports)
    key = make_key(data, "session-reader", "read")
    app = create_app(ServiceSettings(paths, generator=GeneratorConfig(**GEN, interval_s=0.02)))
    with serve_app(app) as url:
        import httpx

        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}) as c:
            info = c.get("/generator").json()
            c.get("/health")
            c.get("/wells")  # 503 before the first publish: audited too
        result = None
        for _ in range(200):  # batches every 20 ms: a few passes until the stream has ended
            result = GLPuller(url, ServicePaths(paths), key=key, backoff=Backoff(attempts=3, base_s=0.01)).run()
            state = json.loads(ServicePaths(paths).pull_gl_state.read_text())
            if state["streams"][info["stream_id"]]["last_sequence"] == info["batches"]["total"] - 1:
                break
            time.sleep(0.05)
        assert result is not None
    months = window()
    fake = FakeEIA({"RWTC": eia_rows("RWTC", months), "RBRTE": eia_rows("RBRTE", months, base=74.0),
                    "RNGWHHD": eia_rows("RNGWHHD", months, "$/MMBTU", base=2.5)})
    with fake:
        pull_eia(ServicePaths(paths), api_key=fake.key, base_url=fake.base_url, backoff=Backoff(attempts=2, base_s=0))
    res = basinlab("run", "--month", MONTH, "--data-dir", str(data), "--reports-dir", str(reports))
    assert res.returncode == 0, res.stdout + res.stderr
    _BUILT["built"] = Built(root, data, reports, info["stream_id"], info["batches"]["total"], key, months, res)
    return _BUILT["built"]


def clone(built: Built, dest: Path) -> config.Paths:
    """A private copy of the built data and reports dirs (for tests that publish or write)."""
    d, r = dest / "data", dest / "reports"
    shutil.copytree(built.data, d, ignore=shutil.ignore_patterns("*.lock", "builds", "snapshots"))
    shutil.copytree(built.reports, r)
    return config.Paths.resolve(d, r)
