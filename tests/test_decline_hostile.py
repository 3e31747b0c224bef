"""One well must never stop the decline step: generated hostile wells (issue 7).

Hypothesis builds batches of wells with one month, zeros, tiny and huge volumes,
gaps, all-null phases, NaN / inf that slipped through, odd days on; the step
must never raise, give every well and phase a status and a reason, and forecast
only finite, non-negative volumes -- and every well producing at the as-of month
gets a forecast (a method) unless its status says why not.
"""
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from basinlab import generate_demo, ingest_inbox, run_models, warehouse
from basinlab.decline import ForecastConfig, forecast_wells
from basinlab.decline.engine import FORECAST_STATUSES, METHODS
from basinlab.decline.step import fit_warehouse

VALUES = st.one_of(
    st.just(0.0), st.just(np.nan), st.just(np.inf), st.just(-np.inf), st.just(-5.0), st.just(None),
    st.floats(1e-9, 1e-3), st.floats(1.0, 5e4), st.floats(1e9, 1e300),
)
DAYS = st.one_of(st.just(None), st.just(np.nan), st.just(0.0), st.floats(0.5, 31.0), st.just(45.0))


@st.composite
def hostile_well(draw, wid: str):
    n = draw(st.integers(1, 30))
    start = draw(st.integers(0, 40))
    keep = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    keep[-1] = True
    mon = pd.date_range("2020-01-01", periods=start + n, freq="MS")[start:]
    base = draw(st.floats(0.01, 3000.0))
    decline = np.exp(-np.arange(n) * draw(st.floats(0.0, 0.2)))
    rows = []
    for i, m in enumerate(mon):
        if not keep[i]:
            continue
        def vol(phase_null, i=i):
            if phase_null:
                return None
            return draw(VALUES) if draw(st.booleans()) and draw(st.booleans()) else base * decline[i] * 30
        rows.append({"well_id": wid, "production_month": m, "days_on": draw(DAYS),
                     "oil_bbl": vol(draw(st.booleans()) and draw(st.booleans())),
                     "gas_mcf": vol(draw(st.booleans())), "water_bbl": vol(draw(st.booleans()))})
    return rows


@st.composite
def batch(draw):
    k = draw(st.integers(1, 5))
    rows = []
    for i in range(k):
        rows += draw(hostile_well(f"H{i}"))
    # a sane neighbour so analogs and ratios have something to work with
    mon = pd.date_range("2020-01-01", periods=48, freq="MS")
    q = 400 * np.exp(-0.04 * np.arange(48))
    rows += [{"well_id": "OK", "production_month": m, "days_on": m.days_in_month, "oil_bbl": v * 30,
              "gas_mcf": v * 60, "water_bbl": v * 10} for m, v in zip(mon, q)]
    return pd.DataFrame(rows)


@pytest.mark.slow
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(batch(), st.sampled_from(["trend", "cut"]))
def test_hostile_wells_never_stop_the_batch(df, below):
    cfg = ForecastConfig(below_limit=below, samples=40)
    res = forecast_wells(df, config=cfg)
    p, f = res.params, res.forecast
    wells = set(df["well_id"])
    assert set(p["well_id"]) == wells
    assert len(p) == 3 * len(wells)
    assert p["status"].isin(FORECAST_STATUSES).all()
    assert p["reason"].notna().all()
    assert p["method"].dropna().isin(METHODS).all()
    for col in ("volume", "rate_per_day", "cumulative", "volume_p10", "volume_p90"):
        v = f[col].to_numpy(np.float64)
        assert np.isfinite(v).all() and (v >= 0).all(), col
    for col in ("remaining", "eur", "remaining_p10", "remaining_p90"):
        v = p[col].dropna().to_numpy(np.float64)
        assert np.isfinite(v).all() and (v >= 0).all(), col
    # every phase producing in the as-of month gets a forecast unless its status says why not
    as_of = pd.to_datetime(df["production_month"]).max()
    for ph, col in (("oil", "oil_bbl"), ("gas", "gas_mcf"), ("water", "water_bbl")):
        v = pd.to_numeric(df[col], errors="coerce")
        d = pd.to_numeric(df["days_on"], errors="coerce")
        ok = (pd.to_datetime(df["production_month"]) == as_of) & np.isfinite(v) & (v > 0) & (v <= 1e12) \
            & ~(d <= 0)
        for w in set(df.loc[ok, "well_id"]):
            r = p[(p["well_id"] == w) & (p["phase"] == ph)].iloc[0]
            assert r["method"] is not None and isinstance(r["method"], str), (w, ph, r["status"], r["reason"])


@pytest.mark.slow
def test_one_new_low_rate_well_does_not_stop_the_step(tmp_path):
    """Issue 7: `NEW-1,2024-06,30,5,5,5` beside real wells made the step raise IndexError."""
    inbox = tmp_path / "inbox"
    generate_demo(inbox, wells=8, months=24, end_month="2024-06", seed=2)
    (inbox / "well_production" / "new.csv").write_text(
        "well_id,production_month,days_on,oil_bbl,gas_mcf,water_bbl\nNEW-1,2024-06,30,5,5,5\n")
    con = warehouse.connect(tmp_path / "w.duckdb")
    warehouse.migrate(con)
    ingest_inbox(con, inbox, "b1")
    run_models(con, run_id="r")
    res = fit_warehouse(con, run_id="r")
    new = res.params[res.params["well_id"] == "NEW-1"].set_index("phase")
    assert set(new.index) == {"oil", "gas", "water"}
    assert new.loc["oil", "method"] is not None          # forecast, with its status and reason
    assert new.loc["oil", "status"] in ("analog", "below_limit")
    stored = con.execute("select count(*) from marts.decline_params where well_id = 'NEW-1'").fetchone()[0]
    assert stored == 3
    con.close()
