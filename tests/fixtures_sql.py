"""Small hand-made warehouses for the transform and quality tests.

``new_warehouse()`` gives an in-memory (or file) DuckDB with the migrations applied;
``add_file()`` registers a source file in metadata.ingested_files and inserts its rows
into a raw table with the lineage columns filled in, the way ingest does.
"""
from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

REPO = Path(__file__).resolve().parents[1]
MIGRATIONS = REPO / "sql" / "migrations"

_file_ids = itertools.count(1)
_T0 = datetime(2024, 7, 1, 8, 0, 0)


def migrate(con) -> None:
    """Apply sql/migrations (switch to basinlab.warehouse.migrate once it lands)."""
    try:
        from basinlab import warehouse  # type: ignore

        if hasattr(warehouse, "migrate"):
            warehouse.migrate(con)
            return
    except ImportError:
        pass
    for path in sorted(MIGRATIONS.glob("V*.sql")):
        con.execute(path.read_text())


def new_warehouse(path: str | Path = ":memory:"):
    con = duckdb.connect(str(path))
    migrate(con)
    return con


RAW_KIND = {
    "well_header": "well_header",
    "well_production": "well_production",
    "gl_records": "gl",
    "price_deck": "prices",
    "currency_rates": "fx",
    "well_injection": "well_production",
}


def add_file(
    con,
    table: str,
    rows: list[dict[str, Any]],
    file_name: str | None = None,
    version: int = 1,
    status: str = "loaded",
    ingested_at: datetime | None = None,
    keys_unique: bool | None = None,
) -> int:
    """Insert ``rows`` into ``raw.<table>`` as one ingested file; returns its file_id. ``keys_unique``:
    ingest proved the file's keys unique (as :func:`basinlab.ingest.ingest_file` records it)."""
    file_id = con.execute("select coalesce(max(file_id), 0) + 1 from metadata.ingested_files").fetchone()[0]
    file_name = file_name or f"{RAW_KIND[table]}/{table}_{file_id}.csv"
    ingested_at = ingested_at or (_T0 + timedelta(minutes=file_id))
    batch_id = f"batch-{file_id}"
    con.execute(
        "insert into metadata.ingested_files (file_id, kind, file_name, sha256, size_bytes, version, status, "
        "superseded_by, rows_read, rows_loaded, rows_rejected, batch_id, ingested_at, seconds, keys_unique) "
        "values (?, ?, ?, ?, 0, ?, ?, null, ?, ?, 0, ?, ?, 0.0, ?)",
        [file_id, RAW_KIND[table], file_name, f"sha{file_id}", version, status, len(rows), len(rows), batch_id,
         ingested_at, keys_unique],
    )
    for i, row in enumerate(rows, start=2):
        cols = list(row) + ["_source_file", "_source_row", "_file_id", "_batch_id", "_ingested_at"]
        vals = list(row.values()) + [file_name, i, file_id, batch_id, ingested_at]
        con.execute(
            f"insert into raw.{table} ({', '.join(cols)}) values ({', '.join('?' for _ in cols)})", vals
        )
    return file_id


def supersede(con, old_file_id: int, new_file_id: int) -> None:
    con.execute(
        "update metadata.ingested_files set status = 'superseded', superseded_by = ? where file_id = ?",
        [new_file_id, old_file_id],
    )


def header(well_id: str, field: str = "F1", basin: str = "B1", wi: float = 1.0, nri: float = 0.8, **kw) -> dict:
    row = {
        "well_id": well_id, "well_name": f"Well {well_id}", "operator": "Demo Op", "field": field,
        "county": "C", "state": "TX", "basin": basin, "first_production_month": "2024-01-01",
        "lateral_length_ft": 10000.0, "working_interest": wi, "net_revenue_interest": nri,
        "well_type": "producer",
    }
    row.update(kw)
    return row


def prod(well_id: str, month: str, oil: float = 0.0, gas: float = 0.0, water: float = 0.0,
         days_on: float | None = None) -> dict:
    return {
        "well_id": well_id, "production_month": f"{month}-01", "days_on": days_on,
        "oil_bbl": oil, "gas_mcf": gas, "water_bbl": water,
    }


def gl(journal: str, line: int, date: str, account: str, debit: float = 0.0, credit: float = 0.0,
       well_id: str | None = None, partner_id: str | None = None, currency: str = "USD",
       afe: str | None = None) -> dict:
    return {
        "journal_id": journal, "line_number": line, "transaction_date": date, "account_code": account,
        "account_name": None, "description": None, "well_id": well_id, "afe_number": afe,
        "partner_id": partner_id, "debit_amount": debit or None, "credit_amount": credit or None,
        "currency": currency,
    }


def price(month: str, benchmark: str, usd: float) -> dict:
    return {"price_month": f"{month}-01", "benchmark": benchmark, "price_usd": usd}


def fx(month: str, currency: str, units_per_usd: float) -> dict:
    return {"rate_month": f"{month}-01", "currency": currency, "units_per_usd": units_per_usd}
