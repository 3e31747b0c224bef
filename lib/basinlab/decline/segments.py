"""The last decline segment of every well: where the current trend starts.

A decline curve forecasts the *current* trend, so it must be fitted from the
start of the well's last decline segment, not from its first peak decades ago
(SPEE Monograph 4, ch. 3: "the decline period to be analysed begins after the
last significant change in operating conditions"; Fetkovich 1980). The rules,
applied to each well's producing months in order (vectorised over wells):

* **catch-up row** -- a producing month adjacent to a shut-in gap of at least
  ``catchup_gap_months`` whose producing-day rate is more than
  ``catchup_factor`` times its neighbours' (the geometric mean of up to three
  producing months on its other side): a month that books volume produced over
  the gap. It stays in the cumulative but is excluded from the fit and from the
  peak search.
* **long shut-in** -- a gap of at least ``restart_gap_months`` months without
  production: the well restarts a new segment at its first month back.
* **rate jump** (restimulation, workover, new zone) -- a month whose rate is
  more than ``jump_factor`` times the median of the three producing months
  before it, and the median of the three months after it stays at least
  ``jump_factor ** 0.75`` times above that level (a single outlier month is not a
  jump): a new segment starts there.
* **ramp-up** -- within the last segment the fit starts at the highest rate of
  its first ``peak_search_months`` months (the peak rule of the fitter).

The last segment's first month is the earliest month the fit may use. A per-well
``fit_start`` in :class:`~basinlab.decline.FitConfig` overrides every rule.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = ["SegmentRules", "SegmentResult", "last_segment"]

#: segment-start rule codes (stored per well as ``segment_rule``)
RULE_FIRST = "first_production"
RULE_RESTART = "restart_after_shut_in"
RULE_JUMP = "rate_jump"
RULE_OVERRIDE = "override"


@dataclass(frozen=True)
class SegmentRules:
    """Thresholds of :func:`last_segment` (see the module docstring)."""

    restart_gap_months: int = 12
    jump_factor: float = 2.5
    catchup_gap_months: int = 3
    catchup_factor: float = 3.0
    neighbours: int = 3


@dataclass
class SegmentResult:
    """Per well: the last segment's first column, the rule that set it, its size, and excluded cells."""

    start_col: NDArray[np.int64]
    rule: NDArray[np.object_]
    jump_ratio: NDArray[np.float64]
    gap_months: NDArray[np.int64]
    catchup: NDArray[np.bool_]  # (n, width) months excluded as catch-up rows
    n_catchup: NDArray[np.int64]


def _compress(valid: NDArray[np.bool_]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Columns of each row's producing months in order, padded with -1; and the count per row."""
    n, width = valid.shape
    cols = np.arange(width)[None, :]
    key = np.where(valid, cols, width + cols)
    order = np.argsort(key, axis=1, kind="stable")
    cnt = valid.sum(axis=1)
    pos = np.where(np.arange(width)[None, :] < cnt[:, None], order, -1)
    return pos.astype(np.int64), cnt.astype(np.int64)


def _shifted_mean(x: NDArray[np.float64], ok: NDArray[np.bool_], k: int, forward: bool
                  ) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """Mean of the ``ok`` entries among the ``k`` positions before (``forward``: after) each position,
    excluding the position itself; and how many there were."""
    n, m = x.shape
    xs = np.where(ok, x, 0.0)
    c = ok.astype(np.float64)
    pad = np.zeros((n, 1))
    if forward:
        xs, c = xs[:, ::-1], c[:, ::-1]
    cx = np.concatenate([pad, np.cumsum(xs, axis=1)], axis=1)
    cc = np.concatenate([pad, np.cumsum(c, axis=1)], axis=1)
    idx = np.arange(m)
    lo = np.maximum(idx - k, 0)
    s = cx[:, idx] - cx[:, lo]
    cnt = cc[:, idx] - cc[:, lo]
    mean = np.where(cnt > 0, s / np.maximum(cnt, 1.0), np.nan)
    if forward:
        mean, cnt = mean[:, ::-1], cnt[:, ::-1]
    return mean, cnt.astype(np.int64)


def _median3(a: NDArray[np.float64], b: NDArray[np.float64], c: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.maximum(np.minimum(a, b), np.minimum(np.maximum(a, b), c))


def _jumps(lq: NDArray[np.float64], use: NDArray[np.bool_], jump_factor: float) -> NDArray[np.bool_]:
    """Rate jumps (first month of each) in the compressed month order, on the ``use`` entries only."""
    n, m = lq.shape
    # compress the used entries: order[:, j] = position of the j-th used entry
    key = np.where(use, np.arange(m)[None, :], m + np.arange(m)[None, :])
    order = np.argsort(key, axis=1, kind="stable")
    cnt = use.sum(axis=1)
    x = np.take_along_axis(lq, order, axis=1)
    ok = np.arange(m)[None, :] < cnt[:, None]
    x = np.where(ok, x, np.nan)
    xp = np.concatenate([np.full((n, 3), np.nan), x, np.full((n, 4), np.nan)], axis=1)  # xp[:, j + 3] = x[:, j]
    j = np.arange(m)
    prev = _median3(xp[:, j], xp[:, j + 1], xp[:, j + 2])
    ahead = _median3(xp[:, j + 4], xp[:, j + 5], xp[:, j + 6])
    ln_j = np.log(jump_factor)
    with np.errstate(invalid="ignore"):
        # ... and is a step from the month right before it (not the second month of a ramp-up)
        jc = ok & (x - prev > ln_j) & (ahead - prev > 0.75 * ln_j) & (x - xp[:, j + 2] > 0.5 * ln_j)
    jc = np.where(np.isnan(prev) | np.isnan(ahead), False, jc)
    # keep the first month of a run (the high months lift the next comparisons)
    jp = np.concatenate([np.zeros((n, 3), bool), jc], axis=1)
    jc = jc & ~(jp[:, j] | jp[:, j + 1] | jp[:, j + 2])
    out = np.zeros((n, m), bool)
    rows = np.repeat(np.arange(n), m).reshape(n, m)
    out[rows[jc], order[jc]] = True
    return out


def last_segment(valid: NDArray[np.bool_], rate: NDArray[np.float64], rules: SegmentRules | None = None
                 ) -> SegmentResult:
    """Detect catch-up rows and the start of the last decline segment of every row (well).

    Parameters
    ----------
    valid : (n, width) bool
        Producing months (positive volume and days on).
    rate : (n, width) float
        Producing-day rates (any value where not ``valid``).
    rules : SegmentRules, optional

    Returns
    -------
    SegmentResult
        ``start_col`` is the first column of the last segment (0 for a row without production).
    """
    r = rules or SegmentRules()
    n, width = valid.shape
    pos, cnt = _compress(valid)
    m = max(int(cnt.max()) if n else 0, 1)
    pos = pos[:, :m]
    present = pos >= 0
    safe = np.where(present, pos, 0)
    lq = np.where(present, np.log(np.maximum(np.take_along_axis(rate, safe, axis=1), 1e-300)), 0.0)
    # gap (months without production) before each producing month, and after it
    prev = np.concatenate([np.full((n, 1), -1), pos[:, :-1]], axis=1)
    gap_before = np.where(present & (np.arange(m)[None, :] > 0), pos - prev - 1, 0)
    nxt = np.concatenate([pos[:, 1:], np.full((n, 1), -1)], axis=1)
    has_next = present & (nxt >= 0)
    gap_after = np.where(has_next, nxt - pos - 1, 0)

    # catch-up rows: rate far above the neighbours on the side away from the gap
    k = r.neighbours
    before_mean, before_n = _shifted_mean(lq, present, k, forward=False)
    after_mean, after_n = _shifted_mean(lq, present, k, forward=True)  # mean of lq[i+1 .. i+k]
    ln_cf = np.log(r.catchup_factor)
    cu_before_gap = present & (gap_after >= r.catchup_gap_months) & (before_n > 0) & (lq - before_mean > ln_cf)
    cu_after_gap = present & (gap_before >= r.catchup_gap_months) & (after_n > 0) & (lq - after_mean > ln_cf)
    catch_c = cu_before_gap | cu_after_gap
    catchup = np.zeros((n, width), bool)
    rows = np.repeat(np.arange(n), m).reshape(n, m)
    catchup[rows[catch_c], pos[catch_c]] = True
    use = present & ~catch_c

    # segment starts: restart after a long shut-in (gaps measured across excluded catch-up rows too)
    restart = present & (gap_before >= r.restart_gap_months)
    # rate jumps among the used months (catch-up rows left out), robust to single outliers:
    # the month is ln(jump_factor) above the median of the three used months before it, and the
    # median of it and the next two stays half that far above
    jump = _jumps(lq, use, r.jump_factor)
    start_c = restart | jump
    idx = np.arange(m)[None, :]
    last_c = np.where(start_c, idx, -1).max(axis=1)
    has_seg = last_c >= 0
    lc = np.maximum(last_c, 0)
    start_col = np.where(has_seg, np.take_along_axis(pos, lc[:, None], axis=1)[:, 0], 0)
    first_use = np.argmax(use, axis=1)
    first_col = np.where(use.any(axis=1), np.take_along_axis(pos, first_use[:, None], axis=1)[:, 0], 0)
    start_col = np.where(has_seg, start_col, first_col)
    is_jump = has_seg & np.take_along_axis(jump, lc[:, None], axis=1)[:, 0]
    rule = np.full(n, RULE_FIRST, dtype=object)
    rule[has_seg] = RULE_RESTART
    rule[is_jump] = RULE_JUMP
    bm, _ = _shifted_mean(lq, use, r.neighbours, forward=False)
    ratio = np.where(is_jump, np.exp(np.take_along_axis(lq - np.nan_to_num(bm), lc[:, None], axis=1)[:, 0]), np.nan)
    gap = np.where(has_seg & ~is_jump, np.take_along_axis(gap_before, lc[:, None], axis=1)[:, 0], 0)
    return SegmentResult(start_col.astype(np.int64), rule, ratio, gap.astype(np.int64), catchup,
                         catchup.sum(axis=1).astype(np.int64))
