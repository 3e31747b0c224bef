"""ML trendlines for short-history wells: features in SQL, a regressor in Python, predictions back in SQL.

The wells where curves are weakest are the young ones: a few months of ramp-up
and early decline cannot pin a three-parameter Arps fit. Following the original
design (features prepared in SQL, a model trained outside SQL, predictions
joined back), this module

1. reads the features of ``marts.int_well_features`` (``sql/intermediate/int_well_features.sql``:
   per well and month its age, producing-day rates, cumulative volumes, field,
   basin, lateral length, vintage) -- only rows up to the training ``cut``;
2. builds training examples from **long-history** wells (at least
   ``min_train_months`` producing months by the cut): for each such well, as if it
   were ``a`` months old (``a`` = 1..``max_age``), the features it had then and the
   target ``ln(rate at age a + h / rate at age a)`` for ``h`` in
   :data:`HORIZONS` -- every target month is on or before the cut, so nothing
   after the cut reaches the model (no leakage);
3. fits one :class:`sklearn.ensemble.HistGradientBoostingRegressor` with ``h``
   as a feature (deterministic for a seed, no early stopping);
4. predicts, for each short-history well, the log rate ratios for ``h`` = 1..36
   from its current age and rate (log-linear between the horizons), then
   continues exponentially at the last predicted decline (clipped to
   ``[terminal, 95 %/yr]``) -- a ``rate_per_day`` path per month that
   :func:`~basinlab.decline.forecast_wells` turns into volumes (uptime, limit).

Predictions are written as ``marts.ml_trendlines`` with the model version and the
training cut (:func:`trendlines`).

At basin scale the decline step trains from SQL (:func:`training_features`: only the rows
training reads, of at most :data:`MAX_TRAIN_WELLS` long-history wells, a fixed sample by the MD5
of the well id when there are more) and predicts batch by batch of wells
(:func:`young_features`, :func:`predict`), so its memory does not grow with the warehouse.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

__all__ = ["MODEL_VERSION", "HORIZONS", "TrendlineModel", "features_from_production", "train", "trendlines",
           "ML_COLUMNS", "inputs_sha256"]

#: bump when features, targets or the regressor change
MODEL_VERSION = "hgb-trend-1"
#: months ahead the model learns (h is a feature; months between are interpolated in ln rate)
HORIZONS = (1, 2, 3, 6, 9, 12, 18, 24, 36)
#: rates at the first FEATURE_MONTHS ages are features
FEATURE_MONTHS = 6
#: phases with a rate column in int_well_features
RATE_COLUMNS = {"oil": "oil_rate_bbl_per_producing_day", "gas": "gas_rate_mcf_per_producing_day"}
ML_COLUMNS = ("well_id", "phase", "month", "months_ahead", "rate_per_day", "model_version", "training_cut",
              "trained_wells", "training_rows")
#: long-history wells a model trains on at most (a fixed sample beyond: the wells with the smallest
#: MD5 of their id); each gives about 100 examples, so this bounds training time and memory
MAX_TRAIN_WELLS = 2000
#: producing months by the cut that make a well a training well
MIN_TRAIN_MONTHS = 24
#: the columns of ``marts.int_well_features`` the model reads
FEATURE_COLUMNS = ("well_id", "production_month", "age_months", "oil_rate_bbl_per_producing_day",
                   "gas_rate_mcf_per_producing_day", "cum_oil_bbl", "cum_gas_mcf", "field", "lateral_length_ft",
                   "vintage_year")


def _feature_sql() -> str:
    """The model int_well_features as a full build runs it (rendered: its macros read everything)."""
    from .. import sqlrender
    from ..config import SQL_DIR

    path = Path(SQL_DIR) / "intermediate" / "int_well_features.sql"
    return sqlrender.render(path.read_text(), path)


def features_from_production(production: pd.DataFrame, header: pd.DataFrame | None = None) -> pd.DataFrame:
    """The ``int_well_features`` rows for a production frame (the SQL model run on in-memory tables)."""
    prod = production.copy()
    prod["production_month"] = pd.to_datetime(prod["production_month"]).dt.to_period("M").dt.to_timestamp()
    for c in ("oil_bbl", "gas_mcf", "water_bbl", "days_on"):
        if c not in prod:
            prod[c] = np.nan
        prod[c] = pd.to_numeric(prod[c], errors="coerce")
    prod[["oil_bbl", "gas_mcf", "water_bbl"]] = prod[["oil_bbl", "gas_mcf", "water_bbl"]].fillna(0.0)
    prod["days_in_month"] = prod["production_month"].dt.days_in_month
    h = header.copy() if header is not None else pd.DataFrame({"well_id": prod["well_id"].unique()})
    for c in ("field", "basin", "lateral_length_ft"):
        if c not in h:
            h[c] = None
    from ..warehouse import connect_memory

    con = connect_memory()
    try:
        con.execute("create schema staging")
        con.register("_p", prod[["well_id", "production_month", "days_on", "oil_bbl", "gas_mcf", "water_bbl",
                                 "days_in_month"]])
        con.register("_h", h[["well_id", "field", "basin", "lateral_length_ft"]])
        con.execute("create view staging.stg_production as select * from _p")
        con.execute("create view staging.stg_well_header as select * from _h")
        return con.execute(_feature_sql()).df()
    finally:
        con.close()


@dataclass
class TrendlineModel:
    """A trained trendline regressor for one phase."""

    phase: str
    model: object
    fields: list[str]
    training_cut: pd.Timestamp
    trained_wells: int
    training_rows: int
    max_age: int
    columns: list[str]
    version: str = MODEL_VERSION


def _age_table(feat: pd.DataFrame, phase: str) -> pd.DataFrame:
    f = feat[["well_id", "production_month", "age_months", RATE_COLUMNS[phase], f"cum_{phase}_" + (
        "bbl" if phase == "oil" else "mcf"), "field", "lateral_length_ft", "vintage_year"]].copy()
    f.columns = ["well_id", "month", "age", "rate", "cum", "field", "lateral", "vintage"]
    f["age"] = f["age"].astype(int)
    f["rate"] = pd.to_numeric(f["rate"], errors="coerce")
    f.loc[~(f["rate"] > 0), "rate"] = np.nan
    return f.sort_values(["well_id", "month"], kind="stable").reset_index(drop=True)  # SQL row order varies


def _feature_rows(wide: pd.DataFrame, stat: pd.DataFrame, ages: np.ndarray, wells: np.ndarray,
                  fields: list[str]) -> pd.DataFrame:
    """Feature matrix for (well, age a): log rates at ages 1..FEATURE_MONTHS up to a, log rate and cum at a."""
    cols = {}
    w_idx = wide.index.get_indexer(wells)
    mat = wide.to_numpy(np.float64)
    for k in range(1, FEATURE_MONTHS + 1):
        v = mat[w_idx, k - 1] if mat.shape[1] >= k else np.full(len(wells), np.nan)
        cols[f"lr{k}"] = np.where(ages >= k, np.log(v), np.nan)
    last = mat[w_idx, np.minimum(ages, mat.shape[1]) - 1]
    cols["lr_last"] = np.log(last)
    cols["age"] = ages.astype(float)
    s = stat.reindex(wells)
    # the field's position among the training fields; -1 for a field the model never saw
    cols["field"] = pd.Index(fields).get_indexer(s["field"].fillna("UNKNOWN")).astype(float)
    cols["lateral"] = s["lateral"].to_numpy(np.float64)
    cols["vintage"] = s["vintage"].to_numpy(np.float64)
    return pd.DataFrame(cols)


def _wide(f: pd.DataFrame, max_col: int) -> pd.DataFrame:
    f = f[f["age"] <= max_col]
    return f.pivot_table(index="well_id", columns="age", values="rate", aggfunc="first").reindex(
        columns=range(1, max_col + 1))


def train(features: pd.DataFrame, cut, phase: str = "oil", *, min_train_months: int = MIN_TRAIN_MONTHS,
          max_age: int = 12, seed: int = 0, long_wells=None) -> TrendlineModel | None:
    """Train on long-history wells using only rows up to ``cut``; None when there are too few examples.

    ``long_wells`` (optional) are the training wells when ``features`` holds only part of their
    rows (:func:`training_features` reads only the ages training uses).
    """
    cut_ts = pd.Timestamp(cut).to_period("M").to_timestamp()
    f = _age_table(features, phase)
    f = f[pd.to_datetime(f["month"]) <= cut_ts]                      # nothing after the cut
    if f.empty:
        return None
    if long_wells is None:
        n_prod = f.groupby("well_id")["rate"].count()
        long_wells = n_prod.index[n_prod >= min_train_months]
    else:
        long_wells = pd.Index(pd.unique(np.asarray(long_wells, dtype=object)))
    f = f[f["well_id"].isin(long_wells)]
    if len(long_wells) < 5:
        return None
    max_col = max_age + max(HORIZONS)
    wide = _wide(f, max_col)
    stat = f.groupby("well_id").agg(field=("field", "first"), lateral=("lateral", "first"),
                                    vintage=("vintage", "first"))
    fields = sorted(stat["field"].fillna("UNKNOWN").unique().tolist())
    mat = wide.to_numpy(np.float64)
    X, y = [], []
    wells = wide.index.to_numpy()
    for a in range(1, max_age + 1):
        base = mat[:, a - 1]
        if not np.isfinite(base).any():
            continue
        fa = _feature_rows(wide, stat, np.full(len(wells), a), wells, fields)
        for h in HORIZONS:
            if a + h > max_col:
                continue
            tgt = mat[:, a + h - 1]
            ok = np.isfinite(base) & np.isfinite(tgt)
            if not ok.any():
                continue
            X.append(fa[ok].assign(h=float(h)))
            y.append(np.log(tgt[ok] / base[ok]))
    if not X:
        return None
    Xd = pd.concat(X, ignore_index=True)
    yv = np.concatenate(y)
    # a feature without two distinct values (no lateral lengths, one field) carries nothing
    keep = [c for c in Xd.columns if Xd[c].nunique(dropna=True) > 1]
    Xd = Xd[keep]
    cat = np.array([c == "field" for c in Xd.columns])
    from sklearn.ensemble import HistGradientBoostingRegressor

    model = HistGradientBoostingRegressor(loss="absolute_error", max_iter=120, learning_rate=0.05,
                                          max_leaf_nodes=15, min_samples_leaf=20, l2_regularization=1.0,
                                          early_stopping=False, random_state=seed, categorical_features=cat)
    with threadpool_limits(1):  # small data: OpenMP threads only contend (7-10x slower on 2 busy cores)
        model.fit(Xd, yv)
    return TrendlineModel(phase, model, fields, cut_ts, len(long_wells), len(Xd), max_age, keep)


def predict(tm: TrendlineModel, features: pd.DataFrame, wells, *, months: int = 600,
            terminal: float = 0.06) -> pd.DataFrame:
    """Producing-day rate paths after ``tm.training_cut`` for ``wells`` (their rows up to the cut)."""
    f = _age_table(features, tm.phase)
    f = f[(pd.to_datetime(f["month"]) <= tm.training_cut) & f["well_id"].isin(list(wells))]
    if f.empty:
        return pd.DataFrame(columns=list(ML_COLUMNS))
    last = f.dropna(subset=["rate"]).groupby("well_id").tail(1)  # f is sorted by well and month
    last = last[(last["age"] <= tm.max_age)]
    if last.empty:
        return pd.DataFrame(columns=list(ML_COLUMNS))
    wide = _wide(f[f["well_id"].isin(last["well_id"])], tm.max_age)
    stat = f.groupby("well_id").agg(field=("field", "first"), lateral=("lateral", "first"),
                                    vintage=("vintage", "first"))
    wells_a = last["well_id"].to_numpy()
    ages = last["age"].to_numpy(int)
    base = last["rate"].to_numpy(np.float64)
    # months from the last producing month to the cut shift the horizons
    gap = ((tm.training_cut.year - pd.to_datetime(last["month"]).dt.year) * 12
           + tm.training_cut.month - pd.to_datetime(last["month"]).dt.month).to_numpy(int)
    fr = _feature_rows(wide, stat, ages, wells_a, tm.fields)
    # every horizon in one call (rows horizon-major): the per-call cost of the model's input checks and
    # encoders is paid once, and each row's prediction is the one it would have alone
    stacked = pd.concat([fr.assign(h=float(h)) for h in HORIZONS], ignore_index=True)[tm.columns]
    with threadpool_limits(1):
        preds = tm.model.predict(stacked).reshape(len(HORIZONS), len(wells_a)).T
    hmax = max(HORIZONS)
    hh = np.arange(1, hmax + 1)
    lr = np.stack([np.interp(hh, HORIZONS, p) for p in preds])            # (wells, 36) ln rate ratio
    # tail: exponential at the last predicted decline, clipped to [terminal, 95 %/yr] nominal
    d_last = -(preds[:, -1] - preds[:, -2]) / (HORIZONS[-1] - HORIZONS[-2]) * 12.0
    d_lo, d_hi = -np.log1p(-terminal), -np.log1p(-0.95)
    d_tail = np.clip(d_last, d_lo, d_hi) / 12.0
    total = months + int(gap.max()) + 1
    tail_k = np.arange(hmax + 1, total + 1)
    lr_tail = lr[:, -1:] - d_tail[:, None] * (tail_k[None, :] - hmax)
    path = np.concatenate([lr, lr_tail], axis=1)                          # ln ratio for h = 1..total
    start = tm.training_cut + pd.offsets.MonthBegin(1)
    k = np.arange(1, months + 1)
    h = k[None, :] + gap[:, None]                                         # months after the last producing month
    rate = base[:, None] * np.exp(np.take_along_axis(path, h - 1, axis=1))
    n = len(wells_a)
    out = pd.DataFrame({"well_id": np.repeat(wells_a, months), "phase": tm.phase,
                        "month": np.tile(pd.date_range(start, periods=months, freq="MS").to_numpy(), n),
                        "months_ahead": np.tile(k, n), "rate_per_day": rate.ravel()})
    out["model_version"] = tm.version
    out["training_cut"] = tm.training_cut
    out["trained_wells"] = tm.trained_wells
    out["training_rows"] = tm.training_rows
    return out[list(ML_COLUMNS)]


def trendlines(features: pd.DataFrame, cut, wells_by_phase: dict[str, list[str]] | None = None, *,
               phases: tuple[str, ...] = ("oil", "gas"), seed: int = 0, months: int = 600,
               max_age: int = 12) -> pd.DataFrame:
    """Train per phase on rows up to ``cut`` and predict for the given wells (default: every well of
    age ``max_age`` months or less at the cut). Returns ``marts.ml_trendlines`` rows."""
    out = []
    cut_ts = pd.Timestamp(cut).to_period("M").to_timestamp()
    for ph in phases:
        if wells_by_phase is not None:
            wells = wells_by_phase.get(ph, [])
        else:
            f = features[pd.to_datetime(features["production_month"]) <= cut_ts]
            age = f.groupby("well_id")["age_months"].max()
            wells = age.index[age <= max_age].tolist()
        if not len(wells):
            continue                      # no young wells: nothing to train for
        tm = train(features, cut_ts, ph, seed=seed, max_age=max_age)
        if tm is not None:
            out.append(predict(tm, features, wells, months=months))
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame(columns=list(ML_COLUMNS))


# --------------------------------------------------------------------------- from the warehouse, in batches

FEATURES_TABLE = "marts.int_well_features"


def _rate_column(phase: str) -> str:
    return RATE_COLUMNS[phase]


def training_features(con: duckdb.DuckDBPyConnection, cut, phase: str = "oil", *, max_age: int = 12,
                      min_train_months: int = MIN_TRAIN_MONTHS, max_wells: int = MAX_TRAIN_WELLS,
                      table: str = FEATURES_TABLE) -> pd.DataFrame:
    """The feature rows ``phase``'s model trains on at ``cut``: the long-history wells
    (``min_train_months`` producing months by ``cut``, found in SQL), at most ``max_wells`` of them (the
    wells with the smallest MD5 of their id: a fixed sample), only their rows of ages up to ``max_age``
    plus the longest horizon."""
    cut_ts = pd.Timestamp(cut).to_period("M").to_timestamp()
    rate = _rate_column(phase)
    cols = ", ".join(f"f.{c}" for c in FEATURE_COLUMNS)
    sql = f"""
        with long_wells as (
            select well_id from {table}
            where production_month <= ?::date and {rate} > 0
            group by well_id having count(*) >= ?
            order by md5(well_id) limit ?
        )
        select {cols} from {table} f join long_wells l using (well_id)
        where f.production_month <= ?::date and f.age_months <= ?
        order by f.well_id, f.production_month"""
    return con.execute(sql, [cut_ts.date(), int(min_train_months), int(max_wells), cut_ts.date(),
                             int(max_age + max(HORIZONS))]).df()


def young_features(con: duckdb.DuckDBPyConnection, cut, wells_between: tuple[str, str] | None = None, *,
                   max_age: int = 12, table: str = FEATURES_TABLE) -> pd.DataFrame:
    """Feature rows up to ``cut`` of the wells at most ``max_age`` months old at the cut (the wells
    :func:`trendlines` predicts for), optionally only wells with ids in ``wells_between`` (inclusive)."""
    cut_ts = pd.Timestamp(cut).to_period("M").to_timestamp()
    where, binds = "", [cut_ts.date()]
    if wells_between is not None:
        where = "and well_id between ? and ?"
        binds += list(wells_between)
    cols = ", ".join(FEATURE_COLUMNS)
    return con.execute(f"""
        with seen as (select {cols} from {table} where production_month <= ?::date {where}),
        young as (select well_id from seen group by well_id having max(age_months) <= ?)
        select seen.* from seen join young using (well_id) order by well_id, production_month""",
        binds + [int(max_age)]).df()


def count_young_wells(con: duckdb.DuckDBPyConnection, cut, *, max_age: int = 12, table: str = FEATURES_TABLE) -> int:
    """Wells at most ``max_age`` months old at ``cut`` (0 when the features table is missing)."""
    cut_ts = pd.Timestamp(cut).to_period("M").to_timestamp()
    try:
        return int(con.execute(f"""select count(*) from (select well_id from {table} where production_month <= ?::date
                                   group by well_id having max(age_months) <= ?)""",
                               [cut_ts.date(), int(max_age)]).fetchone()[0])
    except duckdb.Error:
        return 0


@dataclass
class TrendlineModels:
    """The models of each phase trained at one cut; :meth:`predict` gives a batch of wells' trendlines
    (the rows :func:`trendlines` gives those wells)."""

    cut: pd.Timestamp
    models: dict
    max_age: int = 12
    months: int = 600

    def predict(self, features: pd.DataFrame) -> pd.DataFrame:
        out = []
        if features is None or features.empty:
            return pd.DataFrame(columns=list(ML_COLUMNS))
        f = features[pd.to_datetime(features["production_month"]) <= self.cut]
        age = f.groupby("well_id")["age_months"].max()
        wells = age.index[age <= self.max_age].tolist()
        for tm in self.models.values():
            if tm is not None and wells:
                out.append(predict(tm, features, wells, months=self.months))
        out = [o for o in out if len(o)]
        return pd.concat(out, ignore_index=True) if out else pd.DataFrame(columns=list(ML_COLUMNS))

    @property
    def trained(self) -> bool:
        return any(m is not None for m in self.models.values())


def train_models(con: duckdb.DuckDBPyConnection, cut, *, phases: tuple[str, ...] = ("oil", "gas"), seed: int = 0,
                 months: int = 600, max_age: int = 12, max_wells: int = MAX_TRAIN_WELLS,
                 table: str = FEATURES_TABLE) -> TrendlineModels | None:
    """Every phase's model at ``cut`` from the warehouse, when some well is young enough to use it
    (:func:`trendlines`' rule); None otherwise. :func:`training_inputs`, :func:`train` per phase and
    :func:`trained_models` in one call (the decline step trains the phases in its worker processes)."""
    cut_ts = pd.Timestamp(cut).to_period("M").to_timestamp()
    inputs = training_inputs(con, cut_ts, phases=phases, max_age=max_age, max_wells=max_wells, table=table)
    if inputs is None:
        return None
    return trained_models(cut_ts, {ph: train_phase(feats, cut_ts, ph, seed=seed, max_age=max_age)
                                   for ph, feats in inputs.items()}, max_age=max_age, months=months)


def training_inputs(con: duckdb.DuckDBPyConnection, cut, *, phases: tuple[str, ...] = ("oil", "gas"),
                    max_age: int = 12, max_wells: int = MAX_TRAIN_WELLS,
                    table: str = FEATURES_TABLE) -> dict[str, pd.DataFrame] | None:
    """The feature rows each phase's model trains on at ``cut`` (:func:`training_features`); None when
    no well is young enough to use a model (nothing to train)."""
    cut_ts = pd.Timestamp(cut).to_period("M").to_timestamp()
    if count_young_wells(con, cut_ts, max_age=max_age, table=table) == 0:
        return None
    return {ph: training_features(con, cut_ts, ph, max_age=max_age, max_wells=max_wells, table=table)
            for ph in phases}


def train_phase(feats: pd.DataFrame, cut, phase: str, *, seed: int = 0, max_age: int = 12,
                min_train_months: int = MIN_TRAIN_MONTHS) -> TrendlineModel | None:
    """:func:`train` on :func:`training_features`' rows (every well in them trains)."""
    if feats.empty:
        return None
    return train(feats, cut, phase, min_train_months=min_train_months, max_age=max_age, seed=seed,
                 long_wells=feats["well_id"].unique())


def inputs_sha256(feats: pd.DataFrame, cut, phase: str, *, seed: int = 0, max_age: int = 12,
                  min_train_months: int = MIN_TRAIN_MONTHS) -> str:
    """SHA-256 of everything :func:`train_phase` makes a model from: the training rows (columns, types
    and values, in order), the phase, the cut, the seed and training parameters, this module's source
    and scikit-learn's version. Training is deterministic, so equal hashes mean equal models."""
    import sklearn

    cut_ts = pd.Timestamp(cut).to_period("M").to_timestamp()
    h = hashlib.sha256(repr((MODEL_VERSION, sklearn.__version__, phase, cut_ts.isoformat(), int(seed), int(max_age),
                             int(min_train_months), list(feats.columns), [str(t) for t in feats.dtypes],
                             len(feats))).encode())
    h.update(Path(__file__).read_bytes())
    if len(feats):
        h.update(pd.util.hash_pandas_object(feats, index=False).to_numpy().tobytes())
    return h.hexdigest()


def trained_models(cut, models: dict, *, max_age: int = 12, months: int = 600) -> TrendlineModels | None:
    """The :class:`TrendlineModels` of the phases' trained models (None when none trained)."""
    tm = TrendlineModels(pd.Timestamp(cut).to_period("M").to_timestamp(), models, max_age, months)
    return tm if tm.trained else None
