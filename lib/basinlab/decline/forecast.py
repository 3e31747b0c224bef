"""Monthly forecasts from fitted Arps / modified-hyperbolic parameters (closed forms).

A forecast can be **compact** (``monthly_months=N``): one row per month for the first ``N``
months, then one row per 12 months (the last one partial), each with its exact volume (a
difference of the closed-form cumulative) and ``period_months`` saying how many months it
holds. The decline step stores ``marts.decline_forecast`` so (:data:`STORED_MONTHLY_MONTHS`):
the months that are read month by month stay monthly, decades of tail cost a row a year.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np
import pandas as pd

from .conversions import DAYS_PER_YEAR, secant_to_nominal, tangent_to_nominal
from .fitting import DEFAULT_Q_LIMITS, _month_ordinal, _ord_days, _ord_to_month
from .models import _arps_time_at_rate, arps_rate_cum

__all__ = ["forecast", "FORECAST_COLUMNS"]

log = logging.getLogger(__name__)

#: Output columns of :func:`forecast`.
FORECAST_COLUMNS: tuple[str, ...] = (
    "well_id", "phase", "month", "rate_per_day", "volume", "cumulative", "units", "period_months",
)
#: months stored one row per month in ``marts.decline_forecast`` before yearly rows (the report's
#: five-year views, the field bands and the lookback read only these)
STORED_MONTHLY_MONTHS = 60
#: months per row after the monthly ones in a compact forecast
BUCKET_MONTHS = 12


def period_layout(n_months: np.ndarray, monthly_months: int | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows of a (compact) forecast of ``n_months`` months per series.

    Returns ``(series, first, length)`` per output row: the series it belongs to, the offset of
    its first month (0 = the first forecast month) and the months it holds (1, or up to
    :data:`BUCKET_MONTHS` after ``monthly_months``).
    """
    n_months = np.asarray(n_months, dtype=np.int64)
    if monthly_months is None:
        n_out = n_months
    else:
        m = int(monthly_months)
        tail = np.maximum(n_months - m, 0)
        n_out = np.minimum(n_months, m) + (tail + BUCKET_MONTHS - 1) // BUCKET_MONTHS
    series = np.repeat(np.arange(len(n_months)), n_out)
    offs = np.cumsum(n_out) - n_out
    j = np.arange(series.size) - offs[series]
    if monthly_months is None:
        return series, j, np.ones(series.size, np.int64)
    m = int(monthly_months)
    first = np.where(j < m, j, m + (j - m) * BUCKET_MONTHS)
    length = np.where(j < m, 1, np.minimum(BUCKET_MONTHS, n_months[series] - first))
    return series, first, length


def forecast(
    params: pd.DataFrame,
    months: int | None = None,
    q_limit: float | Mapping[str, float] | None = None,
    max_years: float = 50.0,
    *,
    monthly_months: int | None = None,
    row_index: bool = False,
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
    monthly_months : int, optional
        Compact output: monthly rows for this many months, then one row per 12 months
        (``period_months`` says how many; default: every month its own row).
    row_index : bool
        Add ``_row``: the position in ``params`` of each row's parameters.
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
        ``units``, ``period_months`` (1; the months of a compact row).  The last month is
        partial when the limit or cap falls inside it.
    """
    sel = (params["status"] == "fitted").to_numpy()
    fitted = params[sel]
    if fitted.empty:
        return pd.DataFrame(columns=list(FORECAST_COLUMNS) + (["_row"] if row_index else []))
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
    # an end on a month edge ends the month before
    end_day = np.floor(day_t0 + np.clip(t_end - 1e-9, 0.0, 1e6)).astype(np.int64)
    end_ord = (end_day.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64) + 1970 * 12)
    n_months = np.where(t_end > t_start, end_ord - start + 1, 0)
    if months is not None:
        n_months = np.minimum(n_months, int(months))
    n_months = np.maximum(n_months, 0).astype(np.int64)
    row, k, plen = period_layout(n_months, monthly_months)
    if row.size == 0:
        return pd.DataFrame(columns=list(FORECAST_COLUMNS) + (["_row"] if row_index else []))
    m_ord = start[row] + k
    a = np.minimum((_ord_days(m_ord) - day_t0[row]).astype(np.float64), t_end[row])
    e = np.minimum((_ord_days(m_ord + plen) - day_t0[row]).astype(np.float64), t_end[row])
    _, ca = arps_rate_cum(qi[row], d_nom[row], b[row], dt_nom[row], a, want_rate=False)
    _, ce = arps_rate_cum(qi[row], d_nom[row], b[row], dt_nom[row], e, want_rate=False)
    assert ca is not None and ce is not None
    vol = np.maximum(ce - ca, 0.0) * uptime[row]
    vol = np.where(np.isfinite(vol), vol, 0.0)
    width = e - a
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(width > 0, vol / np.where(width > 0, width, 1.0), 0.0)
    # cumulative within each series (a grouped running sum: a series' values never depend on the
    # series before it, as a running sum over the whole array minus an offset would)
    cumulative = fitted["cum_to_date"].to_numpy(np.float64)[row] + _grouped_cumsum(vol, row)
    units = fitted["units"].to_numpy()[row] if "units" in fitted.columns else np.where(
        phase[row] == "gas", "mcf", "bbl"
    )
    # object (not arrow-string) columns: millions of rows, and the engine indexes them
    ids = np.asarray(fitted["well_id"].to_numpy(), dtype=object)
    out = pd.DataFrame(
        {
            "well_id": pd.Series(ids[row], dtype=object),
            "phase": pd.Series(np.asarray(phase, dtype=object)[row], dtype=object),
            "month": _ord_to_month(m_ord),
            "rate_per_day": rate,
            "volume": vol,
            "cumulative": cumulative,
            "units": pd.Series(np.asarray(units, dtype=object), dtype=object),
            "period_months": plen.astype(np.int64),
        }
    )
    if row_index:
        out["_row"] = np.flatnonzero(sel)[row]
    return out


def _grouped_cumsum(values: np.ndarray, group: np.ndarray, block: int = 4096) -> np.ndarray:
    """Running sum of ``values`` within runs of equal, contiguous ``group`` labels.

    Each run is summed on its own, left to right (a row of a padded matrix, ``np.cumsum`` along it),
    so a run's values never depend on the runs around it -- as they would with one running sum
    over the whole array minus an offset, or with pandas' grouped sums.
    """
    values = np.asarray(values, dtype=np.float64)
    n = values.size
    if n == 0:
        return values.copy()
    group = np.asarray(group)
    new = np.r_[True, group[1:] != group[:-1]]
    starts = np.flatnonzero(new)
    seg = np.cumsum(new) - 1
    pos = np.arange(n) - starts[seg]
    lens = np.diff(np.r_[starts, n])
    out = np.empty(n)
    for lo in range(0, len(starts), block):
        hi = min(len(starts), lo + block)
        r0, r1 = starts[lo], (starts[hi] if hi < len(starts) else n)
        mat = np.zeros((hi - lo, int(lens[lo:hi].max())))
        mat[seg[r0:r1] - lo, pos[r0:r1]] = values[r0:r1]
        out[r0:r1] = np.cumsum(mat, axis=1)[seg[r0:r1] - lo, pos[r0:r1]]
    return out
