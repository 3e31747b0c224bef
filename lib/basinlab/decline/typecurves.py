"""Peak-aligned P10 / P50 / P90 type curves per group (field, basin, ...) and phase.

:func:`type_curves` works on a production frame; :func:`type_curves_sql` computes the same
curves inside DuckDB (the decline step: percentiles over every well of a basin never pass
through Python).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from .fitting import PHASE_UNITS, PHASES, prepare_production

__all__ = ["type_curves", "type_curves_sql", "TYPE_CURVE_COLUMNS", "LATERAL_NORM_FT"]

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


def type_curves_sql(
    con,
    production: str,
    header: str | None = None,
    group_by: str = "field",
    phases: tuple[str, ...] = ("oil", "gas", "water"),
    *,
    max_months: int | None = 120,
    peak_search_months: int = 12,
    normalise: bool = True,
    min_wells: int = 1,
    params: list | None = None,
) -> pd.DataFrame:
    """:func:`type_curves` computed in DuckDB.

    Parameters
    ----------
    con : duckdb connection
    production : str
        A relation or query with the canonical production columns (``well_id``, ``production_month``,
        ``days_on``, ``oil_bbl``, ``gas_mcf``, ``water_bbl``), e.g. ``staging.stg_production``.
    header : str, optional
        A relation or query with ``well_id``, the ``group_by`` column and ``lateral_length_ft``.
    params : list, optional
        Values of ``?`` placeholders in ``production`` (then ``header``).

    The rules are those of :func:`type_curves` (duplicate months summed, ``days_on`` missing ->
    calendar days, the peak among the first ``peak_search_months`` months of the phase's production,
    first peak on ties, per-1,000-ft normalisation per group and phase when any of its wells has a
    lateral length); percentiles interpolate linearly between ranks, as numpy's do.
    """
    if header is not None:
        hdr = f"""select well_id, any_value({group_by}) as grp, any_value(try_cast(lateral_length_ft as double)) as lat
                  from ({header}) group by well_id"""
    else:
        hdr = "select null::varchar as well_id, null::varchar as grp, null::double as lat where false"
    phase_rows = " union all ".join(
        f"select well_id, m, {i} as ph, days, vol_{ph} as vol from prod" for i, ph in enumerate(phases))
    kk = "true" if max_months is None else f"k < {int(max_months)}"
    vol_cols = ", ".join(f"sum({PHASES[ph]}) as vol_{ph}" for ph in phases)
    sql = f"""
        with raw as (
            select well_id, date_trunc('month', production_month)::date as m,
                   day(last_day(production_month))::double as cal,
                   greatest(least(coalesce(try_cast(days_on as double), day(last_day(production_month))),
                                  day(last_day(production_month))), 0) as d,
                   {", ".join(f"try_cast({PHASES[ph]} as double) as {PHASES[ph]}" for ph in phases)}
            from ({production}) where well_id is not null and production_month is not null
        ),
        prod as (
            select well_id, m, least(sum(d), any_value(cal)) as days, {vol_cols}
            from raw group by well_id, m
        ),
        firsts as (select well_id, min(m) as first_m from prod group by well_id),
        long as (
            select well_id, m, ph, vol / days as rate
            from ({phase_rows}) where days > 0 and vol > 0
        ),
        first_valid as (select well_id, ph, min(m) as fv from long group by well_id, ph),
        peaks as (
            select l.well_id, l.ph, l.m as peak_m,
                   row_number() over (partition by l.well_id, l.ph order by l.rate desc, l.m) as rn
            from long l join first_valid f using (well_id, ph)
            where l.m < f.fv + to_months({max(int(peak_search_months), 1)})
        ),
        aligned as (
            select l.well_id, l.ph, date_diff('month', p.peak_m, l.m) as k, l.rate
            from long l join peaks p using (well_id, ph)
            where p.rn = 1 and l.m >= p.peak_m
        ),
        wells as (
            select w.well_id, coalesce(h.grp::varchar, '(unknown)') as grp, h.lat,
                   coalesce(h.lat > 0 and isfinite(h.lat), false) as lat_ok
            from firsts w left join ({hdr}) h using (well_id)
        ),
        groups_norm as (
            select w.grp, f.ph, {"bool_or(w.lat_ok)" if normalise else "false"} as norm
            from first_valid f join wells w using (well_id) group by w.grp, f.ph
        ),
        vals as (
            select w.grp, a.ph, a.k, g.norm, a.well_id,
                   case when g.norm then a.rate * ({LATERAL_NORM_FT!r} / w.lat) else a.rate end as v
            from aligned a join wells w using (well_id) join groups_norm g on g.grp = w.grp and g.ph = a.ph
            where {kk} and (not g.norm or w.lat_ok)
        ),
        curves as (
            select grp, ph, k, any_value(norm) as norm, count(*) as n_wells,
                   quantile_cont(v, 0.9) as p10, quantile_cont(v, 0.5) as p50, quantile_cont(v, 0.1) as p90,
                   avg(v order by well_id) as mean   -- summed in well order: the same to the last bit every run
            from vals group by grp, ph, k having count(*) >= {max(int(min_wells), 1)}
        ),
        group_order as (select grp, min(well_id) as first_well from wells group by grp)
        select c.grp as "group", c.ph, c.k as month_index, c.p10, c.p50, c.p90, c.mean, c.n_wells, c.norm as normalised
        from curves c join group_order o using (grp)
        order by c.ph, o.first_well, c.k"""
    d = con.execute(sql, params or []).df()
    if d.empty:
        return pd.DataFrame(columns=list(TYPE_CURVE_COLUMNS))
    ph = np.asarray(phases, dtype=object)[d["ph"].to_numpy(np.int64)]
    unit = np.array([PHASE_UNITS[p] + "/d" for p in ph], dtype=object)
    norm = d["normalised"].to_numpy(bool)
    out = pd.DataFrame({
        "group": d["group"].astype(object).to_numpy(), "phase": ph,
        "month_index": d["month_index"].to_numpy(np.int64),
        "p10": d["p10"].to_numpy(np.float64), "p50": d["p50"].to_numpy(np.float64),
        "p90": d["p90"].to_numpy(np.float64), "mean": d["mean"].to_numpy(np.float64),
        "n_wells": d["n_wells"].to_numpy(np.int64), "normalised": norm,
        "units": np.where(norm, np.char.add(unit.astype(str), f" per {LATERAL_NORM_FT:.0f} ft"), unit.astype(str)),
    })
    return out
