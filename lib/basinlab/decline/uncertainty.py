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

Draws are **keyed** (:func:`keyed_draws`): a well-phase's ``z1``, ``z2`` are a function of the
seed and of its key (well id and phase, :func:`row_keys`) only, never of its position in a
table, so forecasting the wells of a warehouse in batches gives every well the same draws as
forecasting them all at once.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import NDArray

__all__ = ["DEFAULT_SCALE", "Z90", "draws", "keyed_draws", "row_keys", "pointwise_bands", "well_total_quantiles",
           "sample_totals", "calibrate_scale", "coverage"]

#: calibration constant used when no backtest is available (hindcasts on Volve, SODIR and the demo)
DEFAULT_SCALE = 1.0
#: standard normal 90th percentile (P10 high case = exp(+Z90 sigma))
Z90 = 1.2815515655446004
#: months per year (the decline term of the error grows per year ahead)
_MPY = 12.0


def draws(n: int, samples: int, seed: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Standard-normal level and decline draws, ``(n, samples)`` each, deterministic for ``seed``
    (by position: row ``i`` of ``n``; see :func:`keyed_draws` for draws that follow a row's key)."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((2, n, samples))
    return z[0], z[1]


_M64 = np.uint64(0xFFFFFFFFFFFFFFFF)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _splitmix64(x: NDArray[np.uint64]) -> NDArray[np.uint64]:
    """SplitMix64's output function (Steele, Lea & Flood 2014), vectorised; uint64 arithmetic wraps."""
    with np.errstate(over="ignore"):
        z = x + _GOLDEN
        z ^= z >> np.uint64(30)
        z *= np.uint64(0xBF58476D1CE4E5B9)
        z ^= z >> np.uint64(27)
        z *= np.uint64(0x94D049BB133111EB)
        z ^= z >> np.uint64(31)
        return z


def row_keys(well_ids, phases) -> NDArray[np.uint64]:
    """A stable 64-bit key per (well id, phase): the first 8 bytes of BLAKE2b of ``well_id \x1f phase``.

    The same well and phase get the same key in any table, process and platform.
    """
    import hashlib

    cache: dict[tuple[str, str], int] = {}
    out = np.empty(len(well_ids), np.uint64)
    for i, key in enumerate(zip(map(str, well_ids), map(str, phases))):
        v = cache.get(key)
        if v is None:
            v = int.from_bytes(hashlib.blake2b(f"{key[0]}\x1f{key[1]}".encode(), digest_size=8).digest(), "little")
            cache[key] = v
        out[i] = v
    return out


def keyed_draws(keys: NDArray[np.uint64], samples: int, seed: int, chunk: int = 256
                ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Standard-normal level and decline draws, ``(n, samples)`` each, a function of ``(key, seed)``.

    Counter-based: draw ``j`` of a row is ``Φ⁻¹(u)`` with ``u`` the 53 high bits of
    ``splitmix64(splitmix64(key ⊕ seed) + j · φ)`` (φ the 64-bit golden ratio), so a row's draws do
    not depend on the other rows, their order or how many there are.
    """
    from scipy.special import ndtri

    keys = np.asarray(keys, dtype=np.uint64)
    n = len(keys)
    z = np.empty((2, n, samples))
    j = np.arange(2 * samples, dtype=np.uint64) * _GOLDEN
    base = _splitmix64(keys ^ _splitmix64(np.array([np.uint64(seed) & _M64]))[0])
    for lo in range(0, n, chunk):
        hi = min(n, lo + chunk)
        with np.errstate(over="ignore"):
            bits = _splitmix64(base[lo:hi, None] + j[None, :])
        bits >>= np.uint64(11)
        u = bits.astype(np.float64)
        u += 0.5
        u *= 1.0 / 9007199254740992.0
        v = ndtri(u, out=u)
        z[0, lo:hi], z[1, lo:hi] = v[:, :samples], v[:, samples:]
    return z[0], z[1]


def pointwise_bands(volume: NDArray[np.float64], sigma: NDArray[np.float64], k: NDArray[np.float64],
                    scale: float) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """(P10 high, P90 low) of one month's volume for ``k`` months ahead (closed form)."""
    sd = scale * sigma * np.sqrt(1.0 + k / _MPY)
    return volume * np.exp(Z90 * sd), volume * np.exp(-Z90 * sd)


def growth(months_ahead: NDArray[np.float64]) -> NDArray[np.float64]:
    """The decline term's factor ``sqrt(k / 12)`` for ``k`` months ahead."""
    return np.sqrt(np.asarray(months_ahead, dtype=np.float64) / _MPY)


#: rows of a sampled matrix processed at a time (a block of draws stays in the CPU cache; results
#: do not depend on it: every row is computed on its own)
_ROW_BLOCK = 256


def _threads() -> int:
    """Threads the sampling kernels split their rows over: ``$BASINLAB_THREADS``, else the cores."""
    from ..config import threads_setting

    return threads_setting()


def _run_blocks(fn, blocks: list) -> None:
    """``fn(block)`` for every block, on :func:`_threads` threads when there are several blocks (numpy
    releases the GIL inside its loops; every block writes its own rows, so the result is the same)."""
    threads = min(_threads(), len(blocks))
    if threads <= 1:
        for b in blocks:
            fn(b)
        return
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(threads, thread_name_prefix="basinlab-sample") as pool:
        list(pool.map(fn, blocks))


def _last_nonzero(vol: NDArray[np.float64]) -> NDArray[np.int64]:
    """Per row the index of its last non-zero (or NaN) column, -1 for an all-zero row."""
    months = vol.shape[1]
    nz = vol != 0
    return np.where(nz.any(axis=1), months - 1 - np.argmax(nz[:, ::-1], axis=1), -1)


def _multipliers(x1: NDArray[np.float32], x2: NDArray[np.float32], k: float) -> NDArray[np.float32]:
    """``exp(clip(x2 k + x1, -50, 50))`` in single precision, a new array."""
    e = x2 * np.float32(k)
    e += x1
    np.clip(e, -50.0, 50.0, out=e)
    np.exp(e, out=e)
    return e


def _sample_matrix(vol: NDArray[np.float64], s: NDArray[np.float64], z1: NDArray[np.float64],
                   z2: NDArray[np.float64], scale: float, g: NDArray[np.float64] | None = None
                   ) -> NDArray[np.float64]:
    """Per row and draw the sum over columns of ``vol[:, j] * m_j``: (n, samples).

    Column ``j`` is month ``j + 1`` ahead unless ``g`` gives each column's growth factor
    (months binned into years far ahead keep the cost down).

    Each row's sum runs over its columns in order and stops at its last non-zero column, so a
    row's result does not depend on the other rows of ``vol`` (nor on how many zero columns
    pad it). The multipliers ``exp(...)`` are evaluated in single precision (relative error
    about 1e-6, far inside the Monte Carlo error of 200 draws), accumulated in double. Rows are
    processed in blocks of :data:`_ROW_BLOCK` (cache-sized), the blocks on :func:`_threads` threads.
    """
    n, months = vol.shape
    samples = z1.shape[1] if z1.ndim == 2 else 0
    out = np.zeros((n, samples))
    if n == 0 or months == 0:
        return out
    k = growth(np.arange(1, months + 1)) if g is None else np.asarray(g, dtype=np.float64)
    last = _last_nonzero(vol)
    order = np.argsort(-last, kind="stable")
    neg_last = -last[order]
    a = (scale * s)[order]

    def block(lo: int) -> None:
        hi = min(n, lo + _ROW_BLOCK)
        rows = order[lo:hi]
        x1 = (a[lo:hi, None] * z1[rows]).astype(np.float32)
        x2 = (a[lo:hi, None] * z2[rows]).astype(np.float32)
        v = vol[rows]
        acc = np.zeros((hi - lo, samples))
        for j in range(months):
            m = int(np.searchsorted(neg_last[lo:hi], -j, side="right"))   # rows whose last column is >= j
            if m == 0:
                break
            acc[:m] += v[:m, j, None] * _multipliers(x1[:m], x2[:m], k[j])
        out[rows] = acc

    _run_blocks(block, list(range(0, n, _ROW_BLOCK)))
    return out


def well_total_quantiles(vol: NDArray[np.float64], s: NDArray[np.float64], z1: NDArray[np.float64],
                         z2: NDArray[np.float64], scale: float, g: NDArray[np.float64] | None = None
                         ) -> NDArray[np.float64]:
    """P10 / P50 / P90 (high, median, low) of each row's total over the months of ``vol`` (n, months)."""
    tot = _sample_matrix(vol, s, z1, z2, scale, g)
    return np.percentile(tot, [90, 50, 10], axis=1).T


def sample_totals(vol: NDArray[np.float64], s: NDArray[np.float64], z1: NDArray[np.float64],
                  z2: NDArray[np.float64], scale: float, groups: NDArray[np.int64], n_groups: int,
                  out: NDArray[np.float64] | None = None) -> NDArray[np.float64]:
    """Per group and month, the draws of the group's summed volume: (n_groups, months, samples).

    ``vol`` (n, months) are the P50 monthly volumes of the rows; every row keeps its own draws
    in every month, so the sum is a sum of consistent paths. ``out`` (optional) is added to and
    returned: the decline step accumulates a field's paths batch by batch of wells.

    A row adds nothing in a month where its volume is zero: the rows of a group are sorted by their
    last non-zero month and each month sums only those still producing, in blocks of
    :data:`_ROW_BLOCK` rows (on :func:`_threads` threads, each block into its own partial sums,
    added in block order).
    """
    n, months = vol.shape
    samples = z1.shape[1]
    if out is None:
        out = np.zeros((n_groups, months, samples))
    if n == 0:
        return out
    k = growth(np.arange(1, months + 1))
    groups = np.asarray(groups, dtype=np.int64)
    last = _last_nonzero(vol)
    order = np.lexsort((-last, groups))          # by group, then latest last month first
    g_o = groups[order]
    neg_last = -last[order]
    a = (scale * s)[order]
    bounds = np.flatnonzero(np.diff(g_o)) + 1
    blocks = []
    for lo, hi in zip(np.r_[0, bounds], np.r_[bounds, n]):
        blocks += [(int(b), int(min(hi, b + _ROW_BLOCK))) for b in range(int(lo), int(hi), _ROW_BLOCK)]
    partial = [None] * len(blocks)

    def block(i: int) -> None:
        lo, hi = blocks[i]
        rows = order[lo:hi]
        x1 = (a[lo:hi, None] * z1[rows]).astype(np.float32)
        x2 = (a[lo:hi, None] * z2[rows]).astype(np.float32)
        v = vol[rows]
        acc = np.zeros((months, samples))
        for j in range(months):
            m = int(np.searchsorted(neg_last[lo:hi], -j, side="right"))   # rows whose last month is >= j
            if m == 0:
                break
            acc[j] = (v[:m, j, None] * _multipliers(x1[:m], x2[:m], k[j])).sum(axis=0)
        partial[i] = acc

    _run_blocks(block, list(range(len(blocks))))
    for (lo, _hi), acc in zip(blocks, partial):
        out[g_o[lo]] += acc
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
