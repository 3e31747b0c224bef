"""Backups of the published warehouse (Parquet + manifest) and the builds that restore them.

``basinlab db backup [--to DIR]`` exports every table and view of every schema of the **published**
warehouse, read through one read-only connection (one file version: a publish during the export
replaces the file, the export keeps reading the version it opened), to one Parquet file each, and
writes ``manifest.json``: the tables with their row counts, the sha256 of each file, a content
checksum of each table (order-independent), the schema version (the applied migrations with their
checksums) and the basinlab version. The folder is written under a temporary name and renamed when
complete, so a backup folder is never half written. Any Parquet reader can read it.

``basinlab db restore FROM`` (a backup folder or a snapshot of ``snapshots/``) goes through the
runner's path (:func:`basinlab.runner.restore_warehouse`): under the run lock, a new build file is
made here — :func:`build_from_backup` refuses a backup whose files do not match their sha256, loads
raw, metadata and marts from the Parquet files into a freshly migrated warehouse, recreates the
staging views from the models, and checks every table's row count and content checksum against the
manifest; :func:`build_from_snapshot` copies and migrates a snapshot — then the build is validated
against the declaration and published atomically (the previous warehouse kept as a snapshot).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from . import __version__, catalog, config, warehouse
from .catalog import SCHEMAS

MANIFEST = "manifest.json"
FORMAT = "basinlab-backup/1"
BACKUPS_DIR = "backups"


class BackupError(Exception):
    """A backup that cannot be written or used; the message names the file and the reason."""


@dataclass
class BackupResult:
    folder: Path
    manifest: dict[str, Any]
    tables: int = 0
    rows: int = 0
    bytes: int = 0
    notes: list[str] = field(default_factory=list)


def _q(ident: str) -> str:
    return '"' + ident.replace('"', '""') + '"'


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def relations(con, schemas: tuple[str, ...] = SCHEMAS) -> list[tuple[str, str, str]]:
    """(schema, name, table | view) of every relation in ``schemas``, schema by schema, by name."""
    marks = ", ".join("?" for _ in schemas)
    rows = con.execute(
        f"""select table_schema, table_name, case table_type when 'VIEW' then 'view' else 'table' end
            from information_schema.tables where table_catalog = current_database() and table_schema in ({marks})""",
        list(schemas)).fetchall()
    order = {s: i for i, s in enumerate(schemas)}
    return sorted(rows, key=lambda r: (order[r[0]], r[1]))


def content_checksum(con, schema: str, name: str) -> tuple[int, str]:
    """(rows, checksum) of a relation's content: the sum of the rows' hashes, independent of row order."""
    n, h = con.execute(f"select count(*), coalesce(sum(hash(t)::hugeint), 0) from {_q(schema)}.{_q(name)} t"
                       ).fetchall()[0]
    return int(n), str(h)


def schema_version(con) -> list[dict[str, Any]]:
    return [{"version": int(v), "name": n, "checksum_sha256": c} for v, n, c in con.execute(
        "select version, name, checksum_sha256 from metadata.schema_migrations order by version").fetchall()]


def backup(source: Path, to: Path | None = None, data_dir: Path | None = None,
           progress: Callable[[str], None] | None = None) -> BackupResult:
    """Export the warehouse at ``source`` (default use: the published file) to a new backup folder.

    ``to`` is the folder to create (it must not exist or be empty); default
    ``<data-dir>/backups/backup-<time>/``.
    """
    say = progress or (lambda _m: None)
    source = Path(source)
    stamp = datetime.now().strftime("%Y%m%dT%H%M%S")
    folder = Path(to) if to else (Path(data_dir) if data_dir else source.parent) / BACKUPS_DIR / f"backup-{stamp}"
    if folder.exists() and any(folder.iterdir()):
        raise BackupError(f"{folder} already exists and is not empty: give a new folder with --to")
    partial = folder.with_name(f".{folder.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    con = warehouse.connect(source, read_only=True)    # one file version for the whole export
    try:
        st = os.stat(source)
        manifest: dict[str, Any] = {
            "format": FORMAT, "created_at": datetime.now().isoformat(timespec="seconds"),
            "source": str(source), "source_version": f"{st.st_ino}-{st.st_mtime_ns}",
            "basinlab_version": __version__, "schema_version": schema_version(con), "tables": []}
        res = BackupResult(folder, manifest)
        rels = relations(con)
        for i, (schema, name, kind) in enumerate(rels, 1):
            rel_file = Path(schema) / f"{name}.parquet"
            target = partial / rel_file
            target.parent.mkdir(parents=True, exist_ok=True)
            con.execute(f"copy (select * from {_q(schema)}.{_q(name)}) to '{_sql_str(target)}' "
                        "(format parquet, compression zstd)")
            rows, checksum = content_checksum(con, schema, name)
            size = target.stat().st_size
            manifest["tables"].append({"relation": f"{schema}.{name}", "kind": kind, "file": str(rel_file),
                                       "rows": rows, "sha256": _sha256(target), "bytes": size,
                                       "content_checksum": checksum})
            res.tables += 1
            res.rows += rows
            res.bytes += size
            say(f"  [{i}/{len(rels)}] {schema}.{name}: {rows:,} rows")
        runs = con.execute("select run_id, month, status from metadata.pipeline_runs order by started_at desc "
                           "limit 1").fetchall()
        manifest["last_run"] = dict(zip(("run_id", "month", "status"), runs[0])) if runs else None
    except duckdb.Error as exc:
        shutil.rmtree(partial, ignore_errors=True)
        raise BackupError(f"exporting {source} failed: {str(exc).splitlines()[0]}") from exc
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    finally:
        con.close()
    (partial / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    folder.parent.mkdir(parents=True, exist_ok=True)
    if folder.exists():
        folder.rmdir()      # an empty folder given with --to
    os.replace(partial, folder)
    return res


def _sql_str(p: Path) -> str:
    return str(p).replace("'", "''")


def read_manifest(folder: Path) -> dict[str, Any]:
    path = Path(folder) / MANIFEST
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BackupError(f"{folder} is not a basinlab backup: it has no {MANIFEST}") from None
    except (OSError, ValueError) as exc:
        raise BackupError(f"{path}: cannot be read as a backup manifest ({exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or not isinstance(doc.get("tables"), list):
        raise BackupError(f"{path}: not a {FORMAT} manifest")
    return doc


def verify(folder: Path) -> dict[str, Any]:
    """The manifest, after checking that every file it lists exists with its sha256 (BackupError otherwise)."""
    folder = Path(folder)
    doc = read_manifest(folder)
    bad = []
    for t in doc["tables"]:
        f = folder / t["file"]
        if not f.is_file():
            bad.append(f"{t['file']} is missing")
        elif _sha256(f) != t["sha256"]:
            bad.append(f"{t['file']} does not match its sha256 (changed or damaged since the backup)")
    if bad:
        raise BackupError(f"refusing the backup {folder}: " + "; ".join(bad[:5])
                          + (f"; and {len(bad) - 5} more" if len(bad) > 5 else ""))
    return doc


def _check_schema_version(con, doc: dict[str, Any], folder: Path) -> None:
    here = {m.version: m for m in warehouse.discover_migrations()}
    for m in doc.get("schema_version") or []:
        known = here.get(m["version"])
        if known is None:
            raise BackupError(f"{folder} was taken by a newer basinlab (migration V{m['version']:03d}__{m['name']} "
                              "is not in this version's sql/migrations/): restore it with that version")
        if known.checksum != m["checksum_sha256"]:
            raise BackupError(f"{folder}: its migration V{m['version']:03d}__{m['name']} differs from this "
                              "version's file: restore it with the basinlab version that took it")


def build_from_backup(folder: Path, build: Path, progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Make ``build`` (a new DuckDB file) from the backup in ``folder``; the manifest's facts on success.

    Raises :class:`BackupError` when a file does not match its sha256, the backup comes from a
    newer or different schema, or a restored table's rows or content checksum differ from the manifest.
    """
    from .transform import load_project  # the staging views are the models' SQL

    say = progress or (lambda _m: None)
    folder = Path(folder)
    doc = verify(folder)
    say(f"  {folder}: {len(doc['tables'])} files match their sha256")
    for stale in (build, build.with_name(build.name + ".wal")):
        stale.unlink(missing_ok=True)
    con = warehouse.connect(build)
    try:
        _check_schema_version(con, doc, folder)
        warehouse.migrate(con)
        declared = catalog.load()
        tables = [t for t in doc["tables"] if t["kind"] == "table"]
        con.execute("begin transaction")
        for t in tables:
            schema, name = t["relation"].split(".", 1)
            src = f"read_parquet('{_sql_str(folder / t['file'])}')"
            exists = con.execute("select count(*) from information_schema.tables where table_schema = ? and "
                                 "table_name = ?", [schema, name]).fetchall()[0][0]
            if not exists:
                decl = declared.tables.get(t["relation"])
                con.execute(f"create schema if not exists {_q(schema)}")
                if decl is not None:
                    con.execute(decl.create_sql())
                else:
                    con.execute(f"create table {_q(schema)}.{_q(name)} as select * from {src} limit 0")
            if t["relation"] == "metadata.schema_migrations":   # keep the rows of migrations newer than the backup
                con.execute(f"delete from metadata.schema_migrations where version in (select version from {src})")
            else:
                con.execute(f"delete from {_q(schema)}.{_q(name)}")
            con.execute(f"insert into {_q(schema)}.{_q(name)} by name select * from {src}")
        con.execute("commit")
        n = con.execute("select coalesce(max(file_id), 0) + 1 from metadata.ingested_files").fetchall()[0][0]
        con.execute(f"create or replace sequence metadata.ingested_files_seq start {int(n)}")
        project = load_project()
        for name in project.order:
            m = project.models[name]
            if m.materialization == "view":
                con.execute(f"create or replace view {m.relation} as\n{m.sql.strip().rstrip(';')}\n")
        bad = []
        for t in doc["tables"]:
            schema, name = t["relation"].split(".", 1)
            try:
                rows, checksum = content_checksum(con, schema, name)
            except duckdb.Error as exc:
                bad.append(f"{t['relation']}: {str(exc).splitlines()[0]}")
                continue
            if rows != t["rows"] or checksum != t["content_checksum"]:
                bad.append(f"{t['relation']}: {rows} rows (backup {t['rows']})"
                           + ("" if checksum == t["content_checksum"] else ", content differs"))
        if bad:
            raise BackupError("the restored warehouse differs from the backup's manifest: " + "; ".join(bad[:5]))
        say(f"  {len(doc['tables'])} relations restored, row counts and checksums equal to the manifest")
    except BaseException:
        con.close()
        raise
    con.close()
    return doc


def build_from_snapshot(snapshot: Path, build: Path, progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Make ``build`` as a copy of a snapshot of the published warehouse, migrated to this version."""
    say = progress or (lambda _m: None)
    snapshot = Path(snapshot)
    if not snapshot.is_file():
        raise BackupError(f"{snapshot} is not a file")
    warehouse.copy_for_build(snapshot, build)
    con = warehouse.connect(build)
    try:
        applied = warehouse.migrate(con)
        counts = warehouse.table_counts(con, SCHEMAS)
    except duckdb.Error as exc:
        raise BackupError(f"{snapshot} is not a basinlab warehouse: {str(exc).splitlines()[0]}") from None
    finally:
        con.close()
    say(f"  {snapshot.name}: {len(counts)} relations" + (f", migrated ({', '.join(m.filename for m in applied)})"
                                                        if applied else ""))
    return {"source": str(snapshot), "tables": counts}


def snapshots(paths: config.Paths) -> list[dict[str, Any]]:
    """What ``db restore`` can restore: the snapshots (time, the run that replaced them) and backups."""
    out = []
    if paths.snapshots.is_dir():
        for p in sorted(paths.snapshots.glob("warehouse-*.duckdb")):
            stem = p.stem[len("warehouse-"):]
            stamp, _, label = stem.partition("-")
            try:
                when = datetime.strptime(stamp, "%Y%m%dT%H%M%S.%f").isoformat(sep=" ", timespec="seconds")
            except ValueError:
                when = datetime.fromtimestamp(p.stat().st_mtime).isoformat(sep=" ", timespec="seconds")
            out.append({"kind": "snapshot", "path": str(p), "time": when, "replaced_by_run": label or None,
                        "bytes": p.stat().st_size, "run": _last_run(p)})
    backups = paths.data_dir / BACKUPS_DIR
    if backups.is_dir():
        for d in sorted(x for x in backups.iterdir() if x.is_dir() and not x.name.startswith(".")):
            try:
                doc = read_manifest(d)
            except BackupError:
                continue
            out.append({"kind": "backup", "path": str(d), "time": doc.get("created_at"), "replaced_by_run": None,
                        "bytes": sum(int(t.get("bytes", 0)) for t in doc["tables"]), "run": doc.get("last_run")})
    return out


def _last_run(path: Path) -> dict[str, Any] | None:
    """The latest run recorded in a warehouse file (the run whose build it was), or None."""
    try:
        con = duckdb.connect(":memory:")
        try:
            con.execute(f"attach '{_sql_str(path)}' as s (read_only)")
            row = con.execute("select run_id, month, status from s.metadata.pipeline_runs "
                              "order by started_at desc limit 1").fetchall()
        finally:
            con.close()
    except duckdb.Error:
        return None
    return dict(zip(("run_id", "month", "status"), row[0])) if row else None


__all__ = ["BACKUPS_DIR", "BackupError", "BackupResult", "MANIFEST", "backup", "build_from_backup",
           "build_from_snapshot", "content_checksum", "read_manifest", "relations", "snapshots", "verify"]
