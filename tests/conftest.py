"""Shared fixtures: small deterministic inputs each test builds itself."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("PLOOMBER_STATS_ENABLED", "false")

from basinlab import config, warehouse  # noqa: E402

VOLVE_XLSX = config.SHARED_DATA_DIR / "volve" / "Volve production data.xlsx"
PRICES_DIR = config.SHARED_DATA_DIR / "prices"


@pytest.fixture
def con(tmp_path):
    """A migrated warehouse in a temp dir."""
    c = warehouse.connect(tmp_path / "w.duckdb")
    warehouse.migrate(c)
    yield c
    c.close()


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


PRODUCTION_HEADER = "well_id,production_month,days_on,oil_bbl,gas_mcf,water_bbl\n"
