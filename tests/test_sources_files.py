"""File adapters against real public files: the SODIR monthly field production through the shipped mapping."""
from __future__ import annotations

import csv
import shutil

import pytest

from basinlab import config, ingest
from basinlab.units import BBL_PER_M3, SCF_PER_MCF, SCF_PER_SM3

SODIR_CSV = config.SHARED_DATA_DIR / "sodir" / "field_production_monthly.csv"
SODIR_MAPPING = config.REPO_ROOT / "data" / "examples" / "sodir" / "mapping.yml"


def test_the_sodir_example_mapping_is_shipped_and_valid():
    from basinlab.sources import canonical, files

    (m,) = files.load_mappings(SODIR_MAPPING.parent, canonical.KINDS["well_production"])
    assert m.error is None
    assert m.factors() == {"oil_bbl": 1e6 * BBL_PER_M3, "gas_mcf": 1e9 * SCF_PER_SM3 / SCF_PER_MCF,
                           "water_bbl": 1e6 * BBL_PER_M3}
    assert files.mapping_for(SODIR_CSV, [m]) is m


@pytest.mark.skipif(not SODIR_CSV.exists(), reason=f"SODIR field production not present at {SODIR_CSV} "
                                                    "(the shared public data folder is absent)")
def test_sodir_field_production_loads_through_the_example_mapping(con, tmp_path):
    inbox = tmp_path / "inbox"
    (inbox / "well_production").mkdir(parents=True)
    shutil.copy(SODIR_CSV, inbox / "well_production")
    shutil.copy(SODIR_MAPPING, inbox / "well_production")
    (f,) = ingest.ingest_inbox(con, inbox, "b1").files
    assert f.status == "loaded", f.error

    # the expectation, computed from the CSV here: a row loads when its three volumes are numbers >= 0
    read, ok, oil, gas, water, fields = 0, 0, 0.0, 0.0, 0.0, set()
    with open(SODIR_CSV, newline="", encoding="utf-8-sig") as fh:
        for row in csv.DictReader(fh):
            read += 1
            vols = [float(row[c]) for c in ("prfPrdOilNetMillSm3", "prfPrdGasNetBillSm3",
                                            "prfPrdProducedWaterInFieldMillSm3")]
            if min(vols) < 0:
                continue
            ok += 1
            oil += vols[0]
            gas += vols[1]
            water += vols[2]
            fields.add(row["prfInformationCarrier"])
    assert (f.rows_read, f.rows_loaded, f.rows_rejected) == (read, ok, read - ok)
    got = con.execute("select sum(oil_bbl), sum(gas_mcf), sum(water_bbl), count(distinct well_id), "
                      "min(production_month), max(production_month) from raw.well_production").fetchone()
    assert got[0] == pytest.approx(oil * 1e6 * BBL_PER_M3, rel=1e-9)                  # million Sm3 -> bbl
    assert got[1] == pytest.approx(gas * 1e9 * SCF_PER_SM3 / SCF_PER_MCF, rel=1e-9)   # billion Sm3 -> mcf
    assert got[2] == pytest.approx(water * 1e6 * BBL_PER_M3, rel=1e-9)
    assert got[3] == len(fields)
    assert got[4].year == 1971
    reasons = {r[0] for r in con.execute("select reason from raw.rejected_rows").fetchall()}
    assert reasons and all(r.startswith("negative ") for r in reasons)
