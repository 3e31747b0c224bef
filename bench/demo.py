"""Demo generator: streamed batches of wells in worker processes vs one process vs everything in memory — one JSON line.

    python bench/demo.py --wells 2000 20000 --months 120

For every size, runs :func:`basinlab.generate_demo` three times, each in a fresh
child process (so peak RSS is that run's own): ``streamed`` as ``basinlab run
--demo`` does (the default batch of wells, ``basinlab.demo.DEFAULT_BATCH_WELLS``,
and the default worker processes, :func:`basinlab.demo.default_workers`: the
batches and the GL months computed in workers, written in order by the caller),
``one_process`` the same batches computed in the caller (``workers=1``: what the
generator did before it had workers) and ``one_batch`` with ``batch_wells = wells``
in one process, i.e. every (wells × months) array and every GL line in memory at
once — what a user gets by not batching (the generator before streaming kept still
more: 9.3 GB at 20,000 wells × 120 months, issue 12). Reports wall seconds, CPU
seconds of the caller (user + system), peak RSS of the caller (MB; a worker holds
a batch or a month at a time), the RSS growth over the imports, output size, and
whether the runs wrote byte-identical files (sha256 of every file).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def child(wells: int, months: int, batch_wells: int, workers: int, out: Path) -> dict:
    """One generation in this process (``workers`` 0: the default); peak RSS read after it."""
    from basinlab.demo import default_workers, generate_demo

    workers = workers or default_workers(wells, batch_wells)
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    res = generate_demo(out, wells=wells, months=months, end_month="2024-06", seed=42, batch_wells=batch_wells,
                        workers=workers)
    seconds = time.perf_counter() - t0
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    rss0, peak = ru0.ru_maxrss, ru1.ru_maxrss
    cpu = (ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime)
    digests = {}
    for f in res.files:
        h = hashlib.sha256()
        with open(f.path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 22), b""):
                h.update(block)
        digests[f.path.relative_to(out).as_posix()] = h.hexdigest()
    output_mb = round(sum(f.path.stat().st_size for f in res.files) / 2**20)
    return {"seconds": round(seconds, 2), "cpu_seconds": round(cpu, 2), "peak_rss_mb": round(peak / 1024),
            "rss_growth_mb": round((peak - rss0) / 1024), "batch_wells": batch_wells, "workers": workers,
            "output_mb": output_mb,
            "production_rows": res.rows("well_production"), "gl_lines": res.rows("gl"), "sha256": digests}


def measure(wells: int, months: int, batch_wells: int, workers: int = 0) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-demo-") as tmp:
        proc = subprocess.run([sys.executable, __file__, "--child", str(wells), str(months), str(batch_wells),
                               str(workers), tmp], capture_output=True, text=True)
        if proc.returncode != 0:
            last = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}"
            return {"error": last, "batch_wells": batch_wells}
        return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--wells", type=int, nargs="+", default=[2000, 20000])
    ap.add_argument("--months", type=int, default=120)
    ap.add_argument("--batch-wells", type=int, default=None, help="streamed batch (default: the library's)")
    ap.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.child:
        w, m, b, k, out = a.child
        print(json.dumps(child(int(w), int(m), int(b), int(k), Path(out))))
        return 0
    from basinlab.demo import DEFAULT_BATCH_WELLS

    batch = a.batch_wells or DEFAULT_BATCH_WELLS
    figures: dict = {"bench": "demo", "months": a.months, "cpus": _cpus(), "sizes": {}}
    for wells in a.wells:
        streamed = measure(wells, a.months, batch)
        one_process = measure(wells, a.months, batch, workers=1)
        one_batch = measure(wells, a.months, wells, workers=1)
        same = "sha256" in streamed and streamed.get("sha256") == one_process.get("sha256") == one_batch.get("sha256")
        for r in (streamed, one_process, one_batch):
            r.pop("sha256", None)
        figures["sizes"][str(wells)] = {
            "streamed": streamed, "one_process": one_process, "one_batch": one_batch, "identical_bytes": same,
            "workers_speedup": (round(one_process["seconds"] / streamed["seconds"], 2)
                                if "seconds" in one_process and "seconds" in streamed else None),
            "memory_ratio": (round(one_batch["peak_rss_mb"] / streamed["peak_rss_mb"], 1)
                             if "peak_rss_mb" in one_batch and "peak_rss_mb" in streamed else None),
        }
    print(json.dumps(figures))
    return 0


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


if __name__ == "__main__":
    sys.exit(main())
