"""The data API under concurrent readers while the warehouse is republished — one JSON line.

    python bench/api.py --clients 8 --seconds 10 --wells 200 --months 60

Builds a warehouse with a real ``basinlab run --demo`` (or uses ``--data-dir``),
starts ``basinlab serve`` (uvicorn, one process) on a free loopback port, and lets
``--clients`` threads page through ``GET /production/monthly?level=well`` (keyset
pages of ``--page-rows``, over and over) for ``--seconds``.

Publishes during the measurement:

* default — **simulated**: every ``--publish-every`` seconds one of four
  prepared copies of the published warehouse (each its own inode; hard-linked so
  the bench spends nothing on copying) is renamed over it with ``os.replace``,
  exactly the runner's publish step, so there are many publishes in a short
  measurement;
* ``--during-run`` — a **real** ``basinlab run`` of the same month runs next to the
  readers and publishes once (the readers go on until it has finished).

Then the same clients read the same pages with direct read-only DuckDB queries in
this process (``duckdb.connect(path, read_only=True)``, one cursor per thread, the
same keyset SQL, ``fetchall``) — what a user would write instead of calling the
API. Reported for both: requests/s, rows/s, p50/p95 latency and errors (any
non-200 answer or exception; the API must have 0), plus how many published
versions the API clients saw.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import duckdb
import httpx

MONTH = "2024-06"
KEY_SQL = ("select level, key, production_month, gross_oil_bbl, gross_gas_mcf, gross_boe, boe_per_day_cal "
           "from marts.mart_production_monthly where level = 'well' {after} "
           "order by level, key, production_month limit ?")


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def basinlab_exe() -> str:
    return str(Path(sys.executable).with_name("basinlab"))


def build(data: Path, reports: Path, wells: int, months: int) -> None:
    res = subprocess.run([basinlab_exe(), "run", "--month", MONTH, "--demo", "--wells", str(wells), "--months",
                          str(months), "--data-dir", str(data), "--reports-dir", str(reports)],
                         capture_output=True, text=True)
    if res.returncode != 0:
        sys.exit(f"building the warehouse failed:\n{res.stdout}\n{res.stderr}")


def summarise(lat: list[float], rows: int, errors: int, seconds: float) -> dict:
    return {"requests": len(lat), "rps": round(len(lat) / seconds, 1), "rows_per_s": round(rows / seconds),
            "p50_ms": round(percentile(lat, 50) * 1000, 2), "p95_ms": round(percentile(lat, 95) * 1000, 2),
            "errors": errors}


def api_clients(url: str, key: str, clients: int, seconds: float, page_rows: int,
                run_proc: subprocess.Popen | None = None) -> tuple[dict, set[str], float]:
    """Read for ``seconds`` (and, with ``run_proc``, until that run has finished)."""
    lat: list[float] = []
    versions: set[str] = set()
    counts = {"rows": 0, "errors": 0}
    lock = threading.Lock()
    t_end = time.monotonic() + seconds

    def going() -> bool:
        return time.monotonic() < t_end or (run_proc is not None and run_proc.poll() is None)

    def client():
        mine, rows, errs, seen = [], 0, 0, set()
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=60) as c:
            cursor = None
            while going():
                params = {"level": "well", "limit": page_rows,
                          "columns": "level,key,production_month,gross_oil_bbl,gross_gas_mcf,gross_boe,"
                                     "boe_per_day_cal"}
                if cursor:
                    params["cursor"] = cursor
                t0 = time.perf_counter()
                try:
                    r = c.get("/production/monthly", params=params)
                    body = r.json() if r.status_code == 200 else None
                except (httpx.HTTPError, ValueError):
                    body, r = None, None
                mine.append(time.perf_counter() - t0)
                if body is None:
                    errs += 1
                    cursor = None
                    continue
                rows += body["rows"]
                seen.add(r.headers.get("x-warehouse-version"))
                cursor = body["next_cursor"]
        with lock:
            lat.extend(mine)
            counts["rows"] += rows
            counts["errors"] += errs
            versions.update(seen)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    took = time.perf_counter() - t0
    return summarise(lat, counts["rows"], counts["errors"], took), versions, took


def direct_clients(path: Path, clients: int, seconds: float, page_rows: int) -> dict:
    con = duckdb.connect(str(path), read_only=True)
    lat: list[float] = []
    counts = {"rows": 0, "errors": 0}
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def client():
        cur = con.cursor()
        mine, rows, errs, last = [], 0, 0, None
        while time.monotonic() < deadline:
            t0 = time.perf_counter()
            try:
                if last is None:
                    got = cur.execute(KEY_SQL.format(after=""), [page_rows]).fetchall()
                else:
                    got = cur.execute(KEY_SQL.format(after="and (level, key, production_month) > (?, ?, ?)"),
                                      [*last, page_rows]).fetchall()
            except duckdb.Error:
                got, errs = None, errs + 1
            mine.append(time.perf_counter() - t0)
            if got is None:
                last = None
                continue
            rows += len(got)
            last = got[-1][:3] if len(got) == page_rows else None
        cur.close()
        with lock:
            lat.extend(mine)
            counts["rows"] += rows
            counts["errors"] += errs

    threads = [threading.Thread(target=client) for _ in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    con.close()
    return summarise(lat, counts["rows"], counts["errors"], time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--page-rows", type=int, default=500)
    ap.add_argument("--wells", type=int, default=200)
    ap.add_argument("--months", type=int, default=60)
    ap.add_argument("--publish-every", type=float, default=0.5, help="seconds between simulated publishes")
    ap.add_argument("--during-run", action="store_true", help="publish with a real basinlab run instead")
    ap.add_argument("--data-dir", help="an existing data dir with a published warehouse (default: build one)")
    a = ap.parse_args(argv)
    os.environ["PLOOMBER_STATS_ENABLED"] = "false"
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if a.data_dir:
            data = tmp / "data"
            shutil.copytree(a.data_dir, data, ignore=shutil.ignore_patterns("builds", "snapshots", "*.lock"))
            reports = tmp / "reports"
            reports.mkdir()
        else:
            data, reports = tmp / "data", tmp / "reports"
            t0 = time.perf_counter()
            build(data, reports, a.wells, a.months)
            build_s = time.perf_counter() - t0
        published = data / "warehouse.duckdb"
        with duckdb.connect(str(published), read_only=True) as con:
            well_rows = con.execute("select count(*) from marts.mart_production_monthly "
                                    "where level = 'well'").fetchall()[0][0]
        key = subprocess.run([basinlab_exe(), "keys", "create", "--name", "bench", "--permission", "read",
                              "--data-dir", str(data)], capture_output=True, text=True, check=True).stdout.strip()
        prepared = []
        if not a.during_run:
            for i in range(4):
                p = tmp / f"prepared-{i}.duckdb"
                shutil.copy2(published, p)
                prepared.append(p)
        port = free_port()
        server = subprocess.Popen([basinlab_exe(), "serve", "--port", str(port), "--data-dir", str(data),
                                   "--reports-dir", str(reports)], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL, start_new_session=True)
        url = f"http://127.0.0.1:{port}"
        try:
            for _ in range(300):
                try:
                    if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.1)
            stop = threading.Event()
            publishes = {"n": 0}

            def publisher():
                i = 0
                while not stop.wait(a.publish_every):
                    spare = tmp / f"spare-{i}.duckdb"
                    os.link(prepared[i % len(prepared)], spare)  # a finished "build" (another inode) ...
                    os.replace(spare, published)                  # ... published the runner's way
                    publishes["n"] += 1
                    i += 1

            run_proc = None
            if a.during_run:
                run_proc = subprocess.Popen([basinlab_exe(), "run", "--month", MONTH, "--data-dir", str(data),
                                             "--reports-dir", str(reports)], stdout=subprocess.DEVNULL,
                                            stderr=subprocess.DEVNULL)
                pub = threading.Thread(target=lambda: (run_proc.wait(), publishes.__setitem__("n", 1)))
            else:
                pub = threading.Thread(target=publisher)
            pub.start()
            api, versions, seconds = api_clients(url, key, a.clients, a.seconds, a.page_rows, run_proc)
            if run_proc is not None and run_proc.wait() != 0:
                sys.exit("the concurrent basinlab run failed")
            stop.set()
            pub.join()
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
        direct = direct_clients(published, a.clients, a.seconds, a.page_rows)
    out = {
        "bench": "api",
        "clients": a.clients,
        "seconds": round(seconds, 1),
        "page_rows": a.page_rows,
        "well_month_rows": int(well_rows),
        "publishes": {"mode": "real basinlab run" if a.during_run else
                      f"simulated: os.replace of prepared copies every {a.publish_every}s",
                      "count": publishes["n"]},
        "api": api | {"warehouse_versions_seen": len(versions)},
        "direct_duckdb": direct,
        "api_rps_vs_direct": round(api["rps"] / direct["rps"], 3) if direct["rps"] else None,
    }
    if not a.data_dir:
        out["build_s"] = round(build_s, 1)
    print(json.dumps(out))
    return 1 if api["errors"] or direct["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
