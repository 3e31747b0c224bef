"""Analog (type-well) parameters for short-history wells."""
import numpy as np
import pandas as pd
import pytest

from basinlab.decline import FitConfig, ModifiedHyperbolic, fit_wells, forecast
from basinlab.decline.analogs import ANALOG_STATUS, apply_analogs
from basinlab.decline.step import _fill_analog_reserves

MONTHS = pd.date_range("2020-01-01", periods=48, freq="MS")


def well_rows(well_id, model, start, n_months):
    """Exact monthly volumes of a model (full producing days), from the closed-form cumulative."""
    months = pd.date_range(start, periods=n_months, freq="MS")
    t0 = pd.Timestamp(start)
    edges = np.array([(m - t0).days for m in months] + [(months[-1] + pd.offsets.MonthBegin(1) - t0).days], float)
    cum = model.cum(edges)
    vol = np.diff(cum)
    days = np.diff(edges)
    return pd.DataFrame({"well_id": well_id, "production_month": months, "days_on": days,
                         "oil_bbl": vol, "gas_mcf": vol * 2.0, "water_bbl": vol * 0.5})


@pytest.fixture
def field_table():
    rng = np.random.default_rng(3)
    shape = dict(di=0.6, b=1.0, dterm=0.06)
    rows = [well_rows(f"W{i}", ModifiedHyperbolic(qi=float(rng.uniform(300, 900)), **shape), "2020-01-01", 48)
            for i in range(5)]
    new = ModifiedHyperbolic(qi=640.0, **shape)
    rows.append(well_rows("NEW", new, "2023-10-01", 3))            # 3 months: too short to fit
    header = pd.DataFrame({"well_id": [f"W{i}" for i in range(5)] + ["NEW"], "field": ["North"] * 6})
    return pd.concat(rows, ignore_index=True), header, new


def test_short_history_well_takes_the_field_shape_and_its_own_qi(field_table):
    prod, header, new = field_table
    cfg = FitConfig(phases=("oil",))
    params = fit_wells(prod, cfg)
    assert params.set_index("well_id").loc["NEW", "status"] == "insufficient_history"
    out = apply_analogs(params, prod, header).set_index("well_id")
    row = out.loc["NEW"]
    assert row["status"] == ANALOG_STATUS
    assert "North median shape" in row["reason"] and "3 producing month(s)" in row["reason"]
    fitted = out[out["status"] == "fitted"]
    assert row["b"] == pytest.approx(fitted["b"].median())
    assert row["di"] == pytest.approx(fitted["di"].median())
    # the fitted shape is the true shape here, so the anchor recovers the new well's true qi
    # (monthly averages vs mid-month point rates differ by well under 1 % early in the decline)
    assert row["qi"] == pytest.approx(new.qi, rel=0.01)


def test_analog_reserves_are_cum_plus_the_models_volume_to_the_limit(field_table):
    prod, header, _ = field_table
    cfg = FitConfig(phases=("oil",))
    params = apply_analogs(fit_wells(prod, cfg), prod, header)
    fc = forecast(params.assign(status=params["status"].replace({ANALOG_STATUS: "fitted"})), q_limit=cfg.q_limits)
    out = _fill_analog_reserves(params, fc).set_index("well_id").loc["NEW"]
    # independently: the analog model's closed-form volume from the end of the history to the rate limit
    # or the time cap (max_years after the well's first month), whichever comes first
    model = ModifiedHyperbolic(qi=out["qi"], di=out["di"], b=out["b"], dterm=out["dterm"])
    t0 = pd.Timestamp(out["t0_month"])
    t_start = (pd.Timestamp("2024-01-01") - t0).days                    # the month after the last actual
    t_cap = (pd.Timestamp("2023-10-01") - t0).days + cfg.max_years * 365.25
    t_end = min(float(model.time_at_rate(cfg.q_limits["oil"])), t_cap)
    expected = float(model.cum(t_end) - model.cum(t_start))
    assert expected > 0
    assert out["remaining"] == pytest.approx(expected, rel=1e-6)
    assert out["eur"] == pytest.approx(out["cum_to_date"] + expected, rel=1e-6)


def test_small_group_falls_back_to_all_wells(field_table):
    prod, header, _ = field_table
    header = header.copy()
    header.loc[header["well_id"] == "NEW", "field"] = "Frontier"     # a field with no fitted wells
    out = apply_analogs(fit_wells(prod, FitConfig(phases=("oil",))), prod, header).set_index("well_id")
    assert out.loc["NEW", "status"] == ANALOG_STATUS
    assert "all wells median shape" in out.loc["NEW", "reason"]


def test_no_analogs_without_fitted_wells_or_producing_months():
    prod = well_rows("ONLY", ModifiedHyperbolic(qi=500.0, di=0.6, b=1.0, dterm=0.06), "2024-01-01", 2)
    params = fit_wells(prod, FitConfig(phases=("oil",)))
    out = apply_analogs(params, prod, None)
    assert (out["status"] == "insufficient_history").all()   # nothing to borrow a shape from


@pytest.mark.parametrize("idle_months, expected", [(2, "fitted"), (3, "inactive")])
def test_wells_without_recent_production_are_inactive_not_forecast(idle_months, expected):
    from basinlab.decline.step import mark_inactive

    live = well_rows("LIVE", ModifiedHyperbolic(qi=500.0, di=0.6, b=1.0, dterm=0.06), "2020-01-01", 36)
    idle = well_rows("IDLE", ModifiedHyperbolic(qi=500.0, di=0.6, b=1.0, dterm=0.06), "2020-01-01", 36)
    idle.loc[idle.index[-idle_months:], ["oil_bbl", "gas_mcf", "water_bbl", "days_on"]] = 0.0
    prod = pd.concat([live, idle], ignore_index=True)
    params = fit_wells(prod, FitConfig(phases=("oil",)))
    out = mark_inactive(params, prod, inactive_months=3).set_index("well_id")
    assert out.loc["LIVE", "status"] == "fitted"
    assert out.loc["IDLE", "status"] == expected          # 3 idle months (the dim_wells shut-in rule) = inactive
    if expected == "inactive":
        assert out.loc["IDLE", "remaining"] == 0.0
        assert out.loc["IDLE", "eur"] == pytest.approx(idle["oil_bbl"].sum())
        assert "no oil production since 2022-09" in out.loc["IDLE", "reason"]
        assert forecast(out.reset_index())["well_id"].unique().tolist() == ["LIVE"]
