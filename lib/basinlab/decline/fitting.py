"""Batched, robust Arps / modified-hyperbolic fitting for thousands of wells at once.

Engine
------
Wells are padded into a ``(n_wells, n_months)`` matrix with a mask and fitted
*together* by a vectorised Levenberg-Marquardt on **log-rate residuals**, with
iteratively re-weighted least squares (IRLS) for the robust loss:

* ``ln qi`` enters the log-rate model linearly, so it is eliminated exactly
  (variable projection): for given ``(D, b)`` it is the weighted mean of
  ``ln q_obs - ln q_model(qi=1)``.  LM then works on two parameters per well,
  ``u = ln D_nominal`` (1/day) and ``b``, with 2x2 normal equations solved in
  closed form for every well at once.
* the model compared with a month's producing-day rate is the model's
  **average rate over that calendar month**, ``(N(t_end) - N(t_start)) / days``,
  from the closed-form cumulative -- so steep early declines are not biased by a
  mid-month point evaluation.
* bounds by projection (clipping ``b`` to ``b_bounds`` and ``D`` to the nominal
  equivalents of ``di_bounds`` at the current ``b``); a few cheap starting points
  (two-slope estimate of ``1/D(t) = 1/D + b t`` plus a small ``b`` grid) are scored
  and the best one starts LM; a fixed number of iterations.
* wells are processed in chunks (:attr:`FitConfig.chunk_size`) to bound memory, grouped by
  the power-of-two width of their own history, so a well's fit is the same whatever other
  wells the table holds (the decline step fits the warehouse in batches of wells).

Fit rules (all in :class:`FitConfig`)
-------------------------------------
* months with ``days_on == 0`` or zero / missing / negative volume are shut-in and
  excluded;
* rates are **producing-day rates**, ``volume / days_on`` (``days_on`` missing or
  null -> calendar days of the month; clipped to the calendar days);
* the fit starts at the **peak producing-day rate within the first**
  ``peak_search_months`` **months of production** (or at ``fit_start``);
* ``t = 0`` of the fitted model is the first day of the fit-start month, so
  ``qi`` is the rate at the start of that month;
* fewer than ``min_points`` producing months from the start ->
  ``insufficient_history``; a log-linear trend declining less than
  ``min_decline`` per year (flat or inclining) -> ``no_decline``; a phase with no
  positive volume -> ``no_production``; anything non-finite or raising ->
  ``failed``.  Parameters of non-fitted rows are NaN, never defaults.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from .conversions import (
    B_MAX,
    DAYS_PER_MONTH,
    DAYS_PER_YEAR,
    DEFAULT_DTERM,
    nominal_to_secant,
    secant_to_nominal,
    tangent_to_nominal,
)
from .models import MODEL_NAMES, ArpsModel, _arps_time_at_rate, arps_rate_cum
from .segments import RULE_OVERRIDE, SegmentRules, last_segment

__all__ = [
    "FitConfig",
    "FitResult",
    "fit",
    "fit_wells",
    "PHASES",
    "PHASE_UNITS",
    "STATUSES",
    "DEFAULT_Q_LIMITS",
    "prepare_production",
]

log = logging.getLogger(__name__)

FloatArray = NDArray[np.float64]

#: Phases and their volume column in the canonical ``well_production`` table.
PHASES: dict[str, str] = {"oil": "oil_bbl", "gas": "gas_mcf", "water": "water_bbl"}
#: Volume units per phase (rates are these per day).
PHASE_UNITS: dict[str, str] = {"oil": "bbl", "gas": "mcf", "water": "bbl"}
#: Default economic-limit rates per phase, volume/day (oil 1 bbl/d, gas 10 mcf/d, water 1 bbl/d).
DEFAULT_Q_LIMITS: dict[str, float] = {"oil": 1.0, "gas": 10.0, "water": 1.0}
#: Fit statuses.
STATUSES: tuple[str, ...] = (
    "fitted",
    "insufficient_history",
    "no_decline",
    "no_production",
    "failed",
)

_LOG_FLOOR = 1e-300


@dataclass(frozen=True)
class FitConfig:
    """Fitting rules.  Every field is a documented engineering choice.

    Attributes
    ----------
    model : str
        ``'modified_hyperbolic'`` (default), ``'hyperbolic'`` (no terminal
        decline), ``'exponential'`` (b = 0) or ``'harmonic'`` (b = 1).
    dterm : float
        Terminal effective decline, fraction/year, for the modified hyperbolic
        (default 0.06 = 6 %/yr).
    b_bounds : (float, float)
        Bounds of the Arps exponent (default ``[0, 2]``).
    di_bounds : (float, float)
        Bounds of the initial secant-effective decline, fraction/year (default
        ``[0.01, 0.995]``); for the modified hyperbolic the initial decline is also
        kept above ``dterm``.
    peak_search_months : int
        The fit starts at the highest producing-day rate among the first
        ``peak_search_months`` calendar months from first production (ramp-up is
        skipped).  ``1`` starts at first production.
    fit_start : None, date-like, or mapping well_id -> date-like
        Explicit fit-start month (all wells, or per well); overrides the peak rule.
        The fit starts at the first producing month on or after it.
    min_points : int
        Minimum producing months from the fit start (default 6).
    min_decline : float
        Minimum decline of the log-linear trend over the fit window, effective
        fraction/year (default 0.02); below it (flat or inclining) -> ``no_decline``.
    loss : str
        ``'soft_l1'`` (default), ``'huber'`` or ``'linear'`` on log-rate residuals.
    f_scale : float
        Residual scale of the robust loss in natural-log units (0.15 ~ 15 %).
    max_iter : int
        Levenberg-Marquardt iterations (default 8), the same for every well: a well's fit
        never depends on the other wells of its chunk.
    chunk_size : int
        Wells per vectorised batch (memory ~ 40 x chunk_size x months x 8 bytes). Wells are
        chunked by the power-of-two width of their own history (:func:`_width_class`), so the
        padded matrix a well is fitted in, and so its result to the last bit, does not depend
        on the other wells of the table.
    q_limits : mapping phase -> float
        Economic-limit rates, volume/day, for ``remaining`` / ``eur``.
    max_years : float
        Forecast time cap: years after the **first production month** (default 50).
    phases : tuple of str
        Phases to fit.
    half_life_months : float or None
        Recency weighting of the fit: a month ``k`` months before the last month of
        the fit window weighs ``2 ** (-k / half_life_months)`` (ADCA's half-life
        weighting); ``None`` weighs every month alike.
    segments : bool
        Fit from the start of the last decline segment (:mod:`basinlab.decline.segments`:
        restarts after long shut-ins, rate jumps, catch-up rows excluded) instead of
        from the first production; a per-well ``fit_start`` overrides it.
    restart_gap_months, jump_factor, catchup_gap_months, catchup_factor : see
        :class:`basinlab.decline.segments.SegmentRules`.
    threads : int or None
        Threads the chunks are fitted on (None: ``$BASINLAB_THREADS`` or the cores; the results
        are the same for any number).
    """

    model: str = "modified_hyperbolic"
    dterm: float = DEFAULT_DTERM
    b_bounds: tuple[float, float] = (0.0, B_MAX)
    di_bounds: tuple[float, float] = (0.01, 0.995)
    peak_search_months: int = 12
    fit_start: Any = None
    min_points: int = 6
    min_decline: float = 0.02
    loss: str = "soft_l1"
    f_scale: float = 0.15
    max_iter: int = 8
    chunk_size: int = 512
    q_limits: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_Q_LIMITS))
    max_years: float = 50.0
    phases: tuple[str, ...] = ("oil", "gas", "water")
    half_life_months: float | None = 24.0
    segments: bool = True
    restart_gap_months: int = 12
    jump_factor: float = 2.5
    catchup_gap_months: int = 3
    catchup_factor: float = 3.0
    threads: int | None = None

    def __post_init__(self) -> None:
        if self.model not in MODEL_NAMES:
            raise ValueError(f"model must be one of {MODEL_NAMES}, got {self.model!r}")
        if self.loss not in ("soft_l1", "huber", "linear"):
            raise ValueError("loss must be 'soft_l1', 'huber' or 'linear'")
        lo, hi = self.b_bounds
        if not 0.0 <= lo <= hi:
            raise ValueError("b_bounds must satisfy 0 <= lo <= hi")
        dlo, dhi = self.di_bounds
        if not 0.0 < dlo < dhi < 1.0:
            raise ValueError("di_bounds must satisfy 0 < lo < hi < 1")
        if self.min_points < 3:
            raise ValueError("min_points must be >= 3 (three parameters)")
        if self.half_life_months is not None and not self.half_life_months > 0:
            raise ValueError("half_life_months must be > 0 (or None for equal weights)")
        if not self.jump_factor > 1.0 or not self.catchup_factor > 1.0:
            raise ValueError("jump_factor and catchup_factor must be > 1")

    @property
    def segment_rules(self) -> SegmentRules:
        return SegmentRules(restart_gap_months=self.restart_gap_months, jump_factor=self.jump_factor,
                            catchup_gap_months=self.catchup_gap_months, catchup_factor=self.catchup_factor)

    @property
    def terminal(self) -> float:
        """Terminal effective decline actually used (0 unless modified hyperbolic)."""
        return self.dterm if self.model == "modified_hyperbolic" else 0.0

    @property
    def fixed_b(self) -> float | None:
        """The exponent fixed by the model (exponential 0, harmonic 1), else None."""
        return {"exponential": 0.0, "harmonic": 1.0}.get(self.model)


# ---------------------------------------------------------------------------
# robust loss
# ---------------------------------------------------------------------------


def _irls_weight(r: FloatArray, cfg: FitConfig) -> FloatArray:
    if cfg.loss == "linear":
        return np.ones_like(r)
    z = r / cfg.f_scale
    if cfg.loss == "soft_l1":
        return 1.0 / np.sqrt(1.0 + z * z)
    a = np.abs(z)
    return np.where(a <= 1.0, 1.0, 1.0 / np.maximum(a, 1.0))


def _robust_cost(r: FloatArray, mask: NDArray[np.bool_], cfg: FitConfig,
                 weight: FloatArray | None = None) -> FloatArray:
    s = cfg.f_scale
    z = (r / s) ** 2
    if cfg.loss == "linear":
        rho = z
    elif cfg.loss == "soft_l1":
        rho = 2.0 * (np.sqrt(1.0 + z) - 1.0)
    else:
        rho = np.where(z <= 1.0, z, 2.0 * np.sqrt(z) - 1.0)
    if weight is not None:
        rho = rho * weight
    return np.where(mask, rho, 0.0).sum(axis=1)


# ---------------------------------------------------------------------------
# batched solver
# ---------------------------------------------------------------------------

Evaluator = Callable[[FloatArray, FloatArray], FloatArray]


def _interval_evaluator(bounds: FloatArray, dt_nom: float) -> Evaluator:
    """ln of the month-average rate for qi = 1; ``bounds`` are month edges (n, M+1), days."""
    width = np.diff(bounds, axis=1)
    safe_w = np.where(width > 0, width, 1.0)

    def ev(u: FloatArray, b: FloatArray) -> FloatArray:
        d = np.exp(u)[:, None]
        _, c = arps_rate_cum(1.0, d, b[:, None], dt_nom, bounds, want_rate=False)
        assert c is not None
        avg = np.diff(c, axis=1) / safe_w
        return np.log(np.maximum(avg, _LOG_FLOOR))

    return ev


def _point_evaluator(t: FloatArray, dt_nom: float) -> Evaluator:
    """ln of the instantaneous rate for qi = 1 at times ``t`` (n, M), days."""

    def ev(u: FloatArray, b: FloatArray) -> FloatArray:
        d = np.exp(u)[:, None]
        r, _ = arps_rate_cum(1.0, d, b[:, None], dt_nom, t, want_cum=False)
        assert r is not None
        return np.log(np.maximum(r, _LOG_FLOOR))

    return ev


def _profile(y: FloatArray, g: FloatArray, w: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Optimal ln qi (weighted mean) and the residuals it leaves."""
    sw = np.maximum(w.sum(axis=1), 1e-300)
    lnqi = (w * (y - g)).sum(axis=1) / sw
    return lnqi, y - g - lnqi[:, None]


def _u_bounds(b: FloatArray, cfg: FitConfig) -> tuple[FloatArray, FloatArray]:
    lo = secant_to_nominal(cfg.di_bounds[0], b) / DAYS_PER_YEAR
    hi = secant_to_nominal(cfg.di_bounds[1], b) / DAYS_PER_YEAR
    dt_nom = float(tangent_to_nominal(cfg.terminal)) / DAYS_PER_YEAR
    if dt_nom > 0:
        lo = np.maximum(lo, dt_nom * 1.0001)
    return np.log(lo), np.log(np.maximum(hi, lo * 1.0001))


def _project(u: FloatArray, b: FloatArray, cfg: FitConfig) -> tuple[FloatArray, FloatArray]:
    if cfg.fixed_b is not None:
        b = np.full_like(b, cfg.fixed_b)
    else:
        b = np.clip(b, *cfg.b_bounds)
    lo, hi = _u_bounds(b, cfg)
    return np.clip(u, lo, hi), b


def _initial_guess(
    y: FloatArray, t_mid: FloatArray, mask: NDArray[np.bool_], cfg: FitConfig
) -> list[tuple[FloatArray, FloatArray]]:
    """Candidate starts: two-slope hyperbolic estimate and a small b grid."""
    m = mask.astype(np.float64)
    cnt = m.sum(axis=1)
    order = np.cumsum(m, axis=1)
    early = mask & (order <= np.ceil(cnt / 2.0)[:, None])
    late = mask & ~early

    def slope(sel: NDArray[np.bool_]) -> tuple[FloatArray, FloatArray]:
        s = sel.astype(np.float64)
        n = np.maximum(s.sum(axis=1), 1.0)
        tm = (s * t_mid).sum(axis=1) / n
        ym = (s * y).sum(axis=1) / n
        dt = np.where(sel, t_mid - tm[:, None], 0.0)
        dy = np.where(sel, y - ym[:, None], 0.0)
        sxx = np.maximum((dt * dt).sum(axis=1), 1e-12)
        return -(dt * dy).sum(axis=1) / sxx, tm

    d_all, _ = slope(mask)
    d1, t1 = slope(early)
    d2, t2 = slope(late)
    floor = 1e-5
    d_all = np.maximum(d_all, floor)
    d1 = np.maximum(d1, floor)
    d2 = np.maximum(d2, floor)
    curved = (d1 > d2) & (t2 > t1)
    b0 = np.where(curved, (1.0 / d2 - 1.0 / d1) / np.maximum(t2 - t1, 1.0), 0.5)
    b0 = np.clip(b0, 0.05, cfg.b_bounds[1])
    inv0 = 1.0 / d1 - b0 * t1
    d0 = np.where(inv0 > 0, 1.0 / np.maximum(inv0, 1e-12), d1 * 3.0)
    cands = [(np.log(d0), b0)]
    for bb, mult in ((0.5, 1.5), (1.0, 2.5), (1.5, 4.0), (0.0, 1.0)):
        cands.append((np.log(d_all * mult), np.full_like(d_all, bb)))
    return cands


def _solve(
    y: FloatArray,
    mask: NDArray[np.bool_],
    ev: Evaluator,
    t_mid: FloatArray,
    cfg: FitConfig,
    base_w: FloatArray | None = None,
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Batched robust LM.  Returns ``(ln qi, u = ln D_nom/day, b, residuals)``.

    ``base_w`` (n, M) are per-point weights (recency); the robust IRLS weights multiply them.
    """
    n = y.shape[0]
    y = np.where(mask, y, 0.0)
    bw = mask.astype(np.float64) if base_w is None else np.where(mask, base_w, 0.0)
    w = bw.copy()

    best_cost = np.full(n, np.inf)
    u = np.zeros(n)
    b = np.zeros(n)
    for cu, cb in _initial_guess(y, t_mid, mask, cfg):
        cu, cb = _project(cu, cb, cfg)
        _, r = _profile(y, ev(cu, cb), w)
        c = _robust_cost(r, mask, cfg, bw)
        better = c < best_cost
        best_cost = np.where(better, c, best_cost)
        u = np.where(better, cu, u)
        b = np.where(better, cb, b)

    free_b = cfg.fixed_b is None
    g0 = ev(u, b)
    lnqi, r = _profile(y, g0, w)
    w = _irls_weight(r, cfg) * bw
    cost = _robust_cost(r, mask, cfg, bw)
    lam = np.full(n, 1e-2)
    h = 1e-5
    for _ in range(cfg.max_iter):
        # finite-difference Jacobian of the log-shape, projected (qi eliminated)
        sw = np.maximum(w.sum(axis=1, keepdims=True), 1e-300)
        ju = (ev(u + h, b) - g0) / h
        ju = ju - (w * ju).sum(axis=1, keepdims=True) / sw
        a11 = (w * ju * ju).sum(axis=1)
        g1 = (w * ju * r).sum(axis=1)
        if free_b:
            hb = np.where(b + h > cfg.b_bounds[1], -h, h)
            jb = (ev(u, b + hb) - g0) / hb[:, None]
            jb = jb - (w * jb).sum(axis=1, keepdims=True) / sw
            a12 = (w * ju * jb).sum(axis=1)
            a22 = (w * jb * jb).sum(axis=1)
            g2 = (w * jb * r).sum(axis=1)
        else:
            a12 = np.zeros(n)
            a22 = np.ones(n)
            g2 = np.zeros(n)
        # residual r = y - model, J = d model / d theta  ->  step solves (A + lam diag A) d = J^T W r
        m11 = a11 * (1.0 + lam) + 1e-12
        m22 = a22 * (1.0 + lam) + 1e-12
        det = m11 * m22 - a12 * a12
        det = np.where(np.abs(det) > 1e-300, det, 1e-300)
        du = (m22 * g1 - a12 * g2) / det
        db = (m11 * g2 - a12 * g1) / det if free_b else np.zeros(n)
        du = np.clip(np.nan_to_num(du), -2.0, 2.0)
        db = np.clip(np.nan_to_num(db), -1.0, 1.0)
        un, bn = _project(u + du, b + db, cfg)
        gn = ev(un, bn)
        lnqi_n, rn = _profile(y, gn, w)
        cn = _robust_cost(rn, mask, cfg, bw)
        ok = np.isfinite(cn) & (cn <= cost)
        u = np.where(ok, un, u)
        b = np.where(ok, bn, b)
        g0 = np.where(ok[:, None], gn, g0)
        lam = np.where(ok, np.maximum(lam / 5.0, 1e-7), np.minimum(lam * 8.0, 1e8))
        # re-weight (IRLS) at the accepted point
        lnqi, r = _profile(y, g0, w)
        w = _irls_weight(r, cfg) * bw
        lnqi, r = _profile(y, g0, w)
        cost = _robust_cost(r, mask, cfg, bw)
        # no early stop for the chunk: a well's result must not depend on which wells share its
        # chunk (the decline step reads wells in batches; every batch size gives the same fits)
    return lnqi, u, b, np.where(mask, r, 0.0)


# ---------------------------------------------------------------------------
# statistics and result assembly
# ---------------------------------------------------------------------------


def _stats(
    y: FloatArray, r: FloatArray, lnqi: FloatArray, mask: NDArray[np.bool_]
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """rmse (volume/day), r2 of ln rate, rmse of ln rate."""
    m = mask.astype(np.float64)
    n = np.maximum(m.sum(axis=1), 1.0)
    q_obs = np.where(mask, np.exp(np.where(mask, y, 0.0)), 0.0)
    q_fit = np.where(mask, np.exp(np.where(mask, y - r, 0.0)), 0.0)
    rmse = np.sqrt(((q_obs - q_fit) ** 2 * m).sum(axis=1) / n)
    ym = (m * y).sum(axis=1) / n
    sst = (m * (y - ym[:, None]) ** 2).sum(axis=1)
    sse = (m * r * r).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = np.where(sst > 0, 1.0 - sse / sst, np.nan)
    return rmse, r2, np.sqrt(sse / n)


def _trend_decline(y: FloatArray, t: FloatArray, mask: NDArray[np.bool_]) -> FloatArray:
    """Nominal decline of the least-squares log-linear trend, 1/day."""
    m = mask.astype(np.float64)
    n = np.maximum(m.sum(axis=1), 1.0)
    tm = (m * t).sum(axis=1) / n
    ym = (m * y).sum(axis=1) / n
    dt = np.where(mask, t - tm[:, None], 0.0)
    dy = np.where(mask, y - ym[:, None], 0.0)
    return -(dt * dy).sum(axis=1) / np.maximum((dt * dt).sum(axis=1), 1e-12)


@dataclass
class FitResult:
    """Result of :func:`fit` for one well and phase.

    Attributes
    ----------
    status, reason : str
        See :data:`STATUSES`; ``reason`` is human-readable.
    model : ArpsModel or None
        The fitted model (``t = 0`` at ``t_start``), None unless fitted.
    qi : float
        Rate at ``t_start``, volume/day.
    di : float
        Initial decline, secant-effective fraction/year.
    b, dterm : float
        Arps exponent; terminal effective decline, fraction/year.
    t_start : float
        Fit start in the caller's time axis, days.
    n_points : int
        Points used.
    rmse : float
        Root-mean-square rate residual, volume/day.
    r2 : float
        Coefficient of determination of ln(rate).
    """

    status: str
    reason: str
    model: ArpsModel | None = None
    qi: float = float("nan")
    di: float = float("nan")
    b: float = float("nan")
    dterm: float = float("nan")
    t_start: float = float("nan")
    n_points: int = 0
    rmse: float = float("nan")
    r2: float = float("nan")


def fit(
    t: ArrayLike,
    rates: ArrayLike,
    *,
    t_unit: str = "days",
    config: FitConfig | None = None,
) -> FitResult:
    """Fit one well's rate history with instantaneous rates at times ``t``.

    Parameters
    ----------
    t : array_like
        Times, in ``t_unit`` (``'days'`` or ``'months'``, a month being
        365.25/12 days), any origin.
    rates : array_like
        Rates at ``t``, volume/day.  Zero, negative or non-finite rates are
        treated as shut-in and excluded.
    t_unit : str
        Unit of ``t``.
    config : FitConfig, optional
        Rules; the peak search window is ``config.peak_search_months`` months from
        the first positive rate.  ``config.fit_start`` (if a number) is a time in
        ``t_unit``.

    Returns
    -------
    FitResult
        The fitted model has ``t = 0`` at the fit start (``result.t_start``, days
        on the input axis).
    """
    cfg = config or FitConfig()
    scale = {"days": 1.0, "months": DAYS_PER_MONTH}.get(t_unit)
    if scale is None:
        raise ValueError("t_unit must be 'days' or 'months'")
    t_ = np.asarray(t, dtype=np.float64) * scale
    q_ = np.asarray(rates, dtype=np.float64)
    if t_.shape != q_.shape or t_.ndim != 1:
        raise ValueError("t and rates must be 1-D arrays of the same length")
    order = np.argsort(t_, kind="stable")
    t_, q_ = t_[order], q_[order]
    valid = np.isfinite(q_) & (q_ > 0) & np.isfinite(t_)
    if not valid.any():
        return FitResult("no_production", "no positive rate")
    t_first = t_[valid][0]
    if cfg.fit_start is not None and np.isscalar(cfg.fit_start):
        cand = valid & (t_ >= float(cfg.fit_start) * scale)
        if not cand.any():
            return FitResult("insufficient_history", "no production after fit_start")
        i0 = int(np.argmax(cand))
    else:
        window = valid & (t_ < t_first + cfg.peak_search_months * DAYS_PER_MONTH - 1e-9)
        window[np.argmax(valid)] = True
        i0 = int(np.argmax(np.where(window, q_, -np.inf)))
    sel = valid & (np.arange(t_.size) >= i0)
    res = _fit_matrix_points(t_[None, :] - t_[i0], np.log(np.where(sel, q_, 1.0))[None, :], sel[None, :], cfg)
    status, reason, qi, di, b, rmse, r2 = (res[k][0] for k in ("status", "reason", "qi", "di", "b", "rmse", "r2"))
    out = FitResult(status, reason, t_start=float(t_[i0]), n_points=int(sel.sum()))
    if status == "fitted":
        out.qi, out.di, out.b, out.dterm = float(qi), float(di), float(b), cfg.terminal
        out.rmse, out.r2 = float(rmse), float(r2)
        out.model = ArpsModel(qi, di, b, cfg.terminal)
    return out


def _classify(
    y: FloatArray, t_mid: FloatArray, mask: NDArray[np.bool_], cfg: FitConfig
) -> tuple[NDArray[np.object_], NDArray[np.object_]]:
    n = y.shape[0]
    status = np.full(n, "fitted", dtype=object)
    reason = np.full(n, "", dtype=object)
    npts = mask.sum(axis=1)
    short = npts < cfg.min_points
    status[short] = "insufficient_history"
    reason[short] = [
        f"{k} producing month(s) from fit start, need {cfg.min_points}" for k in npts[short]
    ]
    trend = _trend_decline(y, t_mid, mask) * DAYS_PER_YEAR  # nominal 1/yr
    eff = -np.expm1(-trend)
    flat = ~short & (eff < cfg.min_decline)
    status[flat] = "no_decline"
    reason[flat] = [
        f"log-linear trend {100 * e:+.1f} %/yr effective (threshold {100 * cfg.min_decline:.1f} %/yr): "
        + ("inclining" if e < 0 else "flat")
        for e in eff[flat]
    ]
    return status, reason


def _finish(
    status: NDArray[np.object_],
    reason: NDArray[np.object_],
    y: FloatArray,
    mask: NDArray[np.bool_],
    lnqi: FloatArray,
    u: FloatArray,
    b: FloatArray,
    r: FloatArray,
    cfg: FitConfig,
    todo: NDArray[np.bool_],
) -> dict[str, Any]:
    n = y.shape[0]
    qi = np.full(n, np.nan)
    di = np.full(n, np.nan)
    bb = np.full(n, np.nan)
    rmse = np.full(n, np.nan)
    r2 = np.full(n, np.nan)
    rmse_log = np.full(n, np.nan)
    if todo.any():
        qi_t = np.exp(lnqi)
        di_t = nominal_to_secant(np.exp(u) * DAYS_PER_YEAR, b)
        s1, s2, s3 = _stats(y[todo], r, lnqi, mask[todo])
        bad = ~(np.isfinite(qi_t) & np.isfinite(di_t) & np.isfinite(b) & (qi_t > 0))
        idx = np.flatnonzero(todo)
        qi[idx], di[idx], bb[idx], rmse[idx], r2[idx], rmse_log[idx] = qi_t, di_t, b, s1, s2, s3
        if bad.any():
            status[idx[bad]] = "failed"
            reason[idx[bad]] = "solver produced non-finite parameters"
            for arr in (qi, di, bb, rmse, r2, rmse_log):
                arr[idx[bad]] = np.nan
        good = idx[~bad]
        notes = []
        lo_b, hi_b = cfg.b_bounds
        for i in good:
            msg = []
            if cfg.fixed_b is None and (bb[i] <= lo_b + 1e-9 or bb[i] >= hi_b - 1e-9):
                msg.append(f"b at bound {bb[i]:.2f}")
            if di[i] >= cfg.di_bounds[1] - 1e-6:
                msg.append("di at upper bound")
            notes.append("; ".join(msg) if msg else "ok")
        reason[good] = notes
    return {
        "status": status,
        "reason": reason,
        "qi": qi,
        "di": di,
        "b": bb,
        "rmse": rmse,
        "r2": r2,
        "rmse_log": rmse_log,
        "n_points": mask.sum(axis=1),
    }


def _fit_matrix_points(
    t: FloatArray, y: FloatArray, mask: NDArray[np.bool_], cfg: FitConfig
) -> dict[str, Any]:
    status, reason = _classify(y, t, mask, cfg)
    todo = status == "fitted"
    dt_nom = float(tangent_to_nominal(cfg.terminal)) / DAYS_PER_YEAR
    lnqi = u = b = r = np.zeros((0,))
    if todo.any():
        tt = np.maximum(t[todo], 0.0)
        lnqi, u, b, r = _solve(y[todo], mask[todo], _point_evaluator(tt, dt_nom), tt, cfg)
    return _finish(status, reason, y, mask, lnqi, u, b, r, cfg, todo)


def _fit_matrix_intervals(
    bounds: FloatArray, y: FloatArray, mask: NDArray[np.bool_], cfg: FitConfig,
    base_w: FloatArray | None = None,
) -> dict[str, Any]:
    """Fit month-average rates; ``bounds`` (n, M+1) month edges in days since fit start."""
    t_mid = 0.5 * (bounds[:, 1:] + bounds[:, :-1])
    status, reason = _classify(y, t_mid, mask, cfg)
    todo = status == "fitted"
    dt_nom = float(tangent_to_nominal(cfg.terminal)) / DAYS_PER_YEAR
    lnqi = u = b = r = np.zeros((0,))
    if todo.any():
        bt = bounds[todo]
        bw = None if base_w is None else base_w[todo]
        lnqi, u, b, r = _solve(y[todo], mask[todo], _interval_evaluator(bt, dt_nom), t_mid[todo], cfg, bw)
    out = _finish(status, reason, y, mask, lnqi, u, b, r, cfg, todo)
    sigma = np.full(y.shape[0], np.nan)
    if todo.any():
        bw = mask[todo].astype(np.float64) if base_w is None else np.where(mask[todo], base_w[todo], 0.0)
        sigma[todo] = np.sqrt((bw * r * r).sum(axis=1) / np.maximum(bw.sum(axis=1), 1e-300))
    out["sigma_log"] = np.where(out["status"] == "fitted", sigma, np.nan)
    return out


# ---------------------------------------------------------------------------
# table-level API
# ---------------------------------------------------------------------------


def _month_ordinal(s: pd.Series) -> NDArray[np.int64]:
    dt = pd.to_datetime(s)
    return (dt.dt.year.to_numpy(np.int64) * 12 + dt.dt.month.to_numpy(np.int64) - 1).astype(np.int64)


def _ord_to_month(o: ArrayLike) -> NDArray[np.datetime64]:
    """Month ordinal (year*12 + month-1) -> datetime64[ns] first of month."""
    o_ = np.asarray(o, dtype=np.int64)
    return (o_ - 1970 * 12).astype("datetime64[M]").astype("datetime64[ns]")


def _ord_days(o: ArrayLike) -> NDArray[np.int64]:
    """Days since 1970-01-01 of the first day of month ordinal ``o``."""
    o_ = np.asarray(o, dtype=np.int64)
    return (o_ - 1970 * 12).astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)


@dataclass
class _Prepared:
    well_ids: NDArray[Any]
    first_ord: NDArray[np.int64]  # first month in the table (any phase, any volume)
    last_ord: NDArray[np.int64]  # last month in the table
    row_start: NDArray[np.int64]  # per well, slice into sorted rows
    row_stop: NDArray[np.int64]
    col: NDArray[np.int64]  # per sorted row, month offset from first_ord
    days_on: FloatArray  # per sorted row
    volumes: dict[str, FloatArray]  # per phase, per sorted row (NaN if column absent)


def prepare_production(df: pd.DataFrame, phases: tuple[str, ...] = ("oil", "gas", "water")) -> _Prepared:
    """Canonical monthly production -> sorted, de-duplicated per-well arrays.

    Duplicate ``(well_id, production_month)`` rows are summed (``days_on`` capped
    at the calendar days).  ``days_on`` absent or null -> calendar days;
    ``days_on`` above the calendar days -> calendar days.
    """
    for c in ("well_id", "production_month"):
        if c not in df.columns:
            raise KeyError(f"production table lacks required column {c!r}")
    codes, uniques = pd.factorize(df["well_id"], sort=True)
    mord = _month_ordinal(df["production_month"])
    cal = (_ord_days(mord + 1) - _ord_days(mord)).astype(np.float64)
    if "days_on" in df.columns:
        don = pd.to_numeric(df["days_on"], errors="coerce").to_numpy(np.float64, na_value=np.nan)
        don = np.where(np.isfinite(don), don, cal)
    else:
        don = cal.copy()
    don = np.clip(don, 0.0, cal)
    vols = {}
    for ph in phases:
        colname = PHASES[ph]
        if colname in df.columns:
            vols[ph] = pd.to_numeric(df[colname], errors="coerce").to_numpy(np.float64, na_value=np.nan)
        else:
            vols[ph] = np.full(len(df), np.nan)
    key = codes.astype(np.int64) * 100_000 + (mord - mord.min() if len(mord) else mord)
    order = np.argsort(key, kind="stable")
    key_s = key[order]
    codes_s = codes[order].astype(np.int64)
    mord_s = mord[order]
    don_s = don[order]
    cal_s = cal[order]
    vols_s = {ph: v[order] for ph, v in vols.items()}
    if len(key_s) > 1 and np.any(key_s[1:] == key_s[:-1]):
        start = np.r_[True, key_s[1:] != key_s[:-1]]
        grp = np.cumsum(start) - 1
        ng = int(grp[-1]) + 1
        don_s = np.minimum(np.bincount(grp, don_s, ng), cal_s[start])
        for ph in vols_s:
            v = vols_s[ph]
            anyv = np.bincount(grp, np.isfinite(v).astype(np.float64), ng) > 0
            vs = np.bincount(grp, np.nan_to_num(v), ng)
            vols_s[ph] = np.where(anyv, vs, np.nan)
        codes_s, mord_s = codes_s[start], mord_s[start]
    n = len(uniques)
    row_start = np.searchsorted(codes_s, np.arange(n), side="left")
    row_stop = np.searchsorted(codes_s, np.arange(n), side="right")
    first_ord = mord_s[row_start] if n else np.zeros(0, np.int64)
    last_ord = mord_s[row_stop - 1] if n else np.zeros(0, np.int64)
    col = mord_s - np.repeat(first_ord, row_stop - row_start)
    return _Prepared(
        np.asarray(uniques), first_ord, last_ord, row_start, row_stop, col, don_s, vols_s
    )


def _fit_start_ords(cfg: FitConfig, well_ids: NDArray[Any]) -> NDArray[np.float64] | None:
    if cfg.fit_start is None:
        return None
    fs = cfg.fit_start
    if isinstance(fs, Mapping) or isinstance(fs, pd.Series):
        m = dict(fs.items())
        vals = [m.get(w) for w in well_ids]
    else:
        vals = [fs] * len(well_ids)
    out = np.full(len(well_ids), np.nan)
    for i, v in enumerate(vals):
        if v is not None and not (isinstance(v, float) and np.isnan(v)):
            ts = pd.Timestamp(v)
            out[i] = ts.year * 12 + ts.month - 1
    return out


def _width_class(span: NDArray[np.int64]) -> NDArray[np.int64]:
    """The padded width a well is fitted in: the power of two (at least 8) holding its months.

    numpy sums a row of a power-of-two width >= 8 with the same association of its leading
    values whatever zeros follow (pairwise summation in blocks of 8, halves of powers of two),
    so a well's sums, and its fit, are the same in any chunk of its class.
    """
    s = np.maximum(np.asarray(span, dtype=np.int64), 1)
    return np.maximum(8, 1 << np.ceil(np.log2(s)).astype(np.int64))


def _chunk_rows(prep: _Prepared, wells: NDArray[np.int64]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """(sorted-row indices, local well index per row) of the given wells."""
    starts, stops = prep.row_start[wells], prep.row_stop[wells]
    lens = stops - starts
    offs = np.cumsum(lens) - lens
    rows = np.repeat(starts - offs, lens) + np.arange(int(lens.sum()))
    return rows, np.repeat(np.arange(len(wells)), lens)


@dataclass
class _ChunkMatrices:
    """A chunk of wells laid out as ``(n_wells, width)`` month matrices (column 0 = each well's first month)."""

    wells: NDArray[np.int64]  # indices into the _Prepared arrays
    rows: NDArray[np.int64]  # the chunk's sorted-row indices
    local: NDArray[np.int64]  # per row, the well's position in the chunk
    col: NDArray[np.int64]  # per row, the month column
    width: int
    first: NDArray[np.int64]  # first month ordinal per well
    last: NDArray[np.int64]  # last month ordinal per well
    days_on: FloatArray  # (n, width) producing days, 0 where no row


def _chunk_matrices(prep: _Prepared, wells: NDArray[np.int64], width: int) -> _ChunkMatrices:
    """Lay the wells' rows out in month columns; ``width`` grows to hold the longest well."""
    rows, local = _chunk_rows(prep, wells)
    col = prep.col[rows]
    width = max(int(width), int(col.max()) + 1 if col.size else 1)
    dmat = np.zeros((len(wells), width))
    dmat[local, col] = prep.days_on[rows]
    return _ChunkMatrices(wells, rows, local, col, width, prep.first_ord[wells], prep.last_ord[wells], dmat)


def _phase_rates(prep: _Prepared, m: _ChunkMatrices, phase: str) -> tuple[NDArray[np.bool_], FloatArray, FloatArray]:
    """(valid, rate, cum_to_date) of one phase: producing months (volume and days on > 0), the
    producing-day rate there (0 elsewhere), and the volume produced to date per well."""
    vmat = np.zeros((len(m.wells), m.width))
    vmat[m.local, m.col] = np.nan_to_num(prep.volumes[phase][m.rows], nan=0.0)
    valid = (m.days_on > 0) & (vmat > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(valid, vmat / np.where(m.days_on > 0, m.days_on, 1.0), 0.0)
    cum_to_date = np.where(vmat > 0, vmat, 0.0).sum(axis=1)
    return valid, rate, cum_to_date


@dataclass
class _FitWindow:
    """Where each well's fit starts (the column) and which months it may use."""

    start_col: NDArray[np.int64]  # the fit-start column: the given fit_start, else the peak of the last segment
    fit_ok: NDArray[np.bool_]  # (n, width) months the fit may use (catch-up months left out)
    no_start: NDArray[np.bool_]  # a fit_start was given and no production on or after it
    seg_col: NDArray[np.int64]  # the first column of the last segment
    seg_rule: NDArray[np.object_]  # the rule that placed it
    catchup_months: NDArray[np.int64]


def _fit_window(valid: NDArray[np.bool_], rate: FloatArray, m: _ChunkMatrices, cfg: FitConfig,
               fs_ord: FloatArray | None) -> _FitWindow:
    """Pick each well's fit window: the last decline segment (``cfg.segments``, catch-up months
    dropped unless a ``fit_start`` is given for the well) and in it the peak rate among the first
    ``cfg.peak_search_months`` months; a given ``fit_start`` overrides the peak."""
    nw = len(m.wells)
    cols = np.arange(m.width)[None, :]
    if fs_ord is not None:
        f = fs_ord[m.wells] - m.first
        f = np.where(np.isnan(f), -1, f)
        start_ok = valid & (cols >= f[:, None])
        use_fs = ~np.isnan(fs_ord[m.wells])
    else:
        use_fs = np.zeros(nw, bool)
        start_ok = valid
    if cfg.segments:
        seg = last_segment(valid, rate, cfg.segment_rules)
        fit_ok = valid & ~(seg.catchup & ~use_fs[:, None])
        seg_col = seg.start_col
        seg_rule = seg.rule.copy()
        catchup = seg.n_catchup
    else:
        fit_ok = valid
        seg_col = np.argmax(valid, axis=1)
        seg_rule = np.full(nw, "first_production", dtype=object)
        catchup = np.zeros(nw, np.int64)
    seg_rule[use_fs] = RULE_OVERRIDE
    win = fit_ok & (cols >= seg_col[:, None]) & (cols < seg_col[:, None] + max(cfg.peak_search_months, 1))
    peak = np.argmax(np.where(win, rate, -np.inf), axis=1)
    peak = np.where(win.any(axis=1), peak, np.argmax(fit_ok & (cols >= seg_col[:, None]), axis=1))
    start_col = np.where(use_fs, np.argmax(start_ok, axis=1), peak)
    no_start = use_fs & ~start_ok.any(axis=1)
    return _FitWindow(start_col, fit_ok, no_start, seg_col, seg_rule, catchup)


def _aligned_series(rate: FloatArray, has: NDArray[np.bool_], start: _FitWindow, m: _ChunkMatrices,
                    cfg: FitConfig) -> tuple[NDArray[np.bool_], FloatArray, FloatArray, FloatArray | None]:
    """(mask, log rate, month edges in days, base weights): the series shifted so column 0 is the
    fit-start month. The width stays the class width (see :func:`_width_class`); the weights halve
    every ``cfg.half_life_months`` back from the last fitted month (None without a half-life)."""
    ww = m.width
    idx = start.start_col[:, None] + np.arange(ww)[None, :]
    inside = idx < m.width
    idc = np.minimum(idx, m.width - 1)
    mask = np.take_along_axis(start.fit_ok, idc, axis=1) & inside & has[:, None] & ~start.no_start[:, None]
    q = np.take_along_axis(rate, idc, axis=1)
    y = np.log(np.where(mask, q, 1.0))
    start_ord = m.first + start.start_col
    edge_ord = start_ord[:, None] + np.arange(ww + 1)[None, :]
    bounds = (_ord_days(edge_ord) - _ord_days(start_ord)[:, None]).astype(np.float64)
    base_w = None
    if cfg.half_life_months is not None:
        last_m = np.where(mask.any(axis=1), ww - 1 - np.argmax(mask[:, ::-1], axis=1), 0)
        age = last_m[:, None] - np.arange(ww)[None, :]
        base_w = np.where(mask, np.exp2(-np.maximum(age, 0) / float(cfg.half_life_months)), 0.0)
    return mask, y, bounds, base_w


def _mark_unfittable(res: dict[str, Any], has: NDArray[np.bool_], no_start: NDArray[np.bool_],
                     phase: str) -> NDArray[np.bool_]:
    """Status ``no_production`` / ``insufficient_history`` where the well has nothing to fit, and the
    parameters cleared wherever the status is not ``fitted``; returns the fitted rows."""
    st, rs = res["status"], res["reason"]
    st[~has] = "no_production"
    rs[~has] = f"no positive {PHASES[phase]} volume in a producing month"
    st[no_start] = "insufficient_history"
    rs[no_start] = "no production on or after the given fit_start"
    fitted = st == "fitted"
    for k in ("qi", "di", "b", "rmse", "r2", "rmse_log"):
        res[k] = np.where(fitted, res[k], np.nan)
    return fitted


def _remaining_volume(res: dict[str, Any], fitted: NDArray[np.bool_], m: _ChunkMatrices,
                      start_ord: NDArray[np.int64], cfg: FitConfig, phase: str) -> tuple[FloatArray, FloatArray]:
    """(remaining volume, end time in days from the fit start) of the fitted wells: from the end of
    the history to the economic limit ``cfg.q_limits[phase]`` or the ``cfg.max_years`` cap from the
    first month, whichever comes first (NaN for the others)."""
    nw = len(m.wells)
    q_lim = float(cfg.q_limits.get(phase, 0.0))
    dt_nom = float(tangent_to_nominal(cfg.terminal)) / DAYS_PER_YEAR
    t_hist = (_ord_days(m.last + 1) - _ord_days(start_ord)).astype(np.float64)
    t_cap = (_ord_days(m.first) + cfg.max_years * DAYS_PER_YEAR - _ord_days(start_ord)).astype(np.float64)
    remaining = np.full(nw, np.nan)
    t_end_all = np.full(nw, np.nan)
    if fitted.any():
        qi = res["qi"][fitted]
        d_nom = secant_to_nominal(res["di"][fitted], res["b"][fitted]) / DAYS_PER_YEAR
        bb = res["b"][fitted]
        t_lim = _arps_time_at_rate(qi, d_nom, bb, np.full_like(qi, dt_nom), np.full_like(qi, q_lim))
        t_end = np.minimum(t_lim, t_cap[fitted])
        t_a = np.minimum(t_hist[fitted], t_end)
        _, c = arps_rate_cum(qi[:, None], d_nom[:, None], bb[:, None], dt_nom,
                             np.stack([t_a, np.maximum(t_end, t_a)], axis=1), want_rate=False)
        assert c is not None
        remaining[fitted] = np.maximum(c[:, 1] - c[:, 0], 0.0)
        t_end_all[fitted] = t_end
    return remaining, t_end_all


def _fit_phase(prep: _Prepared, m: _ChunkMatrices, cfg: FitConfig, fs_ord: FloatArray | None,
               phase: str) -> dict[str, Any]:
    """Fit one phase of the chunk's wells: one dict of result columns (see :func:`_fit_chunk`)."""
    nw = len(m.wells)
    valid, rate, cum_to_date = _phase_rates(prep, m, phase)
    has = valid.any(axis=1)
    start = _fit_window(valid, rate, m, cfg, fs_ord)
    mask, y, bounds, base_w = _aligned_series(rate, has, start, m, cfg)
    res = _fit_matrix_intervals(bounds, y, mask, cfg, base_w)
    fitted = _mark_unfittable(res, has, start.no_start, phase)
    start_ord = m.first + start.start_col
    remaining, t_end_all = _remaining_volume(res, fitted, m, start_ord, cfg, phase)
    last_valid = np.where(has, m.width - 1 - np.argmax(start.fit_ok[:, ::-1], axis=1), 0)
    return {
        "_well_index": np.asarray(m.wells),
        "phase": np.full(nw, phase, dtype=object),
        "model": np.full(nw, cfg.model, dtype=object),
        "qi": res["qi"],
        "di": res["di"],
        "b": res["b"],
        "dterm": np.where(fitted, cfg.terminal, np.nan),
        "t0_ord": np.where(has, start_ord, -1),
        "fit_end_ord": np.where(has, m.first + last_valid, -1),
        "n_points": res["n_points"],
        "rmse": res["rmse"],
        "r2": res["r2"],
        "rmse_log": res["rmse_log"],
        "status": res["status"],
        "reason": res["reason"],
        "cum_to_date": cum_to_date,
        "remaining": remaining,
        "first_ord": m.first,
        "last_ord": m.last,
        "t_end_days": t_end_all,
        "segment_ord": np.where(has, m.first + start.seg_col, -1),
        "segment_rule": np.where(has, start.seg_rule, None),
        "catchup_months": start.catchup_months,
        "sigma_log": res["sigma_log"],
    }


def _fit_chunk(
    prep: _Prepared, wells: NDArray[np.int64], cfg: FitConfig, fs_ord: FloatArray | None, width: int
) -> list[dict[str, Any]]:
    """Fit the wells ``wells`` (indices into ``prep``) for every phase in a ``(n, width)`` matrix;
    returns one dict of columns per phase.

    Stages, per phase: the producing-day rates (:func:`_phase_rates`), the fit window
    (:func:`_fit_window`), the series aligned on the fit start (:func:`_aligned_series`), the batched
    fit (:func:`_fit_matrix_intervals`), the statuses of wells with nothing to fit
    (:func:`_mark_unfittable`) and the remaining volume (:func:`_remaining_volume`).
    """
    m = _chunk_matrices(prep, wells, width)
    return [_fit_phase(prep, m, cfg, fs_ord, ph) for ph in cfg.phases]


def _failed_rows(wells: NDArray[np.int64], cfg: FitConfig, prep: _Prepared, msg: str) -> list[dict[str, Any]]:
    nw = len(wells)
    nan = np.full(nw, np.nan)
    out = []
    rows, local = _chunk_rows(prep, wells)
    for ph in cfg.phases:
        v = np.nan_to_num(prep.volumes[ph][rows], nan=0.0)
        cum = np.bincount(local, np.where(v > 0, v, 0.0), nw)
        out.append(
            {
                "_well_index": np.asarray(wells), "phase": np.full(nw, ph, dtype=object),
                "model": np.full(nw, cfg.model, dtype=object), "qi": nan, "di": nan, "b": nan,
                "dterm": nan, "t0_ord": np.full(nw, -1), "fit_end_ord": np.full(nw, -1),
                "n_points": np.zeros(nw, np.int64), "rmse": nan, "r2": nan, "rmse_log": nan,
                "status": np.full(nw, "failed", dtype=object), "reason": np.full(nw, msg, dtype=object),
                "cum_to_date": cum, "remaining": nan, "first_ord": prep.first_ord[wells],
                "last_ord": prep.last_ord[wells], "t_end_days": nan,
                "segment_ord": np.full(nw, -1), "segment_rule": np.full(nw, None, dtype=object),
                "catchup_months": np.zeros(nw, np.int64), "sigma_log": nan,
            }
        )
    return out


def _fit_isolated(prep: _Prepared, wells: NDArray[np.int64], cfg: FitConfig, fs_ord: FloatArray | None,
                  width: int) -> list[dict[str, Any]]:
    """A chunk's fit; when the chunk raises, every well again on its own (a well that still
    raises gets status ``failed`` with the message)."""
    try:
        return _fit_chunk(prep, wells, cfg, fs_ord, width)
    except Exception:  # noqa: BLE001 - batch must not fail; isolate the well
        log.warning("chunk of %d wells raised; refitting well by well", len(wells), exc_info=True)
    parts: list[dict[str, Any]] = []
    for i in wells:
        one = np.array([i])
        try:
            parts.extend(_fit_chunk(prep, one, cfg, fs_ord, width))
        except Exception as exc:  # noqa: BLE001
            parts.extend(_failed_rows(one, cfg, prep, f"{type(exc).__name__}: {exc}"))
    return parts


def fit_threads(cfg: FitConfig) -> int:
    """Threads :func:`fit_wells` fits chunks on: ``cfg.threads``, else ``$BASINLAB_THREADS``, else the
    cores this process may use (the same setting as DuckDB's)."""
    if cfg.threads is not None:
        return max(1, int(cfg.threads))
    from ..config import threads_setting

    return threads_setting()


#: Output columns of :func:`fit_wells`, in order.
RESULT_COLUMNS: tuple[str, ...] = (
    "well_id", "phase", "model", "qi", "di", "b", "dterm", "t0_month", "fit_start", "fit_end",
    "n_points", "rmse", "r2", "rmse_log", "status", "reason", "cum_to_date", "remaining", "eur",
    "first_month", "last_month", "units", "segment_start", "segment_rule", "catchup_months", "sigma_log",
    "half_life_months",
)


def fit_wells(df: pd.DataFrame, config: FitConfig | None = None, **overrides: Any) -> pd.DataFrame:
    """Fit every well and phase of a canonical monthly production table.

    Parameters
    ----------
    df : DataFrame
        Columns ``well_id``, ``production_month`` (date-like; any day -> that
        month), optional ``days_on`` (producing days; absent/null -> calendar
        days), and any of ``oil_bbl``, ``gas_mcf``, ``water_bbl``.
    config : FitConfig, optional
        Fit rules (defaults: modified hyperbolic, dterm 6 %/yr, b in [0, 2],
        soft-l1 on log rates, peak within the first 12 months, >= 6 points).
    **overrides
        Field overrides applied to ``config`` (e.g. ``min_points=4``).

    Returns
    -------
    DataFrame
        One row per well and phase:

        ``well_id``, ``phase`` ('oil'/'gas'/'water'), ``model``,
        ``qi`` (volume/day at the start of the fit-start month), ``di``
        (secant-effective fraction/yr), ``b``, ``dterm`` (effective fraction/yr),
        ``t0_month`` (fit-start month, the model's ``t = 0``), ``fit_start``
        (= ``t0_month``), ``fit_end`` (last producing month used), ``n_points``,
        ``rmse`` (rate residual, volume/day), ``r2`` and ``rmse_log`` (of ln rate),
        ``status``, ``reason``, ``cum_to_date`` (all recorded volume, bbl or mcf),
        ``remaining`` (forecast from the month after ``last_month`` to the
        economic limit ``config.q_limits[phase]`` or ``config.max_years`` after
        ``first_month``, at full producing days), ``eur`` (= cum_to_date +
        remaining), ``first_month`` / ``last_month`` (of the well's rows in the
        table), ``units`` ('bbl' or 'mcf').  Non-fitted rows have NaN parameters,
        ``remaining`` and ``eur``.

    Notes
    -----
    Never raises for bad wells: a chunk that raises is refitted well by well and
    a well that still raises gets ``status='failed'`` with the message.
    """
    cfg = replace(config or FitConfig(), **overrides) if overrides else (config or FitConfig())
    prep = prepare_production(df, cfg.phases)
    n = len(prep.well_ids)
    fs_ord = _fit_start_ords(cfg, prep.well_ids)
    widths = _width_class(prep.last_ord - prep.first_ord + 1) if n else np.zeros(0, np.int64)
    jobs = []
    for width in np.unique(widths):
        members = np.flatnonzero(widths == width)
        jobs += [(members[lo:lo + cfg.chunk_size], int(width)) for lo in range(0, len(members), cfg.chunk_size)]
    threads = min(fit_threads(cfg), len(jobs))
    if threads > 1:
        # numpy releases the GIL inside its loops: chunks fit side by side on several cores
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(threads, thread_name_prefix="basinlab-fit") as pool:
            done = list(pool.map(lambda job: _fit_isolated(prep, job[0], cfg, fs_ord, job[1]), jobs))
    else:
        done = [_fit_isolated(prep, wells, cfg, fs_ord, width) for wells, width in jobs]
    parts: list[dict[str, Any]] = [part for chunk in done for part in chunk]
    if not parts:
        return pd.DataFrame(columns=list(RESULT_COLUMNS))
    cols = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    out = pd.DataFrame(
        {
            "well_id": prep.well_ids[cols["_well_index"]],
            "phase": cols["phase"],
            "model": cols["model"],
            "qi": cols["qi"],
            "di": cols["di"],
            "b": cols["b"],
            "dterm": cols["dterm"],
        }
    )
    t0 = cols["t0_ord"]
    t0_month = pd.Series(_ord_to_month(np.where(t0 >= 0, t0, 0))).where(t0 >= 0)
    fe = cols["fit_end_ord"]
    out["t0_month"] = t0_month.to_numpy()
    out["fit_start"] = t0_month.to_numpy()
    out["fit_end"] = pd.Series(_ord_to_month(np.where(fe >= 0, fe, 0))).where(fe >= 0).to_numpy()
    out["n_points"] = cols["n_points"].astype(np.int64)
    for k in ("rmse", "r2", "rmse_log", "status", "reason", "cum_to_date", "remaining"):
        out[k] = cols[k]
    out["eur"] = out["cum_to_date"] + out["remaining"]
    out["first_month"] = _ord_to_month(cols["first_ord"])
    out["last_month"] = _ord_to_month(cols["last_ord"])
    out["units"] = [PHASE_UNITS[p] for p in cols["phase"]]
    so = cols["segment_ord"]
    out["segment_start"] = pd.Series(_ord_to_month(np.where(so >= 0, so, 0))).where(so >= 0).to_numpy()
    out["segment_rule"] = cols["segment_rule"]
    out["catchup_months"] = cols["catchup_months"].astype(np.int64)
    out["sigma_log"] = cols["sigma_log"]
    out["half_life_months"] = np.nan if cfg.half_life_months is None else float(cfg.half_life_months)
    phase_rank = {p: i for i, p in enumerate(cfg.phases)}
    out["_o"] = [phase_rank[p] for p in out["phase"]]
    out = out.sort_values(["well_id", "_o"], kind="stable").drop(columns="_o").reset_index(drop=True)
    return out
