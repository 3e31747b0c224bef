"""The trend of a secondary phase's ratio to the primary phase (GOR, WOR, yield).

A secondary phase forecast by ratio (gas on an oil well, water, oil on a gas well) is the
primary phase's forecast times a ratio. Ratios drift: the GOR of an oil well rises once the
reservoir falls below its bubble point, the WOR of a waterflooded well rises as the flood
front arrives. Over a few years such a drift is close to log-linear in time (the straight
line of ``ln WOR`` used in water-cut diagnostics: Chan 1995, SPE-30775; Yortsos et al. 1999,
SPE-38869), so the ratio is forecast as

``r(t) = r_recent · exp(s · (min(t, t_start + H) − t_c))``

where ``r_recent`` is the volume-weighted ratio of the recent months (Σ secondary / Σ
primary) centred at ``t_c`` (the mean time of those months), ``s`` the least-squares slope of
``ln r`` over the last :attr:`RatioTrendRules.months` producing months, held after ``H`` =
:attr:`RatioTrendRules.years` years from the forecast start. The trend is used only where it
is long enough (:attr:`~RatioTrendRules.min_months`) and significant (|t| of the slope at
least :attr:`~RatioTrendRules.min_t`); ``s`` is bounded to ± ln(1 + ``max_change_per_yr``).
Everywhere else the ratio is held constant at ``r_recent`` (the rule before trends).
Trends are opt-in (:attr:`RatioTrendRules.enabled`, see there for the backtest that decided).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = ["RatioTrendRules", "RatioTrend", "fit_ratio_trends", "ratio_multiplier"]

#: months per year (time axis of the trend in years of months)
MONTHS_PER_YEAR = 12.0


@dataclass(frozen=True)
class RatioTrendRules:
    """When a ratio's trend is used (see the module docstring).

    Attributes
    ----------
    enabled : bool
        Fit trends at all (False, the default: every ratio constant). Off by default because the
        backtests say so: on SODIR's fields (cuts 2015-06 and 2017-06, 24 months) the trended
        GOR / WOR / yield was worse than the constant ratio for about 70 % of the wells it applied
        to (median error of those wells 0.24 -> 0.38 for water); field ratios revert (water-handling
        limits, well mix) rather than extrapolate. ``bench/hindcast.py`` reports both each run.
    months : int
        Producing months of the primary phase the trend is fitted over.
    min_months : int
        Fewest months with both phases reported for a trend.
    min_t : float
        Smallest |slope / standard error| for a trend (about 95 % two-sided for the windows used).
    max_change_per_yr : float
        Bound of the trend: the ratio changes by at most this fraction per year (0.5: at most x1.5 or /1.5 a year).
    years : float
        The trend runs this many years after the forecast start; the ratio is held after.
    """

    enabled: bool = False
    months: int = 24
    min_months: int = 12
    min_t: float = 2.0
    max_change_per_yr: float = 0.5
    years: float = 5.0

    def __post_init__(self) -> None:
        if self.months < 3 or self.min_months < 3:
            raise ValueError("ratio trend months and min_months must be >= 3")
        if not (self.min_t >= 0 and self.max_change_per_yr > 0 and self.years >= 0):
            raise ValueError("ratio trend min_t >= 0, max_change_per_yr > 0 and years >= 0 are required")

    @property
    def max_log_slope(self) -> float:
        """Bound of ``s`` (ln ratio per year)."""
        return float(np.log1p(self.max_change_per_yr))


@dataclass
class RatioTrend:
    """Per group: the log-slope used (0 = constant), whether it is a trend, the points and |t|."""

    slope_per_yr: NDArray[np.float64]
    is_trend: NDArray[np.bool_]
    n: NDArray[np.int64]
    t_stat: NDArray[np.float64]


def fit_ratio_trends(group: NDArray[np.int64], t_yr: NDArray[np.float64], ratio: NDArray[np.float64],
                     n_groups: int, rules: RatioTrendRules) -> RatioTrend:
    """Least-squares slope of ``ln ratio`` on time per group, and whether it is used.

    Parameters
    ----------
    group : int array
        Group (0 .. n_groups - 1) of each point.
    t_yr : float array
        Time of each point in years (any origin).
    ratio : float array
        The ratio at each point; points that are not finite and positive are left out.
    n_groups : int
    rules : RatioTrendRules

    Returns
    -------
    RatioTrend
        ``slope_per_yr`` is the bounded slope where ``is_trend``, else 0; never NaN.
    """
    group = np.asarray(group, np.int64)
    x = np.asarray(t_yr, np.float64)
    r = np.asarray(ratio, np.float64)
    ok = np.isfinite(r) & (r > 0) & np.isfinite(x) & (group >= 0)
    g, x, y = group[ok], x[ok], np.log(r[ok])
    n = np.bincount(g, minlength=n_groups).astype(np.float64)
    safe_n = np.maximum(n, 1.0)
    xm = np.bincount(g, x, minlength=n_groups) / safe_n
    ym = np.bincount(g, y, minlength=n_groups) / safe_n
    dx, dy = x - xm[g], y - ym[g]
    sxx = np.bincount(g, dx * dx, minlength=n_groups)
    sxy = np.bincount(g, dx * dy, minlength=n_groups)
    with np.errstate(invalid="ignore", divide="ignore"):
        slope = np.where(sxx > 0, sxy / sxx, 0.0)
        res = dy - slope[g] * dx
        ssr = np.bincount(g, res * res, minlength=n_groups)
        se = np.sqrt(np.where(n > 2, ssr / np.maximum(n - 2.0, 1.0), np.inf) / np.where(sxx > 0, sxx, np.inf))
        # an exact line (se 0) is as significant as can be; no slope at all is not
        t = np.where(se > 0, np.abs(slope) / se, np.where(np.abs(slope) > 0, np.inf, 0.0))
    t = np.nan_to_num(t, nan=0.0)
    use = rules.enabled & (n >= rules.min_months) & (sxx > 0) & (t >= rules.min_t) & np.isfinite(slope)
    bound = rules.max_log_slope
    used = np.where(use, np.clip(np.nan_to_num(slope), -bound, bound), 0.0)
    return RatioTrend(used, use, n.astype(np.int64), t)


def ratio_multiplier(slope_per_yr: NDArray[np.float64], t_yr: NDArray[np.float64], t_center_yr: NDArray[np.float64],
                     t_start_yr: NDArray[np.float64], years: float) -> NDArray[np.float64]:
    """``exp(s · (min(t, t_start + years) − t_c))`` elementwise: the factor on the recent ratio at ``t``."""
    s = np.asarray(slope_per_yr, np.float64)
    t = np.minimum(np.asarray(t_yr, np.float64), np.asarray(t_start_yr, np.float64) + float(years))
    return np.exp(s * (t - np.asarray(t_center_yr, np.float64)))
