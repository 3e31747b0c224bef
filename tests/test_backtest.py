"""basinlab.decline.backtest on synthetic wells whose future is known."""
import numpy as np
import pandas as pd
import pytest

from basinlab.decline import ForecastConfig, backtest, field_lookback
from basinlab.decline import uncertainty as unc

DPY = 365.25


def exp_volumes(q0, d_per_yr, mon, t0):
    d = d_per_yr / DPY
    a = (mon - t0).days.to_numpy(float)
    e = (mon + pd.offsets.MonthBegin(1) - t0).days.to_numpy(float)
    return q0 / d * (np.exp(-d * a) - np.exp(-d * e))


def synthetic(n=30, noise=0.0, seed=0):
    """n exponential wells over 2015-01..2021-12 (known truth), one well that stops after the cut,
    one shut in before it."""
    rng = np.random.default_rng(seed)
    mon = pd.date_range("2015-01-01", "2021-12-01", freq="MS")
    rows, truth = [], {}
    for i in range(n):
        q0, d = rng.uniform(200, 2000), rng.uniform(0.15, 0.6)
        v = exp_volumes(q0, d, mon, mon[0]) * np.exp(rng.normal(0, noise, len(mon)))
        truth[f"W{i}"] = (q0, d)
        rows.append(pd.DataFrame({"well_id": f"W{i}", "production_month": mon, "days_on": mon.days_in_month,
                                  "oil_bbl": v, "field": "F1" if i % 2 else "F2"}))
    v = exp_volumes(500, 0.3, mon, mon[0])
    stop = pd.DataFrame({"well_id": "STOP", "production_month": mon, "days_on": mon.days_in_month, "oil_bbl": v,
                         "field": "F1"})
    stop.loc[stop["production_month"] > "2019-12-01", "oil_bbl"] = 0.0
    shut = pd.DataFrame({"well_id": "SHUT", "production_month": mon[:40], "days_on": mon[:40].days_in_month,
                         "oil_bbl": exp_volumes(500, 0.3, mon[:40], mon[0]), "field": "F2"})
    df = pd.concat(rows + [stop, shut], ignore_index=True)
    header = df[["well_id", "field"]].drop_duplicates()
    return df.drop(columns="field"), header, truth


def test_backtest_on_exact_curves_measures_zero_error_and_counts_the_stopped_well():
    df, header, truth = synthetic(noise=0.0)
    bt = backtest(df, header, cut="2019-12", horizon=12, config=ForecastConfig(anchor=False))
    w = bt.wells.set_index("well_id")
    assert "SHUT" not in w.index                     # not producing at the cut
    assert w.loc["STOP", "actual_volume"] == 0 and np.isnan(w.loc["STOP", "ape"])
    # every other well: forecast = its true next-12-month volume
    nxt = pd.date_range("2020-01-01", periods=12, freq="MS")
    t0 = pd.Timestamp("2015-01-01")
    for wid, (q0, d) in truth.items():
        assert w.loc[wid, "actual_volume"] == pytest.approx(exp_volumes(q0, d, nxt, t0).sum(), rel=1e-9)
        assert w.loc[wid, "ape"] < 0.01
    f = bt.figures()
    assert f["wells_producing"] == len(truth) + 1 and f["forecast_share"] == 1.0
    assert f["wells_with_actual"] == len(truth)
    expected_agg = w["forecast_volume"].sum() / w["actual_volume"].sum() - 1
    assert f["aggregate_error"] == pytest.approx(expected_agg)
    assert f["aggregate_error"] > 0                  # the stopped well's forecast has no actual against it
    assert f["median_ape"] < 0.01


def test_calibrated_scale_gives_the_target_coverage_and_lookback_sums_draws():
    df, header, _ = synthetic(n=60, noise=0.15, seed=4)
    bt = backtest(df, header, cut="2019-12", horizon=12)
    f = bt.figures()
    assert 0 < f["calibrated_scale"] < 20
    vol, s, z1, z2, actual = bt.extra["matrix"]
    has = actual > 0
    cov, q = unc.coverage(actual[has], vol[has], s[has], z1[has], z2[has], f["calibrated_scale"])
    assert 0.7 <= cov <= 0.9
    assert (q[:, 0] >= q[:, 1]).all() and (q[:, 1] >= q[:, 2]).all()   # P10 is the high case
    lb = field_lookback(bt)
    assert set(lb["group"]) == {"F1", "F2", "(all)"}
    allm = lb[lb["group"] == "(all)"].set_index("month")
    parts = lb[lb["group"] != "(all)"].groupby("month")[["forecast_p50", "actual_volume", "forecast_p10"]].sum()
    np.testing.assert_allclose(allm["forecast_p50"], parts["forecast_p50"], rtol=1e-9)
    np.testing.assert_allclose(allm["actual_volume"], parts["actual_volume"], rtol=1e-9)
    # the P10 of the total is below the sum of the fields' P10s (independent wells diversify)
    assert (allm["forecast_p10"] < parts["forecast_p10"]).all()


def test_backtest_refuses_a_bad_phase_or_horizon():
    df, header, _ = synthetic(n=3)
    with pytest.raises(ValueError, match="phase"):
        backtest(df, header, cut="2019-12", phase="condensate")
    with pytest.raises(ValueError, match="horizon"):
        backtest(df, header, cut="2019-12", horizon=0)


@pytest.fixture(scope="module")
def demo_wh(tmp_path_factory):
    from conftest import demo_warehouse

    return demo_warehouse(tmp_path_factory.mktemp("demo_wh"), wells=8, months=30, seed=4)


def test_backtest_command_scores_a_warehouse_read_only(demo_wh, tmp_path, capsys):
    import json

    from basinlab import cli

    before = demo_wh.stat().st_mtime_ns
    rc = cli.main(["backtest", "--cut", "2023-06", "--horizon", "12", "--warehouse", str(demo_wh),
                   "--out", str(tmp_path / "out")])
    out = capsys.readouterr().out
    assert rc == 0
    assert "oil forecast as of 2023-06, 12 months compared" in out and "aggregate error" in out
    figures = json.loads((tmp_path / "out" / "backtest_oil_2023-06_12m.json").read_text())
    wells = pd.read_csv(tmp_path / "out" / "backtest_oil_2023-06_12m_wells.csv")
    assert figures["wells_producing"] == len(wells) > 0
    assert demo_wh.stat().st_mtime_ns == before                  # read-only: the warehouse is untouched
    with pytest.raises(SystemExit):                              # a month that is not a month: usage error
        cli.main(["backtest", "--cut", "2023-13", "--warehouse", str(demo_wh)])
    assert cli.main(["backtest", "--cut", "2023-06", "--warehouse", str(tmp_path / "missing.duckdb")]) == 1


def test_economic_limit_is_loe_over_net_revenue_per_boe(demo_wh):
    import duckdb

    from basinlab.decline.economics import well_limits

    con = duckdb.connect(str(demo_wh), read_only=True)
    try:
        lim = well_limits(con, "2024-06-01")
        assert len(lim) and set(lim["phase"]) == {"oil", "gas"}
        w = lim["well_id"].iloc[0]
        loe = con.execute("""select sum(debit_amount_usd - credit_amount_usd) / 12 from marts.fct_gl_transactions
                             where account_class = 'loe' and well_id = ?
                               and accounting_month between date '2023-07-01' and date '2024-06-01'""",
                          [w]).fetchone()[0]
        rev, oil, gas = con.execute("""select sum(gross_revenue_usd), sum(oil_bbl), sum(gas_mcf) from marts.mart_revenue
                                       where well_id = ? and production_month between date '2023-07-01'
                                       and date '2024-06-01'""", [w]).fetchone()
        wi, nri = con.execute("select working_interest, net_revenue_interest from staging.stg_well_header "
                              "where well_id = ?", [w]).fetchone()
    finally:
        con.close()
    boe = oil + gas / 6
    q_boe = loe * wi / (30.4375 * rev / boe * nri)
    got = lim[lim["well_id"] == w].set_index("phase")["q_limit"]
    assert got["oil"] == pytest.approx(q_boe * oil / boe, rel=1e-9)
    assert got["gas"] == pytest.approx(6 * q_boe * (gas / 6) / boe, rel=1e-9)
