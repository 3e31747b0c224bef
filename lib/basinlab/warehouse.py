"""The DuckDB warehouse: connections, versioned migrations, atomic publishing.

One DuckDB file holds the schemas ``raw``, ``staging``, ``marts`` and
``metadata``. The schema of ``raw`` and ``metadata`` comes from versioned,
checksummed migrations in ``sql/migrations/`` (``V001__name.sql``, …); each
applied migration is recorded with its sha256 in ``metadata.schema_migrations``
and an applied migration whose file changed afterwards is refused.

Writers never touch the published file in place: the runner builds into a
copy and :func:`publish` swaps it in with an atomic rename, keeping the
previous file as a snapshot (a hard link, so it costs no copy).
"""
from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import time
import weakref
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb

from . import config
from .faults import fault_point

log = logging.getLogger(__name__)

MIGRATION_RE = re.compile(r"^V(\d{3,})__([A-Za-z0-9_]+)\.sql$")


class WarehouseError(Exception):
    """A warehouse problem with a message meant for the user."""


class WarehouseLockedError(WarehouseError):
    """Another process holds the DuckDB file."""


class MigrationError(WarehouseError):
    """A migration is invalid, changed after it was applied, or failed."""


def apply_resources(con: duckdb.DuckDBPyConnection, resources: config.DuckDBResources) -> duckdb.DuckDBPyConnection:
    """Set ``memory_limit``, ``threads`` and ``temp_directory`` (:func:`basinlab.config.duckdb_resources`)
    on ``con``'s database instance; returns ``con``.

    The settings are global to the instance, so a connection DuckDB hands out from its per-path cache
    gets them again (same values). A temp directory the instance already spills into is kept.
    """
    con.execute(resources.statements()[0])
    con.execute(resources.statements()[1])
    current = con.execute("select current_setting('temp_directory')").fetchone()[0] or ""
    if _OWN_TEMP_RE.search(current) and Path(current).parent.exists():
        return con
    temp = resources.temp_directory
    try:
        temp.parent.mkdir(parents=True, exist_ok=True)
        _remove_dead_temp_dirs(temp.parent)
    except OSError as exc:
        raise WarehouseError(f"cannot create DuckDB's spill folder {temp.parent}: {exc.strerror or exc} "
                             f"(set {config.ENV_TEMP_DIR} to a writable folder)") from exc
    con.execute(resources.statements()[2])
    return con


#: the per-instance spill folders basinlab names (config._instance_dir_name)
_OWN_TEMP_RE = re.compile(r"duckdb-(\d+)-\d+/?$")


def _remove_dead_temp_dirs(base: Path) -> None:
    """Spill folders of processes that are gone (killed before DuckDB could remove them)."""
    try:
        entries = list(base.iterdir())
    except OSError:
        return
    for d in entries:
        m = _OWN_TEMP_RE.search(d.name)
        if not m or not d.is_dir() or int(m.group(1)) == os.getpid():
            continue
        try:
            os.kill(int(m.group(1)), 0)
            continue                      # alive (or not ours to signal): keep
        except ProcessLookupError:
            shutil.rmtree(d, ignore_errors=True)
        except OSError:
            continue


def connect_memory(resources: config.DuckDBResources | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with basinlab's resource settings (scratch work, e.g. SQL on frames)."""
    con = duckdb.connect(":memory:")
    try:
        return apply_resources(con, resources or config.duckdb_resources(None))
    except BaseException:
        con.close()
        raise


def connect(path: str | Path, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open the warehouse file, with the resource settings of :func:`basinlab.config.duckdb_resources`.

    Parameters
    ----------
    path : str or Path
        The DuckDB file. Created (with its folder) when opened read-write.
    read_only : bool
        Analysts and the report open the published file read-only, so they
        never block, and are never blocked by, a scheduled run. A read-only
        connection always shows the file that is at ``path`` now: it is opened
        afresh (attached to a private in-memory database), never taken from
        DuckDB's per-process instance cache, which would keep serving the
        file a publish has since replaced to a notebook kernel that still
        holds an older connection.

    Every connection gets ``memory_limit``, ``threads`` and ``temp_directory`` from
    :func:`basinlab.config.duckdb_resources` (``$BASINLAB_MEMORY_LIMIT``, ``$BASINLAB_THREADS``,
    ``$BASINLAB_TEMP_DIR`` or defaults derived from the machine): DuckDB keeps within the limit
    and spills the rest to disk.

    Raises
    ------
    WarehouseError
        The file is missing (read-only) or another process holds it, or a resource setting is
        invalid (the message names the variable).
    """
    path = Path(path)
    try:
        resources = config.duckdb_resources(path, read_only=read_only)
    except ValueError as exc:
        raise WarehouseError(str(exc)) from exc
    if read_only and not path.exists():
        raise WarehouseError(
            f"warehouse {path} does not exist yet: run `basinlab run --month YYYY-MM` "
            "(or `basinlab run --month YYYY-MM --demo`) to build and publish it"
        )
    if not read_only:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise WarehouseError(f"cannot create the folder of warehouse {path}: {exc.strerror or exc}") from exc
    try:
        con = _connect_read_only(path) if read_only else duckdb.connect(str(path))
    except duckdb.Error as exc:  # lock conflicts arrive as IOException
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if "lock" in msg.lower():
            raise WarehouseLockedError(
                f"warehouse {path} is locked by another process ({msg}). "
                "Close the notebook kernel or wait for the run that holds it."
            ) from exc
        if not read_only and ("read-only" in msg.lower() or "permission" in msg.lower()):
            raise WarehouseError(f"cannot open warehouse {path} for writing ({msg}): make the file and its "
                                 "folder writable for this user, or work on a copy") from exc
        raise WarehouseError(f"cannot open warehouse {path}: {msg}") from exc
    try:
        return apply_resources(con, resources)
    except BaseException as exc:
        con.close()
        if isinstance(exc, duckdb.Error):
            raise WarehouseError(f"cannot apply the DuckDB resource settings to {path}: "
                                 f"{str(exc).strip().splitlines()[0]}") from exc
        raise


#: catalog names DuckDB reserves (a fresh read-only warehouse is attached under its file stem otherwise)
_RESERVED_CATALOGS = {"memory", "system", "temp", "main"}

#: read-only connections this process opened through :func:`connect`, per resolved path:
#: (weak reference, (device, inode) of the file when it was opened)
_READERS: dict[str, list[tuple[weakref.ref, tuple[int, int]]]] = {}


def _file_id(path: Path) -> tuple[int, int]:
    st = os.stat(path)
    return st.st_dev, st.st_ino


def _connect_read_only(path: Path) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the file at ``path`` now.

    DuckDB keeps one database instance per path in a process and hands it to every
    new connection while an earlier one is open, even after the file was replaced (a
    publish): a notebook kernel would keep reading the old warehouse. While a
    connection this process opened earlier still holds a file that is no longer the
    one at ``path``, the new connection opens the current file in a fresh instance
    instead (attached read-only to a private in-memory database, made the default
    catalog, with views of every relation in the in-memory catalog so that cursors
    — jupysql uses them — see the same tables).
    """
    key = str(path.resolve())
    current = _file_id(path)
    live = [(ref, fid) for ref, fid in _READERS.get(key, []) if ref() is not None]
    if any(fid != current for _, fid in live):
        _READERS[key] = live
        return _connect_fresh(Path(key))
    con = duckdb.connect(key, read_only=True)
    live.append((weakref.ref(con), current))
    _READERS[key] = live
    return con


def attach_read_only(path: Path, alias: str,
                     resources: config.DuckDBResources | None = None) -> duckdb.DuckDBPyConnection:
    """A private in-memory DuckDB with the file at ``path`` attached read-only as catalog ``alias``:
    a fresh instance that shows the file as it is now (never DuckDB's cached instance of the path).
    ``resources`` are applied first when given."""
    con = duckdb.connect(":memory:")
    try:
        if resources is not None:
            apply_resources(con, resources)
        quoted = '"' + alias.replace('"', '""') + '"'
        con.execute(f"attach '{str(path).replace(chr(39), chr(39) * 2)}' as {quoted} (read_only)")
    except BaseException:
        con.close()
        raise
    return con


def _connect_fresh(path: Path) -> duckdb.DuckDBPyConnection:
    alias = path.stem if path.stem.lower() not in _RESERVED_CATALOGS else "warehouse"
    quoted_alias = '"' + alias.replace('"', '""') + '"'
    con = attach_read_only(path, alias)
    try:
        con.execute(f"use {quoted_alias}")
        rels = con.execute(
            """select schema_name, table_name from duckdb_tables() where database_name = ?
               union all
               select schema_name, view_name from duckdb_views() where database_name = ? and not internal""",
            [alias, alias]).fetchall()
        for schema, name in rels:
            qs, qn = ('"' + x.replace('"', '""') + '"' for x in (schema, name))
            con.execute(f"create schema if not exists memory.{qs}")
            con.execute(f"create or replace view memory.{qs}.{qn} as select * from {quoted_alias}.{qs}.{qn}")
    except BaseException:
        con.close()
        raise
    return con


# --------------------------------------------------------------------------- migrations


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    path: Path
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode("utf-8")).hexdigest()

    @property
    def filename(self) -> str:
        return self.path.name


@dataclass(frozen=True)
class MigrationState:
    version: int
    name: str
    status: str  # applied | pending | changed | missing
    applied_at: datetime | None
    checksum: str


def discover_migrations(migrations_dir: Path = config.MIGRATIONS_DIR) -> list[Migration]:
    """The migration files in version order; bad names and duplicate versions are errors."""
    found: dict[int, Migration] = {}
    for p in sorted(Path(migrations_dir).glob("*.sql")):
        m = MIGRATION_RE.match(p.name)
        if not m:
            raise MigrationError(f"{p}: migration files are named V<NNN>__<name>.sql (e.g. V003__add_tables.sql)")
        version = int(m.group(1))
        if version in found:
            raise MigrationError(f"{p}: version {version} is also used by {found[version].path.name}")
        found[version] = Migration(version, m.group(2), p, p.read_text(encoding="utf-8"))
    return [found[v] for v in sorted(found)]


def _applied(con: duckdb.DuckDBPyConnection) -> dict[int, tuple[str, str, datetime]]:
    exists = con.execute(
        "select count(*) from information_schema.tables "
        "where table_schema = 'metadata' and table_name = 'schema_migrations'"
    ).fetchone()[0]
    if not exists:
        return {}
    rows = con.execute("select version, name, checksum_sha256, applied_at from metadata.schema_migrations").fetchall()
    return {int(v): (n, c, a) for v, n, c, a in rows}


def migration_status(
    con: duckdb.DuckDBPyConnection, migrations_dir: Path = config.MIGRATIONS_DIR
) -> list[MigrationState]:
    """Applied, pending and changed migrations (``basinlab db status``)."""
    applied = _applied(con)
    out: list[MigrationState] = []
    files = {m.version: m for m in discover_migrations(migrations_dir)}
    for v in sorted(set(files) | set(applied)):
        f = files.get(v)
        a = applied.get(v)
        if f and a:
            status = "applied" if a[1] == f.checksum else "changed"
            out.append(MigrationState(v, f.name, status, a[2], f.checksum))
        elif f:
            out.append(MigrationState(v, f.name, "pending", None, f.checksum))
        else:
            out.append(MigrationState(v, a[0], "missing", a[2], a[1]))
    return out


def migrate(con: duckdb.DuckDBPyConnection, migrations_dir: Path = config.MIGRATIONS_DIR) -> list[Migration]:
    """Apply pending migrations in version order, each in its own transaction.

    Returns the migrations applied now (empty when up to date).

    Raises
    ------
    MigrationError
        An applied migration's file changed (named, with both checksums) or is
        missing, or a migration failed (named, with DuckDB's message; nothing
        of it is kept).
    """
    migrations = discover_migrations(migrations_dir)
    applied = _applied(con)
    for m in migrations:
        if m.version in applied and applied[m.version][1] != m.checksum:
            raise MigrationError(
                f"migration {m.filename} was changed after it was applied "
                f"(applied sha256 {applied[m.version][1][:12]}…, file now {m.checksum[:12]}…). "
                "Applied migrations are immutable: revert the file and add a new migration instead."
            )
    on_disk = {m.version for m in migrations}
    missing = sorted(set(applied) - on_disk)
    if missing:
        names = ", ".join(f"V{v:03d}__{applied[v][0]}.sql" for v in missing)
        raise MigrationError(
            f"migration {names} was applied to this warehouse but its file is missing from {migrations_dir}: "
            f"restore it (e.g. `git checkout -- sql/migrations/`) or use the basinlab version that has it. "
            "Applied migrations are never deleted; add a new migration to undo one."
        )
    done: list[Migration] = []
    for m in migrations:
        if m.version in applied:
            continue
        t0 = time.perf_counter()
        con.execute("begin transaction")
        try:
            con.execute(m.sql)
            con.execute(
                "insert into metadata.schema_migrations values (?, ?, ?, current_timestamp::timestamp, ?)",
                [m.version, m.name, m.checksum, (time.perf_counter() - t0) * 1000.0],
            )
            con.execute("commit")
        except duckdb.Error as exc:
            con.execute("rollback")
            raise MigrationError(f"migration {m.filename} failed: {exc}") from exc
        log.info("applied migration %s", m.filename)
        done.append(m)
    return done


# --------------------------------------------------------------------------- publishing


def copy_for_build(published: Path, build: Path) -> Path:
    """Start a build file as a copy of the published warehouse (or empty when there is none)."""
    build.parent.mkdir(parents=True, exist_ok=True)
    for stale in (build, build.with_name(build.name + ".wal")):
        stale.unlink(missing_ok=True)
    if published.exists():
        shutil.copy2(published, build)
    return build


def publish(build: Path, published: Path, snapshots_dir: Path, keep: int = config.DEFAULT_SNAPSHOTS_KEPT,
            label: str = "") -> Path | None:
    """Atomically replace ``published`` with ``build``; keep the old file as a snapshot.

    The build's connection must be closed (checkpointed) first. A reader that
    has the old file open keeps reading the old data; new openers see the new
    file at once. Returns the snapshot path (None on the first publish).

    A kill at any instant leaves either the old or the new file published: the
    snapshot is a hard link made before the rename, and the rename is atomic
    (the folder is fsynced after it, so a power cut does not undo it).
    """
    wal = build.with_name(build.name + ".wal")
    if wal.exists():
        raise WarehouseError(f"build {build} still has a write-ahead log: close its connection before publishing")
    snapshot = None
    if published.exists():
        snapshots_dir.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now().strftime("%Y%m%dT%H%M%S.%f")
        snapshot = snapshots_dir / f"warehouse-{stamp}{('-' + label) if label else ''}.duckdb"
        n = 1
        while snapshot.exists():
            n += 1
            snapshot = snapshot.with_name(f"warehouse-{stamp}-{n}{('-' + label) if label else ''}.duckdb")
        try:
            os.link(published, snapshot)
        except OSError:  # filesystems without hard links
            shutil.copy2(published, snapshot)
    fault_point("publish:linked")
    os.replace(build, published)
    fsync_dir(published.parent)
    fault_point("publish:replaced")
    prune_snapshots(snapshots_dir, keep)
    return snapshot


def fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


#: what a basinlab data dir holds besides the warehouse (how a published file is recognised by its folder)
DATA_DIR_MARKERS = (config.RUN_LOG_FILE, config.LOCK_FILE, config.SNAPSHOTS_DIR, config.BUILDS_DIR)


def _is_data_dir(folder: Path) -> bool:
    return any((folder / m).exists() for m in DATA_DIR_MARKERS)


def published_role(path: str | Path, data_dirs: list[Path] | tuple[Path, ...] = ()) -> str | None:
    """How ``path`` is a file only the runner may write, or None.

    ``path`` is compared by file identity (device and inode: symlinks, relative
    paths, ``..`` and hard links all resolve to the same file) with the published
    warehouse and the snapshots of each of ``data_dirs`` and of the folder the path
    resolves into when that folder is a basinlab data dir (it holds ``runs.jsonl``,
    the run lock, ``snapshots/`` or ``builds/``). Returns e.g.
    ``"the published warehouse /data/warehouse.duckdb"``.
    """
    p = Path(path)
    if not p.exists():
        return None
    real = p.resolve()
    candidates = [Path(d) for d in data_dirs]
    if _is_data_dir(real.parent):
        candidates.append(real.parent)
    if real.parent.name == config.SNAPSHOTS_DIR and _is_data_dir(real.parent.parent):
        candidates.append(real.parent.parent)
    for d in dict.fromkeys(candidates):
        wh = d / config.WAREHOUSE_FILE
        if wh.exists() and _same_file(p, wh):
            return f"the published warehouse {wh}"
        snaps = d / config.SNAPSHOTS_DIR
        if snaps.is_dir():
            for s in snaps.glob("*.duckdb"):
                if _same_file(p, s):
                    return f"the snapshot {s} of the published warehouse"
    return None


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def prune_snapshots(snapshots_dir: Path, keep: int) -> list[Path]:
    """Delete all but the newest ``keep`` snapshots; returns the deleted paths."""
    if not snapshots_dir.exists():
        return []
    snaps = sorted(snapshots_dir.glob("warehouse-*.duckdb"), key=lambda p: p.name)
    doomed = snaps[: max(0, len(snaps) - keep)]
    for p in doomed:
        p.unlink(missing_ok=True)
    return doomed


def table_columns(con: duckdb.DuckDBPyConnection, relation: str) -> dict[str, str]:
    """The columns of ``relation`` (``schema.table`` in the connection's current database) and their
    types, in table order; empty when there is no such table or view."""
    schema, name = relation.split(".", 1)
    rows = con.execute(
        "select column_name, data_type from information_schema.columns "
        "where table_catalog = current_database() and table_schema = ? and table_name = ? order by ordinal_position",
        [schema, name],
    ).fetchall()
    return {r[0]: r[1] for r in rows}


def table_counts(con: duckdb.DuckDBPyConnection,
                 schemas: tuple[str, ...] = ("raw", "staging", "marts")) -> dict[str, int]:
    """Row counts of every table in the given schemas, as ``schema.table``. Views are left out: their
    rows derive from the tables, and counting one runs its whole query (18 M GL lines joined to FX for
    ``marts.fct_gl_transactions`` at 20,000 wells)."""
    rows = con.execute(
        "select table_schema, table_name from information_schema.tables "
        f"where table_type = 'BASE TABLE' and table_schema in ({', '.join('?' for _ in schemas)}) order by 1, 2",
        list(schemas),
    ).fetchall()
    out = {}
    for s, t in rows:
        out[f"{s}.{t}"] = int(con.execute(f'select count(*) from "{s}"."{t}"').fetchone()[0])
    return out
