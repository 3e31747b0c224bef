"""The sampling kernels of :mod:`basinlab.decline.uncertainty` against the straightforward formulas.

The kernels skip rows that are past their last producing month, process rows in cache-sized
blocks on several threads and sum groups without a matrix product; the reference below does
none of that (every row, every month, a one-hot sum). Both must give the same draws' totals on
any table of volumes: zeros, NaN gaps, a single month, flat, rising, shut-in rows, one row or
many blocks, empty groups.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from basinlab.decline import uncertainty as unc


def _reference_multipliers(s, z1, z2, scale, k):
    """(n, samples) multipliers of month growth ``k``, exactly as the kernels evaluate them."""
    a = scale * s
    x1 = (a[:, None] * z1).astype(np.float32)
    x2 = (a[:, None] * z2).astype(np.float32)
    e = x2 * np.float32(k)
    e += x1
    return np.exp(np.clip(e, -50.0, 50.0))


def _reference_totals(vol, s, z1, z2, scale, groups, n_groups):
    n, months = vol.shape
    out = np.zeros((n_groups, months, z1.shape[1]))
    k = unc.growth(np.arange(1, months + 1))
    for j in range(months):
        w = vol[:, j, None] * _reference_multipliers(s, z1, z2, scale, k[j])
        for i in range(n):
            out[groups[i], j] += w[i]
    return out


def _reference_matrix(vol, s, z1, z2, scale, g=None):
    n, months = vol.shape
    k = unc.growth(np.arange(1, months + 1)) if g is None else g
    out = np.zeros((n, z1.shape[1]))
    for j in range(months):
        out += vol[:, j, None] * _reference_multipliers(s, z1, z2, scale, k[j])
    return out


_ROW_KINDS = ("decline", "zeros", "flat", "rising", "shut_in", "nan_gap", "single", "huge")


def _row(kind: str, months: int, rng: np.random.Generator) -> np.ndarray:
    q0 = float(rng.uniform(1.0, 5e4))
    t = np.arange(months, dtype=np.float64)
    if kind == "zeros":
        return np.zeros(months)
    if kind == "flat":
        return np.full(months, q0)
    if kind == "rising":
        return q0 * (1.0 + 0.1 * t)
    if kind == "single":
        r = np.zeros(months)
        r[int(rng.integers(0, months))] = q0
        return r
    if kind == "huge":
        return np.full(months, 1e12)
    r = q0 * np.exp(-0.05 * t)
    if kind == "shut_in":
        r[int(rng.integers(0, months)):] = 0.0
    if kind == "nan_gap":
        r[int(rng.integers(0, months))] = np.nan
    return r


@st.composite
def _tables(draw):
    n = draw(st.integers(0, 700))           # up to several blocks of rows
    months = draw(st.integers(1, 30))
    samples = draw(st.sampled_from([1, 7, 50]))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    kinds = rng.choice(_ROW_KINDS, size=n)
    vol = np.stack([_row(k, months, rng) for k in kinds]) if n else np.zeros((0, months))
    s = rng.uniform(0.0, 3.0, n)
    s[rng.random(n) < 0.05] = 0.0
    z1, z2 = rng.standard_normal((n, samples)), rng.standard_normal((n, samples))
    n_groups = draw(st.integers(1, 6))
    groups = rng.integers(0, n_groups, n).astype(np.int64)
    scale = draw(st.sampled_from([0.05, 1.0, 8.0, 40.0]))
    return vol, s, z1, z2, scale, groups, n_groups


def _same(a, b):
    np.testing.assert_allclose(a, b, rtol=1e-12, atol=0.0, equal_nan=True)


@settings(max_examples=40, deadline=None)
@given(_tables())
def test_sample_totals_equal_the_one_hot_sum(table):
    vol, s, z1, z2, scale, groups, n_groups = table
    _same(unc.sample_totals(vol, s, z1, z2, scale, groups, n_groups),
          _reference_totals(vol, s, z1, z2, scale, groups, n_groups))


@settings(max_examples=40, deadline=None)
@given(_tables())
def test_sample_matrix_equals_the_sum_over_every_month(table):
    vol, s, z1, z2, scale, _groups, _n = table
    _same(unc._sample_matrix(vol, s, z1, z2, scale), _reference_matrix(vol, s, z1, z2, scale))
    g = np.sqrt(np.arange(1, vol.shape[1] + 1) * 1.5)
    _same(unc._sample_matrix(vol, s, z1, z2, scale, g), _reference_matrix(vol, s, z1, z2, scale, g))


@pytest.mark.parametrize("threads", ["1", "2", "5"])
def test_results_do_not_depend_on_threads_or_the_other_rows(monkeypatch, threads):
    """A row's totals are the same alone, among other rows and on any number of threads; a group's
    totals added batch by batch (``out``) equal the totals of all rows at once."""
    monkeypatch.setenv("BASINLAB_THREADS", threads)
    rng = np.random.default_rng(7)
    n, months, samples = 900, 24, 20
    vol = rng.uniform(0, 100, (n, months)) * (rng.random((n, months)) > 0.2)
    s, z1, z2 = rng.uniform(0, 1, n), rng.standard_normal((n, samples)), rng.standard_normal((n, samples))
    whole = unc._sample_matrix(vol, s, z1, z2, 1.3)
    for i in (0, 255, 256, 899):
        alone = unc._sample_matrix(vol[i:i + 1], s[i:i + 1], z1[i:i + 1], z2[i:i + 1], 1.3)
        np.testing.assert_array_equal(alone[0], whole[i])
    groups = rng.integers(0, 3, n)
    out = np.zeros((3, months, samples))
    for lo in range(0, n, 333):
        unc.sample_totals(vol[lo:lo + 333], s[lo:lo + 333], z1[lo:lo + 333], z2[lo:lo + 333], 1.3,
                          groups[lo:lo + 333], 3, out=out)
    _same(out, unc.sample_totals(vol, s, z1, z2, 1.3, groups, 3))
