"""Tests of basinlab.decline: models vs petbox-dca, properties, fitting, forecasts, type curves.

Expected values are derived independently of the code under test: petbox-dca (an
independent implementation), numerical quadrature / differentiation, textbook
closed forms written out here, or known synthetic truths.
"""

from __future__ import annotations

import math
import warnings
from datetime import datetime

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.integrate import quad

from basinlab import config
from basinlab.decline import (
    DAYS_PER_YEAR,
    Duong,
    Exponential,
    FitConfig,
    Harmonic,
    Hyperbolic,
    ModifiedHyperbolic,
    StretchedExponential,
    fit,
    fit_wells,
    forecast,
    nominal_to_secant,
    nominal_to_tangent,
    secant_to_nominal,
    tangent_to_nominal,
    type_curves,
)

try:
    from petbox import dca
except ImportError as exc:  # the reference must not vanish quietly: the models would go unchecked
    raise ImportError(
        "tests/test_decline.py checks the decline models against petbox-dca, which is not installed: "
        "install the dev extras (`make install-dev`, or `pip install -e '.[dev]'`) or `pip install petbox-dca`"
    ) from exc

T_GRID = np.array([0.5, 1.0, 7.0, 30.0, 91.3, 365.25, 1000.0, 2500.0, 5000.0, 10957.5, 18262.5])


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300)))


# ---------------------------------------------------------------------------
# models vs petbox-dca
# ---------------------------------------------------------------------------

MH_GRID = [
    (qi, di, b, dterm)
    for qi in (50.0, 1000.0)
    for di in (0.05, 0.4, 0.8, 0.95)
    for b in (0.0, 0.3, 0.999, 1.0, 1.5, 2.0)
    for dterm in (0.0, 0.06, 0.12)
    if secant_to_nominal(di, b) > tangent_to_nominal(dterm)
]


@pytest.mark.parametrize("qi,di,b,dterm", MH_GRID)
def test_modified_hyperbolic_matches_petbox(qi: float, di: float, b: float, dterm: float) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # petbox warns "Dterm ignored" at b = 0
        ref = dca.MH(qi, di, b, dterm)
    ours = ModifiedHyperbolic(qi, di, b, dterm)
    assert _rel(ours.rate(T_GRID), ref.rate(T_GRID)) < 1e-6
    assert _rel(ours.cum(T_GRID), ref.cum(T_GRID)) < 1e-6
    assert _rel(ours.D(T_GRID), ref.D(T_GRID)) < 1e-6
    q_targets = np.array([qi * 0.5, qi * 0.05, 1.0])
    assert _rel(ours.time_at_rate(q_targets), ref.time_at_rate(q_targets)) < 1e-6


@pytest.mark.parametrize("di", [0.1, 0.5, 0.9])
@pytest.mark.parametrize("b", [0.0, 0.5, 1.0, 1.8])
def test_arps_family_matches_petbox_hyperbolic(di: float, b: float) -> None:
    ref = dca.Hyperbolic(800.0, di, b)
    assert _rel(Hyperbolic(800.0, di, b).rate(T_GRID), ref.rate(T_GRID)) < 1e-6
    assert _rel(Hyperbolic(800.0, di, b).cum(T_GRID), ref.cum(T_GRID)) < 1e-6
    if b == 0.0:
        assert _rel(Exponential(800.0, di).cum(T_GRID), ref.cum(T_GRID)) < 1e-6
    if b == 1.0:
        assert _rel(Harmonic(800.0, di).rate(T_GRID), ref.rate(T_GRID)) < 1e-6
        assert _rel(Harmonic(800.0, di).cum(T_GRID), ref.cum(T_GRID)) < 1e-6


@pytest.mark.parametrize("qi,a,m", [(500.0, 1.2, 1.1), (2000.0, 2.0, 1.3), (100.0, 1.0, 1.05)])
def test_duong_matches_petbox(qi: float, a: float, m: float) -> None:
    ref = dca.Duong(qi, a, m)
    ours = Duong(qi, a, m)
    assert _rel(ours.rate(T_GRID), ref.rate(T_GRID)) < 1e-6
    assert _rel(ours.cum(T_GRID), ref.cum(T_GRID)) < 1e-6
    t = ours.time_at_rate(qi * 0.1)
    assert float(ours.rate(t)) == pytest.approx(qi * 0.1, rel=1e-6)


@pytest.mark.parametrize("qi,tau,n", [(500.0, 100.0, 0.3), (1000.0, 1000.0, 0.6), (100.0, 50.0, 0.95)])
def test_stretched_exponential_matches_petbox(qi: float, tau: float, n: float) -> None:
    ref = dca.SE(qi, tau, n)
    ours = StretchedExponential(qi, tau, n)
    assert _rel(ours.rate(T_GRID), ref.rate(T_GRID)) < 1e-6
    assert _rel(ours.cum(T_GRID), ref.cum(T_GRID)) < 1e-6
    t = ours.time_at_rate(qi * 0.2)
    assert float(ours.rate(t)) == pytest.approx(qi * 0.2, rel=1e-9)


# ---------------------------------------------------------------------------
# closed forms and limits
# ---------------------------------------------------------------------------


def test_exponential_textbook_closed_form() -> None:
    qi, di = 700.0, 0.35
    d = -math.log(1 - di) / 365.25  # nominal per day
    t = T_GRID
    m = Exponential(qi, di)
    np.testing.assert_allclose(m.rate(t), qi * np.exp(-d * t), rtol=1e-12)
    np.testing.assert_allclose(m.cum(t), qi / d * (1 - np.exp(-d * t)), rtol=1e-12)
    # one year later the rate is down by exactly di
    assert float(m.rate(365.25)) == pytest.approx(qi * (1 - di), rel=1e-12)


def test_secant_definition_one_year() -> None:
    # Secant effective: q(1 yr) = qi (1 - di) for the hyperbolic with the same b.
    for b in (0.2, 1.0, 1.7):
        m = Hyperbolic(1000.0, 0.6, b)
        assert float(m.rate(DAYS_PER_YEAR)) == pytest.approx(400.0, rel=1e-12)


def test_limits_without_nans() -> None:
    t = np.linspace(0, 20000, 51)
    base = Hyperbolic(500.0, 0.7, 0.0)
    for b in (1e-300, 1e-15, 1e-12):
        np.testing.assert_allclose(Hyperbolic(500.0, 0.7, b).rate(t), base.rate(t), rtol=1e-6)
        np.testing.assert_allclose(Hyperbolic(500.0, 0.7, b).cum(t), base.cum(t), rtol=1e-6)
    # first-order effect of a small b on ln q: the secant di maps to x + b x^2 / 2 nominal
    # (x = -ln(1 - di) per year) and ln(1 + bDt)/b = Dt - b (Dt)^2 / 2
    b, x = 1e-6, -math.log(0.3)
    d = x / 365.25
    lr = np.log(Hyperbolic(500.0, 0.7, b).rate(t) / base.rate(t))
    np.testing.assert_allclose(lr, -b * x**2 / 2 / 365.25 * t + b * (d * t) ** 2 / 2, rtol=1e-3, atol=1e-12)
    h1 = Hyperbolic(500.0, 0.7, 1.0)
    for b in (1.0 - 1e-9, 1.0 + 1e-9):
        np.testing.assert_allclose(Hyperbolic(500.0, 0.7, b).cum(t), h1.cum(t), rtol=1e-6)
    flat = ModifiedHyperbolic(500.0, 0.0, 1.2, 0.0)
    np.testing.assert_allclose(flat.rate(t), 500.0)
    np.testing.assert_allclose(flat.cum(t), 500.0 * t)
    for m in (ModifiedHyperbolic(500.0, 0.0, 0.0, 0.06), ModifiedHyperbolic(500.0, 0.9, 2.0, 0.06)):
        for arr in (m.rate(t), m.cum(t), m.D(t), m.time_at_rate(np.array([1.0, 0.0, 600.0]))):
            assert not np.isnan(arr).any()
    # di below dterm: terminal decline is a floor -> exponential at dterm from t = 0
    np.testing.assert_allclose(
        ModifiedHyperbolic(500.0, 0.03, 1.0, 0.06).rate(t), Exponential(500.0, 0.06).rate(t), rtol=1e-12
    )


def test_cum_matches_quadrature_across_switch() -> None:
    m = ModifiedHyperbolic(900.0, 0.85, 1.4, 0.08)
    ts = float(m.t_switch)
    assert 0 < ts < 20000
    for t in (ts * 0.5, ts, ts * 1.5, 15000.0):
        num, _ = quad(lambda x: float(m.rate(x)), 0.0, t, limit=200, points=[ts] if t > ts else None)
        assert float(m.cum(t)) == pytest.approx(num, rel=1e-8)


def test_broadcasting_over_parameter_sets() -> None:
    rng = np.random.default_rng(3)
    qi = rng.uniform(100, 1500, 7)
    di = rng.uniform(0.4, 0.9, 7)
    b = rng.uniform(0.0, 2.0, 7)
    t = np.linspace(0, 10000, 13)
    m = ModifiedHyperbolic(qi[:, None], di[:, None], b[:, None], 0.06)
    assert m.rate(t).shape == (7, 13)
    assert m.cum(t).shape == (7, 13)
    for i in range(7):
        one = ModifiedHyperbolic(qi[i], di[i], b[i], 0.06)
        np.testing.assert_allclose(m.rate(t)[i], one.rate(t), rtol=1e-14)
        np.testing.assert_allclose(m.cum(t)[i], one.cum(t), rtol=1e-14)
    assert m.eur(1.0, 30 * DAYS_PER_YEAR).shape == (7, 1)


def test_eur_limit_and_cap() -> None:
    m = ModifiedHyperbolic(1000.0, 0.8, 1.2, 0.06)
    t_lim = float(m.time_at_rate(5.0))
    assert float(m.rate(t_lim)) == pytest.approx(5.0, rel=1e-9)
    assert float(m.eur(5.0)) == pytest.approx(float(m.cum(t_lim)), rel=1e-12)
    assert float(m.eur(5.0, 3650.0)) == pytest.approx(float(m.cum(3650.0)), rel=1e-12)
    assert float(m.eur(2000.0)) == 0.0


# ---------------------------------------------------------------------------
# properties (hypothesis)
# ---------------------------------------------------------------------------

mh_params = st.tuples(
    st.floats(1.0, 1e4),  # qi
    st.floats(0.07, 0.98),  # di
    st.floats(0.0, 2.0),  # b
    st.sampled_from([0.0, 0.06, 0.1]),  # dterm
)


@settings(max_examples=80, deadline=None)
@given(mh_params, st.floats(1.0, 15000.0))
def test_properties_rate_cum(p: tuple[float, float, float, float], t: float) -> None:
    qi, di, b, dterm = p
    m = ModifiedHyperbolic(qi, di, b, dterm)
    assert float(m.rate(0.0)) == pytest.approx(qi, rel=1e-12)
    assert float(m.cum(0.0)) == 0.0
    h = 1e-3 * max(t, 1.0)
    deriv = (float(m.cum(t + h)) - float(m.cum(t - h))) / (2 * h)
    # cum ~ qi / D, so its difference quotient carries ~1e-16 qi / (D h) of round-off
    assert deriv == pytest.approx(float(m.rate(t)), rel=1e-4, abs=1e-7 * qi)
    ts = np.linspace(0, t, 50)
    c = m.cum(ts)
    assert np.all(np.diff(c) >= 0)
    assert np.all(np.diff(m.rate(ts)) <= 0)


@settings(max_examples=60, deadline=None)
@given(st.floats(1.0, 1e4), st.floats(0.2, 0.98), st.floats(0.05, 2.0), st.sampled_from([0.05, 0.1]))
def test_continuity_at_switch(qi: float, di: float, b: float, dterm: float) -> None:
    m = ModifiedHyperbolic(qi, di, b, dterm)
    ts = float(m.t_switch)
    if not np.isfinite(ts) or ts == 0.0:
        return
    # |dq/dt| <= D q, so over 2 eps the rate changes by at most 2 eps D(0) relative
    eps = 1e-10 * ts
    tol = 4 * eps * float(m.d_nominal) + 1e-12
    assert float(m.rate(ts - eps)) == pytest.approx(float(m.rate(ts + eps)), rel=tol)
    assert float(m.cum(ts - eps)) == pytest.approx(float(m.cum(ts + eps)), rel=1e-9)
    # the terminal piece is exactly exponential at dterm from the switch
    q_sw = float(m.rate(ts))
    assert float(m.rate(ts + 1000.0)) == pytest.approx(q_sw * (1 - dterm) ** (1000.0 / DAYS_PER_YEAR), rel=1e-9)
    # decline equals the terminal nominal decline at the switch
    assert float(m.D(ts)) * DAYS_PER_YEAR == pytest.approx(-math.log(1 - dterm), rel=1e-9)


@settings(max_examples=100, deadline=None)
@given(st.floats(1e-6, 0.999), st.floats(0.0, 2.0))
def test_conversion_round_trips(d: float, b: float) -> None:
    assert float(nominal_to_secant(secant_to_nominal(d, b), b)) == pytest.approx(d, rel=1e-9)
    assert float(nominal_to_tangent(tangent_to_nominal(d))) == pytest.approx(d, rel=1e-9)
    # independent definitions (the naive formula cancels for small b d, so only there)
    if b > 0.01 and d > 0.01:
        assert float(secant_to_nominal(d, b)) == pytest.approx(((1 - d) ** -b - 1) / b, rel=1e-8)
    assert float(tangent_to_nominal(d)) == pytest.approx(-math.log(1 - d), rel=1e-12)


def test_conversions_vectorised() -> None:
    d = np.array([[0.1, 0.5, 0.9]])
    b = np.array([[0.0], [1.0]])
    assert secant_to_nominal(d, b).shape == (2, 3)
    np.testing.assert_allclose(secant_to_nominal(d, b)[1], d[0] / (1 - d[0]), rtol=1e-12)


# ---------------------------------------------------------------------------
# synthetic production for fitting tests
# ---------------------------------------------------------------------------


def synth(
    n: int,
    months: int = 72,
    seed: int = 0,
    noise: float = 0.12,
    partial: float = 0.15,
    shut: float = 0.03,
    outliers: float = 0.01,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Monthly volumes from exact month integrals of known modified hyperbolics (t = 0 at month 0)."""
    rng = np.random.default_rng(seed)
    qi = rng.uniform(100, 1500, n)
    di = rng.uniform(0.4, 0.9, n)
    b = rng.uniform(0.3, 1.6, n)
    start = np.datetime64("2015-01") + rng.integers(0, 24, n).astype("timedelta64[M]")
    mon = start[:, None] + np.arange(months)[None, :].astype("timedelta64[M]")
    d0 = (mon.astype("datetime64[D]") - start.astype("datetime64[D]")[:, None]).astype(float)
    d1 = ((mon + np.timedelta64(1, "M")).astype("datetime64[D]") - start.astype("datetime64[D]")[:, None]).astype(float)
    cal = d1 - d0
    m = ModifiedHyperbolic(qi[:, None], di[:, None], b[:, None], 0.06)
    avg = (m.cum(d1) - m.cum(d0)) / cal
    days = np.where(rng.random((n, months)) < partial, np.floor(cal * rng.uniform(0.3, 0.9, (n, months))), cal)
    sh = rng.random((n, months)) < shut
    sh[:, 0] = False
    days = np.where(sh, 0.0, days)
    mult = np.exp(rng.normal(-0.5 * noise**2, noise, (n, months))) if noise else np.ones((n, months))
    mult = np.where(rng.random((n, months)) < outliers, 3.0, mult)
    oil = avg * days * mult
    df = pd.DataFrame(
        {
            "well_id": np.repeat([f"S{i:03d}" for i in range(n)], months),
            "production_month": mon.ravel().astype("datetime64[ns]"),
            "days_on": days.ravel(),
            "oil_bbl": oil.ravel(),
            "gas_mcf": (oil * 3.0).ravel(),
            "water_bbl": np.zeros(n * months),
        }
    )
    truth = pd.DataFrame({"well_id": [f"S{i:03d}" for i in range(n)], "qi": qi, "di": di, "b": b})
    return df, truth


def test_fit_exact_data_recovers_parameters_and_handles_partial_months() -> None:
    # no noise, 30 % partial months and some shut-ins: producing-day rates make the
    # data exactly the model's month averages, so parameters come back tightly.
    df, truth = synth(20, months=96, seed=1, noise=0.0, partial=0.3, shut=0.05, outliers=0.0)
    res = fit_wells(df, phases=("oil",), peak_search_months=1)
    res = res.set_index("well_id").loc[truth["well_id"]]
    assert (res["status"] == "fitted").all()
    np.testing.assert_allclose(res["qi"], truth["qi"], rtol=2e-3)
    np.testing.assert_allclose(res["di"], truth["di"], rtol=2e-3)
    np.testing.assert_allclose(res["b"], truth["b"], atol=5e-3)
    # shut-in months are excluded from the points
    n_shut = (df.assign(z=df["days_on"] == 0).groupby("well_id")["z"].sum()).loc[truth["well_id"]]
    np.testing.assert_array_equal(res["n_points"].to_numpy(), 96 - n_shut.to_numpy())


def test_fit_noisy_wells_eur_within_10pct() -> None:
    df, truth = synth(200, months=84, seed=2)
    res = fit_wells(df, phases=("oil",)).set_index("well_id").loc[truth["well_id"]]
    assert (res["status"] == "fitted").mean() == 1.0
    # fit starts at the observed peak, which noise may move to month 1; compare the
    # 30-year model volume over [fit start, truth t0 + 30 y] for both models.
    off = (
        pd.to_datetime(res["t0_month"]).to_numpy().astype("datetime64[D]")
        - df.groupby("well_id")["production_month"].min().loc[truth["well_id"]].to_numpy().astype("datetime64[D]")
    ).astype(float)
    horizon = 30 * DAYS_PER_YEAR
    true = ModifiedHyperbolic(truth["qi"], truth["di"], truth["b"], 0.06)
    est = ModifiedHyperbolic(res["qi"].to_numpy(), res["di"].to_numpy(), res["b"].to_numpy(), 0.06)
    e_true = true.cum(horizon) - true.cum(off)
    e_est = est.cum(horizon - off)
    ape = np.abs(e_est / e_true - 1)
    # 12 % monthly noise on ~80 points: the 30-yr EUR is typically within a few %;
    # 10 % bounds the bulk, and the median must be far tighter.
    assert np.mean(ape < 0.10) >= 0.9
    assert np.median(ape) < 0.04


def _soft_l1_cost(params: np.ndarray, bounds_days: np.ndarray, q_obs: np.ndarray, f_scale: float) -> float:
    qi, di, b = params
    m = ModifiedHyperbolic(qi, di, b, 0.06)
    avg = np.diff(m.cum(bounds_days)) / np.diff(bounds_days)
    z = ((np.log(q_obs) - np.log(avg)) / f_scale) ** 2
    return float(np.sum(2 * (np.sqrt(1 + z) - 1)))


def test_batched_solver_matches_scipy_least_squares() -> None:
    from scipy.optimize import least_squares

    df, truth = synth(12, months=60, seed=5, partial=0.0, shut=0.0)
    # equal weights: the objective scipy minimises below (recency weighting is tested on its own)
    cfg = FitConfig(peak_search_months=1, max_iter=30, half_life_months=None)
    res = fit_wells(df, cfg, phases=("oil",)).set_index("well_id")
    worse = 0
    for w in truth["well_id"]:
        d = df[df["well_id"] == w]
        mon = d["production_month"].to_numpy().astype("datetime64[M]")
        edges = np.r_[mon, mon[-1] + np.timedelta64(1, "M")].astype("datetime64[D]")
        bounds_days = (edges - edges[0]).astype(float)
        q = (d["oil_bbl"] / d["days_on"]).to_numpy()

        def resid(p: np.ndarray, bounds_days: np.ndarray = bounds_days, q: np.ndarray = q) -> np.ndarray:
            m = ModifiedHyperbolic(np.exp(p[0]), p[1], p[2], 0.06)
            return np.log(np.diff(m.cum(bounds_days)) / np.diff(bounds_days)) - np.log(q)

        best = None
        for b0 in (0.5, 1.0, 1.5):
            r = least_squares(resid, [math.log(q[0]), 0.7, b0], bounds=([-np.inf, 0.07, 0], [np.inf, 0.995, 2]),
                              loss="soft_l1", f_scale=cfg.f_scale)
            c = _soft_l1_cost(np.array([math.exp(r.x[0]), r.x[1], r.x[2]]), bounds_days, q, cfg.f_scale)
            best = c if best is None else min(best, c)
        row = res.loc[w]
        ours = _soft_l1_cost(np.array([row["qi"], row["di"], row["b"]]), bounds_days, q, cfg.f_scale)
        assert best is not None
        if ours > best * (1 + 1e-3) + 1e-9:
            worse += 1
    assert worse == 0


def test_single_well_fit_points() -> None:
    truth = Hyperbolic(800.0, 0.75, 0.9)
    t = np.arange(0, 36) * 30.4375
    r = fit(t, truth.rate(t), config=FitConfig(model="hyperbolic", peak_search_months=1))
    assert r.status == "fitted"
    assert r.qi == pytest.approx(800.0, rel=1e-4)
    assert r.di == pytest.approx(0.75, rel=1e-4)
    assert r.b == pytest.approx(0.9, abs=1e-3)
    # months as time unit, with a ramp-up before the peak
    tm = np.arange(0, 40)
    q = np.r_[[200.0, 500.0], truth.rate(tm[2:] * 0 + (tm[2:] - 2) * 30.4375)]
    r2 = fit(tm, q, t_unit="months", config=FitConfig(model="hyperbolic"))
    assert r2.status == "fitted" and r2.t_start == pytest.approx(2 * 30.4375)
    assert r2.b == pytest.approx(0.9, abs=1e-3)
    assert fit(tm[:4], q[:4]).status == "insufficient_history"
    assert fit(tm, np.zeros(40)).status == "no_production"


def test_fixed_b_models() -> None:
    t = np.arange(0, 48) * 30.4375
    r = fit(t, Exponential(300.0, 0.3).rate(t), config=FitConfig(model="exponential", peak_search_months=1))
    assert r.status == "fitted" and r.b == 0.0 and r.di == pytest.approx(0.3, rel=1e-5)
    r = fit(t, Harmonic(300.0, 0.6).rate(t), config=FitConfig(model="harmonic", peak_search_months=1))
    assert r.status == "fitted" and r.b == 1.0 and r.di == pytest.approx(0.6, rel=1e-5)


# ---------------------------------------------------------------------------
# statuses and robustness of the batch
# ---------------------------------------------------------------------------


def _well(wid: str, oil: list[float], days: list[float] | None = None, start: str = "2020-01") -> pd.DataFrame:
    n = len(oil)
    mon = pd.period_range(start, periods=n, freq="M").to_timestamp()
    d = {"well_id": wid, "production_month": mon, "oil_bbl": oil, "gas_mcf": np.zeros(n), "water_bbl": np.zeros(n)}
    if days is not None:
        d["days_on"] = days
    return pd.DataFrame(d)


def _decline(n: int, qi: float = 500.0, start: str = "2020-01") -> list[float]:
    """Exact calendar-month volumes of MH(qi, 0.7, 1.0, 0.06) with t = 0 at ``start``."""
    m = ModifiedHyperbolic(qi, 0.7, 1.0)
    edges = pd.period_range(start, periods=n + 1, freq="M").to_timestamp()
    t = (edges - edges[0]).days.to_numpy(float)
    return list(np.diff(m.cum(t)))


def test_statuses_and_reasons() -> None:
    df = pd.concat(
        [
            _well("short", _decline(4)),
            _well("flat", [3000.0 * (1 + 0.01 * (-1) ** i) for i in range(24)]),
            _well("incline", [1000.0 * 1.05**i for i in range(24)]),
            _well("zero", [0.0] * 24),
            _well("good", _decline(36)),
        ]
    )
    res = fit_wells(df).set_index(["well_id", "phase"])
    assert res.loc[("short", "oil"), "status"] == "insufficient_history"
    assert res.loc[("flat", "oil"), "status"] == "no_decline"
    assert res.loc[("incline", "oil"), "status"] == "no_decline"
    assert "inclining" in res.loc[("incline", "oil"), "reason"]
    assert res.loc[("zero", "oil"), "status"] == "no_production"
    assert res.loc[("good", "oil"), "status"] == "fitted"
    assert (res.xs("gas", level="phase")["status"] == "no_production").all()
    not_fitted = res[res["status"] != "fitted"]
    # never silent defaults: parameters are NaN and a reason is given
    assert not_fitted[["qi", "di", "b", "remaining", "eur"]].isna().all().all()
    assert (not_fitted["reason"].str.len() > 0).all()
    assert res.loc[("short", "oil"), "cum_to_date"] == pytest.approx(sum(_decline(4)))


def test_days_on_absent_means_calendar_days_and_partial_months() -> None:
    full = _decline(24)
    mon = pd.period_range("2020-01", periods=24, freq="M")
    cal = np.array([p.days_in_month for p in mon], dtype=float)
    a = fit_wells(_well("w", full), phases=("oil",))
    # the same production with days_on half the month and half the volume: same producing-day rate
    half = _well("w", list(np.array(full) * 0.5), list(cal * 0.5))
    b = fit_wells(half, phases=("oil",))
    for k in ("qi", "di", "b"):
        assert b[k].iloc[0] == pytest.approx(a[k].iloc[0], rel=1e-6)
    # null days_on also means calendar days
    nulls = _well("w", full, [np.nan] * 24)
    c = fit_wells(nulls, phases=("oil",))
    assert c["qi"].iloc[0] == pytest.approx(a["qi"].iloc[0], rel=1e-12)


def test_shut_in_months_excluded() -> None:
    vols = _decline(30)
    days = [None] * 30
    for i in (5, 6, 17):
        vols[i] = 0.0 if i != 17 else vols[i]
        days[i] = 0.0 if i == 17 else None
    df = _well("w", vols, [np.nan if d is None else d for d in days])
    ref = fit_wells(_well("w", _decline(30)), phases=("oil",))
    res = fit_wells(df, phases=("oil",))
    assert res["n_points"].iloc[0] == 27
    assert res["b"].iloc[0] == pytest.approx(ref["b"].iloc[0], abs=1e-4)


def test_batch_with_bad_wells_never_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    bad = pd.DataFrame(
        {
            "well_id": ["nan", "nan", "neg", "neg", "one", "dup", "dup"],
            "production_month": pd.to_datetime(
                ["2020-01-01", "2020-02-01", "2020-01-01", "2020-02-01", "2020-03-01", "2020-01-15", "2020-01-01"]
            ),
            "days_on": [31, None, 31, 40, 0, 10, 10],
            "oil_bbl": [np.nan, 100, -5, 10, 50, 100, 100],
            "gas_mcf": [None, None, None, None, None, None, None],
        }
    )
    df = pd.concat([bad, _well("good", _decline(36))], ignore_index=True)
    res = fit_wells(df)
    assert len(res) == 5 * 3
    assert res.loc[(res.well_id == "good") & (res.phase == "oil"), "status"].item() == "fitted"
    assert set(res["status"]) <= {"fitted", "insufficient_history", "no_decline", "no_production", "failed"}
    # a solver failure is contained and reported per well
    import basinlab.decline.fitting as fitmod

    def boom(*a: object, **k: object) -> None:
        raise FloatingPointError("synthetic failure")

    monkeypatch.setattr(fitmod, "_fit_matrix_intervals", boom)
    res2 = fit_wells(df)
    assert (res2["status"] == "failed").all()
    assert res2["reason"].str.contains("synthetic failure").all()
    assert res2.loc[(res2.well_id == "good") & (res2.phase == "oil"), "cum_to_date"].item() == pytest.approx(
        sum(_decline(36))
    )


def test_chunk_failure_falls_back_per_well(monkeypatch: pytest.MonkeyPatch) -> None:
    import basinlab.decline.fitting as fitmod

    real = fitmod._fit_matrix_intervals

    def picky(bounds, y, mask, cfg, *args):  # type: ignore[no-untyped-def]
        if y.shape[0] > 1:
            raise RuntimeError("chunk")
        return real(bounds, y, mask, cfg, *args)

    monkeypatch.setattr(fitmod, "_fit_matrix_intervals", picky)
    df = pd.concat([_well("a", _decline(24)), _well("b", _decline(24, 900.0))])
    res = fit_wells(df, phases=("oil",))
    assert (res["status"] == "fitted").all()


def test_fit_start_override() -> None:
    df = _well("w", [100.0, 200.0] + _decline(30))
    res = fit_wells(df, phases=("oil",))
    assert pd.Timestamp(res["t0_month"].iloc[0]) == pd.Timestamp("2020-03-01")  # peak after ramp-up
    res2 = fit_wells(df, phases=("oil",), fit_start={"w": "2020-06-15"})
    assert pd.Timestamp(res2["t0_month"].iloc[0]) == pd.Timestamp("2020-06-01")


# ---------------------------------------------------------------------------
# forecast
# ---------------------------------------------------------------------------


def test_forecast_eur_and_limit() -> None:
    df, _ = synth(15, months=48, seed=7)
    res = fit_wells(df)
    fitted = res[res["status"] == "fitted"]
    np.testing.assert_allclose(fitted["eur"], fitted["cum_to_date"] + fitted["remaining"], rtol=1e-12)
    fc = forecast(res)
    tot = fc.groupby(["well_id", "phase"])["volume"].sum()
    rem = fitted.set_index(["well_id", "phase"])["remaining"].loc[tot.index]
    np.testing.assert_allclose(tot.to_numpy(), rem.to_numpy(), rtol=1e-9)
    last = fc.groupby(["well_id", "phase"]).tail(1).set_index(["well_id", "phase"])
    eur = fitted.set_index(["well_id", "phase"])["eur"]
    np.testing.assert_allclose(last["cumulative"], eur.loc[last.index], rtol=1e-9)
    first = fc.groupby(["well_id", "phase"]).head(1).set_index(["well_id", "phase"])
    lm = fitted.set_index(["well_id", "phase"])["last_month"].loc[first.index]
    assert (pd.to_datetime(first["month"]) == (pd.to_datetime(lm) + pd.offsets.MonthBegin(1))).all()
    # stops at the economic limit: the model rate at the end is the limit, all full months are above it
    for (w, ph), row in fitted.set_index(["well_id", "phase"]).iterrows():
        m = ModifiedHyperbolic(row["qi"], row["di"], row["b"], row["dterm"])
        lim = {"oil": 1.0, "gas": 10.0}[ph]
        rows = fc[(fc.well_id == w) & (fc.phase == ph)]
        end = pd.Timestamp(rows["month"].iloc[-1]) + pd.offsets.MonthBegin(1)
        t_end = (end - pd.Timestamp(row["t0_month"])).days
        t_cap = (pd.Timestamp(row["first_month"]) - pd.Timestamp(row["t0_month"])).days + 50 * DAYS_PER_YEAR
        if t_cap > t_end:  # not capped: the limit is reached inside the last month
            assert float(m.rate(t_end)) <= lim * (1 + 1e-9)
            assert float(m.rate(t_end - 31)) >= lim * (1 - 1e-9)
        assert (rows["rate_per_day"].iloc[:-1] >= lim * (1 - 1e-9)).all()


def test_forecast_months_cap_and_units() -> None:
    df, _ = synth(3, months=36, seed=8)
    fc = forecast(fit_wells(df), months=12)
    assert fc.groupby(["well_id", "phase"]).size().max() == 12
    assert set(fc.loc[fc.phase == "gas", "units"]) == {"mcf"}


# ---------------------------------------------------------------------------
# type curves
# ---------------------------------------------------------------------------


def test_type_curves_percentiles_and_alignment() -> None:
    # identical decline shapes scaled by lateral, different ramp-ups and start dates:
    # normalised per 1000 ft and aligned on the peak, every percentile is the same curve.
    shape = np.array(_decline(24, qi=1000.0))
    frames, head = [], []
    for i in range(9):
        lat = 5000.0 + 1000.0 * i
        ramp = [shape[0] * 0.3] * (i % 3)
        vols = list(np.r_[ramp, shape * lat / 1000.0])
        frames.append(_well(f"T{i}", vols, start=f"{2018 + i % 4}-0{1 + i % 5}"))
        head.append({"well_id": f"T{i}", "field": "F1", "basin": "B", "lateral_length_ft": lat})
    frames.append(_well("U", list(shape * 3.0)))  # no header row -> '(unknown)'
    df = pd.concat(frames, ignore_index=True)
    tc = type_curves(df, pd.DataFrame(head), group_by="field", phases=("oil",))
    f1 = tc[tc.group == "F1"].set_index("month_index")
    assert f1["normalised"].all() and (f1["units"] == "bbl/d per 1000 ft").all()
    assert (f1["n_wells"].iloc[:20] == 9).all()
    mon = pd.period_range("2020-01", periods=24, freq="M")
    # month 0 rate of one well at 1000 ft (daily rate = volume / calendar days, wells
    # start in different months, so only the spread is checked loosely)
    assert f1.loc[0, "p50"] == pytest.approx(shape[0] / 31.0, rel=0.1)
    assert (f1["p10"] >= f1["p50"] - 1e-9).all() and (f1["p50"] >= f1["p90"] - 1e-9).all()
    # peak alignment: month 0 is the max of every percentile curve
    assert f1["p50"].idxmax() == 0
    unk = tc[tc.group == "(unknown)"]
    assert (~unk["normalised"]).all() and (unk["units"] == "bbl/d").all()
    assert unk["p50"].iloc[0] == pytest.approx(shape[0] * 3.0 / mon[0].days_in_month, rel=1e-12)


def test_type_curves_p10_is_high_case() -> None:
    df, _ = synth(60, months=24, seed=9)
    head = pd.DataFrame({"well_id": df["well_id"].unique(), "field": "X"})
    tc = type_curves(df, head, phases=("oil",))
    assert (tc["p10"] >= tc["p50"]).all() and (tc["p50"] >= tc["p90"]).all()
    assert (tc["p10"] > tc["p90"]).all()
    assert (~tc["normalised"]).all()  # no lateral lengths known


# ---------------------------------------------------------------------------
# Volve (real data), when the workbook is available
# ---------------------------------------------------------------------------

VOLVE = config.SHARED_DATA_DIR / "volve" / "Volve production data.xlsx"


def test_volve_every_producing_wellbore_gets_fit_or_status() -> None:
    if not VOLVE.exists():
        pytest.skip(f"Volve workbook not present at {VOLVE}")
    raw = pd.read_excel(VOLVE, sheet_name="Monthly Production Data")
    raw = raw.iloc[1:]  # first data row holds the units (hrs, Sm3)
    raw = raw[raw["Wellbore name"].notna()]
    num = lambda c: pd.to_numeric(raw[c], errors="coerce")  # noqa: E731
    df = pd.DataFrame(
        {
            "well_id": raw["Wellbore name"].astype(str),
            "production_month": pd.to_datetime(
                dict(year=num("Year").astype(int), month=num("Month").astype(int), day=1)
            ),
            "days_on": num("On Stream") / 24.0,
            "oil_bbl": num("Oil") * 6.28981,
            "gas_mcf": num("Gas") * 35.3147 / 1000.0,
            "water_bbl": num("Water") * 6.28981,
        }
    )
    producing = set(df.loc[df["oil_bbl"] > 0, "well_id"])
    assert producing
    res = fit_wells(df)
    oil = res[res.phase == "oil"].set_index("well_id")
    assert producing <= set(oil.index)
    for w in producing:
        row = oil.loc[w]
        assert row["status"] in ("fitted", "insufficient_history", "no_decline")
        assert isinstance(row["reason"], str) and row["reason"]
        if row["status"] == "fitted":
            assert np.isfinite([row["qi"], row["di"], row["b"], row["eur"]]).all()
            assert row["eur"] >= row["cum_to_date"]
        assert row["cum_to_date"] == pytest.approx(df.loc[(df.well_id == w) & (df.oil_bbl > 0), "oil_bbl"].sum())
    assert (oil.loc[list(producing), "status"] == "fitted").sum() >= 3


def test_forecast_with_a_last_row_that_has_no_month_left_does_not_raise() -> None:
    """Issue 7: a well already under the limit, last in the table, made forecast() raise IndexError."""
    rows = pd.DataFrame({
        "well_id": ["A", "B"], "phase": "oil", "status": "fitted", "qi": [500.0, 0.5], "di": 0.5, "b": 0.8,
        "dterm": 0.06, "t0_month": pd.Timestamp("2020-01-01"), "first_month": pd.Timestamp("2020-01-01"),
        "last_month": pd.Timestamp("2023-12-01"), "cum_to_date": [1e5, 10.0], "units": "bbl"})
    fc = forecast(rows, q_limit=1.0)
    assert set(fc["well_id"]) == {"A"} and (fc["volume"] > 0).all()
    a = fc.sort_values("month")
    np.testing.assert_allclose(a["cumulative"].to_numpy(), 1e5 + np.cumsum(a["volume"].to_numpy()))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.datetimes(min_value=datetime(1678, 1, 1), max_value=datetime(2261, 12, 31)), max_size=20))
def test_a_curve_reason_names_its_fit_months_as_strftime_does(dates):
    """The curve's reason says its fit window's months in one vectorised call (``_year_months``): the text
    ``f"{pd.Timestamp(d):%Y-%m}"`` gives, for any date pandas holds (years 1677 to 2262, four digits)."""
    from basinlab.decline.engine import _year_months

    s = pd.Series(pd.to_datetime(dates), dtype="datetime64[ns]")
    assert list(_year_months(s)) == [f"{pd.Timestamp(d):%Y-%m}" for d in s]
