"""ML trendlines: trained on long-history wells with rows up to the cut only, deterministic, useful."""
import numpy as np
import pandas as pd
import pytest

from basinlab.decline import ml

CUT = "2021-12"


def synthetic(n_long=40, n_young=6, seed=0):
    """Wells sharing one shape: a first month at 40 % of peak, then exponential decline at 45 %/yr nominal."""
    rng = np.random.default_rng(seed)
    rows, truth = [], {}
    for i in range(n_long + n_young):
        young = i >= n_long
        start = (pd.Timestamp("2021-09-01") if young
                 else pd.Timestamp("2015-01-01") + pd.DateOffset(months=int(rng.integers(0, 24))))
        mon = pd.date_range(start, "2023-12-01", freq="MS")
        q0 = rng.uniform(200, 2000)
        k = np.arange(len(mon))
        rate = q0 * np.exp(-0.45 / 12 * np.maximum(k - 1, 0))
        rate[0] *= 0.4
        rate = rate * np.exp(rng.normal(0, 0.03, len(mon)))
        wid = f"{'Y' if young else 'L'}{i}"
        truth[wid] = (mon, rate)
        rows.append(pd.DataFrame({"well_id": wid, "production_month": mon, "days_on": mon.days_in_month,
                                  "oil_bbl": rate * mon.days_in_month, "gas_mcf": 0.0, "water_bbl": 0.0}))
    prod = pd.concat(rows, ignore_index=True)
    header = pd.DataFrame({"well_id": list(truth), "field": "F", "lateral_length_ft": 10000.0})
    return prod, header, truth


@pytest.fixture(scope="module")
def data():
    return synthetic()


def test_rows_after_the_cut_never_reach_the_model(data):
    prod, header, _ = data
    a = ml.trendlines(ml.features_from_production(prod, header), CUT, phases=("oil",), months=24)
    hostile = prod.copy()
    after = pd.to_datetime(hostile["production_month"]) > pd.Timestamp(CUT)
    hostile.loc[after, "oil_bbl"] = hostile.loc[after, "oil_bbl"] * 7.0 + 1.0   # a different future
    b = ml.trendlines(ml.features_from_production(hostile, header), CUT, phases=("oil",), months=24)
    assert len(a) and set(a["well_id"]) == {w for w in a["well_id"] if w.startswith("Y")}
    pd.testing.assert_frame_equal(a, b)
    assert (a["training_cut"] == pd.Timestamp(CUT)).all() and (a["model_version"] == ml.MODEL_VERSION).all()


def test_same_seed_same_trendlines_and_the_shape_is_learned(data):
    prod, header, truth = data
    feats = ml.features_from_production(prod, header)
    a = ml.trendlines(feats, CUT, phases=("oil",), months=24, seed=7)
    b = ml.trendlines(feats, CUT, phases=("oil",), months=24, seed=7)
    pd.testing.assert_frame_equal(a, b)
    # young wells (4 months old at the cut): the predicted rate 12 months ahead is near the shared shape
    errs = []
    for wid, g in a.groupby("well_id"):
        mon, rate = truth[wid]
        actual = pd.Series(rate, index=mon)
        m = g[g["months_ahead"] == 12].iloc[0]
        errs.append(abs(m["rate_per_day"] / actual[pd.Timestamp(m["month"])] - 1))
    assert np.median(errs) < 0.15


def test_too_few_long_wells_trains_nothing():
    prod, header, _ = synthetic(n_long=3, n_young=2)
    assert ml.train(ml.features_from_production(prod, header), CUT, "oil") is None
    assert ml.trendlines(ml.features_from_production(prod, header), CUT).empty


def test_a_wells_trendline_does_not_depend_on_the_wells_predicted_with_it():
    """Each well is predicted at every horizon in one call with the others: its path is the one it
    gets alone (young wells of different ages and gaps, so rows of different wells differ)."""
    prod, header, _ = synthetic(n_long=40, n_young=0, seed=3)
    rng = np.random.default_rng(5)
    young = []
    for i, start in enumerate(["2021-03-01", "2021-06-01", "2021-08-01", "2021-10-01", "2021-12-01"]):
        mon = pd.date_range(start, "2021-10-01" if i in (0, 2) else "2021-12-01", freq="MS")  # two stopped early
        rate = rng.uniform(100, 3000) * np.exp(-0.05 * np.arange(len(mon)))
        young.append(pd.DataFrame({"well_id": f"Y{i}", "production_month": mon, "days_on": mon.days_in_month,
                                   "oil_bbl": rate * mon.days_in_month, "gas_mcf": 0.0, "water_bbl": 0.0}))
    prod = pd.concat([prod, *young], ignore_index=True)
    header = pd.concat([header, pd.DataFrame({"well_id": [f"Y{i}" for i in range(5)], "field": "F",
                                              "lateral_length_ft": 10000.0})], ignore_index=True)
    feats = ml.features_from_production(prod, header)
    tm = ml.train(feats, CUT, "oil")
    wells = [f"Y{i}" for i in range(5)]
    together = ml.predict(tm, feats, wells, months=48)
    assert set(together["well_id"]) == set(wells)
    assert together.groupby("well_id")["rate_per_day"].first().nunique() == len(wells)
    for w in wells:
        alone = ml.predict(tm, feats, [w], months=48)
        pd.testing.assert_frame_equal(together[together["well_id"] == w].reset_index(drop=True), alone)


def _other_values(v):
    """Values a cell holding ``v`` could be restated to: another id, missing, zero, a nudge, a month later."""
    if isinstance(v, str):
        return [v + "x", None]
    if isinstance(v, pd.Timestamp):
        return [v + pd.DateOffset(months=1)]
    if isinstance(v, (int, np.integer)):
        return [int(v) + 1]
    out = [0.0] if v != 0 else [1.0]
    if np.isfinite(v):
        out += [np.nan, v * (1 + 1e-12) if v else 1e-12]
    return out


def test_the_inputs_hash_changes_with_any_value_and_nothing_else_does(data):
    """A kept model is looked up by the hash of what it was trained on: any one value of the training rows
    restated (another id, missing, zero, a nudge of 1e-12, a month later), a row dropped or the rows reordered,
    another phase, cut, seed or age gives another hash; the same rows in another frame give the same one."""
    prod, header, _ = data
    feats = ml.features_from_production(prod, header)
    feats = feats[pd.to_datetime(feats["production_month"]) <= pd.Timestamp(CUT)].reset_index(drop=True)
    base = ml.inputs_sha256(feats, CUT, "oil")
    assert ml.inputs_sha256(feats.copy(deep=True), CUT, "oil") == base
    assert ml.inputs_sha256(feats.set_axis(feats.index + 7), CUT, "oil") == base     # the index is not an input
    rng = np.random.default_rng(11)
    seen = {base}
    for col in feats.columns:
        for i in rng.choice(len(feats), 3, replace=False):
            for new in _other_values(feats.at[i, col]):
                changed = feats.copy()
                changed[col] = changed[col].astype(object)
                changed.at[i, col] = new
                changed[col] = changed[col].astype(feats[col].dtype) if new is not None else changed[col]
                h = ml.inputs_sha256(changed, CUT, "oil")
                assert h not in seen, (col, i, feats.at[i, col], new)
                seen.add(h)
    assert len(seen) > 3 * len(feats.columns)
    for other in (feats.drop(index=5), feats.iloc[::-1].reset_index(drop=True)):
        assert ml.inputs_sha256(other, CUT, "oil") != base
    assert len({base, ml.inputs_sha256(feats, CUT, "gas"), ml.inputs_sha256(feats, "2021-11", "oil"),
                ml.inputs_sha256(feats, CUT, "oil", seed=1), ml.inputs_sha256(feats, CUT, "oil", max_age=11)}) == 5
