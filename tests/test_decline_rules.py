"""The engineer's rules of basinlab.decline.forecast_wells on hand-built wells.

Each well is built from a known curve; the expected values are computed here from
that curve (closed-form exponential volumes), never from the code under test.
"""
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import linregress

from basinlab.decline import ForecastConfig, forecast_wells
from basinlab.decline.engine import with_fit
from decline_support import exp_volumes, months


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
    # the noise has no significant trend over the last 24 months (checked here with scipy): constant GOR
    assert abs(linregress(np.arange(24) / 12.0, np.log(gas[-24:] / oil[-24:])).slope) < 2 * linregress(
        np.arange(24) / 12.0, np.log(gas[-24:] / oil[-24:])).stderr
    assert g["status"] == "ratio" and g["method"] == "ratio" and g["ratio_basis"] == "GOR constant"
    assert g["ratio_trend_per_yr"] == 0.0
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


def _field_with(new: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Three long exponential wells (30 %/yr nominal) in field F, plus ``new`` (also in F)."""
    mon = months("2015-01", 60)
    old = [well(f"OLD{i}", mon, exp_volumes(q, 0.3, mon, mon[0])) for i, q in enumerate((500.0, 800.0, 1200.0))]
    prod = pd.concat(old + [new], ignore_index=True)
    header = pd.DataFrame({"well_id": prod["well_id"].unique(), "field": "F"})
    return prod, header


def test_short_history_still_ramping_up_declines_from_its_demonstrated_rate_from_now():
    mon = months("2019-08", 5)
    rates = np.array([100.0, 400.0, 600.0, 800.0, 900.0])     # online mid-month, then rising
    prod, header = _field_with(well("NEW", mon, rates * mon.days_in_month.to_numpy()))
    res = forecast_wells(prod, header, as_of="2019-12")
    r = row(res, "NEW")
    assert r["method"] == "analog"
    demonstrated = (600.0 + 800.0 + 900.0) / 3.0      # last three producing months; the partial first is not one
    assert r["anchor_rate"] == pytest.approx(demonstrated, rel=1e-9)
    assert r["anchor_rule"].startswith("ramp-up") and "ramping up" in r["reason"]
    assert pd.Timestamp(r["t0_month"]) == pd.Timestamp("2020-01-01")
    # the analog's 30 %/yr decline (the field's fitted shape) starts at the forecast start
    nxt = months("2020-01", 12)
    np.testing.assert_allclose(fc_of(res, "NEW")["volume"].to_numpy()[:12],
                               exp_volumes(demonstrated, 0.3, nxt, nxt[0]), rtol=0.03)


def test_short_history_already_declining_keeps_the_analog_from_its_peak():
    mon = months("2019-08", 5)
    rates = np.array([300.0, 900.0, 850.0, 780.0, 720.0])
    prod, header = _field_with(well("NEW", mon, rates * mon.days_in_month.to_numpy()))
    r = row(forecast_wells(prod, header, as_of="2019-12"), "NEW")
    assert r["method"] == "analog"
    assert not str(r["anchor_rule"]).startswith("ramp-up")
    assert pd.Timestamp(r["t0_month"]) < pd.Timestamp("2020-01-01")
    off = row(forecast_wells(prod, header, as_of="2019-12", config=ForecastConfig(ramp_up=False)), "NEW")
    assert off["qi"] == pytest.approx(r["qi"], rel=1e-12)


@settings(max_examples=200, deadline=None)
@given(series=st.lists(st.lists(st.floats(1e-3, 1e6), min_size=1, max_size=15), min_size=1, max_size=5),
       k=st.integers(1, 6))
def test_ramp_up_flags_and_rates_match_the_rule_written_out(series, k):
    from basinlab.decline.engine import _ramp_up
    row = np.concatenate([np.full(len(s), i) for i, s in enumerate(series)]).astype(np.int64)
    q = np.concatenate([np.asarray(s, float) for s in series])
    ramping, rate = _ramp_up(row, q, len(series), k)
    for i, s in enumerate(series):
        v = np.asarray(s, float)
        used = v[1:] if len(v) > 1 else v          # the partial first month is left out when there are others
        last = used[-k:]
        expect = last.max() >= used.max()
        assert ramping[i] == expect
        if expect:
            assert rate[i] == pytest.approx(last.mean(), rel=1e-12) and rate[i] > 0
        else:
            assert np.isnan(rate[i])
