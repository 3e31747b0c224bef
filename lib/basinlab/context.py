"""What a notebook needs to start: resolved paths, the month, a connection.

Notebooks keep their ``parameters`` cell to typed literals; this module turns
those literals into a working context, with the defaults an analyst expects
when running a notebook on its own in JupyterLab:

* writer notebooks (ingest, transform, decline, quality) default to the
  sandbox warehouse ``<data-dir>/dev.duckdb`` — never the published file,
  which only the runner replaces;
* reader notebooks (report, exploration) open the published warehouse
  read-only (the sandbox when nothing is published yet);
* an empty ``month`` means the latest month with production in the warehouse;
* a standalone writer records the data dir's ``settings.yml`` in its warehouse (a run does it
  once, on its build, before the notebooks).

Every connection carries the DuckDB resource settings of :func:`basinlab.config.duckdb_resources`
(memory limit, threads, spill folder; ``BASINLAB_MEMORY_LIMIT``, ``BASINLAB_THREADS``,
``BASINLAB_TEMP_DIR``), applied by :func:`basinlab.warehouse.connect`; :meth:`NotebookContext.describe`
prints them.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import duckdb

from . import config, warehouse

os.environ.setdefault("PLOOMBER_STATS_ENABLED", "false")


@dataclass
class NotebookContext:
    role: str                      # writer | reader
    run_id: str
    month: str
    paths: config.Paths
    warehouse_path: Path
    con: duckdb.DuckDBPyConnection
    standalone: bool
    notes: list[str] = field(default_factory=list)

    def close(self) -> None:
        try:
            self.con.close()
        except duckdb.Error:
            pass

    def describe(self) -> str:
        mode = "read-only" if self.role == "reader" else "read-write"
        how = "standalone" if self.standalone else f"run {self.run_id}"
        return (f"{how} · month {self.month or '(latest)'} · warehouse {self.warehouse_path} ({mode})"
                f" · {self.resources()}")

    def resources(self) -> str:
        """The DuckDB resource settings in force (memory limit, threads, spill folder): see
        :func:`basinlab.config.duckdb_resources`."""
        try:
            mem, thr, tmp = self.con.execute(
                "select current_setting('memory_limit'), current_setting('threads'), "
                "current_setting('temp_directory')").fetchone()
        except duckdb.Error:
            return "DuckDB settings unavailable"
        return f"DuckDB memory_limit {mem}, {thr} threads, spills to {tmp}"


def latest_month(con: duckdb.DuckDBPyConnection) -> str | None:
    """Latest production month in the warehouse as YYYY-MM (raw data, so it works before transform)."""
    try:
        row = con.execute("""select max(p.production_month) from raw.well_production p
                             join metadata.ingested_files f on f.file_id = p._file_id and f.status = 'loaded'
                          """).fetchone()
    except duckdb.Error:
        return None
    return row[0].strftime("%Y-%m") if row and row[0] else None


def previous_month(today: date | None = None) -> str:
    d = today or date.today()
    y, m = (d.year, d.month - 1) if d.month > 1 else (d.year - 1, 12)
    return f"{y:04d}-{m:02d}"


def open_context(role: str, *, run_id: str = "", month: str = "", warehouse_path: str = "",
                 data_dir: str = "", reports_dir: str = "") -> NotebookContext:
    """Resolve a notebook's parameters into paths, month and a connection.

    Parameters
    ----------
    role : {"writer", "reader"}
        Writers open read-write (migrations applied); readers open read-only.
    run_id, month, warehouse_path, data_dir, reports_dir : str
        The notebook's parameters; empty strings take the defaults above.
    """
    if role not in ("writer", "reader"):
        raise ValueError(f"role must be writer or reader, got {role!r}")
    paths = config.Paths.resolve(data_dir or None, reports_dir or None)
    standalone = not run_id
    notes = []
    if warehouse_path:
        wh = Path(warehouse_path).expanduser().resolve()
    elif role == "writer":
        wh = paths.dev_warehouse
        notes.append(f"standalone: writing to the sandbox {wh}, not the published warehouse")
    else:
        wh = paths.warehouse if paths.warehouse.exists() else paths.dev_warehouse
        if wh == paths.dev_warehouse:
            notes.append(f"nothing published yet at {paths.warehouse}: reading the sandbox {wh}")
    if month:
        config.parse_month(month)
    if role == "writer":
        con = warehouse.connect(wh)
        try:
            warehouse.migrate(con)
            if standalone:   # a run records the settings once on its build; standalone, the notebook does
                from . import settings

                s = settings.load(paths.data_dir)
                settings.record(con, s)
                notes += s.notes
        except BaseException:
            con.close()
            raise
    else:
        con = warehouse.connect(wh, read_only=True)
    if not month:
        month = latest_month(con) or ""
    return NotebookContext(role, run_id or f"standalone-{datetime.now():%Y%m%dT%H%M%S}", month, paths, wh, con,
                           standalone, notes)


def ensure_demo_inbox(inbox: Path, *, wells: int = 40, months: int = 36, end_month: str = "", seed: int = 42):
    """Write a demo inbox when ``inbox`` holds no source files (standalone notebooks).

    Returns the demo result, or None when the inbox already had files.
    """
    inbox = Path(inbox)
    if inbox.exists() and any(p.is_file() and not p.name.startswith(".") for p in inbox.rglob("*")):
        return None
    from .demo import generate_demo

    return generate_demo(inbox, wells=wells, months=months, end_month=end_month or previous_month(), seed=seed)
