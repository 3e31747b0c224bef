import hashlib
import shutil
import subprocess
import sys

import duckdb
import pytest

from basinlab import config, warehouse
from basinlab.warehouse import MigrationError, WarehouseError


@pytest.fixture
def mig_dir(tmp_path):
    d = tmp_path / "migrations"
    shutil.copytree(config.MIGRATIONS_DIR, d)
    return d


def test_migrate_applies_every_file_with_its_checksum(tmp_path):
    con = warehouse.connect(tmp_path / "w.duckdb")
    applied = warehouse.migrate(con)
    files = sorted(config.MIGRATIONS_DIR.glob("V*.sql"))
    assert [m.filename for m in applied] == [f.name for f in files]
    rows = con.execute("select name, checksum_sha256 from metadata.schema_migrations order by version").fetchall()
    assert [r[1] for r in rows] == [hashlib.sha256(f.read_bytes()).hexdigest() for f in files]
    schemas = {r[0] for r in con.execute("select schema_name from information_schema.schemata").fetchall()}
    assert {"raw", "staging", "marts", "metadata"} <= schemas
    assert warehouse.migrate(con) == []  # idempotent


def test_changed_applied_migration_is_refused_by_name(tmp_path, mig_dir):
    con = warehouse.connect(tmp_path / "w.duckdb")
    warehouse.migrate(con, mig_dir)
    v1 = next(mig_dir.glob("V001__*.sql"))
    v1.write_text(v1.read_text() + "\n-- edited after the fact\n")
    with pytest.raises(MigrationError, match=v1.name):
        warehouse.migrate(con, mig_dir)
    states = {s.version: s.status for s in warehouse.migration_status(con, mig_dir)}
    assert states[1] == "changed"


def test_pending_migration_listed_then_applied(tmp_path, mig_dir):
    con = warehouse.connect(tmp_path / "w.duckdb")
    warehouse.migrate(con, mig_dir)
    (mig_dir / "V900__add_note.sql").write_text("create table metadata.note (x integer);")
    assert [s.status for s in warehouse.migration_status(con, mig_dir) if s.version == 900] == ["pending"]
    assert [m.version for m in warehouse.migrate(con, mig_dir)] == [900]
    assert con.execute("select count(*) from metadata.note").fetchone()[0] == 0


def test_failing_migration_is_rolled_back_and_named(tmp_path, mig_dir):
    con = warehouse.connect(tmp_path / "w.duckdb")
    warehouse.migrate(con, mig_dir)
    (mig_dir / "V901__broken.sql").write_text("create table metadata.half (x integer);\nselect * from nowhere;")
    with pytest.raises(MigrationError, match="V901__broken.sql"):
        warehouse.migrate(con, mig_dir)
    assert con.execute("select count(*) from metadata.schema_migrations where version = 901").fetchone()[0] == 0
    assert con.execute("select count(*) from information_schema.tables where table_name = 'half'").fetchone()[0] == 0


def test_badly_named_migration_refused(tmp_path, mig_dir):
    (mig_dir / "add_things.sql").write_text("select 1;")
    with pytest.raises(MigrationError, match="add_things.sql"):
        warehouse.discover_migrations(mig_dir)


def test_read_only_open_of_missing_file_explains(tmp_path):
    with pytest.raises(WarehouseError, match="does not exist yet"):
        warehouse.connect(tmp_path / "nope.duckdb", read_only=True)


def _build(path, value):
    c = duckdb.connect(str(path))
    c.execute("create table t as select ? as v", [value])
    c.close()


def test_publish_is_atomic_for_a_reader_and_keeps_snapshots(tmp_path):
    published = tmp_path / "warehouse.duckdb"
    snaps = tmp_path / "snapshots"
    _build(tmp_path / "b1.duckdb", 1)
    assert warehouse.publish(tmp_path / "b1.duckdb", published, snaps) is None
    reader = warehouse.connect(published, read_only=True)
    assert reader.execute("select v from t").fetchone()[0] == 1
    for n in (2, 3, 4, 5):
        _build(tmp_path / f"b{n}.duckdb", n)
        snap = warehouse.publish(tmp_path / f"b{n}.duckdb", published, snaps, keep=2)
        assert snap is not None
    # the reader opened before the publishes still reads its data; a new reader sees the newest
    assert reader.execute("select v from t").fetchone()[0] == 1
    # a new reader (another process, as an analyst's kernel is) sees the newest file
    # (inside one process DuckDB reuses the instance it already has open for the path)
    out = subprocess.run([sys.executable, "-c", "import duckdb, sys; c = duckdb.connect(sys.argv[1], read_only=True); "
                          "print(c.execute('select v from t').fetchone()[0])", str(published)],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "5"
    assert len(list(snaps.glob("*.duckdb"))) == 2
    reader.close()


def test_publish_refuses_a_build_with_an_open_wal(tmp_path):
    build = tmp_path / "b.duckdb"
    _build(build, 1)
    (tmp_path / "b.duckdb.wal").write_bytes(b"x")
    with pytest.raises(WarehouseError, match="write-ahead log"):
        warehouse.publish(build, tmp_path / "warehouse.duckdb", tmp_path / "s")


def test_deleted_applied_migration_is_missing_and_refused_by_name(tmp_path, mig_dir):
    con = warehouse.connect(tmp_path / "w.duckdb")
    warehouse.migrate(con, mig_dir)
    (mig_dir / "V900__extra.sql").write_text("create table metadata.extra (x integer);")
    warehouse.migrate(con, mig_dir)
    (mig_dir / "V900__extra.sql").unlink()
    assert [s.status for s in warehouse.migration_status(con, mig_dir) if s.version == 900] == ["missing"]
    with pytest.raises(MigrationError, match=r"V900__extra\.sql.*missing"):
        warehouse.migrate(con, mig_dir)
    con.close()


def _publish_rows(data, n: int) -> None:
    """Publish a warehouse whose marts.t holds ``n`` rows (a build renamed over the published file)."""
    build = data / "builds" / f"b{n}.duckdb"
    con = warehouse.connect(build)
    warehouse.migrate(con)
    con.execute("create schema if not exists marts")
    con.execute(f"create table marts.t as select range as x from range({n})")
    con.close()
    warehouse.publish(build, data / config.WAREHOUSE_FILE, data / config.SNAPSHOTS_DIR)


def test_a_reader_opened_after_a_publish_sees_the_new_file_in_the_same_process(tmp_path):
    """A notebook kernel keeps its first reader open; DuckDB's per-process instance cache would hand the
    next open_context("reader") the replaced file. Every new reader must show what is published now."""
    from basinlab import open_context

    data = tmp_path / "data"
    _publish_rows(data, 3)
    first = open_context("reader", data_dir=str(data))
    assert first.con.execute("select count(*) from marts.t").fetchone()[0] == 3
    for n in (5, 8):                                   # publish twice, a new reader between
        _publish_rows(data, n)
        ctx = open_context("reader", data_dir=str(data))
        assert ctx.con.execute("select count(*) from marts.t").fetchone()[0] == n
        assert ctx.con.cursor().execute("select count(*) from marts.t").fetchone()[0] == n  # jupysql uses cursors
        assert ctx.con.execute("select current_database()").fetchone()[0] == "warehouse"
        raw = warehouse.connect(data / config.WAREHOUSE_FILE, read_only=True)
        assert raw.execute("select count(*) from marts.t").fetchone()[0] == n
        raw.close()
        ctx.close()
    assert first.con.execute("select count(*) from marts.t").fetchone()[0] == 3   # still its consistent snapshot
    first.close()
    with pytest.raises(duckdb.Error):
        first.con.execute("select 1")
