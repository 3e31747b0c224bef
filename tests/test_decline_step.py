"""The chain's decline step on a warehouse: tables with a stable schema, empty or not."""
import pytest

from basinlab import generate_demo, ingest_inbox, run_models, warehouse
from basinlab.decline.step import FORECAST_TABLE, PARAMS_TABLE, TABLE_SCHEMAS, TYPE_CURVES_TABLE, fit_warehouse
from conftest import demo_warehouse


def _columns(con, table):
    schema, name = table.split(".")
    return {r[0]: r[1].lower() for r in con.execute(
        "select column_name, data_type from information_schema.columns where table_schema = ? and table_name = ?",
        [schema, name]).fetchall()}


def test_empty_warehouse_gets_typed_empty_tables(tmp_path):
    con = warehouse.connect(tmp_path / "w.duckdb")
    warehouse.migrate(con)
    run_models(con, run_id="r")
    res = fit_warehouse(con, run_id="r")
    assert res.params.empty
    for table in (PARAMS_TABLE, FORECAST_TABLE, TYPE_CURVES_TABLE):
        cols = _columns(con, table)
        assert con.execute(f"select count(*) from {table}").fetchone()[0] == 0
        assert cols["well_id" if table != TYPE_CURVES_TABLE else "group"] == "varchar"
    assert _columns(con, FORECAST_TABLE)["month"] == "date"


@pytest.mark.slow
def test_step_on_demo_data_fills_dim_wells_reserves(tmp_path):
    generate_demo(tmp_path / "inbox", wells=10, months=24, end_month="2024-06", seed=5)
    con = warehouse.connect(tmp_path / "w.duckdb")
    warehouse.migrate(con)
    ingest_inbox(con, tmp_path / "inbox", "b1")
    run_models(con, run_id="r")
    res = fit_warehouse(con, run_id="r")
    assert set(_columns(con, PARAMS_TABLE)) >= set(TABLE_SCHEMAS[PARAMS_TABLE])
    # EUR in dim_wells = the params' eur for every well with an oil forecast
    rows = con.execute("""select w.well_id, w.oil_eur_bbl, p.eur from marts.dim_wells w
                          join marts.decline_params p on p.well_id = w.well_id and p.phase = 'oil'
                          where p.status in ('fitted', 'analog')""").fetchall()
    assert rows and all(abs(a - b) < 1e-6 * max(1.0, b) for _, a, b in rows)
    # forecast volumes of each fitted well-phase sum to its remaining reserves
    diff = con.execute("""select max(abs(f.v - p.remaining) / greatest(p.remaining, 1)) from
                          (select well_id, phase, sum(volume) as v from marts.decline_forecast group by all) f
                          join marts.decline_params p using (well_id, phase)""").fetchone()[0]
    assert diff < 1e-9
    assert len(res.type_curves)
    con.close()


def test_eur_boe_counts_an_unforecast_phase_at_its_cumulative(tmp_path):
    con = warehouse.connect(tmp_path / "w.duckdb")
    warehouse.migrate(con)
    run_models(con, run_id="r")
    con.execute("delete from marts.decline_params")
    con.execute("""insert into marts.decline_params (well_id, phase, model, status, cum_to_date, remaining, eur)
                   values ('W1', 'oil', 'modified_hyperbolic', 'fitted', 1000, 500, 1500),
                          ('W1', 'gas', 'modified_hyperbolic', 'no_decline', 6000, null, null),
                          ('W2', 'oil', 'modified_hyperbolic', 'no_production', 0, null, null),
                          ('W2', 'gas', 'modified_hyperbolic', 'fitted', 600, 1200, 1800)""")
    run_models(con, run_id="r", select="int_well_reserves")
    rows = dict((w, (e, r)) for w, e, r in con.execute(
        "select well_id, eur_boe, remaining_boe from marts.int_well_reserves").fetchall())
    assert rows["W1"] == (1500 + 6000 / 6, 500)      # gas at its cumulative, nothing remaining
    assert rows["W2"] == (0 + 1800 / 6, 1200 / 6)
    con.close()


# --------------------------------------------------------------------------- batches

BATCH_TABLES = {  # table -> key columns; per-well tables must match to the last bit
    "marts.decline_params": ["well_id", "phase"],
    "marts.decline_forecast": ["well_id", "phase", "month"],
    "marts.decline_backtest": ["well_id"],
    "marts.decline_type_curves": ["group", "phase", "month_index"],
    "marts.ml_trendlines": ["well_id", "phase", "month"],
    "marts.decline_backtest_summary": ["phase"],
}
#: sums over wells (a field's monthly total, sampled paths summed) add batch partial sums: equal to rounding
SUMMED_TABLES = {"marts.decline_forecast_bands": ["group", "phase", "month"],
                 "marts.decline_lookback": ["group", "month"]}


@pytest.fixture(scope="module")
def batch_warehouse(tmp_path_factory):
    """Demo wells with a lookback year, young wells for the ML trendlines, and a hostile new well."""
    new_well = ("well_id,production_month,days_on,oil_bbl,gas_mcf,water_bbl\n"
                "NEW-1,2024-05,20,5,5,5\nNEW-1,2024-06,30,9,7,5\n")
    return demo_warehouse(tmp_path_factory.mktemp("batches"), wells=16, months=40, seed=9, name="base.duckdb",
                          extra_files={"well_production/new.csv": new_well})


def _step_tables(base, tmp, batch_wells, workers=None, **kw):
    import shutil

    path = tmp / f"b{batch_wells}-w{workers}-{'-'.join(f'{k}{v}' for k, v in kw.items())}.duckdb"
    shutil.copy(base, path)
    con = warehouse.connect(path)
    try:
        res = fit_warehouse(con, run_id="r", batch_wells=batch_wells, workers=workers, **kw)
        keys = {**BATCH_TABLES, **SUMMED_TABLES, "marts.decline_fits": ["well_id", "phase", "as_of_month"]}
        out = {t: con.execute(f"select * from {t} order by {', '.join(chr(34) + c + chr(34) for c in k)}").df()
               for t, k in keys.items()}
        return res, out
    finally:
        con.close()


@pytest.mark.slow
def test_results_do_not_depend_on_the_batch_size(batch_warehouse, tmp_path):
    import numpy as np
    import pandas as pd

    runs = {b: _step_tables(batch_warehouse, tmp_path, b) for b in (1, 7, 1000)}
    assert [runs[b][0].batches for b in (1, 7, 1000)] == [17, 3, 1]
    ref = runs[1000][1]
    assert len(ref["marts.decline_params"]) == 17 * 3 and len(ref["marts.ml_trendlines"])
    assert ref["marts.decline_backtest_summary"]["short_history_wells"].iloc[0] >= 0
    for b in (1, 7):
        got = runs[b][1]
        for t in BATCH_TABLES:
            pd.testing.assert_frame_equal(got[t], ref[t], check_exact=True, obj=f"{t} with {b} well(s) per batch")
        for t in SUMMED_TABLES:
            pd.testing.assert_frame_equal(got[t], ref[t], check_exact=False, rtol=1e-12, atol=0,
                                          obj=f"{t} with {b} well(s) per batch")
    # the compact forecast: monthly for 60 months, then yearly rows; volumes sum to the remaining reserves
    fc = ref["marts.decline_forecast"]
    assert set(fc.loc[fc["months_ahead"] <= 60, "period_months"]) == {1}
    tail = fc[fc["months_ahead"] > 60]
    assert len(tail) and (tail["period_months"].between(1, 12)).all()
    assert ((tail["months_ahead"] - 61) % 12 == 0).all()
    p = ref["marts.decline_params"].set_index(["well_id", "phase"])
    sums = fc.groupby(["well_id", "phase"])["volume"].sum()
    np.testing.assert_allclose(sums, p.loc[sums.index, "remaining"], rtol=1e-9)


@pytest.mark.slow
def test_results_do_not_depend_on_the_worker_processes(batch_warehouse, tmp_path):
    """Batches computed in worker processes give every table of the step to the last bit: each batch's
    work is the same function of the same inputs, and its results are merged in batch order."""
    import pandas as pd

    ref = _step_tables(batch_warehouse, tmp_path, 5, workers=1)
    got = _step_tables(batch_warehouse, tmp_path, 5, workers=3)
    assert ref[0].batches == got[0].batches == 4
    assert len(ref[1]["marts.decline_forecast"]) and len(ref[1]["marts.decline_backtest"])
    for t, frame in ref[1].items():
        pd.testing.assert_frame_equal(got[1][t], frame, check_exact=True, obj=f"{t} with 3 worker processes")


@pytest.mark.slow
def test_the_lookback_backtests_a_fixed_sample_beyond_lookback_wells(batch_warehouse, tmp_path):
    """With more wells than ``lookback_wells`` having production by the cut, the lookback backtests (and
    fits as of the cut) only the sample :func:`lookback_sample` draws, whatever the batches or workers;
    every well is still forecast as of the month; the summary says how many of how many. With as many
    wells as ``lookback_wells`` nothing is sampled: every table is the default run's."""
    import pandas as pd

    from basinlab.decline.step import LOOKBACK_MONTHS, lookback_sample

    con = warehouse.connect(batch_warehouse, read_only=True)
    try:
        as_of = pd.Timestamp(con.execute("select max(production_month) from staging.stg_production").fetchone()[0])
        cut = as_of - pd.DateOffset(months=LOOKBACK_MONTHS)
        eligible = [r[0] for r in con.execute("select distinct well_id from staging.stg_production "
                                              "where production_month <= ?::date", [cut.date()]).fetchall()]
    finally:
        con.close()
    n = len(eligible)
    assert 6 < n < 17                              # the young wells and NEW-1 start after the cut
    sample = set(lookback_sample(eligible, 6))
    said = []
    runs = {(b, w): _step_tables(batch_warehouse, tmp_path, b, workers=w, lookback_wells=6, progress=said.append)
            for b, w in ((1000, 1), (7, 2))}
    assert any(f"fixed sample of 6 of the {n} wells" in m for m in said)
    ref = runs[1000, 1][1]
    for (b, w), (_, got) in runs.items():
        for t in BATCH_TABLES:
            pd.testing.assert_frame_equal(got[t], ref[t], check_exact=True, obj=f"{t}, {b} per batch, {w} worker(s)")
        for t in SUMMED_TABLES:
            pd.testing.assert_frame_equal(got[t], ref[t], check_exact=False, rtol=1e-12, atol=0, obj=t)
    backtested = set(ref["marts.decline_backtest"]["well_id"])
    assert backtested and backtested <= sample
    summary = ref["marts.decline_backtest_summary"].iloc[0]
    assert (summary["wells_in_sample"], summary["wells_with_history"]) == (6, n)
    fits = ref["marts.decline_fits"]
    assert set(fits.loc[pd.to_datetime(fits["as_of_month"]) == cut, "well_id"]) == sample
    assert ref["marts.decline_params"]["well_id"].nunique() == 17          # every well forecast as of the month

    full = _step_tables(batch_warehouse, tmp_path, 1000)[1]
    same = _step_tables(batch_warehouse, tmp_path, 1000, lookback_wells=n)[1]
    assert full["marts.decline_backtest_summary"]["wells_in_sample"].iloc[0] == n
    assert set(full["marts.decline_backtest"]["well_id"]) > backtested
    for t, frame in full.items():
        pd.testing.assert_frame_equal(same[t], frame, check_exact=True, obj=f"{t} with lookback_wells={n}")


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "10"])
def test_lookback_wells_is_validated(tmp_path, bad):
    con = warehouse.connect(tmp_path / "w.duckdb")
    try:
        with pytest.raises(ValueError, match="lookback_wells must be a whole number >= 1"):
            fit_warehouse(con, lookback_wells=bad)
    finally:
        con.close()


@pytest.mark.slow
def test_the_trendline_lookback_forecasts_only_the_young_wells_again(batch_warehouse):
    """The ML-trendline lookback of a batch re-forecasts only its wells with a trendline: the same per-well
    rows, volumes, draws and monthly actuals as forecasting every well again."""
    from dataclasses import replace

    import numpy as np
    import pandas as pd

    from basinlab.decline import ml
    from basinlab.decline.backtest import _evaluate
    from basinlab.decline.engine import ForecastConfig, ForecastContext, prepare
    from basinlab.decline.step import _with_trendlines

    con = warehouse.connect(batch_warehouse, read_only=True)
    try:
        prod = con.execute("select well_id, production_month, days_on, oil_bbl, gas_mcf, water_bbl "
                           "from staging.stg_production order by well_id, production_month").df()
        header = con.execute("select well_id, field from staging.stg_well_header order by well_id").df()
        cut = pd.Timestamp("2023-10-01")            # young wells, and long ones to train on
        models = ml.train_models(con, cut)
        tl = models.predict(ml.young_features(con, cut))
    finally:
        con.close()
    prod["production_month"] = pd.to_datetime(prod["production_month"])
    assert tl["well_id"].nunique() >= 1 and prod["well_id"].nunique() > tl["well_id"].nunique()
    seen = prod[prod["production_month"] <= cut]
    cfg = ForecastConfig()
    st = prepare(seen, as_of=cut, config=cfg)
    ctx = ForecastContext.from_basis(ForecastContext.basis(st.params), header, cfg)
    analog = _evaluate(seen, prod, header, cut, 12, "oil", replace(cfg, short_history="analog"), None, tl,
                       stage=st, context=ctx)
    ml_cfg = replace(cfg, short_history="ml_trendline")
    full = _evaluate(seen, prod, header, cut, 12, "oil", ml_cfg, None, tl, stage=prepare(seen, as_of=cut, config=cfg,
                                                                                       fitted=st.fit), context=ctx)
    got = _with_trendlines(analog, seen, prod, header, st.fit, tl, cut, 12, "oil", ml_cfg, None, ctx)
    assert (full[0]["method"] == "ml_trendline").any()          # some young well does take its trendline
    pd.testing.assert_frame_equal(got[0], full[0].drop(columns="index").reset_index(drop=True), check_exact=True)
    pd.testing.assert_frame_equal(got[1], full[1].reset_index(drop=True), check_exact=True)
    for g, f in zip(got[3:], full[3:]):
        np.testing.assert_array_equal(g, f)


@pytest.mark.slow
def test_the_lookback_scores_oil_without_forecasting_water(batch_warehouse):
    """The lookback task forecasts only the primary phases (oil, gas) as of the cut: its oil scores are the
    ones of forecasting every phase."""
    from dataclasses import replace

    import numpy as np
    import pandas as pd

    from basinlab.decline.backtest import _evaluate
    from basinlab.decline.engine import ForecastConfig, ForecastContext, prepare
    from basinlab.decline.step import _lookback_task, _LookbackBatch

    con = warehouse.connect(batch_warehouse, read_only=True)
    try:
        prod = con.execute("select well_id, production_month, days_on, oil_bbl, gas_mcf, water_bbl "
                           "from staging.stg_production order by well_id, production_month").df()
        header = con.execute("select well_id, field from staging.stg_well_header order by well_id").df()
    finally:
        con.close()
    prod["production_month"] = pd.to_datetime(prod["production_month"])
    cut, as_of = pd.Timestamp("2023-06-01"), pd.Timestamp("2024-06-01")
    cfg = replace(ForecastConfig(), short_history="analog")
    assert "water" in cfg.fit.phases
    seen = prod[prod["production_month"] <= cut]
    st = prepare(seen, as_of=cut, config=cfg)
    assert (st.params["phase"] == "water").any()
    ctx = ForecastContext.from_basis(ForecastContext.basis(st.params), header, cfg)
    full = _evaluate(seen, prod, header, cut, 12, "oil", cfg, None, None, stage=st, context=ctx)
    want = _LookbackBatch.of(full[0], full[1], *full[3:], "oil", cfg.uncertainty_scale)
    (got,), _n, error = _lookback_task((prod, header), st.fit, None, None, None, ctx, cfg, cut, as_of, 12, "oil",
                                       ("analog",))
    assert error is None and len(want.wells) > 5
    pd.testing.assert_frame_equal(got.wells.reset_index(drop=True), want.wells.reset_index(drop=True),
                                  check_exact=True)
    for a, b in ((got.vol, want.vol), (got.s, want.s), (got.keys, want.keys), (got.actual, want.actual)):
        np.testing.assert_array_equal(a, b)
    assert got.actual_monthly == want.actual_monthly
    assert [(g, r) for g, _t, _p, r in got.groups] == [(g, r) for g, _t, _p, r in want.groups]
    for (_g, t1, p1, _r), (_h, t2, p2, _s) in zip(got.groups, want.groups):
        np.testing.assert_array_equal(t1, t2)
        np.testing.assert_array_equal(p1, p2)


def test_rows_arrow_cannot_type_are_appended_as_the_frame(tmp_path):
    """A worker hands its rows over as Arrow where it can; a column of mixed Python objects (which Arrow
    refuses) still reaches the table, cast to the declared schema, the same as a clean frame's."""
    import pandas as pd
    import pyarrow as pa

    from basinlab.decline.step import ML_TABLE, _append, _as_arrow, _create_table

    con = warehouse.connect(tmp_path / "w.duckdb")
    warehouse.migrate(con)
    _create_table(con, ML_TABLE)
    clean = pd.DataFrame({"well_id": ["A", "B"], "phase": "oil", "month": pd.to_datetime(["2024-01-01"] * 2),
                          "months_ahead": [1, 2], "rate_per_day": [10.0, 9.0]})
    mixed = clean.assign(well_id=pd.Series(["C", 7], dtype=object))          # an int among the ids
    assert isinstance(_as_arrow(clean), pa.Table)
    assert _as_arrow(mixed) is mixed
    assert _append(con, ML_TABLE, _as_arrow(clean)) == 2 and _append(con, ML_TABLE, _as_arrow(mixed)) == 2
    rows = con.execute(f"select well_id, months_ahead, rate_per_day, model_version from {ML_TABLE} "
                       "order by well_id").fetchall()
    assert rows == [("7", 2, 9.0, None), ("A", 1, 10.0, None), ("B", 2, 9.0, None), ("C", 1, 10.0, None)]


# --------------------------------------------------------------------------- ML models kept across runs

ML_CUT, ML_MONTH = "2023-06", "2024-06"
#: what the step writes from the models: equal when a kept model is the one a retraining makes
ML_RESULT_TABLES = {"marts.ml_trendlines": ["well_id", "phase", "month"],
                    "marts.decline_params": ["well_id", "phase"],
                    "marts.decline_forecast": ["well_id", "phase", "month"],
                    "marts.decline_backtest": ["well_id"],
                    "marts.decline_lookback": ["group", "month"]}


def _ml_run(path, month, **kw):
    con = warehouse.connect(path)
    try:
        res = fit_warehouse(con, run_id="r", month=month, batch_wells=7, **kw)
        out = {t: con.execute(f"select * from {t} order by {', '.join(chr(34) + c + chr(34) for c in k)}").df()
               for t, k in ML_RESULT_TABLES.items()}
        stored = con.execute("select phase, as_of_month::varchar, inputs_sha256 from marts.ml_trendline_models "
                             "order by all").fetchall()
        return res, out, stored
    finally:
        con.close()


def _assert_same_tables(a, b):
    import pandas as pd

    for t in ML_RESULT_TABLES:
        pd.testing.assert_frame_equal(a[t], b[t], check_exact=True, obj=t)


@pytest.fixture(scope="module")
def ml_cut_run(tmp_path_factory):
    """Five years of demo wells (twelve with two years of history by the cut, young ones at the cut and at
    the month) after a run as of the month that is the lookback's cut a year later."""
    path = demo_warehouse(tmp_path_factory.mktemp("ml"), wells=24, months=60, seed=9, end_month=ML_MONTH,
                          name="cut.duckdb")
    res, _, stored = _ml_run(path, ML_CUT)
    return path, res, stored


@pytest.mark.slow
def test_the_lookback_keeps_the_ml_models_trained_as_of_its_cut(ml_cut_run, tmp_path):
    """A run as of the cut month trains the ML models as of it; the run a year later keeps them (its lookback
    needs models as of that month) and trains only the month's, writing what retraining all of them writes."""
    import shutil

    path, first, stored = ml_cut_run
    assert first.ml_models_trained >= 2 and first.ml_models_reused == 0
    at_cut = {(ph, m) for ph, m, _ in stored if m == f"{ML_CUT}-01"}
    assert at_cut                                                   # the run trained models as of its month
    kept, every = tmp_path / "kept.duckdb", tmp_path / "every.duckdb"
    shutil.copy(path, kept)
    shutil.copy(path, every)
    res, got, stored_kept = _ml_run(kept, ML_MONTH)
    ref, want, stored_every = _ml_run(every, ML_MONTH, refit_all=True)
    assert res.ml_models_reused == len(at_cut) and ref.ml_models_reused == 0
    assert res.ml_models_trained == ref.ml_models_trained - len(at_cut) > 0
    assert len(got["marts.ml_trendlines"]) and len(got["marts.decline_backtest"])
    _assert_same_tables(got, want)
    assert stored_kept == stored_every                              # same models, same inputs
    assert {m for _, m, _ in stored_kept} == {f"{ML_CUT}-01", f"{ML_MONTH}-01"}   # the run's two months only


@pytest.mark.slow
@pytest.mark.parametrize("damage", ["unreadable", "not-a-model", "restated-training-rows"])
def test_an_ml_model_that_cannot_be_kept_is_trained_again(ml_cut_run, tmp_path, damage):
    """A stored model whose bytes cannot be read back, that is not a model, or whose training rows have
    since changed is trained again; the run's results are those of retraining every model."""
    import pickle
    import shutil

    path, _, stored = ml_cut_run
    kept, every = tmp_path / "kept.duckdb", tmp_path / "every.duckdb"
    shutil.copy(path, kept)
    con = warehouse.connect(kept)
    try:
        if damage == "unreadable":
            con.execute("update marts.ml_trendline_models set model_pickle = '\\x80\\x05garbage'::blob")
        elif damage == "not-a-model":
            con.execute("update marts.ml_trendline_models set model_pickle = ?", [pickle.dumps({"model": 1})])
        else:   # a training well's early month restated: the rows every model as of the cut trained on changed
            con.execute("""update marts.int_well_features
                           set oil_rate_bbl_per_producing_day = oil_rate_bbl_per_producing_day * 1.5,
                               gas_rate_mcf_per_producing_day = gas_rate_mcf_per_producing_day * 1.5
                           where age_months = 2""")
    finally:
        con.close()
    shutil.copy(kept, every)
    res, got, stored_kept = _ml_run(kept, ML_MONTH)
    ref, want, stored_every = _ml_run(every, ML_MONTH, refit_all=True)
    assert res.ml_models_reused == 0 and res.ml_models_trained == ref.ml_models_trained
    _assert_same_tables(got, want)
    assert stored_kept == stored_every
    if damage == "restated-training-rows":
        assert {s for _, m, s in stored_kept if m == f"{ML_CUT}-01"}.isdisjoint({s for _, _, s in stored})


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_IDS = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=6)


@settings(max_examples=80, deadline=None)
@given(ids=st.lists(_IDS, max_size=25), lo=_IDS, hi=_IDS)
def test_a_batch_takes_the_rows_sql_between_gives(ids, lo, hi):
    """The step reads the young wells' features and the limit inputs of every well once and gives each
    batch its wells' rows: the same rows, in the same order, as ``where well_id between lo and hi`` in
    DuckDB — whatever the ids (non-ASCII, blanks, prefixes of each other, repeated, lo above hi)."""
    import duckdb
    import pandas as pd

    from basinlab.decline.step import _rows_between

    con = duckdb.connect()
    try:
        con.execute("create table t (well_id varchar, n integer)")
        if ids:
            con.executemany("insert into t values (?, ?)", [[w, i] for i, w in enumerate(ids)])
        everything = con.execute("select * from t order by well_id, n").df()
        want = con.execute("select * from t where well_id between ? and ? order by well_id, n", [lo, hi]).df()
    finally:
        con.close()
    pd.testing.assert_frame_equal(_rows_between(everything, lo, hi), want, check_dtype=False)


@settings(max_examples=80, deadline=None)
@given(ids=st.lists(_IDS, max_size=30), limit=st.integers(1, 12), lo=_IDS, hi=_IDS, seed=st.randoms())
def test_the_lookback_sample_is_the_smallest_md5s_whatever_the_order(ids, limit, lo, hi, seed):
    """:func:`lookback_sample`: ``None`` when there are at most ``limit`` distinct wells; else ``limit``
    distinct wells, sorted, none of whose MD5 (DuckDB's ``md5`` of the id) is above a left-out well's,
    the same for the ids in any order or repeated; a batch's part of it is what SQL ``between`` gives."""
    import duckdb

    from basinlab.decline.step import _Run, lookback_sample

    distinct = set(ids)
    shuffled = list(ids) * 2
    seed.shuffle(shuffled)
    got = lookback_sample(ids, limit)
    assert (lookback_sample(shuffled, limit) is None) if got is None else \
        list(lookback_sample(shuffled, limit)) == list(got)
    if len(distinct) <= limit:
        assert got is None
        return
    con = duckdb.connect()
    try:
        md5 = dict(con.execute("select w, md5(w) from unnest(?::varchar[]) as t(w)", [sorted(distinct)]).fetchall())
    finally:
        con.close()
    chosen = list(got)
    assert len(chosen) == len(set(chosen)) == limit and set(chosen) <= distinct and chosen == sorted(chosen)
    left_out = distinct - set(chosen)
    assert max((md5[w], w) for w in chosen) < min((md5[w], w) for w in left_out)
    run = _Run.__new__(_Run)
    run.cut_sample = got
    assert list(run.cut_wells(lo, hi)) == [w for w in chosen if lo <= w <= hi]
