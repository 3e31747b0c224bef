"""Settings a user can edit: settings.yml written with the defaults, validated, recorded, shown."""
from __future__ import annotations

import math

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from basinlab import cli, run_models
from basinlab import settings as bs
from fixtures_sql import add_file, fx, header, new_warehouse, price, prod

SPECS = bs.declared()


def test_first_load_writes_the_defaults_commented_and_reads_back_the_same(tmp_path):
    s = bs.load(tmp_path)
    assert s.created and (tmp_path / bs.SETTINGS_FILE).exists()
    assert set(s.sources.values()) == {bs.DEFAULT}
    text = (tmp_path / bs.SETTINGS_FILE).read_text()
    for spec in SPECS.values():
        assert f"\n{spec.name}:" in text and spec.allowed() in text
    again = bs.load(tmp_path)
    assert not again.created and again.values == s.values
    assert all(src.startswith(str(tmp_path / bs.SETTINGS_FILE)) for src in again.sources.values())
    assert s.values["reporting_currency"] == "USD"     # nobody asked for another currency


def test_a_read_only_data_dir_gets_the_defaults_and_a_note(tmp_path, monkeypatch):
    import errno

    def refuse(*_a, **_k):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(bs.os, "replace", refuse)          # a read-only mount (root ignores chmod)
    s = bs.load(tmp_path)
    assert not s.created and not (tmp_path / bs.SETTINGS_FILE).exists()
    assert s.values == bs.defaults().values
    assert "Read-only file system" in s.notes[0] and "using the defaults" in s.notes[0]


def _bad_value(spec):
    """Values a setting of this type must refuse."""
    bad = [None, "abc", [1, 2], True]
    if spec.type == "currency":
        return st.sampled_from(["US", "DOLLARS", "12a", "", 5, None, ["USD"]])
    if spec.type == "map":
        return st.sampled_from([5, "Midland", [2.0], {"Midland": "x"}, {"Midland": None}, {"": 1.0},
                                {"Midland": float("nan")}, {"Midland": (spec.max or 0) + 1}])
    out = list(bad) + [float("inf"), float("nan")]
    if spec.max is not None:
        out.append(spec.max + (1 if spec.type == "integer" else 0.5))
    if spec.min is not None:
        out.append(spec.min - 1)
    if spec.type == "integer":
        out.append(2.5)
    return st.sampled_from(out)


@st.composite
def bad_files(draw):
    """A settings file with one bad entry among good ones, the bad entry's line and key."""
    names = draw(st.lists(st.sampled_from(list(SPECS)), unique=True, min_size=1, max_size=4))
    lines, bad_line, bad_key = ["# settings"], None, None
    kind = draw(st.sampled_from(["value", "unknown", "repeat"]))
    target = names[0]
    for name in names:
        if name == target and kind == "value":
            value = draw(_bad_value(SPECS[name]))
            lines.append(yaml.safe_dump({name: value}, default_flow_style=True).strip()[1:-1]
                         if not isinstance(value, float) or math.isfinite(value) else f"{name}: {value}")
            bad_line, bad_key = len(lines), name
        else:
            lines.append(yaml.safe_dump({name: SPECS[name].default}, default_flow_style=True).strip()[1:-1])
    if kind == "unknown":
        lines.append("gas_price_fraction_of_henry: 0.9")
        bad_line, bad_key = len(lines), "gas_price_fraction_of_henry"
    if kind == "repeat":
        lines.append(yaml.safe_dump({target: SPECS[target].default}, default_flow_style=True).strip()[1:-1])
        bad_line, bad_key = len(lines), target
    return "\n".join(lines) + "\n", bad_line, bad_key


@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=bad_files())
def test_a_bad_settings_file_is_refused_naming_file_line_key_and_what_is_allowed(tmp_path, case):
    text, line, key = case
    path = tmp_path / bs.SETTINGS_FILE
    path.write_text(text)
    with pytest.raises(bs.SettingsError) as e:
        bs.read_file(path)
    msg = str(e.value)
    assert str(path) in msg and f"line {line}" in msg and key in msg
    if key in SPECS and "twice" not in msg:
        assert "allowed:" in msg
    if key not in SPECS:
        assert "gas_price_fraction_of_henry_hub" in msg          # what was meant


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(frac=st.floats(0, 2), yield_=st.floats(0, 500), months=st.integers(1, 60),
       cur=st.sampled_from(["usd", "CAD", "eur", "NOK"]))
def test_good_values_round_trip_through_the_file(tmp_path, frac, yield_, months, cur):
    path = tmp_path / bs.SETTINGS_FILE
    path.write_text(yaml.safe_dump({"gas_price_fraction_of_henry_hub": frac, "ngl_yield_bbl_per_mmcf": yield_,
                                    "shut_in_months": months, "reporting_currency": cur}))
    s = bs.read_file(path)
    assert s.values["gas_price_fraction_of_henry_hub"] == frac and s.values["shut_in_months"] == months
    assert s.values["reporting_currency"] == cur.upper()
    assert s.sources["ngl_yield_bbl_per_mmcf"].startswith(f"{path} line ")
    assert s.sources["gas_heating_value_mmbtu_per_mcf"] == bs.DEFAULT


def test_recorded_settings_drive_the_models_and_say_where_they_came_from(tmp_path):
    (tmp_path / bs.SETTINGS_FILE).write_text(
        "reporting_currency: CAD\ngas_price_fraction_of_henry_hub: 1.0\n"
        "ngl_yield_bbl_per_mmcf: 0\noil_differentials_usd_per_bbl: {Midland: 4.5}\n")
    con = new_warehouse()
    bs.record(con, bs.load(tmp_path))
    add_file(con, "well_header", [header("W1", basin="Midland", nri=0.5)])
    add_file(con, "well_production", [prod("W1", "2024-01", oil=100, gas=100)])
    add_file(con, "price_deck", [price("2024-01", "WTI", 80.0), price("2024-01", "HENRY_HUB", 3.0)])
    add_file(con, "currency_rates", [fx("2024-01", "CAD", 1.25)])
    run_models(con)
    r = con.execute("select oil_price_usd_per_bbl, gas_price_usd_per_mcf, ngl_bbl, net_revenue_usd, "
                    "reporting_currency, net_revenue_reporting from marts.mart_revenue").fetchall()[0]
    # oil 80 - 4.5 = 75.5; gas 3 x 1 x 1.0 = 3; no NGL; net = (100 x 75.5 + 100 x 3) x 0.5 = 3925; CAD x 1.25
    assert r[:4] == pytest.approx((75.5, 3.0, 0.0, 3925.0))
    assert r[4] == "CAD" and r[5] == pytest.approx(4906.25)
    rows = dict(con.execute("select setting, source from metadata.transform_settings").fetchall())
    assert rows["reporting_currency"].endswith("line 1") and rows["shut_in_months"] == bs.DEFAULT
    assert set(rows) == {n for n, s in SPECS.items() if s.scalar}
    assert con.execute("select basin, differential_usd_per_bbl from metadata.oil_differentials").fetchall() == \
        [("Midland", 4.5)]


def test_a_fresh_warehouse_reports_in_usd(tmp_path):
    con = new_warehouse()
    add_file(con, "well_production", [prod("W1", "2024-01", oil=100)])
    run_models(con)
    assert con.execute("select reporting_currency, reporting_units_per_usd from marts.int_price_fx_monthly"
                       ).fetchall() == [("USD", 1.0)]
    assert con.execute("select value, source from metadata.transform_settings where setting = "
                       "'reporting_currency'").fetchall() == [("USD", "default")]


def test_overrides_are_validated_and_recorded_as_overrides():
    con = new_warehouse()
    with pytest.raises(bs.SettingsError, match="did you mean shut_in_months"):
        run_models(con, settings={"shut_in": 2})
    with pytest.raises(ValueError, match="out of range"):
        run_models(con, settings={"shut_in_months": 0})
    run_models(con, settings={"shut_in_months": 6})
    assert con.execute("select value, source from metadata.transform_settings where setting = 'shut_in_months'"
                       ).fetchall() == [("6", "override")]
    assert con.execute("select shut_in_months from staging.stg_settings").fetchall() == [(6,)]


def test_cli_settings_shows_values_units_and_sources(tmp_path, capsys):
    (tmp_path / bs.SETTINGS_FILE).write_text("# mine\nshut_in_months: 4\n")
    assert cli.main(["settings", "--data-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "shut_in_months" in out and f"{tmp_path / bs.SETTINGS_FILE} line 2" in out
    assert "gas_mcf_per_boe" in out and "from default" in out
    (tmp_path / bs.SETTINGS_FILE).write_text("shut_in_months: lots\n")
    assert cli.main(["settings", "--data-dir", str(tmp_path)]) == 1
    assert "shut_in_months: 'lots' is not a whole number" in capsys.readouterr().err
