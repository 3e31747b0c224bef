"""Read-only access to the published warehouse across publishes (os.replace), without DuckDB's
per-path instance cache serving stale data, without breaking requests in flight."""
from __future__ import annotations

import os
import threading

import duckdb
import pytest

from basinlab.service.published import NotPublished, PublishedWarehouse


def make(path, value: int, rows: int = 3) -> None:
    path.unlink(missing_ok=True)
    with duckdb.connect(str(path)) as con:
        con.execute("create schema marts")
        con.execute(f"create table marts.t as select i as id, {value} as v from range({rows}) r(i)")


def publish(tmp_path, published, value: int, rows: int = 3) -> None:
    build = tmp_path / f"build-{value}.duckdb"
    make(build, value, rows)
    os.replace(build, published)


def read(pw: PublishedWarehouse) -> set[int]:
    with pw.cursor() as (_snap, cur):
        return {r[0] for r in cur.execute("select distinct v from wh.marts.t").fetchall()}


def test_the_plain_duckdb_cache_serves_the_old_file_after_a_publish(tmp_path):
    """Why the service does not use duckdb.connect(path): this is the pitfall it avoids."""
    published = tmp_path / "warehouse.duckdb"
    make(published, 1)
    held = duckdb.connect(str(published), read_only=True)
    publish(tmp_path, published, 2)
    again = duckdb.connect(str(published), read_only=True)
    assert again.execute("select distinct v from marts.t").fetchall() == [(1,)]  # stale
    held.close()
    again.close()


def test_each_publish_is_seen_by_the_next_request(tmp_path):
    published = tmp_path / "warehouse.duckdb"
    make(published, 1)
    pw = PublishedWarehouse(published)
    assert read(pw) == {1}
    for v in (2, 3, 4):
        publish(tmp_path, published, v)
        assert read(pw) == {v}
    assert pw.opened == 4


def test_a_request_in_flight_keeps_its_snapshot_through_a_publish(tmp_path):
    published = tmp_path / "warehouse.duckdb"
    make(published, 1, rows=1000)
    pw = PublishedWarehouse(published)
    with pw.cursor() as (snap, cur):
        first = cur.execute("select count(*), min(v) from wh.marts.t").fetchall()
        publish(tmp_path, published, 2, rows=10)
        assert read(pw) == {2}  # a new request sees the new file at once
        second = cur.execute("select count(*), min(v) from wh.marts.t").fetchall()
        assert first == second == [(1000, 1)]
        assert snap.retired and snap.refs == 1
    assert snap.refs == 0  # released: closed
    with pytest.raises(duckdb.Error):
        snap.con.execute("select 1").fetchall()


def test_no_warehouse_yet_and_a_warehouse_that_goes_away(tmp_path):
    published = tmp_path / "warehouse.duckdb"
    pw = PublishedWarehouse(published)
    with pytest.raises(NotPublished, match="basinlab run"):
        read(pw)
    make(published, 5)
    assert read(pw) == {5}
    published.unlink()
    with pytest.raises(NotPublished):
        read(pw)


def test_concurrent_readers_during_many_publishes_see_whole_versions_and_no_errors(tmp_path):
    published = tmp_path / "warehouse.duckdb"
    make(published, 0, rows=500)
    builds = []
    for v in range(1, 11):  # prepared before the readers start, so publishing is just the rename
        b = tmp_path / f"prepared-{v}.duckdb"
        make(b, v, rows=500)
        builds.append(b)
    pw = PublishedWarehouse(published)
    errors, seen = [], set()
    stop = threading.Event()

    def reader():
        while not stop.is_set():
            try:
                with pw.cursor() as (_s, cur):
                    (n, lo, hi), = cur.execute("select count(*), min(v), max(v) from wh.marts.t").fetchall()
                assert n == 500 and lo == hi, (n, lo, hi)  # one version per request, never a mix
                seen.add(lo)
            except Exception as exc:  # pragma: no cover - reported below
                errors.append(repr(exc))

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for t in threads:
        t.start()
    for b in builds:
        os.replace(b, published)
        while read(pw) != {int(b.stem.split("-")[1])}:  # wait until the new version is served
            pass
    stop.set()
    for t in threads:
        t.join()
    assert errors == []
    assert read(pw) == {10} and seen <= set(range(11))
