"""Paths and settings, resolved from the package location, never from the CWD.

The repository layout is::

    <repo>/lib/basinlab/     this package
    <repo>/sql/              migrations, SQL models, checks
    <repo>/notebooks/        the chained notebooks
    <repo>/data/             default data dir: inbox/, warehouse.duckdb, builds/, snapshots/
    <repo>/reports/          default reports dir: YYYY-MM/

Every default can be overridden with an environment variable
(``BASINLAB_DATA_DIR``, ``BASINLAB_REPORTS_DIR``) or an explicit argument.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parent.parent
SQL_DIR = REPO_ROOT / "sql"
MIGRATIONS_DIR = SQL_DIR / "migrations"
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
SHARED_DATA_DIR = REPO_ROOT.parent / "shared" / "data"

WAREHOUSE_FILE = "warehouse.duckdb"
INBOX_DIR = "inbox"
BUILDS_DIR = "builds"
SNAPSHOTS_DIR = "snapshots"
LOCK_FILE = ".basinlab.lock"
RUN_LOG_FILE = "runs.jsonl"
DEV_WAREHOUSE_FILE = "dev.duckdb"

#: Published snapshots kept beside the warehouse after each publish.
DEFAULT_SNAPSHOTS_KEPT = 3

MONTH_RE = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def default_data_dir() -> Path:
    """The data dir: ``$BASINLAB_DATA_DIR`` or ``<repo>/data``."""
    env = os.environ.get("BASINLAB_DATA_DIR")
    return Path(env).expanduser().resolve() if env else REPO_ROOT / "data"


def sandbox_dir() -> Path | None:
    """``$BASINLAB_SANDBOX_DIR``: where standalone notebooks write when the data dir is read-only
    (the compose ``lab`` service mounts data and reports read-only)."""
    env = os.environ.get("BASINLAB_SANDBOX_DIR")
    return Path(env).expanduser().resolve() if env else None


def default_reports_dir() -> Path:
    """The reports dir: ``$BASINLAB_REPORTS_DIR`` or ``<repo>/reports``."""
    env = os.environ.get("BASINLAB_REPORTS_DIR")
    return Path(env).expanduser().resolve() if env else REPO_ROOT / "reports"


def parse_month(month: str) -> tuple[int, int]:
    """Parse ``YYYY-MM`` into ``(year, month)``; raise ``ValueError`` naming the value."""
    m = MONTH_RE.match(str(month).strip())
    if not m:
        raise ValueError(f"month must look like YYYY-MM (e.g. 2024-06), got {month!r}")
    return int(m.group(1)), int(m.group(2))


@dataclass(frozen=True)
class Paths:
    """Every path a run touches, derived from a data dir and a reports dir."""

    data_dir: Path
    reports_dir: Path

    @classmethod
    def resolve(cls, data_dir: str | Path | None = None, reports_dir: str | Path | None = None) -> "Paths":
        d = Path(data_dir).expanduser().resolve() if data_dir else default_data_dir()
        r = Path(reports_dir).expanduser().resolve() if reports_dir else default_reports_dir()
        return cls(d, r)

    @property
    def inbox(self) -> Path:
        return self.data_dir / INBOX_DIR

    @property
    def warehouse(self) -> Path:
        """The one published warehouse; only ever replaced atomically."""
        return self.data_dir / WAREHOUSE_FILE

    @property
    def dev_warehouse(self) -> Path:
        """Sandbox warehouse that writer notebooks use when run standalone
        (in ``$BASINLAB_SANDBOX_DIR`` when set, else in the data dir)."""
        return (sandbox_dir() or self.data_dir) / DEV_WAREHOUSE_FILE

    def standalone_reports(self, month: str) -> Path:
        """Where a standalone report notebook writes its workbook."""
        sb = sandbox_dir()
        return sb / "reports" / month if sb else self.month_reports(month)

    @property
    def builds(self) -> Path:
        return self.data_dir / BUILDS_DIR

    @property
    def snapshots(self) -> Path:
        return self.data_dir / SNAPSHOTS_DIR

    @property
    def lock(self) -> Path:
        return self.data_dir / LOCK_FILE

    @property
    def run_log(self) -> Path:
        return self.data_dir / RUN_LOG_FILE

    def month_reports(self, month: str) -> Path:
        parse_month(month)
        return self.reports_dir / month
