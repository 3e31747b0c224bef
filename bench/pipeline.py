"""The monthly pipeline end to end: seconds per step, rows, peak memory — one JSON line.

    python bench/pipeline.py --wells 200 --months 60

Runs ``basinlab run --month M --demo`` (the real papermill chain, the real
PDF) in a temp dir and reports where the time goes. ``notebook_startup_s``
is the fixed cost papermill pays per notebook (a kernel start plus importing
basinlab), measured on a notebook that only imports; ``startup_share`` is
that cost times the number of notebooks over the total.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path


def notebook_startup_seconds(tmp: Path, repeat: int = 2) -> float:
    import nbformat
    import papermill as pm

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    cell = nbformat.v4.new_code_cell('run_id: str = ""  # help: id')
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [cell, nbformat.v4.new_code_cell("import basinlab as bl\nfrom basinlab.report import show")]
    src = tmp / "startup.ipynb"
    nbformat.write(nb, src)
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        pm.execute_notebook(str(src), str(tmp / "startup_out.ipynb"), parameters={"run_id": "x"},
                            kernel_name="python3", progress_bar=False,
                            extra_arguments=["--IPKernelApp.log_level=ERROR"])
        best = min(best, time.perf_counter() - t0)
    return best


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--wells", type=int, default=200)
    ap.add_argument("--months", type=int, default=60)
    ap.add_argument("--month", default="2024-06")
    a = ap.parse_args(argv)
    os.environ["PLOOMBER_STATS_ENABLED"] = "false"
    from basinlab import runner

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        t0 = time.perf_counter()
        res = runner.run_month(a.month, data_dir=tmp / "data", reports_dir=tmp / "reports", demo=True,
                               demo_wells=a.wells, demo_months=a.months, progress=None)
        total = time.perf_counter() - t0
        import duckdb

        con = duckdb.connect(str(tmp / "data" / "warehouse.duckdb"), read_only=True)
        rows = dict(con.execute("""select 'raw_rows', (select count(*) from raw.well_production)
                                          + (select count(*) from raw.gl_records)
                                   union all select 'well_months', count(*) from staging.stg_production
                                   union all select 'gl_lines', count(*) from staging.stg_gl_lines
                                   union all select 'forecast_rows', count(*) from marts.decline_forecast
                                """).fetchall())
        con.close()
        size_mb = (tmp / "data" / "warehouse.duckdb").stat().st_size / 1e6
        startup = notebook_startup_seconds(tmp)
    peak_self = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    peak_kernels = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    n_notebooks = len(res.steps)
    out = {
        "bench": "pipeline",
        "wells": a.wells,
        "months": a.months,
        "total_s": round(total, 2),
        **{f"{s.step}_s": round(s.seconds, 2) for s in res.steps},
        **{f"{k}_s": round(v, 2) for k, v in res.timings.items()},
        "notebooks": n_notebooks,
        "notebook_startup_s": round(startup, 2),
        "startup_share": round(startup * n_notebooks / total, 3),
        **{k: int(v) for k, v in rows.items()},
        "warehouse_mb": round(size_mb, 1),
        "peak_rss_runner_mb": round(peak_self),
        "peak_rss_kernel_mb": round(peak_kernels),
    }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
