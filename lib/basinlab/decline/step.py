"""The decline step of the monthly chain: fit every well in the warehouse and publish the results.

Reads ``staging.stg_production`` (deduplicated, current file versions) and the
well header, fits every well and phase with :func:`~basinlab.decline.fit_wells`,
forecasts to the economic limit, builds P10/P50/P90 type curves per field, and
writes ``marts.decline_params``, ``marts.decline_forecast`` and
``marts.decline_type_curves``. Then it rebuilds the SQL models downstream of
them (``dim_wells`` gains EUR and remaining reserves, forecast moving averages).
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import duckdb
import pandas as pd

from .analogs import ANALOG_STATUS, VOLUME_COLUMNS, apply_analogs
from .fitting import FitConfig, fit_wells
from .forecast import forecast
from .typecurves import type_curves

PRODUCTION_SQL = """select well_id, production_month, days_on, oil_bbl, gas_mcf, water_bbl
                    from staging.stg_production order by well_id, production_month"""
HEADER_SQL = "select well_id, field, basin, lateral_length_ft from staging.stg_well_header"

#: status of a well-phase with no production in the last ``inactive_months`` of data: not forecast
INACTIVE_STATUS = "inactive"
#: months without production after which a well-phase counts as inactive (matches dim_wells' shut-in rule)
DEFAULT_INACTIVE_MONTHS = 3

#: tables written by the step
PARAMS_TABLE = "marts.decline_params"
FORECAST_TABLE = "marts.decline_forecast"
TYPE_CURVES_TABLE = "marts.decline_type_curves"


#: column types of the tables the step writes: a stable schema for readers, empty or not
_DATE, _TEXT, _NUM, _INT, _BOOL = "date", "varchar", "double", "bigint", "boolean"
TABLE_SCHEMAS: dict[str, dict[str, str]] = {
    PARAMS_TABLE: {
        "well_id": _TEXT, "phase": _TEXT, "model": _TEXT, "qi": _NUM, "di": _NUM, "b": _NUM, "dterm": _NUM,
        "t0_month": _DATE, "fit_start": _DATE, "fit_end": _DATE, "n_points": _INT, "rmse": _NUM, "r2": _NUM,
        "rmse_log": _NUM, "status": _TEXT, "reason": _TEXT, "cum_to_date": _NUM, "remaining": _NUM, "eur": _NUM,
        "first_month": _DATE, "last_month": _DATE, "units": _TEXT,
    },
    FORECAST_TABLE: {
        "well_id": _TEXT, "phase": _TEXT, "month": _DATE, "rate_per_day": _NUM, "volume": _NUM,
        "cumulative": _NUM, "units": _TEXT,
    },
    TYPE_CURVES_TABLE: {
        "group": _TEXT, "phase": _TEXT, "month_index": _INT, "p10": _NUM, "p50": _NUM, "p90": _NUM,
        "mean": _NUM, "n_wells": _INT, "normalised": _BOOL, "units": _TEXT,
    },
}


@dataclass
class DeclineStepResult:
    params: pd.DataFrame
    forecast: pd.DataFrame
    type_curves: pd.DataFrame
    seconds: dict[str, float] = field(default_factory=dict)

    def status_counts(self) -> pd.DataFrame:
        return (self.params.groupby(["phase", "status"]).size().rename("wells").reset_index()
                .sort_values(["phase", "wells"], ascending=[True, False]))


def _replace_table(con: duckdb.DuckDBPyConnection, table: str, df: pd.DataFrame) -> None:
    """Replace ``table`` with ``df`` cast to the table's declared schema (extra columns kept as they are)."""
    schema = TABLE_SCHEMAS[table]
    missing = [c for c in schema if c not in df.columns]
    if missing:
        raise ValueError(f"{table}: columns {missing} missing from the decline result")
    cols = [f'cast(d."{c}" as {t}) as "{c}"' for c, t in schema.items()]
    cols += [f'd."{c}"' for c in df.columns if c not in schema]
    con.register("_bl_decline_df", df)
    try:
        con.execute(f"create or replace table {table} as select {', '.join(cols)} from _bl_decline_df d")
    finally:
        con.unregister("_bl_decline_df")


def fit_warehouse(con: duckdb.DuckDBPyConnection, *, run_id: str | None = None, config: FitConfig | None = None,
                  type_curve_group: str = "field", analogs: bool = True,
                  inactive_months: int = DEFAULT_INACTIVE_MONTHS, rebuild_models: bool = True,
                  progress: Callable[[str], None] | None = None) -> DeclineStepResult:
    """Fit, forecast and type-curve every well in the warehouse; write the decline marts.

    Parameters
    ----------
    con : duckdb connection (read-write)
    run_id : str, optional
        Recorded with the rebuilt downstream models.
    config : FitConfig, optional
        Fitting rules (fit start, shut-in handling, loss, bounds, terminal decline, limits).
    type_curve_group : str
        Header column the type curves (and the analog shapes) are grouped by (``field`` or ``basin``).
    inactive_months : int
        A well-phase with no production in the last ``inactive_months`` months of the data
        (shut in, abandoned) is not forecast: status ``inactive``, remaining 0, EUR = cumulative.
    analogs : bool
        Give wells with too short a history their group's median decline shape, ``qi``
        anchored to their actual rates (status ``analog``), so the forecast covers every
        producing well; see :mod:`basinlab.decline.analogs`.
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

    t = time.perf_counter()
    params = fit_wells(prod, config)
    secs["fit"] = time.perf_counter() - t
    fitted = int((params["status"] == "fitted").sum())
    say(f"fitted {fitted:,} of {len(params):,} well-phases in {secs['fit']:.2f}s")

    params = mark_inactive(params, prod, inactive_months)
    n_inactive = int((params["status"] == INACTIVE_STATUS).sum())
    if n_inactive:
        say(f"{n_inactive:,} well-phases without production in the last {inactive_months} months: not forecast")
    if analogs:
        params = apply_analogs(params, prod, header, group_by=type_curve_group)
        n_analog = int((params["status"] == ANALOG_STATUS).sum())
        if n_analog:
            say(f"{n_analog:,} short-history well-phases take their {type_curve_group}'s median decline shape")

    t = time.perf_counter()
    cfg = config or FitConfig()
    forecastable = params.assign(status=params["status"].replace({ANALOG_STATUS: "fitted"}))
    fc = forecast(forecastable, q_limit=cfg.q_limits, max_years=cfg.max_years)
    params = _fill_analog_reserves(params, fc)
    secs["forecast"] = time.perf_counter() - t
    t = time.perf_counter()
    tc = type_curves(prod, header, group_by=type_curve_group)
    secs["type_curves"] = time.perf_counter() - t
    say(f"forecast {len(fc):,} well-months; {tc['group'].nunique() if len(tc) else 0} type-curve groups")

    t = time.perf_counter()
    _replace_table(con, PARAMS_TABLE, params)
    _replace_table(con, FORECAST_TABLE, fc)
    _replace_table(con, TYPE_CURVES_TABLE, tc)
    secs["write"] = time.perf_counter() - t
    if rebuild_models:
        from .. import transform

        t = time.perf_counter()
        transform.run_models(con, run_id=run_id, select="decline_params+ decline_forecast+", progress=say)
        secs["models"] = time.perf_counter() - t
    return DeclineStepResult(params, fc, tc, secs)


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
