"""The decline step of the monthly chain: forecast every well in the warehouse and publish the results.

Reads ``staging.stg_production`` (deduplicated, current file versions) and the
well header; as of the run month (rows up to it) forecasts every well and phase
with the rules of :func:`~basinlab.decline.forecast_wells` (every well gets a status and a
method; one odd well never stops the batch), backtests last year's forecast
against this year's actuals (:func:`~basinlab.decline.backtest`, which also
calibrates the P10/P90), builds P10/P50/P90 type curves and field forecast bands,
and writes ``marts.decline_params``, ``marts.decline_forecast``,
``marts.decline_type_curves``, ``marts.decline_forecast_bands``,
``marts.decline_backtest``, ``marts.decline_backtest_summary`` and
``marts.decline_lookback``. Then it rebuilds the SQL models downstream of them
(``dim_wells`` gains EUR and remaining reserves, forecast moving averages).

Memory does not grow with the warehouse
---------------------------------------
Wells are read, forecast and written **in batches** (``batch_wells`` wells at a time, by ranges
of well id, default :data:`DEFAULT_BATCH_WELLS`), in three passes over the production:

A. every batch is fitted as of the month and as of the lookback cut (:func:`~basinlab.decline.engine.prepare`);
   the fits are kept on disk, and the few numbers a well's forecast takes from the other wells
   (the field's analog shapes, the median residual scale: :class:`~basinlab.decline.ForecastContext`)
   are gathered;
B. every batch's forecast as of the cut is scored against the year that followed (both
   short-history methods when the ML trendlines are trained); the lookback's figures, the choice
   between the analog shape and the ML trendline and the P10/P90 calibration come from all wells
   (beyond ``lookback_wells``, default :data:`LOOKBACK_WELLS`, from a fixed sample of them: only the
   sampled wells are fitted as of the cut, :func:`lookback_sample`);
C. every batch is forecast as of the month (:func:`~basinlab.decline.engine.finish`) and its rows
   appended to the tables; field bands add up batch by batch.

The type curves are percentiles over all wells, computed in SQL
(:func:`~basinlab.decline.typecurves.type_curves_sql`); the ML trendlines train on a bounded sample
(:func:`~basinlab.decline.ml.training_features`, fitted in the worker processes) and predict per
batch. What stays in memory across batches is a few numbers per well (the lookback's 12 monthly
volumes, the residual scale, the analog shapes' inputs): under a kilobyte per well, against megabytes
per batch. The results are the same for any batch size (``tests/test_decline_step.py`` runs 1, 7 and
all wells per batch).

``marts.decline_forecast`` is **compact** (:data:`~basinlab.decline.forecast.STORED_MONTHLY_MONTHS`):
a row per month for the first five years, then a row per year to the end of the forecast
(``period_months`` = 12, the last one partial); volumes, cumulative, remaining and EUR are exact
(closed forms), rates are the average calendar-day rate of the row, P10/P90 of a yearly row are
the bands of its middle month applied to its volume.
"""
from __future__ import annotations

import hashlib
import logging
import os
import pickle
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from .. import catalog, warehouse
from . import ml
from . import uncertainty as unc
from .analogs import ANALOG_STATUS, VOLUME_COLUMNS
from .backtest import SUMMARY_COLUMNS, TARGET_COVERAGE, WELL_COLUMNS, _evaluate, _short_median, _summary
from .economics import LIMIT_SQL, limits_from_inputs
from .engine import ForecastConfig, ForecastContext, ForecastResult, clean_production, finish, prepare
from .fitting import RESULT_COLUMNS, FitConfig, fit_wells
from .forecast import STORED_MONTHLY_MONTHS
from .typecurves import TYPE_CURVE_COLUMNS, type_curves_sql
from .workers import BatchPool, WorkerError, default_workers

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
#: wells read, forecast and written at a time (memory ~ batch x months of history; results do not
#: depend on it)
DEFAULT_BATCH_WELLS = 2000
#: wells the lookback calibrates the P10-P90 range on at most (a fixed sample by key beyond)
CALIBRATION_WELLS = 20_000
#: wells the lookback backtests at most (``fit_warehouse(lookback_wells=...)``): beyond, a fixed sample,
#: the wells with the smallest MD5 of their id (:func:`lookback_sample`). A median or an aggregate error
#: over 10,000 wells moves by a fraction of a point when taken over all of them (``bench/decline_step.py
#: --lookback-sample``), while fitting and forecasting every well as of the cut is a third of the step.
LOOKBACK_WELLS = 10_000
#: phases of the field bands
BAND_PHASES = ("oil", "gas")
#: months of each ML trendline stored in ``marts.ml_trendlines`` (the first ten years)
ML_STORED_MONTHS = 120

#: tables written by the step
PARAMS_TABLE = "marts.decline_params"
FORECAST_TABLE = "marts.decline_forecast"
TYPE_CURVES_TABLE = "marts.decline_type_curves"
BANDS_TABLE = "marts.decline_forecast_bands"
BACKTEST_TABLE = "marts.decline_backtest"
BACKTEST_SUMMARY_TABLE = "marts.decline_backtest_summary"
LOOKBACK_TABLE = "marts.decline_lookback"
ML_TABLE = "marts.ml_trendlines"
FITS_TABLE = "marts.decline_fits"
MODELS_TABLE = "marts.ml_trendline_models"
#: the fitter's modules: a change in their source (or in the FitConfig) refits every well
FIT_SOURCES = ("fitting.py", "segments.py", "models.py")
#: a well's fingerprint: its monthly rows up to a month, in month order, and their count — as of the
#: run month (``now``) and as of the lookback's cut (``cut``, NULL for a well without rows by then), in one
#: scan. Each value is written out, a missing one as ``∅`` (``concat_ws`` alone skips NULLs: oil missing
#: and gas 5 would read as oil 5 and gas missing).
FINGERPRINT_SQL = """
    with rows as (
        select well_id, production_month,
               concat_ws('|', production_month, coalesce(cast(days_on as varchar), '∅'),
                         coalesce(cast(oil_bbl as varchar), '∅'), coalesce(cast(gas_mcf as varchar), '∅'),
                         coalesce(cast(water_bbl as varchar), '∅')) as row_text
        from {prod}
    )
    select well_id,
           md5(string_agg(row_text, ';' order by production_month)) || ':' || count(*) as now,
           md5(string_agg(row_text, ';' order by production_month) filter (where production_month <= {cut}))
               || ':' || count(*) filter (where production_month <= {cut}) as cut
    from rows group by well_id"""


#: column types of the tables the step writes: a stable schema for readers, empty or not
#: (declared once, in sql/catalog/decline.yml)
TABLE_SCHEMAS: dict[str, dict[str, str]] = catalog.table_schemas(
    PARAMS_TABLE, FORECAST_TABLE, TYPE_CURVES_TABLE, BANDS_TABLE, BACKTEST_TABLE, BACKTEST_SUMMARY_TABLE, ML_TABLE,
    LOOKBACK_TABLE, FITS_TABLE, MODELS_TABLE)


class DeclineStepResult:
    """What :func:`fit_warehouse` did. The well tables live in the warehouse; ``params`` and ``forecast``
    read them when asked (whole: for small warehouses and tests; :meth:`params_where` reads a part)."""

    def __init__(self, con: duckdb.DuckDBPyConnection | None, type_curves: pd.DataFrame, seconds: dict[str, float],
                 bands: pd.DataFrame | None = None, backtest: object | None = None, as_of: pd.Timestamp | None = None,
                 wells: int = 0, batches: int = 0):
        self._con = con
        self.type_curves = type_curves
        self.seconds = seconds
        self.bands = bands
        self.backtest = backtest
        self.as_of = as_of
        self.wells = wells
        self.batches = batches
        self.wells_refit = 0       # wells fitted this run
        self.wells_reused = 0      # wells whose stored fit was kept (history unchanged)
        self.cut_fits_refit = 0    # wells fitted as of the lookback's cut this run
        self.cut_fits_reused = 0   # wells whose fit as of the cut an earlier run made (history up to it unchanged)
        self.ml_models_trained = 0  # ML trendline models trained this run (per phase and as-of month)
        self.ml_models_reused = 0   # ML trendline models an earlier run trained on the same rows, kept
        self._params: pd.DataFrame | None = None
        self._forecast: pd.DataFrame | None = None

    def _read(self, sql: str, binds: list | None = None) -> pd.DataFrame:
        if self._con is None:
            raise RuntimeError("the decline step wrote nothing to read back")
        return self._con.execute(sql, binds or []).df()

    @property
    def params(self) -> pd.DataFrame:
        """Every row of ``marts.decline_params`` (one per well and phase)."""
        if self._params is None:
            self._params = self._read(f"select * from {PARAMS_TABLE} order by well_id, phase")
        return self._params

    @property
    def forecast(self) -> pd.DataFrame:
        """Every row of ``marts.decline_forecast`` (large: prefer SQL on the table)."""
        if self._forecast is None:
            self._forecast = self._read(f"select * from {FORECAST_TABLE} order by well_id, phase, month")
        return self._forecast

    def params_where(self, where: str = "true", columns: str = "*", binds: list | None = None,
                     limit: int | None = None) -> pd.DataFrame:
        """Rows of ``marts.decline_params`` matching a SQL condition (e.g. ``"status = 'fitted' and phase = ?"``)."""
        lim = f" limit {int(limit)}" if limit is not None else ""
        return self._read(f"select {columns} from {PARAMS_TABLE} where {where} order by well_id, phase{lim}", binds)

    def status_counts(self) -> pd.DataFrame:
        return self._read(f"""select phase, status, count(*) as wells from {PARAMS_TABLE}
                              group by all order by phase, wells desc, status""")

    def method_counts(self) -> pd.DataFrame:
        """Well-phases per forecast method (``none``: no forecast, see the status)."""
        return self._read(f"""select phase, coalesce(method, 'none') as method, count(*) as wells from {PARAMS_TABLE}
                              group by all order by phase, wells desc, method""")


def _create_table(con: duckdb.DuckDBPyConnection, table: str) -> None:
    cols = ", ".join(f'"{c}" {t}' for c, t in TABLE_SCHEMAS[table].items())
    con.execute(f"create or replace table {table} ({cols})")


def _append(con: duckdb.DuckDBPyConnection, table: str, df: pd.DataFrame | pa.Table | None) -> int:
    """Append ``df``'s rows (a DataFrame or an Arrow table) to ``table`` in the table's declared schema
    (missing columns as NULL)."""
    if df is None or not len(df):
        return 0
    schema = TABLE_SCHEMAS[table]
    have = set(df.column_names if isinstance(df, pa.Table) else df.columns)
    cols = [f'cast(d."{c}" as {t})' if c in have else f"cast(null as {t})" for c, t in schema.items()]
    con.register("_bl_decline_df", df)
    try:
        con.execute(f"insert into {table} select {', '.join(cols)} from _bl_decline_df d")
    finally:
        con.unregister("_bl_decline_df")
    return len(df)


def _as_arrow(df: pd.DataFrame) -> pd.DataFrame | pa.Table:
    """``df`` as an Arrow table, for the worker that computed it to convert (DuckDB inserts Arrow about
    twice as fast as a frame of Python strings, and the insert runs in the one process that writes);
    ``df`` itself when Arrow cannot type a column (mixed Python objects)."""
    if df is None or not len(df):
        return df
    try:
        return pa.Table.from_pandas(df, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return df


def _replace_table(con: duckdb.DuckDBPyConnection, table: str, df: pd.DataFrame) -> None:
    """Replace ``table`` with ``df`` cast to the table's declared schema."""
    _create_table(con, table)
    _append(con, table, df)


# --------------------------------------------------------------------------- batches


def _well_batches(con: duckdb.DuckDBPyConnection, relation: str, batch_wells: int) -> list[tuple[str, str]]:
    """(first, last) well id of each batch of ``batch_wells`` wells, in well-id order."""
    return [(a, b) for a, b in con.execute(f"""
        select min(well_id), max(well_id) from (
            select well_id, (row_number() over (order by well_id) - 1) // ? as batch
            from (select distinct well_id from {relation}))
        group by batch order by batch""", [int(batch_wells)]).fetchall()]


class _Scratch:
    """Temporary tables of the step (dropped at the end) and a folder for what pass A keeps for the later
    passes (each batch's rows and fits: :func:`_save`, :meth:`saved`)."""

    def __init__(self, con: duckdb.DuckDBPyConnection):
        self.con = con
        self.tables: list[str] = []
        base = None
        try:
            spill = con.execute("select current_setting('temp_directory')").fetchone()[0]
            base = Path(spill).parent if spill else None
        except duckdb.Error:
            pass
        if base is None or not base.is_dir() or not os.access(base, os.W_OK):
            base = None
        self.folder = Path(tempfile.mkdtemp(prefix=f"basinlab-decline-{os.getpid()}-", dir=base))
        self._batch_pool: BatchPool | None = None

    def pool(self, workers: int) -> BatchPool:
        """The :class:`~basinlab.decline.workers.BatchPool` of the step (stopped with the scratch space)."""
        if self._batch_pool is not None:
            self._batch_pool.close()
        self._batch_pool = BatchPool(workers)
        return self._batch_pool

    def table(self, name: str, sql: str, binds: list | None = None) -> str:
        self.con.execute(f"create or replace temp table {name} as {sql}", binds or [])
        self.tables.append(name)
        return name

    def saved(self, key: str) -> _Saved:
        """A reference to ``key``'s saved value, for a task to load where it runs."""
        return _Saved(self.folder, key)

    def close(self) -> None:
        if self._batch_pool is not None:
            self._batch_pool.close()
        for t in self.tables:
            try:
                self.con.execute(f"drop table if exists {t}")
            except duckdb.Error:
                pass
        shutil.rmtree(self.folder, ignore_errors=True)


def _save(folder: Path, key: str, obj) -> None:
    """Keep ``obj`` between passes as ``<folder>/<key>.pkl`` (:func:`_load` reads it back)."""
    with open(Path(folder) / f"{key}.pkl", "wb") as fh:
        pickle.dump(obj, fh, protocol=pickle.HIGHEST_PROTOCOL)


def _load(folder: Path, key: str):
    """What :func:`_save` kept as ``key`` (``None`` when nothing was)."""
    path = Path(folder) / f"{key}.pkl"
    if not path.exists():
        return None
    with open(path, "rb") as fh:
        return pickle.load(fh)


@dataclass(frozen=True)
class _Saved:
    """A value a pass-A task saved to the scratch folder (a batch's rows, its fits), sent to a later
    pass's task instead of the value: the task loads it where it runs (:func:`_loaded`), so the step's
    process neither reads the batch again nor sends it through the pipe."""

    folder: Path
    key: str


def _loaded(value):
    """``value``, or what it refers to when it is a :class:`_Saved`."""
    return _load(value.folder, value.key) if isinstance(value, _Saved) else value


@dataclass
class _LookbackBatch:
    """One batch's lookback evaluation for one short-history method, reduced to what the step keeps
    (computed where the batch is evaluated, a worker process; added up by :meth:`_Lookback.add`)."""

    wells: pd.DataFrame          # per-well rows (WELL_COLUMNS)
    vol: np.ndarray              # (n, horizon) forecast volumes
    s: np.ndarray                # residual scale per well
    keys: np.ndarray             # draw keys per well
    actual: np.ndarray           # actual horizon volume per well
    groups: list                 # :meth:`_GroupPaths.batch` of the wells' sampled paths
    actual_monthly: list         # ((group, month), actual volume), in group and month order

    @classmethod
    def of(cls, pp: pd.DataFrame, monthly: pd.DataFrame, vol: np.ndarray, s: np.ndarray, z1: np.ndarray,
           z2: np.ndarray, actual: np.ndarray, phase: str, scale: float) -> _LookbackBatch:
        """From :func:`~basinlab.decline.backtest._evaluate`'s per-well rows, monthly actuals, forecast
        volumes, residual scales, draws and actual horizon volumes."""
        wells = pp[list(WELL_COLUMNS)] if len(pp) else pd.DataFrame(columns=list(WELL_COLUMNS))
        keys = (unc.row_keys(pp["well_id"].to_numpy(dtype=object), np.full(len(pp), phase, dtype=object))
                if len(pp) else np.zeros(0, np.uint64))
        groups = _GroupPaths.batch(pp["group"].astype(str).to_numpy(), vol, s, z1, z2, scale) if len(pp) else []
        am = ([(key, float(v)) for key, v in monthly.groupby(["group", "month"])["actual_volume"].sum().items()]
              if len(monthly) else [])
        return cls(wells, vol, s, keys, actual, groups, am)


@dataclass
class _Lookback:
    """One short-history method's backtest, gathered batch by batch."""

    wells: list = field(default_factory=list)          # per-well rows (frames)
    vol: list = field(default_factory=list)            # (n, horizon) forecast volumes
    s: list = field(default_factory=list)              # residual scale per well
    keys: list = field(default_factory=list)           # draw keys per well
    actual: list = field(default_factory=list)         # actual horizon volume per well
    groups: _GroupPaths = field(default_factory=lambda: _GroupPaths())   # per field: summed paths and P50
    actual_monthly: dict = field(default_factory=dict)  # (group, month) -> actual volume
    ml_rows: int = 0

    def add(self, b: _LookbackBatch) -> None:
        """Add one batch's evaluation (:meth:`_LookbackBatch.of`), batches in order."""
        self.wells.append(b.wells)
        self.vol.append(b.vol)
        self.s.append(b.s)
        self.keys.append(b.keys)
        self.actual.append(b.actual)
        self.groups.merge(b.groups)
        for key, v in b.actual_monthly:
            self.actual_monthly[key] = self.actual_monthly.get(key, 0.0) + v

    def frame(self) -> pd.DataFrame:
        return (pd.concat(self.wells, ignore_index=True) if self.wells
                else pd.DataFrame(columns=list(WELL_COLUMNS)))

    def arrays(self, horizon: int):
        def cat(parts, shape):
            return np.concatenate(parts) if parts else np.zeros(shape)

        return (cat(self.vol, (0, horizon)), cat(self.s, (0,)), cat(self.keys, (0,)).astype(np.uint64),
                cat(self.actual, (0,)))


@dataclass
class StepBacktest:
    """The lookback of the step: ``wells`` (one row per producing well), ``summary`` (one row),
    ``lookback`` (per field and month); :meth:`figures` as :class:`~basinlab.decline.BacktestResult`'s."""

    wells: pd.DataFrame
    summary: pd.DataFrame
    lookback: pd.DataFrame

    def figures(self) -> dict:
        return {k: (None if isinstance(v, float) and not np.isfinite(v) else v)
                for k, v in self.summary.iloc[0].to_dict().items()}


@dataclass
class _GroupPaths:
    """Sampled paths (group -> (months, samples)), P50 (group -> (months,)) and well-phases per group,
    summed batch by batch."""

    paths: dict = field(default_factory=dict)
    p50: dict = field(default_factory=dict)
    rows: dict = field(default_factory=dict)

    def add(self, names: np.ndarray, vol: np.ndarray, s: np.ndarray, z1: np.ndarray, z2: np.ndarray,
            scale: float) -> None:
        """Add rows' paths: every row keeps its own draws in every month (a sum of consistent paths)."""
        self.merge(_GroupPaths.batch(names, vol, s, z1, z2, scale))

    @staticmethod
    def batch(names: np.ndarray, vol: np.ndarray, s: np.ndarray, z1: np.ndarray, z2: np.ndarray,
              scale: float) -> list[tuple[str, np.ndarray, np.ndarray, int]]:
        """One batch's part, per group in name order: (group, summed sampled paths, summed P50 volumes,
        rows) — computed where the batch is (a worker process), added up by :meth:`merge`."""
        if not len(vol):
            return []
        uniq, gi = np.unique(names.astype(str), return_inverse=True)
        tot = unc.sample_totals(vol, s, z1, z2, scale, gi.astype(np.int64), len(uniq))
        return [(str(g), tot[i], vol[gi == i].sum(axis=0), int((gi == i).sum())) for i, g in enumerate(uniq)]

    def merge(self, part: list[tuple[str, np.ndarray, np.ndarray, int]]) -> None:
        """Add a batch's part (:meth:`batch`); batches merged in the same order give the same sums."""
        for g, tot, p50, rows in part:
            if g in self.paths:
                self.paths[g] += tot
                self.p50[g] += p50
                self.rows[g] += rows
            else:
                self.paths[g] = tot.copy()
                self.p50[g] = p50
                self.rows[g] = rows

    def quantiles(self) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[int]]:
        """Group names (sorted, then ``(all)``) with P10 (high), P50, P90 (low), mean and row counts."""
        names = sorted(self.paths)
        if not names:
            return [], *(np.zeros((0, 0)),) * 4, []
        tot = np.stack([self.paths[g] for g in names])
        tot = np.concatenate([tot, tot.sum(axis=0, keepdims=True)], axis=0)
        mid = np.stack([self.p50[g] for g in names])
        mid = np.concatenate([mid, mid.sum(axis=0, keepdims=True)], axis=0)
        counts = [self.rows[g] for g in names]
        return (names + ["(all)"], np.percentile(tot, 90, axis=2), mid, np.percentile(tot, 10, axis=2),
                tot.mean(axis=2), counts + [sum(counts)])


def fit_config_sha256(fit_config: FitConfig) -> str:
    """SHA-256 of the fit configuration and the fitter's source (:data:`FIT_SOURCES`)."""
    h = hashlib.sha256(repr(fit_config).encode())
    for name in FIT_SOURCES:
        h.update((Path(__file__).parent / name).read_bytes())
    return h.hexdigest()


class _FitCache:
    """Fits made by earlier runs (``marts.decline_fits``) of the wells whose history is unchanged.

    A fit is a function of the well's rows up to the month it is made as of and of the fit
    configuration: the step looks a fit up by the well's fingerprint (:data:`FINGERPRINT_SQL`) and the
    configuration's hash (:func:`fit_config_sha256`), as of the run month and as of the lookback's cut.
    As of the month, a well without new or restated rows keeps the last run's fit (the forecast anchors
    and rolls it forward); as of the cut, a well keeps the fit a run made as of that month — the run
    twelve months earlier, in a monthly routine — so the lookback scores the curve fitted then, and the
    step fits each well once instead of twice. ``refit_all`` (or a changed configuration or fitter
    source) refits every well. The fitter is deterministic, so a kept fit is the fit a refit would make
    (``tests/test_incremental.py`` checks it).

    The table keeps the fits as of the months from the cut on (:meth:`reset`): a later run's cut.
    """

    def __init__(self, con, scratch: _Scratch, prod_t: str, fit_config: FitConfig, refit_all: bool,
                 as_of: pd.Timestamp, cut: pd.Timestamp | None):
        self.con, self.sha = con, fit_config_sha256(fit_config)
        self.fit_config = fit_config
        self.months = {"now": as_of.date()} | ({"cut": cut.date()} if cut is not None else {})
        both = scratch.table("_bl_decline_fingerprints", FINGERPRINT_SQL.format(
            prod=prod_t, cut=f"'{cut.date().isoformat()}'::date" if cut is not None else "null::date"))
        self.fp = {at: f"(select well_id, {at} as history_fingerprint from {both} where {at} is not null)"
                   for at in self.months}
        usable = set(TABLE_SCHEMAS[FITS_TABLE]) <= set(warehouse.table_columns(con, FITS_TABLE))  # no table: empty
        self.prev: dict[str, str] = {}
        if usable and not refit_all:
            for at, fp in self.fp.items():
                self.prev[at] = scratch.table(f"_bl_decline_prev_fits_{at}", f"""
                    select f.* exclude (history_fingerprint, fit_config_sha256, as_of_month) from {FITS_TABLE} as f
                    join {fp} as p on p.well_id = f.well_id and p.history_fingerprint = f.history_fingerprint
                    where f.fit_config_sha256 = ?
                    qualify row_number() over (partition by f.well_id, f.phase order by f.as_of_month desc) = 1""",
                                              [self.sha])
        self.keep_from = (as_of - pd.DateOffset(months=LOOKBACK_MONTHS)).date()
        self._usable = usable
        self.refit = self.reused = 0
        self.cut_refit = self.cut_reused = 0

    def reset(self) -> None:
        """Make ``marts.decline_fits`` hold only what later runs can use: the earlier fits as of the months
        from this run's cut on, except the months this run fits as of (it stores them again). A table of
        an older layout is replaced (every well is refit once)."""
        if not self._usable:
            _create_table(self.con, FITS_TABLE)
            return
        self.con.execute(f"delete from {FITS_TABLE} where as_of_month < ?::date "
                         "or list_contains(?::date[], as_of_month)", [self.keep_from, list(self.months.values())])

    def count(self, refit: int, reused: int, cut_refit: int = 0, cut_reused: int = 0) -> None:
        """Add a batch's refit and kept wells (:func:`fit_with_kept`), as of the month and the cut, to the tally."""
        self.refit += refit
        self.reused += reused
        self.cut_refit += cut_refit
        self.cut_reused += cut_reused

    def kept(self, lo: str, hi: str, at: str = "now") -> pd.DataFrame:
        """The kept fits of the wells ``lo`` .. ``hi`` as of the month (``at="now"``) or the cut (``"cut"``)."""
        if at not in self.prev:
            return pd.DataFrame()
        kept = self.con.execute(f"select * from {self.prev[at]} where well_id between ? and ? order by well_id",
                                [lo, hi]).df()
        for c in ("t0_month", "fit_start", "fit_end", "first_month", "last_month", "segment_start"):
            kept[c] = pd.to_datetime(kept[c]).astype("datetime64[ns]")
        return kept[list(RESULT_COLUMNS)]

    def store(self, fit: pd.DataFrame, lo: str, hi: str, at: str = "now") -> None:
        """Append the batch's fits as of the month (or the cut) to ``marts.decline_fits`` with each well's
        fingerprint."""
        if fit is None or not len(fit):
            return
        fps = self.con.execute(f"select * from {self.fp[at]} where well_id between ? and ?", [lo, hi]).df()
        _append(self.con, FITS_TABLE, fit.merge(fps, on="well_id", how="left").assign(
            fit_config_sha256=self.sha, as_of_month=pd.Timestamp(self.months[at])))


def fit_with_kept(prod: pd.DataFrame, kept: pd.DataFrame, fit_config: FitConfig,
                  as_of: pd.Timestamp) -> tuple[pd.DataFrame, int, int]:
    """A batch's fit table, as :func:`~basinlab.decline.fitting.fit_wells` of its rows up to ``as_of``:
    the ``kept`` fits (:meth:`_FitCache.kept`) for their wells, fresh fits for the others. Returns the
    table and the wells refit and kept."""
    rows, _ = clean_production(prod)
    rows = rows[rows["production_month"] < as_of + pd.offsets.MonthBegin(1)]
    todo = rows[~rows["well_id"].isin(set(kept["well_id"]))] if len(kept) else rows
    fresh = fit_wells(todo, fit_config)
    refit, reused = int(todo["well_id"].nunique()), int(kept["well_id"].nunique()) if len(kept) else 0
    if not len(kept):
        return fresh, refit, reused
    for c in fresh.columns:
        if len(fresh) and kept[c].dtype != fresh[c].dtype:
            kept[c] = kept[c].astype(fresh[c].dtype)
    fit = pd.concat([fresh, kept], ignore_index=True) if len(fresh) else kept
    rank = {p: i for i, p in enumerate(fit_config.phases)}
    fit["_o"] = fit["phase"].map(rank)
    return fit.sort_values(["well_id", "_o"], kind="stable").drop(columns="_o").reset_index(drop=True), refit, reused


class _Done:
    """A finished job, as :meth:`BatchPool.submit` returns one: a model kept from an earlier run."""

    def __init__(self, value):
        self._value = value

    def result(self):
        return self._value


class _ModelCache:
    """ML trendline models earlier runs trained (``marts.ml_trendline_models``), found by what they were
    trained on (:func:`~basinlab.decline.ml.inputs_sha256`).

    Training is deterministic: a model is a function of its training rows, phase, as-of month, seed,
    training code and scikit-learn's version, all in the hash. As of the lookback's cut a monthly run
    finds the models the run of that month trained (two of its four trainings, whatever the number of
    wells: training reads a bounded sample); a rerun of a month finds all four. ``refit_all`` retrains.
    A stored model that cannot be read back is trained again (logged): ML is an option, never a run
    stopper. The table keeps the models as of the months from the cut on (:meth:`reset`), like
    :class:`_FitCache`. Models are stored pickled: the warehouse is basinlab's own file, written by its
    runs only.
    """

    def __init__(self, con, refit_all: bool, months: list, keep_from):
        self.con, self.months, self.keep_from = con, list(months), keep_from
        self._usable = set(TABLE_SCHEMAS[MODELS_TABLE]) <= set(warehouse.table_columns(con, MODELS_TABLE))
        self.prev: dict[tuple, tuple[str, bytes]] = {}
        if self._usable and not refit_all:
            rows = con.execute(f"select as_of_month, phase, inputs_sha256, model_pickle from {MODELS_TABLE} "
                               "where list_contains(?::date[], as_of_month)", [self.months]).fetchall()
            self.prev = {(a, ph): (sha, bytes(blob)) for a, ph, sha, blob in rows if blob is not None}
        self.trained = self.reused = 0

    def reset(self) -> None:
        """Keep only the models later runs can use: as of the months from this run's cut on, except the
        months this run trains as of (it stores them again). A table of an older layout is replaced."""
        if not self._usable:
            _create_table(self.con, MODELS_TABLE)
            return
        self.con.execute(f"delete from {MODELS_TABLE} where as_of_month < ?::date "
                         "or list_contains(?::date[], as_of_month)", [self.keep_from, self.months])

    def kept(self, when: pd.Timestamp, phase: str, sha: str):
        """The model an earlier run trained as of ``when`` on the inputs hashed ``sha`` (None: train it)."""
        found = self.prev.get((when.date(), phase))
        if found is None or found[0] != sha:
            return None
        try:
            model = pickle.loads(found[1])  # noqa: S301 - basinlab's own warehouse, written by its runs
        except Exception as exc:  # noqa: BLE001 - a model that cannot be read back is trained again
            log.warning("the stored %s trendline model as of %s cannot be read back (%s): training it again",
                        phase, when.date(), exc)
            return None
        return model if isinstance(model, ml.TrendlineModel) else None

    def store(self, when: pd.Timestamp, phase: str, sha: str, model, kept: bool) -> None:
        """Record the model of ``phase`` as of ``when`` (None: nothing to record) and count it."""
        if model is None:
            return
        if kept:
            self.reused += 1
        else:
            self.trained += 1
        self.con.execute(f"delete from {MODELS_TABLE} where phase = ? and as_of_month = ?::date",
                         [phase, when.date()])
        self.con.execute(
            f"insert into {MODELS_TABLE} (phase, as_of_month, inputs_sha256, model_version, trained_wells, "
            "training_rows, model_pickle) values (?, ?::date, ?, ?, ?, ?, ?)",
            [phase, when.date(), sha, model.version, int(model.trained_wells), int(model.training_rows),
             pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL)])


def _has_table(con, relation: str) -> bool:
    schema, name = relation.split(".", 1)
    return bool(con.execute("select count(*) from information_schema.tables where table_schema = ? and "
                            "table_name = ? and table_catalog = current_database()", [schema, name]).fetchone()[0])


def _key_sample(keys: np.ndarray, limit: int) -> np.ndarray:
    """Indices of at most ``limit`` rows: those with the smallest keys (a fixed sample, any batch size)."""
    if len(keys) <= limit:
        return np.arange(len(keys))
    return np.sort(np.argsort(keys, kind="stable")[:limit])


def fit_warehouse(con: duckdb.DuckDBPyConnection, *, run_id: str | None = None, config: FitConfig | None = None,
                  type_curve_group: str = "field", analogs: bool = True,
                  inactive_months: int = DEFAULT_INACTIVE_MONTHS, rebuild_models: bool = True,
                  month: str | None = None, forecast_config: ForecastConfig | None = None,
                  lookback: bool = True, economic_limits: bool = True, ml_trendlines: bool = True,
                  progress: Callable[[str], None] | None = None,
                  batch_wells: int | None = None, refit_all: bool = False,
                  workers: int | None = None, lookback_wells: int = LOOKBACK_WELLS) -> DeclineStepResult:
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
    lookback_wells : int
        Wells the lookback backtests at most (default :data:`LOOKBACK_WELLS`): with more wells having
        production by the cut, a fixed sample of them (:func:`lookback_sample`; the summary says how many
        of how many), and only they are fitted as of the cut.
    economic_limits : bool
        Limits per well from LOE and prices where the warehouse has them (:mod:`.economics`).
    ml_trendlines : bool
        Train the ML trendline model (:mod:`.ml`) on long-history wells for the young ones; the
        lookback keeps, for short histories, whichever of analog shape and ML trendline erred less.
    analogs : bool
        Short histories take the field's median shape; ``False`` leaves them unforecast.
    rebuild_models : bool
        Rebuild the SQL models downstream of the decline tables (``dim_wells``, …).
    batch_wells : int, optional
        Wells per batch (default :data:`DEFAULT_BATCH_WELLS`); memory grows with it, results do not
        change with it.
    refit_all : bool
        Refit every well. By default a well whose history up to the month is the one its stored fit
        was made from (``marts.decline_fits``: same fingerprint, same fit configuration) keeps that
        fit; its forecast is anchored and rolled forward to the month as usual (:class:`_FitCache`).
    """
    say = progress or (lambda _m: None)
    secs: dict[str, float] = {}
    n_batch = int(batch_wells or DEFAULT_BATCH_WELLS)
    if n_batch < 1:
        raise ValueError(f"batch_wells must be >= 1, got {batch_wells!r}")
    n_workers = default_workers() if workers is None else int(workers)
    if n_workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers!r}")
    if isinstance(lookback_wells, bool) or not isinstance(lookback_wells, (int, np.integer)) or lookback_wells < 1:
        raise ValueError(f"lookback_wells must be a whole number >= 1, got {lookback_wells!r}")
    fcfg = forecast_config or ForecastConfig()
    fcfg = replace(fcfg, fit=config or fcfg.fit, inactive_months=inactive_months, group_by=type_curve_group)
    scratch = _Scratch(con)
    try:
        return _fit_warehouse(con, scratch, run_id=run_id, fcfg=fcfg, analogs=analogs, rebuild_models=rebuild_models,
                              month=month, lookback=lookback, economic_limits=economic_limits,
                              ml_trendlines=ml_trendlines, say=say, secs=secs, n_batch=n_batch,
                              refit_all=refit_all, n_workers=n_workers, lookback_wells=int(lookback_wells))
    finally:
        scratch.close()


def _fit_warehouse(con, scratch: _Scratch, *, run_id, fcfg: ForecastConfig, analogs: bool, rebuild_models: bool,
                   month, lookback: bool, economic_limits: bool, ml_trendlines: bool, say, secs, n_batch: int,
                   refit_all: bool = False, n_workers: int = 1,
                   lookback_wells: int = LOOKBACK_WELLS) -> DeclineStepResult:
    """The step's stages in order: read and plan the batches, fit (pass A), lookback (pass B), forecast
    (pass C), type curves and bands, backtest tables, downstream models and the result."""
    t = time.perf_counter()
    as_of = _as_of_month(con, month)
    for table in (PARAMS_TABLE, FORECAST_TABLE, ML_TABLE):
        _create_table(con, table)
    if as_of is None:
        return _nothing_to_forecast(con, run_id, rebuild_models, say, secs)
    cut = as_of - pd.DateOffset(months=LOOKBACK_MONTHS)
    run = _plan_run(con, scratch, fcfg, as_of, cut if lookback else None, n_batch, refit_all, ml_trendlines, say,
                    secs, t, n_workers)
    run.limits_t = _limits_table(run, economic_limits, lookback)
    ctx_now, ctx_cut, do_lookback = _fit_pass(run, fcfg, cut, lookback, refit_all, lookback_wells)
    bt = None
    if do_lookback:
        bt, fcfg = _lookback_pass(run, fcfg, ctx_cut, cut)
    band_acc, counts = _forecast_pass(run, fcfg, ctx_now, analogs)
    tc, bands = _type_curves_and_bands(run, band_acc, counts.fc_rows)
    _write_backtest(con, bt, secs)
    if rebuild_models:
        _rebuild(con, run_id, say, secs)
    result = DeclineStepResult(con, tc, secs, bands, bt, as_of, int(run.n_wells), len(run.batches))
    result.wells_refit, result.wells_reused = run.cache.refit, run.cache.reused
    result.cut_fits_refit, result.cut_fits_reused = run.cache.cut_refit, run.cache.cut_reused
    result.ml_models_trained, result.ml_models_reused = run.models.trained, run.models.reused
    say(f"done in {sum(secs.values()):,.0f} s: " + ", ".join(f"{stage} {s:,.1f} s" for stage, s in secs.items()))
    return result


def _as_of_month(con, month: str | None) -> pd.Timestamp | None:
    """The month the step forecasts as of: ``month`` when given, else the latest month of the production
    (``None`` when there is none), as the first day of its month."""
    if month:
        as_of = pd.Timestamp(config_month(month))
    else:
        latest = con.execute("select max(production_month) from staging.stg_production").fetchone()[0]
        as_of = pd.Timestamp(latest) if latest is not None else None
    return as_of.to_period("M").to_timestamp() if as_of is not None else None


def _nothing_to_forecast(con, run_id, rebuild_models: bool, say, secs) -> DeclineStepResult:
    """No production at all: every table of the step is created empty with its declared schema, the
    downstream models are rebuilt (when asked) and the result says so."""
    _create_table(con, FITS_TABLE)
    _create_table(con, MODELS_TABLE)
    for table in (TYPE_CURVES_TABLE, BANDS_TABLE, BACKTEST_TABLE, BACKTEST_SUMMARY_TABLE, LOOKBACK_TABLE):
        _create_table(con, table)
    say("no production: nothing to forecast")
    if rebuild_models:
        _rebuild(con, run_id, say, secs)
    return DeclineStepResult(con, pd.DataFrame(columns=list(TYPE_CURVE_COLUMNS)), secs, None, None, None)


@dataclass
class _Run:
    """What every stage of one run shares: the connection and scratch space, the as-of month, the
    scratch copies of the production (``prod_t``) and header (``hdr_t``) up to it, the batches of well
    ids, the fit cache and the economic-limit inputs (``limits_t``); its methods read one batch's rows,
    limits and ML trendlines. Progress goes to ``say``, stage durations to ``secs``."""

    con: duckdb.DuckDBPyConnection
    scratch: _Scratch
    say: Callable[[str], None]
    secs: dict
    as_of: pd.Timestamp
    group_by: str
    prod_t: str
    hdr_t: str
    batches: list
    cache: _FitCache
    models: _ModelCache
    n_wells: int
    seed: int
    ml_trendlines: bool
    pool: BatchPool
    limits_t: str | None = None
    training: dict = field(default_factory=dict)   # as-of month -> training jobs per phase (:meth:`start_training`)
    per_month: dict = field(default_factory=dict)  # (what, as-of month) -> every well's rows, read once
    cut_sample: np.ndarray | None = None  # the lookback's wells, sorted (None: every well with rows by the cut)
    cut_wells_total: int = 0              # wells with rows by the cut (what the sample is drawn from)

    def cut_wells(self, lo: str, hi: str) -> np.ndarray | None:
        """The lookback's sampled wells among ``lo`` .. ``hi`` (``None``: no sample, every well)."""
        if self.cut_sample is None:
            return None
        ids = self.cut_sample
        return ids[np.searchsorted(ids, lo, side="left"):np.searchsorted(ids, hi, side="right")]

    def batch_note(self, i: int, what: str, detail: str = "") -> None:
        """Say that batch ``i`` went through stage ``what`` (with ``detail``) when there is more than one batch."""
        if len(self.batches) > 1:
            self.say(f"  {what} batch {i + 1}/{len(self.batches)}{detail}")

    def read_batch(self, lo: str, hi: str) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The production (month order) and header rows of the wells ``lo`` .. ``hi``."""
        prod = self.con.execute(f"select * from {self.prod_t} where well_id between ? and ? "
                                "order by well_id, production_month", [lo, hi]).df()
        prod["production_month"] = pd.to_datetime(prod["production_month"])
        header = self.con.execute(f"select * from {self.hdr_t} where well_id between ? and ? order by well_id",
                                  [lo, hi]).df()
        return prod, header

    def limits_for(self, lo: str, hi: str, when: pd.Timestamp) -> pd.DataFrame | None:
        """The economic limits of the wells ``lo`` .. ``hi`` as of ``when`` (``None``: no limit inputs).
        The inputs of every well as of ``when`` are read in one query, the first time (:func:`_rows_between`)."""
        if self.limits_t is None:
            return None
        if ("limits", when) not in self.per_month:
            self.per_month["limits", when] = self.con.execute(
                f"select * exclude (as_of) from {self.limits_t} where as_of = ?::date order by well_id",
                [when.date()]).df()
        return limits_from_inputs(_rows_between(self.per_month["limits", when], lo, hi))

    def start_training(self, *whens: pd.Timestamp) -> None:
        """Start training the ML trendline models as of each of ``whens``: the training rows are read here,
        each phase's model is fitted in a worker process (:meth:`BatchPool.submit`), so that it trains
        while pass A fits; :meth:`train` collects them."""
        if not self.ml_trendlines:
            return
        for when in whens:
            if when in self.training:
                continue
            try:
                inputs = ml.training_inputs(self.con, when)
                if inputs is None:
                    self.training[when] = None
                    continue
                jobs = {}
                for ph, feats in inputs.items():
                    sha = ml.inputs_sha256(feats, when, ph, seed=self.seed)
                    model = self.models.kept(when, ph, sha)
                    job = _Done(model) if model is not None else self.pool.submit(ml.train_phase, feats, when, ph,
                                                                                   seed=self.seed)
                    jobs[ph] = (job, sha, model is not None)
                self.training[when] = jobs
            except WorkerError:
                raise
            except Exception as exc:  # noqa: BLE001 - ML is an option, never a run stopper
                self.training[when] = exc

    def train(self, when: pd.Timestamp):
        """The ML trendline models trained as of ``when`` on a bounded sample (``None`` when not asked, when
        no well is young enough to use them, or when training fails: ML is an option, never a run stopper)."""
        if not self.ml_trendlines:
            return None
        if when not in self.training:
            self.start_training(when)
        jobs = self.training.pop(when)
        try:
            if isinstance(jobs, Exception):
                raise jobs
            if jobs is None:
                return None
            models = {ph: job.result() for ph, (job, _, _) in jobs.items()}
            for ph, (_, sha, kept) in jobs.items():
                self.models.store(when, ph, sha, models[ph], kept)
            kept_phases = [ph for ph, (_, _, kept) in jobs.items() if kept]
            if kept_phases:
                self.say(f"ML trendlines as of {when:%Y-%m}: kept the {', '.join(kept_phases)} model(s) an earlier "
                         "run trained on the same rows")
            return ml.trained_models(when, models)
        except WorkerError:
            raise
        except Exception as exc:  # noqa: BLE001 - ML is an option, never a run stopper
            log.warning("ML trendlines failed", exc_info=exc)
            self.say(f"ML trendlines not available: {type(exc).__name__}: {exc}")
            return None

    def features(self, models, when: pd.Timestamp, lo: str, hi: str) -> pd.DataFrame | None:
        """The ML features of the young wells ``lo`` .. ``hi`` as of ``when``, for :func:`_predict_trendlines`
        in the batch's task (``None`` without models, or on failure, said)."""
        if models is None:
            return None
        try:
            if ("young", when) not in self.per_month:   # every young well's rows, in one query
                self.per_month["young", when] = ml.young_features(self.con, when)
            return _rows_between(self.per_month["young", when], lo, hi)
        except Exception as exc:  # noqa: BLE001 - ML is an option, never a run stopper
            log.warning("ML trendline features failed", exc_info=True)
            self.ml_failed(f"{type(exc).__name__}: {exc}")
            return None

    def ml_failed(self, error: str | None) -> None:
        """Say that the ML trendlines of a batch are not available (``error``: the task's message)."""
        if error:
            log.warning("ML trendline prediction failed: %s", error)
            self.say(f"ML trendlines not available: {error}")


def _rows_between(rows: pd.DataFrame, lo: str, hi: str) -> pd.DataFrame:
    """The rows of ``rows`` (ordered by ``well_id``) whose well id is in ``lo`` .. ``hi`` (inclusive, the
    order of ``between`` in SQL: code points), renumbered from 0 — what a query of those wells returns."""
    ids = rows["well_id"].to_numpy(dtype=object)
    a, b = np.searchsorted(ids, lo, side="left"), np.searchsorted(ids, hi, side="right")
    return rows.iloc[a:b].reset_index(drop=True)


def lookback_sample(well_ids, limit: int) -> np.ndarray | None:
    """The wells the lookback backtests when more than ``limit`` have production by the cut: the ``limit``
    wells with the smallest MD5 of their id (hex digest of the UTF-8 bytes, as DuckDB's ``md5``; ties by
    id) — a fixed sample whatever the batches, the order of the ids or the run, spread over every field
    and vintage. Returns them sorted by id (code points, as SQL ``order by``), or ``None`` when there are
    at most ``limit`` distinct wells (every well is backtested)."""
    ids = pd.unique(np.asarray(well_ids, dtype=object))
    if len(ids) <= limit:
        return None
    digest = np.array([hashlib.md5(str(w).encode("utf-8")).hexdigest() for w in ids], dtype=object)
    order = np.lexsort((ids.astype(str), digest.astype(str)))
    return np.sort(ids[order[:limit]].astype(object))


def _predict_trendlines(models, features: pd.DataFrame | None) -> tuple[pd.DataFrame | None, str | None]:
    """A batch's ML trendlines from its features (in the batch's task): (trendlines, None), or
    (None, the error) when the prediction fails — ML is an option, never a run stopper."""
    if models is None or features is None:
        return None, None
    try:
        return models.predict(features), None
    except Exception as exc:  # noqa: BLE001
        return None, f"{type(exc).__name__}: {exc}"


def _plan_run(con, scratch: _Scratch, fcfg: ForecastConfig, as_of: pd.Timestamp, cut: pd.Timestamp | None,
              n_batch: int, refit_all: bool, ml_trendlines: bool, say, secs, t: float, n_workers: int = 1) -> _Run:
    """Read and plan: scratch copies of the production up to ``as_of`` and of the header, the batches of
    ``n_batch`` wells, the fit cache (the earlier runs' fits as of the month and the lookback's ``cut``,
    before ``marts.decline_fits`` keeps only what later runs can use), and the figures of what is read."""
    group_by = fcfg.group_by
    prod_t = scratch.table("_bl_decline_prod", """
        select well_id, production_month, days_on, oil_bbl, gas_mcf, water_bbl from staging.stg_production
        where production_month <= ?::date order by well_id, production_month""", [as_of.date()])
    hdr_cols = ", ".join(dict.fromkeys(["well_id", group_by, "field", "basin", "lateral_length_ft"]))
    hdr_t = scratch.table("_bl_decline_header", f"select {hdr_cols} from staging.stg_well_header")
    batches = _well_batches(con, prod_t, n_batch)
    cache = _FitCache(con, scratch, prod_t, fcfg.fit, refit_all, as_of, cut)
    cache.reset()                         # the fits this run may keep are in the cache's scratch copies
    models = _ModelCache(con, refit_all, list(cache.months.values()), cache.keep_from)
    models.reset()                        # the models this run may keep were read
    n_wells, n_rows = con.execute(f"select count(distinct well_id), count(*) from {prod_t}").fetchone()
    secs["read"] = time.perf_counter() - t
    say(f"{n_rows:,} well-months of {n_wells:,} wells up to {as_of:%Y-%m}, in {len(batches)} batch(es) "
        f"of up to {n_batch:,} wells")
    pool = scratch.pool(min(n_workers, len(batches)))
    return _Run(con=con, scratch=scratch, say=say, secs=secs, as_of=as_of, group_by=group_by, prod_t=prod_t, pool=pool,
                hdr_t=hdr_t, batches=batches, cache=cache, models=models, n_wells=n_wells, seed=fcfg.seed,
                ml_trendlines=ml_trendlines)


def _limits_table(run: _Run, economic_limits: bool, lookback: bool) -> str | None:
    """Economic limits: the inputs (LOE, prices) once in SQL as of the month and, for the lookback, as of
    the cut; each batch takes its wells' rows (:meth:`_Run.limits_for`). ``None`` when not asked or when
    the warehouse cannot give them."""
    if not economic_limits:
        return None
    as_of = run.as_of
    cut_dates = [as_of] + ([as_of - pd.DateOffset(months=LOOKBACK_MONTHS)] if lookback else [])
    try:
        return run.scratch.table("_bl_decline_limits", " union all ".join(
            f"select ?::date as as_of, * from ({LIMIT_SQL})" for _ in cut_dates),
            [d for c in cut_dates for d in (c.date(), c.date(), c.date())])
    except duckdb.Error:
        return None


def _fit_pass(run: _Run, fcfg: ForecastConfig, cut: pd.Timestamp, lookback: bool,
              refit_all: bool, lookback_wells: int = LOOKBACK_WELLS
              ) -> tuple[ForecastContext | None, ForecastContext | None, bool]:
    """Pass A: fit every batch as of the month (kept or refit by the cache, stored in ``marts.decline_fits``)
    and, when the lookback runs, as of the cut (the lookback's wells only: :meth:`_Run.cut_wells`;
    :func:`_fit_task`, in the worker processes); the fits go to the scratch folder and the numbers a
    well's forecast takes from the other wells are gathered into the two
    :class:`~basinlab.decline.ForecastContext`. Returns them and whether the lookback runs (asked, and
    there is production up to the cut)."""
    t = time.perf_counter()
    do_lookback = False
    if lookback:
        seen = run.con.execute(f"select distinct well_id from {run.prod_t} where production_month <= ?::date",
                               [cut.date()]).fetchnumpy()["well_id"]
        do_lookback = len(seen) > 0
        run.cut_wells_total = len(seen)
        run.cut_sample = lookback_sample(seen, lookback_wells)
        if run.cut_sample is not None:
            run.say(f"lookback on a fixed sample of {len(run.cut_sample):,} of the {len(seen):,} wells with production "
                    f"by {cut:%Y-%m} (smallest MD5 of the well id; lookback_wells={lookback_wells:,})")
    run.start_training(*([cut] if do_lookback else []), run.as_of)
    basis_now, basis_cut, groups = [], [], []
    # worker processes share the cores: each fits on one thread (the fits do not change with it)
    fit_config = replace(fcfg.fit, threads=1) if run.pool.workers > 1 else fcfg.fit

    def calls():
        for i, (lo, hi) in enumerate(run.batches):
            prod, header = run.read_batch(lo, hi)
            groups.append(header[["well_id", run.group_by]] if run.group_by in header else header[["well_id"]])
            yield _fit_task, (prod, header, run.cache.kept(lo, hi),
                              run.cache.kept(lo, hi, "cut") if do_lookback else None,
                              fit_config, fcfg, run.as_of, cut if do_lookback else None, run.scratch.folder, i,
                              run.cut_wells(lo, hi))

    for i, (fit, fit_cut, now, at_cut, tally) in enumerate(run.pool.ordered(calls())):
        lo, hi = run.batches[i]
        run.cache.count(*tally)
        run.cache.store(fit, lo, hi)
        run.cache.store(fit_cut, lo, hi, "cut")
        basis_now += now
        basis_cut += at_cut
        run.batch_note(i, "fitted", f" ({lo} .. {hi})")
    header_groups = pd.concat(groups, ignore_index=True) if groups else None
    ctx_now = ForecastContext.from_basis(pd.concat(basis_now, ignore_index=True), header_groups, fcfg) \
        if basis_now else None
    ctx_cut = ForecastContext.from_basis(pd.concat(basis_cut, ignore_index=True), header_groups, fcfg) \
        if basis_cut else None
    run.secs["fit"] = time.perf_counter() - t
    _say_fits(run, refit_all)
    return ctx_now, ctx_cut, do_lookback


def _fit_task(prod: pd.DataFrame, header: pd.DataFrame, kept: pd.DataFrame, kept_cut: pd.DataFrame | None,
              fit_config: FitConfig, fcfg: ForecastConfig, as_of: pd.Timestamp, cut: pd.Timestamp | None,
              folder: Path, i: int, cut_wells: np.ndarray | None = None):
    """One batch of pass A, where the batch is computed (a worker process): fit it as of the month (the
    ``kept`` fits for their wells, :func:`fit_with_kept`) and, unless ``cut`` is ``None``, as of the cut
    (the ``kept_cut`` fits for theirs; only the wells of ``cut_wells``, the lookback's sample, unless it
    is ``None``); save both prepared fits, and the batch's rows (``prod``,
    ``header``: the later passes' tasks load them), to the scratch ``folder``. Returns the batch's fit
    tables as of the month and the cut (for ``marts.decline_fits``; ``None`` without a cut), its
    forecast-context bases as of the month and the cut (empty lists when nothing was fitted) and the
    tally: wells refit and kept as of the month, then as of the cut."""
    _save(folder, f"rows-{i}", (prod, header))
    fit, refit, reused = fit_with_kept(prod, kept, fit_config, as_of)
    fcfg = replace(fcfg, fit=fit_config)
    basis_now, basis_cut = [], []
    st = prepare(prod, as_of=as_of, config=fcfg, fitted=fit)
    if not isinstance(st, ForecastResult):
        _save(folder, f"now-{i}", st.fit)
        basis_now.append(ForecastContext.basis(st.params))
    fit_cut, cut_refit, cut_reused = None, 0, 0
    if cut is not None:
        kept_cut = kept_cut if kept_cut is not None else pd.DataFrame()
        if cut_wells is not None:
            prod = prod[prod["well_id"].isin(cut_wells)]
            kept_cut = kept_cut[kept_cut["well_id"].isin(cut_wells)] if len(kept_cut) else kept_cut
        fit_cut, cut_refit, cut_reused = fit_with_kept(prod, kept_cut, fit_config, cut)
        st = prepare(prod[prod["production_month"] <= cut], as_of=cut, config=fcfg, fitted=fit_cut)
        if not isinstance(st, ForecastResult):
            _save(folder, f"cut-{i}", st.fit)
            basis_cut.append(ForecastContext.basis(st.params))
    return fit, fit_cut, basis_now, basis_cut, (refit, reused, cut_refit, cut_reused)


def _say_fits(run: _Run, refit_all: bool) -> None:
    """The incremental keep-vs-refit tally of pass A, and how many wells have economic limits."""
    c = run.cache
    run.say(f"refit {c.refit:,} well(s) whose history changed; kept the fits of {c.reused:,} "
            + ("(refit all asked)" if refit_all else "(history unchanged since the last fit)"))
    if c.cut_refit or c.cut_reused:
        run.say(f"as of the lookback's cut: kept {c.cut_reused:,} fit(s) an earlier run made, refit {c.cut_refit:,} "
                "(no earlier fit of the same history" + (", or refit all asked)" if refit_all else ")"))
    if run.limits_t is not None:
        n_limits = int(run.con.execute(f"select count(distinct well_id) from {run.limits_t} where as_of = ?::date",
                                       [run.as_of.date()]).fetchone()[0])
        if n_limits:
            run.say(f"economic limits from LOE and prices for {n_limits:,} wells")


def _lookback_pass(run: _Run, fcfg: ForecastConfig, ctx_cut: ForecastContext | None,
                   cut: pd.Timestamp) -> tuple[StepBacktest | None, ForecastConfig]:
    """Pass B: last year's forecast against this year's actuals (:func:`_lookback`), which also picks the
    short-history method and calibrates the P10/P90. A failure is reported and leaves no backtest and
    ``fcfg`` unchanged: the lookback is a report figure, never a run stopper."""
    t = time.perf_counter()
    bt = None
    try:
        bt, fcfg = _lookback(run, run.train(cut), ctx_cut, fcfg, cut)
    except WorkerError:
        raise                                 # the machine failed, not the lookback: the forecast would too
    except Exception as exc:  # noqa: BLE001 - the lookback is a report figure, never a run stopper
        log.warning("lookback backtest failed", exc_info=True)
        run.say(f"lookback backtest not available: {type(exc).__name__}: {exc}")
        bt = None
    run.secs["lookback"] = time.perf_counter() - t
    return bt, fcfg


@dataclass
class _Counts:
    """Rows written by pass C: well-phases, forecast rows, well-phases with a forecast, ML trendline rows."""

    params: int = 0
    fc_rows: int = 0
    forecast: int = 0
    ml: int = 0


def _forecast_pass(run: _Run, fcfg: ForecastConfig, ctx_now: ForecastContext | None,
                   analogs: bool) -> tuple[dict, _Counts]:
    """Pass C: forecast every batch as of the month from its saved fit (:func:`_forecast_task`, in the
    worker processes) and append its rows to the tables in batch order; the field bands' sampled paths
    add up batch by batch. Returns the bands' accumulators and the counts."""
    t = time.perf_counter()
    if not analogs:
        fcfg = replace(fcfg, short_history="analog")
    models_now = run.train(run.as_of)
    band_acc = {ph: _GroupPaths() for ph in BAND_PHASES}
    counts = _Counts()

    def calls():
        for i, (lo, hi) in enumerate(run.batches):
            yield _forecast_task, (run.scratch.saved(f"rows-{i}"), run.scratch.saved(f"now-{i}"), models_now,
                                   run.features(models_now, run.as_of, lo, hi), run.limits_for(lo, hi, run.as_of),
                                   ctx_now, fcfg, run.as_of, analogs, run.group_by)

    for i, (params, fc, tl, bands, error) in enumerate(run.pool.ordered(calls())):
        run.ml_failed(error)
        for ph, part in bands.items():
            band_acc[ph].merge(part)
        _write_batch(run.con, counts, params, fc, tl)
        run.batch_note(i, "forecast", f": {len(params):,} well-phases, {len(fc):,} rows")
    run.secs["forecast"] = time.perf_counter() - t
    run.say(f"forecast {counts.forecast:,} of {counts.params:,} well-phases as of {run.as_of:%Y-%m}")
    return band_acc, counts


def _forecast_task(rows: tuple | _Saved, fit: pd.DataFrame | _Saved | None, models,
                   features: pd.DataFrame | None, limits: pd.DataFrame | None, ctx: ForecastContext | None,
                   fcfg: ForecastConfig, as_of: pd.Timestamp, analogs: bool, group_by: str):
    """One batch of pass C, where the batch is computed (a worker process): the forecast as of the month
    from the fit saved in pass A (:func:`~basinlab.decline.engine.finish` with the context, the batch's
    economic limits and ML trendlines) and its part of the field bands. ``rows`` is the batch's
    (production, header) and ``fit`` its fit as of the month, or where pass A saved them. Returns the
    params, the forecast rows and the trendlines (Arrow tables where they can be: :func:`_as_arrow`),
    the bands' parts per phase and the ML error (``None`` when none)."""
    (prod, header), fit = _loaded(rows), _loaded(fit)
    st = prepare(prod, as_of=as_of, config=fcfg, fitted=fit)
    tl, error = _predict_trendlines(models, features)
    if isinstance(st, ForecastResult):
        res = st
    else:
        res = finish(st, header, config=fcfg, context=ctx, well_limits=limits, trendlines=tl,
                     monthly_months=STORED_MONTHLY_MONTHS)
    params, fc, rows = res.params, res.forecast, res.rows
    if not analogs and len(params):
        fc, rows = _drop_analogs(params, fc, rows)
    bands = _band_parts(res, params, fc, rows, header, group_by)
    if tl is not None and len(tl):
        tl = tl[tl["months_ahead"] <= ML_STORED_MONTHS]
    return params, _as_arrow(fc), _as_arrow(tl), bands, error


def _drop_analogs(params: pd.DataFrame, fc: pd.DataFrame, rows) -> tuple[pd.DataFrame, np.ndarray | None]:
    """``analogs=False``: the analog-shape well-phases lose their forecast (status ``insufficient_history``,
    ``params`` changed in place) and their forecast rows; returns the forecast rows and row index kept."""
    drop = (params["method"] == "analog").to_numpy()
    params.loc[drop, ["method", "remaining", "eur"]] = [None, np.nan, np.nan]
    params.loc[drop, "status"] = "insufficient_history"
    if rows is not None and len(fc):
        keep = ~drop[rows]
        fc, rows = fc[keep].reset_index(drop=True), rows[keep]
    return fc, rows


def _write_batch(con, counts: _Counts, params: pd.DataFrame, fc: pd.DataFrame | pa.Table,
                 tl: pd.DataFrame | pa.Table | None) -> None:
    """Append a batch's well-phases, forecast rows and ML trendlines (their first
    :data:`ML_STORED_MONTHS`, as :func:`_forecast_task` cut them) to the tables and add them to ``counts``."""
    counts.params += _append(con, PARAMS_TABLE, params)
    counts.fc_rows += _append(con, FORECAST_TABLE, fc)
    counts.forecast += int(params["method"].notna().sum()) if len(params) else 0
    counts.ml += _append(con, ML_TABLE, tl)


def _type_curves_and_bands(run: _Run, band_acc: dict, n_fc_rows: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The P10/P50/P90 type curves over all wells (in SQL) and the field forecast bands from the summed
    paths, each replacing its table. Returns both."""
    t = time.perf_counter()
    tc = type_curves_sql(run.con, f"select * from {run.prod_t}", f"select * from {run.hdr_t}",
                         group_by=run.group_by)
    _replace_table(run.con, TYPE_CURVES_TABLE, tc)
    bands = _bands_frame(band_acc, run.as_of)
    _replace_table(run.con, BANDS_TABLE, bands)
    run.secs["type_curves"] = time.perf_counter() - t
    run.say(f"wrote {n_fc_rows:,} forecast rows (monthly for {STORED_MONTHLY_MONTHS} months, then yearly); "
            f"{tc['group'].nunique() if len(tc) else 0} type-curve groups")
    return tc, bands


def _write_backtest(con, bt: StepBacktest | None, secs: dict) -> None:
    """Replace the backtest, backtest-summary and lookback tables with the lookback's (empty without one)."""
    t = time.perf_counter()
    _replace_table(con, BACKTEST_TABLE, bt.wells if bt is not None else pd.DataFrame())
    _replace_table(con, BACKTEST_SUMMARY_TABLE, bt.summary if bt is not None else pd.DataFrame())
    _replace_table(con, LOOKBACK_TABLE, bt.lookback if bt is not None else pd.DataFrame())
    secs["write"] = time.perf_counter() - t


def _rebuild(con, run_id, say, secs) -> None:
    from .. import transform

    t = time.perf_counter()
    transform.run_models(con, run_id=run_id, select="decline_params+ decline_forecast+", progress=say)
    secs["models"] = time.perf_counter() - t


def _band_parts(res: ForecastResult, params: pd.DataFrame, fc: pd.DataFrame, rows, header: pd.DataFrame,
                group_by: str, months: int = BAND_MONTHS) -> dict[str, list]:
    """A batch's sampled monthly paths summed per field, per phase of :data:`BAND_PHASES`
    (:meth:`_GroupPaths.batch`; merged into the step's accumulators batch by batch)."""
    out: dict[str, list] = {}
    if fc is None or not len(fc) or res.draws is None or rows is None:
        return out
    z1, z2 = res.draws
    grp = (header.drop_duplicates("well_id").set_index("well_id")[group_by]
           if header is not None and group_by in header.columns else pd.Series(dtype=object))
    scale = float(params["uncertainty_scale"].iloc[0])
    k_all = fc["months_ahead"].to_numpy(np.int64)
    phase_all = params["phase"].to_numpy(dtype=object)[rows]
    for ph in BAND_PHASES:
        sel = (phase_all == ph) & (k_all <= months)
        if not sel.any():
            continue
        r = rows[sel]
        uniq, pos = np.unique(r, return_inverse=True)
        mat = np.zeros((len(uniq), months))
        np.add.at(mat, (pos, k_all[sel] - 1), fc["volume"].to_numpy(np.float64)[sel])
        names = params["well_id"].iloc[uniq].map(grp).astype(object).fillna("(unknown)").astype(str).to_numpy()
        out[ph] = _GroupPaths.batch(names, mat, params["sigma_used"].to_numpy(np.float64)[uniq], z1[uniq], z2[uniq],
                                    scale)
    return out


def _bands_frame(acc: dict, as_of: pd.Timestamp, months: int = BAND_MONTHS) -> pd.DataFrame:
    """``marts.decline_forecast_bands`` from the summed paths: P10/P50/P90 of each group's (and the
    company's, ``(all)``) monthly volume — the wells' draws summed, never the sum of their P10s."""
    out = []
    month_idx = pd.date_range(as_of + pd.offsets.MonthBegin(1), periods=months, freq="MS")
    for ph, paths in acc.items():
        names, q10, mid, q90, mean, counts = paths.quantiles()
        for i, name in enumerate(names):
            out.append(pd.DataFrame({"group": name, "phase": ph, "month": month_idx, "p10": q10[i], "p50": mid[i],
                                     "p90": q90[i], "mean": mean[i], "wells": counts[i],
                                     "units": "bbl" if ph != "gas" else "mcf"}))
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame(columns=list(TABLE_SCHEMAS[BANDS_TABLE]))


def _lookback(run: _Run, models, ctx: ForecastContext, fcfg: ForecastConfig, cut: pd.Timestamp,
              horizon: int = LOOKBACK_MONTHS, phase: str = "oil") -> tuple[StepBacktest, ForecastConfig]:
    """:func:`~basinlab.decline.backtest` of the forecast made at ``cut``, batch by batch (:func:`_lookback_task`,
    in the worker processes); returns it and the forecast config with the short-history method and the
    P10/P90 scale it chose."""
    say = run.say
    variants = {"analog": _Lookback()}
    if models is not None:
        variants["ml_trendline"] = _Lookback()
    names = tuple(variants)

    def calls():
        for i, (lo, hi) in enumerate(run.batches):
            yield _lookback_task, (run.scratch.saved(f"rows-{i}"), run.scratch.saved(f"cut-{i}"), models,
                                   run.features(models, cut, lo, hi), run.limits_for(lo, hi, cut), ctx, fcfg, cut,
                                   run.as_of, horizon, phase, names, run.cut_wells(lo, hi))

    for i, (evaluated, n_ml, error) in enumerate(run.pool.ordered(calls())):
        run.ml_failed(error)
        for name, b in zip(names, evaluated):
            variants[name].add(b)
            if name == "ml_trendline":
                variants[name].ml_rows += n_ml
        if len(run.batches) > 1:
            say(f"  lookback batch {i + 1}/{len(run.batches)}")
    if "ml_trendline" in variants and variants["ml_trendline"].ml_rows == 0:
        del variants["ml_trendline"]          # no young well got a trendline: as if it were not trained
    evaluated = {name: acc.frame() for name, acc in variants.items()}
    short_ape = {name: _short_median(w) for name, w in evaluated.items()}
    choice = _short_history_choice(short_ape)
    wells = evaluated[choice]
    acc = variants[choice]
    summary = _summary(wells, cut, horizon, phase, fcfg)
    summary["method_set"] = f"short history: {choice}"
    summary["short_history_wells"] = int(wells["method"].isin(["analog", "ml_trendline"]).sum())
    summary["short_history_method"] = choice
    summary["short_history_median_ape_analog"] = short_ape.get("analog", np.nan)
    summary["short_history_median_ape_ml"] = short_ape.get("ml_trendline", np.nan)
    cal = _calibrated_scale(acc, horizon, fcfg)
    summary["calibrated_scale"] = cal
    summary["wells_with_history"] = run.cut_wells_total
    summary["wells_in_sample"] = run.cut_wells_total if run.cut_sample is None else len(run.cut_sample)
    summary = summary[list(SUMMARY_COLUMNS)]
    lookback = _lookback_frame(acc, wells, cut, horizon, phase)
    bt = StepBacktest(wells.reset_index(drop=True), summary, lookback)
    f = bt.figures()
    fcfg = replace(fcfg, short_history=f["short_history_method"])
    if cal is not None and np.isfinite(cal):
        fcfg = replace(fcfg, uncertainty_scale=float(np.clip(cal, 0.25, 8.0)))
    say(f"lookback {cut:%Y-%m} + {horizon} months: median error {_pct(f['median_ape'])}, "
        f"aggregate {_pct(f['aggregate_error'], signed=True)}, {f['wells_forecast']} of "
        f"{f['wells_producing']} producing wells forecast; P10-P90 scale {fcfg.uncertainty_scale:.2f}")
    return bt, fcfg


def _lookback_task(rows: tuple | _Saved, fit: pd.DataFrame | _Saved | None, models,
                   features: pd.DataFrame | None, limits: pd.DataFrame | None, ctx: ForecastContext,
                   fcfg: ForecastConfig, cut: pd.Timestamp, as_of: pd.Timestamp, horizon: int, phase: str,
                   names: tuple[str, ...], cut_wells: np.ndarray | None = None
                   ) -> tuple[list[_LookbackBatch], int, str | None]:
    """One batch of pass B, where the batch is computed (a worker process): its forecast as of the cut
    (from the fit saved in pass A) with each short-history method of ``names``, scored against the
    months after the cut — of the wells of ``cut_wells`` (the lookback's sample) unless it is ``None``.
    ``rows`` is the batch's (production, header) and ``fit`` its fit as of the cut, or where pass A
    saved them. Returns one :class:`_LookbackBatch` per method, the ML trendline rows and the ML error
    (``None`` when none)."""
    (prod, header), fit = _loaded(rows), _loaded(fit)
    if cut_wells is not None:
        prod = prod[prod["well_id"].isin(cut_wells)]
        features = features[features["well_id"].isin(cut_wells)] if features is not None else None
    prod = prod[prod["production_month"] <= as_of]
    seen = prod[prod["production_month"] <= cut]
    fcfg, fit = _scored_phases_only(fcfg, fit, phase)
    st = prepare(seen, as_of=cut, config=fcfg, fitted=fit) if fit is not None else \
        prepare(seen, as_of=cut, config=fcfg)
    tl, error = _predict_trendlines(models, features)
    out, base = [], None
    for name in names:
        cfg = replace(fcfg, short_history=name)
        if base is None or name != "ml_trendline":
            ev = _evaluate(seen, prod, header, cut, horizon, phase, cfg, limits, tl, stage=st, context=ctx)
            base = ev if base is None else base
        else:
            ev = _with_trendlines(base, seen, prod, header, fit, tl, cut, horizon, phase, cfg, limits, ctx)
        pp, monthly, _res, vol, s, z1, z2, actual = ev
        out.append(_LookbackBatch.of(pp, monthly, vol, s, z1, z2, actual, phase, cfg.uncertainty_scale))
    return out, 0 if tl is None else len(tl), error


#: the phases a well's primary phase is chosen from; every other phase is only ever forecast by ratio to it
PRIMARY_PHASES = ("oil", "gas")


def _scored_phases_only(fcfg: ForecastConfig, fit: pd.DataFrame | None,
                        phase: str) -> tuple[ForecastConfig, pd.DataFrame | None]:
    """The lookback scores one primary phase, whose forecast never reads a secondary-only phase (water:
    the primary phase is chosen from oil and gas, the residual scale of the context and the draws are the
    same, water is forecast by ratio to the primary): the config and fit of the primary phases alone, so
    the cut's forecast skips water. Unchanged when ``phase`` is not a primary phase."""
    keep = tuple(p for p in fcfg.fit.phases if p in PRIMARY_PHASES)
    if phase not in keep or len(keep) == len(fcfg.fit.phases):
        return fcfg, fit
    fcfg = replace(fcfg, fit=replace(fcfg.fit, phases=keep))
    return fcfg, (fit[fit["phase"].isin(keep)].reset_index(drop=True) if fit is not None else None)


def _with_trendlines(base: tuple, seen: pd.DataFrame, prod: pd.DataFrame, header: pd.DataFrame,
                     fit: pd.DataFrame | None, tl: pd.DataFrame | None, cut: pd.Timestamp, horizon: int, phase: str,
                     cfg: ForecastConfig, limits: pd.DataFrame | None, ctx: ForecastContext) -> tuple:
    """The ML-trendline lookback of a batch from its analog-shape one (``base``, :func:`_evaluate`'s
    result): only the wells with a trendline can differ, so only they are forecast again, and their rows
    take the place of theirs in ``base``, in the same order (a well's forecast depends on its own rows and
    the context only: the result is the one of forecasting every well again)."""
    young = pd.unique(tl["well_id"].to_numpy(dtype=object)) if tl is not None and len(tl) else []
    if not len(young):
        return base                              # no trendline: every well keeps its analog forecast
    pp_b, monthly_b, res_b, vol_b, s_b, z1_b, z2_b, a_b = base
    take = set(young)
    sub = seen["well_id"].isin(take)
    st = prepare(seen[sub], as_of=cut, config=cfg, fitted=fit[fit["well_id"].isin(take)] if fit is not None else None)
    pp_y, monthly_y, _res, vol_y, s_y, z1_y, z2_y, a_y = _evaluate(
        seen[sub], prod[prod["well_id"].isin(take)], header, cut, horizon, phase, cfg, limits, tl, stage=st,
        context=ctx)
    mine = pp_b["well_id"].isin(take).to_numpy()
    at = np.flatnonzero(mine)
    if len(at) != len(pp_y) or not np.array_equal(pp_b["well_id"].to_numpy(dtype=object)[at],
                                                  pp_y["well_id"].to_numpy(dtype=object)):
        raise RuntimeError("lookback: the wells with a trendline are not the same producing wells alone")
    order = np.argsort(np.concatenate([np.flatnonzero(~mine), at]), kind="stable")
    pp = pd.concat([pp_b[~mine], pp_y], ignore_index=True).iloc[order].reset_index(drop=True)
    pp = pp.drop(columns="index")                # row numbers of two different forecasts: meaningless here

    def put(b: np.ndarray, y: np.ndarray) -> np.ndarray:
        out = b.copy()
        out[at] = y
        return out

    monthly = pd.concat([monthly_b[~monthly_b["well_id"].isin(take)], monthly_y], ignore_index=True)
    monthly = monthly.sort_values(["well_id", "month"], kind="stable").reset_index(drop=True)
    return (pp, monthly, None, put(vol_b, vol_y), put(s_b, s_y), put(z1_b, z1_y), put(z2_b, z2_y), put(a_b, a_y))


def _short_history_choice(short_ape: dict[str, float]) -> str:
    """The short-history method of the forecast: the ML trendline when its median error over the young
    wells is finite and below the analog shape's (or the analog shape's is not finite), else the analog."""
    if "ml_trendline" in short_ape and np.isfinite(short_ape["ml_trendline"]) and (
            not np.isfinite(short_ape["analog"]) or short_ape["ml_trendline"] < short_ape["analog"]):
        return "ml_trendline"
    return "analog"


def _calibrated_scale(acc: _Lookback, horizon: int, fcfg: ForecastConfig) -> float:
    """The P10-P90 scale that makes the lookback's sampled ranges cover :data:`TARGET_COVERAGE` of the wells'
    actual volumes (on a fixed sample of at most :data:`CALIBRATION_WELLS`); NaN with fewer than 10 wells."""
    vol, s, keys, actual = acc.arrays(horizon)
    cal = np.nan
    has = np.flatnonzero(np.isfinite(actual) & (vol.sum(axis=1) > 0))
    if len(has) >= 10:
        sample = has[_key_sample(keys[has], CALIBRATION_WELLS)]
        z1, z2 = unc.keyed_draws(keys[sample], fcfg.samples, fcfg.seed)
        cal = unc.calibrate_scale(actual[sample], vol[sample], s[sample], z1, z2, TARGET_COVERAGE)
    return cal


def _lookback_frame(acc: _Lookback, wells: pd.DataFrame, cut: pd.Timestamp, horizon: int, phase: str) -> pd.DataFrame:
    """Per group (field) and month of the horizon: actual, forecast P50 and the P10/P90 of the group's total
    (sampled per well, then summed), plus the company (``(all)``): :func:`~basinlab.decline.field_lookback`."""
    cols = ["group", "month", "actual_volume", "forecast_p50", "forecast_p10", "forecast_p90", "phase", "cut_month"]
    if wells.empty:
        return pd.DataFrame(columns=cols)
    names, p10, p50, p90, _, _ = acc.groups.quantiles()
    months = pd.date_range(cut + pd.offsets.MonthBegin(1), periods=horizon, freq="MS")
    rows = []
    for g_i, g in enumerate(names):
        for m_i, m in enumerate(months):
            if g == "(all)":
                a = float(sum(v for (gg, mm), v in acc.actual_monthly.items() if pd.Timestamp(mm) == m))
            else:
                a = float(acc.actual_monthly.get((g, m), 0.0))
            rows.append({"group": g, "month": m, "actual_volume": a, "forecast_p50": p50[g_i, m_i],
                         "forecast_p10": p10[g_i, m_i], "forecast_p90": p90[g_i, m_i]})
    out = pd.DataFrame(rows, columns=cols[:6])
    out["phase"] = phase
    out["cut_month"] = cut
    return out


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
