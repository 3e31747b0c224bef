"""A report folder from start to finish: execute 05_report into a staging folder, print the PDF, write
the manifest, swap the folder into ``reports/<period>/`` all or nothing.

The runner finishes its monthly report with :func:`finish_report_dir`; ``basinlab report``
(:func:`basinlab.runner.render_period`) re-renders any month, quarter or year of the published
warehouse through the same staging folder, manifest and swap, under the run lock (so it never races
a run's own swap).
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._common import ReportError
from .period import Period
from .publish import publish_report_dir, write_manifest

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


def check_period_has_data(published: Path, p: Period) -> None:
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
