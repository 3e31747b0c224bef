"""The engineer's rules of basinlab.decline.forecast_wells on hand-built wells.

Each well is built from a known curve; the expected values are computed here from
that curve (closed-form exponential volumes), never from the code under test.
"""
import math

import numpy as np
import pandas as pd
import pytest

from basinlab.decline import ForecastConfig, forecast_wells
from basinlab.decline.engine import with_fit

DPY = 365.25


def months(start: str, n: int) -> pd.DatetimeIndex:
    return pd.date_range(start, periods=n, freq="MS")


def exp_volumes(q0: float, d_per_yr: float, mon: pd.DatetimeIndex, t0: pd.Timestamp) -> np.ndarray:
    """Exact monthly volumes of q(t) = q0 exp(-D t), t in days since t0 (D nominal per year)."""
    d = d_per_yr / DPY
    a = (mon - t0).days.to_numpy(float)
    e = (mon + pd.offsets.MonthBegin(1) - t0).days.to_numpy(float)
    return q0 / d * (np.exp(-d * a) - np.exp(-d * e))


def well(wid: str, mon, oil, gas=None, water=None, days=None) -> pd.DataFrame:
    n = len(mon)
    return pd.DataFrame({"well_id": wid, "production_month": mon,
                         "days_on": days if days is not None else mon.days_in_month,
                         "oil_bbl": oil, "gas_mcf": np.zeros(n) if gas is None else gas,
                         "water_bbl": np.zeros(n) if water is None else water})


def row(res, wid, phase="oil"):
    p = res.params
    return p[(p["well_id"] == wid) & (p["phase"] == phase)].iloc[0]


def fc_of(res, wid, phase="oil"):
    f = res.forecast
    return f[(f["well_id"] == wid) & (f["phase"] == phase)].sort_values("month")


def test_restimulation_starts_a_new_segment_and_the_forecast_follows_it():
    mon = months("2015-01", 60)
    before = exp_volumes(1000.0, 0.5, mon[:36], mon[0])
    after = exp_volumes(3000.0, 0.4, mon[36:], mon[36])
    res = forecast_wells(well("R", mon, np.r_[before, after]))
    r = row(res, "R")
    assert r["segment_rule"] == "rate_jump"
    assert pd.Timestamp(r["segment_start"]) == mon[36]
    assert pd.Timestamp(r["fit_start"]) == mon[36]
    # the next 12 months follow the post-jump curve
    nxt = months("2020-01", 12)
    expected = exp_volumes(3000.0, 0.4, nxt, mon[36])
    got = fc_of(res, "R")["volume"].to_numpy()[:12]
    np.testing.assert_allclose(got, expected, rtol=0.03)


def test_catch_up_row_before_a_gap_is_left_out_of_the_fit():
    mon = months("2016-01", 50)
    truth = exp_volumes(800.0, 0.35, mon, mon[0])
    keep = np.ones(50, bool)
    keep[25:33] = False                      # eight months not reported ...
    oil = truth.copy()
    oil[24] = truth[24:33].sum()             # ... booked in the month before the gap
    df = well("C", mon[keep], oil[keep])
    cfg = with_fit(ForecastConfig(), half_life_months=None)
    res = forecast_wells(df, config=cfg)
    r = row(res, "C")
    assert r["catchup_months"] == 1
    assert pd.Timestamp(r["fit_start"]) == mon[0]   # the catch-up row did not become the peak
    assert r["n_points"] == keep.sum() - 1
    nxt = months("2020-03", 6)
    np.testing.assert_allclose(fc_of(res, "C")["volume"].to_numpy()[:6], exp_volumes(800.0, 0.35, nxt, mon[0]),
                               rtol=0.03)


@pytest.mark.parametrize("mode", ["trend", "cut"])
def test_well_under_the_limit_is_below_limit_not_a_silent_zero(mode):
    mon = months("2019-01", 36)
    oil = exp_volumes(0.8, 0.10, mon, mon[0])     # 0.8 bbl/d falling: under the 1 bbl/d default limit
    cfg = ForecastConfig(below_limit=mode, below_limit_years=2.0)
    res = forecast_wells(well("L", mon, oil), config=cfg)
    r = row(res, "L")
    assert r["status"] == "below_limit" and r["method"] == "below_limit"
    assert "under the economic limit" in r["reason"]
    f = fc_of(res, "L")
    if mode == "trend":
        assert len(f) == 24
        expected = exp_volumes(0.8, 0.10, months("2022-01", 24), mon[0])
        np.testing.assert_allclose(f["volume"].to_numpy(), expected, rtol=0.03)
        assert r["remaining"] == pytest.approx(expected.sum(), rel=0.03)
    else:
        assert f.empty and r["remaining"] == 0.0


def test_poor_fit_above_its_last_months_is_anchored_to_the_recent_rate():
    mon = months("2018-01", 40)
    oil = exp_volumes(500.0, 0.3, mon, mon[0])
    oil[-3:] *= 0.55                              # choked back: the last three months at 55 %
    res = forecast_wells(well("A", mon, oil), config=ForecastConfig(anchor_months=3))
    r = row(res, "A")
    assert r["method"] == "anchored_curve"
    recent = (oil[-3:] / mon[-3:].days_in_month.to_numpy()).mean()
    assert r["anchor_rate"] == pytest.approx(recent, rel=1e-9)
    assert r["anchor_factor"] < 0.75
    # first forecast month continues from the recent rate (at most ~3 months of 30 %/yr decline below it)
    first = fc_of(res, "A").iloc[0]
    assert recent * math.exp(-0.3 * 3 / 12) * 0.97 < first["rate_per_day"] <= recent * 1.01


def test_gas_with_a_stable_gor_and_a_poor_own_fit_is_forecast_by_ratio():
    mon = months("2017-01", 48)
    oil = exp_volumes(600.0, 0.4, mon, mon[0])
    rng = np.random.default_rng(3)
    gas = oil * 2.5 * np.exp(rng.normal(0.0, 0.6, 48))   # GOR 2.5 on average, measured very noisily
    res = forecast_wells(well("G", mon, oil, gas=gas))
    g = row(res, "G", "gas")
    assert g["status"] == "ratio" and g["method"] == "ratio" and g["ratio_basis"] == "GOR"
    expected_ratio = gas[-6:].sum() / oil[-6:].sum()
    assert g["ratio_value"] == pytest.approx(expected_ratio, rel=1e-9)
    fo, fg = fc_of(res, "G", "oil"), fc_of(res, "G", "gas")
    np.testing.assert_allclose(fg["volume"].to_numpy(), fo["volume"].to_numpy() * expected_ratio, rtol=1e-9)


def test_forecast_as_of_a_past_month_ignores_later_rows_and_reproduces_itself():
    mon = months("2016-01", 60)
    oil = exp_volumes(900.0, 0.45, mon, mon[0]) * np.exp(np.random.default_rng(1).normal(0, 0.05, 60))
    full = well("H", mon, oil)
    later = full.copy()
    later.loc[later["production_month"] > "2019-06-01", "oil_bbl"] *= 3.0   # what happened later
    a = forecast_wells(full, as_of="2019-06")
    b = forecast_wells(later, as_of="2019-06")
    c = forecast_wells(full[full["production_month"] <= "2019-06-01"])
    for x in (b, c):
        pd.testing.assert_frame_equal(a.forecast, x.forecast)
    assert pd.Timestamp(a.forecast["month"].min()) == pd.Timestamp("2019-07-01")


def test_inactive_well_is_not_forecast_and_says_so():
    mon = months("2018-01", 30)
    df = well("I", mon, exp_volumes(300.0, 0.3, mon, mon[0]))
    other = well("J", months("2018-01", 40), exp_volumes(300.0, 0.3, months("2018-01", 40), mon[0]))
    res = forecast_wells(pd.concat([df, other]))
    r = row(res, "I")
    assert r["status"] == "inactive" and pd.isna(r["method"]) and r["remaining"] == 0.0
    assert "no oil production since 2020-06" in r["reason"]
