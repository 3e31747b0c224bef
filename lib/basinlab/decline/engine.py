"""Forecast every well as of a month: the engineer's rules around the batched fitter.

:func:`forecast_wells` takes canonical monthly production and returns one row per
well and phase with a **status**, a **method** and a reason, and the monthly
forecast. Nothing a single well holds (one month, zeros, NaN, huge values) can
make it raise: a well that cannot be forecast gets a status saying why.

Rules, in order (each documented in :class:`ForecastConfig`):

1. **As of a month.** Only rows up to ``as_of`` are used; the forecast starts the
   month after it. A re-run for a past month reproduces what was known then.
2. **Fit the current trend** (:func:`~basinlab.decline.fit_wells`): the last decline
   segment (:mod:`~basinlab.decline.segments`), recency-weighted (half-life).
3. **Inactive.** No production in the last ``inactive_months`` months: not
   forecast (status ``inactive``).
4. **Shape.** A fitted curve (method ``curve``); a short history takes its
   field's median shape (``analog``) or the ML trendline (``ml_trendline``); a
   flat / inclining / unfittable producing well declines from its recent rate at
   the terminal decline (``terminal_decline``).
5. **Anchor** to the recent rate: the curve is scaled (``qi`` times
   ``anchor_factor``, shape kept) so that its average over the last
   ``anchor_months`` producing months equals their actual mean producing-day
   rate (six months: backtests on SODIR and the demo beat three); method ``anchored_curve``
   where the factor moves the curve by more than ``anchor_tolerance``.
6. **Uptime.** Forecast volumes are producing-day volumes times the well's
   recent uptime (producing days / calendar days over the last ``uptime_months``),
   so they compare with what the well will report.
7. **Economic limit.** A producing well whose forecast calendar-day rate starts
   under its limit gets status ``below_limit``: forecast at its own trend for
   ``below_limit_years`` (``below_limit="trend"``) or an explicit zero
   (``"cut"``); never a silent zero. Others stop at the limit.
8. **Secondary phases by ratio.** Gas on an oil well, water, oil on a gas well:
   where the phase's own fit is poor or missing, it is the primary phase's
   forecast times the recent GOR / WOR / yield (status and method ``ratio``),
   or, with ``ratio_trend.enabled``, moved along the ratio's recent log-linear trend where
   that trend is long and significant (:mod:`~basinlab.decline.ratios`; ``ratio_basis`` says
   ``constant`` or ``trend``, ``ratio_trend_per_yr`` the change per year).
9. **Uncertainty** (:mod:`~basinlab.decline.uncertainty`): P10/P50/P90 per
   month, of the remaining volume and the EUR.

Batches
-------
Two things a well's forecast takes from the other wells: the analog shapes of its field
(medians of the fitted wells) and the median residual scale of all wells (the scale of a
row without its own fit). :class:`ForecastContext` carries them, so the decline step can
forecast a warehouse batch by batch of wells (:func:`prepare` on every batch, the context
from all of them, then :func:`finish` per batch) with the very numbers
:func:`forecast_wells` gives all wells at once: every other rule, the fitter and the
uncertainty draws (keyed by well and phase) see one well at a time.

Internally a forecast row knows its parameter row by position (``ForecastResult.rows``),
never by joining strings.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from . import ratios
from . import uncertainty as unc
from .analogs import ANALOG_STATUS, VOLUME_COLUMNS, AnalogMedians, analog_medians, apply_analogs
from .conversions import DAYS_PER_YEAR, secant_to_nominal, tangent_to_nominal
from .fitting import PHASE_UNITS, FitConfig, _month_ordinal, _ord_days, _ord_to_month, fit_wells
from .forecast import BUCKET_MONTHS, FORECAST_COLUMNS, _grouped_cumsum, forecast
from .models import arps_rate_cum

__all__ = ["ForecastConfig", "ForecastContext", "ForecastResult", "forecast_wells", "prepare", "finish",
           "METHODS", "FORECAST_STATUSES", "clean_production"]

log = logging.getLogger(__name__)

#: forecast methods (``method`` column): how a well-phase's forecast was made
METHODS = ("curve", "anchored_curve", "analog", "ml_trendline", "terminal_decline", "ratio", "below_limit")
#: statuses beyond the fitter's: ``inactive``, ``below_limit``, ``ratio``, ``ml_trendline``
FORECAST_STATUSES = ("fitted", "analog", "ml_trendline", "ratio", "below_limit", "inactive",
                     "insufficient_history", "no_decline", "no_production", "failed")
#: producing months a forecast curve needs (backtests on SODIR and the demo: 9 beat 6 and 12)
FORECAST_MIN_POINTS = 9
#: a monthly volume above this (bbl or mcf) is not a well's production: treated as not reported
MAX_MONTHLY_VOLUME = 1e12
#: months ahead sampled one by one for the P10/P90 of totals (later months are binned by year)
_FINE_MONTHS = 24


@dataclass(frozen=True)
class ForecastConfig:
    """Rules of :func:`forecast_wells` (see the module docstring for the order).

    Attributes
    ----------
    fit : FitConfig
        Fitting rules (model, segments, half-life, limits ``q_limits``, ``max_years``); by default
        a curve needs :data:`FORECAST_MIN_POINTS` producing months in the last segment (fewer: the
        analog shape or the ML trendline).
    inactive_months : int
        No production in this many months up to ``as_of``: status ``inactive``.
    anchor : bool
        Scale the curve to the recent actual rate (rule: the mean of the last ``anchor_months`` producing months).
    anchor_months : int
        Producing months whose mean producing-day rate is the anchor (default 6).
    anchor_tolerance : float
        Relative change below which the method stays ``curve`` (the scaling is still applied).
    ramp_up : bool
        A short-history well still ramping up (its highest producing-day rate is one of its last
        ``ramp_months`` producing months, the partial first month left out) starts its analog
        decline at the forecast start from that demonstrated rate, not from a peak it has not
        reached yet.
    ramp_months : int
        Producing months of the ramp-up rule.
    uptime_months : int
        Months over which the uptime (producing / calendar days) is measured.
    below_limit : {"trend", "cut"}
        Wells starting under the economic limit: forecast at their trend, or an explicit zero.
    below_limit_years : float
        Horizon of a below-limit trend forecast.
    ratio_phases : bool
        Forecast poor secondary phases from the primary phase by ratio.
    ratio_max_sigma : float
        A secondary phase whose fit residual scale (ln rate) exceeds this is "poor".
    ratio_months : int
        Producing months of the primary phase the ratio is measured over.
    ratio_trend : RatioTrendRules
        When the ratio follows its recent log-linear trend instead of staying constant
        (:mod:`~basinlab.decline.ratios`: 24 months, at least 12, |t| >= 2, at most x1.5 a year,
        held after 5 years); off by default (the SODIR backtests favour the constant ratio).
    short_history : {"analog", "ml_trendline"}
        Method for wells too short to fit (``ml_trendline`` needs ``trendlines``).
    group_by : str
        Header column of the analog groups.
    uncertainty_scale : float
        Calibration constant ``c`` of :mod:`~basinlab.decline.uncertainty`.
    sigma_floor, sigma_default : float
        Floor of a well's residual scale; scale of rows without a fit.
    samples : int
        Draws per well for totals.
    seed : int
        Seed of the draws (deterministic results).
    """

    fit: FitConfig = field(default_factory=lambda: FitConfig(min_points=FORECAST_MIN_POINTS))
    inactive_months: int = 3
    anchor: bool = True
    anchor_months: int = 6
    anchor_tolerance: float = 0.10
    ramp_up: bool = True
    ramp_months: int = 3
    uptime_months: int = 12
    below_limit: str = "trend"
    below_limit_years: float = 5.0
    ratio_phases: bool = True
    ratio_max_sigma: float = 0.35
    ratio_months: int = 6
    ratio_trend: ratios.RatioTrendRules = field(default_factory=ratios.RatioTrendRules)
    short_history: str = "analog"
    group_by: str = "field"
    uncertainty_scale: float = unc.DEFAULT_SCALE
    sigma_floor: float = 0.08
    sigma_default: float = 0.3
    samples: int = 200
    seed: int = 0

    def __post_init__(self) -> None:
        if self.below_limit not in ("trend", "cut"):
            raise ValueError(f"below_limit must be 'trend' or 'cut', got {self.below_limit!r}")
        if self.short_history not in ("analog", "ml_trendline"):
            raise ValueError(f"short_history must be 'analog' or 'ml_trendline', got {self.short_history!r}")
        if min(self.inactive_months, self.anchor_months, self.uptime_months, self.ramp_months) < 1:
            raise ValueError("inactive_months, anchor_months, uptime_months and ramp_months must be >= 1")


@dataclass
class ForecastResult:
    """``params``: one row per well and phase; ``forecast``: monthly (or compact) rows; ``as_of``: the
    month (Timestamp); ``rows``: per forecast row, the position of its well-phase in ``params``."""

    params: pd.DataFrame
    forecast: pd.DataFrame
    as_of: pd.Timestamp | None
    draws: tuple[np.ndarray, np.ndarray] | None = None  # (z1, z2) per params row
    seconds: dict[str, float] = field(default_factory=dict)
    rows: np.ndarray | None = None


@dataclass(frozen=True)
class ForecastContext:
    """What a batch of wells takes from every other well (see "Batches" in the module docstring).

    Attributes
    ----------
    analogs : AnalogMedians or None
        The analog shapes (None: from the wells forecast together).
    sigma_median : float or None
        Median residual scale ``sigma_log`` over every well-phase (NaN when none has one;
        None: from the wells forecast together).
    """

    analogs: AnalogMedians | None = None
    sigma_median: float | None = None

    #: the columns of the prepared params the context is computed from
    BASIS_COLUMNS = ("well_id", "phase", "status", "di", "b", "dterm", "sigma_log")

    @staticmethod
    def basis(params: pd.DataFrame) -> pd.DataFrame:
        """The part of a batch's prepared params (:attr:`Stage.params`) the context needs."""
        return params[list(ForecastContext.BASIS_COLUMNS)]

    @classmethod
    def from_basis(cls, basis: pd.DataFrame, header: pd.DataFrame | None, config: ForecastConfig
                   ) -> ForecastContext:
        """The context of every well whose :meth:`basis` rows are in ``basis``."""
        s = basis["sigma_log"].to_numpy(np.float64)
        return cls(analog_medians(basis, header, config.group_by),
                   float(np.nanmedian(s)) if np.isfinite(s).any() else float("nan"))


def clean_production(production: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Canonical production with unusable values made explicit: returns (frame, rows dropped).

    Rows without a well id or a month cannot belong to a well and are dropped (counted);
    volumes that are not finite, negative or above :data:`MAX_MONTHLY_VOLUME` are
    treated as not reported (NaN); ``days_on`` that is not finite is treated as missing.
    """
    df = production.copy()
    for c in ("well_id", "production_month"):
        if c not in df.columns:
            raise KeyError(f"production table lacks required column {c!r}")
    df["production_month"] = pd.to_datetime(df["production_month"], errors="coerce")
    keep = df["well_id"].notna() & df["production_month"].notna()
    dropped = int((~keep).sum())
    df = df[keep].copy()
    df["well_id"] = df["well_id"].astype(str)
    for col in VOLUME_COLUMNS.values():
        if col in df.columns:
            v = pd.to_numeric(df[col], errors="coerce").astype(float)
            df[col] = v.where(np.isfinite(v) & (v >= 0) & (v <= MAX_MONTHLY_VOLUME))
    if "days_on" in df.columns:
        d = pd.to_numeric(df["days_on"], errors="coerce").astype(float)
        df["days_on"] = d.where(np.isfinite(d))
    return df, dropped


def _month_days(o: np.ndarray) -> np.ndarray:
    return (_ord_days(o + 1) - _ord_days(o)).astype(np.float64)


@dataclass
class _Long:
    """One entry per parameter row and reported month, sorted by (row, ord)."""

    row: np.ndarray
    ord: np.ndarray
    cal: np.ndarray
    days: np.ndarray
    volume: np.ndarray
    producing: np.ndarray


def _param_rows(params: pd.DataFrame, wells, phases) -> np.ndarray:
    """Position in ``params`` of each (well, phase); -1 where absent."""
    keys = pd.MultiIndex.from_arrays([params["well_id"].to_numpy(dtype=object),
                                      params["phase"].to_numpy(dtype=object)])
    return keys.get_indexer(pd.MultiIndex.from_arrays([np.asarray(wells, dtype=object),
                                                       np.asarray(phases, dtype=object)]))


def _well_major(params: pd.DataFrame, phases: tuple[str, ...]) -> pd.Index | None:
    """The wells of ``params`` when it is the fitter's well-major table (every well, every phase in
    order: row = well index x phases + phase index), else None."""
    n_ph = len(phases)
    if not n_ph or len(params) % n_ph:
        return None
    ids = params["well_id"].to_numpy(dtype=object)
    wells = ids[::n_ph]
    if (np.array_equal(params["phase"].to_numpy(dtype=object), np.tile(np.array(phases, dtype=object), len(wells)))
            and np.array_equal(np.repeat(wells, n_ph), ids) and pd.Index(wells).is_unique):
        return pd.Index(wells)
    return None


def _long(prod: pd.DataFrame, params: pd.DataFrame, phases: tuple[str, ...]) -> _Long:
    """Every reported month of every parameter row: ord, calendar days, producing days, volume."""
    mord = _month_ordinal(prod["production_month"])
    cal = _month_days(mord)
    if "days_on" in prod.columns:
        d = prod["days_on"].to_numpy(np.float64)
        days = np.clip(np.where(np.isfinite(d), d, cal), 0.0, cal)
    else:
        days = cal
    wells = prod["well_id"].to_numpy(dtype=object)
    major = _well_major(params, phases)
    widx = major.get_indexer(wells) if major is not None else None
    rows, ords, cals, dys, vols = [], [], [], [], []
    for i, ph in enumerate(phases):
        col = VOLUME_COLUMNS[ph]
        rows.append(np.where(widx >= 0, widx * len(phases) + i, -1) if widx is not None
                    else _param_rows(params, wells, np.full(len(prod), ph, dtype=object)))
        ords.append(mord)
        cals.append(cal)
        dys.append(days)
        vols.append(prod[col].to_numpy(np.float64) if col in prod.columns else np.full(len(prod), np.nan))
    row = np.concatenate(rows) if rows else np.zeros(0, np.int64)
    o = np.concatenate(ords) if ords else np.zeros(0, np.int64)
    cal_a = np.concatenate(cals) if cals else np.zeros(0)
    days_a = np.concatenate(dys) if dys else np.zeros(0)
    vol = np.concatenate(vols) if vols else np.zeros(0)
    keep = row >= 0
    row, o, cal_a, days_a, vol = row[keep], o[keep], cal_a[keep], days_a[keep], vol[keep]
    order = np.lexsort((o, row))
    row, o, cal_a, days_a, vol = row[order], o[order], cal_a[order], days_a[order], vol[order]
    if row.size > 1:
        dup = (row[1:] == row[:-1]) & (o[1:] == o[:-1])
        if dup.any():
            # duplicate months (staging never has them) are summed, as the fitter does
            start = np.r_[True, ~dup]
            grp = np.cumsum(start) - 1
            ng = int(grp[-1]) + 1
            anyv = np.bincount(grp, np.isfinite(vol).astype(np.float64), ng) > 0
            vol = np.where(anyv, np.bincount(grp, np.nan_to_num(vol), ng), np.nan)
            cal_a = cal_a[start]
            days_a = np.minimum(np.bincount(grp, days_a, ng), cal_a)
            row, o = row[start], o[start]
    producing = (np.nan_to_num(vol) > 0) & (days_a > 0)
    return _Long(row, o, cal_a, days_a, vol, producing)


def _group_bounds(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For sorted ``keys``: (first, last) index of the run each element belongs to."""
    n = keys.size
    if n == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    new = np.r_[True, keys[1:] != keys[:-1]]
    run = np.cumsum(new) - 1
    starts = np.flatnonzero(new)
    ends = np.r_[starts[1:], n] - 1
    return starts[run], ends[run]


def _recent_stats(long: _Long, params: pd.DataFrame, as_of: int, cfg: ForecastConfig
                  ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Per parameter row: last producing month, anchor months and rate, uptime; and the anchor months."""
    n = len(params)
    seg = params["segment_start"]
    seg_ord = np.where(seg.notna().to_numpy(), _month_ordinal(seg.fillna(pd.Timestamp("1900-01-01"))), -10**9)
    pr = long.producing
    prow, pord = long.row[pr], long.ord[pr]
    pdays, pvol = long.days[pr], long.volume[pr]
    last_prod = np.full(n, np.nan)
    first_ord = np.full(n, np.nan)
    if prow.size:
        first_i, last_i = _group_bounds(prow)
        heads = np.flatnonzero(np.r_[True, prow[1:] != prow[:-1]])
        last_prod[prow[heads]] = pord[last_i[heads]]
        first_ord[prow[heads]] = pord[first_i[heads]]
    # the anchor: the last anchor_months producing months of the last segment
    rec = pord >= seg_ord[prow]
    rrow, rord = prow[rec], pord[rec]
    rq = pvol[rec] / pdays[rec]
    _, rlast = _group_bounds(rrow)
    sel = (rlast - np.arange(rrow.size)) < cfg.anchor_months
    arow, aord, aq = rrow[sel], rord[sel], rq[sel]
    cnt = np.bincount(arow, minlength=n).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        anchor_rate = np.where(cnt > 0, np.bincount(arow, aq, minlength=n) / np.where(cnt > 0, cnt, 1.0), np.nan)
    # uptime: producing days / calendar days over the last uptime_months, counted from the month
    # after the phase's first producing month (a well coming online mid-month is not downtime)
    win_lo = as_of - cfg.uptime_months + 1
    first_p = first_ord[prow]
    w = (pord >= win_lo) & (pord > first_p)
    up_days = np.bincount(prow[w], pdays[w], minlength=n)
    lo = np.maximum(np.where(np.isfinite(first_ord), first_ord, as_of).astype(np.int64) + 1, win_lo)
    cal_days = (_ord_days(np.full(n, as_of + 1)) - _ord_days(lo)).astype(np.float64)
    up = up_days / np.maximum(cal_days, 1.0)
    uptime = np.clip(np.where(cal_days > 0, up, 1.0), 0.0, 1.0)
    ramping, ramp_rate = _ramp_up(rrow, rq, n, cfg.ramp_months)
    stats = {"last_prod_ord": last_prod, "anchor_rate": anchor_rate,
             "anchor_n": np.where(cnt > 0, cnt, np.nan), "uptime": uptime,
             "ramping": ramping, "ramp_rate": ramp_rate}
    return stats, {"row": arow, "ord": aord, "q": aq}


def _ramp_up(row: np.ndarray, q: np.ndarray, n: int, ramp_months: int) -> tuple[np.ndarray, np.ndarray]:
    """Per parameter row: is the last segment still ramping up, and the rate it has demonstrated.

    ``row``, ``q``: the producing months of each row's last segment in order (producing-day rates).
    The segment's first producing month is left out when there are later ones (a well comes online
    part-way through it, and without ``days_on`` its rate is understated). A row is *ramping* when
    its highest remaining rate is one of its last ``ramp_months`` producing months; its demonstrated
    rate is the highest rate of those months (NaN for other rows).
    """
    ramping = np.zeros(n, bool)
    rate = np.full(n, np.nan)
    if row.size == 0:
        return ramping, rate
    first_i, last_i = _group_bounds(row)
    pos = np.arange(row.size)
    single = first_i == last_i
    use = (pos > first_i) | single
    r, v, from_end = row[use], q[use], (last_i - pos)[use]
    ok = np.isfinite(v) & (v > 0)
    r, v, from_end = r[ok], v[ok], from_end[ok]
    if r.size == 0:
        return ramping, rate
    peak = np.full(n, -np.inf)
    np.maximum.at(peak, r, v)
    recent = from_end < ramp_months
    rec_peak = np.full(n, -np.inf)
    np.maximum.at(rec_peak, r[recent], v[recent])
    ramping = np.isfinite(rec_peak) & (rec_peak >= peak)
    rsum = np.bincount(r[recent], v[recent], minlength=n)
    rcnt = np.bincount(r[recent], minlength=n)
    rate = np.where(ramping & (rcnt > 0), rsum / np.maximum(rcnt, 1), np.nan)
    return ramping, rate


def _model_month_avg(qi, di, b, dterm, t0_ord, ords: np.ndarray) -> np.ndarray:
    """Average producing-day model rate over calendar month ``ords`` (arrays of parameters per entry)."""
    b = np.asarray(b, dtype=np.float64)
    d_nom = secant_to_nominal(np.asarray(di, dtype=np.float64), b) / DAYS_PER_YEAR
    dt_nom = tangent_to_nominal(np.nan_to_num(np.asarray(dterm, dtype=np.float64), nan=0.0)) / DAYS_PER_YEAR
    t0 = _ord_days(t0_ord)
    a = np.maximum((_ord_days(ords) - t0).astype(np.float64), 0.0)
    e = np.maximum((_ord_days(ords + 1) - t0).astype(np.float64), a + 1e-9)
    qi = np.asarray(qi, dtype=np.float64)
    _, ca = arps_rate_cum(qi, d_nom, b, dt_nom, a, want_rate=False)
    _, ce = arps_rate_cum(qi, d_nom, b, dt_nom, e, want_rate=False)
    return (ce - ca) / (e - a)


_ARPS_METHODS = ["curve", "anchored_curve", "analog", "terminal_decline", "below_limit"]


def _arps_rows(params: pd.DataFrame) -> np.ndarray:
    """Rows whose forecast is an Arps curve (any method but ratio / ML / none)."""
    return params["method"].isin(_ARPS_METHODS).to_numpy() & params["qi"].notna().to_numpy()


def _t0_ords(params: pd.DataFrame, idx: np.ndarray) -> np.ndarray:
    t0 = params["t0_month"].to_numpy()[idx]
    return _month_ordinal(pd.Series(t0)) if len(idx) else np.zeros(0, np.int64)


def _primary_phase(long: _Long, params: pd.DataFrame, as_of: int, months: int = 12) -> np.ndarray:
    """Per parameter row, its well's primary phase: ``oil`` or ``gas``, the larger share of BOE
    (oil + gas/6) over the last ``months`` months; None for a well without oil or gas rows."""
    n = len(params)
    phase = params["phase"].to_numpy(dtype=object)
    rec = (long.ord > as_of - months)
    r = long.row[rec]
    v = np.nan_to_num(long.volume[rec])
    ph = phase[r]
    oil = np.bincount(r[ph == "oil"], v[ph == "oil"], minlength=n)
    gas = np.bincount(r[ph == "gas"], v[ph == "gas"], minlength=n)
    has = np.bincount(r[(ph == "oil") | (ph == "gas")], minlength=n) > 0
    # sum the oil and the gas of each well over its rows
    wells = params["well_id"].to_numpy(dtype=object)
    codes, _ = pd.factorize(wells)
    ow = np.bincount(codes, oil, minlength=codes.max() + 1 if n else 0)
    gw = np.bincount(codes, gas, minlength=codes.max() + 1 if n else 0)
    hw = np.bincount(codes, has.astype(np.int64), minlength=codes.max() + 1 if n else 0) > 0
    out = np.where(ow[codes] >= gw[codes] / 6.0, "oil", "gas").astype(object)
    out[~hw[codes]] = None
    return out


@dataclass
class Stage:
    """A batch of wells fitted as of the month, before the rules that need the other wells
    (:func:`prepare`); :func:`finish` completes it. ``fit`` is the fitter's table (the decline
    step keeps it between passes instead of fitting twice)."""

    prod: pd.DataFrame
    params: pd.DataFrame
    fit: pd.DataFrame
    long: _Long
    anchor_rows: dict[str, np.ndarray]
    as_of_ts: pd.Timestamp
    as_of_ord: int
    start_ts: pd.Timestamp
    producing: np.ndarray


def _empty_forecast() -> pd.DataFrame:
    return pd.DataFrame(columns=list(FORECAST_COLUMNS) + ["method"])


def prepare(production: pd.DataFrame, *, as_of: Any = None, config: ForecastConfig | None = None,
            fitted: pd.DataFrame | None = None) -> Stage | ForecastResult:
    """Rules 1-3 for a batch of wells: the rows up to ``as_of``, the fit, recent rates, inactive wells.

    ``fitted`` is this batch's :func:`fit_wells` table from an earlier call (same rows, same
    config): it is used instead of fitting again. Returns a :class:`ForecastResult` straight
    away when there is nothing to forecast (no month, no wells).
    """
    cfg = config or ForecastConfig()
    fcfg = cfg.fit
    prod, _dropped = clean_production(production)
    if as_of is None or (isinstance(as_of, str) and not as_of):
        as_of_ts = prod["production_month"].max() if len(prod) else None
    else:
        as_of_ts = pd.Timestamp(as_of)
    if as_of_ts is None or pd.isna(as_of_ts):
        return ForecastResult(_finish_params(fit_wells(prod, fcfg).assign(method=None), None), _empty_forecast(),
                              None)
    as_of_ts = as_of_ts.to_period("M").to_timestamp()
    as_of_ord = int(as_of_ts.year * 12 + as_of_ts.month - 1)
    prod = prod[prod["production_month"] < as_of_ts + pd.offsets.MonthBegin(1)]
    start_ts = as_of_ts + pd.offsets.MonthBegin(1)

    fit = fit_wells(prod, fcfg) if fitted is None else fitted
    if fit.empty:
        return ForecastResult(_finish_params(fit.assign(method=None), as_of_ts), _empty_forecast(), as_of_ts)
    params = fit.reset_index(drop=True)
    long = _long(prod, params, fcfg.phases)
    stats, anchor_rows = _recent_stats(long, params, as_of_ord, cfg)
    for k, v in stats.items():
        params[k] = v
    params["method"] = None
    params["forecast_start"] = start_ts
    params["as_of_month"] = as_of_ts

    # 3. inactive
    lp = params["last_prod_ord"].to_numpy(np.float64)
    inactive = np.isfinite(lp) & (lp < as_of_ord - cfg.inactive_months + 1) & (params["status"] != "no_production"
                                                                               ).to_numpy()
    if inactive.any():
        params.loc[inactive, "reason"] = [
            f"no {ph} production since {_ord_to_month(int(o)).astype('datetime64[M]')} (as of {as_of_ts:%Y-%m}); "
            f"was {st}" for ph, o, st in zip(params.loc[inactive, "phase"], lp[inactive],
                                              params.loc[inactive, "status"])]
        params.loc[inactive, "status"] = "inactive"
    producing = np.isfinite(lp) & ~inactive & params["anchor_rate"].notna().to_numpy()
    return Stage(prod, params, fit, long, anchor_rows, as_of_ts, as_of_ord, start_ts, producing)


def forecast_wells(production: pd.DataFrame, header: pd.DataFrame | None = None, *,
                   as_of: Any = None, config: ForecastConfig | None = None,
                   well_limits: pd.DataFrame | None = None, trendlines: pd.DataFrame | None = None,
                   months: int | None = None, monthly_months: int | None = None,
                   context: ForecastContext | None = None) -> ForecastResult:
    """Forecast every well and phase of a production table as of a month.

    Parameters
    ----------
    production : DataFrame
        Canonical monthly production (``well_id``, ``production_month``, ``days_on``,
        ``oil_bbl``, ``gas_mcf``, ``water_bbl``).
    header : DataFrame, optional
        ``well_id`` and the analog group column (``field``).
    as_of : date-like, optional
        Forecast as of this month (rows after it are ignored); default the latest month.
    config : ForecastConfig, optional
    well_limits : DataFrame, optional
        Per-well economic limits: ``well_id``, ``phase``, ``q_limit`` (volume per calendar day)
        and ``limit_source``; wells not listed use ``config.fit.q_limits``.
    trendlines : DataFrame, optional
        ML trendline rates for short-history wells (``well_id``, ``phase``, ``month``,
        ``rate_per_day`` producing-day), used when ``config.short_history == "ml_trendline"``.
    months : int, optional
        Forecast at most this many months (default: to the limit or time cap).
    monthly_months : int, optional
        Compact forecast: one row per month for this many months, then one per 12 months
        (``period_months``; default every month its own row).
    context : ForecastContext, optional
        Analog shapes and median residual scale of a larger set of wells these wells are a
        batch of (default: from these wells).

    Returns
    -------
    ForecastResult
    """
    cfg = config or ForecastConfig()
    st = prepare(production, as_of=as_of, config=cfg)
    if isinstance(st, ForecastResult):
        return st
    ctx = context or ForecastContext.from_basis(ForecastContext.basis(st.params), header, cfg)
    return finish(st, header, config=cfg, context=ctx, well_limits=well_limits, trendlines=trendlines,
                  months=months, monthly_months=monthly_months)


def _shape_short_histories(params: pd.DataFrame, short: np.ndarray, prod: pd.DataFrame,
                           header: pd.DataFrame | None, cfg: ForecastConfig, ctx: ForecastContext,
                           trendlines: pd.DataFrame | None) -> None:
    """Rule 4 for producing wells with too short a history (``short``), in place: the ML trendline
    where one was trained for the well and phase (``cfg.short_history == "ml_trendline"``), else the
    analog shape of its group; a failure of the analogs is logged, never raised."""
    if cfg.short_history == "ml_trendline" and trendlines is not None and len(trendlines):
        have = pd.MultiIndex.from_arrays([trendlines["well_id"].to_numpy(dtype=object),
                                          trendlines["phase"].to_numpy(dtype=object)]).unique()
        mine = pd.MultiIndex.from_arrays([params["well_id"].to_numpy(dtype=object),
                                          params["phase"].to_numpy(dtype=object)])
        ml = short & mine.isin(have)
        params.loc[ml, "status"] = "ml_trendline"
        params.loc[ml, "method"] = "ml_trendline"
        params.loc[ml, "reason"] = "short history: ML trendline (gradient boosting on long-history wells)"
    try:
        an = apply_analogs(params.drop(columns=["method"]), prod, header, group_by=cfg.group_by,
                           medians=ctx.analogs)
        is_an = (an["status"] == ANALOG_STATUS).to_numpy() & (params["method"].isna().to_numpy()) & short
        for c in ("qi", "di", "b", "dterm", "status", "reason"):
            params.loc[is_an, c] = an.loc[is_an, c]
        params.loc[is_an, "method"] = "analog"
    except Exception as exc:  # noqa: BLE001 - one odd well must not stop the batch
        log.warning("analog shapes failed: %s", exc)


def _ramp_up_from_now(params: pd.DataFrame, producing: np.ndarray, cfg: ForecastConfig, as_of_ord: int,
                      start_ts: pd.Timestamp) -> tuple[np.ndarray, np.ndarray]:
    """Rule 4b, in place: an analog-shaped short history still ramping up declines from the rate it has
    shown (``ramp_rate``) from the forecast start. Returns the wells it moved and, for them, the ratio of
    that rate to where the analog curve stood (the anchor factor the rule stands for; 1 elsewhere)."""
    n = len(params)
    ramp = np.zeros(n, bool)
    if cfg.ramp_up and "ramping" in params.columns:
        ramp = (producing & (params["method"] == "analog").to_numpy()
                & params["ramping"].fillna(False).to_numpy(bool) & params["ramp_rate"].notna().to_numpy())
    ramp_factor = np.ones(n)
    if not ramp.any():
        return ramp, ramp_factor
    ri = np.flatnonzero(ramp)
    at_start = _model_month_avg(params["qi"].to_numpy(np.float64)[ri], params["di"].to_numpy(np.float64)[ri],
                                params["b"].to_numpy(np.float64)[ri], params["dterm"].to_numpy(np.float64)[ri],
                                _t0_ords(params, ri), np.full(len(ri), as_of_ord + 1, np.int64))
    rr = params["ramp_rate"].to_numpy(np.float64)[ri]
    with np.errstate(invalid="ignore", divide="ignore"):
        ramp_factor[ri] = np.where(np.isfinite(at_start) & (at_start > 0), rr / at_start, np.nan)
    params.loc[ri, "qi"] = rr
    params.loc[ri, "t0_month"] = start_ts
    params.loc[ri, "reason"] = [
        f"{r}; still ramping up: the decline starts at the forecast start from {q:.4g} {PHASE_UNITS[ph]}/d "
        f"(highest of the last {cfg.ramp_months} producing months)"
        for r, q, ph in zip(params.loc[ri, "reason"], rr, params.loc[ri, "phase"])]
    return ramp, ramp_factor


def _terminal_decline_for_the_rest(params: pd.DataFrame, producing: np.ndarray, dterm_per_yr: float,
                                   start_ts: pd.Timestamp) -> None:
    """Rule 4, last resort, in place: a producing well still without a method declines from its recent
    (anchor) rate at the terminal decline (at least 1 %/yr) from the forecast start."""
    rest = producing & params["method"].isna().to_numpy()
    if not rest.any():
        return
    dterm = max(dterm_per_yr, 0.01)
    params.loc[rest, "qi"] = params.loc[rest, "anchor_rate"]
    params.loc[rest, "di"] = dterm
    params.loc[rest, "b"] = 0.0
    params.loc[rest, "dterm"] = dterm
    params.loc[rest, "t0_month"] = start_ts
    params.loc[rest, "method"] = "terminal_decline"
    params.loc[rest, "reason"] = [
        f"{st}: {r}; forecast declines from the recent rate at the terminal {100 * dterm:.0f} %/yr"
        for st, r in zip(params.loc[rest, "status"], params.loc[rest, "reason"])]


def _year_months(dates: pd.Series) -> np.ndarray:
    """``YYYY-MM`` of each date (``NaT`` where missing), as ``f"{pd.Timestamp(d):%Y-%m}"`` gives, in one call."""
    return np.datetime_as_string(pd.to_datetime(dates).to_numpy().astype("datetime64[M]"), unit="M")


def finish(stage: Stage, header: pd.DataFrame | None = None, *, config: ForecastConfig | None = None,
           context: ForecastContext | None = None, well_limits: pd.DataFrame | None = None,
           trendlines: pd.DataFrame | None = None, months: int | None = None,
           monthly_months: int | None = None) -> ForecastResult:
    """Rules 4-9 for a batch prepared by :func:`prepare` (see :func:`forecast_wells`)."""
    cfg = config or ForecastConfig()
    fcfg = cfg.fit
    ctx = context or ForecastContext.from_basis(ForecastContext.basis(stage.params), header, cfg)
    params = stage.params.copy()
    long, prod, producing = stage.long, stage.prod, stage.producing
    as_of_ts, as_of_ord, start_ts = stage.as_of_ts, stage.as_of_ord, stage.start_ts
    n = len(params)

    # 4. shape: fitted curve / analog or ML for short histories / terminal decline for the rest
    params.loc[(params["status"] == "fitted").to_numpy() & producing, "method"] = "curve"
    short = (params["status"] == "insufficient_history").to_numpy() & producing
    if short.any():
        _shape_short_histories(params, short, prod, header, cfg, ctx, trendlines)
    # 4b. ramp-up: a short history still rising declines from the rate it has shown, from now
    ramp, ramp_factor = _ramp_up_from_now(params, producing, cfg, as_of_ord, start_ts)
    _terminal_decline_for_the_rest(params, producing, fcfg.dterm, start_ts)

    # 5. anchor to the recent rate
    params["anchor_factor"] = 1.0
    params["anchor_rule"] = None
    arps = _arps_rows(params) & producing
    if cfg.anchor and arps.any():
        ar = stage.anchor_rows
        on = arps[ar["row"]]
        arow, aord, aq = ar["row"][on], ar["ord"][on], ar["q"][on]
        # only months on the curve (from its t0 on): ramp-up months before a peak are not its trend
        t0 = np.full(n, np.iinfo(np.int64).max)
        idx_arps = np.flatnonzero(arps)
        t0[idx_arps] = _t0_ords(params, idx_arps)
        keep = aord >= t0[arow]
        arow, aord, aq = arow[keep], aord[keep], aq[keep]
        if arow.size:
            qi_a = params["qi"].to_numpy(np.float64)
            model = _model_month_avg(qi_a[arow], params["di"].to_numpy(np.float64)[arow],
                                     params["b"].to_numpy(np.float64)[arow],
                                     params["dterm"].to_numpy(np.float64)[arow], t0[arow], aord)
            cnt = np.bincount(arow, minlength=n).astype(np.float64)
            with np.errstate(invalid="ignore", divide="ignore"):
                gq = np.bincount(arow, aq, minlength=n) / cnt
                gm = np.bincount(arow, model, minlength=n) / cnt
            ok = (cnt > 0) & np.isfinite(gm) & (gm > 0) & np.isfinite(gq) & (gq > 0)
            idx = np.flatnonzero(ok)
            f = np.clip(gq[idx] / gm[idx], 1e-6, 1e6)
            params.loc[idx, "anchor_factor"] = f
            params.loc[idx, "qi"] = qi_a[idx] * f
            params.loc[idx, "anchor_rule"] = [
                f"mean of last {int(k)} producing month(s)" for k in params.loc[idx, "anchor_n"]]
            moved = idx[np.abs(np.log(f)) > np.log1p(cfg.anchor_tolerance)]
            curve = moved[(params["method"].to_numpy(dtype=object)[moved] == "curve")]
            params.loc[curve, "method"] = "anchored_curve"

    if ramp.any():
        ri = np.flatnonzero(ramp)
        params.loc[ri, "anchor_factor"] = ramp_factor[ri]
        params.loc[ri, "anchor_rate"] = params["ramp_rate"].to_numpy(np.float64)[ri]
        params.loc[ri, "anchor_rule"] = f"ramp-up: highest of the last {cfg.ramp_months} producing month(s)"

    # say, for every curve, the window it was fitted on and how far the anchor moved it
    cv = params["method"].isin(["curve", "anchored_curve"]).to_numpy()
    if cv.any():
        c = params.loc[cv]
        params.loc[cv, "reason"] = [
            f"fit {fs}..{fe} ({int(k)} months, segment from {sr}"
            + (f", {int(cu)} catch-up month(s) left out" if cu else "") + f"); anchored x{af:.2f}"
            + ("" if not r or r == "ok" else f"; {r}")
            for fs, fe, k, sr, cu, af, r in zip(_year_months(c["fit_start"]), _year_months(c["fit_end"]),
                                                c["n_points"], c["segment_rule"], c["catchup_months"],
                                                c["anchor_factor"], c["reason"])]

    # 7. economic limit
    q_default = {p: float(fcfg.q_limits.get(p, 0.0)) for p in fcfg.phases}
    params["q_limit"] = [q_default.get(p, float(fcfg.q_limits.get(p, 0.0))) for p in params["phase"]]
    params["limit_source"] = "default"
    if well_limits is not None and len(well_limits):
        pos = _param_rows(params, well_limits["well_id"].to_numpy(dtype=object),
                          well_limits["phase"].to_numpy(dtype=object))
        ql = pd.to_numeric(well_limits["q_limit"], errors="coerce").to_numpy(np.float64)
        has = (pos >= 0) & np.isfinite(ql)
        if has.any():
            # the last listed limit of a well-phase wins (as a left merge would take each)
            p_pos, first = np.unique(pos[has][::-1], return_index=True)
            src = well_limits["limit_source"].to_numpy(dtype=object)[has][::-1][first]
            params.loc[p_pos, "q_limit"] = np.maximum(ql[has][::-1][first], 0.0)
            params.loc[p_pos, "limit_source"] = src
    params["forecast_end"] = pd.NaT
    arps = _arps_rows(params)
    if arps.any():
        idx = np.flatnonzero(arps)
        start_rate = _model_month_avg(params["qi"].to_numpy(np.float64)[idx], params["di"].to_numpy(np.float64)[idx],
                                      params["b"].to_numpy(np.float64)[idx], params["dterm"].to_numpy(np.float64)[idx],
                                      _t0_ords(params, idx), np.full(len(idx), as_of_ord + 1, np.int64)) \
            * params["uptime"].fillna(1.0).to_numpy()[idx]
        below = (start_rate < params["q_limit"].to_numpy(np.float64)[idx]) | ~np.isfinite(start_rate)
        bidx = idx[below]
        if len(bidx):
            params.loc[bidx, "reason"] = [
                f"{r:.3g} {PHASE_UNITS[ph]}/d (calendar day) under the economic limit {ql:.3g} {PHASE_UNITS[ph]}/d "
                f"({src}); " + ("forecast at its own trend for reporting" if cfg.below_limit == "trend"
                                else "forecast cut to zero")
                for r, ph, ql, src in zip(start_rate[below], params.loc[bidx, "phase"], params.loc[bidx, "q_limit"],
                                          params.loc[bidx, "limit_source"])]
            params.loc[bidx, "status"] = "below_limit"
            params.loc[bidx, "method"] = "below_limit"
            params.loc[bidx, "q_limit_applied"] = 0.0
            end = start_ts + pd.DateOffset(months=int(round(cfg.below_limit_years * 12)) - 1)
            params.loc[bidx, "forecast_end"] = end if cfg.below_limit == "trend" else start_ts - pd.DateOffset(months=1)

    # forecast the Arps rows; the time cap is max_years after first production but never
    # less than half of it after the forecast start (a 50-year-old well still producing is forecast)
    arps = _arps_rows(params)
    arps_idx = np.flatnonzero(arps)
    rows = params.iloc[arps_idx].assign(status="fitted")
    floor = start_ts - pd.DateOffset(months=int(round(fcfg.max_years * 6)))
    rows["first_month"] = pd.to_datetime(rows["first_month"]).clip(lower=floor)
    if "q_limit_applied" in rows.columns:
        rows["q_limit"] = rows["q_limit_applied"].fillna(rows["q_limit"])
    fc = forecast(rows, months=months, max_years=fcfg.max_years, monthly_months=monthly_months, row_index=True)
    method = params["method"].to_numpy(dtype=object)
    parts = []
    if len(fc):
        fc["_row"] = arps_idx[fc["_row"].to_numpy(np.int64)]
        fc["method"] = method[fc["_row"].to_numpy(np.int64)]
        parts.append(fc)

    # ML trendline rows
    ml = (params["method"] == "ml_trendline").to_numpy()
    if ml.any() and trendlines is not None:
        parts.append(_trendline_forecast(params, np.flatnonzero(ml), trendlines, start_ts, months, monthly_months))

    fc = pd.concat(parts, ignore_index=True) if parts else _empty_forecast().assign(_row=pd.Series(dtype=np.int64))
    fc = _sorted(fc)

    # 8. secondary phases by ratio
    params["ratio_basis"] = None
    params["ratio_value"] = np.nan
    params["ratio_trend_per_yr"] = np.nan
    params["primary_phase"] = _primary_phase(long, params, as_of_ord)
    if cfg.ratio_phases:
        params, fc = _apply_ratios(params, fc, long, producing, cfg, as_of_ord)

    if len(fc):
        v = fc["volume"].to_numpy(np.float64)
        fc = fc[np.isfinite(v) & (v >= 0)].reset_index(drop=True)
    params = _reserves(params, fc)
    rows_of_fc = fc["_row"].to_numpy(np.int64) if len(fc) else np.zeros(0, np.int64)
    res = ForecastResult(_finish_params(params, as_of_ts), fc.drop(columns="_row"), as_of_ts, rows=rows_of_fc)
    _add_uncertainty(res, cfg, ctx)
    return res


def _sorted(fc: pd.DataFrame) -> pd.DataFrame:
    """Forecast rows in parameter-row order (well, then phase), each series by month."""
    if fc.empty:
        return fc.reset_index(drop=True)
    mo = fc["month"].to_numpy().astype("datetime64[M]").astype(np.int64)
    order = np.lexsort((mo, fc["_row"].to_numpy(np.int64)))
    return fc.iloc[order].reset_index(drop=True)


def _bucket(t: pd.DataFrame, k: np.ndarray, monthly_months: int | None) -> pd.DataFrame:
    """Monthly rows (sorted by series and month, ``k`` = months ahead) folded into the compact layout."""
    if monthly_months is None or t.empty or not (k > monthly_months).any():
        return t.assign(period_months=1)
    m = int(monthly_months)
    bucket = np.where(k <= m, k - 1, m + (k - m - 1) // BUCKET_MONTHS)
    days = t["month"].dt.days_in_month.to_numpy(np.float64)
    row = t["_row"].to_numpy(np.int64)
    new = np.r_[True, (row[1:] != row[:-1]) | (bucket[1:] != bucket[:-1])]
    gid = np.cumsum(new) - 1
    first = np.flatnonzero(new)
    last = np.r_[first[1:], len(t)] - 1
    vol = np.bincount(gid, t["volume"].to_numpy(np.float64))
    out = t.iloc[first].reset_index(drop=True).copy()
    out["volume"] = vol
    out["rate_per_day"] = vol / np.bincount(gid, days)
    out["cumulative"] = t["cumulative"].to_numpy(np.float64)[last]
    out["period_months"] = np.bincount(gid).astype(np.int64)
    return out


def _trendline_forecast(params: pd.DataFrame, idx: np.ndarray, trendlines: pd.DataFrame, start_ts: pd.Timestamp,
                        months: int | None, monthly_months: int | None = None) -> pd.DataFrame:
    p = params.iloc[idx][["well_id", "phase", "uptime", "cum_to_date", "units", "q_limit"]].assign(_row=idx)
    t = trendlines[["well_id", "phase", "month", "rate_per_day"]].merge(p, on=["well_id", "phase"])
    t["month"] = pd.to_datetime(t["month"])
    t = t[t["month"] >= start_ts]
    if months is not None:
        t = t[t["month"] < start_ts + pd.DateOffset(months=int(months))]
    days = t["month"].dt.days_in_month.to_numpy(np.float64)
    up = t["uptime"].fillna(1.0).clip(0.0, 1.0).to_numpy()
    vol = np.maximum(t["rate_per_day"].to_numpy(np.float64), 0.0) * days * up
    t = t.assign(volume=vol, rate_per_day=vol / days).sort_values(["_row", "month"], kind="stable")
    # the trendline stops at the economic limit (calendar-day rate), like a curve
    under = (t["rate_per_day"] < t["q_limit"].fillna(0.0)).to_numpy(np.float64)
    t = t[_grouped_cumsum(under, t["_row"].to_numpy(np.int64)) == 0]
    t = t.assign(cumulative=t["cum_to_date"].to_numpy(np.float64)
                 + _grouped_cumsum(t["volume"].to_numpy(np.float64), t["_row"].to_numpy(np.int64)),
                 method="ml_trendline")
    t = t.reset_index(drop=True)
    k = ((t["month"].dt.year - start_ts.year) * 12 + (t["month"].dt.month - start_ts.month) + 1).to_numpy(np.int64)
    t = _bucket(t, k, monthly_months)
    return t[list(FORECAST_COLUMNS) + ["method", "_row"]]


def _apply_ratios(params: pd.DataFrame, fc: pd.DataFrame, long: _Long, producing: np.ndarray,
                  cfg: ForecastConfig, as_of_ord: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    prim = params["primary_phase"]
    secondary = (params["phase"] != prim).to_numpy() & prim.notna().to_numpy() & producing
    poor = ~params["method"].isin(["curve", "anchored_curve"]) | (params["sigma_log"].fillna(np.inf)
                                                                   > cfg.ratio_max_sigma)
    poor |= np.abs(np.log(params["anchor_factor"].astype(float).clip(1e-6, 1e6))) > np.log(1.5)
    cand = secondary & poor.to_numpy() & ~params["status"].isin(["inactive", "no_production"]).to_numpy()
    if not cand.any() or fc.empty:
        return params, fc
    n = len(params)
    prim_pos = np.full(n, -1, np.int64)
    ci = np.flatnonzero(cand)
    prim_pos[ci] = _param_rows(params, params["well_id"].to_numpy(dtype=object)[ci], prim.to_numpy(dtype=object)[ci])
    has_fc = np.zeros(n, bool)
    has_fc[fc["_row"].to_numpy(np.int64)] = True
    cand &= (prim_pos >= 0) & has_fc[np.maximum(prim_pos, 0)]
    if not cand.any():
        return params, fc
    # ratio = sum(secondary) / sum(primary) over the primary's last ratio_months producing months;
    # its trend over the primary's last ratio_trend.months producing months (ratios.py)
    ci = np.flatnonzero(cand)
    pr = long.producing
    prow, pord, pvol = long.row[pr], long.ord[pr], long.volume[pr]
    _, plast = _group_bounds(prow)
    back = plast - np.arange(prow.size)
    window = max(cfg.ratio_months, cfg.ratio_trend.months if cfg.ratio_trend.enabled else 0)
    sel = back < window
    pm = pd.DataFrame({"_prim": prow[sel], "ord": pord[sel], "pv": pvol[sel], "recent": back[sel] < cfg.ratio_months})
    c = pd.DataFrame({"_sec": ci, "_prim": prim_pos[ci]})
    j = c.merge(pm, on="_prim")
    if j.empty:
        return params, fc
    # the secondary's own volume in those months (0 where it reported none)
    span = int(long.ord.max() - long.ord.min()) + 2 if long.ord.size else 2
    omin = int(long.ord.min()) if long.ord.size else 0
    lkey = long.row * span + (long.ord - omin)
    jkey = j["_sec"].to_numpy(np.int64) * span + (j["ord"].to_numpy(np.int64) - omin)
    at = np.searchsorted(lkey, jkey)
    found = (at < lkey.size) & (lkey[np.minimum(at, lkey.size - 1)] == jkey)
    sv = np.where(found, np.nan_to_num(long.volume[np.minimum(at, lkey.size - 1)]), 0.0)
    j["sv"] = sv
    codes, secs = pd.factorize(j["_sec"].to_numpy(np.int64), sort=True)
    recent = j["recent"].to_numpy(bool)
    pv_all = j["pv"].to_numpy(np.float64)
    t_mid = (j["ord"].to_numpy(np.float64) + 0.5) / ratios.MONTHS_PER_YEAR
    ng = len(secs)
    n_rec = np.bincount(codes[recent], minlength=ng)
    agg = pd.DataFrame({"pv": np.bincount(codes[recent], pv_all[recent], minlength=ng),
                        "sv": np.bincount(codes[recent], sv[recent], minlength=ng),
                        "n": n_rec,
                        "t_c": np.bincount(codes[recent], t_mid[recent], minlength=ng) / np.maximum(n_rec, 1)},
                       index=pd.Index(secs))
    with np.errstate(invalid="ignore", divide="ignore"):
        tr = ratios.fit_ratio_trends(codes, t_mid, sv / pv_all, ng, cfg.ratio_trend)
    agg["slope"], agg["is_trend"], agg["n_trend"], agg["t"] = tr.slope_per_yr, tr.is_trend, tr.n, tr.t_stat
    agg = agg[(agg["pv"] > 0) & (agg["sv"] > 0)]
    if agg.empty:
        return params, fc
    ratio = (agg["sv"] / agg["pv"]).to_numpy()
    ridx = agg.index.to_numpy(np.int64)
    slope = agg["slope"].to_numpy(np.float64)
    is_trend = agg["is_trend"].to_numpy(bool)
    t_c = agg["t_c"].to_numpy(np.float64)
    t_start = (as_of_ord + 1.0) / ratios.MONTHS_PER_YEAR
    years = cfg.ratio_trend.years
    # the ratio applied in the first forecast month (mid-month)
    first = ratio * ratios.ratio_multiplier(slope, np.full(len(ridx), t_start + 0.5 / ratios.MONTHS_PER_YEAR),
                                            t_c, np.full(len(ridx), t_start), years)
    names = {("gas", "oil"): ("GOR", "mcf/bbl"), ("water", "oil"): ("WOR", "bbl/bbl"),
             ("oil", "gas"): ("condensate yield", "bbl/mcf"), ("water", "gas"): ("water-gas ratio", "bbl/mcf")}
    basis = [names.get((ph, pp), (f"{ph}/{pp}", ""))
             for ph, pp in zip(params.loc[ridx, "phase"], params.loc[ridx, "primary_phase"])]
    change = np.expm1(slope)
    params.loc[ridx, "reason"] = [
        (f"{b} trend: {r:.4g} {u} in the first forecast month, {100 * ch:+.1f} %/yr (last {int(nt)} months "
         f"of both phases, |t| {tt:.1f}; held after {years:g} years)" if it else
         f"{b} {r:.4g} {u} (last {int(k)} producing months of {pp}"
         + ("" if not cfg.ratio_trend.enabled
            else f"; no significant trend over {int(nt)} months, |t| {tt:.1f}" if nt >= cfg.ratio_trend.min_months
            else f"; {int(nt)} months too few for a trend") + ")")
        + f"; own fit: {st}"
        for (b, u), r, k, pp, st, it, ch, nt, tt in zip(
            basis, first, agg["n"], params.loc[ridx, "primary_phase"], params.loc[ridx, "status"], is_trend,
            change, agg["n_trend"], agg["t"])]
    params.loc[ridx, "ratio_basis"] = [f"{b} {'trend' if it else 'constant'}" for (b, _), it in zip(basis, is_trend)]
    params.loc[ridx, "ratio_value"] = first
    params.loc[ridx, "ratio_trend_per_yr"] = change
    params.loc[ridx, "status"] = "ratio"
    params.loc[ridx, "method"] = "ratio"
    # replace those phases' own forecast rows with primary x ratio (x the trend's factor at the row's middle)
    rows = fc["_row"].to_numpy(np.int64)
    keep = ~np.isin(rows, ridx)
    link = pd.DataFrame({"_row": prim_pos[ridx], "_sec": ridx, "_ratio": ratio, "_slope": slope, "_tc": t_c})
    base = fc[["_row", "month", "rate_per_day", "volume", "period_months"]].merge(link, on="_row")
    if len(base):
        sec = base["_sec"].to_numpy(np.int64)
        mo = base["month"].to_numpy().astype("datetime64[M]").astype(np.int64) + 1970 * 12
        t_row = (mo + base["period_months"].to_numpy(np.float64) / 2.0) / ratios.MONTHS_PER_YEAR
        r = base["_ratio"].to_numpy() * ratios.ratio_multiplier(base["_slope"].to_numpy(np.float64), t_row,
                                                                base["_tc"].to_numpy(np.float64),
                                                                np.full(len(base), t_start), years)
        vol = base["volume"].to_numpy() * r
        new = pd.DataFrame({"well_id": params["well_id"].to_numpy(dtype=object)[sec],
                            "phase": params["phase"].to_numpy(dtype=object)[sec],
                            "month": base["month"].to_numpy(), "rate_per_day": base["rate_per_day"].to_numpy() * r,
                            "volume": vol, "units": params["units"].to_numpy(dtype=object)[sec],
                            "period_months": base["period_months"].to_numpy(np.int64), "method": "ratio",
                            "_row": sec})
        new = _sorted(new)
        r_new = new["_row"].to_numpy(np.int64)
        new["cumulative"] = (params["cum_to_date"].to_numpy(np.float64)[r_new]
                             + _grouped_cumsum(new["volume"].to_numpy(np.float64), r_new))
        fc = _sorted(pd.concat([fc[keep], new[list(FORECAST_COLUMNS) + ["method", "_row"]]], ignore_index=True))
    return params, fc


def _reserves(params: pd.DataFrame, fc: pd.DataFrame) -> pd.DataFrame:
    """remaining = the forecast volume of the row; eur = cum_to_date + remaining (NaN without a forecast)."""
    n = len(params)
    r = (np.bincount(fc["_row"].to_numpy(np.int64), fc["volume"].to_numpy(np.float64), minlength=n)
         if len(fc) else np.zeros(n))
    has_fc = params["method"].notna().to_numpy()
    params["remaining"] = np.where(has_fc, np.nan_to_num(r, nan=0.0), np.nan)
    params.loc[params["status"] == "inactive", "remaining"] = 0.0
    params["eur"] = params["cum_to_date"] + params["remaining"]
    return params


#: columns of the params table in order (the fitter's first, then the forecast's)
PARAM_COLUMNS = (
    "well_id", "phase", "model", "method", "status", "reason", "qi", "di", "b", "dterm", "t0_month",
    "fit_start", "fit_end", "n_points", "half_life_months", "segment_start", "segment_rule", "catchup_months",
    "rmse", "r2", "rmse_log", "sigma_log", "cum_to_date", "remaining", "eur", "first_month", "last_month",
    "units", "as_of_month", "forecast_start", "anchor_rule", "anchor_rate", "anchor_factor", "uptime",
    "q_limit", "limit_source", "primary_phase", "ratio_basis", "ratio_value",
    "ratio_trend_per_yr",
)


def _finish_params(params: pd.DataFrame, as_of: pd.Timestamp | None) -> pd.DataFrame:
    out = params.copy()
    for c in PARAM_COLUMNS:
        if c not in out.columns:
            out[c] = np.nan
    if as_of is not None:
        out["as_of_month"] = as_of
    # parameters of rows without an Arps forecast are not meaningful
    no_arps = ~out["method"].isin(["curve", "anchored_curve", "analog", "terminal_decline", "below_limit"])
    for c in ("qi", "di", "b", "dterm"):
        out.loc[no_arps, c] = np.nan
    return out[list(PARAM_COLUMNS)].reset_index(drop=True)


def _bins(k: np.ndarray) -> np.ndarray:
    """Column of months ahead ``k`` in the matrices of totals: months 1..24 apart, then one per year."""
    return np.where(k <= _FINE_MONTHS, k - 1, _FINE_MONTHS + (k - _FINE_MONTHS - 1) // 12)


def _add_uncertainty(res: ForecastResult, cfg: ForecastConfig, ctx: ForecastContext | None = None) -> None:
    """P10/P90 per forecast month (closed form) and of remaining / EUR per row (keyed draws)."""
    p, fc = res.params, res.forecast
    n = len(p)
    s = p["sigma_log"].to_numpy(np.float64)
    if ctx is not None and ctx.sigma_median is not None:
        default = ctx.sigma_median if np.isfinite(ctx.sigma_median) else cfg.sigma_default
    else:
        default = np.nanmedian(s) if np.isfinite(s).any() else cfg.sigma_default
    s = np.where(np.isfinite(s), s, max(default, cfg.sigma_floor))
    s = np.maximum(s, cfg.sigma_floor)
    ro = res.rows if res.rows is not None else np.zeros(0, np.int64)
    # a ratio phase moves with its primary phase: share its scale and its draws
    ratio_rows = np.flatnonzero((p["method"] == "ratio").to_numpy())
    prim = np.full(n, -1, np.int64)
    if len(ratio_rows):
        prim[ratio_rows] = _param_rows(p, p["well_id"].to_numpy(dtype=object)[ratio_rows],
                                       p["primary_phase"].to_numpy(dtype=object)[ratio_rows])
    need = np.zeros(n, bool)
    need[ro] = True
    need[prim[prim >= 0]] = True
    z1 = np.zeros((n, cfg.samples))
    z2 = np.zeros((n, cfg.samples))
    idx = np.flatnonzero(need)
    if len(idx):
        keys = unc.row_keys(p["well_id"].to_numpy(dtype=object)[idx], p["phase"].to_numpy(dtype=object)[idx])
        z1[idx], z2[idx] = unc.keyed_draws(keys, cfg.samples, cfg.seed)
    has = ratio_rows[prim[ratio_rows] >= 0]
    if len(has):
        j = prim[has]
        s[has], z1[has], z2[has] = s[j], z1[j], z2[j]
    p["sigma_used"] = s
    p["uncertainty_scale"] = cfg.uncertainty_scale
    res.draws = (z1, z2)
    for c in ("remaining_p10", "remaining_p50", "remaining_p90", "eur_p10", "eur_p90"):
        p[c] = np.nan
    if fc.empty:
        for c in ("volume_p10", "volume_p90", "months_ahead"):
            fc[c] = pd.Series(dtype=float)
        return
    start = _month_ordinal(p["forecast_start"]).astype(np.int64) if p["forecast_start"].notna().all() else None
    mo = fc["month"].to_numpy().astype("datetime64[M]").astype(np.int64) + 1970 * 12
    k = (mo - (start[ro] if start is not None else mo.min()) + 1).astype(np.int64)
    fc["months_ahead"] = k
    plen = fc["period_months"].to_numpy(np.float64) if "period_months" in fc else np.ones(len(fc))
    # a row of several months: the band at its middle month
    hi, lo = unc.pointwise_bands(fc["volume"].to_numpy(np.float64), s[ro], k + (plen - 1.0) / 2.0,
                                 cfg.uncertainty_scale)
    fc["volume_p10"], fc["volume_p90"] = hi, lo
    rows = np.unique(ro)
    # months binned: each of the first 2 years apart, then one bin per year (growth at the bin's middle)
    col = _bins(k)
    ncol = int(col.max()) + 1
    mid = np.concatenate([np.arange(1, _FINE_MONTHS + 1, dtype=np.float64),
                          _FINE_MONTHS + 6.5 + 12.0 * np.arange(max(ncol - _FINE_MONTHS, 0))])[:ncol]
    mat = np.zeros((len(rows), ncol))
    pos = np.searchsorted(rows, ro)
    np.add.at(mat, (pos, col), fc["volume"].to_numpy(np.float64))
    q = unc.well_total_quantiles(mat, s[rows], z1[rows], z2[rows], cfg.uncertainty_scale, unc.growth(mid))
    p.loc[rows, "remaining_p10"], p.loc[rows, "remaining_p50"], p.loc[rows, "remaining_p90"] = q[:, 0], q[:, 1], q[:, 2]
    cum = p.loc[rows, "cum_to_date"].to_numpy(np.float64)
    p.loc[rows, "eur_p10"], p.loc[rows, "eur_p90"] = cum + q[:, 0], cum + q[:, 2]


def with_fit(config: ForecastConfig, **fit_overrides: Any) -> ForecastConfig:
    """A copy of ``config`` with fit options replaced (``half_life_months=12``, …)."""
    return replace(config, fit=replace(config.fit, **fit_overrides))

