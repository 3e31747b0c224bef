"""Synthetic well histories shared by the decline tests: exact monthly volumes of known curves."""
from __future__ import annotations

import numpy as np
import pandas as pd

#: days per year of the nominal decline rates
DPY = 365.25


def months(start: str, n: int) -> pd.DatetimeIndex:
    """``n`` month starts from ``start``."""
    return pd.date_range(start, periods=n, freq="MS")


def exp_volumes(q0: float, d_per_yr: float, mon: pd.DatetimeIndex, t0: pd.Timestamp) -> np.ndarray:
    """Exact monthly volumes of q(t) = q0 exp(-D t), t in days since t0 (D nominal per year)."""
    d = d_per_yr / DPY
    a = (mon - t0).days.to_numpy(float)
    e = (mon + pd.offsets.MonthBegin(1) - t0).days.to_numpy(float)
    return q0 / d * (np.exp(-d * a) - np.exp(-d * e))
