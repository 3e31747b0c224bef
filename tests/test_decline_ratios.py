"""Secondary phases by ratio as a trend (basinlab.decline.ratios and rule 8 of forecast_wells).

Hand-built wells whose GOR is known: expected slopes, levels and volumes are derived here
from the construction (a log-linear GOR times a noise pattern orthogonal to time), and the
significance threshold is checked with scipy's linregress, never with the code under test.
"""
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import linregress

from basinlab.decline import ForecastConfig, RatioTrendRules, forecast_wells
from basinlab.decline.ratios import fit_ratio_trends, ratio_multiplier
from decline_support import exp_volumes, months

#: trends are opt-in (the SODIR backtests favour constant ratios): these tests turn them on
TREND = ForecastConfig(ratio_trend=RatioTrendRules(enabled=True))
#: a +a, -a, -a, +a pattern: sums to 0 and is orthogonal to time over whole periods of 4 months
PATTERN = np.array([1.0, -1.0, -1.0, 1.0])


def oil_gas_well(wid: str, n: int, gor0: float, slope_per_yr: float, amp: float, start: str = "2016-01"):
    """Oil on a clean 35 %/yr exponential; gas = oil x gor0 exp(slope t) x exp(amp x pattern)."""
    mon = months(start, n)
    oil = exp_volumes(800.0, 0.35, mon, mon[0])
    t = np.arange(n) / 12.0
    noise = amp * np.resize(PATTERN, n)
    gas = oil * gor0 * np.exp(slope_per_yr * t + noise)
    df = pd.DataFrame({"well_id": wid, "production_month": mon, "days_on": mon.days_in_month, "oil_bbl": oil,
                       "gas_mcf": gas, "water_bbl": np.zeros(n)})
    return df, mon, oil, gas


def _row(res, wid, phase):
    p = res.params
    return p[(p["well_id"] == wid) & (p["phase"] == phase)].iloc[0]


def _fc(res, wid, phase):
    f = res.forecast
    return f[(f["well_id"] == wid) & (f["phase"] == phase)].sort_values("month").reset_index(drop=True)


def _expected_gas(oil_fc: pd.DataFrame, mon: pd.DatetimeIndex, oil, gas, slope: float, hold_after: pd.Timestamp):
    """Gas forecast by the documented rule: oil x (Σgas/Σoil of the last 6 months) x exp(s (t - t_c))."""
    r_recent = gas[-6:].sum() / oil[-6:].sum()
    ords = (mon.year * 12 + mon.month - 1).to_numpy(float)
    t_c = np.mean((ords[-6:] + 0.5) / 12.0)
    fm = pd.DatetimeIndex(oil_fc["month"])
    t = ((fm.year * 12 + fm.month - 1).to_numpy(float) + 0.5) / 12.0
    t_hold = (hold_after.year * 12 + hold_after.month - 1) / 12.0
    return oil_fc["volume"].to_numpy() * r_recent * np.exp(slope * (np.minimum(t, t_hold) - t_c))


def test_rising_gor_is_forecast_along_its_trend():
    slope = 0.40                                        # GOR x1.49 a year
    df, mon, oil, gas = oil_gas_well("RISE", 48, 0.5, slope, 0.4)
    # the trend is significant over the last 24 months (scipy), and the noise makes gas's own fit poor
    lr = linregress(np.arange(24) / 12.0, np.log(gas[-24:] / oil[-24:]))
    assert lr.slope == pytest.approx(slope, abs=1e-9) and abs(lr.slope) / lr.stderr > 2.0
    res = forecast_wells(df, config=TREND)
    g = _row(res, "RISE", "gas")
    assert g["method"] == "ratio" and g["ratio_basis"] == "GOR trend"
    assert g["ratio_trend_per_yr"] == pytest.approx(np.expm1(slope), rel=1e-9)
    fo, fg = _fc(res, "RISE", "oil"), _fc(res, "RISE", "gas")
    start = pd.Timestamp("2020-01-01")
    expected = _expected_gas(fo, mon, oil, gas, slope, start + pd.DateOffset(years=5))
    np.testing.assert_allclose(fg["volume"].to_numpy(), expected, rtol=1e-9)
    # the GOR of the forecast rises month after month for five years, then holds
    gor = fg["volume"].to_numpy() / fo["volume"].to_numpy()
    assert np.all(np.diff(gor[:59]) > 0)
    assert gor[0] == pytest.approx(g["ratio_value"], rel=1e-9)
    np.testing.assert_allclose(gor[61:], gor[61], rtol=1e-9)
    assert "trend" in g["reason"] and "+49.2 %/yr" in g["reason"]


def test_flat_gor_stays_constant():
    df, mon, oil, gas = oil_gas_well("FLAT", 48, 2.5, 0.0, 0.45)
    lr = linregress(np.arange(24) / 12.0, np.log(gas[-24:] / oil[-24:]))
    assert abs(lr.slope) < 1e-9                         # no trend by construction
    res = forecast_wells(df, config=TREND)
    g = _row(res, "FLAT", "gas")
    assert g["method"] == "ratio" and g["ratio_basis"] == "GOR constant" and g["ratio_trend_per_yr"] == 0.0
    fo, fg = _fc(res, "FLAT", "oil"), _fc(res, "FLAT", "gas")
    np.testing.assert_allclose(fg["volume"].to_numpy(), fo["volume"].to_numpy() * gas[-6:].sum() / oil[-6:].sum(),
                               rtol=1e-9)
    assert "no significant trend over 24 months" in g["reason"]


@pytest.mark.parametrize("n, amp, slope", [(10, 0.45, 0.6), (48, 1.2, 0.2)])
def test_short_or_noisy_gor_falls_back_to_constant(n, amp, slope):
    """Ten months (too few for a trend, however steep) or a trend lost in its noise (|t| < 2)."""
    df, mon, oil, gas = oil_gas_well("NOISY", n, 0.5, slope, amp, start="2018-03")
    k = min(n, 24)
    lr = linregress(np.arange(k) / 12.0, np.log(gas[-k:] / oil[-k:]))
    assert n < 12 or abs(lr.slope) / lr.stderr < 2.0
    res = forecast_wells(df, config=TREND)
    g = _row(res, "NOISY", "gas")
    assert g["method"] == "ratio" and g["ratio_basis"] == "GOR constant" and g["ratio_trend_per_yr"] == 0.0
    assert g["ratio_value"] == pytest.approx(gas[-6:].sum() / oil[-6:].sum(), rel=1e-9)
    assert ("too few for a trend" if n < 12 else "no significant trend") in g["reason"]


def test_a_steep_trend_is_bounded():
    df, mon, oil, gas = oil_gas_well("STEEP", 48, 0.01, 1.5, 0.45)   # GOR x4.5 a year: bounded to x1.5
    g = _row(forecast_wells(df, config=TREND), "STEEP", "gas")
    assert g["ratio_basis"] == "GOR trend"
    assert g["ratio_trend_per_yr"] == pytest.approx(RatioTrendRules().max_change_per_yr, rel=1e-12)


def test_by_default_a_rising_gor_is_held_constant():
    df, mon, oil, gas = oil_gas_well("RISE", 48, 0.5, 0.4, 0.4)
    res = forecast_wells(df)
    g = _row(res, "RISE", "gas")
    assert g["ratio_basis"] == "GOR constant" and g["ratio_trend_per_yr"] == 0.0
    assert "trend" not in g["reason"]
    fo, fg = _fc(res, "RISE", "oil"), _fc(res, "RISE", "gas")
    np.testing.assert_allclose(fg["volume"].to_numpy(), fo["volume"].to_numpy() * gas[-6:].sum() / oil[-6:].sum(),
                               rtol=1e-9)


# ------------------------------------------------------------------ properties of the new math

ratios_st = st.lists(st.one_of(st.floats(1e-6, 1e6), st.just(0.0), st.just(np.nan), st.just(np.inf)),
                     min_size=0, max_size=40)


@settings(max_examples=150, deadline=None)
@given(groups=st.lists(ratios_st, min_size=1, max_size=4), min_t=st.floats(0.0, 5.0),
       max_change=st.floats(0.01, 3.0))
def test_fit_ratio_trends_is_bounded_finite_and_needs_enough_points(groups, min_t, max_change):
    rules = RatioTrendRules(enabled=True, min_t=min_t, max_change_per_yr=max_change)
    g = np.concatenate([np.full(len(v), i) for i, v in enumerate(groups)]).astype(np.int64)
    t = np.concatenate([np.arange(len(v)) / 12.0 for v in groups])
    r = np.concatenate([np.asarray(v, float) for v in groups]) if len(g) else np.zeros(0)
    tr = fit_ratio_trends(g, t, r, len(groups), rules)
    assert np.all(np.isfinite(tr.slope_per_yr))
    assert np.all(np.abs(tr.slope_per_yr) <= np.log1p(max_change) + 1e-12)
    for i, v in enumerate(groups):
        good = np.sum(np.isfinite(v) & (np.asarray(v, float) > 0))
        assert tr.n[i] == good
        if good < rules.min_months:
            assert not tr.is_trend[i] and tr.slope_per_yr[i] == 0.0
        if not tr.is_trend[i]:
            assert tr.slope_per_yr[i] == 0.0


@settings(max_examples=150, deadline=None)
@given(slope=st.floats(-0.7, 0.7), years=st.floats(0.0, 10.0), lag=st.floats(0.0, 2.0),
       ts=st.lists(st.floats(0.0, 60.0), min_size=1, max_size=30))
def test_ratio_multiplier_moves_one_way_and_holds_after_the_trend_years(slope, years, lag, ts):
    start = 100.0
    t = start + np.sort(np.asarray(ts))
    m = ratio_multiplier(np.full(len(t), slope), t, np.full(len(t), start - lag), np.full(len(t), start), years)
    assert np.all(np.isfinite(m)) and np.all(m > 0)
    d = np.diff(m)
    assert np.all(d >= -1e-12) if slope >= 0 else np.all(d <= 1e-12)
    held = t >= start + years
    if held.any():
        np.testing.assert_allclose(m[held], np.exp(slope * (years + lag)), rtol=1e-12)


@settings(max_examples=25, deadline=None)
@given(slope=st.floats(-0.8, 1.5), amp=st.floats(0.0, 1.5), n=st.integers(3, 60), gor0=st.floats(0.01, 50.0))
def test_ratio_forecasts_have_no_nan_and_monotone_cumulatives(slope, amp, n, gor0):
    df, *_ = oil_gas_well("P", n, gor0, slope, amp)
    res = forecast_wells(df, config=TREND)
    f = res.forecast
    assert np.isfinite(f[["volume", "rate_per_day", "cumulative"]].to_numpy(float)).all()
    for _, s in f.groupby(["well_id", "phase"]):
        assert (s["volume"] >= 0).all()
        assert (np.diff(s.sort_values("month")["cumulative"].to_numpy()) >= -1e-9).all()
    g = res.params[res.params["phase"] == "gas"].iloc[0]
    if g["method"] == "ratio":
        assert np.isfinite(g["ratio_value"]) and g["ratio_value"] > 0
        assert abs(g["ratio_trend_per_yr"]) <= RatioTrendRules().max_change_per_yr + 1e-12
