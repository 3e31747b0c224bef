"""A report folder from start to finish: execute 05_report into a staging folder, print the PDF, write
the manifest, swap the folder into ``reports/<period>/`` all or nothing.

The runner finishes its monthly report with :func:`finish_report_dir`; ``basinlab report`` re-renders
any month, quarter or year of the published warehouse with :func:`render_period` through the same
staging folder, manifest and swap, under the run lock (so it never races a run's own swap).
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._common import ReportError
from .period import Period
from .publish import STAGING_PREFIX, publish_report_dir, recover_report_dirs, write_manifest

Progress = Callable[[str], None]


@dataclass
class ReportBundle:
    """Where a finished report landed and what it took."""

    folder: Path
    pdf: Path
    xlsx: Path
    timings: dict[str, float] = field(default_factory=dict)


def manifest_facts(published: Path, run_id: str | None) -> tuple[list[dict], dict[str, int], list[dict]]:
    """Inputs (files with sha256), table row counts and check results of the published warehouse for the
    manifest (the checks of ``run_id``, or of the latest run when it is None)."""
    from .. import warehouse

    con = warehouse.connect(published, read_only=True)
    try:
        inputs = con.execute(
            """select file_name as file, kind, sha256, version, status, rows_read, rows_loaded, rows_rejected,
                      batch_id, strftime(ingested_at, '%Y-%m-%dT%H:%M:%S') as ingested_at
               from metadata.ingested_files order by file_id""").df().to_dict("records")
        counts = warehouse.table_counts(con)
        if run_id is None:
            row = con.execute("select run_id from metadata.data_quality_checks order by checked_at desc limit 1"
                              ).fetchone()
            run_id = row[0] if row else ""
        checks = con.execute(
            """select check_name, model, column_name, check_type, severity, status, failing_rows
               from metadata.data_quality_checks where run_id = ?
               order by severity, check_name""", [run_id]).df().to_dict("records")
    finally:
        con.close()
    return inputs, counts, checks


def finish_report_dir(staging_dir: Path, final_dir: Path, *, slug: str, run_id: str, params: dict[str, Any],
                      published: Path, facts_run_id: str | None = None, title: str | None = None,
                      say: Progress = lambda _m: None) -> ReportBundle:
    """Print the PDF of the executed ``staging_dir/notebooks/05_report.ipynb``, check the workbook is there,
    write ``manifest.json`` (inputs, row counts, checks, every output with its sha256) and swap the
    staging folder into ``final_dir``. Raises :class:`ReportError` saying which part failed."""
    from .render import notebook_to_pdf

    nb = staging_dir / "notebooks" / "05_report.ipynb"
    pdf = staging_dir / f"basinlab_{slug}.pdf"
    xlsx = staging_dir / f"basinlab_{slug}.xlsx"
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    try:
        notebook_to_pdf(nb, pdf, title=title or f"basinlab {_kind(slug)} report — {slug}")
    except Exception as exc:  # noqa: BLE001 - one message for any printer failure
        raise ReportError(f"PDF rendering failed: {_first_line(exc)}") from exc
    timings["pdf"] = time.perf_counter() - t0
    say(f"  [pdf] {pdf.name} ({timings['pdf']:.1f}s)")
    if not xlsx.exists():
        raise ReportError(f"the report notebook did not write {xlsx.name}")
    inputs, row_counts, checks = manifest_facts(published, facts_run_id if facts_run_id is not None else run_id)
    outputs = sorted(p for p in staging_dir.rglob("*") if p.is_file() and not p.name.startswith("."))
    write_manifest(staging_dir / "manifest.json", run_id=run_id, month=slug, parameters=params,
                   inputs=inputs, row_counts=row_counts, checks=checks, outputs=outputs)
    publish_report_dir(staging_dir, final_dir)
    return ReportBundle(final_dir, final_dir / pdf.name, final_dir / xlsx.name, timings)


def _kind(slug: str) -> str:
    return {"month": "monthly", "quarter": "quarterly", "year": "annual"}[Period.parse(slug).kind]


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def render_period(period: str, *, data_dir: str | Path | None = None, reports_dir: str | Path | None = None,
                  say: Progress = print) -> ReportBundle:
    """Re-render the report of a month (``YYYY-MM``), quarter (``YYYY-QN``) or year (``YYYY``) from the
    PUBLISHED warehouse, read-only, without running the chain: into ``reports/<period>/`` through a staging
    folder, the manifest and the all-or-nothing swap. Holds the run lock while it works, so a run and a
    re-render never swap the same folder at once (a run in progress makes it fail at once, naming the run).
    """
    from .. import config, runner

    p = Period.parse(period)
    paths = config.Paths.resolve(data_dir, reports_dir)
    if not paths.warehouse.exists():
        raise ReportError(f"no published warehouse at {paths.warehouse}: run `basinlab run --month YYYY-MM` first")
    runner.preflight(paths)
    report_id = f"report-{p.slug}_{_dt.datetime.now():%Y%m%dT%H%M%S}_{uuid.uuid4().hex[:6]}"
    t_all = time.perf_counter()
    with runner.run_lock(paths, report_id, p.end.strftime("%Y-%m")):
        recover_report_dirs(paths.reports_dir, paths.reports_dir / "_failed", say)
        _check_period_has_data(paths.warehouse, p)
        staging = paths.reports_dir / f"{STAGING_PREFIX}{report_id}"
        params = {"run_id": report_id, "month": p.end.strftime("%Y-%m"), "period": p.slug,
                  "warehouse": str(paths.warehouse), "data_dir": str(paths.data_dir), "output_dir": str(staging)}
        say(f"basinlab report {p.slug}: from {paths.warehouse} (read-only) into {paths.reports_dir / p.slug}")
        try:
            t0 = time.perf_counter()
            step = runner.Step("report", "05_report.ipynb", writer=False)
            runner.execute_notebook(step, staging / "notebooks", params)
            say(f"  [report] 05_report.ipynb ({time.perf_counter() - t0:.1f}s)")
            bundle = finish_report_dir(staging, paths.reports_dir / p.slug, slug=p.slug, run_id=report_id,
                                       params=params, published=paths.warehouse, facts_run_id=None, say=say)
        except runner.StepFailed as exc:
            raise ReportError(str(exc).splitlines()[0]) from exc
        finally:
            if staging.exists():
                from .publish import report_manifest

                if report_manifest(staging) is None:
                    with contextlib.suppress(OSError):
                        shutil.rmtree(staging)
    bundle.timings["total"] = time.perf_counter() - t_all
    say(f"done in {bundle.timings['total']:.1f}s\n  PDF:   {bundle.pdf}\n  Excel: {bundle.xlsx}")
    return bundle


def _check_period_has_data(published: Path, p: Period) -> None:
    from .. import warehouse

    con = warehouse.connect(published, read_only=True)
    try:
        first, last = con.execute("select min(production_month), max(production_month) "
                                  "from staging.stg_production").fetchone()
    finally:
        con.close()
    if first is None or p.end < first or p.start > last:
        span = f"{first:%Y-%m} to {last:%Y-%m}" if first else "no production at all"
        raise ReportError(f"no production in {p.label} in the published warehouse (it holds {span})")
