"""The decline step in a monthly routine: the lookback keeps the fits and ML models made a year before, vs a refit.

Usage::

    .venv/bin/python bench/decline_step.py --warehouse data/warehouse.duckdb [--month 2024-06]
    .venv/bin/python bench/decline_step.py --wells 2000 --months 120

The step fits every well as of the run month and, for the lookback, as of the cut twelve months
earlier. A run as of the cut month stored its fits as of that month (``marts.decline_fits``); a run a
year later keeps them for the wells whose rows up to the cut are unchanged, so it fits each well once;
it keeps the ML trendline models trained as of the cut too (``marts.ml_trendline_models``), when their
training rows are unchanged, so it trains the month's models only.
This bench takes a published warehouse (or builds a demo one with ``basinlab run --demo``), runs the
step as of the cut month on a copy, then, on two copies of that state, as of the month — keeping the
cut's fits (the default) and with ``refit_all`` (every well fitted twice, what the step did before and
what ``--refit-all`` does). Both write the same tables (``tests/test_incremental.py`` checks it).

Prints ONE JSON line: seconds of each run as of the month (``--repeat`` of each, alternated), the step's
stages, wells refit and kept as of the month and the cut, and the speedup of the best runs.

``--lookback-sample [N]`` measures instead the lookback's well sample (``lookback_wells``, default
:data:`~basinlab.decline.step.LOOKBACK_WELLS`): the step refitting all, as of the month, with a lookback
over every well with production by the cut against one over a sample of N of them (alternated), and
how far the sample moves each lookback figure and the month's forecast (total remaining reserves,
the P10/P90 scale the lookback calibrated, the short-history method it chose).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lib"))

from basinlab import runner, warehouse  # noqa: E402
from basinlab.decline.step import LOOKBACK_MONTHS, LOOKBACK_WELLS, fit_warehouse  # noqa: E402

#: lookback figures compared between a sampled and a whole lookback
FIGURES = ("wells_producing", "median_ape", "p90_ape", "aggregate_error", "coverage", "calibrated_scale",
           "short_history_method", "short_history_median_ape_analog", "short_history_median_ape_ml",
           "wells_in_sample", "wells_with_history")


def _step(path: Path, month: str, refit_all: bool, **kw) -> dict:
    con = warehouse.connect(path)
    try:
        t = time.perf_counter()
        res = fit_warehouse(con, run_id="bench", month=month, refit_all=refit_all, **kw)
        seconds = round(time.perf_counter() - t, 2)
        out = {"seconds": seconds, "stages": {k: round(v, 2) for k, v in res.seconds.items()},
               "wells_refit": res.wells_refit, "wells_kept": res.wells_reused,
               "cut_fits_refit": res.cut_fits_refit, "cut_fits_kept": res.cut_fits_reused,
               "ml_models_trained": res.ml_models_trained, "ml_models_kept": res.ml_models_reused}
        if res.backtest is not None:
            f = res.backtest.figures()
            out["lookback"] = {k: (round(f[k], 5) if isinstance(f[k], float) else f[k]) for k in FIGURES}
        out["oil_remaining_bbl"] = con.execute("select sum(remaining) from marts.decline_params "
                                               "where phase = 'oil'").fetchone()[0]
        return out
    finally:
        con.close()


def measure_sample(published: Path, month: str, tmp: Path, sample: int, repeat: int = 2) -> dict:
    """The step (refit all) with the lookback over every well vs over a fixed sample of ``sample`` wells."""
    con = warehouse.connect(published, read_only=True)
    every = con.execute("select count(distinct well_id) from staging.stg_production").fetchone()[0]
    con.close()
    runs: dict[str, list[dict]] = {"every_well": [], "sample": []}
    for _ in range(repeat):
        for name, n in (("every_well", max(every, 1)), ("sample", sample)):
            path = tmp / f"{name}.duckdb"
            shutil.copyfile(published, path)
            runs[name].append(_step(path, month, True, lookback_wells=n))
            path.unlink()
    best = {k: min(r["seconds"] for r in v) for k, v in runs.items()}
    full, part = runs["every_well"][0], runs["sample"][0]
    diff = {}
    for k in FIGURES:
        a, b = full.get("lookback", {}).get(k), part.get("lookback", {}).get(k)
        diff[k] = round(b - a, 5) if isinstance(a, (int, float)) and isinstance(b, (int, float)) else [a, b]
    rem = (part["oil_remaining_bbl"] / full["oil_remaining_bbl"] - 1) if full["oil_remaining_bbl"] else None
    return {"lookback_wells": sample, "runs": runs, "every_well_s": best["every_well"], "sample_s": best["sample"],
            "speedup": round(best["every_well"] / best["sample"], 2), "sample_minus_every_well": diff,
            "oil_remaining_change": None if rem is None else round(rem, 6)}


def measure(published: Path, month: str, tmp: Path, repeat: int = 2) -> dict:
    cut = (pd.Timestamp(f"{month}-01") - pd.DateOffset(months=LOOKBACK_MONTHS)).strftime("%Y-%m")
    year_before = tmp / "year_before.duckdb"
    shutil.copyfile(published, year_before)
    t = time.perf_counter()
    _step(year_before, cut, refit_all=True)          # the run of the cut month: its fits are stored
    cut_run_s = time.perf_counter() - t
    con = warehouse.connect(year_before)
    try:   # the state that run leaves when it is the latest: no fits or models made as of a later month (the
        # published warehouse's own, as of the month, would be kept too — a rerun, not the next month's run)
        for table in ("marts.decline_fits", "marts.ml_trendline_models"):
            con.execute(f"delete from {table} where as_of_month > ?::date", [f"{cut}-01"])
    finally:
        con.close()
    out = {"cut_month": cut, "cut_month_run_s": round(cut_run_s, 2)}
    runs: dict[str, list[dict]] = {"refit_all": [], "kept": []}
    for _ in range(repeat):                          # alternated: the machine's drift hits both alike
        for name, refit_all in (("refit_all", True), ("kept", False)):
            path = tmp / f"{name}.duckdb"
            shutil.copyfile(year_before, path)
            runs[name].append(_step(path, month, refit_all))
            path.unlink()
    out.update(runs)
    best = {k: min(r["seconds"] for r in v) for k, v in runs.items()}
    out["refit_all_s"], out["kept_s"] = best["refit_all"], best["kept"]
    out["speedup"] = round(best["refit_all"] / best["kept"], 2)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--warehouse", type=Path, help="a published warehouse (default: build a demo one)")
    ap.add_argument("--month", default="2024-06", help="the run month, YYYY-MM")
    ap.add_argument("--wells", type=int, default=2000, help="demo wells when no --warehouse is given")
    ap.add_argument("--months", type=int, default=120, help="demo months when no --warehouse is given")
    ap.add_argument("--repeat", type=int, default=2, help="runs of each variant, alternated (the best is reported)")
    ap.add_argument("--lookback-sample", type=int, nargs="?", const=LOOKBACK_WELLS, default=None, metavar="N",
                    help=f"measure the lookback over N sampled wells against every well (default N {LOOKBACK_WELLS:,})")
    a = ap.parse_args(argv)
    os.environ["PLOOMBER_STATS_ENABLED"] = "false"
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        published = a.warehouse
        if published is None:
            runner.run_month(a.month, data_dir=tmp / "data", reports_dir=tmp / "reports", demo=True,
                             demo_wells=a.wells, demo_months=a.months, progress=None)
            published = tmp / "data" / "warehouse.duckdb"
        con = warehouse.connect(published, read_only=True)
        wells, rows = con.execute("select count(distinct well_id), count(*) from staging.stg_production").fetchone()
        con.close()
        out = {"bench": "decline_step", "wells": wells, "well_months": rows, "month": a.month}
        if a.lookback_sample is not None:
            out.update(measure_sample(published, a.month, tmp, a.lookback_sample, a.repeat))
        else:
            out.update(measure(published, a.month, tmp, a.repeat))
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
