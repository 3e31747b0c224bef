"""Ingestion: idempotency, versions, rejects that reconcile, all-or-nothing files, mappings."""
import json

import openpyxl
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from basinlab import ingest
from conftest import PRICES_DIR, PRODUCTION_HEADER, VOLVE_XLSX, write


def counts(con, table):
    return con.execute(f"select count(*) from raw.{table}").fetchone()[0]


def test_canonical_csv_loads_with_lineage(con, tmp_path):
    inbox = tmp_path / "inbox"
    write(inbox / "well_production/p.csv",
          PRODUCTION_HEADER + "W1,2024-01,31,100.5,200,10\nW1,2024-02-15,29,90,180,12\n")
    rep = ingest.ingest_inbox(con, inbox, "b1")
    f = rep.files[0]
    assert (f.status, f.rows_read, f.rows_loaded, f.rows_rejected, f.version) == ("loaded", 2, 2, 0, 1)
    rows = con.execute("select well_id, production_month::varchar, days_on, oil_bbl, _source_file, _source_row, "
                       "_batch_id from raw.well_production order by _source_row").fetchall()
    assert rows == [("W1", "2024-01-01", 31.0, 100.5, "well_production/p.csv", 2, "b1"),
                    ("W1", "2024-02-01", 29.0, 90.0, "well_production/p.csv", 3, "b1")]


def test_same_file_twice_loads_once_and_a_renamed_copy_is_a_file_of_its_own(con, tmp_path):
    inbox = tmp_path / "inbox"
    body = PRODUCTION_HEADER + "W1,2024-01,31,100,200,10\n"
    write(inbox / "well_production/p.csv", body)
    ingest.ingest_inbox(con, inbox, "b1")
    rep = ingest.ingest_inbox(con, inbox, "b2")
    assert [f.status for f in rep.files] == ["duplicate"]
    assert "unchanged" in rep.files[0].note
    write(inbox / "well_production/copy_of_p.csv", body)
    rep = ingest.ingest_inbox(con, inbox, "b3")
    assert [f.status for f in rep.files] == ["loaded", "duplicate"]   # files are identified by name
    assert "same content as well_production/p.csv" in rep.files[0].note
    assert counts(con, "well_production") == 2
    assert con.execute("select count(*) from metadata.ingested_files").fetchone()[0] == 2


def test_changed_file_is_a_new_version_superseding_the_old_rows(con, tmp_path):
    inbox = tmp_path / "inbox"
    write(inbox / "well_production/p.csv", PRODUCTION_HEADER + "W1,2024-01,31,100,200,10\n")
    ingest.ingest_inbox(con, inbox, "b1")
    write(inbox / "well_production/p.csv", PRODUCTION_HEADER + "W1,2024-01,31,111,200,10\nW1,2024-02,29,95,190,11\n")
    rep = ingest.ingest_inbox(con, inbox, "b2")
    assert rep.files[0].version == 2 and rep.files[0].status == "loaded"
    files = con.execute("select file_id, version, status, superseded_by from metadata.ingested_files "
                        "order by file_id").fetchall()
    assert files[0][1:] == (1, "superseded", files[1][0])
    assert files[1][1:] == (2, "loaded", None)
    # superseded rows are kept, not deleted
    assert counts(con, "well_production") == 3
    current = con.execute("""select sum(oil_bbl) from raw.well_production p join metadata.ingested_files f
                             on f.file_id = p._file_id where f.status = 'loaded'""").fetchone()[0]
    assert current == 111 + 95


def test_bad_rows_are_rejected_with_line_and_reason_and_reconcile(con, tmp_path):
    inbox = tmp_path / "inbox"
    lines = [
        "W1,2024-01,31,100,200,10",     # line 2 ok
        "W1,2024-13,31,1,1,1",           # 3 unparseable month
        ",2024-02,28,1,1,1",             # 4 missing well_id
        "W2,2024-02,20,-5,1,1",          # 5 negative oil
        "W3,2024-02,29.5,1,1,1",         # 6 days_on beyond February 2024 (29 days)
        "W3,2024-03,31,12,3a,1",         # 7 unparseable number
        "W4,2024-04,30,,,",              # 8 ok: volumes not reported
    ]
    write(inbox / "well_production/p.csv", PRODUCTION_HEADER + "\n".join(lines) + "\n")
    f = ingest.ingest_inbox(con, inbox, "b1").files[0]
    assert (f.rows_read, f.rows_loaded, f.rows_rejected) == (7, 2, 5)
    assert f.rows_read == f.rows_loaded + f.rows_rejected
    rej = con.execute("select source_line, reason, record from raw.rejected_rows order by source_line").fetchall()
    assert [r[0] for r in rej] == [3, 4, 5, 6, 7]
    reasons = [r[1] for r in rej]
    assert reasons[0] == 'unparseable month in production_month: "2024-13"'
    assert reasons[1] == "missing well_id"
    assert reasons[2].startswith("negative oil_bbl")
    assert "outside 0..29 for 2024-02" in reasons[3]
    assert reasons[4] == 'unparseable number in gas_mcf: "3a"'
    assert json.loads(rej[4][2])["gas_mcf"] == "3a"  # the row as received
    meta = con.execute("select rows_read, rows_loaded, rows_rejected from metadata.ingested_files").fetchone()
    assert meta == (7, 2, 5)


def test_gl_line_with_both_or_neither_side_is_rejected(con, tmp_path):
    inbox = tmp_path / "inbox"
    write(inbox / "gl/gl.csv",
          "journal_id,line_number,transaction_date,account_code,debit_amount,credit_amount\n"
          "J1,1,2024-01-31,1200,100.00,\n"
          "J1,2,2024-01-31,4000,,100.00\n"
          "J2,1,2024-01-31,5000,50,50\n"
          "J2,2,2024-01-31,2000,,\n")
    f = ingest.ingest_inbox(con, inbox, "b1").files[0]
    assert (f.rows_loaded, f.rows_rejected) == (2, 2)
    reasons = [r[0] for r in con.execute("select reason from raw.rejected_rows order by source_line").fetchall()]
    assert reasons[0].startswith("both debit_amount and credit_amount set")
    assert reasons[1] == "neither debit_amount nor credit_amount set"


def test_unparseable_file_fails_whole_and_loads_nothing(con, tmp_path):
    inbox = tmp_path / "inbox"
    write(inbox / "well_production/good.csv", PRODUCTION_HEADER + "W1,2024-01,31,1,1,1\n")
    write(inbox / "well_production/wrong_layout.csv", "uwi,date,oil\nW1,2024-01,5\n")
    rep = ingest.ingest_inbox(con, inbox, "b1")
    bad = [f for f in rep.files if f.status == "failed"]
    assert [f.file_name for f in bad] == ["well_production/wrong_layout.csv"]
    assert "missing required column(s) well_id, production_month" in bad[0].error
    with pytest.raises(ingest.IngestError, match="wrong_layout.csv"):
        rep.raise_for_failures()
    assert counts(con, "well_production") == 1  # only the good file
    assert con.execute("select count(*) from metadata.ingested_files").fetchone()[0] == 1


def test_ragged_csv_fails_naming_the_file(con, tmp_path):
    inbox = tmp_path / "inbox"
    write(inbox / "well_production/ragged.csv", PRODUCTION_HEADER + "W1,2024-01,31,1,1,1\nW1,2024-02,28,1,1,1,9,9\n")
    rep = ingest.ingest_inbox(con, inbox, "b1")
    assert rep.files[0].status == "failed"
    assert rep.files[0].error == "cannot be parsed as CSV: line 3 has 8 fields, the header has 6 (delimiter ',')"
    assert counts(con, "well_production") == 0


def test_xlsx_and_parquet_inputs(con, tmp_path):
    inbox = tmp_path / "inbox"
    (inbox / "fx").mkdir(parents=True)
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["rate_month", "currency", "units_per_usd"])
    ws.append(["2024-01", "CAD", 1.35])
    ws.append(["2024-02", "EUR", -1])
    wb.save(inbox / "fx/fx.xlsx")
    (inbox / "prices").mkdir()
    pd.DataFrame({"price_month": ["2024-01", "2024-02"], "benchmark": ["WTI", "OPEC"],
                  "price_usd": [75.1, 70.0]}).to_parquet(inbox / "prices/deck.parquet")
    rep = ingest.ingest_inbox(con, inbox, "b1")
    by = {f.kind: f for f in rep.files}
    assert (by["fx"].rows_loaded, by["fx"].rows_rejected) == (1, 1)
    assert (by["prices"].rows_loaded, by["prices"].rows_rejected) == (1, 1)
    rej = dict(con.execute("select kind, reason || '@' || source_line from raw.rejected_rows").fetchall())
    assert rej["fx"] == "units_per_usd -1.0 is not positive@3"      # sheet row 3
    assert rej["prices"].startswith("unknown benchmark OPEC") and rej["prices"].endswith("@2")  # parquet row 2


def test_mapping_yml_metric_rates_year_month_semicolons(con, tmp_path):
    inbox = tmp_path / "inbox"
    write(inbox / "well_production/mapping.yml", """
files: "nor_*.csv"
delimiter: ";"
decimal: ","
columns: {well_id: Wellbore, days_on: Days, oil_bbl: OilRate, gas_mcf: GasRate, water_bbl: WaterRate}
date: {year: Yr, month: Mo}
units: {oil: Sm3, gas: Sm3, water: m3}
values: rates
""")
    write(inbox / "well_production/nor_2024.csv",
          "Wellbore;Yr;Mo;Days;OilRate;GasRate;WaterRate\nF-12;2024;1;10;100,0;1000;2,5\nF-12;2024;2;;5;5;5\n")
    f = ingest.ingest_inbox(con, inbox, "b1").files[0]
    assert (f.rows_loaded, f.rows_rejected) == (1, 1)
    oil, gas, water, month = con.execute(
        "select oil_bbl, gas_mcf, water_bbl, production_month::varchar from raw.well_production").fetchone()
    assert month == "2024-01-01"
    assert oil == pytest.approx(100.0 * 10 * 6.28981)            # Sm3/d x days x bbl/Sm3
    assert gas == pytest.approx(1000 * 10 * 35.3147 / 1000)      # Sm3/d x days x scf/Sm3 / 1000
    assert water == pytest.approx(2.5 * 10 * 6.28981)
    reason = con.execute("select reason from raw.rejected_rows").fetchone()[0]
    assert reason == "daily rates given but days_on missing"


def test_bad_mapping_fails_the_kind_naming_mapping_yml(con, tmp_path):
    inbox = tmp_path / "inbox"
    write(inbox / "well_production/mapping.yml", "colums: {well_id: UWI}\n")
    write(inbox / "well_production/p.csv", PRODUCTION_HEADER + "W1,2024-01,31,1,1,1\n")
    rep = ingest.ingest_inbox(con, inbox, "b1")
    assert rep.files[0].status == "failed"
    assert "mapping.yml" in rep.files[0].error and "colums" in rep.files[0].error


def test_unknown_folders_and_types_are_warned_not_dropped_silently(con, tmp_path):
    inbox = tmp_path / "inbox"
    write(inbox / "production/p.csv", PRODUCTION_HEADER)
    write(inbox / "well_production/notes.docx", "x")
    rep = ingest.ingest_inbox(con, inbox, "b1")
    text = " | ".join(rep.warnings)
    assert "production/: unknown kind folder" in text
    assert "notes.docx: unsupported file type" in text


@pytest.mark.skipif(not PRICES_DIR.exists(), reason=f"real EIA price files not present at {PRICES_DIR}")
def test_real_eia_prices_through_a_mapping(con, tmp_path):
    import shutil

    inbox = tmp_path / "inbox"
    (inbox / "prices").mkdir(parents=True)
    shutil.copy(PRICES_DIR / "wti-monthly.csv", inbox / "prices")
    shutil.copy(PRICES_DIR / "henry-hub-monthly.csv", inbox / "prices")
    write(inbox / "prices/mapping.yml", """
mappings:
  - files: "wti-monthly.csv"
    columns: {price_month: Date, price_usd: Price}
    constants: {benchmark: WTI}
  - files: "henry-hub-monthly.csv"
    columns: {price_month: Month, price_usd: Price}
    constants: {benchmark: HENRY_HUB}
""")
    rep = ingest.ingest_inbox(con, inbox, "b1")
    for f in rep.files:
        src_rows = sum(1 for _ in open(inbox / f.file_name)) - 1
        assert f.status == "loaded" and f.rows_read == src_rows == f.rows_loaded + f.rows_rejected
    apr2020 = con.execute("select price_usd from raw.price_deck where benchmark = 'WTI' "
                          "and price_month = date '2020-04-01'").fetchone()[0]
    assert 10 < apr2020 < 25  # the April 2020 collapse, as a monthly average


@pytest.mark.slow
@pytest.mark.skipif(not VOLVE_XLSX.exists(), reason=f"Volve workbook not present at {VOLVE_XLSX}")
def test_volve_kind_through_ingest_reconciles(con, tmp_path):
    import shutil

    inbox = tmp_path / "inbox"
    (inbox / "volve").mkdir(parents=True)
    shutil.copy(VOLVE_XLSX, inbox / "volve")
    f = ingest.ingest_inbox(con, inbox, "b1").files[0]
    assert f.status == "loaded"
    assert f.rows_read == f.rows_loaded + f.rows_rejected
    assert counts(con, "rejected_rows") == f.rows_rejected
    producers = con.execute("select count(distinct well_id) from raw.well_production").fetchone()[0]
    injectors = con.execute("select count(distinct well_id) from raw.well_injection").fetchone()[0]
    assert producers >= 6 and injectors >= 2
    assert con.execute("select max(days_on - day(last_day(production_month))) from raw.well_production"
                       ).fetchone()[0] <= 0


# --------------------------------------------------------------------------- validation paths and line numbers


def _loaded_and_rejected(con):
    loaded = con.execute("select well_id, production_month, days_on, oil_bbl, gas_mcf, water_bbl, _source_file, "
                         "_source_row from raw.well_production order by _source_row").fetchall()
    rejected = con.execute("select kind, source_file, source_line, reason, record from raw.rejected_rows "
                           "order by source_line").fetchall()
    return loaded, rejected


def test_values_with_spaces_blanks_and_retries_parse_as_trimmed_text(con, tmp_path):
    # the validator parses the text as received and retries on the trimmed text only where
    # that fails: the outcome must be that of parsing the trimmed text
    inbox = tmp_path / "inbox"
    lines = [
        " W1 , 2024-01 , 31 , 100.5 ,  , 7",        # 2 spaces around everything, a blank gas
        "W1, 2024-02-15 ,28,\t5,1,1",                # 3 a date with spaces (timestamp cast needs the trim)
        "W2,   ,28,1,1,1",                           # 4 a blank required month: missing
        "W2,2024-03,28,\t,1,1",                      # 5 a tab alone is not blank: unparseable
        "W2,2024-04, n/a ,1,1,1",                    # 6 unparseable, quoted without its spaces
        "   ,2024-05,31,1,1,1",                      # 7 a blank well_id: missing
    ]
    write(inbox / "well_production/p.csv", PRODUCTION_HEADER + "\n".join(lines) + "\n")
    f = ingest.ingest_inbox(con, inbox, "b1").files[0]
    assert (f.rows_read, f.rows_loaded, f.rows_rejected) == (6, 2, 4)
    loaded, rejected = _loaded_and_rejected(con)
    assert [r[:6] + (r[7],) for r in loaded] == [
        ("W1", pd.Timestamp("2024-01-01").date(), 31.0, 100.5, None, 7.0, 2),
        ("W1", pd.Timestamp("2024-02-01").date(), 28.0, 5.0, 1.0, 1.0, 3),
    ]
    assert [(r[2], r[3]) for r in rejected] == [
        (4, "missing production_month"),
        (5, 'unparseable number in oil_bbl: "\t"'),
        (6, 'unparseable number in days_on: "n/a"'),
        (7, "missing well_id"),
    ]
    assert json.loads(rejected[2][4])["days_on"] == " n/a "  # the row as received, spaces and all


def test_several_problems_in_one_row_are_all_named(con, tmp_path):
    inbox = tmp_path / "inbox"
    write(inbox / "well_production/p.csv", PRODUCTION_HEADER + "W1,2024-02,30,-1,x,-2\n")
    ingest.ingest_inbox(con, inbox, "b1")
    (reason,) = con.execute("select reason from raw.rejected_rows").fetchone()
    assert reason == ('unparseable number in gas_mcf: "x"; negative oil_bbl -1.0; negative water_bbl -2.0; '
                      "days_on 30.0 outside 0..29 for 2024-02")


def _misplaced_rows(con, like="%big.csv"):
    """(rows whose _source_row is not the line held in oil_bbl, rows stored out of file order)."""
    return con.execute(
        """select count(*) filter (where oil_bbl <> _source_row), count(*) filter (where _source_row <= prev)
           from (select oil_bbl, _source_row, lag(_source_row, 1, 0) over (order by rowid) as prev
                 from raw.well_production where _source_file like ?)""", [like]).fetchone()


def _big_production_csv(path, rows, bad_every):
    """A file spanning several DuckDB row groups (122,880 rows) with bad rows at known lines."""
    bad_lines, out = [], [PRODUCTION_HEADER.rstrip("\n")]
    for i in range(rows):
        line = i + 2
        if i % bad_every == 7:
            bad_lines.append(line)
            out.append(f"W{i // 12},2024-{i % 12 + 1:02d},10,n/a,{i},1")
        else:
            out.append(f"W{i // 12},2024-{i % 12 + 1:02d},10,{line},{i},1")
    write(path, "\n".join(out) + "\n")
    return bad_lines


def test_line_numbers_and_file_order_across_row_groups(con, tmp_path):
    # oil_bbl of every good row holds its own line number: _source_row must match it, the
    # raw table must hold the rows in file order (no ORDER BY in the load), and each
    # reject must name its line
    inbox = tmp_path / "inbox"
    bad = _big_production_csv(inbox / "well_production/big.csv", 300_000, 1_000)
    f = ingest.ingest_inbox(con, inbox, "b1").files[0]
    assert (f.rows_read, f.rows_loaded, f.rows_rejected) == (300_000, 300_000 - len(bad), len(bad))
    assert _misplaced_rows(con) == (0, 0)
    rej = con.execute("select source_line, record from raw.rejected_rows order by source_line").fetchall()
    assert [r[0] for r in rej] == bad
    assert all(json.loads(rec)["gas_mcf"] == str(line - 2) for line, rec in rej)


def test_a_clean_file_loads_in_parallel_with_its_lines_and_order(con, tmp_path, monkeypatch):
    # a file without rejects is read unnumbered (in parallel) and its lines set from the rows'
    # order afterwards: across row groups, every row must still carry its own line, in file order
    inbox = tmp_path / "inbox"
    _big_production_csv(inbox / "well_production/big.csv", 300_000, 10**9)   # one bad row, at line 9
    write(inbox / "well_production/big.csv",
          (inbox / "well_production/big.csv").read_text().replace(",n/a,", ",9,"))
    reloads = []
    real = ingest._Reload.__init__

    def spy(self, mode, why):
        reloads.append(why)
        real(self, mode, why)

    monkeypatch.setattr(ingest._Reload, "__init__", spy)
    f = ingest.ingest_inbox(con, inbox, "b1").files[0]
    assert (f.rows_read, f.rows_loaded, f.rows_rejected) == (300_000, 300_000, 0)
    assert reloads == []
    assert _misplaced_rows(con) == (0, 0)


def _clean_production_csv(path, rows, first_well=0):
    """A clean file, so read in parallel; oil_bbl of each row holds its own line."""
    out = [PRODUCTION_HEADER.rstrip("\n")]
    out += [f"W{first_well + i // 12},2024-{i % 12 + 1:02d},10,{i + 2},{i},1" for i in range(rows)]
    write(path, "\n".join(out) + "\n")


def _rows_of(con, name):
    return con.execute("select count(*) from raw.well_production where _source_file = ?", [name]).fetchone()[0]


def _recorded(con, name):
    return con.execute("select count(*) from metadata.ingested_files where file_name = ?", [name]).fetchone()[0]


#: a child process that loads an inbox and stops dead once a parallel load's rows are committed,
#: before they are numbered and the file recorded (os._exit: no cleanup, no rollback)
STOP_AFTER_ROWS_COMMITTED = """
import os, sys
from basinlab import ingest, warehouse
ingest._begin_numbered = lambda *args, **kwargs: os._exit(3)
con = warehouse.connect(sys.argv[1])
ingest.ingest_inbox(con, sys.argv[2], "b2")
"""


@pytest.mark.parametrize(("rows_before", "rows"), [(0, 7), (1_000, 130_000), (5, 2)],
                         ids=["first-file", "across-row-groups", "tiny"])
def test_a_load_stopped_between_its_two_commits_is_removed_and_loaded_again(tmp_path, rows_before, rows):
    # a parallel load commits the rows, then numbers them and records the file in a second
    # transaction: a process killed in between leaves rows no file record owns. Nothing may read
    # them, and the next ingest must remove them (saying so) and load the file once, lines right.
    import subprocess
    import sys

    from basinlab import warehouse

    db, inbox = tmp_path / "w.duckdb", tmp_path / "inbox"
    con = warehouse.connect(db)
    warehouse.migrate(con)
    if rows_before:
        _clean_production_csv(inbox / "well_production/a.csv", rows_before, first_well=10**6)
        ingest.ingest_inbox(con, inbox, "b1").raise_for_failures()
    con.close()
    _clean_production_csv(inbox / "well_production/big.csv", rows)
    child = subprocess.run([sys.executable, "-c", STOP_AFTER_ROWS_COMMITTED, str(db), str(inbox)],
                           capture_output=True, text=True, timeout=300)
    assert child.returncode == 3, child.stderr
    con = warehouse.connect(db)
    try:
        name = "well_production/big.csv"
        assert (_rows_of(con, name), _recorded(con, name)) == (rows, 0)    # committed, owned by no record
        rep = ingest.ingest_inbox(con, inbox, "b3")
        rep.raise_for_failures()
        assert [w for w in rep.warnings if "removed" in w] == [
            f"{name}: removed {rows:,} row(s) of raw.well_production that a load stopped before it recorded "
            f"the file (file_id {1 + bool(rows_before)}); a file still in the inbox loads again"]
        (f,) = [f for f in rep.files if f.file_name == name]
        assert (f.status, f.rows_loaded, f.version) == ("loaded", rows, 1)
        assert (_rows_of(con, name), _recorded(con, name)) == (rows, 1)
        assert _misplaced_rows(con) == (0, 0)
        assert _rows_of(con, "well_production/a.csv") == rows_before
        assert _misplaced_rows(con, "%a.csv") == (0, 0)
        assert ingest.drop_unrecorded_rows(con) == []
    finally:
        con.close()


@pytest.mark.parametrize("stop", [KeyboardInterrupt, ingest.duckdb.IOException], ids=["interrupted", "io-error"])
def test_a_failure_while_numbering_committed_rows_leaves_none_of_them(con, tmp_path, monkeypatch, stop):
    # the rows are committed before the transaction that numbers them and records the file: when
    # that transaction fails, the file must be gone from raw as if it never loaded
    inbox = tmp_path / "inbox"
    _clean_production_csv(inbox / "well_production/a.csv", 40, first_well=10**6)
    ingest.ingest_inbox(con, inbox, "b1").raise_for_failures()
    _clean_production_csv(inbox / "well_production/big.csv", 130_000)

    def fail(*args):
        raise stop("no space left on device")

    monkeypatch.setattr(ingest, "_number_lines", fail)
    if stop is KeyboardInterrupt:
        with pytest.raises(KeyboardInterrupt):
            ingest.ingest_inbox(con, inbox, "b2")
    else:
        (f,) = [f for f in ingest.ingest_inbox(con, inbox, "b2").files if f.file_name.endswith("big.csv")]
        assert (f.status, f.rows_loaded) == ("failed", 0)
        assert "no space left on device" in f.error
    name = "well_production/big.csv"
    assert (_rows_of(con, name), _recorded(con, name)) == (0, 0)
    assert ingest.drop_unrecorded_rows(con) == []
    monkeypatch.undo()
    rep = ingest.ingest_inbox(con, inbox, "b3")
    assert [(f.file_name, f.status, f.rows_loaded) for f in rep.files] == [
        ("well_production/a.csv", "duplicate", 0), (name, "loaded", 130_000)]
    assert _misplaced_rows(con) == (0, 0)
    assert _rows_of(con, "well_production/a.csv") == 40


def test_committed_rows_whose_rowids_give_no_order_are_loaded_again_numbered_as_read(con, tmp_path, monkeypatch):
    # the lines of a parallel load are counted from the rowids its rows take when committed; if
    # those are not dense the rows are deleted and the file read again with each row numbered
    inbox = tmp_path / "inbox"
    _clean_production_csv(inbox / "well_production/a.csv", 40, first_well=10**6)
    _clean_production_csv(inbox / "well_production/big.csv", 130_000)
    real, calls = ingest._number_lines, []

    def not_dense_once(con_, table, file_id, first_line):
        calls.append(file_id)
        return False if len(calls) == 2 else real(con_, table, file_id, first_line)

    monkeypatch.setattr(ingest, "_number_lines", not_dense_once)
    rep = ingest.ingest_inbox(con, inbox, "b1")
    assert [(f.status, f.rows_loaded) for f in rep.files] == [("loaded", 40), ("loaded", 130_000)]
    assert calls == [1, 2]
    assert _rows_of(con, "well_production/big.csv") == 130_000
    assert _misplaced_rows(con) == (0, 0)
    assert _misplaced_rows(con, "%a.csv") == (0, 0)


def _big_irregular_csv(path, rows, bad_every, rowid_column):
    """Like ``_big_production_csv`` but with leading and inner blank lines and quoted line breaks
    (or a column named rowid): the lines come from a line map, not from the row index."""
    out, line, bad_lines = [], 1, []
    if not rowid_column:
        out += ["", " "]
        line += 2
    out.append(("rowid," if rowid_column else "") + PRODUCTION_HEADER.rstrip("\n"))
    line += 1
    for i in range(rows):
        if not rowid_column and i % 5_000 == 4_999:
            out.append("")
            line += 1
        well = f'"W{i // 12}\nsecond line"' if not rowid_column and i % 7_000 == 3 else f"W{i // 12}"
        prefix = f"{10**6 - i}," if rowid_column else ""
        if i % bad_every == 7:
            bad_lines.append(line)
            out.append(f"{prefix}{well},2024-{i % 12 + 1:02d},10,n/a,{i},1")
        else:
            out.append(f"{prefix}{well},2024-{i % 12 + 1:02d},10,{line},{i},1")
        line += 1 + well.count("\n")
    write(path, "\n".join(out) + "\n")
    return bad_lines


@pytest.mark.parametrize("rowid_column", [False, True], ids=["blank-lines-and-quoted-breaks", "rowid-column"])
def test_line_numbers_and_file_order_through_a_line_map(con, tmp_path, rowid_column):
    inbox = tmp_path / "inbox"
    bad = _big_irregular_csv(inbox / "well_production/big.csv", 130_000, 997, rowid_column)
    f = ingest.ingest_inbox(con, inbox, "b1").files[0]
    assert (f.rows_read, f.rows_loaded, f.rows_rejected) == (130_000, 130_000 - len(bad), len(bad)), f
    assert _misplaced_rows(con) == (0, 0)
    assert [r[0] for r in con.execute("select source_line from raw.rejected_rows order by 1").fetchall()] == bad


def test_row_index_fallback_matches_the_rowid_path(con, tmp_path, monkeypatch):
    # rowids of the staged table are checked to be dense before the row index is taken as
    # rowid - first rowid; otherwise a window numbers the rows and the inserts sort on it.
    # Both must give the same rows, lines, reasons and records.
    from basinlab import warehouse

    inbox = tmp_path / "inbox"
    bad = _big_production_csv(inbox / "well_production/big.csv", 130_000, 997)
    lines = ["W1,2024-13,31,1,1,1", ",2024-02,28,1,1,1", "W3,2024-02,29.5,1,1,1"]
    write(inbox / "well_production/small.csv", PRODUCTION_HEADER + "\n".join(lines) + "\n")
    ingest.ingest_inbox(con, inbox, "b1").raise_for_failures()
    expected = _loaded_and_rejected(con)

    real = ingest.stage_file

    def not_dense(*args, **kwargs):
        staged = real(*args, **kwargs)
        staged.rowids_dense = False
        return staged

    monkeypatch.setattr(ingest, "stage_file", not_dense)
    con2 = warehouse.connect(tmp_path / "w2.duckdb")
    warehouse.migrate(con2)
    try:
        rep = ingest.ingest_inbox(con2, inbox, "b1")
        rep.raise_for_failures()
        assert _loaded_and_rejected(con2) == expected
        assert _misplaced_rows(con2) == (0, 0)
        assert rep.rows_rejected == len(bad) + 3
    finally:
        con2.close()


def test_line_numbers_hold_when_the_session_turned_insertion_order_off(con, tmp_path):
    inbox = tmp_path / "inbox"
    bad = _big_production_csv(inbox / "well_production/big.csv", 260_000, 5_000)
    con.execute("set preserve_insertion_order = false")
    f = ingest.ingest_inbox(con, inbox, "b1").files[0]
    assert (f.rows_loaded, f.rows_rejected) == (260_000 - len(bad), len(bad))
    assert _misplaced_rows(con) == (0, 0)
    assert [r[0] for r in con.execute("select source_line from raw.rejected_rows order by 1").fetchall()] == bad
    assert con.execute("select current_setting('preserve_insertion_order')").fetchone()[0] is False


def test_latin1_csv_through_a_mapping_and_a_clear_error_without_one(con, tmp_path):
    inbox = tmp_path / "inbox"
    body = "well_id,well_name,field\nNO-1,Sørlige Ålesund,Grieg\n"
    (inbox / "well_header").mkdir(parents=True)
    (inbox / "well_header" / "wells.csv").write_bytes(body.encode("latin-1"))
    rep = ingest.ingest_inbox(con, inbox, "b1")
    assert rep.files[0].status == "failed"
    assert "line 2 is not valid UTF-8" in rep.files[0].error and "encoding: latin-1" in rep.files[0].error
    write(inbox / "well_header/mapping.yml", "encoding: latin-1\n")
    rep = ingest.ingest_inbox(con, inbox, "b2")
    assert rep.files[0].status == "loaded", rep.files[0].error
    assert con.execute("select well_name from raw.well_header").fetchone()[0] == "Sørlige Ålesund"


def test_a_file_put_back_to_an_earlier_version_wins_again(con, tmp_path):
    inbox = tmp_path / "inbox"
    a = PRODUCTION_HEADER + "W1,2024-01,31,70,200,10\n"
    b = PRODUCTION_HEADER + "W1,2024-01,31,99,200,10\n"
    for batch, body in (("b1", a), ("b2", b), ("b3", a)):
        write(inbox / "well_production/p.csv", body)
        f = ingest.ingest_inbox(con, inbox, batch).files[0]
        assert f.status == "loaded", (batch, f.note)
    current = con.execute("""select p.oil_bbl, f.version from raw.well_production p join metadata.ingested_files f
                             on f.file_id = p._file_id where f.status = 'loaded'""").fetchall()
    assert current == [(70.0, 3)]


def test_a_hash_collision_takes_the_grouped_path_with_the_same_outcome(con, tmp_path, monkeypatch):
    # the repeated-key check only proves the absence of repeats; when it cannot (a hash collision),
    # the file is loaded again through the grouped path, which must give the same rows and rejects
    from basinlab import warehouse

    inbox = tmp_path / "inbox"
    lines = ["W1,2024-01,31,100,200,10", "W1,2024-13,31,1,1,1", ",2024-02,28,1,1,1", "W2,2024-02,20,-5,1,1",
             "W3,2024-03,31,12,3a,1", "W4,2024-04,30,,,", "W5,2024-04,30,1,1,1"]
    write(inbox / "well_production/p.csv", PRODUCTION_HEADER + "\n".join(lines) + "\n")
    plain = ingest.ingest_inbox(con, inbox, "b1").files[0]
    expected = _loaded_and_rejected(con)
    monkeypatch.setattr(ingest, "_may_repeat_a_key", lambda *a: True)
    con2 = warehouse.connect(tmp_path / "w2.duckdb")
    warehouse.migrate(con2)
    try:
        grouped = ingest.ingest_inbox(con2, inbox, "b1").files[0]
        assert (grouped.rows_read, grouped.rows_loaded, grouped.rows_rejected) == \
            (plain.rows_read, plain.rows_loaded, plain.rows_rejected) == (7, 3, 4)
        assert _loaded_and_rejected(con2) == expected
    finally:
        con2.close()



#: characters around which trimming decisions turn: DuckDB's trim removes the space and the Unicode
#: space separators (NBSP, U+1680, U+2000..U+200A, U+202F, U+205F, U+3000), nothing else
_TRIM_EDGE = " \t\n\r\x0b\x0c\x1f!~\x7f\xa0\u1680\u2000\u2007\u200a\u200b\u202f\u205f\u3000\ufeffaZé0,"


def _trim_shortcut_mismatches(values: list[str]) -> list[tuple[str, str | None, str | None]]:
    import duckdb

    c = duckdb.connect()
    c.execute("create table v (t varchar)")
    c.executemany("insert into v values (?)", [(v,) for v in values])
    return c.execute(f"select t, {ingest._trimmed_text('t')} as got, nullif(trim(t), '') as want from v "
                     "where got is distinct from want").fetchall()


def test_text_trim_shortcut_equals_nullif_trim_on_every_short_text():
    # text columns skip trim's string copy for plain values: the shortcut must give exactly
    # nullif(trim(t), '') for every text; every text of up to three characters around the edges
    edge = list(_TRIM_EDGE)
    values = [""] + edge + [a + b for a in edge for b in edge] + [a + "x" + b for a in edge for b in edge]
    assert _trim_shortcut_mismatches(values) == []


@settings(max_examples=40, deadline=None, derandomize=True)
@given(st.lists(st.text(alphabet=_TRIM_EDGE, min_size=1, max_size=12), min_size=1, max_size=50))
def test_text_trim_shortcut_equals_nullif_trim_on_generated_texts(values):
    assert _trim_shortcut_mismatches(values) == []


@settings(max_examples=25, deadline=None)
@given(rows=st.lists(st.tuples(st.sampled_from(["W1", " W1", "W2 ", "W3"]),
                               st.sampled_from(["2024-01", "2024-01-20", "2024/01", "2024-02"]),
                               st.sampled_from(["10", "12", "-5", "x"])), min_size=1, max_size=12))
def test_a_file_is_recorded_with_keys_unique_only_when_its_loaded_keys_are(rows):
    """metadata.ingested_files.keys_unique (which staging's dedup relies on) is true for a loaded file, and
    its loaded rows then hold each key — as staging compares keys: trimmed well, month — at most once,
    whatever duplicates (equal or differing), spellings of one month and bad rows the file had."""
    import tempfile
    from pathlib import Path

    from basinlab import warehouse

    with tempfile.TemporaryDirectory() as tmp:
        inbox = Path(tmp) / "inbox"
        write(inbox / "well_production/p.csv",
              PRODUCTION_HEADER + "".join(f"{w},{m},20,{oil},1,1\n" for w, m, oil in rows))
        con = warehouse.connect(Path(tmp) / "w.duckdb")
        try:
            warehouse.migrate(con)
            rep = ingest.ingest_inbox(con, inbox, "b1")
            assert rep.files[0].status == "loaded"
            flag, = con.execute("select keys_unique from metadata.ingested_files").fetchone()
            repeats = con.execute("select count(*) - count(distinct (trim(well_id), date_trunc('month', "
                                  "production_month))) from raw.well_production").fetchone()[0]
        finally:
            con.close()
    assert flag is True and repeats == 0
