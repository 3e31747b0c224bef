"""Analog (type-well) parameters for wells whose history is too short to fit.

A well with a few producing months since its peak cannot support a three-
parameter Arps fit, but leaving it out of the forecast understates a field
that is still drilling. Common practice (e.g. SPE-184397, "type-well"
forecasting; SPEE Monograph 4) is to give such a well the decline shape of its
analogs — the median ``di`` and ``b`` of the fitted wells of the same field
and phase — and anchor only ``qi`` to the rates the well has shown.

``qi`` is the log-space least-squares anchor: with the shape fixed, the
model rate is ``qi · u(t)`` where ``u`` is the unit-``qi`` model, so the
best ``qi`` for producing-day rates ``q_k`` observed at mid-month times
``t_k`` minimises ``Σ (ln q_k − ln qi − ln u(t_k))²``, i.e.
``ln qi = mean(ln q_k − ln u(t_k))``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .conversions import DAYS_PER_YEAR, secant_to_nominal, tangent_to_nominal
from .models import arps_rate_cum

#: status given to analog rows (their ``model`` stays the Arps model used)
ANALOG_STATUS = "analog"
#: fewest fitted wells in a group before the phase-wide median is used instead
MIN_ANALOGS = 3
#: volume column per phase in the canonical production table
VOLUME_COLUMNS = {"oil": "oil_bbl", "gas": "gas_mcf", "water": "water_bbl"}


@dataclass(frozen=True)
class AnalogMedians:
    """Median ``di``, ``b``, ``dterm`` of the fitted wells per (group, phase) (``by_group``: columns
    ``analog_group``, ``phase``, ``di``, ``b``, ``dterm``, ``analog_wells``; groups with at least
    ``min_analogs`` wells) and per phase (``by_phase``, the fallback)."""

    by_group: pd.DataFrame
    by_phase: pd.DataFrame


def _with_groups(params: pd.DataFrame, header: pd.DataFrame | None, group_by: str) -> pd.DataFrame:
    groups = (header[["well_id", group_by]].rename(columns={group_by: "analog_group"})
              if header is not None and group_by in header else pd.DataFrame(columns=["well_id", "analog_group"]))
    p = params.merge(groups, on="well_id", how="left")
    p["analog_group"] = p["analog_group"].fillna("(unknown)")
    return p


def analog_medians(params: pd.DataFrame, header: pd.DataFrame | None, group_by: str = "field",
                   min_analogs: int = MIN_ANALOGS) -> AnalogMedians:
    """The analog shapes of every group: medians over the rows of ``params`` with status ``fitted``.

    Only ``well_id``, ``phase``, ``status``, ``di``, ``b`` and ``dterm`` are read, so the decline
    step can pass those columns of every well (gathered batch by batch) and forecast each batch
    with the shapes of the whole warehouse.
    """
    p = _with_groups(params[["well_id", "phase", "status", "di", "b", "dterm"]], header, group_by)
    fitted = p[p["status"] == "fitted"]
    by_group = (fitted.groupby(["analog_group", "phase"])
                .agg(di=("di", "median"), b=("b", "median"), dterm=("dterm", "median"),
                     analog_wells=("well_id", "nunique")).reset_index())
    by_group = by_group[by_group["analog_wells"] >= min_analogs]
    by_phase = (fitted.groupby("phase").agg(di=("di", "median"), b=("b", "median"), dterm=("dterm", "median"),
                                            analog_wells=("well_id", "nunique")).reset_index())
    return AnalogMedians(by_group.reset_index(drop=True), by_phase)


def analog_shapes(params: pd.DataFrame, header: pd.DataFrame | None, group_by: str = "field",
                  min_analogs: int = MIN_ANALOGS, medians: AnalogMedians | None = None) -> pd.DataFrame:
    """Median ``di``, ``b``, ``dterm`` of fitted wells per (group, phase), with the phase-wide fallback.

    Returns columns ``well_id``, ``phase``, ``di``, ``b``, ``dterm``, ``analog_group``, ``analog_wells``
    for every row of ``params`` whose group (or phase) has fitted wells. ``medians`` (default: from
    ``params`` itself) are the group shapes to use.
    """
    med = medians if medians is not None else analog_medians(params, header, group_by, min_analogs)
    p = _with_groups(params[["well_id", "phase"]], header, group_by)
    out = p[["well_id", "phase", "analog_group"]].merge(med.by_group, on=["analog_group", "phase"], how="left")
    fallback = out["di"].isna()
    if fallback.any():
        fb = out.loc[fallback, ["well_id", "phase"]].merge(med.by_phase, on="phase", how="left")
        for c in ("di", "b", "dterm", "analog_wells"):
            out.loc[fallback, c] = fb[c].to_numpy()
        out.loc[fallback, "analog_group"] = "all wells"
    return out.dropna(subset=["di"])


def apply_analogs(params: pd.DataFrame, production: pd.DataFrame, header: pd.DataFrame | None = None,
                  group_by: str = "field", min_analogs: int = MIN_ANALOGS,
                  medians: AnalogMedians | None = None) -> pd.DataFrame:
    """Give rows with status ``insufficient_history`` analog parameters (status ``analog``).

    Parameters
    ----------
    params : DataFrame
        :func:`~basinlab.decline.fit_wells` output.
    production : DataFrame
        The canonical monthly production the fit used (``days_on`` null → calendar days).
    header : DataFrame, optional
        ``well_id`` and the ``group_by`` column.
    medians : AnalogMedians, optional
        The group shapes (default: medians of the fitted rows of ``params``); the decline step
        passes the shapes of every well of the warehouse when it forecasts a batch of wells.

    Returns
    -------
    DataFrame
        ``params`` with the short-history rows that have analogs and at least one producing
        month since ``t0_month`` given ``qi`` (per day at ``t0_month``), ``di``, ``b``, ``dterm``,
        status ``analog`` and a reason naming the analog group; ``remaining``/``eur`` are left
        for :func:`~basinlab.decline.forecast` to fill.
    """
    short = params["status"] == "insufficient_history"
    if not short.any():
        return params
    shapes = analog_shapes(params[short], header, group_by, min_analogs,
                           medians if medians is not None else analog_medians(params, header, group_by, min_analogs))
    rows = params[short].reset_index().merge(shapes, on=["well_id", "phase"], how="inner", suffixes=("_fit", ""))
    if rows.empty:
        return params
    # producing-day rates since each row's t0 (long format: one line per row and month)
    prod = production[production["well_id"].isin(rows["well_id"].unique())].copy()
    prod["production_month"] = pd.to_datetime(prod["production_month"])
    days_in_month = prod["production_month"].dt.days_in_month
    days = prod["days_on"].where(prod["days_on"].notna(), days_in_month) if "days_on" in prod else days_in_month
    prod["_days"] = days.astype(float)
    long = []
    for phase, col in VOLUME_COLUMNS.items():
        r = rows[rows["phase"] == phase]
        if r.empty or col not in prod:
            continue
        m = r[["index", "well_id", "t0_month"]].merge(prod[["well_id", "production_month", "_days", col]],
                                                      on="well_id")
        m = m[(m["production_month"] >= pd.to_datetime(m["t0_month"])) & (m["_days"] > 0) & (m[col] > 0)]
        m = m.assign(q=m[col] / m["_days"],
                     t=(m["production_month"] - pd.to_datetime(m["t0_month"])).dt.days
                     + m["production_month"].dt.days_in_month / 2.0)
        long.append(m[["index", "q", "t"]])
    obs = pd.concat(long, ignore_index=True) if long else pd.DataFrame(columns=["index", "q", "t"])
    if obs.empty:
        return params
    shape = rows.set_index("index").loc[obs["index"], ["di", "b", "dterm"]]
    b = shape["b"].to_numpy(np.float64)
    d_nom = secant_to_nominal(shape["di"].to_numpy(np.float64), b) / DAYS_PER_YEAR
    dt_nom = tangent_to_nominal(shape["dterm"].fillna(0.0).to_numpy(np.float64)) / DAYS_PER_YEAR
    unit_rate, _ = arps_rate_cum(1.0, d_nom, b, dt_nom, obs["t"].to_numpy(np.float64), want_cum=False)
    log_qi = (np.log(obs["q"].to_numpy(np.float64)) - np.log(unit_rate))
    # the mean per row with numpy's sequential sums (a row's value never depends on the other rows)
    codes, uniq = pd.factorize(obs["index"].to_numpy(), sort=True)
    size = np.bincount(codes, minlength=len(uniq))
    anchor = pd.DataFrame({"mean": np.bincount(codes, log_qi, minlength=len(uniq)) / size, "size": size},
                          index=pd.Index(uniq))
    out = params.copy()
    idx = anchor.index.to_numpy()
    sel = rows.set_index("index").loc[idx]
    out.loc[idx, "qi"] = np.exp(anchor["mean"].to_numpy())
    out.loc[idx, "di"] = sel["di"].to_numpy()
    out.loc[idx, "b"] = sel["b"].to_numpy()
    out.loc[idx, "dterm"] = sel["dterm"].to_numpy()
    out.loc[idx, "status"] = ANALOG_STATUS
    out.loc[idx, "reason"] = [
        f"{int(n)} producing month(s): {g} median shape ({int(w)} fitted wells), qi anchored to actuals"
        for n, g, w in zip(anchor["size"], sel["analog_group"], sel["analog_wells"])]
    return out
