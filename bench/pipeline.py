"""The monthly pipeline end to end: seconds per step, rows, peak memory — one JSON line.

    python bench/pipeline.py --wells 200 --months 60

Runs ``basinlab run --month M --demo`` (the real papermill chain, the real
PDF) in a temp dir and reports where the time goes. ``notebook_startup_s``
is the fixed cost papermill pays per notebook (a kernel start plus importing
basinlab), measured on a notebook that only imports; ``startup_share`` is
that cost times the number of notebooks over the total. ``peak_rss_mb_by_step`` gives, per step,
the runner's peak RSS and the largest single child process's (a notebook kernel, the browser),
sampled every 0.2 s (:class:`StepMemory`).

After the run, in the same process and on the same data, each step is measured against its floor
(:mod:`floors`: the same work done bare — DuckDB's bare readers for ingest, the same model SQL
without lineage or metadata for transform, the same check SQL for quality, the fitter alone for
decline): ``<step>_floor_s``, ``<step>_vs_floor`` (the chain's seconds over the floor's) and
``floors`` (what each floor is). ``--no-floors`` skips them.

    python bench/pipeline.py --wells 2000 --months 120 --incremental

``--incremental`` measures the run a month later, when one more month of files arrives: the demo
inbox is delivered month by month (:mod:`basinlab.demo_monthly`), a first run publishes month M-1,
then month M's files arrive and the same inputs are run twice on that data dir — first
incrementally (the default: staging merges the new files, the marts rebuild the changed months,
decline refits the wells whose history changed), then in full (``--full-refresh --refit-all``, what
a user would otherwise run; its ingest finds the files already loaded) — per step, in seconds.
``speedup`` compares the steps both runs do in full measure (transform, decline, quality, report).
The demo source is deleted once delivered, and nothing is copied: at 100,000 wells the source, the
inbox and the warehouse are 11, 11 and 10 GB.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path

import floors

#: how often the memory sampler looks at the processes, seconds
SAMPLE_EVERY_S = 0.2


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


class StepMemory:
    """Peak RSS per step of the run: a thread samples, every :data:`SAMPLE_EVERY_S`, the resident memory
    of this process (the runner) and of each of its descendants (notebook kernels, the browser), and files
    it under the step the runner's progress last announced (``[transform] …``; ``demo`` before the first).
    ``peaks()`` gives, per step, the runner's peak and the largest single child's peak, in MB."""

    _STEP = re.compile(r"^\s*\[(\w+)\]")

    def __init__(self) -> None:
        import psutil

        self._me = psutil.Process()
        self.step = "demo"
        self._peaks: dict[str, dict[str, float]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def progress(self, message: str) -> None:
        m = self._STEP.match(message)
        if m:
            self.step = m.group(1)

    def _sample(self) -> None:
        import psutil

        runner = self._me.memory_info().rss
        child = 0
        for p in self._me.children(recursive=True):
            try:
                child = max(child, p.memory_info().rss)
            except psutil.Error:   # gone between listing and reading
                continue
        peak = self._peaks.setdefault(self.step, {"runner": 0.0, "max_child": 0.0})
        peak["runner"] = max(peak["runner"], runner / 2**20)
        peak["max_child"] = max(peak["max_child"], child / 2**20)

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_EVERY_S):
            self._sample()

    def __enter__(self) -> StepMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def peaks(self) -> dict[str, dict[str, int]]:
        return {step: {k: round(v) for k, v in p.items()} for step, p in self._peaks.items()}


def _previous_month(month: str) -> str:
    y, m = (int(x) for x in month.split("-"))
    return f"{y - (m == 1)}-{12 if m == 1 else m - 1:02d}"


def _steps(res) -> dict[str, float]:
    return {s.step: round(s.seconds, 2) for s in res.steps} | {k: round(v, 2) for k, v in res.timings.items()}


#: the steps an incremental run and a full refresh of the same inputs both do in full measure
COMPARED_STEPS = ("transform", "decline", "quality", "report")


def incremental(a: argparse.Namespace) -> dict:
    """First run for M-1, then month M's files; the run for M incrementally, then in full, per step."""
    import shutil

    import duckdb

    from basinlab import runner
    from basinlab.demo import generate_demo
    from basinlab.demo_monthly import monthly_deliveries

    prev = _previous_month(a.month)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data, reports = tmp / "data", tmp / "reports"
        t0 = time.perf_counter()
        generate_demo(tmp / "source", wells=a.wells, months=a.months, end_month=a.month, seed=42)
        monthly_deliveries(tmp / "source", data / "inbox", prev)
        demo_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        runner.run_month(prev, data_dir=data, reports_dir=reports, progress=None)
        first_s = time.perf_counter() - t0
        monthly_deliveries(tmp / "source", data / "inbox", a.month)
        shutil.rmtree(tmp / "source")
        out: dict = {}
        for name, kw in (("incremental", {}), ("full", {"full_refresh": True, "refit_all": True})):
            t0 = time.perf_counter()
            res = runner.run_month(a.month, data_dir=data, reports_dir=reports, progress=None, **kw)
            out[f"{name}_s"] = round(time.perf_counter() - t0, 2)
            out.update({f"{name}_{k}_s": v for k, v in _steps(res).items()})
            if name == "incremental":
                con = duckdb.connect(str(data / "warehouse.duckdb"), read_only=True)
                state = con.execute("select model, mode, rows_merged, reason from metadata.model_state "
                                    "order by model").fetchall()
                well_months = con.execute("select count(*) from staging.stg_production").fetchone()[0]
                con.close()
    compared = {name: sum(out.get(f"{name}_{step}_s", 0.0) for step in COMPARED_STEPS)
                for name in ("incremental", "full")}
    return {
        "bench": "pipeline_incremental", "wells": a.wells, "months": a.months, "month": a.month,
        "demo_s": round(demo_s, 2), "first_run_s": round(first_s, 2), **out,
        "compared_steps": list(COMPARED_STEPS),
        "speedup": round(compared["full"] / compared["incremental"], 2) if compared["incremental"] else None,
        **{f"{step}_speedup": round(out[f"full_{step}_s"] / out[f"incremental_{step}_s"], 2)
           for step in COMPARED_STEPS if out.get(f"incremental_{step}_s") and out.get(f"full_{step}_s")},
        "well_months": int(well_months),
        **{f"{m}_rows_merged": int(n) for m, _mode, n, _r in state},
        "modes": {m: mode for m, mode, _n, _r in state},
        "peak_rss_runner_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "peak_rss_kernel_mb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024),
    }


def _step_seconds(res) -> dict[str, float]:
    """Seconds per notebook step of a run result."""
    return {s.step: s.seconds for s in res.steps}


def _against_floors(step_s: dict[str, float], floor_s: dict[str, float]) -> dict:
    """``<step>_floor_s`` and ``<step>_vs_floor`` (chain seconds / floor seconds) per floor measured,
    and ``floors``, what each floor is (nothing when no floor was measured)."""
    if not floor_s:
        return {}
    out: dict = {}
    for step, seconds in floor_s.items():
        out[f"{step}_floor_s"] = round(seconds, 2)
        out[f"{step}_vs_floor"] = round(step_s[step] / seconds, 2) if seconds > 0 else None
    out["floors"] = {step: floors.DESCRIPTIONS[step] for step in floor_s}
    return out


def _synced_before_ingest(progress):
    """``progress``, and the demo's freshly written files flushed to disk (``os.sync``) as the ingest step
    starts: the step is then not timed against the kernel writing back gigabytes of dirty pages (its
    floor, measured after the run, reads the same files settled). The flush counts in ``total_s`` only."""
    def say(message: str) -> None:
        if message.lstrip().startswith("[ingest]") and message.rstrip().endswith("…"):
            os.sync()
        progress(message)

    return say


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--wells", type=int, default=200)
    ap.add_argument("--months", type=int, default=60)
    ap.add_argument("--month", default="2024-06")
    ap.add_argument("--incremental", action="store_true",
                    help="measure the run after one more month of files arrives, incremental vs full")
    ap.add_argument("--no-floors", dest="floors", action="store_false",
                    help="skip measuring each step against its floor (the same work done bare)")
    a = ap.parse_args(argv)
    os.environ["PLOOMBER_STATS_ENABLED"] = "false"
    if a.incremental:
        print(json.dumps(incremental(a)))
        return 0
    from basinlab import runner

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        t0 = time.perf_counter()
        with StepMemory() as memory:
            res = runner.run_month(a.month, data_dir=tmp / "data", reports_dir=tmp / "reports", demo=True,
                                   demo_wells=a.wells, demo_months=a.months,
                                   progress=_synced_before_ingest(memory.progress))
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
        floor_s = floors.measure(tmp / "data", tmp / "floors", a.month) if a.floors else {}
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
        "peak_rss_mb_by_step": memory.peaks(),
        **_against_floors(_step_seconds(res), floor_s),
    }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
