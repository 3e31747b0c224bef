"""Backups (Parquet + manifest) and restores through the runner's build -> validate -> publish path."""
from __future__ import annotations

import json
import shutil

import duckdb
import pytest

from basinlab import backup, cli, config, drift, warehouse
from basinlab.runner import RunError, restore_warehouse
from fixtures_sql import add_file, gl, header, price, prod


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    """A data dir with a small published warehouse: every schema populated by the transform."""
    from basinlab import run_models

    data = tmp_path_factory.mktemp("data")
    con = warehouse.connect(data / config.WAREHOUSE_FILE)
    warehouse.migrate(con)
    add_file(con, "well_header", [header("W1", basin="Midland"), header("W2", wi=0.5, nri=0.4)])
    add_file(con, "well_production", [prod("W1", "2024-01", oil=100, gas=50, days_on=31),
                                      prod("W2", "2024-02", oil=10, gas=500, days_on=20)])
    add_file(con, "price_deck", [price("2024-01", "WTI", 75.0), price("2024-01", "HENRY_HUB", 2.5)])
    add_file(con, "gl_records", [gl("J1", 1, "2024-01-15", "5000", debit=1234.56, well_id="W1"),
                                 gl("J1", 2, "2024-01-15", "2000", credit=1234.56)])
    run_models(con, run_id="r1")
    con.close()
    return data


def checksums(path):
    con = duckdb.connect(str(path), read_only=True)
    try:
        return {f"{s}.{n}": backup.content_checksum(con, s, n) for s, n, _ in backup.relations(con)}
    finally:
        con.close()


def test_backup_then_restore_gives_identical_row_counts_and_checksums(published, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(published, data)
    before = checksums(data / config.WAREHOUSE_FILE)
    res = backup.backup(data / config.WAREHOUSE_FILE, tmp_path / "bk")
    doc = json.loads((tmp_path / "bk" / backup.MANIFEST).read_text())
    assert {t["relation"] for t in doc["tables"]} == set(before)
    assert all((tmp_path / "bk" / t["file"]).is_file() for t in doc["tables"])
    assert [m["version"] for m in doc["schema_version"]] == [m.version for m in warehouse.discover_migrations()]
    assert res.rows == sum(n for n, _ in before.values())
    # any Parquet reader: the file holds the rows
    t = next(t for t in doc["tables"] if t["relation"] == "raw.gl_records")
    assert duckdb.sql(f"select sum(debit_amount)::double from '{tmp_path / 'bk' / t['file']}'").fetchall()[0][0] == \
        pytest.approx(1234.56)
    # damage the published file's content, then restore
    con = warehouse.connect(data / config.WAREHOUSE_FILE)
    con.execute("delete from raw.well_production")
    con.close()
    restore_warehouse(str(tmp_path / "bk"), lambda b, say: backup.build_from_backup(tmp_path / "bk", b, say),
                      data_dir=data, progress=None)
    assert checksums(data / config.WAREHOUSE_FILE) == before
    con = duckdb.connect(str(data / config.WAREHOUSE_FILE), read_only=True)
    assert drift.compare(con).ok
    con.close()
    # the file-id sequence continues after the restored files: the next ingest gets a new id
    con = warehouse.connect(data / config.WAREHOUSE_FILE)
    top = con.execute("select max(file_id) from metadata.ingested_files").fetchall()[0][0]
    assert con.execute("select nextval('metadata.ingested_files_seq')").fetchall()[0][0] > top
    con.close()
    runs = [json.loads(x) for x in (data / config.RUN_LOG_FILE).read_text().splitlines()]
    assert runs[-1]["status"] == "succeeded" and runs[-1]["run_id"].startswith("restore_")
    assert list((data / config.SNAPSHOTS_DIR).glob("warehouse-*.duckdb"))      # the damaged one kept


@pytest.mark.parametrize("damage", ["edit", "delete", "manifest"])
def test_a_backup_whose_files_do_not_match_is_refused_and_nothing_is_published(published, tmp_path, damage):
    data = tmp_path / "data"
    shutil.copytree(published, data)
    backup.backup(data / config.WAREHOUSE_FILE, tmp_path / "bk")
    target = tmp_path / "bk" / "raw" / "well_production.parquet"
    if damage == "edit":
        b = bytearray(target.read_bytes())
        b[len(b) // 2] ^= 0xFF
        target.write_bytes(bytes(b))
    elif damage == "delete":
        target.unlink()
    else:
        (tmp_path / "bk" / backup.MANIFEST).write_text("{not json")
    before = (data / config.WAREHOUSE_FILE).stat().st_ino
    with pytest.raises(RunError, match="well_production.parquet|manifest"):
        restore_warehouse("bk", lambda b, say: backup.build_from_backup(tmp_path / "bk", b, say),
                          data_dir=data, progress=None)
    assert (data / config.WAREHOUSE_FILE).stat().st_ino == before


def test_restore_from_a_snapshot_and_list_what_can_be_restored(published, tmp_path, capsys):
    data = tmp_path / "data"
    shutil.copytree(published, data)
    before = checksums(data / config.WAREHOUSE_FILE)
    snap = data / config.SNAPSHOTS_DIR / "warehouse-20240101T000000.000000-r0.duckdb"
    snap.parent.mkdir()
    shutil.copy(data / config.WAREHOUSE_FILE, snap)
    con = warehouse.connect(data / config.WAREHOUSE_FILE)
    con.execute("delete from raw.well_header")
    con.close()
    assert cli.main(["db", "snapshots", "--data-dir", str(data)]) == 0
    assert snap.name in capsys.readouterr().out
    assert cli.main(["db", "restore", snap.name, "--data-dir", str(data)]) == 0
    assert checksums(data / config.WAREHOUSE_FILE) == before


def test_backup_cli_refuses_a_missing_warehouse_and_restore_a_random_folder(tmp_path, capsys):
    assert cli.main(["db", "backup", "--data-dir", str(tmp_path)]) == 1
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "x").mkdir()
    assert cli.main(["db", "restore", str(tmp_path / "x"), "--data-dir", str(tmp_path)]) == 1
    assert "not a basinlab backup" in capsys.readouterr().err
