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
   rate (six months: backtests on SODIR and the demo beat three); method ``anchored_curve`` where the factor moves the curve by more than
   ``anchor_tolerance``.
6. **Uptime.** Forecast volumes are producing-day volumes times the well's
   recent uptime (producing days / calendar days over the last ``uptime_months``),
   so they compare with what the well will report.
7. **Economic limit.** A producing well whose forecast calendar-day rate starts
   under its limit gets status ``below_limit``: forecast at its own trend for
   ``below_limit_years`` (``below_limit="trend"``) or an explicit zero
   (``"cut"``); never a silent zero. Others stop at the limit.
8. **Secondary phases by ratio.** Gas on an oil well, water, oil on a gas well:
   where the phase's own fit is poor or missing, it is the primary phase's
   forecast times the recent GOR / WOR / yield (status and method ``ratio``).
9. **Uncertainty** (:mod:`~basinlab.decline.uncertainty`): P10/P50/P90 per
   month, of the remaining volume and the EUR.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from . import uncertainty as unc
from .analogs import ANALOG_STATUS, VOLUME_COLUMNS, apply_analogs
from .conversions import DAYS_PER_YEAR, secant_to_nominal, tangent_to_nominal
from .fitting import PHASE_UNITS, FitConfig, _month_ordinal, _ord_days, _ord_to_month, fit_wells
from .forecast import FORECAST_COLUMNS, forecast
from .models import arps_rate_cum

__all__ = ["ForecastConfig", "ForecastResult", "forecast_wells", "METHODS", "FORECAST_STATUSES",
           "clean_production"]

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
    uptime_months: int = 12
    below_limit: str = "trend"
    below_limit_years: float = 5.0
    ratio_phases: bool = True
    ratio_max_sigma: float = 0.35
    ratio_months: int = 6
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
        if self.inactive_months < 1 or self.anchor_months < 1 or self.uptime_months < 1:
            raise ValueError("inactive_months, anchor_months and uptime_months must be >= 1")


@dataclass
class ForecastResult:
    """``params``: one row per well and phase; ``forecast``: monthly rows; ``as_of``: the month (Timestamp)."""

    params: pd.DataFrame
    forecast: pd.DataFrame
    as_of: pd.Timestamp | None
    draws: tuple[np.ndarray, np.ndarray] | None = None  # (z1, z2) per params row
    seconds: dict[str, float] = field(default_factory=dict)


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


def _long(prod: pd.DataFrame, phases: tuple[str, ...]) -> pd.DataFrame:
    """One row per well, phase and reported month: ord, calendar days, producing days, volume."""
    mord = _month_ordinal(prod["production_month"])
    cal = _month_days(mord)
    if "days_on" in prod.columns:
        d = prod["days_on"].to_numpy(np.float64)
        days = np.clip(np.where(np.isfinite(d), d, cal), 0.0, cal)
    else:
        days = cal
    parts = []
    for ph in phases:
        col = VOLUME_COLUMNS[ph]
        vol = prod[col].to_numpy(np.float64) if col in prod.columns else np.full(len(prod), np.nan)
        parts.append(pd.DataFrame({"well_id": prod["well_id"].to_numpy(), "phase": ph, "ord": mord, "cal": cal,
                                   "days": days, "volume": vol}))
    long = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
        columns=["well_id", "phase", "ord", "cal", "days", "volume"])
    if long.duplicated(["well_id", "phase", "ord"]).any():
        # duplicate months (staging never has them) are summed, as the fitter does
        g = long.groupby(["well_id", "phase", "ord"])
        long = pd.concat([g["cal"].first(), g["days"].sum(), g["volume"].sum(min_count=1)], axis=1).reset_index()
        long["days"] = np.minimum(long["days"], long["cal"])
    long["producing"] = (long["volume"].fillna(0) > 0) & (long["days"] > 0)
    return long


def _recent_stats(long: pd.DataFrame, params: pd.DataFrame, as_of: int, cfg: ForecastConfig
                  ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per well and phase: last producing month, anchor months and rate, uptime."""
    keys = params[["well_id", "phase"]].copy()
    seg = params[["well_id", "phase"]].copy()
    seg["seg_ord"] = np.where(params["segment_start"].notna(),
                              _month_ordinal(params["segment_start"].fillna(pd.Timestamp("1900-01-01"))), -10**9)
    pr = long[long["producing"]].merge(seg, on=["well_id", "phase"], how="left")
    last_prod = pr.groupby(["well_id", "phase"])["ord"].max().rename("last_prod_ord")
    recent = pr[pr["ord"] >= pr["seg_ord"].fillna(-10**9)].copy()
    recent = recent.sort_values(["well_id", "phase", "ord"])
    recent["_r"] = recent.groupby(["well_id", "phase"]).cumcount(ascending=False)
    anchor_rows = recent[recent["_r"] < cfg.anchor_months].copy()
    anchor_rows["q"] = anchor_rows["volume"] / anchor_rows["days"]
    anchor = anchor_rows.groupby(["well_id", "phase"]).agg(anchor_rate=("q", "mean"), anchor_n=("q", "size"))
    # uptime: producing days / calendar days over the last uptime_months, counted from the month
    # after the phase's first producing month (a well coming online mid-month is not downtime)
    first = pr.groupby(["well_id", "phase"])["ord"].min().rename("first_ord")
    win_lo = as_of - cfg.uptime_months + 1
    w = pr.merge(first.reset_index(), on=["well_id", "phase"])
    w = w[(w["ord"] >= win_lo) & (w["ord"] > w["first_ord"])]
    up_days = w.groupby(["well_id", "phase"])["days"].sum().rename("up_days")
    out = keys.merge(last_prod.reset_index(), on=["well_id", "phase"], how="left")
    out = out.merge(anchor.reset_index(), on=["well_id", "phase"], how="left")
    out = out.merge(up_days.reset_index(), on=["well_id", "phase"], how="left")
    out = out.merge(first.reset_index(), on=["well_id", "phase"], how="left")
    lo = np.maximum(out["first_ord"].fillna(as_of).to_numpy(np.int64) + 1, win_lo)
    cal_days = (_ord_days(np.full(len(out), as_of + 1)) - _ord_days(lo)).astype(np.float64)
    up = out["up_days"].fillna(0.0).to_numpy() / np.maximum(cal_days, 1.0)
    out["uptime"] = np.clip(np.where(cal_days > 0, up, 1.0), 0.0, 1.0)
    return out, anchor_rows[["well_id", "phase", "ord", "q"]]


def _model_month_avg(p: pd.DataFrame, ords: np.ndarray) -> np.ndarray:
    """Average producing-day model rate over calendar month ``ords`` for rows of params ``p``."""
    b = p["b"].to_numpy(np.float64)
    d_nom = secant_to_nominal(p["di"].to_numpy(np.float64), b) / DAYS_PER_YEAR
    dt_nom = tangent_to_nominal(p["dterm"].fillna(0.0).to_numpy(np.float64)) / DAYS_PER_YEAR
    t0 = _ord_days(_month_ordinal(p["t0_month"]))
    a = np.maximum((_ord_days(ords) - t0).astype(np.float64), 0.0)
    e = np.maximum((_ord_days(ords + 1) - t0).astype(np.float64), a + 1e-9)
    _, ca = arps_rate_cum(p["qi"].to_numpy(np.float64), d_nom, b, dt_nom, a, want_rate=False)
    _, ce = arps_rate_cum(p["qi"].to_numpy(np.float64), d_nom, b, dt_nom, e, want_rate=False)
    return (ce - ca) / (e - a)


def _arps_rows(params: pd.DataFrame) -> np.ndarray:
    """Rows whose forecast is an Arps curve (any method but ratio / ML / none)."""
    return params["method"].isin(["curve", "anchored_curve", "analog", "terminal_decline", "below_limit"]
                                 ).to_numpy() & params["qi"].notna().to_numpy()


def _primary_phase(long: pd.DataFrame, as_of: int, months: int = 12) -> pd.Series:
    """Per well, ``oil`` or ``gas``: the larger share of BOE (oil + gas/6) over the last ``months`` months."""
    rec = long[(long["ord"] > as_of - months) & long["phase"].isin(["oil", "gas"])]
    v = rec.pivot_table(index="well_id", columns="phase", values="volume", aggfunc="sum", fill_value=0.0)
    oil = v["oil"] if "oil" in v else pd.Series(0.0, index=v.index)
    gas = v["gas"] if "gas" in v else pd.Series(0.0, index=v.index)
    return pd.Series(np.where(oil >= gas / 6.0, "oil", "gas"), index=v.index, name="primary_phase")


def forecast_wells(production: pd.DataFrame, header: pd.DataFrame | None = None, *,
                   as_of: Any = None, config: ForecastConfig | None = None,
                   well_limits: pd.DataFrame | None = None, trendlines: pd.DataFrame | None = None,
                   months: int | None = None) -> ForecastResult:
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

    Returns
    -------
    ForecastResult
    """
    cfg = config or ForecastConfig()
    fcfg = cfg.fit
    prod, _dropped = clean_production(production)
    if as_of is None or (isinstance(as_of, str) and not as_of):
        as_of_ts = prod["production_month"].max() if len(prod) else None
    else:
        as_of_ts = pd.Timestamp(as_of)
    if as_of_ts is None or pd.isna(as_of_ts):
        return ForecastResult(_finish_params(fit_wells(prod, fcfg).assign(method=None), None),
                              pd.DataFrame(columns=list(FORECAST_COLUMNS) + ["method"]), None)
    as_of_ts = as_of_ts.to_period("M").to_timestamp()
    as_of_ord = int(as_of_ts.year * 12 + as_of_ts.month - 1)
    prod = prod[prod["production_month"] < as_of_ts + pd.offsets.MonthBegin(1)]
    start_ts = as_of_ts + pd.offsets.MonthBegin(1)

    params = fit_wells(prod, fcfg)
    if params.empty:
        return ForecastResult(_finish_params(params.assign(method=None), as_of_ts),
                              pd.DataFrame(columns=list(FORECAST_COLUMNS) + ["method"]), as_of_ts)
    long = _long(prod, fcfg.phases)
    stats, anchor_rows = _recent_stats(long, params, as_of_ord, cfg)
    params = params.merge(stats[["well_id", "phase", "last_prod_ord", "anchor_rate", "anchor_n", "uptime"]],
                          on=["well_id", "phase"], how="left")
    params["method"] = None
    params["forecast_start"] = start_ts
    params["as_of_month"] = as_of_ts

    # 3. inactive
    lp = params["last_prod_ord"].to_numpy(np.float64)
    inactive = np.isfinite(lp) & (lp < as_of_ord - cfg.inactive_months + 1) & (params["status"] != "no_production")
    if inactive.any():
        params.loc[inactive, "reason"] = [
            f"no {ph} production since {_ord_to_month(int(o)).astype('datetime64[M]')} (as of {as_of_ts:%Y-%m}); "
            f"was {st}" for ph, o, st in zip(params.loc[inactive, "phase"], lp[inactive],
                                              params.loc[inactive, "status"])]
        params.loc[inactive, "status"] = "inactive"
    producing = np.isfinite(lp) & ~inactive & params["anchor_rate"].notna().to_numpy()

    # 4. shape: fitted curve / analog or ML for short histories / terminal decline for the rest
    params.loc[(params["status"] == "fitted").to_numpy() & producing, "method"] = "curve"
    short = (params["status"] == "insufficient_history").to_numpy() & producing
    if short.any():
        if cfg.short_history == "ml_trendline" and trendlines is not None and len(trendlines):
            have = set(zip(trendlines["well_id"], trendlines["phase"]))
            ml = short & np.array([(w, p) in have for w, p in zip(params["well_id"], params["phase"])], bool)
            params.loc[ml, "status"] = "ml_trendline"
            params.loc[ml, "method"] = "ml_trendline"
            params.loc[ml, "reason"] = "short history: ML trendline (gradient boosting on long-history wells)"
        try:
            an = apply_analogs(params.drop(columns=["method"]), prod, header, group_by=cfg.group_by)
            is_an = (an["status"] == ANALOG_STATUS).to_numpy() & (params["method"].isna().to_numpy()) & short
            for c in ("qi", "di", "b", "dterm", "status", "reason"):
                params.loc[is_an, c] = an.loc[is_an, c]
            params.loc[is_an, "method"] = "analog"
        except Exception as exc:  # noqa: BLE001 - one odd well must not stop the batch
            log.warning("analog shapes failed: %s", exc)
    rest = producing & params["method"].isna().to_numpy()
    if rest.any():
        dterm = max(fcfg.dterm, 0.01)
        params.loc[rest, "qi"] = params.loc[rest, "anchor_rate"]
        params.loc[rest, "di"] = dterm
        params.loc[rest, "b"] = 0.0
        params.loc[rest, "dterm"] = dterm
        params.loc[rest, "t0_month"] = start_ts
        params.loc[rest, "method"] = "terminal_decline"
        params.loc[rest, "reason"] = [
            f"{st}: {r}; forecast declines from the recent rate at the terminal {100 * dterm:.0f} %/yr"
            for st, r in zip(params.loc[rest, "status"], params.loc[rest, "reason"])]

    # 5. anchor to the recent rate
    params["anchor_factor"] = 1.0
    params["anchor_rule"] = None
    arps = _arps_rows(params) & producing
    if cfg.anchor and arps.any():
        ar = anchor_rows.merge(params.loc[arps, ["well_id", "phase", "qi", "di", "b", "dterm", "t0_month"]]
                               .reset_index(), on=["well_id", "phase"])
        # only months on the curve (from its t0 on): ramp-up months before a peak are not its trend
        ar = ar[ar["ord"].to_numpy(np.int64) >= _month_ordinal(ar["t0_month"])] if len(ar) else ar
        if len(ar):
            ar["model"] = _model_month_avg(ar, ar["ord"].to_numpy(np.int64))
            g = ar.groupby("index").agg(q=("q", "mean"), model=("model", "mean"))
            ok = np.isfinite(g["model"]) & (g["model"] > 0) & np.isfinite(g["q"]) & (g["q"] > 0)
            g = g[ok]
            f = (g["q"] / g["model"]).clip(1e-6, 1e6)
            idx = g.index.to_numpy()
            params.loc[idx, "anchor_factor"] = f.to_numpy()
            params.loc[idx, "qi"] = params.loc[idx, "qi"].to_numpy() * f.to_numpy()
            params.loc[idx, "anchor_rule"] = [
                f"mean of last {int(n)} producing month(s)" for n in params.loc[idx, "anchor_n"]]
            moved = idx[np.abs(np.log(f.to_numpy())) > np.log1p(cfg.anchor_tolerance)]
            curve = params.loc[moved, "method"] == "curve"
            params.loc[curve[curve].index, "method"] = "anchored_curve"

    # say, for every curve, the window it was fitted on and how far the anchor moved it
    cv = params["method"].isin(["curve", "anchored_curve"]).to_numpy()
    if cv.any():
        c = params.loc[cv]
        params.loc[cv, "reason"] = [
            f"fit {pd.Timestamp(fs):%Y-%m}..{pd.Timestamp(fe):%Y-%m} ({int(n)} months, segment from {sr}"
            + (f", {int(cu)} catch-up month(s) left out" if cu else "") + f"); anchored x{af:.2f}"
            + ("" if not r or r == "ok" else f"; {r}")
            for fs, fe, n, sr, cu, af, r in zip(c["fit_start"], c["fit_end"], c["n_points"], c["segment_rule"],
                                                c["catchup_months"], c["anchor_factor"], c["reason"])]

    # 7. economic limit
    params["q_limit"] = [float(fcfg.q_limits.get(p, 0.0)) for p in params["phase"]]
    params["limit_source"] = "default"
    if well_limits is not None and len(well_limits):
        wl = well_limits[["well_id", "phase", "q_limit", "limit_source"]].rename(
            columns={"q_limit": "_ql", "limit_source": "_ls"})
        params = params.merge(wl, on=["well_id", "phase"], how="left")
        has = params["_ql"].notna() & np.isfinite(params["_ql"].astype(float))
        params.loc[has, "q_limit"] = params.loc[has, "_ql"].astype(float).clip(lower=0.0)
        params.loc[has, "limit_source"] = params.loc[has, "_ls"]
        params = params.drop(columns=["_ql", "_ls"])
    params["forecast_end"] = pd.NaT
    arps = _arps_rows(params)
    if arps.any():
        p = params[arps]
        start_rate = _model_month_avg(p, np.full(len(p), as_of_ord + 1, np.int64)) * p["uptime"].fillna(1.0).to_numpy()
        below = (start_rate < p["q_limit"].to_numpy()) | ~np.isfinite(start_rate)
        bidx = p.index[below]
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
    rows = params[arps].assign(status="fitted")
    floor = start_ts - pd.DateOffset(months=int(round(fcfg.max_years * 6)))
    rows["first_month"] = pd.to_datetime(rows["first_month"]).clip(lower=floor)
    if "q_limit_applied" in rows.columns:
        rows["q_limit"] = rows["q_limit_applied"].fillna(rows["q_limit"])
    fc = forecast(rows, months=months, max_years=fcfg.max_years)
    parts = [fc.assign(method=params["method"].to_numpy()[_row_index(fc, params).to_numpy()])] if len(fc) else []

    # ML trendline rows
    ml = params["method"] == "ml_trendline"
    if ml.any() and trendlines is not None:
        parts.append(_trendline_forecast(params[ml], trendlines, start_ts, months))

    fc = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=list(FORECAST_COLUMNS) + ["method"])

    # 8. secondary phases by ratio
    params["ratio_basis"] = None
    params["ratio_value"] = np.nan
    params["primary_phase"] = params["well_id"].map(_primary_phase(long, as_of_ord))
    if cfg.ratio_phases:
        params, fc = _apply_ratios(params, fc, long, producing, cfg)

    fc = fc[np.isfinite(fc["volume"].astype(float)) & (fc["volume"].astype(float) >= 0)] if len(fc) else fc
    params = _reserves(params, fc)
    res = ForecastResult(_finish_params(params, as_of_ts), fc.reset_index(drop=True), as_of_ts)
    _add_uncertainty(res, cfg)
    return res


def _trendline_forecast(p: pd.DataFrame, trendlines: pd.DataFrame, start_ts: pd.Timestamp,
                        months: int | None) -> pd.DataFrame:
    t = trendlines.merge(p[["well_id", "phase", "uptime", "cum_to_date", "units"]], on=["well_id", "phase"])
    t["month"] = pd.to_datetime(t["month"])
    t = t[t["month"] >= start_ts]
    if months is not None:
        t = t[t["month"] < start_ts + pd.DateOffset(months=int(months))]
    days = t["month"].dt.days_in_month.to_numpy(np.float64)
    up = t["uptime"].fillna(1.0).clip(0.0, 1.0).to_numpy()
    vol = np.maximum(t["rate_per_day"].to_numpy(np.float64), 0.0) * days * up
    t = t.assign(volume=vol, rate_per_day=vol / days).sort_values(["well_id", "phase", "month"])
    # the trendline stops at the economic limit (calendar-day rate), like a curve
    t = t.merge(p[["well_id", "phase", "q_limit"]], on=["well_id", "phase"], how="left")
    under = (t["rate_per_day"] < t["q_limit"].fillna(0.0)).astype(int)
    t = t[under.groupby([t["well_id"], t["phase"]]).cumsum() == 0]
    t["cumulative"] = t["cum_to_date"] + t.groupby(["well_id", "phase"])["volume"].cumsum()
    t["method"] = "ml_trendline"
    return t[list(FORECAST_COLUMNS) + ["method"]]


def _apply_ratios(params: pd.DataFrame, fc: pd.DataFrame, long: pd.DataFrame, producing: np.ndarray,
                  cfg: ForecastConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    prim = params["primary_phase"]
    secondary = (params["phase"] != prim) & prim.notna() & pd.Series(producing, index=params.index)
    poor = ~params["method"].isin(["curve", "anchored_curve"]) | (params["sigma_log"].fillna(np.inf)
                                                                   > cfg.ratio_max_sigma)
    poor |= np.abs(np.log(params["anchor_factor"].astype(float).clip(1e-6, 1e6))) > np.log(1.5)
    cand = secondary & poor & ~params["status"].isin(["inactive", "no_production"])
    if not cand.any() or fc.empty:
        return params, fc
    prim_has = pd.MultiIndex.from_frame(fc[["well_id", "phase"]].drop_duplicates())
    cand &= pd.MultiIndex.from_arrays([params["well_id"], prim.fillna("")]).isin(prim_has)
    if not cand.any():
        return params, fc
    # ratio = sum(secondary) / sum(primary) over the primary's last ratio_months producing months
    lp = long[long["producing"]]
    idx = params.index[cand]
    c = params.loc[idx, ["well_id", "phase", "primary_phase"]].reset_index()
    pm = lp.rename(columns={"phase": "primary_phase", "volume": "pv"})[["well_id", "primary_phase", "ord", "pv"]]
    pm = pm.merge(c[["well_id", "primary_phase"]].drop_duplicates(), on=["well_id", "primary_phase"])
    pm = pm.sort_values("ord")
    pm["_r"] = pm.groupby(["well_id", "primary_phase"]).cumcount(ascending=False)
    pm = pm[pm["_r"] < cfg.ratio_months]
    sec = long.rename(columns={"volume": "sv"})[["well_id", "phase", "ord", "sv"]]
    j = c.merge(pm, on=["well_id", "primary_phase"]).merge(sec, on=["well_id", "phase", "ord"], how="left")
    agg = j.groupby("index").agg(pv=("pv", "sum"), sv=("sv", lambda s: s.fillna(0).sum()), n=("pv", "size"))
    agg = agg[(agg["pv"] > 0) & (agg["sv"] > 0)]
    if agg.empty:
        return params, fc
    ratio = agg["sv"] / agg["pv"]
    ridx = agg.index.to_numpy()
    names = {("gas", "oil"): ("GOR", "mcf/bbl"), ("water", "oil"): ("WOR", "bbl/bbl"),
             ("oil", "gas"): ("condensate yield", "bbl/mcf"), ("water", "gas"): ("water-gas ratio", "bbl/mcf")}
    basis = [names.get((ph, pp), (f"{ph}/{pp}", ""))
             for ph, pp in zip(params.loc[ridx, "phase"], params.loc[ridx, "primary_phase"])]
    params.loc[ridx, "reason"] = [
        f"{b} {r:.4g} {u} (last {int(n)} producing months of {pp}); own fit: {st}"
        for (b, u), r, n, pp, st in zip(basis, ratio, agg["n"], params.loc[ridx, "primary_phase"],
                                        params.loc[ridx, "status"])]
    params.loc[ridx, "ratio_basis"] = [b for b, _ in basis]
    params.loc[ridx, "ratio_value"] = ratio.to_numpy()
    params.loc[ridx, "status"] = "ratio"
    params.loc[ridx, "method"] = "ratio"
    # replace those phases' own forecast rows with primary x ratio
    r = params.loc[ridx, ["well_id", "phase", "primary_phase", "ratio_value", "cum_to_date", "units"]]
    keep = _row_index(fc, r).to_numpy() < 0
    fc_p = fc[fc["well_id"].isin(r["well_id"])]
    base = fc_p.merge(r.rename(columns={"phase": "sec_phase", "primary_phase": "phase"}), on=["well_id", "phase"])
    if len(base):
        base = base.sort_values(["well_id", "sec_phase", "month"])
        vol = base["volume"].to_numpy() * base["ratio_value"].to_numpy()
        new = pd.DataFrame({"well_id": base["well_id"].to_numpy(), "phase": base["sec_phase"].to_numpy(),
                            "month": base["month"].to_numpy(), "rate_per_day": base["rate_per_day"].to_numpy()
                            * base["ratio_value"].to_numpy(), "volume": vol,
                            "units": base["units_y"].to_numpy(), "method": "ratio"})
        new["cumulative"] = base["cum_to_date"].to_numpy() + new.groupby(["well_id", "phase"])["volume"].cumsum()
        fc = pd.concat([fc[keep], new[list(FORECAST_COLUMNS) + ["method"]]], ignore_index=True)
    return params, fc


def _row_index(rows: pd.DataFrame, table: pd.DataFrame) -> pd.Series:
    """Position in ``table`` of each row's (well_id, phase), -1 where absent.

    Dense integer keys (well code x phase code) instead of a string join: the forecast has
    millions of rows."""
    wells = pd.Index(pd.unique(table["well_id"].to_numpy()))
    phases = pd.Index(pd.unique(np.concatenate([table["phase"].to_numpy(), rows["phase"].to_numpy()])))
    tw = wells.get_indexer(table["well_id"].to_numpy())
    tp = phases.get_indexer(table["phase"].to_numpy())
    lut = np.full(len(wells) * len(phases), -1, np.int64)
    lut[tw * len(phases) + tp] = np.arange(len(table))
    rw = pd.Categorical(rows["well_id"].to_numpy(), categories=wells).codes.astype(np.int64)
    rp = pd.Categorical(rows["phase"].to_numpy(), categories=phases).codes.astype(np.int64)
    out = np.where((rw >= 0) & (rp >= 0), lut[np.maximum(rw, 0) * len(phases) + np.maximum(rp, 0)], -1)
    return pd.Series(out, index=rows.index)


def _reserves(params: pd.DataFrame, fc: pd.DataFrame) -> pd.DataFrame:
    """remaining = the forecast volume of the row; eur = cum_to_date + remaining (NaN without a forecast)."""
    rem = fc.groupby(["well_id", "phase"])["volume"].sum() if len(fc) else pd.Series(dtype=float)
    keyed = pd.MultiIndex.from_arrays([params["well_id"], params["phase"]])
    r = rem.reindex(keyed).to_numpy(np.float64)
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


def _add_uncertainty(res: ForecastResult, cfg: ForecastConfig) -> None:
    """P10/P90 per forecast month (closed form) and of remaining / EUR per row (draws)."""
    p, fc = res.params, res.forecast
    n = len(p)
    s = p["sigma_log"].to_numpy(np.float64)
    default = np.nanmedian(s) if np.isfinite(s).any() else cfg.sigma_default
    s = np.where(np.isfinite(s), s, max(default, cfg.sigma_floor))
    s = np.maximum(s, cfg.sigma_floor)
    # a ratio phase moves with its primary phase: share its scale and its draws
    z1, z2 = unc.draws(n, cfg.samples, cfg.seed)
    key = {(w, ph): i for i, (w, ph) in enumerate(zip(p["well_id"], p["phase"]))}
    for i in np.flatnonzero((p["method"] == "ratio").to_numpy()):
        j = key.get((p.at[i, "well_id"], p.at[i, "primary_phase"]))
        if j is not None:
            s[i], z1[i], z2[i] = s[j], z1[j], z2[j]
    p["sigma_used"] = s
    p["uncertainty_scale"] = cfg.uncertainty_scale
    res.draws = (z1, z2)
    for c in ("remaining_p10", "remaining_p50", "remaining_p90", "eur_p10", "eur_p90"):
        p[c] = np.nan
    if fc.empty:
        for c in ("volume_p10", "volume_p90", "months_ahead"):
            fc[c] = pd.Series(dtype=float)
        return
    ro = _row_index(fc, p).to_numpy()
    start = _month_ordinal(p["forecast_start"]).astype(np.int64) if p["forecast_start"].notna().all() else None
    mo = _month_ordinal(fc["month"])
    k = (mo - (start[ro] if start is not None else mo.min()) + 1).astype(np.float64)
    fc["months_ahead"] = k.astype(np.int64)
    hi, lo = unc.pointwise_bands(fc["volume"].to_numpy(np.float64), s[ro], k, cfg.uncertainty_scale)
    fc["volume_p10"], fc["volume_p90"] = hi, lo
    rows = np.unique(ro)
    # months binned: each of the first 5 years apart, then one bin per year (growth at the bin's middle)
    kk = k.astype(np.int64)
    col = np.where(kk <= _FINE_MONTHS, kk - 1, _FINE_MONTHS + (kk - _FINE_MONTHS - 1) // 12)
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

