"""Tests for the deterministic demo inbox generator (basinlab.demo).

Expected values are derived here from the contract (docs/ARCHITECTURE.md) and
from the documented assumptions, never copied from the generator's output.
"""
from __future__ import annotations

import calendar
import csv
import os
import re
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import numpy as np
import openpyxl
import pyarrow.parquet as pq
import pytest

from basinlab import demo
from basinlab.demo import generate_demo

WELLS, MONTHS, END = 12, 18, "2024-06"

HEADER_COLUMNS = ["well_id", "well_name", "operator", "field", "county", "state", "basin",
                  "first_production_month", "lateral_length_ft", "working_interest",
                  "net_revenue_interest", "well_type"]
PRODUCTION_COLUMNS = ["well_id", "production_month", "days_on", "oil_bbl", "gas_mcf", "water_bbl"]
GL_COLUMNS = ["journal_id", "line_number", "transaction_date", "account_code", "account_name",
              "description", "well_id", "afe_number", "partner_id", "debit_amount",
              "credit_amount", "currency"]
CHART = {
    "1100": "Cash", "1200": "Accounts receivable - purchasers", "1210": "JIB receivable - partners",
    "1500": "Oil and gas properties - capex (AFE)", "2000": "Accounts payable",
    "2100": "Severance tax payable", "4000": "Oil sales", "4010": "Gas sales", "4020": "NGL sales",
    "5000": "Lease operating expense", "5100": "Workover expense", "5200": "Severance tax",
    "5300": "Gathering and transportation",
    "5900": "JIB recovery - partners' share of operating cost",
    "6000": "General and administrative", "1590": "JIB recovery - partners' share of capex",
}
STATE_PREFIX = {"TX": "42", "NM": "30", "ND": "33"}
AMOUNT_RE = re.compile(r"^\d+\.\d{2}$")
VOLUME_RE = re.compile(r"^\d+\.\d{2}$")


# ------------------------------------------------------------------ helpers

def window(end: str, n: int) -> list[str]:
    y, m = map(int, end.split("-"))
    out = []
    for _ in range(n):
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y, m - 1) if m > 1 else (y - 1, 12)
    return out[::-1]


def month_diff(a: str, b: str) -> int:
    ya, ma = map(int, a.split("-"))
    yb, mb = map(int, b.split("-"))
    return (yb * 12 + mb) - (ya * 12 + ma)


def days_in(month: str) -> int:
    y, m = map(int, month.split("-"))
    return calendar.monthrange(y, m)[1]


def read_csv(path: Path) -> tuple[list[str], list[list[str]]]:
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    return rows[0], rows[1:]


def read_dicts(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def cents(s: str) -> int:
    return int(Decimal(s) * 100)


def tree_bytes(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def gen(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    messages: list[str] = []
    res = generate_demo(out, wells=WELLS, months=MONTHS, end_month=END, seed=7, progress=messages.append)
    return out, res, messages


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    """Wider sample for distribution-type checks (still well under a second)."""
    out = tmp_path_factory.mktemp("demo_big")
    return out, generate_demo(out, wells=120, months=36, end_month="2023-12", seed=11, bad_rows=False)


@pytest.fixture(scope="module")
def header(gen):
    out, _, _ = gen
    return {r["well_id"]: r for r in read_dicts(out / "well_header" / "demo_wells.csv")}


@pytest.fixture(scope="module")
def production(gen):
    out, _, _ = gen
    return read_dicts(out / "well_production" / "demo_production.csv")


@pytest.fixture(scope="module")
def gl(gen):
    out, _, _ = gen
    return read_dicts(out / "gl" / "demo_gl.csv")


@pytest.fixture(scope="module")
def prices(gen):
    out, _, _ = gen
    return pq.read_table(out / "prices" / "demo_price_deck.parquet").to_pylist()


# ------------------------------------------------------------------ determinism

def test_same_arguments_give_byte_identical_files(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    ra = generate_demo(a, wells=WELLS, months=MONTHS, end_month=END, seed=3)
    rb = generate_demo(b, wells=WELLS, months=MONTHS, end_month=END, seed=3)
    ta, tb = tree_bytes(a), tree_bytes(b)
    assert ta.keys() == tb.keys() and len(ta) == 7
    for name in ta:
        assert ta[name] == tb[name], name
    assert [(f.kind, f.path.relative_to(a), f.rows) for f in ra.files] == \
           [(f.kind, f.path.relative_to(b), f.rows) for f in rb.files]
    # regenerating in place rewrites the same bytes and leaves no temp files
    generate_demo(a, wells=WELLS, months=MONTHS, end_month=END, seed=3)
    assert tree_bytes(a) == ta


def test_different_seed_gives_different_files(tmp_path):
    generate_demo(tmp_path / "a", wells=WELLS, months=MONTHS, end_month=END, seed=1)
    generate_demo(tmp_path / "b", wells=WELLS, months=MONTHS, end_month=END, seed=2)
    ta, tb = tree_bytes(tmp_path / "a"), tree_bytes(tmp_path / "b")
    for name in ("well_header/demo_wells.csv", "well_production/demo_production.csv", "gl/demo_gl.csv",
                 "prices/demo_price_deck.parquet", "fx/demo_fx.xlsx"):
        assert ta[name] != tb[name], name


def test_xlsx_and_parquet_carry_no_wall_clock(gen):
    out, _, _ = gen
    wb = openpyxl.load_workbook(out / "fx" / "demo_fx.xlsx")
    assert wb.properties.created.strftime("%Y-%m") == END
    assert wb.properties.modified.strftime("%Y-%m") == END
    meta = pq.read_metadata(out / "prices" / "demo_price_deck.parquet").metadata or {}
    assert b"pandas" not in meta


def test_arguments_are_validated(tmp_path):
    with pytest.raises(ValueError):
        generate_demo(tmp_path, wells=3, months=3)  # end_month required
    with pytest.raises(ValueError):
        generate_demo(tmp_path, wells=3, months=3, end_month="2024-13")
    with pytest.raises(ValueError):
        generate_demo(tmp_path, wells=0, months=3, end_month=END)
    with pytest.raises(ValueError):
        generate_demo(tmp_path, wells=3, months=0, end_month=END)


def test_tiny_sizes_work(tmp_path):
    res = generate_demo(tmp_path, wells=1, months=1, end_month="2024-02", seed=0)
    assert res.rows("well_header") == 1
    prod = read_dicts(tmp_path / "well_production" / "demo_production.csv")
    assert [(r["production_month"]) for r in prod] == ["2024-02"]
    assert 0 < int(prod[0]["days_on"]) < 29


# ------------------------------------------------------------------ layout and counts

def test_files_and_row_counts(gen, header, production, gl, prices):
    out, res, messages = gen
    rel = {(f.kind, f.path.relative_to(out).as_posix()) for f in res.files}
    assert rel == {
        ("well_header", "well_header/demo_wells.csv"),
        ("well_production", "well_production/demo_production.csv"),
        ("gl", "gl/demo_gl.csv"),
        ("prices", "prices/demo_price_deck.parquet"),
        ("fx", "fx/demo_fx.xlsx"),
        ("well_production", "well_production/demo_production_late_entries.csv"),
        ("gl", "gl/demo_gl_manual_adjustments.csv"),
    }
    for f in res.files:  # every file's kind folder is the inbox kind
        assert f.path.parent.name == f.kind
    rows = {f.path.name: f.rows for f in res.files}
    assert rows["demo_wells.csv"] == len(header) == WELLS
    expected_prod = sum(month_diff(h["first_production_month"], END) + 1 for h in header.values())
    assert rows["demo_production.csv"] == len(production) == expected_prod
    assert rows["demo_gl.csv"] == len(gl)
    assert rows["demo_price_deck.parquet"] == len(prices) == 2 * MONTHS
    ws = openpyxl.load_workbook(out / "fx" / "demo_fx.xlsx").worksheets[0]
    assert rows["demo_fx.xlsx"] == ws.max_row - 1 == 3 * MONTHS
    assert rows["demo_production_late_entries.csv"] == 7
    assert rows["demo_gl_manual_adjustments.csv"] == 6
    assert res.start_month == window(END, MONTHS)[0] and res.end_month == END
    assert messages and all(isinstance(m, str) for m in messages)


def test_columns_follow_the_inbox_contract(gen):
    out, _, _ = gen
    assert read_csv(out / "well_header" / "demo_wells.csv")[0] == HEADER_COLUMNS
    assert read_csv(out / "well_production" / "demo_production.csv")[0] == PRODUCTION_COLUMNS
    assert read_csv(out / "well_production" / "demo_production_late_entries.csv")[0] == PRODUCTION_COLUMNS
    assert read_csv(out / "gl" / "demo_gl.csv")[0] == GL_COLUMNS
    assert read_csv(out / "gl" / "demo_gl_manual_adjustments.csv")[0] == GL_COLUMNS
    assert pq.read_schema(out / "prices" / "demo_price_deck.parquet").names == \
        ["price_month", "benchmark", "price_usd"]
    ws = openpyxl.load_workbook(out / "fx" / "demo_fx.xlsx").worksheets[0]
    assert [c.value for c in ws[1]] == ["rate_month", "currency", "units_per_usd"]


def test_bad_rows_false_writes_no_bad_files(tmp_path):
    res = generate_demo(tmp_path, wells=4, months=6, end_month=END, seed=1, bad_rows=False)
    assert len(res.files) == 5 and res.bad_rows == []
    assert not (tmp_path / "well_production" / "demo_production_late_entries.csv").exists()
    assert not (tmp_path / "gl" / "demo_gl_manual_adjustments.csv").exists()


# ------------------------------------------------------------------ well header

def test_header_values_are_plausible(big):
    out, _ = big
    rows = read_dicts(out / "well_header" / "demo_wells.csv")
    win = window("2023-12", 36)
    ids = [r["well_id"] for r in rows]
    assert len(set(ids)) == len(ids)
    assert len({r["well_name"] for r in rows}) == len(rows)
    for r in rows:
        assert re.fullmatch(r"(42|30|33)-\d{3}-\d{5}", r["well_id"]), r["well_id"]
        assert r["well_id"][:2] == STATE_PREFIX[r["state"]]
        assert r["basin"] in {"Midland", "Delaware", "Western Gulf", "Williston"}
        assert r["first_production_month"] in win
        wi, nri = float(r["working_interest"]), float(r["net_revenue_interest"])
        assert 0.5 <= wi <= 1.0
        assert 0.75 - 1e-6 <= nri / wi <= 0.8125 + 1e-6
        assert r["well_type"] == "producer"
        if r["lateral_length_ft"]:
            assert 4500 <= int(r["lateral_length_ft"]) <= 12500
    assert 4 <= len({r["field"] for r in rows}) <= 6
    ops = [r["operator"] for r in rows]
    n_demo = ops.count(demo.DEMO_OPERATOR)
    assert 0 < len(rows) - n_demo <= 0.15 * len(rows)  # a few non-op wells
    first_month_share = sum(r["first_production_month"] == win[0] for r in rows) / len(rows)
    assert 0.15 <= first_month_share <= 0.5
    assert len({r["first_production_month"] for r in rows}) > 10  # spread over the window


# ------------------------------------------------------------------ production

def test_production_is_physical(header, production):
    seen = set()
    for r in production:
        key = (r["well_id"], r["production_month"])
        assert key not in seen
        seen.add(key)
        assert r["well_id"] in header
        month = r["production_month"]
        assert re.fullmatch(r"\d{4}-\d{2}", month)
        assert header[r["well_id"]]["first_production_month"] <= month <= END
        d = int(r["days_on"])
        assert 0 <= d <= days_in(month)
        vols = [r["oil_bbl"], r["gas_mcf"], r["water_bbl"]]
        assert all(VOLUME_RE.match(v) for v in vols), r  # non-negative, 2 decimals
        if d == 0:
            assert all(Decimal(v) == 0 for v in vols)
        else:
            assert Decimal(r["oil_bbl"]) > 0
    # every well starts in its first production month with a partial month
    by_well = defaultdict(list)
    for r in production:
        by_well[r["well_id"]].append(r)
    assert set(by_well) == set(header)
    for wid, rows in by_well.items():
        months = [r["production_month"] for r in rows]
        assert months == sorted(months)
        assert months[0] == header[wid]["first_production_month"]
        assert 0 < int(rows[0]["days_on"]) < days_in(months[0])
        assert len(months) == month_diff(months[0], END) + 1  # no gaps


def test_ramp_up_then_decline(big):
    out, _ = big
    rows = read_dicts(out / "well_production" / "demo_production.csv")
    by_well = defaultdict(list)
    for r in rows:
        if int(r["days_on"]) > 0:
            by_well[r["well_id"]].append(float(r["oil_bbl"]) / int(r["days_on"]))  # per producing day
    long = {w: q for w, q in by_well.items() if len(q) >= 15}
    assert len(long) >= 20
    peak_pos = [int(np.argmax(q)) for q in long.values()]
    assert np.median(peak_pos) <= 3  # peak within the first 4 producing months
    for q in long.values():
        assert np.mean(q[-3:]) < max(q)
        assert np.mean(q[-3:]) < 0.8 * np.mean(q[1:4])


def test_gor_and_water_cut_rise(big):
    out, _ = big
    rows = read_dicts(out / "well_production" / "demo_production.csv")
    by_well = defaultdict(list)
    for r in rows:
        if int(r["days_on"]) > 0:
            o, g, w = float(r["oil_bbl"]), float(r["gas_mcf"]), float(r["water_bbl"])
            by_well[r["well_id"]].append((g / o, w / (w + o)))
    gor_up, wc_up, n = 0, 0, 0
    for vals in by_well.values():
        if len(vals) < 15:
            continue
        n += 1
        a = np.array(vals)
        gor_up += a[-3:, 0].mean() > a[:3, 0].mean()
        wc_up += a[-3:, 1].mean() > a[:3, 1].mean()
        assert 0.8 <= a[:, 0].min() and a[:, 0].max() <= 3.6  # GOR ~1..3 mcf/bbl (+ noise)
    assert n >= 20 and gor_up >= 0.9 * n and wc_up >= 0.9 * n


# ------------------------------------------------------------------ prices and fx

def test_price_deck_and_fx_cover_the_window(gen, prices):
    out, _, _ = gen
    win = window(END, MONTHS)
    for bench, lo, hi in (("WTI", 60, 90), ("HENRY_HUB", 2, 5)):
        rows = [p for p in prices if p["benchmark"] == bench]
        assert sorted(p["price_month"] for p in rows) == win
        assert all(lo <= p["price_usd"] <= hi for p in rows)
    ws = openpyxl.load_workbook(out / "fx" / "demo_fx.xlsx").worksheets[0]
    fx = [tuple(c.value for c in row) for row in ws.iter_rows(min_row=2)]
    centres = {"CAD": 1.35, "EUR": 0.92, "NOK": 10.5}
    for cur, centre in centres.items():
        rows = [r for r in fx if r[1] == cur]
        assert sorted(r[0] for r in rows) == win
        assert all(0.8 * centre <= r[2] <= 1.2 * centre for r in rows)


# ------------------------------------------------------------------ GL

def journals(lines: list[dict[str, str]]) -> dict[str, list[dict[str, str]]]:
    out = defaultdict(list)
    for ln in lines:
        out[ln["journal_id"]].append(ln)
    return out


def test_gl_lines_are_well_formed_and_every_journal_balances(header, gl):
    assert gl
    for ln in gl:
        dr, cr = ln["debit_amount"], ln["credit_amount"]
        assert (dr == "") != (cr == ""), ln
        assert AMOUNT_RE.match(dr or cr), ln
        assert Decimal(dr or cr) > 0
        assert CHART[ln["account_code"]] == ln["account_name"]
        assert ln["currency"] == "USD"
        assert ln["well_id"] == "" or ln["well_id"] in header
        m = re.fullmatch(r"JE-(\d{4}-\d{2})-\d{6}", ln["journal_id"])
        assert m and ln["transaction_date"][:7] == m.group(1)
        day = int(ln["transaction_date"][8:])
        assert day in (25, days_in(m.group(1)))
        if ln["account_code"] in ("6000", "1100"):
            assert ln["well_id"] == ""
    months = {ln["transaction_date"][:7] for ln in gl}
    assert months == set(window(END, MONTHS))
    for jid, lines in journals(gl).items():
        assert [int(x["line_number"]) for x in lines] == list(range(1, len(lines) + 1)), jid
        assert sum(cents(x["debit_amount"] or "0") for x in lines) == \
            sum(cents(x["credit_amount"] or "0") for x in lines), jid
        assert len({x["transaction_date"] for x in lines}) == 1


def by_well_month(gl, account, side):
    out = defaultdict(int)
    for ln in gl:
        if ln["account_code"] == account:
            out[(ln["well_id"], ln["transaction_date"][:7])] += cents(ln[side] or "0")
    return out


def test_revenue_is_booked_net_at_realised_prices(header, production, gl, prices):
    price = {(p["price_month"], p["benchmark"]): p["price_usd"] for p in prices}
    oil_rev = by_well_month(gl, "4000", "credit_amount")
    gas_rev = by_well_month(gl, "4010", "credit_amount")
    ngl_rev = by_well_month(gl, "4020", "credit_amount")
    ar = by_well_month(gl, "1200", "debit_amount")
    checked = 0
    for r in production:
        key = (r["well_id"], r["production_month"])
        h = header[r["well_id"]]
        nri = float(h["net_revenue_interest"])
        oil, gas = float(r["oil_bbl"]), float(r["gas_mcf"])
        if int(r["days_on"]) == 0:
            assert key not in oil_rev and key not in ar
            continue
        wti, hh = price[(key[1], "WTI")], price[(key[1], "HENRY_HUB")]
        # documented assumptions: WTI less a basin differential of $2-6/bbl, HH x 0.85 per mcf,
        # NGL 80 bbl/MMcf at 30 % of WTI; booking noise within +-1 %
        diff = demo.OIL_DIFFERENTIAL_USD_BBL[h["basin"]]
        assert 2.0 <= diff <= 6.0
        expect = {
            "oil": oil * (wti - diff) * nri,
            "gas": gas * hh * 0.85 * 1.0 * nri,
            "ngl": gas * 80 / 1000 * 0.30 * wti * nri,
        }
        booked = {"oil": oil_rev[key] / 100, "gas": gas_rev[key] / 100, "ngl": ngl_rev[key] / 100}
        for k in expect:
            assert abs(booked[k] - expect[k]) <= 0.0101 * expect[k] + 0.01, (key, k)
        assert ar[key] == oil_rev[key] + gas_rev[key] + ngl_rev[key]
        checked += 1
    assert checked > 0
    # booked differs slightly from calculated (booking noise), not exactly equal everywhere
    r0 = next(r for r in production if int(r["days_on"]) > 0)
    assert oil_rev[(r0["well_id"], r0["production_month"])] != round(
        float(r0["oil_bbl"]) * (price[(r0["production_month"], "WTI")]
                                - demo.OIL_DIFFERENTIAL_USD_BBL[header[r0["well_id"]]["basin"]])
        * float(header[r0["well_id"]]["net_revenue_interest"]) * 100)


def test_severance_is_a_state_rate_of_net_revenue(header, gl):
    net_rev = defaultdict(int)
    for acct in ("4000", "4010", "4020"):
        for k, v in by_well_month(gl, acct, "credit_amount").items():
            net_rev[k] += v
    sev = by_well_month(gl, "5200", "debit_amount")
    assert set(sev) <= set(net_rev) and sev
    for k, v in sev.items():
        assert 0.04 <= v / net_rev[k] <= 0.10
    assert by_well_month(gl, "2100", "credit_amount") == sev


def test_operating_costs_capex_and_jib(header, production, gl):
    loe = by_well_month(gl, "5000", "debit_amount")
    wo = by_well_month(gl, "5100", "debit_amount")
    gt = by_well_month(gl, "5300", "debit_amount")
    capex = by_well_month(gl, "1500", "debit_amount")
    jib_op = by_well_month(gl, "5900", "credit_amount")
    jib_cx = by_well_month(gl, "1590", "credit_amount")
    prod_keys = {(r["well_id"], r["production_month"]) for r in production}
    assert set(loe) == prod_keys  # LOE for every month on line, shut-in months included
    for r in production:
        k = (r["well_id"], r["production_month"])
        if float(r["gas_mcf"]) > 0:
            assert gt[k] > 0
    # capex only in a well's first three months, booked against one AFE per well
    afe_of = {}
    for ln in gl:
        if ln["account_code"] == "1500":
            h = header[ln["well_id"]]
            assert 0 <= month_diff(h["first_production_month"], ln["transaction_date"][:7]) <= 2
            assert re.fullmatch(r"AFE-\d{4}-\d{4,}", ln["afe_number"])
            assert afe_of.setdefault(ln["well_id"], ln["afe_number"]) == ln["afe_number"]
    assert len(set(afe_of.values())) == len(afe_of)
    for wid, h in header.items():
        wi = float(h["working_interest"])
        operated = h["operator"] == demo.DEMO_OPERATOR
        if month_diff(h["first_production_month"], END) >= 2:  # all capex months inside the window
            total = sum(v for (w, _), v in capex.items() if w == wid) / 100
            share = 1.0 if operated else wi  # non-op: our WI share of the operator's bill
            assert 6e6 * share - 1 <= total <= 10e6 * share + 1, wid
        for k in [k for k in loe if k[0] == wid]:
            billed_op, billed_cx = jib_op.get(k, 0), jib_cx.get(k, 0)
            if not operated or wi == 1.0:
                assert billed_op == 0 and billed_cx == 0
                continue
            # partners are billed their (1 - WI) share of gross LOE + workover + G&T and capex
            gross = loe[k] + wo.get(k, 0) + gt.get(k, 0)
            assert abs(billed_op - (1 - wi) * gross) <= 2, k
            assert abs(billed_cx - (1 - wi) * capex.get(k, 0)) <= 2, k
    for lines in journals(gl).values():
        if any(x["account_code"] == "1210" for x in lines):
            partners = {x["partner_id"] for x in lines}
            assert len(partners) == 1 and re.fullmatch(r"P\d{3}", partners.pop())
            assert {x["account_code"] for x in lines} <= {"1210", "5900", "1590"}
    ga_months = sorted(ln["transaction_date"][:7] for ln in gl if ln["account_code"] == "6000")
    assert ga_months == window(END, MONTHS)


def test_jib_exists_for_non_full_interest_wells(big):
    out, _ = big
    hdr = read_dicts(out / "well_header" / "demo_wells.csv")
    lines = read_dicts(out / "gl" / "demo_gl.csv")
    billed = {ln["well_id"] for ln in lines if ln["account_code"] == "1210"}
    expected = {h["well_id"] for h in hdr
                if h["operator"] == demo.DEMO_OPERATOR and float(h["working_interest"]) < 1.0}
    assert billed == expected and expected


# ------------------------------------------------------------------ bad rows

def classify_production(row: dict[str, str]) -> str | None:
    """An independent validator for the contract: None when the row is loadable."""
    if not row["well_id"].strip():
        return "missing well_id"
    if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", row["production_month"]):
        return "bad month"
    values = {}
    for col in ("days_on", "oil_bbl", "gas_mcf", "water_bbl"):
        try:
            values[col] = float(row[col])
        except ValueError:
            return "bad number"
    if not 0 <= values["days_on"] <= 31:
        return "days_on range"
    if min(values["oil_bbl"], values["gas_mcf"], values["water_bbl"]) < 0:
        return "negative volume"
    return None


def test_late_production_entries_are_exactly_the_documented_bad_rows(gen, production):
    out, res, _ = gen
    path = out / "well_production" / "demo_production_late_entries.csv"
    rows = read_dicts(path)
    assert len(rows) == 7
    reasons = {line: classify_production(r) for line, r in enumerate(rows, start=2)}
    bad = {line: why for line, why in reasons.items() if why}
    assert sorted(bad.values()) == sorted(
        ["missing well_id", "bad month", "bad number", "days_on range", "negative volume"])
    # the good rows are exact duplicates of rows in demo_production.csv
    main = {tuple(r.values()) for r in production}
    good = [r for line, r in zip(reasons, rows) if reasons[line] is None]
    assert len(good) == 2 and all(tuple(r.values()) in main for r in good)
    # each bad row has exactly one defect: the bad number is "12,3a", the month "<year>-13"
    assert any(r["oil_bbl"] == "12,3a" for r in rows)
    assert any(r["production_month"] == "2024-13" for r in rows)
    assert any(r["days_on"] == "45" for r in rows)
    documented = [(b.line, b.path) for b in res.bad_rows if b.kind == "well_production"]
    assert sorted(line for line, _ in documented) == sorted(bad)
    assert all(p == path for _, p in documented)


def test_manual_gl_adjustments_contain_exactly_two_bad_lines(gen, gl):
    out, res, _ = gen
    path = out / "gl" / "demo_gl_manual_adjustments.csv"
    lines = read_dicts(path)
    assert len(lines) == 6
    bad = [(i, ln) for i, ln in enumerate(lines, start=2)
           if (ln["debit_amount"] == "") == (ln["credit_amount"] == "")]
    assert [i for i, _ in bad] == sorted(b.line for b in res.bad_rows if b.kind == "gl")
    assert len(bad) == 2 and {ln["journal_id"] for _, ln in bad} == {"JE-ADJ-BAD"}
    assert {(ln["debit_amount"] != "", ln["credit_amount"] != "") for _, ln in bad} == \
        {(True, True), (False, False)}
    kept = [ln for ln in lines if (ln["debit_amount"] == "") != (ln["credit_amount"] == "")]
    kept_journals = journals(kept)
    assert len(kept_journals) == 2 and "JE-ADJ-BAD" not in kept_journals
    for jl in kept_journals.values():
        assert sum(cents(x["debit_amount"] or "0") for x in jl) == \
            sum(cents(x["credit_amount"] or "0") for x in jl)
        assert all(x["account_name"] == CHART[x["account_code"]] for x in jl)
    main_ids = {ln["journal_id"] for ln in gl}
    assert not main_ids & {ln["journal_id"] for ln in lines}


# ------------------------------------------------------------------ decline helper

def test_mh_helper_rate_and_cum_agree():
    qi, b = np.array([800.0, 500.0, 300.0]), np.array([0.8, 1.0, 1.4])
    di = demo._nominal_from_secant(np.array([0.7, 0.6, 0.8]), b) / 365.25
    dmin = -np.log(1 - 0.06) / 365.25
    t = np.linspace(0, 50 * 365.25, 20001)[:, None]  # b=0.8 switches after ~20 years
    q = demo._mh_rate(t, qi, di, b, dmin)
    cum = demo._mh_cum(t, qi, di, b, dmin)
    trapezoid = np.concatenate([np.zeros((1, 3)), np.cumsum((q[1:] + q[:-1]) / 2 * np.diff(t, axis=0), axis=0)])
    assert np.allclose(cum, trapezoid, rtol=2e-3)
    assert np.all(np.diff(q, axis=0) <= 0) and np.allclose(q[0], qi)
    # late in life the decline is the terminal exponential (6 %/yr effective)
    yearly = q[-1] / demo._mh_rate(t[-1] - 365.25, qi, di, b, dmin)
    assert np.allclose(yearly, 0.94, atol=1e-6)


# ------------------------------------------------------------------ streaming in batches of wells

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


def generate_tree(out: Path, batch_wells: int, **kw) -> tuple[dict[str, bytes], demo.DemoResult]:
    res = generate_demo(out, batch_wells=batch_wells, **kw)
    return tree_bytes(out), res


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(wells=st.integers(1, 40), months=st.integers(1, 30), seed=st.integers(0, 2**63),
       end=st.tuples(st.integers(1990, 2040), st.integers(1, 12)), odd_batch=st.integers(2, 45),
       bad=st.booleans())
def test_output_bytes_do_not_depend_on_the_batch_size(tmp_path_factory, wells, months, seed, end, odd_batch, bad):
    """Batches of 1, 7, an arbitrary size and all wells at once give the same files, byte for byte."""
    kw = dict(wells=wells, months=months, end_month=f"{end[0]:04d}-{end[1]:02d}", seed=seed, bad_rows=bad)
    root = tmp_path_factory.mktemp("batches")
    ref, ref_res = generate_tree(root / "all", wells, **kw)
    assert ref  # every file written
    for size in (1, 7, odd_batch):
        tree, res = generate_tree(root / f"b{size}", size, **kw)
        assert tree.keys() == ref.keys()
        assert [k for k in tree if tree[k] != ref[k]] == [], f"batch_wells={size} changed these files"
        assert [(f.kind, f.rows) for f in res.files] == [(f.kind, f.rows) for f in ref_res.files]
        assert [(b.kind, b.line, b.reason) for b in res.bad_rows] == \
               [(b.kind, b.line, b.reason) for b in ref_res.bad_rows]


def test_rows_counted_match_the_files_when_batched(tmp_path):
    """Row counts reported per file equal the lines in the file (header excluded), batch by batch."""
    res = generate_demo(tmp_path, wells=23, months=14, end_month=END, seed=5, batch_wells=4)
    for f in res.files:
        if f.path.suffix == ".csv":
            assert len(f.path.read_text().splitlines()) - 1 == f.rows, f.path.name


def test_arrays_in_memory_are_bounded_by_the_batch_size(tmp_path, monkeypatch):
    """Every (wells × months) draw and every production block covers at most ``batch_wells`` wells."""
    shapes: list[tuple[int, ...]] = []
    real_draw, real_production = demo._draw, demo._production

    def spy_draw(g, name, days):
        shapes.append(days.shape)
        return real_draw(g, name, days)

    def spy_production(wells, lo, hi, win, d):
        p = real_production(wells, lo, hi, win, d)
        shapes.append(p.days_on.shape)
        return p

    monkeypatch.setattr(demo, "_draw", spy_draw)
    monkeypatch.setattr(demo, "_production", spy_production)
    generate_demo(tmp_path, wells=30, months=9, end_month=END, seed=8, batch_wells=4)
    assert shapes and max(s[0] for s in shapes) == 4
    assert all(s[1] == 9 for s in shapes)


def test_gl_merge_writes_in_chunks(tmp_path, monkeypatch):
    """The GL file is written in chunks no larger than the configured chunk (plus one bucket slice)."""
    monkeypatch.setattr(demo, "GL_WRITE_CHUNK_LINES", 50)
    ref = generate_demo(tmp_path / "a", wells=20, months=12, end_month=END, seed=4)
    sizes: list[int] = []
    real_csv = demo._csv_bytes

    def spy_csv(columns, arrays, header=True):
        if columns == demo.GL_COLUMNS:
            sizes.append(len(arrays[0]))
        return real_csv(columns, arrays, header)

    monkeypatch.setattr(demo, "_csv_bytes", spy_csv)
    res = generate_demo(tmp_path / "b", wells=20, months=12, end_month=END, seed=4, batch_wells=3)
    assert len(sizes) > 5 and sum(sizes) == res.rows("gl") - 6  # 6 manual adjustment lines
    assert max(sizes) < 50 + 20 * 4 * 3  # one chunk plus at most one bucket slice of a batch
    assert (tmp_path / "a" / demo.FILE_GL).read_bytes() == (tmp_path / "b" / demo.FILE_GL).read_bytes()
    assert ref.rows("gl") == res.rows("gl")


@pytest.mark.parametrize("fail_in", ["_production", "_gl_amounts", "_GlWriter.flush"])
def test_a_failure_part_way_leaves_no_partial_files(tmp_path, monkeypatch, fail_in):
    """An error in the middle of the stream leaves neither half-written files nor temp files behind."""
    calls = {"n": 0}
    owner, _, name = fail_in.rpartition(".")
    target = getattr(demo, owner) if owner else demo
    real = getattr(target, name)

    def boom(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("disk on fire")
        return real(*args, **kwargs)

    fresh, previous = tmp_path / "fresh", tmp_path / "previous"
    generate_demo(previous, wells=9, months=7, end_month=END, seed=99)  # an earlier demo in the inbox
    before = tree_bytes(previous)
    monkeypatch.setattr(target, name, boom)
    monkeypatch.setattr(demo, "GL_WRITE_CHUNK_LINES", 40)
    for out in (fresh, previous):
        calls["n"] = 0
        with pytest.raises(RuntimeError, match="disk on fire"):
            generate_demo(out, wells=12, months=10, end_month=END, seed=3, batch_wells=3)
    assert not [p for p in fresh.rglob("*") if p.is_file()]  # nothing at all, not even prices or fx
    assert tree_bytes(previous) == before  # the earlier demo untouched, no temp files left


@pytest.mark.parametrize(("arg", "value"), [("batch_wells", 0), ("batch_wells", -2), ("workers", 0), ("workers", -1)])
def test_batch_size_and_workers_are_validated(tmp_path, arg, value):
    with pytest.raises(ValueError, match=f"{arg} must be >= 1, got {value}"):
        generate_demo(tmp_path, wells=3, months=3, end_month=END, **{arg: value})
    assert not list(tmp_path.iterdir())


# ------------------------------------------------------------------ worker processes

@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(wells=st.integers(2, 40), months=st.integers(1, 30), seed=st.integers(0, 2**63),
       end=st.tuples(st.integers(1990, 2040), st.integers(1, 12)), batch=st.integers(1, 9), bad=st.booleans())
def test_worker_processes_write_the_same_bytes(tmp_path_factory, wells, months, seed, end, batch, bad):
    """Batches and GL months computed in two worker processes (written in order by the caller) give the
    files, counts and bad rows of one process, byte for byte."""
    kw = dict(wells=wells, months=months, end_month=f"{end[0]:04d}-{end[1]:02d}", seed=seed, bad_rows=bad,
              batch_wells=batch)
    root = tmp_path_factory.mktemp("workers")
    one = generate_demo(root / "one", workers=1, **kw)
    two = generate_demo(root / "two", workers=2, **kw)
    assert tree_bytes(root / "two") == tree_bytes(root / "one")
    assert [(f.kind, f.rows) for f in two.files] == [(f.kind, f.rows) for f in one.files]
    assert [(b.kind, b.line, b.reason) for b in two.bad_rows] == [(b.kind, b.line, b.reason) for b in one.bad_rows]


def test_small_demos_start_no_worker_process(monkeypatch):
    monkeypatch.setenv("BASINLAB_THREADS", "4")
    assert demo.default_workers(demo.PARALLEL_MIN_WELLS - 1) == 1
    assert demo.default_workers(demo.PARALLEL_MIN_WELLS, batch_wells=demo.PARALLEL_MIN_WELLS) == 1  # one batch
    assert demo.default_workers(demo.PARALLEL_MIN_WELLS) == 4


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return not open(f"/proc/{pid}/stat").read().split(") ")[1].startswith("Z")


@pytest.mark.parametrize("failure", ["worker killed", "write fails"])
def test_a_failure_with_workers_leaves_no_files_and_no_worker(tmp_path, monkeypatch, failure):
    """A worker killed mid-demo (out of memory) gives a clear error; a write that fails in the caller while
    workers compute stops them. Either way no file (not even a temp file) is left and no worker lives on."""
    import signal

    from basinlab.workers import WorkerError

    pools = []

    class SpyPool(demo.BatchPool):
        def __init__(self, *a, **kw):
            super().__init__(*a, **kw)
            pools.append(self)

    def worker_pids():
        pool = pools[-1]._pool
        return list(pool._processes) if pool is not None else []

    monkeypatch.setattr(demo, "BatchPool", SpyPool)
    seen = []
    real_write_gl = demo._write_gl

    def progress(msg):
        if msg.startswith("wells ") and failure == "worker killed" and not seen:
            seen.extend(worker_pids())
            os.kill(seen[0], signal.SIGKILL)

    def failing_write_gl(out_dir, shared, ref, pool, spill, ga, sink, say):
        seen.extend(worker_pids())

        def full_sink(path):
            raise OSError(28, "No space left on device", str(path))
        return real_write_gl(out_dir, shared, ref, pool, spill, ga, full_sink if failure == "write fails" else sink,
                             say)

    monkeypatch.setattr(demo, "_write_gl", failing_write_gl)
    expected = (WorkerError, "a demo worker process died .* BASINLAB_THREADS=1") if failure == "worker killed" \
        else (OSError, "No space left on device")
    with pytest.raises(expected[0], match=expected[1]):
        generate_demo(tmp_path / "out", wells=40, months=24, end_month=END, seed=2, batch_wells=4, workers=2,
                      progress=progress)
    assert seen
    assert not [p for p in (tmp_path / "out").rglob("*") if p.is_file()]
    assert not any(_alive(pid) for pid in seen)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(-(2**62), 2**62), st.booleans()), min_size=1, max_size=40))
def test_cents_render_as_two_decimals(values):
    """Integer cents → exactly the decimal text, '-0.05' style, empty where null."""
    import io as _io

    import pyarrow as pa
    import pyarrow.csv as pacsv

    cents = np.array([v for v, _ in values], np.int64)
    null = np.array([n for _, n in values])
    buf = _io.BytesIO()
    pacsv.write_csv(pa.table({"a": demo._fmt_cents(cents, null)}), buf,
                    pacsv.WriteOptions(include_header=False, quoting_style="none"))
    expected = ["" if n else str(Decimal(v).scaleb(-2).quantize(Decimal("0.01"))) for v, n in values]
    assert buf.getvalue().decode().splitlines() == expected


@pytest.mark.parametrize("wells", [1, 69_999, 70_000, 70_001, 100_000])
def test_api_well_numbers_stay_unique_up_to_basin_scale(wells):
    """Up to 70,000 wells the numbers come from 30000-99999 (the files of earlier versions, unchanged);
    beyond, from all five-digit numbers; never a repeat, so well ids stay unique."""
    import numpy as np

    from basinlab import demo

    nums = demo._draw_wells(np.random.default_rng(7), wells, 12)["api_numbers"]
    assert len(np.unique(nums)) == wells
    assert nums.min() >= (demo.API_NUMBER_LOW if wells <= 70_000 else 0) and nums.max() < demo.API_NUMBER_HIGH


def test_more_wells_than_api_numbers_is_refused_by_name(tmp_path):
    from basinlab import demo

    with pytest.raises(ValueError, match=r"wells must be <= 100000 \(unique five-digit API well numbers\)"):
        demo.generate_demo(tmp_path / "inbox", wells=demo.MAX_WELLS + 1, months=12, end_month="2024-06")
