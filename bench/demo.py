"""Demo generator: streamed batches of wells vs everything in memory at once — one JSON line.

    python bench/demo.py --wells 2000 20000 --months 120

For every size, runs :func:`basinlab.generate_demo` twice, each in a fresh child
process (so peak RSS is that run's own): ``streamed`` with the default batch of
wells (``basinlab.demo.DEFAULT_BATCH_WELLS``) and ``one_batch`` with
``batch_wells = wells``, i.e. every (wells × months) array and every GL line in
memory at once — what a user gets by not batching (same code path, so the
comparison isolates batching; the generator before streaming kept still more:
9.3 GB at 20,000 wells × 120 months, issue 12). Reports wall seconds, CPU seconds
(user + system: steadier than wall time when other jobs share the cores), peak
RSS (MB), the RSS growth over the imports, output size, and whether both runs
wrote byte-identical files (sha256 of every file).
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


def child(wells: int, months: int, batch_wells: int, out: Path) -> dict:
    """One generation in this process; peak RSS read after it."""
    from basinlab.demo import generate_demo

    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    res = generate_demo(out, wells=wells, months=months, end_month="2024-06", seed=42, batch_wells=batch_wells)
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
            "rss_growth_mb": round((peak - rss0) / 1024), "batch_wells": batch_wells, "output_mb": output_mb,
            "production_rows": res.rows("well_production"), "gl_lines": res.rows("gl"), "sha256": digests}


def measure(wells: int, months: int, batch_wells: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-demo-") as tmp:
        proc = subprocess.run([sys.executable, __file__, "--child", str(wells), str(months), str(batch_wells), tmp],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            last = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}"
            return {"error": last, "batch_wells": batch_wells}
        return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--wells", type=int, nargs="+", default=[2000, 20000])
    ap.add_argument("--months", type=int, default=120)
    ap.add_argument("--batch-wells", type=int, default=None, help="streamed batch (default: the library's)")
    ap.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.child:
        w, m, b, out = a.child
        print(json.dumps(child(int(w), int(m), int(b), Path(out))))
        return 0
    from basinlab.demo import DEFAULT_BATCH_WELLS

    batch = a.batch_wells or DEFAULT_BATCH_WELLS
    figures: dict = {"bench": "demo", "months": a.months, "cpus": _cpus(), "sizes": {}}
    for wells in a.wells:
        streamed = measure(wells, a.months, batch)
        one_batch = measure(wells, a.months, wells)
        same = "sha256" in streamed and streamed.get("sha256") == one_batch.get("sha256")
        for r in (streamed, one_batch):
            r.pop("sha256", None)
        figures["sizes"][str(wells)] = {
            "streamed": streamed, "one_batch": one_batch, "identical_bytes": same,
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
