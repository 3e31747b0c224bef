"""The access log (append-only JSONL beside the warehouse) and its idempotent carry into
metadata.connection_audit by the runner's hook, plus the EIA as-received carry it shares."""
from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from basinlab import config, warehouse
from basinlab.service import audit
from basinlab.service.carry import carry_service_files
from basinlab.service.files import ServicePaths


def record(**kw) -> dict:
    base = {"request_id": uuid.uuid4().hex, "requested_at": datetime.now(UTC).isoformat(),
            "key_id": "0a1b2c3d", "key_name": "analyst", "permission": "read", "auth": "ok", "client": "127.0.0.1",
            "method": "GET", "route": "/wells", "path": "/wells", "parameters": {"field": "Bakken"}, "status": 200,
            "rows_returned": 12, "duration_ms": 3.5, "warehouse_version": "1-2"}
    return base | kw


@pytest.fixture
def paths(tmp_path):
    return config.Paths.resolve(tmp_path / "data", tmp_path / "reports")


@pytest.fixture
def build(paths):
    con = warehouse.connect(paths.data_dir / "build.duckdb")
    warehouse.migrate(con)
    yield con
    con.close()


def test_migration_v005_creates_connection_audit(build):
    cols = [r[0] for r in build.execute("select column_name from information_schema.columns where "
                                        "table_schema = 'metadata' and table_name = 'connection_audit' "
                                        "order by ordinal_position").fetchall()]
    assert cols[:3] == ["request_id", "requested_at", "key_id"] and "rows_returned" in cols and "route" in cols
    v = build.execute("select name from metadata.schema_migrations where version = 5").fetchone()
    assert v == ("connection_audit",)


def test_carry_is_idempotent_and_keeps_every_field(paths, build):
    log = audit.AccessLog(ServicePaths(paths).access_log)
    recs = [record(status=s, rows_returned=None if s >= 400 else 5) for s in (200, 401, 403, 200, 429)]
    for r in recs:
        log.write(r)
    assert audit.carry_audit_log(build, paths, "run-1") == 5
    assert audit.carry_audit_log(build, paths, "run-2") == 0
    rows = build.execute("select request_id, status, rows_returned, key_name, parameters, _batch_id "
                         "from metadata.connection_audit order by requested_at").fetchall()
    assert {r[0] for r in rows} == {r["request_id"] for r in recs}
    assert sorted(r[1] for r in rows) == sorted(r["status"] for r in recs)
    assert all(r[5] == "run-1" for r in rows)
    assert json.loads(rows[0][4]) == {"field": "Bakken"}
    log.write(record())
    assert audit.carry_audit_log(build, paths, "run-3") == 1


def test_a_line_still_being_written_waits_for_the_next_run(paths, build):
    sp = ServicePaths(paths)
    audit.AccessLog(sp.access_log).write(record())
    partial = json.dumps(record())
    with open(sp.access_log, "a") as fh:
        fh.write(partial[:40])  # the API is in the middle of this line
    assert audit.carry_audit_log(build, paths, "r1") == 1
    with open(sp.access_log, "a") as fh:
        fh.write(partial[40:] + "\n")
    assert audit.carry_audit_log(build, paths, "r2") == 1
    assert build.execute("select count(*) from metadata.connection_audit").fetchone()[0] == 2


def test_unreadable_lines_are_kept_not_dropped(paths, build):
    sp = ServicePaths(paths)
    log = audit.AccessLog(sp.access_log)
    log.write(record())
    with open(sp.access_log, "a") as fh:
        fh.write("this is not json\n")
        fh.write('{"no_request_id": true}\n')
    log.write(record())
    assert audit.carry_audit_log(build, paths, "r") == 4
    kept = build.execute("select parameters from metadata.connection_audit where auth = 'unreadable'").fetchall()
    assert len(kept) == 2 and any("this is not json" in r[0] for r in kept)
    assert audit.carry_audit_log(build, paths, "r") == 0  # the same bad lines are not inserted twice


def test_rotated_logs_are_carried_too(paths, build):
    sp = ServicePaths(paths)
    log = audit.AccessLog(sp.access_log, rotate_bytes=600)
    ids = []
    for _ in range(9):
        r = record()
        ids.append(r["request_id"])
        log.write(r)
    assert len(sp.access_logs()) > 1, "the log should have rotated"
    assert audit.carry_audit_log(build, paths, "r") == 9
    got = {r[0] for r in build.execute("select request_id from metadata.connection_audit").fetchall()}
    assert got == set(ids)


@settings(max_examples=40, deadline=None)
@given(st.dictionaries(st.text(min_size=1, max_size=20), st.text(max_size=30), max_size=6))
def test_secret_looking_parameters_are_masked(params):
    masked = audit.mask_parameters(params)
    for name, value in params.items():
        if audit.SECRET_PARAM_RE.search(name):
            assert masked[name] == "***"
        else:
            assert masked[name] == value


def test_runner_hook_carries_audit_and_eia_files_into_the_build(paths, build):
    sp = ServicePaths(paths)
    audit.AccessLog(sp.access_log).write(record())
    sp.received_eia.mkdir(parents=True)
    doc = {"pull_id": "eia_x", "series": [
        {"name": "WTI", "series_id": "RWTC", "units": "$/BBL", "rows": [
            {"period": "2024-01", "series": "RWTC", "value": "73.5", "units": "$/BBL"},
            {"period": "2024-02", "series": "RWTC", "value": None, "units": "$/BBL"},
            {"period": "2024-13", "series": "RWTC", "value": "1", "units": "$/BBL"},
            {"period": "2024-03", "series": "RWTC", "value": "n/a", "units": "$/BBL"}]}]}
    (sp.received_eia / "eia_x.json").write_text(json.dumps(doc))
    assert carry_service_files(build, paths, "run-a") == {"metadata.connection_audit": 1, "raw.eia_petroleum": 2}
    assert carry_service_files(build, paths, "run-b") == {"metadata.connection_audit": 0, "raw.eia_petroleum": 0}
    rows = build.execute("select series_id, strftime(period, '%Y-%m'), value, _source_file, _source_row "
                         "from raw.eia_petroleum order by period").fetchall()
    assert rows == [("RWTC", "2024-01", 73.5, "eia/eia_x.json", 1), ("RWTC", "2024-02", None, "eia/eia_x.json", 2)]
    rej = build.execute("select source_line, reason from raw.rejected_rows where kind = 'eia' order by 1").fetchall()
    assert rej == [(3, "period '2024-13' is not a month YYYY-MM"), (4, "value 'n/a' is not a number")]
    f = build.execute("select rows_read, rows_loaded, rows_rejected, status from metadata.ingested_files "
                      "where kind = 'eia'").fetchall()
    assert f == [(4, 2, 2, "loaded")]


def test_a_file_that_is_not_an_eia_document_fails_naming_it(paths, build):
    sp = ServicePaths(paths)
    sp.received_eia.mkdir(parents=True)
    (sp.received_eia / "broken.json").write_text("[1, 2")
    from basinlab.service.eia import EIAFormatError

    with pytest.raises(EIAFormatError, match="broken.json"):
        carry_service_files(build, paths, "r")
    assert build.execute("select count(*) from metadata.ingested_files where kind = 'eia'").fetchone()[0] == 0


def test_carry_refuses_an_unmigrated_warehouse(paths, tmp_path):
    audit.AccessLog(ServicePaths(paths).access_log).write(record())
    with duckdb.connect(str(tmp_path / "bare.duckdb")) as con:
        with pytest.raises(RuntimeError, match="V005"):
            audit.carry_audit_log(con, paths, "r")
