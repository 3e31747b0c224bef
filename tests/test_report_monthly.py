"""The stakeholder report, read as a reader would: the PDF and the workbook of one small published demo
warehouse (12 wells x 24 months, two wells late for the report month, one well without a header row),
rendered once through the real report notebook, checked against the source files and against each other."""
from __future__ import annotations

import csv
import re
import shutil
import zipfile
from pathlib import Path

import duckdb
import hypothesis
import openpyxl
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from basinlab import generate_demo, ingest_inbox, quality, run_models, warehouse
from basinlab.decline.step import fit_warehouse
from basinlab.report import labels, monthly, palette
from basinlab.report._common import NOT_REPORTED
from basinlab.report.period import Period

MONTH = "2024-06"
PRIOR = "2024-05"
LATE_WELLS = 2          # wells whose report-month row is "not in yet"
WELLS, MONTHS = 12, 24


def _rows(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def _write_rows(path: Path, rows: list[dict], fieldnames: list[str] | None = None) -> None:
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=fieldnames or list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def _build(root: Path, *, drop_gl_month: bool = False) -> Path:
    inbox = root / "inbox"
    generate_demo(inbox, wells=WELLS, months=MONTHS, end_month=MONTH, seed=7)
    (inbox / "well_production" / "demo_production_late_entries.csv").unlink()
    prod = inbox / "well_production" / "demo_production.csv"
    rows = _rows(prod)
    in_month = sorted({r["well_id"] for r in rows if r["production_month"].startswith(MONTH)})
    in_prior = {r["well_id"] for r in rows if r["production_month"].startswith(PRIOR)}
    late = [w for w in in_month if w in in_prior][:LATE_WELLS]
    _write_rows(prod, [r for r in rows if not (r["production_month"].startswith(MONTH) and r["well_id"] in late)])
    header = inbox / "well_header" / "demo_wells.csv"
    hrows = _rows(header)
    headerless = hrows[-1]["well_id"]
    _write_rows(header, hrows[:-1])
    if drop_gl_month:
        for f in (inbox / "gl").glob("*.csv"):
            g = _rows(f)
            _write_rows(f, [r for r in g if not r["transaction_date"].startswith(MONTH)], list(g[0]))
    con = warehouse.connect(root / "w.duckdb")
    warehouse.migrate(con)
    ingest_inbox(con, inbox, "b1")
    run_models(con, run_id="r1")
    fit_warehouse(con, run_id="r1")
    quality.run_checks(con, run_id="r1", month=MONTH)
    con.close()
    (root / "facts.txt").write_text(f"{','.join(late)}\n{headerless}\n")
    return root


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return _build(tmp_path_factory.mktemp("report"))


@pytest.fixture(scope="module")
def rendered(built):
    """The real report notebook on the warehouse, printed to PDF once; pages as pdfminer layouts."""
    from basinlab import runner
    from basinlab.report import notebook_to_pdf

    out = built / "out"
    step = runner.Step("report", "05_report.ipynb", writer=False)
    nb = runner.execute_notebook(step, out, {"month": MONTH, "warehouse": str(built / "w.duckdb"),
                                             "data_dir": str(built), "output_dir": str(out)})
    pdf = notebook_to_pdf(nb, out / "report.pdf", title=f"basinlab monthly report — {MONTH}",
                          html_out=out / "report.html")
    return {"pdf": pdf, "xlsx": out / f"basinlab_{MONTH}.xlsx", "html": out / "report.html", "nb": nb}


@pytest.fixture(scope="module")
def pages(rendered):
    from pdfminer.high_level import extract_pages

    return list(extract_pages(str(rendered["pdf"])))


@pytest.fixture(scope="module")
def pdf_text(rendered):
    from pypdf import PdfReader

    return "\n".join(p.extract_text() for p in PdfReader(rendered["pdf"]).pages)


@pytest.fixture(scope="module")
def book(rendered):
    return openpyxl.load_workbook(rendered["xlsx"])


@pytest.fixture
def con(built):
    c = duckdb.connect(str(built / "w.duckdb"), read_only=True)
    yield c
    c.close()


def facts(built):
    late, headerless = (built / "facts.txt").read_text().splitlines()
    return late.split(","), headerless


def source(built, month):
    """Per well: BOE of the month from the production CSV (independent of the SQL)."""
    out = {}
    for r in _rows(built / "inbox/well_production/demo_production.csv"):
        if r["production_month"].startswith(month):
            out[r["well_id"]] = float(r["oil_bbl"] or 0) + float(r["gas_mcf"] or 0) / 6
    return out


def sheet_rows(ws) -> tuple[list[str], list[tuple]]:
    rows = list(ws.iter_rows(values_only=True))
    return [str(h) for h in rows[0] if h is not None], rows[1:]


# --------------------------------------------------------------------------- the page


def _chars(page):
    from pdfminer.layout import LTChar, LTTextContainer, LTTextLine

    def walk(o):
        if isinstance(o, LTChar):
            yield o
        elif isinstance(o, (LTTextContainer, LTTextLine)) or hasattr(o, "__iter__"):
            for x in o:
                yield from walk(x)
    return list(walk(page))


def _items(page):
    def walk(o):
        yield o
        if hasattr(o, "__iter__"):
            for x in o:
                yield from walk(x)
    return [o for o in walk(page) if o is not page]


MM = 72 / 25.4


@pytest.mark.kernel
def test_no_glyph_crosses_the_right_margin(pages):
    """Every character of the body of every page ends inside the right margin (15 mm): no table is cut off.
    (The footer's page number sits in the margin box, by design.)"""
    for n, page in enumerate(pages, start=1):
        right = page.width - 15 * MM
        over = [c for c in _chars(page) if c.x1 > right + 1.0 and c.y0 > 18 * MM]
        assert not over, f"page {n}: {''.join(c.get_text() for c in over[:40])!r} crosses the margin"


@pytest.mark.kernel
def test_no_page_is_nearly_empty(pages):
    """Every page but the last is at least a third full (sections flow; no page holds one small chart)."""
    assert len(pages) >= 5
    for n, page in enumerate(pages[:-1], start=1):
        top, bottom = page.height - 16 * MM, 18 * MM
        ys = [o.y0 for o in _items(page) if hasattr(o, "y0") and o.y0 > bottom + 1 and o.width > 0.5]
        filled = (top - min(ys)) / (top - bottom) if ys else 0
        assert filled >= 1 / 3, f"page {n} of {len(pages)} is only {filled:.0%} full"


@pytest.mark.kernel
def test_pdf_headings_are_labels_not_column_names(pdf_text):
    for raw in ("boe_per_day_cal", "revenue_booked_usd", "loe_per_boe_usd", "gross_oil_bbl", "well_id",
                "UNKNOWN", "(unknown)", "nan", "inf"):
        assert not re.search(rf"(?<![\w.]){re.escape(raw)}(?![\w.])", pdf_text), raw
    for label in ("Oil (bbl)", "Production (BOE/d)", "LOE per BOE (USD)"):
        assert label in pdf_text.replace("\n", " "), label


# --------------------------------------------------------------------------- one truth


@pytest.mark.kernel
def test_kpi_values_in_the_pdf_are_the_workbook_cells(rendered, book):
    """Each KPI cell of the workbook, formatted with the registry's format for its kind, is printed on page 1."""
    from pypdf import PdfReader

    head, rows = sheet_rows(book["KPIs"])
    assert head[:2] == ["KPI", "Unit"]
    page1 = PdfReader(rendered["pdf"]).pages[0].extract_text()
    seen = 0
    for r in rows:
        kpi, value = r[0], r[2]
        cell = book["KPIs"].cell(row=rows.index(r) + 2, column=3)
        if value is None:
            continue
        fmt = {"#,##0": ",.0f", "#,##0.00": ",.2f"}[cell.number_format]
        assert format(value, fmt) in page1, (kpi, value)
        seen += 1
    assert seen >= 6


@pytest.mark.slow
def test_gl_kpis_are_empty_not_zero_without_gl(tmp_path_factory):
    """A month whose GL is not in: booked revenue, NOI, LOE/BOE are empty cells (never 0) in the workbook and
    "not reported" on the page; calculated revenue is the same number in the workbook and the page's words."""
    root = _build(tmp_path_factory.mktemp("nogl"), drop_gl_month=True)
    con = duckdb.connect(str(root / "w.duckdb"), read_only=True)
    rep = monthly.Report(con, MONTH)
    xlsx = rep.write_workbook(root / "r.xlsx")
    wb = openpyxl.load_workbook(xlsx)
    head, rows = sheet_rows(wb["Financials by month"])
    row = [r for r in rows if r[0] is not None and f"{r[0]:%Y-%m}" == MONTH][0]
    for col in ("revenue_booked_usd", "noi_usd", "loe_net_usd", "loe_per_boe_usd", "capex_net_usd"):
        assert row[head.index(labels.label_for(col))] is None, col
    gross = row[head.index(labels.label_for("revenue_gross_calc_usd"))]
    assert gross and gross > 0
    kpi = {r[0]: r for r in wb["KPIs"].iter_rows(min_row=2, values_only=True)}
    assert kpi["Revenue booked"][2] is None and kpi["Net operating income"][2] is None
    words = rep.summary_markdown()
    assert f"USD {gross:,.0f} gross" in words and "not reported" in words
    assert NOT_REPORTED in rep.kpi_cards_html()
    con.close()


# --------------------------------------------------------------------------- completeness


@pytest.mark.kernel
def test_completeness_and_like_for_like_change_from_the_source_file(built, con, pdf_text, book):
    late, _ = facts(built)
    cur, prev = source(built, MONTH), source(built, PRIOR)
    rep = monthly.Report(con, MONTH)
    c = rep.completeness
    assert c["expected"] == len(prev) and c["reported"] == len(set(prev) & set(cur)) == len(prev) - len(late)
    both = set(prev) & set(cur)
    lfl = (sum(cur[w] for w in both) / 30) / (sum(prev[w] for w in both) / 31) - 1
    allw = (sum(cur.values()) / 30) / (sum(prev.values()) / 31) - 1
    k = rep.kpi("boe_per_day")
    assert k["change_lfl_pct"] == pytest.approx(lfl) and k["change_all_pct"] == pytest.approx(allw)
    text = pdf_text.replace("\n", " ")
    assert f"{c['reported']:,} of the {c['expected']:,} wells that reported May 2024 have reported June 2024" in text
    assert f"{abs(lfl):.1%} like-for-like" in text
    head, rows = sheet_rows(book["Late reporters"])
    assert sorted(r[0] for r in rows) == sorted(late)


@pytest.mark.slow
def test_summary_names_the_field_that_moved_the_total_most(built, con):
    cur, prev = source(built, MONTH), source(built, PRIOR)
    field_of = {r["well_id"]: r["field"] for r in _rows(built / "inbox/well_header/demo_wells.csv")}
    delta: dict[str, float] = {}
    for w, v in cur.items():
        f = palette.field_name(field_of.get(w))
        delta[f] = delta.get(f, 0) + v / 30
    for w, v in prev.items():
        f = palette.field_name(field_of.get(w))
        delta[f] = delta.get(f, 0) - v / 31
    top = max(delta, key=lambda f: abs(delta[f]))
    text = " ".join(monthly.Report(con, MONTH).summary_points())
    assert f"Fields that moved the total most: {top} {delta[top]:+,.0f} BOE/d" in text


@pytest.mark.kernel
def test_one_spelling_of_an_unknown_field_everywhere(built, book):
    _, headerless = facts(built)
    values = {(ws.title, v) for ws in book.worksheets for row in ws.iter_rows(values_only=True) for v in row
              if isinstance(v, str)}
    assert not [x for x in values if x[1] in ("UNKNOWN", "(unknown)")]
    head, rows = sheet_rows(book["Wells this month"])
    fields = {r[0]: r[head.index("Field")] for r in rows}
    assert fields.get(headerless) == palette.UNKNOWN_FIELD


@pytest.mark.kernel
def test_wells_sheet_says_which_wells_produced(built, book):
    """Every well with a row this month is listed, with its status; "producing" ones have BOE > 0."""
    head, rows = sheet_rows(book["Wells this month"])
    cur = source(built, MONTH)
    assert {r[0] for r in rows} == set(cur)
    for r in rows:
        boe = r[head.index(labels.label_for("boe"))]
        status = r[head.index(labels.label_for("status_this_month"))]
        assert (status == "producing") == (boe is not None and boe > 0), r


# --------------------------------------------------------------------------- workbook


@pytest.mark.kernel
def test_workbook_headings_units_formats_and_first_sheet(book):
    assert book.sheetnames[:2] == ["Summary", "About"]
    s = book["Summary"]
    assert s.page_setup.fitToHeight == 1 and s.sheet_properties.pageSetUpPr.fitToPage
    texts = [c.value for row in s.iter_rows() for c in row if isinstance(c.value, str)]
    assert any(t.startswith("Completeness:") for t in texts) and any(t.startswith("• ") for t in texts)
    head, rows = sheet_rows(book["Field production"])
    assert labels.label_for("oil_bbl") in head and labels.label_for("boe_per_day") in head
    col = head.index(labels.label_for("oil_bbl")) + 1
    assert book["Field production"].cell(row=2, column=col).number_format == "#,##0"
    about = [c.value for row in book["About"].iter_rows() for c in row if isinstance(c.value, str)]
    for item in ("Gas realisation", "NGL (assumed, not measured)", "Reporting currency", "Economic limit",
                 "Decline rules"):
        assert item in about


def _chart_colors(xlsx: Path) -> dict[str, str]:
    """Series title → colour of every chart in the workbook (from the chart XML)."""
    out = {}
    with zipfile.ZipFile(xlsx) as z:
        for name in z.namelist():
            if name.startswith("xl/charts/chart"):
                xml = z.read(name).decode()
                for ser in re.findall(r"<(?:c:)?ser>(.*?)</(?:c:)?ser>", xml, re.S):
                    title = re.search(r"<(?:c:)?v>(.*?)</(?:c:)?v>", ser)
                    color = re.search(r'srgbClr val="([0-9A-F]{6})"', ser)
                    if title and color:
                        out[title.group(1)] = "#" + color.group(1).lower()
    return out


@pytest.mark.kernel
def test_a_field_has_one_colour_in_every_chart_and_both_outputs(rendered, con):
    import nbformat

    rep = monthly.Report(con, MONTH)
    nb = nbformat.read(rendered["nb"], as_version=4)
    seen: dict[str, set[str]] = {}
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            fig = out.get("data", {}).get("application/vnd.plotly.v1+json")
            if not fig:
                continue
            legend = fig["layout"].get("legend", {})
            if fig["layout"].get("showlegend", True) is not False and legend:
                assert legend.get("yanchor") == "bottom" and legend.get("yref") == "container"  # never over the title
            for tr in fig["data"]:
                name = tr.get("name")
                color = (tr.get("line") or {}).get("color") or (tr.get("marker") or {}).get("color")
                if name in rep.colors and isinstance(color, str):
                    seen.setdefault(name, set()).add(color.lower())
    assert len(seen) >= 3
    assert all(len(c) == 1 for c in seen.values()), seen
    excel = _chart_colors(rendered["xlsx"])
    for f, colors in seen.items():
        assert excel.get(f"{f} (BOE/d)") == next(iter(colors)), f


@pytest.mark.slow
def test_reporting_currency_columns_only_when_asked(built, tmp_path):
    path = tmp_path / "w.duckdb"
    shutil.copy(built / "w.duckdb", path)
    c = warehouse.connect(path)
    for cur in ("USD", "CAD"):
        run_models(c, run_id="r-" + cur, settings={"reporting_currency": cur})
        rep = monthly.Report(c, MONTH)
        cols = set(rep.financials_monthly.df.columns)
        kpis = set(rep.kpis.df["unit"])
        if cur == "USD":
            assert not {"revenue_booked_rc", "noi_rc", "fx_units_per_usd"} & cols and "CAD" not in kpis
        else:
            assert {"revenue_booked_rc", "fx_units_per_usd"} <= cols and "CAD" in kpis
            assert rep.financials_monthly.heading("revenue_booked_rc") == "Revenue booked (CAD)"
    c.close()


@pytest.mark.slow
def test_per_well_sheets_are_capped_with_a_parquet_of_every_row(built, con, tmp_path, monkeypatch):
    import pyarrow.parquet as pq

    monkeypatch.setattr(monthly, "SHEET_ROW_CAP", 5)
    rep = monthly.Report(con, MONTH)
    xlsx = rep.write_workbook(tmp_path / f"basinlab_{MONTH}.xlsx")
    wb = openpyxl.load_workbook(xlsx)
    ws = wb["Forecast methods"]
    n = con.execute("select count(*) from marts.decline_params").fetchone()[0]
    assert ws.max_row >= 6 and sum(1 for r in ws.iter_rows(min_row=2, max_col=1, values_only=True) if r[0]) == 5
    notes = [c.value for c in ws[1] if isinstance(c.value, str) and c.value.startswith("First 5 of")]
    assert notes and f"{n:,} rows" in notes[0]
    pq_file = tmp_path / notes[0].split(" in ")[-1]
    assert pq_file.exists() and pq.read_metadata(pq_file).num_rows == n


@pytest.mark.slow
def test_forecast_start_is_stated_as_the_first_forecast_month(con):
    rep = monthly.Report(con, MONTH)
    first = con.execute("select strftime(min(month), '%Y-%m') from marts.decline_forecast").fetchone()[0]
    assert f"Forecast months start in {first}" in rep.coverage_markdown()


# --------------------------------------------------------------------------- pure parts, hostile inputs


@settings(max_examples=200, deadline=None)
@given(y=st.integers(1900, 2200), kind=st.sampled_from(["month", "quarter", "year"]), n=st.integers(1, 12))
def test_periods_round_trip_and_tile_the_calendar(y, kind, n):
    text = {"month": f"{y}-{n:02d}", "quarter": f"{y}-Q{(n - 1) % 4 + 1}", "year": f"{y}"}[kind]
    p = Period.parse(text)
    assert Period.parse(p.slug) == p and p.slug == text
    prev = p.previous()
    assert prev.months == p.months and prev.shift(prev.months) == p
    import calendar

    assert p.days == sum(calendar.monthrange(d.year, d.month)[1] for d in
                         pd.date_range(p.start, p.end, freq="MS"))


@given(st.text(max_size=12))
def test_period_parse_refuses_anything_else_with_a_reason(text):
    try:
        p = Period.parse(text)
    except ValueError as exc:
        assert "YYYY-MM" in str(exc)
    else:
        assert p.slug == text.strip().upper().replace("Q", "Q")


@given(st.lists(st.text(min_size=1, max_size=20), min_size=1, max_size=30))
def test_field_colours_are_deterministic_and_distinct_while_the_palette_lasts(names):
    a = palette.field_colors(names)
    b = palette.field_colors(list(reversed(names)))
    assert a == b
    plain = [n for n in a if n not in palette.FIXED]
    if len(plain) <= len(palette.FIELD_PALETTE):
        assert len({a[n] for n in plain}) == len(plain)


@given(st.sampled_from(["UNKNOWN", "(unknown)", "", " unknown ", None, float("nan")]))
def test_every_spelling_of_unknown_is_one_field(v):
    assert palette.field_name(v) == palette.UNKNOWN_FIELD


suffix = st.sampled_from(["_bbl", "_mcf", "_boe", "_usd", "_per_boe_usd", "_pct"])


@given(stem=st.from_regex(r"[a-z]{1,8}(_[a-z]{1,8}){0,2}", fullmatch=True), suf=suffix)
def test_every_column_with_a_unit_suffix_gets_its_unit_in_the_heading(stem, suf):
    meta = labels.column_meta(stem + suf)
    units = {"_bbl": {"bbl"}, "_mcf": {"mcf"}, "_boe": {"BOE", "BOE/d"}, "_usd": {"USD"},
             "_per_boe_usd": {"USD/BOE", "USD"}, "_pct": {"%"}}[suf]
    assert meta.unit in units and labels.label_for(stem + suf).endswith(f"({meta.unit})")
    assert "_" not in labels.label_for(stem + suf)


@pytest.mark.slow
def test_report_refuses_while_a_run_holds_the_lock(built, tmp_path):
    from basinlab import config, runner
    from basinlab.runner import render_period

    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(built / "w.duckdb", data / config.WAREHOUSE_FILE)
    paths = config.Paths.resolve(data, tmp_path / "reports")
    with runner.run_lock(paths, "2024-06_test_run", MONTH):
        with pytest.raises(runner.RunError, match="2024-06_test_run"):
            render_period(MONTH, data_dir=data, reports_dir=tmp_path / "reports", say=lambda _m: None)
    assert not (tmp_path / "reports" / MONTH).exists()


@pytest.mark.kernel
def test_basinlab_report_renders_a_quarter_from_the_published_warehouse(built, tmp_path):
    """`basinlab report --period 2024-Q2`: the quarter's figures (sums over its months, from the source file)
    in reports/2024-Q2/ with a complete manifest, through the staging folder and the swap."""
    import subprocess
    import sys

    from basinlab import config
    from basinlab.report import report_manifest

    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(built / "w.duckdb", data / config.WAREHOUSE_FILE)
    exe = Path(sys.executable).with_name("basinlab")
    res = subprocess.run([str(exe), "report", "--period", "2024-Q2", "--data-dir", str(data),
                          "--reports-dir", str(tmp_path / "reports")], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    folder = tmp_path / "reports" / "2024-Q2"
    doc = report_manifest(folder)
    assert doc and doc["month"] == "2024-Q2"
    assert not [p for p in (tmp_path / "reports").iterdir() if p.name.startswith(".")]
    oil = sum(float(r["oil_bbl"] or 0) for r in _rows(built / "inbox/well_production/demo_production.csv")
              if r["production_month"][:7] in ("2024-04", "2024-05", "2024-06"))
    kpi = {r[0]: r for r in openpyxl.load_workbook(folder / "basinlab_2024-Q2.xlsx")["KPIs"].iter_rows(
        min_row=2, values_only=True)}
    assert kpi["Oil"][2] == pytest.approx(oil)
    bad = subprocess.run([str(exe), "report", "--period", "2031-Q5", "--data-dir", str(data)],
                         capture_output=True, text=True)
    assert bad.returncode == 1 and "YYYY-QN" in bad.stderr and "Traceback" not in bad.stderr


@given(total=st.integers(0, 40), listed=st.integers(0, 40), shown=st.integers(1, 5))
@hypothesis.settings(max_examples=60, deadline=None)
def test_summary_well_lists_say_how_many_are_not_named(total, listed, shown):
    listed = min(listed, total)
    wells = pd.DataFrame({"well_id": [f"W{i}" for i in range(listed)], "field": "F"})
    text = monthly._well_list(wells, total, shown)
    named = re.findall(r"W\d+ \(F\)", text)
    assert len(named) == min(listed, shown)
    more = re.search(r" and ([\d,]+) more$", text)
    assert (int(more.group(1)) if more else 0) == (total - len(named) if listed else 0)


@hypothesis.settings(max_examples=60, deadline=None)
@hypothesis.given(n=hypothesis.strategies.one_of(hypothesis.strategies.integers(0, 200_000),
                                                 hypothesis.strategies.none()),
                  of=hypothesis.strategies.one_of(hypothesis.strategies.integers(0, 200_000),
                                                  hypothesis.strategies.none()),
                  has_columns=hypothesis.strategies.booleans())
def test_the_lookback_text_says_when_it_backtested_a_sample(n, of, has_columns):
    """The lookback paragraph (and the table under it) says "a fixed sample of N of the M wells" exactly when
    the step backtested fewer wells than had production by the cut; a warehouse from before the columns,
    or missing figures, gives the paragraph without the sentence — never an error."""
    from basinlab.report.monthly import lookback_markdown, lookback_sample_note

    row = {"cut_month": pd.Timestamp("2023-06-01"), "horizon_months": 12, "aggregate_error": -0.008,
           "median_ape": 0.054, "p90_ape": 0.148, "wells_forecast": 10_000, "wells_producing": 10_000,
           "coverage": 0.846, "short_history_method": "ml_trendline"}
    if has_columns:
        row |= {"wells_in_sample": n, "wells_with_history": of}
    summary = pd.DataFrame([row])
    text = lookback_markdown(summary)
    sampled = has_columns and n is not None and of is not None and n < of
    assert ("fixed sample" in text) == sampled == bool(lookback_sample_note(summary))
    assert "10,000 of 10,000 producing wells had a forecast" in text
    if sampled:
        assert f"a fixed sample of {n:,} of the {of:,} wells with production by then" in text


def test_a_lookback_summary_from_before_the_sample_columns_still_reports(tmp_path):
    """A warehouse published before ``wells_with_history`` / ``wells_in_sample`` existed (an upgrade, then
    ``basinlab report`` before the next run): the lookback paragraph reads the other figures, no error."""
    from basinlab.report import monthly

    con = duckdb.connect(str(tmp_path / "old.duckdb"))
    con.execute("create schema marts")
    con.execute("""create table marts.decline_backtest_summary as select date '2023-06-01' as cut_month,
                   12 as horizon_months, 'oil' as phase, 1200 as wells_producing, 1190 as wells_forecast,
                   0.99 as forecast_share, 0.05 as median_ape, 0.15 as p90_ape, -0.01 as aggregate_error,
                   0.82 as coverage, 0.9 as calibrated_scale, 'analog' as short_history_method,
                   10.0 as forecast_total, 10.1 as actual_total""")
    rep = monthly.Report(con, "2024-06")
    assert "wells_in_sample" not in rep.lookback_summary.columns
    text = rep.lookback_markdown()
    assert "1,190 of 1,200 producing wells had a forecast" in text and "fixed sample" not in text
    con.close()
