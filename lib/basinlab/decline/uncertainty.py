"""P10 / P50 / P90 forecasts per well and for sums of wells (sample, then sum).

Error model (ADCA's log-scale model, Equinor decline-curve-analysis, "Uncertainty
and EUR-forecasting"; Jochen & Spivey 1996, SPE-36633-MS for bootstrapped DCA
ranges): a well's future rate is its P50 forecast times a log-normal multiplier
that grows with the time ahead,

    ln m_k = c · s · (z1 + z2 · sqrt(k / 12)),      z1, z2 ~ N(0, 1) per well and draw,

where ``k`` is the month ahead, ``s`` the well's recency-weighted residual scale
of ln rate around its fit (floored) and ``c`` one calibration constant set so
that the backtest's P10–P90 range of the horizon volume holds the actual volume
of 80 % of the wells (:func:`calibrate_scale`). ``z1`` moves the level, ``z2``
the decline: the range widens with the square root of the time ahead, as
the spread of a random walk in ln rate does.

Per-month bands of one well have a closed form (``ln m_k`` is normal with
standard deviation ``c s sqrt(1 + k/12)``). Totals -- a well's remaining
volume or EUR, a field's or the company's monthly production -- are **not** sums
of P10s: they are quantiles of sums of the same draws (:func:`sample_totals`).

Oil-industry convention: P10 is the high case (exceeded with 10 % probability).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import NDArray

__all__ = ["DEFAULT_SCALE", "Z90", "draws", "pointwise_bands", "well_total_quantiles", "sample_totals",
           "calibrate_scale", "coverage"]

#: calibration constant used when no backtest is available (hindcasts on Volve, SODIR and the demo)
DEFAULT_SCALE = 1.0
#: standard normal 90th percentile (P10 high case = exp(+Z90 sigma))
Z90 = 1.2815515655446004
#: months per year (the decline term of the error grows per year ahead)
_MPY = 12.0


def draws(n: int, samples: int, seed: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Standard-normal level and decline draws, ``(n, samples)`` each, deterministic for ``seed``."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((2, n, samples))
    return z[0], z[1]


def pointwise_bands(volume: NDArray[np.float64], sigma: NDArray[np.float64], k: NDArray[np.float64],
                    scale: float) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """(P10 high, P90 low) of one month's volume for ``k`` months ahead (closed form)."""
    sd = scale * sigma * np.sqrt(1.0 + k / _MPY)
    return volume * np.exp(Z90 * sd), volume * np.exp(-Z90 * sd)


def growth(months_ahead: NDArray[np.float64]) -> NDArray[np.float64]:
    """The decline term's factor ``sqrt(k / 12)`` for ``k`` months ahead."""
    return np.sqrt(np.asarray(months_ahead, dtype=np.float64) / _MPY)


def _sample_matrix(vol: NDArray[np.float64], s: NDArray[np.float64], z1: NDArray[np.float64],
                   z2: NDArray[np.float64], scale: float, g: NDArray[np.float64] | None = None
                   ) -> NDArray[np.float64]:
    """Per row and draw the sum over columns of ``vol[:, j] * m_j``: (n, samples).

    Column ``j`` is month ``j + 1`` ahead unless ``g`` gives each column's growth factor
    (months binned into years far ahead keep the cost down).
    """
    n, months = vol.shape
    k = growth(np.arange(1, months + 1)) if g is None else g
    out = np.empty(z1.shape)
    step = max(1, int(4e6 // max(months * z1.shape[1], 1)))
    for lo in range(0, n, step):
        hi = min(n, lo + step)
        a = scale * s[lo:hi, None, None]
        e = np.exp(np.clip(a * (z1[lo:hi, :, None] + z2[lo:hi, :, None] * k[None, None, :]), -50, 50))
        out[lo:hi] = np.einsum("nk,nsk->ns", vol[lo:hi], e)
    return out


def well_total_quantiles(vol: NDArray[np.float64], s: NDArray[np.float64], z1: NDArray[np.float64],
                         z2: NDArray[np.float64], scale: float, g: NDArray[np.float64] | None = None
                         ) -> NDArray[np.float64]:
    """P10 / P50 / P90 (high, median, low) of each row's total over the months of ``vol`` (n, months)."""
    tot = _sample_matrix(vol, s, z1, z2, scale, g)
    return np.percentile(tot, [90, 50, 10], axis=1).T


def sample_totals(vol: NDArray[np.float64], s: NDArray[np.float64], z1: NDArray[np.float64],
                  z2: NDArray[np.float64], scale: float, groups: NDArray[np.int64], n_groups: int
                  ) -> NDArray[np.float64]:
    """Per group and month, the draws of the group's summed volume: (n_groups, months, samples).

    ``vol`` (n, months) are the P50 monthly volumes of the rows; every row keeps its own draws
    in every month, so the sum is a sum of consistent paths.
    """
    n, months = vol.shape
    samples = z1.shape[1]
    out = np.zeros((n_groups, months, samples))
    k = growth(np.arange(1, months + 1))
    step = max(1, int(4e6 // max(months * samples, 1)))
    for lo in range(0, n, step):
        hi = min(n, lo + step)
        a = scale * s[lo:hi, None, None]
        e = np.exp(np.clip(a * (z1[lo:hi, None, :] + z2[lo:hi, None, :] * k[None, :, None]), -50, 50))
        np.add.at(out, groups[lo:hi], vol[lo:hi, :, None] * e)
    return out


def coverage(actual: NDArray[np.float64], vol: NDArray[np.float64], s: NDArray[np.float64],
             z1: NDArray[np.float64], z2: NDArray[np.float64], scale: float) -> tuple[float, NDArray[np.float64]]:
    """Share of rows whose ``actual`` total lies within their P90..P10 range; and the (n, 3) quantiles."""
    q = well_total_quantiles(vol, s, z1, z2, scale)
    inside = (actual <= q[:, 0]) & (actual >= q[:, 2])
    return (float(inside.mean()) if len(inside) else float("nan")), q


def calibrate_scale(actual: NDArray[np.float64], vol: NDArray[np.float64], s: NDArray[np.float64],
                    z1: NDArray[np.float64], z2: NDArray[np.float64], target: float = 0.8,
                    lo: float = 0.05, hi: float = 20.0, iterations: int = 14) -> float:
    """The scale ``c`` whose P10–P90 coverage of ``actual`` is closest to ``target`` (bisection in log c)."""
    if len(actual) < 10:
        return DEFAULT_SCALE
    if coverage(actual, vol, s, z1, z2, hi)[0] < target:
        return hi
    a, b = np.log(lo), np.log(hi)
    for _ in range(iterations):
        mid = 0.5 * (a + b)
        if coverage(actual, vol, s, z1, z2, float(np.exp(mid)))[0] < target:
            a = mid
        else:
            b = mid
    return float(np.exp(b))


def as_frame(keys: pd.DataFrame, q: NDArray[np.float64], prefix: str) -> pd.DataFrame:
    out = keys.copy()
    out[f"{prefix}_p10"], out[f"{prefix}_p50"], out[f"{prefix}_p90"] = q[:, 0], q[:, 1], q[:, 2]
    return out
