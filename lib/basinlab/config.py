"""Paths and settings, resolved from the package location, never from the CWD.

The repository layout (a checkout; an installed wheel carries sql/ and notebooks/ inside the
package as ``basinlab/_sql`` and ``basinlab/_notebooks``, see :func:`resource_dir`) is::

    <repo>/lib/basinlab/     this package
    <repo>/sql/              migrations, SQL models, checks
    <repo>/notebooks/        the chained notebooks
    <repo>/data/             default data dir: inbox/, warehouse.duckdb, builds/, snapshots/
    <repo>/reports/          default reports dir: YYYY-MM/

Every default can be overridden with an environment variable
(``BASINLAB_DATA_DIR``, ``BASINLAB_REPORTS_DIR``; ``BASINLAB_SHARED_DATA`` for the real data the tests
and benchmarks read) or an explicit argument.

DuckDB resources (:func:`duckdb_resources`): every connection basinlab opens gets a
``memory_limit``, ``threads`` and ``temp_directory`` derived from the machine
(``BASINLAB_MEMORY_LIMIT``, ``BASINLAB_THREADS``, ``BASINLAB_TEMP_DIR`` override them),
so the memory a step needs is bounded by configuration, not by the size of the data:
DuckDB spills what does not fit to the temp directory.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parent.parent
#: True when the package runs from a checkout (``<repo>/lib/basinlab``, an editable install), False
#: when installed from a wheel: then sql/ and notebooks/ are the copies shipped inside the package
IN_CHECKOUT = (REPO_ROOT / "pyproject.toml").is_file() and (REPO_ROOT / "sql").is_dir()
#: environment variables that point basinlab at other SQL / notebook folders (e.g. a project's own)
ENV_SQL_DIR = "BASINLAB_SQL_DIR"
ENV_NOTEBOOKS_DIR = "BASINLAB_NOTEBOOKS_DIR"


def resource_dir(name: str, env: str) -> Path:
    """``sql`` or ``notebooks``: ``$<env>`` when set, the checkout's folder when running from a checkout,
    else the copy a wheel ships in the package (``basinlab/_sql``, ``basinlab/_notebooks``, see setup.py)."""
    value = os.environ.get(env, "").strip()
    if value:
        return Path(value).expanduser().resolve()
    if IN_CHECKOUT:
        return REPO_ROOT / name
    return PACKAGE_DIR / f"_{name}"


SQL_DIR = resource_dir("sql", ENV_SQL_DIR)
MIGRATIONS_DIR = SQL_DIR / "migrations"
NOTEBOOKS_DIR = resource_dir("notebooks", ENV_NOTEBOOKS_DIR)
#: environment variable naming the shared real-data folder (Volve workbook, EIA prices, SODIR)
ENV_SHARED_DATA = "BASINLAB_SHARED_DATA"


def shared_data_dir() -> Path:
    """The real public data beside the checkout: ``$BASINLAB_SHARED_DATA``, else ``<repo>/../shared/data``.

    Only tests and benchmarks read it (an installed package has no checkout: set the variable)."""
    env = os.environ.get(ENV_SHARED_DATA, "").strip()
    return Path(env).expanduser().resolve() if env else REPO_ROOT.parent / "shared" / "data"


SHARED_DATA_DIR = shared_data_dir()

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

#: environment variables of the DuckDB resource settings (:func:`duckdb_resources`)
ENV_MEMORY_LIMIT = "BASINLAB_MEMORY_LIMIT"
ENV_THREADS = "BASINLAB_THREADS"
ENV_TEMP_DIR = "BASINLAB_TEMP_DIR"
#: default DuckDB memory limit: this share of the memory the process may use (physical RAM or
#: its cgroup limit) ...
DEFAULT_MEMORY_FRACTION = 0.25
#: ... but never more than that memory minus this headroom, which the Python side of a
#: notebook kernel (pandas, numpy batches), the OS and the other processes of a run keep
PYTHON_HEADROOM_BYTES = 4 << 30
#: the smallest memory limit basinlab sets (DuckDB needs about 100 MB per thread to work)
MIN_MEMORY_LIMIT_BYTES = 256 << 20
#: folder (under the database's folder, or the system temp dir when that is read-only) where
#: readers and in-memory databases spill; writers spill beside their file (``<file>.tmp``)
TEMP_DIR_NAME = ".duckdb-tmp"

_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(b|kb|kib|mb|mib|gb|gib|tb|tib)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {"b": 1, "kb": 1000, "kib": 1024, "mb": 1000**2, "mib": 1024**2, "gb": 1000**3, "gib": 1024**3,
               "tb": 1000**4, "tib": 1024**4}


def _installed_home() -> Path:
    """Where an installed (non-checkout) basinlab keeps data and reports by default:
    ``$XDG_DATA_HOME/basinlab`` (``~/.local/share/basinlab``)."""
    xdg = os.environ.get("XDG_DATA_HOME", "").strip()
    return (Path(xdg).expanduser() if xdg else Path.home() / ".local" / "share") / "basinlab"


def default_data_dir() -> Path:
    """The data dir: ``$BASINLAB_DATA_DIR``, else ``<repo>/data`` in a checkout, else
    ``~/.local/share/basinlab/data`` for an installed package."""
    env = os.environ.get("BASINLAB_DATA_DIR")
    if env:
        return Path(env).expanduser().resolve()
    return REPO_ROOT / "data" if IN_CHECKOUT else _installed_home() / "data"


def sandbox_dir() -> Path | None:
    """``$BASINLAB_SANDBOX_DIR``: where standalone notebooks write when the data dir is read-only
    (the compose ``lab`` service mounts data and reports read-only)."""
    env = os.environ.get("BASINLAB_SANDBOX_DIR")
    return Path(env).expanduser().resolve() if env else None


def default_reports_dir() -> Path:
    """The reports dir: ``$BASINLAB_REPORTS_DIR``, else ``<repo>/reports`` in a checkout, else
    ``~/.local/share/basinlab/reports`` for an installed package."""
    env = os.environ.get("BASINLAB_REPORTS_DIR")
    if env:
        return Path(env).expanduser().resolve()
    return REPO_ROOT / "reports" if IN_CHECKOUT else _installed_home() / "reports"


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
    def resolve(cls, data_dir: str | Path | None = None, reports_dir: str | Path | None = None) -> Paths:
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


# --------------------------------------------------------------------------- DuckDB resources


def machine_memory_bytes() -> int:
    """Memory this process may use: physical RAM, or the cgroup (container) limit when lower."""
    total = 0
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        pass
    for f in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            v = Path(f).read_text().strip()
        except OSError:
            continue
        if is_whole_number(v) and 0 < int(v) < (1 << 60):
            total = min(total, int(v)) if total else int(v)
    return total or 8 << 30


def machine_threads() -> int:
    """Cores this process may run on (its CPU affinity where the OS tells)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def is_whole_number(text: str) -> bool:
    """``text`` is ASCII digits only (``str.isdigit`` alone accepts ``²`` or ``٣``, which ``int`` refuses)."""
    return text.isascii() and text.isdigit()


def env_count(var: str) -> int | None:
    """``$var`` as a whole number >= 1, ``None`` when unset or blank.

    Raises ``ValueError`` naming the variable when it is anything else.
    """
    text = os.environ.get(var, "").strip()
    if not text:
        return None
    if not is_whole_number(text) or int(text) < 1:
        raise ValueError(f"{var} must be a whole number >= 1, got {text!r}")
    return int(text)


def threads_setting() -> int:
    """The threads basinlab's own parallel work uses (fits, sampling, decline workers): ``$BASINLAB_THREADS``,
    else the cores this process may use — the same setting as DuckDB's (:func:`duckdb_resources`)."""
    return env_count(ENV_THREADS) or machine_threads()


def parse_size(text: str, what: str = ENV_MEMORY_LIMIT) -> int:
    """``"4GB"``, ``"512MiB"``, ``"1.5 GB"`` or ``"25%"`` (of :func:`machine_memory_bytes`) → bytes.

    Raises ``ValueError`` naming ``what`` and the accepted forms.
    """
    t = str(text).strip()
    if t.endswith("%"):
        try:
            pct = float(t[:-1])
        except ValueError:
            pct = -1.0
        if not 0 < pct <= 100:
            raise ValueError(f"{what} must be a size like 4GB or 512MB, or a share of memory like 25%, got {text!r}")
        return int(machine_memory_bytes() * pct / 100.0)
    m = _SIZE_RE.match(t)
    if not m:
        raise ValueError(f"{what} must be a size like 4GB or 512MB, or a share of memory like 25%, got {text!r}")
    return int(float(m.group(1)) * _SIZE_UNITS[(m.group(2) or "b").lower()])


def default_memory_limit_bytes() -> int:
    """:data:`DEFAULT_MEMORY_FRACTION` of the machine's memory, capped at the memory less
    :data:`PYTHON_HEADROOM_BYTES`, and at least :data:`MIN_MEMORY_LIMIT_BYTES`."""
    total = machine_memory_bytes()
    return max(MIN_MEMORY_LIMIT_BYTES, min(int(total * DEFAULT_MEMORY_FRACTION), total - PYTHON_HEADROOM_BYTES))


@dataclass(frozen=True)
class DuckDBResources:
    """The resource settings of one DuckDB instance (see :func:`duckdb_resources`)."""

    memory_limit_bytes: int
    threads: int
    temp_directory: Path
    #: where each value came from: ``{"memory_limit": "env" | "default" | "argument", …}``
    sources: dict = field(default_factory=dict, compare=False)

    @property
    def memory_limit(self) -> str:
        """The limit as DuckDB reads it (``"1536MB"``)."""
        return f"{max(1, self.memory_limit_bytes // (1 << 20))}MiB"

    def statements(self) -> list[str]:
        """The ``SET`` statements that apply these settings to an open connection."""
        temp = str(self.temp_directory).replace("'", "''")
        return [f"set memory_limit = '{self.memory_limit}'", f"set threads = {int(self.threads)}",
                f"set temp_directory = '{temp}'"]

    def describe(self) -> str:
        return (f"DuckDB memory_limit {self.memory_limit} ({self.sources.get('memory_limit', 'default')}), "
                f"threads {self.threads} ({self.sources.get('threads', 'default')}), "
                f"temp_directory {self.temp_directory} ({self.sources.get('temp_directory', 'default')})")


def _writable_dir(folder: Path) -> bool:
    """Make ``folder`` (one level: its parent must exist — a read-only command never creates a data
    dir) and say whether it can be written."""
    try:
        folder.mkdir(exist_ok=True)
    except OSError:
        return False
    return os.access(folder, os.W_OK | os.X_OK)


def _temp_base(database: Path | None) -> Path:
    """Where readers and in-memory instances spill: ``<database folder>/.duckdb-tmp`` when that folder
    exists and can be written, else ``<system temp>/basinlab-duckdb-<uid>`` (a reader never creates the
    database's folder)."""
    import tempfile

    if database is not None:
        folder = Path(database).expanduser().resolve().parent
        if folder.is_dir() and _writable_dir(folder / TEMP_DIR_NAME):
            return folder / TEMP_DIR_NAME
    uid = os.getuid() if hasattr(os, "getuid") else "user"
    return Path(tempfile.gettempdir()) / f"basinlab-duckdb-{uid}"


def duckdb_resources(database: str | Path | None = None, *, read_only: bool = False,
                     memory_limit: str | int | None = None, threads: int | None = None) -> DuckDBResources:
    """The memory limit, threads and temp directory for a DuckDB connection basinlab opens.

    Parameters
    ----------
    database : path, optional
        The database file (None: an in-memory database).
    read_only : bool
        Readers spill into a private folder (``<folder>/.duckdb-tmp/`` beside the file, or the
        system temp dir when that folder is read-only); a writer spills beside its file
        (``<file>.tmp``, DuckDB's own convention).
    memory_limit, threads : optional
        The caller's defaults (e.g. the data API's smaller limit per snapshot); the environment
        variables still win.

    Values, in order of precedence:

    * ``memory_limit``: ``$BASINLAB_MEMORY_LIMIT`` (``4GB``, ``512MB`` or ``25%`` of memory), the
      argument, else :func:`default_memory_limit_bytes` (a quarter of the machine's memory, leaving
      at least 4 GB to Python and the rest of the machine);
    * ``threads``: ``$BASINLAB_THREADS``, the argument, else the cores this process may use;
    * ``temp_directory``: ``$BASINLAB_TEMP_DIR`` (a writer's spill folder ``<name>.tmp`` inside it),
      else as above. Readers and in-memory instances get a folder of their own inside it
      (``duckdb-<pid>-<n>``), so instances never share spill files.

    Raises ``ValueError`` naming the variable when a value cannot be read.
    """
    sources = {}
    env_mem = os.environ.get(ENV_MEMORY_LIMIT, "").strip()
    if env_mem:
        mem = parse_size(env_mem, ENV_MEMORY_LIMIT)
        sources["memory_limit"] = "env"
    elif memory_limit is not None:
        mem = memory_limit if isinstance(memory_limit, int) else parse_size(memory_limit, "memory_limit")
        sources["memory_limit"] = "argument"
    else:
        mem = default_memory_limit_bytes()
        sources["memory_limit"] = "default"
    if mem < 16 << 20:
        raise ValueError(f"{ENV_MEMORY_LIMIT}: a DuckDB memory limit under 16 MB cannot run a query (got {mem} bytes)")
    env_thr = env_count(ENV_THREADS)
    if env_thr is not None:
        thr = env_thr
        sources["threads"] = "env"
    elif threads is not None:
        thr = max(1, int(threads))
        sources["threads"] = "argument"
    else:
        thr = machine_threads()
        sources["threads"] = "default"
    env_tmp = os.environ.get(ENV_TEMP_DIR, "").strip()
    base = Path(env_tmp).expanduser().resolve() if env_tmp else None
    sources["temp_directory"] = "env" if base else "default"
    if database is not None and not read_only:
        db = Path(database).expanduser().resolve()
        temp = (base / f"{db.name}.tmp") if base else db.with_name(db.name + ".tmp")
    else:
        temp = (base or _temp_base(Path(database) if database is not None else None)) / _instance_dir_name()
    return DuckDBResources(int(mem), int(thr), temp, sources)


_INSTANCE_SEQ = iter(range(1, 1 << 62))


def _instance_dir_name() -> str:
    return f"duckdb-{os.getpid()}-{next(_INSTANCE_SEQ)}"
