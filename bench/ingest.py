"""Ingest throughput: basinlab vs a bare DuckDB read_csv vs pandas + to_sql (SQLite).

    python bench/ingest.py --rows 1200000

Writes one canonical production CSV (one row per well and month), loads it
three ways in one run, and prints one JSON line. The file is clean, because a
bare DuckDB ``read_csv`` stops at the first bad value; ``--bad-rows N`` also
loads a copy with N bad rows (``basinlab_with_bad_rows_s``, one run): a file
with rejects costs one more validation pass over the staged rows, whatever N.
basinlab's figure includes everything it does beyond the bare load: one pass
over the bytes (sha256, blank lines, quotes, line count), type validation,
finite and window checks, row rules, rejects with line numbers, the duplicate
key check, lineage columns and the metadata record. It times the ``ingest_file`` call; the bare DuckDB figure
also includes its connect and close.
"""
from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from basinlab import ingest, warehouse
from floors import bare_load


def write_csv(path: Path, rows: int, bad_rows: int = 0, seed: int = 7) -> int:
    rng = np.random.default_rng(seed)
    # one row per well and month (a file with a key twice has its rows rejected as conflicting)
    idx = np.arange(rows)
    well, month_idx = idx // 120, idx % 120
    months = pd.period_range("2015-01", periods=120, freq="M").strftime("%Y-%m").to_numpy()
    df = pd.DataFrame({
        "well_id": np.char.add("42-317-", np.char.zfill(well.astype(str), 5)),
        "production_month": months[month_idx],
        "days_on": rng.integers(0, 29, rows),
        "oil_bbl": np.round(rng.lognormal(7, 1, rows), 2),
        "gas_mcf": np.round(rng.lognormal(7.5, 1, rows), 2),
        "water_bbl": np.round(rng.lognormal(6, 1, rows), 2),
    })
    bad = rng.choice(rows, size=min(rows, bad_rows), replace=False)
    df["oil_bbl"] = df["oil_bbl"].astype(object)
    df.loc[bad, "oil_bbl"] = "n/a"
    df.to_csv(path, index=False)
    return len(bad)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_200_000)
    ap.add_argument("--repeat", type=int, default=1, help="best of N runs per method")
    ap.add_argument("--bad-rows", type=int, default=0, help="bad rows in the file basinlab loads (separate file)")
    a = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        csv = tmp / "inbox" / "well_production" / "production.csv"
        csv.parent.mkdir(parents=True)
        write_csv(csv, a.rows)
        dirty = tmp / "inbox" / "well_production" / "production_dirty.csv"
        n_bad = write_csv(dirty, a.rows, a.bad_rows) if a.bad_rows else 0

        def best(fn):
            """(seconds, result) of the fastest of ``--repeat`` runs."""
            runs = []
            for i in range(a.repeat):
                t0 = time.perf_counter()
                out = fn(i)
                runs.append((time.perf_counter() - t0, out))
            return min(runs, key=lambda r: r[0])

        def basinlab_load(i):
            con = warehouse.connect(tmp / f"bl{i}.duckdb")
            warehouse.migrate(con)
            t0 = time.perf_counter()
            res = ingest.ingest_file(con, csv, "well_production", batch_id="bench")
            dt = time.perf_counter() - t0
            con.close()
            return res, dt

        def duckdb_load(i):
            con = duckdb.connect(str(tmp / f"dd{i}.duckdb"))
            n = bare_load(con, [csv])
            con.close()
            return n

        def pandas_load(i):
            df = pd.read_csv(csv)
            with sqlite3.connect(tmp / f"pd{i}.sqlite") as c:
                df.to_sql("p", c, index=False, chunksize=50_000)
            return len(df)

        # basinlab's time is the ingest_file call alone (not the connect + migrate around it)
        res, bl_s = min((basinlab_load(i) for i in range(a.repeat)), key=lambda r: r[1])
        dirty_s = None
        if a.bad_rows:
            con = warehouse.connect(tmp / "dirty.duckdb")
            warehouse.migrate(con)
            t0 = time.perf_counter()
            dres = ingest.ingest_file(con, dirty, "well_production", batch_id="bench")
            dirty_s = time.perf_counter() - t0
            assert dres.rows_rejected == n_bad and dres.rows_loaded + dres.rows_rejected == a.rows
            con.close()
        dd_s, dd_n = best(duckdb_load)
        pd_s, pd_n = best(pandas_load)
    assert res.rows_read == a.rows == res.rows_loaded, res
    out = {
        "bench": "ingest",
        "rows": a.rows,
        "bad_rows": a.bad_rows,
        "basinlab_with_bad_rows_s": round(dirty_s, 3) if dirty_s else None,
        "basinlab_s": round(bl_s, 3),
        "duckdb_s": round(dd_s, 3),
        "pandas_sqlite_s": round(pd_s, 3),
        "basinlab_rows_per_s": round(a.rows / bl_s),
        "duckdb_rows_per_s": round(dd_n / dd_s),
        "pandas_sqlite_rows_per_s": round(pd_n / pd_s),
        "basinlab_vs_duckdb": round((a.rows / bl_s) / (dd_n / dd_s), 3),
    }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
