"""Peak-aligned P10 / P50 / P90 type curves per group (field, basin, ...) and phase."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from .fitting import PHASE_UNITS, PHASES, prepare_production

__all__ = ["type_curves", "TYPE_CURVE_COLUMNS", "LATERAL_NORM_FT"]

log = logging.getLogger(__name__)

#: Lateral length the normalised curves are expressed per, ft.
LATERAL_NORM_FT: float = 1000.0

TYPE_CURVE_COLUMNS: tuple[str, ...] = (
    "group", "phase", "month_index", "p10", "p50", "p90", "mean", "n_wells",
    "normalised", "units",
)


def type_curves(
    df: pd.DataFrame,
    header_df: pd.DataFrame | None = None,
    group_by: str = "field",
    phases: tuple[str, ...] = ("oil", "gas", "water"),
    *,
    max_months: int | None = 120,
    peak_search_months: int = 12,
    normalise: bool = True,
    min_wells: int = 1,
) -> pd.DataFrame:
    """P10 / P50 / P90 type curves of producing-day rates aligned on each well's peak.

    Parameters
    ----------
    df : DataFrame
        Canonical monthly production (``well_id``, ``production_month``,
        ``days_on``, ``oil_bbl``, ``gas_mcf``, ``water_bbl``).
    header_df : DataFrame, optional
        Well header with ``well_id``, the ``group_by`` column and optionally
        ``lateral_length_ft``.  Wells missing from it (or with a null group)
        fall in group ``'(unknown)'``.
    group_by : str
        Header column to group by (``'field'``, ``'basin'``, ...).
    phases : tuple of str
        Phases to build.
    max_months : int or None
        Months after the peak to report (``None``: all).
    peak_search_months : int
        Month index 0 is the month of the highest producing-day rate among the
        first ``peak_search_months`` months of that phase's production (the same
        rule as the fitter).
    normalise : bool
        Normalise rates per :data:`LATERAL_NORM_FT` (1,000 ft) of lateral.  Wells
        with an unknown (null, zero or negative) ``lateral_length_ft`` are
        **excluded** from a normalised group curve (logged); a group in which no
        well has a known lateral is reported **un-normalised** with
        ``normalised=False`` and plain units.  Never mixes the two.
    min_wells : int
        Month indices with fewer contributing wells are dropped.

    Returns
    -------
    DataFrame
        Long format: ``group``, ``phase``, ``month_index`` (0 = peak month),
        ``p10``, ``p50``, ``p90``, ``mean``, ``n_wells``, ``normalised``, ``units``
        (e.g. ``'bbl/d per 1000 ft'``).  Values are producing-day rates
        (volume / days_on); shut-in months do not contribute.

        **Oil-industry convention**: ``p10`` is the HIGH case -- the rate
        exceeded by 10 % of wells (the 90th percentile) -- and ``p90`` the LOW
        case (10th percentile), so ``p10 >= p50 >= p90``.
    """
    prep = prepare_production(df, phases)
    n = len(prep.well_ids)
    if n == 0:
        return pd.DataFrame(columns=list(TYPE_CURVE_COLUMNS))
    ids = pd.Index(prep.well_ids)
    if header_df is not None and group_by in header_df.columns:
        h = header_df.drop_duplicates("well_id").set_index("well_id")
        grp = h[group_by].reindex(ids)
        lat = (
            pd.to_numeric(h["lateral_length_ft"], errors="coerce").reindex(ids)
            if "lateral_length_ft" in h.columns
            else pd.Series(np.nan, index=ids)
        )
    else:
        if header_df is not None:
            log.warning("header has no %r column; all wells in one group", group_by)
        grp = pd.Series(np.nan, index=ids, dtype=object)
        lat = pd.Series(np.nan, index=ids)
    grp = grp.astype(object).where(grp.notna(), "(unknown)").to_numpy()
    lat_v = lat.to_numpy(np.float64)
    lat_ok = np.isfinite(lat_v) & (lat_v > 0)

    local = np.repeat(np.arange(n), prep.row_stop - prep.row_start)
    width = int(prep.col.max()) + 1
    dmat = np.zeros((n, width))
    dmat[local, prep.col] = prep.days_on
    out = []
    for ph in phases:
        vmat = np.zeros((n, width))
        vmat[local, prep.col] = np.nan_to_num(prep.volumes[ph], nan=0.0)
        valid = (dmat > 0) & (vmat > 0)
        rate = np.where(valid, vmat / np.where(dmat > 0, dmat, 1.0), np.nan)
        has = valid.any(axis=1)
        first = np.argmax(valid, axis=1)
        cols = np.arange(width)[None, :]
        win = valid & (cols >= first[:, None]) & (cols < first[:, None] + max(peak_search_months, 1))
        peak = np.argmax(np.where(win, rate, -np.inf), axis=1)
        kk = width if max_months is None else int(max_months)
        idx = peak[:, None] + np.arange(kk)[None, :]
        aligned = np.where(
            idx < width, np.take_along_axis(rate, np.minimum(idx, width - 1), axis=1), np.nan
        )
        unit = PHASE_UNITS[ph] + "/d"
        for g in pd.unique(grp):
            in_g = (grp == g) & has
            if not in_g.any():
                continue
            norm = normalise and bool((in_g & lat_ok).any())
            if norm:
                dropped = int((in_g & ~lat_ok).sum())
                if dropped:
                    log.info("type curve %s/%s: %d well(s) without lateral length excluded", g, ph, dropped)
                sel = in_g & lat_ok
                vals = aligned[sel] * (LATERAL_NORM_FT / lat_v[sel])[:, None]
            else:
                vals = aligned[in_g]
            cnt = np.isfinite(vals).sum(axis=0)
            keep = cnt >= max(min_wells, 1)
            if not keep.any():
                continue
            v = vals[:, keep]
            with np.errstate(all="ignore"):
                p90, p50, p10 = np.nanpercentile(v, [10, 50, 90], axis=0)
                mean = np.nanmean(v, axis=0)
            out.append(
                pd.DataFrame(
                    {
                        "group": g,
                        "phase": ph,
                        "month_index": np.flatnonzero(keep),
                        "p10": p10,
                        "p50": p50,
                        "p90": p90,
                        "mean": mean,
                        "n_wells": cnt[keep],
                        "normalised": norm,
                        "units": f"{unit} per {LATERAL_NORM_FT:.0f} ft" if norm else unit,
                    }
                )
            )
    if not out:
        return pd.DataFrame(columns=list(TYPE_CURVE_COLUMNS))
    return pd.concat(out, ignore_index=True)
