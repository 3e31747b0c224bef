"""Backtests: forecast as of a past month, compare with what the wells then produced.

:func:`backtest` fits every well on the rows up to ``cut``, forecasts ``horizon``
months and compares each producing well's forecast volume over the horizon with
its actual volume (ADCA's validation: "go back in time and compare against an
unknown future that the model has never seen").

Figures (per phase):

* per well: ``ape`` = |forecast − actual| / actual of the horizon volume (wells
  with no actual volume after the cut have no APE; they count in the aggregate);
* ``median_ape``, ``p90_ape`` over the wells with an APE;
* ``aggregate_error`` = Σ forecast / Σ actual − 1 over the producing wells;
* ``forecast_share`` = producing wells at the cut (a positive volume in the last
  ``inactive_months`` months up to it) that got a forecast (any method);
* ``coverage`` = share of wells whose actual lies within their P90–P10 range of
  the horizon volume, and the ``calibrated_scale`` that would make it 80 %.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from . import uncertainty as unc
from .analogs import VOLUME_COLUMNS
from .engine import ForecastConfig, ForecastContext, ForecastResult, Stage, clean_production, finish, forecast_wells

__all__ = ["BacktestResult", "backtest", "field_lookback", "SUMMARY_COLUMNS", "WELL_COLUMNS"]

#: coverage the uncertainty is calibrated to (P10–P90 holds 80 % of outcomes)
TARGET_COVERAGE = 0.8

WELL_COLUMNS = ("cut_month", "horizon_months", "phase", "well_id", "group", "status", "method", "reason",
                "forecast_volume", "actual_volume", "ape", "forecast_p10", "forecast_p90", "inside_p10_p90",
                "units")
SUMMARY_COLUMNS = ("cut_month", "horizon_months", "phase", "method_set", "wells_producing", "wells_forecast",
                   "forecast_share", "wells_with_actual", "median_ape", "p90_ape", "aggregate_error",
                   "coverage", "uncertainty_scale", "calibrated_scale", "short_history_wells",
                   "short_history_method", "short_history_median_ape_analog", "short_history_median_ape_ml",
                   "forecast_total", "actual_total", "wells_with_history", "wells_in_sample")


@dataclass
class BacktestResult:
    """``wells``: one row per producing well; ``summary``: one row of figures; ``monthly``: the horizon's
    monthly forecast and actual per well; ``result``: the forecast as of the cut."""

    wells: pd.DataFrame
    summary: pd.DataFrame
    monthly: pd.DataFrame
    result: ForecastResult
    extra: dict[str, Any] = field(default_factory=dict)

    def figures(self) -> dict[str, Any]:
        return {k: (None if isinstance(v, float) and not np.isfinite(v) else v)
                for k, v in self.summary.iloc[0].to_dict().items()}


def _horizon(cut: pd.Timestamp, horizon: int) -> tuple[pd.Timestamp, pd.Timestamp]:
    start = cut + pd.offsets.MonthBegin(1)
    return start, start + pd.DateOffset(months=horizon)


def backtest(production: pd.DataFrame, header: pd.DataFrame | None = None, *, cut: Any, horizon: int = 24,
             phase: str = "oil", config: ForecastConfig | None = None,
             well_limits: pd.DataFrame | None = None,
             trendlines: Callable[[pd.Timestamp], pd.DataFrame] | pd.DataFrame | None = None,
             calibrate: bool = True) -> BacktestResult:
    """Forecast as of ``cut`` from the rows up to it; compare ``horizon`` months with the actuals after it.

    Parameters
    ----------
    production, header : DataFrame
        Canonical monthly production (all months; rows after ``cut`` are only used as actuals)
        and the well header (``field`` groups the analogs and the lookback).
    cut : date-like
        Last month the forecast may see.
    horizon : int
        Months compared after the cut.
    phase : str
        Phase whose volumes are compared.
    trendlines : DataFrame or callable(cut) -> DataFrame, optional
        ML trendlines for short-history wells trained on rows up to ``cut``; when given, both
        short-history methods (analog shape, ML trendline) are backtested and the one with the
        lower median APE on those wells is kept (``short_history_method``).
    calibrate : bool
        Also report the uncertainty scale that gives 80 % P10–P90 coverage.
    """
    if phase not in VOLUME_COLUMNS:
        raise ValueError(f"phase must be one of {sorted(VOLUME_COLUMNS)}, got {phase!r}")
    if horizon < 1:
        raise ValueError("horizon must be at least 1 month")
    cfg = config or ForecastConfig()
    cut_ts = pd.Timestamp(cut).to_period("M").to_timestamp()
    prod, _ = clean_production(production)
    seen = prod[prod["production_month"] <= cut_ts]
    start, end = _horizon(cut_ts, horizon)
    tl = trendlines(cut_ts) if callable(trendlines) else trendlines
    runs = {"analog": replace(cfg, short_history="analog")}
    if tl is not None and len(tl):
        runs["ml_trendline"] = replace(cfg, short_history="ml_trendline")
    evaluated = {name: _evaluate(seen, prod, header, cut_ts, horizon, phase, c, well_limits, tl)
                 for name, c in runs.items()}
    short_ape = {name: _short_median(ev[0]) for name, ev in evaluated.items()}
    choice = "analog"
    if "ml_trendline" in short_ape and np.isfinite(short_ape["ml_trendline"]) and (
            not np.isfinite(short_ape["analog"]) or short_ape["ml_trendline"] < short_ape["analog"]):
        choice = "ml_trendline"
    wells, monthly, res, vol, s, z1, z2, actual = evaluated[choice]
    summary = _summary(wells, cut_ts, horizon, phase, cfg)
    summary["method_set"] = f"short history: {choice}"
    summary["short_history_wells"] = int(wells["method"].isin(["analog", "ml_trendline"]).sum())
    summary["short_history_method"] = choice
    summary["short_history_median_ape_analog"] = short_ape.get("analog", np.nan)
    summary["short_history_median_ape_ml"] = short_ape.get("ml_trendline", np.nan)
    cal = np.nan
    has = np.isfinite(actual) & (vol.sum(axis=1) > 0)
    if calibrate and has.sum() >= 10:
        cal = unc.calibrate_scale(actual[has], vol[has], s[has], z1[has], z2[has], TARGET_COVERAGE)
    summary["calibrated_scale"] = cal
    summary["wells_with_history"] = summary["wells_in_sample"] = int(seen["well_id"].nunique())
    summary = summary[list(SUMMARY_COLUMNS)]
    return BacktestResult(wells[list(WELL_COLUMNS)], summary, monthly, res,
                          {"short_history_ape": short_ape, "matrix": (vol, s, z1, z2, actual)})


def _short_median(wells: pd.DataFrame) -> float:
    w = wells[wells["method"].isin(["analog", "ml_trendline"]) & wells["ape"].notna()]
    return float(w["ape"].median()) if len(w) else float("nan")


def _evaluate(seen, prod, header, cut_ts, horizon, phase, cfg, well_limits, tl, *,
              stage: Stage | ForecastResult | None = None, context: ForecastContext | None = None):
    """One short-history method's backtest of the wells of ``seen``; with ``stage`` (the wells
    prepared as of the cut, :func:`~basinlab.decline.engine.prepare`) and ``context`` the wells are
    a batch of a larger set (the decline step)."""
    start, end = _horizon(cut_ts, horizon)
    if stage is None:
        res = forecast_wells(seen, header, as_of=cut_ts, config=cfg, well_limits=well_limits, trendlines=tl,
                             months=horizon)
    elif isinstance(stage, ForecastResult):
        res = stage
    else:
        res = finish(stage, header, config=cfg, context=context, well_limits=well_limits, trendlines=tl,
                     months=horizon)
    p = res.params
    col = VOLUME_COLUMNS[phase]
    # producing at the cut: a positive volume in the last inactive_months months up to the cut
    recent_from = cut_ts - pd.DateOffset(months=cfg.inactive_months - 1)
    rec = seen[(seen["production_month"] >= recent_from) & (seen[col].fillna(0) > 0)]
    producing = pd.Index(rec["well_id"].unique())
    pp = p[(p["phase"] == phase) & p["well_id"].isin(producing)].reset_index()
    after = prod[(prod["production_month"] >= start) & (prod["production_month"] < end)]
    act = _well_sums(after["well_id"], after[col], min_count=1)
    fc = res.forecast[(res.forecast["phase"] == phase) & res.forecast["well_id"].isin(producing)]
    fvol = _well_sums(fc["well_id"], fc["volume"])
    pp["forecast_volume"] = pp["well_id"].map(fvol).fillna(0.0).to_numpy()
    pp["actual_volume"] = pp["well_id"].map(act).fillna(0.0).to_numpy()
    a = pp["actual_volume"].to_numpy(np.float64)
    f = pp["forecast_volume"].to_numpy(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        pp["ape"] = np.where(a > 0, np.abs(f - a) / a, np.nan)
    # horizon-volume quantiles from the forecast's own draws
    z1, z2 = res.draws if res.draws is not None else unc.draws(len(p), cfg.samples, cfg.seed)
    rows = pp["index"].to_numpy()
    mat = np.zeros((len(pp), horizon))
    if len(fc):
        pos = pd.Series(np.arange(len(pp)), index=pp["well_id"]).reindex(fc["well_id"]).to_numpy()
        k = fc["months_ahead"].to_numpy(np.int64) - 1
        ok = (k >= 0) & (k < horizon) & np.isfinite(pos)
        np.add.at(mat, (pos[ok].astype(np.int64), k[ok]), fc["volume"].to_numpy(np.float64)[ok])
    s = p["sigma_used"].to_numpy(np.float64)[rows] if len(rows) else np.zeros(0)
    q = unc.well_total_quantiles(mat, s, z1[rows], z2[rows], cfg.uncertainty_scale) if len(rows) else np.zeros((0, 3))
    pp["forecast_p10"], pp["forecast_p90"] = q[:, 0] if len(q) else [], q[:, 2] if len(q) else []
    pp["inside_p10_p90"] = (a <= pp["forecast_p10"].to_numpy()) & (a >= pp["forecast_p90"].to_numpy())
    grp = (header.drop_duplicates("well_id").set_index("well_id")[cfg.group_by]
           if header is not None and cfg.group_by in header.columns else pd.Series(dtype=object))
    pp["group"] = pp["well_id"].map(grp).fillna("(unknown)").to_numpy()
    pp["cut_month"] = cut_ts
    pp["horizon_months"] = horizon
    # monthly forecast and actual of the producing wells over the horizon
    am = after[after["well_id"].isin(producing)].groupby(["well_id", "production_month"])[col].sum().rename(
        "actual_volume").reset_index().rename(columns={"production_month": "month"})
    fm = fc.groupby(["well_id", "month"])["volume"].sum().rename("forecast_volume").reset_index()
    # a table without forecast rows (every well inactive, or a batch of one such well) has no month dtype
    fm["month"], am["month"] = pd.to_datetime(fm["month"]), pd.to_datetime(am["month"])
    fm["well_id"], am["well_id"] = fm["well_id"].astype(object), am["well_id"].astype(object)
    monthly = fm.merge(am, on=["well_id", "month"], how="outer").fillna({"forecast_volume": 0.0,
                                                                         "actual_volume": 0.0})
    monthly["phase"] = phase
    monthly["group"] = monthly["well_id"].map(grp).fillna("(unknown)")
    return pp, monthly, res, mat, s, z1[rows], z2[rows], a


def _well_sums(wells: pd.Series, values: pd.Series, min_count: int = 0) -> pd.Series:
    """Sum per well with numpy's sequential sums (a well's total never depends on the other wells);
    NaN values are skipped, a well with fewer than ``min_count`` values sums to NaN."""
    codes, uniq = pd.factorize(wells.to_numpy(dtype=object))
    v = pd.to_numeric(values, errors="coerce").to_numpy(np.float64)
    ok = np.isfinite(v)
    tot = np.bincount(codes[ok], v[ok], minlength=len(uniq))
    n = np.bincount(codes[ok], minlength=len(uniq))
    return pd.Series(np.where(n >= min_count, tot, np.nan), index=pd.Index(uniq, dtype=object))


def _summary(wells: pd.DataFrame, cut_ts, horizon, phase, cfg: ForecastConfig) -> pd.DataFrame:
    n = len(wells)
    got = wells["method"].notna() & (wells["status"] != "inactive")
    ape = wells["ape"].dropna()
    ft, at = float(wells["forecast_volume"].sum()), float(wells["actual_volume"].sum())
    return pd.DataFrame([{
        "cut_month": cut_ts, "horizon_months": horizon, "phase": phase, "method_set": "",
        "wells_producing": n, "wells_forecast": int(got.sum()),
        "forecast_share": float(got.mean()) if n else np.nan,
        "wells_with_actual": int(len(ape)),
        "median_ape": float(ape.median()) if len(ape) else np.nan,
        "p90_ape": float(ape.quantile(0.9)) if len(ape) else np.nan,
        "aggregate_error": ft / at - 1.0 if at > 0 else np.nan,
        "coverage": float(wells.loc[wells["actual_volume"] > 0, "inside_p10_p90"].mean()) if len(ape) else np.nan,
        "uncertainty_scale": cfg.uncertainty_scale,
        "forecast_total": ft, "actual_total": at,
    }])


def field_lookback(bt: BacktestResult, samples_scale: float | None = None) -> pd.DataFrame:
    """Per group (field) and month of the horizon: actual, forecast P50 and the P10/P90 of the field total
    (sampled per well, then summed), plus a company total (group ``(all)``)."""
    vol, s, z1, z2, _ = bt.extra["matrix"]
    w = bt.wells
    if w.empty:
        return pd.DataFrame(columns=["group", "month", "actual_volume", "forecast_p50", "forecast_p10",
                                     "forecast_p90", "phase", "cut_month"])
    scale = float(bt.summary["uncertainty_scale"].iloc[0]) if samples_scale is None else samples_scale
    groups, gi = np.unique(w["group"].astype(str).to_numpy(), return_inverse=True)
    cut = pd.Timestamp(w["cut_month"].iloc[0])
    months = pd.date_range(cut + pd.offsets.MonthBegin(1), periods=vol.shape[1], freq="MS")
    tot = unc.sample_totals(vol, s, z1, z2, scale, gi.astype(np.int64), len(groups))
    allt = tot.sum(axis=0, keepdims=True)
    tot = np.concatenate([tot, allt], axis=0)
    names = list(groups) + ["(all)"]
    p10, p90 = np.percentile(tot, 90, axis=2), np.percentile(tot, 10, axis=2)
    p50 = np.zeros((len(names), vol.shape[1]))
    np.add.at(p50, gi, vol)
    p50[-1] = vol.sum(axis=0)
    act = bt.monthly.groupby(["group", "month"])["actual_volume"].sum()
    rows = []
    for g_i, g in enumerate(names):
        for m_i, m in enumerate(months):
            a = (float(bt.monthly.loc[bt.monthly["month"] == m, "actual_volume"].sum()) if g == "(all)"
                 else float(act.get((g, m), 0.0)))
            rows.append({"group": g, "month": m, "actual_volume": a, "forecast_p50": p50[g_i, m_i],
                         "forecast_p10": p10[g_i, m_i], "forecast_p90": p90[g_i, m_i]})
    out = pd.DataFrame(rows)
    out["phase"] = w["phase"].iloc[0] if "phase" in w else None
    out["cut_month"] = cut
    return out
