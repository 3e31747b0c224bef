"""The decline step of the monthly chain: forecast every well in the warehouse and publish the results.

Reads ``staging.stg_production`` (deduplicated, current file versions) and the
well header; as of the run month (rows up to it) forecasts every well and phase
with :func:`~basinlab.decline.forecast_wells` (every well gets a status and a
method; one odd well never stops the batch), backtests last year's forecast
against this year's actuals (:func:`~basinlab.decline.backtest`, which also
calibrates the P10/P90), builds P10/P50/P90 type curves and field forecast bands,
and writes ``marts.decline_params``, ``marts.decline_forecast``,
``marts.decline_type_curves``, ``marts.decline_forecast_bands``,
``marts.decline_backtest``, ``marts.decline_backtest_summary`` and
``marts.decline_lookback``. Then it rebuilds the SQL models downstream of them
(``dim_wells`` gains EUR and remaining reserves, forecast moving averages).
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import duckdb
import numpy as np
import pandas as pd

from .. import catalog
from . import ml
from . import uncertainty as unc
from .analogs import ANALOG_STATUS, VOLUME_COLUMNS
from .backtest import backtest, field_lookback
from .economics import well_limits
from .engine import ForecastConfig, ForecastResult, forecast_wells
from .fitting import FitConfig
from .typecurves import type_curves

log = logging.getLogger(__name__)

PRODUCTION_SQL = """select well_id, production_month, days_on, oil_bbl, gas_mcf, water_bbl
                    from staging.stg_production order by well_id, production_month"""
HEADER_SQL = "select well_id, field, basin, lateral_length_ft from staging.stg_well_header"

#: status of a well-phase with no production in the last ``inactive_months`` of data: not forecast
INACTIVE_STATUS = "inactive"
#: months without production after which a well-phase counts as inactive (matches dim_wells' shut-in rule)
DEFAULT_INACTIVE_MONTHS = 3
#: the built-in lookback: last year's forecast against this year's actuals
LOOKBACK_MONTHS = 12
#: months of the field P10/P50/P90 bands
BAND_MONTHS = 60

#: tables written by the step
PARAMS_TABLE = "marts.decline_params"
FORECAST_TABLE = "marts.decline_forecast"
TYPE_CURVES_TABLE = "marts.decline_type_curves"
BANDS_TABLE = "marts.decline_forecast_bands"
BACKTEST_TABLE = "marts.decline_backtest"
BACKTEST_SUMMARY_TABLE = "marts.decline_backtest_summary"
LOOKBACK_TABLE = "marts.decline_lookback"
ML_TABLE = "marts.ml_trendlines"


#: column types of the tables the step writes: a stable schema for readers, empty or not
#: (declared once, in sql/catalog/decline.yml)
TABLE_SCHEMAS: dict[str, dict[str, str]] = catalog.table_schemas(
    PARAMS_TABLE, FORECAST_TABLE, TYPE_CURVES_TABLE, BANDS_TABLE, BACKTEST_TABLE, BACKTEST_SUMMARY_TABLE, ML_TABLE,
    LOOKBACK_TABLE)


@dataclass
class DeclineStepResult:
    params: pd.DataFrame
    forecast: pd.DataFrame
    type_curves: pd.DataFrame
    seconds: dict[str, float] = field(default_factory=dict)
    bands: pd.DataFrame | None = None
    backtest: object | None = None
    as_of: pd.Timestamp | None = None

    def status_counts(self) -> pd.DataFrame:
        return (self.params.groupby(["phase", "status"]).size().rename("wells").reset_index()
                .sort_values(["phase", "wells"], ascending=[True, False]))

    def method_counts(self) -> pd.DataFrame:
        """Well-phases per forecast method (``none``: no forecast, see the status)."""
        return (self.params.assign(method=self.params["method"].fillna("none"))
                .groupby(["phase", "method"]).size().rename("wells").reset_index()
                .sort_values(["phase", "wells"], ascending=[True, False]))


def _replace_table(con: duckdb.DuckDBPyConnection, table: str, df: pd.DataFrame) -> None:
    """Replace ``table`` with ``df`` cast to the table's declared schema (extra columns kept as they are)."""
    schema = TABLE_SCHEMAS[table]
    df = df.copy()
    for c in schema:
        if c not in df.columns:
            df[c] = None
    cols = [f'cast(d."{c}" as {t}) as "{c}"' for c, t in schema.items()]
    cols += [f'd."{c}"' for c in df.columns if c not in schema]
    con.register("_bl_decline_df", df)
    try:
        con.execute(f"create or replace table {table} as select {', '.join(cols)} from _bl_decline_df d")
    finally:
        con.unregister("_bl_decline_df")


def field_bands(result: ForecastResult, header: pd.DataFrame | None, group_by: str = "field",
                months: int = BAND_MONTHS, phases: tuple[str, ...] = ("oil", "gas")) -> pd.DataFrame:
    """P10/P50/P90 of each group's (and the company's, group ``(all)``) monthly volume: the wells' draws
    summed, never the sum of the wells' P10s (:func:`basinlab.decline.uncertainty.sample_totals`)."""
    fc, p = result.forecast, result.params
    out = []
    if fc.empty or result.draws is None:
        return pd.DataFrame(columns=list(TABLE_SCHEMAS[BANDS_TABLE]))
    z1, z2 = result.draws
    grp = (header.drop_duplicates("well_id").set_index("well_id")[group_by]
           if header is not None and group_by in header.columns else pd.Series(dtype=object))
    scale = float(p["uncertainty_scale"].iloc[0]) if len(p) else unc.DEFAULT_SCALE
    for ph in phases:
        f = fc[(fc["phase"] == ph) & (fc["months_ahead"] <= months)]
        if f.empty:
            continue
        keys = p.reset_index()[["index", "well_id", "phase"]]
        f = f.merge(keys, on=["well_id", "phase"], how="left")
        rows, pos = np.unique(f["index"].to_numpy(), return_inverse=True)
        mat = np.zeros((len(rows), months))
        np.add.at(mat, (pos, f["months_ahead"].to_numpy(np.int64) - 1), f["volume"].to_numpy(np.float64))
        g = p.loc[rows, "well_id"].map(grp).fillna("(unknown)").astype(str).to_numpy()
        names, gi = np.unique(g, return_inverse=True)
        s = p.loc[rows, "sigma_used"].to_numpy(np.float64)
        tot = unc.sample_totals(mat, s, z1[rows], z2[rows], scale, gi.astype(np.int64), len(names))
        tot = np.concatenate([tot, tot.sum(axis=0, keepdims=True)], axis=0)
        p50 = np.zeros((len(names) + 1, months))
        np.add.at(p50, gi, mat)
        p50[-1] = mat.sum(axis=0)
        wells = np.bincount(gi, minlength=len(names)).tolist() + [len(rows)]
        month_idx = pd.date_range(result.as_of + pd.offsets.MonthBegin(1), periods=months, freq="MS")
        q10, q90, mean = np.percentile(tot, 90, axis=2), np.percentile(tot, 10, axis=2), tot.mean(axis=2)
        for i, name in enumerate(list(names) + ["(all)"]):
            out.append(pd.DataFrame({"group": name, "phase": ph, "month": month_idx, "p10": q10[i], "p50": p50[i],
                                     "p90": q90[i], "mean": mean[i], "wells": wells[i],
                                     "units": "bbl" if ph != "gas" else "mcf"}))
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame(columns=list(TABLE_SCHEMAS[BANDS_TABLE]))


def fit_warehouse(con: duckdb.DuckDBPyConnection, *, run_id: str | None = None, config: FitConfig | None = None,
                  type_curve_group: str = "field", analogs: bool = True,
                  inactive_months: int = DEFAULT_INACTIVE_MONTHS, rebuild_models: bool = True,
                  month: str | None = None, forecast_config: ForecastConfig | None = None,
                  lookback: bool = True, economic_limits: bool = True, ml_trendlines: bool = True,
                  progress: Callable[[str], None] | None = None) -> DeclineStepResult:
    """Forecast every well in the warehouse as of ``month``; backtest last year's forecast; write the marts.

    Parameters
    ----------
    con : duckdb connection (read-write)
    run_id : str, optional
        Recorded with the rebuilt downstream models.
    config : FitConfig, optional
        Fitting rules (segments, half-life, model, bounds, terminal decline, fixed limits).
    month : str, optional
        ``YYYY-MM``: forecast as of this month from the rows up to it (a re-run of a past month
        reproduces what was known then); default the latest month of the data.
    forecast_config : ForecastConfig, optional
        The rules around the fit (anchoring, uptime, limits, ratios, uncertainty); ``config``,
        ``inactive_months`` and ``type_curve_group`` override its fields.
    lookback : bool
        Backtest the forecast made 12 months earlier against the year's actuals
        (``marts.decline_backtest*``, ``marts.decline_lookback``) and calibrate the P10/P90 with it.
    economic_limits : bool
        Limits per well from LOE and prices where the warehouse has them (:mod:`.economics`).
    ml_trendlines : bool
        Train the ML trendline model (:mod:`.ml`) on long-history wells for the young ones; the
        lookback keeps, for short histories, whichever of analog shape and ML trendline erred less.
    analogs : bool
        Short histories take the field's median shape; ``False`` leaves them unforecast.
    rebuild_models : bool
        Rebuild the SQL models downstream of the decline tables (``dim_wells``, …).
    """
    say = progress or (lambda _m: None)
    secs: dict[str, float] = {}
    t = time.perf_counter()
    prod = con.execute(PRODUCTION_SQL).df()
    header = con.execute(HEADER_SQL).df()
    secs["read"] = time.perf_counter() - t
    say(f"read {len(prod):,} well-months for {prod['well_id'].nunique():,} wells")
    fcfg = forecast_config or ForecastConfig()
    fcfg = replace(fcfg, fit=config or fcfg.fit, inactive_months=inactive_months, group_by=type_curve_group)
    if len(prod):
        prod["production_month"] = pd.to_datetime(prod["production_month"])
    as_of = (pd.Timestamp(config_month(month)) if month else (prod["production_month"].max() if len(prod) else None))
    limits = None
    if economic_limits and as_of is not None:
        limits = well_limits(con, as_of)
        if len(limits):
            say(f"economic limits from LOE and prices for {limits['well_id'].nunique():,} wells")

    feats = None
    if ml_trendlines and as_of is not None and len(prod):
        try:
            feats = con.execute("select * from marts.int_well_features").df()
        except duckdb.Error:
            feats = ml.features_from_production(prod, header)

    def trend(cut):
        if feats is None:
            return None
        try:
            return ml.trendlines(feats, cut, seed=fcfg.seed)
        except Exception as exc:  # noqa: BLE001 - ML is an option, never a run stopper
            log.warning("ML trendlines failed", exc_info=True)
            say(f"ML trendlines not available: {type(exc).__name__}: {exc}")
            return None

    bt = None
    if lookback and as_of is not None and len(prod):
        t = time.perf_counter()
        cut = as_of - pd.DateOffset(months=LOOKBACK_MONTHS)
        if (prod["production_month"] <= cut).any():
            try:
                bt = backtest(prod[prod["production_month"] <= as_of], header, cut=cut, horizon=LOOKBACK_MONTHS,
                              phase="oil", config=fcfg, well_limits=limits, trendlines=trend)
                f = bt.figures()
                fcfg = replace(fcfg, short_history=f["short_history_method"])
                cal = f.get("calibrated_scale")
                if cal is not None and np.isfinite(cal):
                    fcfg = replace(fcfg, uncertainty_scale=float(np.clip(cal, 0.25, 8.0)))
                say(f"lookback {cut:%Y-%m} + {LOOKBACK_MONTHS} months: median error {_pct(f['median_ape'])}, "
                    f"aggregate {_pct(f['aggregate_error'], signed=True)}, {f['wells_forecast']} of "
                    f"{f['wells_producing']} producing wells forecast; P10-P90 scale {fcfg.uncertainty_scale:.2f}")
            except Exception as exc:  # noqa: BLE001 - the lookback is a report figure, never a run stopper
                log.warning("lookback backtest failed", exc_info=True)
                say(f"lookback backtest not available: {type(exc).__name__}: {exc}")
        secs["lookback"] = time.perf_counter() - t

    t = time.perf_counter()
    if not analogs:
        fcfg = replace(fcfg, short_history="analog")
    tl = trend(as_of) if as_of is not None and fcfg.short_history == "ml_trendline" else None
    if tl is None and feats is not None and as_of is not None:
        tl = trend(as_of)          # stored for analysts even when the analog shape was kept
    res = forecast_wells(prod, header, as_of=as_of, config=fcfg, well_limits=limits, trendlines=tl)
    params, fc = res.params, res.forecast
    if not analogs:
        drop = params["method"] == "analog"
        params.loc[drop, ["method", "remaining", "eur"]] = [None, np.nan, np.nan]
        params.loc[drop, "status"] = "insufficient_history"
        fc = fc[~fc.set_index(["well_id", "phase"]).index.isin(
            params.loc[drop, ["well_id", "phase"]].set_index(["well_id", "phase"]).index)]
    secs["forecast"] = time.perf_counter() - t
    n_fc = int(params["method"].notna().sum())
    say(f"forecast {n_fc:,} of {len(params):,} well-phases as of {as_of:%Y-%m}" if as_of is not None
        else "no production: nothing to forecast")
    t = time.perf_counter()
    tc = type_curves(prod[prod["production_month"] <= as_of] if as_of is not None else prod, header,
                     group_by=type_curve_group)
    bands = field_bands(res, header, type_curve_group)
    secs["type_curves"] = time.perf_counter() - t
    say(f"forecast {len(fc):,} well-months; {tc['group'].nunique() if len(tc) else 0} type-curve groups")

    t = time.perf_counter()
    _replace_table(con, PARAMS_TABLE, params)
    _replace_table(con, FORECAST_TABLE, fc)
    _replace_table(con, TYPE_CURVES_TABLE, tc)
    _replace_table(con, BANDS_TABLE, bands)
    _replace_table(con, BACKTEST_TABLE, bt.wells if bt is not None else pd.DataFrame())
    _replace_table(con, BACKTEST_SUMMARY_TABLE, bt.summary if bt is not None else pd.DataFrame())
    _replace_table(con, ML_TABLE, tl[tl["months_ahead"] <= 120] if tl is not None and len(tl) else pd.DataFrame())
    _replace_table(con, LOOKBACK_TABLE, field_lookback(bt) if bt is not None else pd.DataFrame())
    secs["write"] = time.perf_counter() - t
    if rebuild_models:
        from .. import transform

        t = time.perf_counter()
        transform.run_models(con, run_id=run_id, select="decline_params+ decline_forecast+", progress=say)
        secs["models"] = time.perf_counter() - t
    return DeclineStepResult(params, fc, tc, secs, bands, bt, as_of)


def config_month(month: str) -> str:
    from ..config import parse_month

    parse_month(month)
    return f"{month}-01" if len(month) == 7 else month


def _pct(v, signed: bool = False) -> str:
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return "n/a"
    return f"{100 * v:+.1f} %" if signed else f"{100 * v:.1f} %"


def mark_inactive(params: pd.DataFrame, production: pd.DataFrame, inactive_months: int) -> pd.DataFrame:
    """Well-phases whose last producing month is ``inactive_months`` or more before the data's latest
    month get status ``inactive`` (no forecast), ``remaining`` 0 and ``eur`` = ``cum_to_date``."""
    if production.empty or params.empty:
        return params
    months = pd.to_datetime(production["production_month"])
    latest = months.max()
    cutoff = latest - pd.DateOffset(months=inactive_months - 1)
    last_prod = []
    for phase, col in VOLUME_COLUMNS.items():
        if col in production:
            on = production[col].fillna(0) > 0
            lp = months[on].groupby(production.loc[on, "well_id"]).max()
            last_prod.append(pd.DataFrame({"well_id": lp.index, "phase": phase, "_last_prod": lp.to_numpy()}))
    if not last_prod:
        return params
    out = params.merge(pd.concat(last_prod, ignore_index=True), on=["well_id", "phase"], how="left")
    inactive = out["_last_prod"].notna() & (out["_last_prod"] < cutoff) & (out["status"] != "no_production")
    out.loc[inactive, "reason"] = [
        f"no {ph} production since {d:%Y-%m} (data to {latest:%Y-%m}); was {st}"
        for ph, d, st in zip(out.loc[inactive, "phase"], out.loc[inactive, "_last_prod"], out.loc[inactive, "status"])]
    out.loc[inactive, "status"] = INACTIVE_STATUS
    out.loc[inactive, "remaining"] = 0.0
    out.loc[inactive, "eur"] = out.loc[inactive, "cum_to_date"]
    return out.drop(columns="_last_prod")


def _fill_analog_reserves(params: pd.DataFrame, fc: pd.DataFrame) -> pd.DataFrame:
    """remaining = the analog rows' forecast volume (to the limit or cap); eur = cum_to_date + remaining."""
    analog = params["status"] == ANALOG_STATUS
    if not analog.any():
        return params
    rem = fc.groupby(["well_id", "phase"])["volume"].sum() if len(fc) else pd.Series(dtype=float)
    keys = list(zip(params.loc[analog, "well_id"], params.loc[analog, "phase"]))
    out = params.copy()
    out.loc[analog, "remaining"] = [float(rem.get(k, 0.0)) for k in keys]
    out.loc[analog, "eur"] = out.loc[analog, "cum_to_date"] + out.loc[analog, "remaining"]
    return out


def largest_wells(con: duckdb.DuckDBPyConnection, n: int = 6, phase: str = "oil") -> list[str]:
    """The n wells with the largest cumulative production of a phase (for the fit plots)."""
    col = VOLUME_COLUMNS[phase]
    return [r[0] for r in con.execute(
        f"select well_id from staging.stg_production group by well_id order by sum({col}) desc limit ?", [n]
    ).fetchall()]


def well_history_and_forecast(con: duckdb.DuckDBPyConnection, wells: list[str], phase: str = "oil") -> pd.DataFrame:
    """Producing-day actual rates, the fitted curve over the history and the forecast, per well (long format)."""
    if phase not in VOLUME_COLUMNS:
        raise ValueError(f"phase must be one of {sorted(VOLUME_COLUMNS)}, got {phase!r}")
    unit_col = {"oil": "oil_rate_bbl_per_producing_day", "gas": "gas_rate_mcf_per_producing_day",
                "water": "water_rate_bbl_per_producing_day"}[phase]
    actual = con.execute(
        f"""select well_id, production_month as month, {unit_col} as rate_per_day, 'actual' as series
            from staging.stg_production where well_id in (select unnest(?)) and {unit_col} > 0""", [wells]).df()
    fc = con.execute(
        """select well_id, month, rate_per_day, 'forecast' as series from marts.decline_forecast
           where phase = ? and well_id in (select unnest(?)) and month <= (select max(production_month)
           from staging.stg_production) + interval 10 year""", [phase, wells]).df()
    params = con.execute("select * from marts.decline_params where phase = ? and well_id in (select unnest(?)) "
                         "and status = 'fitted'", [phase, wells]).df()
    fitted_rows = []
    if len(params):
        from .models import make_model

        for p in params.to_dict("records"):
            months = pd.date_range(p["fit_start"], p["fit_end"], freq="MS")
            t_days = (months - pd.Timestamp(p["t0_month"])).days.to_numpy() + 15.0
            m = make_model(p["model"], p["qi"], p["di"], p["b"], p["dterm"])
            rates = m.rate(t_days)
            fitted_rows.append(pd.DataFrame({"well_id": p["well_id"], "month": months, "rate_per_day": rates,
                                             "series": "fit"}))
    return pd.concat([actual, *fitted_rows, fc], ignore_index=True)
