"""Monthly forecasts from fitted Arps / modified-hyperbolic parameters (closed forms)."""

from __future__ import annotations

import logging
from typing import Mapping

import numpy as np
import pandas as pd

from .conversions import DAYS_PER_YEAR, secant_to_nominal, tangent_to_nominal
from .fitting import DEFAULT_Q_LIMITS, _month_ordinal, _ord_days, _ord_to_month
from .models import _arps_time_at_rate, arps_rate_cum

__all__ = ["forecast", "FORECAST_COLUMNS"]

log = logging.getLogger(__name__)

#: Output columns of :func:`forecast`.
FORECAST_COLUMNS: tuple[str, ...] = (
    "well_id", "phase", "month", "rate_per_day", "volume", "cumulative", "units",
)


def forecast(
    params: pd.DataFrame,
    months: int | None = None,
    q_limit: float | Mapping[str, float] | None = None,
    max_years: float = 50.0,
) -> pd.DataFrame:
    """Monthly forecast volumes for every fitted row of a :func:`fit_wells` table.

    Parameters
    ----------
    params : DataFrame
        Output of :func:`basinlab.decline.fit_wells` (columns ``well_id``,
        ``phase``, ``status``, ``qi``, ``di``, ``b``, ``dterm``, ``t0_month``,
        ``first_month``, ``last_month``, ``cum_to_date``).  Rows whose status is
        not ``'fitted'`` are skipped.
    months : int, optional
        At most this many forecast months per well and phase (default: until
        the limit or the cap).
    q_limit : float or mapping phase -> float, optional
        Economic-limit rate, volume/day (default :data:`DEFAULT_Q_LIMITS`:
        oil 1 bbl/d, gas 10 mcf/d, water 1 bbl/d).  The forecast ends at the
        time the model rate falls to it.
    max_years : float
        Time cap: the forecast ends ``max_years`` after ``first_month`` (the
        well's first month in the production table), default 50 -- the same
        default as :class:`FitConfig`, so the forecast volumes sum to the
        ``remaining`` column of :func:`fit_wells`.

    Optional columns of ``params`` refine each row: ``forecast_start`` (first
    forecast month; default the month after ``last_month``), ``uptime`` (fraction
    of calendar time producing, 0..1, default 1: volumes are the curve's
    producing-day volume times it, and the limit applies to the calendar-day
    rate), ``q_limit`` (per-row economic limit, volume/day, overrides
    ``q_limit``), ``forecast_end`` (last forecast month, inclusive).

    Returns
    -------
    DataFrame
        ``well_id``, ``phase``, ``month`` (first of month, from ``forecast_start``),
        ``rate_per_day`` (average calendar-day rate over the forecast part of the
        month, volume/day), ``volume`` (volume in the month, from closed-form
        cumulative differences times ``uptime``, bbl or mcf),
        ``cumulative`` (``cum_to_date`` plus forecast volume to the month's end),
        ``units``.  The last month is partial when the limit or cap falls inside it.
    """
    fitted = params[params["status"] == "fitted"]
    if fitted.empty:
        return pd.DataFrame(columns=list(FORECAST_COLUMNS))
    phase = fitted["phase"].to_numpy()
    if "q_limit" in fitted.columns:
        qlim = fitted["q_limit"].to_numpy(np.float64)
    else:
        if q_limit is None:
            q_limit = DEFAULT_Q_LIMITS
        if isinstance(q_limit, Mapping):
            qlim = np.array([float(q_limit.get(p, 0.0)) for p in phase])
        else:
            qlim = np.full(len(fitted), float(q_limit))
    qlim = np.where(np.isfinite(qlim), np.maximum(qlim, 0.0), 0.0)
    uptime = (fitted["uptime"].to_numpy(np.float64) if "uptime" in fitted.columns
              else np.ones(len(fitted)))
    uptime = np.where(np.isfinite(uptime) & (uptime > 0), np.minimum(uptime, 1.0), 1.0)
    qi = fitted["qi"].to_numpy(np.float64)
    b = fitted["b"].to_numpy(np.float64)
    d_nom = secant_to_nominal(fitted["di"].to_numpy(np.float64), b) / DAYS_PER_YEAR
    dt_nom = tangent_to_nominal(fitted["dterm"].fillna(0.0).to_numpy(np.float64)) / DAYS_PER_YEAR
    t0 = _month_ordinal(fitted["t0_month"])
    if "forecast_start" in fitted.columns:
        start = _month_ordinal(fitted["forecast_start"])
    else:
        start = _month_ordinal(fitted["last_month"]) + 1
    first = _month_ordinal(fitted["first_month"])
    day_t0 = _ord_days(t0)
    t_start = (_ord_days(start) - day_t0).astype(np.float64)
    t_cap = _ord_days(first) + max_years * DAYS_PER_YEAR - day_t0
    if "forecast_end" in fitted.columns:  # last forecast month (inclusive), e.g. a below-limit well's horizon
        fe = pd.to_datetime(fitted["forecast_end"])
        has_end = fe.notna().to_numpy()
        end_cap = np.where(has_end, _ord_days(_month_ordinal(fe.fillna(pd.Timestamp("2000-01-01"))) + 1) - day_t0,
                           np.inf)
        t_cap = np.minimum(t_cap, end_cap)
    ok = np.isfinite(qi) & (qi > 0) & np.isfinite(d_nom) & (d_nom >= 0) & np.isfinite(b)
    # the limit is on the calendar-day rate (producing-day rate x uptime)
    t_end = np.minimum(_arps_time_at_rate(np.where(ok, qi, 1.0), np.where(ok, d_nom, 0.0), np.where(ok, b, 0.0),
                                          dt_nom, qlim / uptime), t_cap)
    t_end = np.where(ok, t_end, -np.inf)
    # month containing t_end (the last, possibly partial, month)
    end_day = np.floor(day_t0 + np.clip(t_end - 1e-9, 0.0, 1e6)).astype(np.int64)  # an end on a month edge ends the month before
    end_ord = (end_day.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64) + 1970 * 12)
    n_months = np.where(t_end > t_start, end_ord - start + 1, 0)
    if months is not None:
        n_months = np.minimum(n_months, int(months))
    n_months = np.maximum(n_months, 0).astype(np.int64)
    row = np.repeat(np.arange(len(fitted)), n_months)
    if row.size == 0:
        return pd.DataFrame(columns=list(FORECAST_COLUMNS))
    offs = np.cumsum(n_months) - n_months
    k = np.arange(row.size) - offs[row]
    m_ord = start[row] + k
    a = np.minimum((_ord_days(m_ord) - day_t0[row]).astype(np.float64), t_end[row])
    e = np.minimum((_ord_days(m_ord + 1) - day_t0[row]).astype(np.float64), t_end[row])
    _, ca = arps_rate_cum(qi[row], d_nom[row], b[row], dt_nom[row], a, want_rate=False)
    _, ce = arps_rate_cum(qi[row], d_nom[row], b[row], dt_nom[row], e, want_rate=False)
    assert ca is not None and ce is not None
    vol = np.maximum(ce - ca, 0.0) * uptime[row]
    vol = np.where(np.isfinite(vol), vol, 0.0)
    width = e - a
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(width > 0, vol / np.where(width > 0, width, 1.0), 0.0)
    csum = np.cumsum(vol)
    # cumulative before each row's first month; rows with no forecast month have no offset to read
    # (their offset is the end of the array: reading it was the IndexError of issue 7)
    base = np.zeros(len(n_months))
    nz = n_months > 0
    base[nz] = csum[offs[nz]] - vol[offs[nz]]
    group_base = base[row]
    cumulative = fitted["cum_to_date"].to_numpy(np.float64)[row] + csum - group_base
    units = fitted["units"].to_numpy()[row] if "units" in fitted.columns else np.where(
        phase[row] == "gas", "mcf", "bbl"
    )
    # object (not arrow-string) columns: millions of rows, and the engine indexes them
    ids = np.asarray(fitted["well_id"].to_numpy(), dtype=object)
    return pd.DataFrame(
        {
            "well_id": pd.Series(ids[row], dtype=object),
            "phase": pd.Series(np.asarray(phase, dtype=object)[row], dtype=object),
            "month": _ord_to_month(m_ord),
            "rate_per_day": rate,
            "volume": vol,
            "cumulative": cumulative,
            "units": pd.Series(np.asarray(units, dtype=object), dtype=object),
        }
    )
