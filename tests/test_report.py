"""Tests for basinlab.report: real nbformat / papermill / nbconvert / Chromium / openpyxl."""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import stat
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from basinlab import report
from basinlab.report import (
    BrowserNotFoundError,
    LineChartSpec,
    ReportError,
    SheetSpec,
    find_browser,
    html_to_pdf,
    infer_number_format,
    notebook_to_html,
    notebook_to_pdf,
    publish_report_dir,
    write_excel,
    write_manifest,
)
from basinlab.report import browser as browser_mod

# --------------------------------------------------------------------------- helpers

HEADING = "KPIs"
TRACE_NAME = "Trace-Alpha-7731"
TRACE_Y = [101.5, 202.25, 303.125]
STDERR_TEXT = "STDERR-NOISE-4242"
WARNING_TEXT = "WARNING-NOISE-5151"
REMOVED_TEXT = "REMOVED-CELL-9393"
CODE_MARKER = "code_marker_variable_8181"


def _browser_or_skip() -> Path:
    try:
        return find_browser()
    except BrowserNotFoundError as e:  # pragma: no cover - depends on the machine
        pytest.skip(f"no Chromium-family browser: {e}")


def _build_notebook(path: Path) -> None:
    import nbformat
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

    nb = new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        new_code_cell("month = '2000-01'", metadata={"tags": ["parameters"]}),
        new_markdown_cell("Summary for the month.\n\n## " + HEADING + "\n\nThe key numbers."),
        new_code_cell(
            "import sys\n"
            "import pandas as pd\n"
            f"{CODE_MARKER} = 1\n"
            "kpi = pd.DataFrame({'well_id': ['W-001', 'W-002'], 'oil_bbl': [12345.0, 678.0]})\n"
            "kpi"
        ),
        new_markdown_cell("## Production\n\nOil by month."),
        new_code_cell(
            "import plotly.graph_objects as go\n"
            "from basinlab.report import show, style_figure\n"
            "fig = go.Figure(go.Scatter(x=['2024-01-01', '2024-02-01', '2024-03-01'], "
            f"y={TRACE_Y!r}, name={TRACE_NAME!r}))\n"
            "show(style_figure(fig, 'Oil rate', y_title='Oil (bbl/d)'))"
        ),
        new_code_cell(
            "import warnings\n"
            f"print({STDERR_TEXT!r}, file=sys.stderr)\n"
            f"warnings.warn({WARNING_TEXT!r})"
        ),
        new_code_cell(f"print({REMOVED_TEXT!r})", metadata={"tags": ["remove-cell"]}),
        new_code_cell("print(sys.prefix)", metadata={"tags": ["remove-cell"]}),
    ]
    nbformat.write(nb, path)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Build, execute (papermill, python3 kernel) and render the test notebook once."""
    import papermill as pm

    exe = _browser_or_skip()
    d = tmp_path_factory.mktemp("nb")
    src, executed = d / "report.ipynb", d / "report.executed.ipynb"
    _build_notebook(src)
    pm.execute_notebook(
        str(src), str(executed), parameters={"month": "2024-06"},
        kernel_name="python3", cwd=str(d), progress_bar=False,
    )
    html = notebook_to_html(executed, d / "report.html", "Monthly Test Report", subtitle="June 2024")
    pdf = notebook_to_pdf(executed, d / "out" / "report.pdf", "Monthly Test Report", browser=exe)
    return {"executed": executed, "html": html, "pdf": pdf}


# --------------------------------------------------------------------------- notebook → PDF

@pytest.mark.kernel
def test_kernel_runs_the_venv_python(rendered: dict[str, Path]) -> None:
    import nbformat

    nb = nbformat.read(rendered["executed"], as_version=4)
    printed = "".join(
        o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
        if o.get("output_type") == "stream" and o.get("name") == "stdout"
    )
    assert os.path.realpath(sys.prefix) in {os.path.realpath(p) for p in printed.split()}


@pytest.mark.kernel
def test_pdf_has_report_content_and_no_code_or_noise(rendered: dict[str, Path]) -> None:
    from pypdf import PdfReader

    pdf = rendered["pdf"]
    assert pdf.read_bytes()[:5] == b"%PDF-"
    reader = PdfReader(str(pdf))
    assert len(reader.pages) >= 1
    text = "\n".join(page.extract_text() or "" for page in reader.pages)
    assert HEADING in text
    assert "Monthly Test Report" in text
    assert "W-002" in text
    assert "12345" in text.replace(",", "")
    for absent in (CODE_MARKER, "import pandas", "style_figure(", STDERR_TEXT, WARNING_TEXT,
                   REMOVED_TEXT, "In [", "Traceback"):
        assert absent not in text, absent
    # A4 portrait: 210 x 297 mm = 595 x 842 pt
    box = reader.pages[0].mediabox
    assert abs(float(box.width) - 595.3) < 2 and abs(float(box.height) - 841.9) < 2


@pytest.mark.kernel
def test_html_embeds_plotly_and_figure_data_offline(rendered: dict[str, Path]) -> None:
    html = rendered["html"].read_text(encoding="utf-8")
    # the figure's trace data
    assert TRACE_NAME in html
    assert re.search(r"101\.5\s*,\s*202\.25\s*,\s*303\.125", html)
    # the plotly.js library itself, embedded once, no CDN loader
    assert html.count("plotly.js v") == 1
    assert re.search(r"<script[^>]+src=[\"']?(https?:)?//", html) is None
    assert "cdnjs.cloudflare.com/ajax/libs/mathjax" not in html
    assert "require.min.js" not in html
    # no code, no stderr, removed cells gone, mode bar off
    for absent in (CODE_MARKER, STDERR_TEXT, WARNING_TEXT, REMOVED_TEXT):
        assert absent not in html
    assert '"displayModeBar": false' in html or '"displayModeBar":false' in html
    # print stylesheet
    assert "size: A4 portrait" in html and "page-break-before: always" in html


def test_plotly_json_only_output_is_rendered(tmp_path: Path) -> None:
    """A figure shown with the plain plotly_mimetype renderer still reaches the report."""
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook, new_output

    spec = {"data": [{"type": "bar", "x": ["a", "b"], "y": [7, 9], "name": "JsonOnlyTrace"}],
            "layout": {}}
    nb = new_notebook(cells=[new_code_cell("fig", outputs=[
        new_output("display_data", data={"application/vnd.plotly.v1+json": spec,
                                         "text/plain": "Figure"}),
        new_output("stream", name="stderr", text="noise on stderr\n"),
    ])])
    src = tmp_path / "x.ipynb"
    nbformat.write(nb, src)
    html = notebook_to_html(src, tmp_path / "x.html", "T").read_text(encoding="utf-8")
    assert "JsonOnlyTrace" in html and "Plotly.newPlot" in html and "plotly.js v" in html
    assert "noise on stderr" not in html


def test_dataframe_table_polish() -> None:
    df = pd.DataFrame({"well": ["A", "B"], "oil_bbl": [1.5, 2.0]})
    out = report.render.polish_dataframe_html(df.to_html())
    # RangeIndex column dropped: no <th>0</th> / <th>1</th>
    assert "<th>0</th>" not in out and "<th>1</th>" not in out
    assert '<td class="num">1.5</td>' in out
    assert '<td>A</td>' in out


# --------------------------------------------------------------------------- browser

def test_find_browser_bad_override_raises_with_instructions(monkeypatch: pytest.MonkeyPatch,
                                                          tmp_path: Path) -> None:
    monkeypatch.setenv("BASINLAB_BROWSER", str(tmp_path / "no-such-chrome"))
    with pytest.raises(BrowserNotFoundError) as ei:
        find_browser()
    msg = str(ei.value)
    assert "BASINLAB_BROWSER" in msg
    assert "apt-get install chromium" in msg
    assert "plotly_get_chrome" in msg
    assert "Google Chrome" in msg


def test_find_browser_nothing_installed_raises(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("BASINLAB_BROWSER", raising=False)
    monkeypatch.delenv("BROWSER_PATH", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty directory
    monkeypatch.setattr(browser_mod, "_install_locations", lambda: [])
    monkeypatch.setattr(browser_mod, "_plotly_chrome_candidates", lambda: [])
    with pytest.raises(BrowserNotFoundError) as ei:
        find_browser()
    msg = str(ei.value)
    assert "sudo apt-get install chromium" in msg and "BASINLAB_BROWSER=" in msg


def _fake_exe(path: Path, body: str) -> Path:
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


@pytest.mark.skipif(os.name != "posix", reason="shell-script fake browser")
def test_find_browser_order(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    a = _fake_exe(tmp_path / "a-browser", "exit 0")
    b = _fake_exe(tmp_path / "b-browser", "exit 0")
    on_path = tmp_path / "bin"
    on_path.mkdir()
    _fake_exe(on_path / "google-chrome", "exit 0")
    monkeypatch.setenv("PATH", str(on_path))
    monkeypatch.setenv("BROWSER_PATH", str(b))
    monkeypatch.setenv("BASINLAB_BROWSER", str(a))
    assert find_browser() == a
    monkeypatch.delenv("BASINLAB_BROWSER")
    assert find_browser() == b
    monkeypatch.delenv("BROWSER_PATH")
    assert find_browser() == on_path / "google-chrome"


@pytest.mark.skipif(os.name != "posix", reason="shell-script fake browser")
def test_html_to_pdf_failure_keeps_old_pdf_and_reports_stderr(tmp_path: Path) -> None:
    fake = _fake_exe(
        tmp_path / "broken-chrome",
        "echo '[1:2:ERROR:dbus/bus.cc:405] Failed to connect to the bus' >&2\n"
        "echo 'renderer exploded: out of crayons' >&2\nexit 3",
    )
    html = tmp_path / "r.html"
    html.write_text("<html><body>x</body></html>")
    pdf = tmp_path / "r.pdf"
    pdf.write_bytes(b"%PDF-old")
    with pytest.raises(ReportError) as ei:
        html_to_pdf(html, pdf, browser=fake, timeout_s=30)
    assert "out of crayons" in str(ei.value)
    assert "dbus" not in str(ei.value)
    assert pdf.read_bytes() == b"%PDF-old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken-chrome", "r.html", "r.pdf"]


def test_html_to_pdf_real_browser(tmp_path: Path) -> None:
    exe = _browser_or_skip()
    html = tmp_path / "p.html"
    html.write_text("<html><body><h1>Plain page</h1></body></html>", encoding="utf-8")
    out = html_to_pdf(html, tmp_path / "sub" / "p.pdf", browser=exe)
    assert out.read_bytes().startswith(b"%PDF")


# --------------------------------------------------------------------------- excel

@pytest.mark.parametrize(
    ("name", "values", "expected"),
    [
        ("oil_bbl", [1.0, 2.0], "#,##0"),
        ("gas_mcf", [1, 2], "#,##0"),
        ("net_boe", [1.5], "#,##0"),
        ("revenue_usd", [1.0], "#,##0.00"),
        ("total_revenue", [1.0], "#,##0.00"),
        ("loe_cost", [1.0], "#,##0.00"),
        ("debit_amount", [1.0], "#,##0.00"),
        ("loe_per_boe", [12.3], "0.00"),
        ("decline_pct", [0.12, -0.3], "0.0%"),
        ("decline_pct", [12.0, 30.0], '0.0"%"'),
        ("well_count", [3, 4], None),
    ],
)
def test_infer_number_format(name: str, values: list, expected: str | None) -> None:
    assert infer_number_format(name, pd.Series(values)) == expected


def test_infer_number_format_dates() -> None:
    months = pd.Series(pd.to_datetime(["2024-01-01", "2024-02-01"]))
    days = pd.Series(pd.to_datetime(["2024-01-05", "2024-02-01"]))
    assert infer_number_format("production_month", months) == "yyyy-mm"
    assert infer_number_format("transaction_date", days) == "yyyy-mm-dd"
    assert infer_number_format("d", pd.Series([dt.date(2024, 1, 5)])) == "yyyy-mm-dd"


def test_write_excel_workbook(tmp_path: Path) -> None:
    import openpyxl

    months = pd.date_range("2023-01-01", periods=12, freq="MS")
    production = pd.DataFrame({
        "well_id": ["W-1"] * 6 + ["W-2"] * 6,
        "production_month": months,
        "oil_bbl": np.arange(12, dtype=float) * 1000.5,
        "gas_mcf": pd.array([100, None, 300, 400, 500, 600, 700, 800, 900, 1000, 1100, 1200],
                            dtype="Int64"),
        "revenue_usd": [1234.5, np.nan] + [10.0] * 10,
        "note": ["=cmd()", None] + ["ok"] * 10,
    })
    totals = pd.DataFrame({
        "production_month": months,
        "oil_bbl": np.linspace(5000, 2000, 12),
        "gas_mcf": np.linspace(9000, 7000, 12),
    })
    out = write_excel(
        tmp_path / "report.xlsx",
        [
            SheetSpec("Production by well", production, "Monthly volumes per well"),
            SheetSpec("Field totals: by month/2023", totals, "Field totals",
                      chart=LineChartSpec("production_month", ["oil_bbl", "gas_mcf"],
                                          "Field production", "Volume (bbl, mcf)")),
        ],
        "Monthly Report",
        {"month": "2024-06", "run_id": "run-42", "data_quality": "PASS (3 checks)"},
    )
    assert out == tmp_path / "report.xlsx"
    assert [p.name for p in tmp_path.iterdir()] == ["report.xlsx"]  # no temp leftovers

    wb = openpyxl.load_workbook(out)
    assert wb.sheetnames == ["About", "Production by well", "Field totals_ by month_2023"]
    about_values = [v for row in wb["About"].iter_rows(values_only=True) for v in row if v is not None]
    for expected in ("Monthly Report", "2024-06", "run-42", "PASS (3 checks)",
                     "Monthly volumes per well", "Field totals"):
        assert expected in about_values

    ws = wb["Production by well"]
    header = [c.value for c in ws[1]]
    assert header == ["well_id", "production_month", "oil_bbl", "gas_mcf", "revenue_usd", "note"]
    assert all(c.font.bold for c in ws[1])
    assert ws.freeze_panes == "A2"
    assert ws.auto_filter.ref == f"A1:F{len(production) + 1}"
    assert ws.max_row == len(production) + 1
    col = {h: i + 1 for i, h in enumerate(header)}
    oil = ws.cell(row=3, column=col["oil_bbl"])
    assert oil.value == pytest.approx(1000.5) and oil.number_format == "#,##0"
    rev = ws.cell(row=2, column=col["revenue_usd"])
    assert rev.value == pytest.approx(1234.5) and rev.number_format == "#,##0.00"
    assert ws.cell(row=3, column=col["revenue_usd"]).value is None          # NaN → empty
    assert ws.cell(row=3, column=col["gas_mcf"]).value is None              # <NA> → empty
    assert ws.cell(row=4, column=col["gas_mcf"]).value == 300
    month = ws.cell(row=2, column=col["production_month"])
    assert isinstance(month.value, dt.datetime) and month.value == dt.datetime(2023, 1, 1)
    assert month.number_format == "yyyy-mm"
    note = ws.cell(row=2, column=col["note"])
    assert note.value == "=cmd()" and note.data_type == "s"                 # text, not a formula
    assert ws.column_dimensions["A"].width >= len("well_id")

    charts = wb["Field totals_ by month_2023"]._charts
    assert len(charts) == 1
    assert len(charts[0].series) == 2
    assert wb["Production by well"]._charts == []


def test_write_excel_accepts_dict_and_sanitises_names(tmp_path: Path) -> None:
    import openpyxl

    df = pd.DataFrame({"a": [1]})
    out = write_excel(tmp_path / "x.xlsx", {"About": df, "x" * 40: df, "X" * 40: df}, "T")
    names = openpyxl.load_workbook(out).sheetnames
    assert names[0] == "About"
    assert len(set(n.lower() for n in names)) == 4
    assert all(len(n) <= 31 for n in names)


# --------------------------------------------------------------------------- manifest & publish

def test_write_manifest(tmp_path: Path) -> None:
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(b"%PDF-1.4 test")
    xlsx = tmp_path / "data" / "report.xlsx"
    xlsx.parent.mkdir()
    xlsx.write_bytes(b"PK\x03\x04 test")
    path = write_manifest(
        tmp_path / "manifest.json",
        run_id="run-7", month="2024-06",
        parameters={"month": "2024-06", "wells": 3},
        inputs=[{"file": "inbox/prod.csv", "sha256": "ab" * 32, "rows": 10, "rejected": float("nan"),
                 "ingested_at": pd.Timestamp("2024-07-01 08:00")}],
        row_counts={"marts.fct_production": np.int64(120)},
        checks=[{"name": "gl_balances", "status": "pass"}],
        outputs=[pdf, xlsx],
    )
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert doc["run_id"] == "run-7" and doc["month"] == "2024-06"
    assert doc["parameters"] == {"month": "2024-06", "wells": 3}
    assert doc["inputs"][0]["rows"] == 10
    assert doc["inputs"][0]["rejected"] is None
    assert doc["inputs"][0]["ingested_at"] == "2024-07-01T08:00:00"
    assert doc["row_counts"] == {"marts.fct_production": 120}
    assert doc["checks"] == [{"name": "gl_balances", "status": "pass"}]
    assert doc["outputs"] == [
        {"file": "report.pdf", "sha256": hashlib.sha256(b"%PDF-1.4 test").hexdigest(), "size_bytes": 13},
        {"file": "data/report.xlsx", "sha256": hashlib.sha256(b"PK\x03\x04 test").hexdigest(),
         "size_bytes": 9},
    ]
    dt.datetime.fromisoformat(doc["generated_at"])
    with pytest.raises(ReportError):
        write_manifest(tmp_path / "m2.json", run_id="r", month="2024-06", parameters={}, inputs=[],
                       row_counts={}, checks=[], outputs=[tmp_path / "missing.pdf"])
    assert not (tmp_path / "m2.json").exists()


def _make_dir(path: Path, content: str) -> Path:
    path.mkdir(parents=True)
    (path / "report.txt").write_text(content)
    return path


def test_publish_report_dir_replaces(tmp_path: Path) -> None:
    final = _make_dir(tmp_path / "reports" / "2024-06", "old")
    (final / "stale.txt").write_text("only in old")
    staging = _make_dir(tmp_path / "reports" / ".staging-2024-06", "new")
    assert publish_report_dir(staging, final) == final
    assert (final / "report.txt").read_text() == "new"
    assert not (final / "stale.txt").exists()
    assert not staging.exists()
    assert sorted(p.name for p in final.parent.iterdir()) == ["2024-06"]


def test_publish_report_dir_first_time(tmp_path: Path) -> None:
    staging = _make_dir(tmp_path / "stage", "new")
    final = tmp_path / "reports" / "2024-07"
    publish_report_dir(staging, final)
    assert (final / "report.txt").read_text() == "new"


def test_publish_report_dir_missing_staging_keeps_old(tmp_path: Path) -> None:
    final = _make_dir(tmp_path / "reports" / "2024-06", "old")
    with pytest.raises(ReportError):
        publish_report_dir(tmp_path / "reports" / "nope", final)
    assert (final / "report.txt").read_text() == "old"


def test_publish_report_dir_failed_move_restores_old(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    final = _make_dir(tmp_path / "reports" / "2024-06", "old")
    staging = _make_dir(tmp_path / "reports" / ".staging", "new")
    real_rename = os.rename

    def flaky_rename(src, dst):  # the move of the new folder into place fails
        if Path(src) == staging:
            raise OSError(18, "Invalid cross-device link")
        return real_rename(src, dst)

    monkeypatch.setattr(os, "rename", flaky_rename)
    with pytest.raises(ReportError):
        publish_report_dir(staging, final)
    monkeypatch.undo()
    assert (final / "report.txt").read_text() == "old"
    assert (staging / "report.txt").read_text() == "new"
    assert sorted(p.name for p in final.parent.iterdir()) == [".staging", "2024-06"]


@pytest.mark.skipif(os.name != "posix", reason="shell-script fake browser")
def test_html_to_pdf_timeout_kills_browser(tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    fake = _fake_exe(tmp_path / "hanging-chrome", f"sleep 60 &\necho $! > {pidfile}\nwait")
    html = tmp_path / "r.html"
    html.write_text("<html><body>x</body></html>")
    with pytest.raises(ReportError, match="did not finish"):
        html_to_pdf(html, tmp_path / "r.pdf", browser=fake, timeout_s=1)
    assert not (tmp_path / "r.pdf").exists()
    child = int(pidfile.read_text())
    # the browser's helper process (same process group) is gone too
    for _ in range(50):
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        pytest.fail("browser child process survived the timeout")


# --------------------------------------------------------------------------- report folder recovery

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from basinlab.report import recover_report_dirs, report_manifest  # noqa: E402

RMONTH = "2024-06"

#: a copy of a month's report: ("complete", age) or ("incomplete", age) — incomplete = a file it lists
#: changed or missing (a half-written staging folder, a damaged copy)
copy_state = st.tuples(st.sampled_from(["complete", "incomplete"]), st.integers(0, 5))


def _make_copy(folder: Path, state: tuple[str, int], run_id: str) -> None:
    kind, age = state
    (folder / "notebooks").mkdir(parents=True)
    files = [folder / "basinlab.pdf", folder / "notebooks" / "05_report.ipynb"]
    for f in files:
        f.write_text(f"{run_id} {f.name}\n")
    doc = {"schema_version": 1, "run_id": run_id, "month": RMONTH,
           "generated_at": f"2024-07-01T00:00:0{age}+00:00",
           "outputs": [{"file": f.relative_to(folder).as_posix(),
                        "sha256": hashlib.sha256(f.read_bytes()).hexdigest(),
                        "size_bytes": f.stat().st_size} for f in files]}
    (folder / "manifest.json").write_text(json.dumps(doc))
    if kind == "incomplete":
        files[0].write_text("truncated")


def _tree(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): p.read_text() for p in sorted(root.rglob("*")) if p.is_file()}


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(final=st.one_of(st.none(), copy_state), backups=st.lists(copy_state, max_size=2),
       stagings=st.lists(copy_state, max_size=2))
def test_recovery_puts_the_newest_complete_report_in_place_and_never_loses_the_only_one(final, backups, stagings):
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "reports"
        root.mkdir()
        failed = root / "_failed"
        copies: dict[str, tuple[str, int]] = {}
        if final is not None:
            _make_copy(root / RMONTH, final, "final")
            copies["final"] = final
        for i, b in enumerate(backups):
            _make_copy(root / f".{RMONTH}.old-{i:08x}", b, f"backup{i}")
            copies[f"backup{i}"] = b
        for i, s in enumerate(stagings):
            _make_copy(root / f".staging-{RMONTH}_2024070{i}T000000_abc{i}", s, f"{RMONTH}_staging{i}")
            copies[f"{RMONTH}_staging{i}"] = s
        before = _tree(root)
        recover_report_dirs(root, failed)

        complete = {rid: age for rid, (kind, age) in copies.items() if kind == "complete"}
        leftovers = [p.name for p in root.iterdir() if p.name.startswith((".staging-", f".{RMONTH}.old-"))]
        if complete:
            doc = report_manifest(root / RMONTH)
            assert doc is not None, "a complete copy existed: one must be in place"
            assert doc["generated_at"] == f"2024-07-01T00:00:0{max(complete.values())}+00:00"
            assert not leftovers, leftovers
        elif final is not None:
            assert {k: v for k, v in _tree(root).items() if k.startswith(RMONTH)} == \
                {k: v for k, v in before.items() if k.startswith(RMONTH)}, "the only copy in place was touched"
        elif backups:
            assert (root / RMONTH).is_dir(), "a backup should stand in for a missing report"
        assert not [n for n in leftovers if n.startswith(".staging-")], "unfinished staging folders are removed"
        for i, (kind, _) in enumerate(stagings):      # an unfinished report's notebooks are kept for inspection
            if kind == "incomplete":
                assert (failed / f"{RMONTH}_2024070{i}T000000_abc{i}" / "05_report.ipynb").is_file()
        settled = _tree(root)
        assert recover_report_dirs(root, failed) == [] and _tree(root) == settled, "recovery is idempotent"


def test_publish_report_dir_keeps_both_copies_complete_at_every_instant(tmp_path: Path) -> None:
    """Between the two renames (where a kill lands) the old report sits in a backup and the new one in the
    staging folder; recovery then puts the new one in place."""
    old, new = tmp_path / RMONTH, tmp_path / ".staging-run2"
    _make_copy(old, ("complete", 1), "run1")
    _make_copy(new, ("complete", 2), f"{RMONTH}_run2")
    real_rename = os.rename
    calls: list[str] = []

    def rename_then_die(src, dst):
        real_rename(src, dst)
        calls.append(str(dst))
        if len(calls) == 1:
            raise KeyboardInterrupt("killed between the renames")

    import basinlab.report.publish as pub

    pub.os.rename = rename_then_die
    try:
        with pytest.raises(KeyboardInterrupt):
            publish_report_dir(new, old)
    finally:
        pub.os.rename = real_rename
    assert not old.exists()
    spare = [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    assert len(spare) == 2 and all(report_manifest(p) for p in spare)
    recover_report_dirs(tmp_path)
    assert report_manifest(old)["run_id"] == f"{RMONTH}_run2"
    assert [p.name for p in tmp_path.iterdir()] == [RMONTH]


# --------------------------------------------------------------------------- values that are not numbers

from basinlab.report._common import NOT_REPORTED  # noqa: E402

hostile = st.one_of(st.none(), st.just(float("nan")), st.just(float("inf")), st.just(float("-inf")),
                    st.floats(min_value=-1e9, max_value=1e9, allow_nan=False, allow_infinity=False))


@st.composite
def hostile_frames(draw):
    n = draw(st.integers(0, 5))
    cols = draw(st.lists(st.sampled_from(["oil_bbl", "revenue_usd", "change_pct", "loe_per_boe_usd", "wells",
                                          "price"]), min_size=1, max_size=4, unique=True))
    data = {"well_id": [f"W-{i}" for i in range(n)]}
    for c in cols:
        data[c] = pd.array(draw(st.lists(hostile, min_size=n, max_size=n)), dtype="Float64" if draw(st.booleans())
                           else "float64") if n else pd.Series([], dtype="float64")
    return pd.DataFrame(data)


def _missing(v) -> bool:
    return v is None or v is pd.NA or (isinstance(v, float) and not np.isfinite(v))


@settings(max_examples=60, deadline=None)
@given(df=hostile_frames())
def test_report_tables_show_not_reported_for_values_that_are_not_numbers(df):
    from basinlab.report import table_html

    html = table_html(df)
    if df.empty:
        assert NOT_REPORTED in html and "<table" not in html
        return
    cells = re.findall(r"<td[^>]*>(.*?)</td>", html, re.S)
    assert len(cells) == df.size
    for text in cells:
        assert text.strip() not in ("nan", "NaN", "inf", "-inf", "None", "<NA>", "&lt;NA&gt;"), html
    for col in df.columns[1:]:
        j = list(df.columns).index(col)
        for i, v in enumerate(df[col].astype(object)):
            assert (cells[i * df.shape[1] + j] == NOT_REPORTED) == _missing(v), (col, v, cells[i * df.shape[1] + j])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(df=hostile_frames())
def test_workbook_cells_for_values_that_are_not_numbers_are_empty_never_zero(df):
    import tempfile

    import openpyxl

    with tempfile.TemporaryDirectory() as tmp:
        path = write_excel(Path(tmp) / "h.xlsx", [SheetSpec("Hostile", df, "generated")], title="t")
        ws = openpyxl.load_workbook(path)["Hostile"]
        header = [c.value for c in ws[1]]
        rows = list(ws.iter_rows(min_row=2, values_only=True))
        about = {r[0]: r for r in openpyxl.load_workbook(path)["About"].iter_rows(values_only=True) if r[0]}
    assert len(rows) == len(df)
    if df.empty:
        assert NOT_REPORTED in str(about["Hostile"][2])
    for col in df.columns[1:]:
        j = header.index(col)
        for i, v in enumerate(df[col].astype(object)):
            cell = rows[i][j]
            if _missing(v):
                assert cell is None, (col, v, cell)
            else:
                assert cell == pytest.approx(float(v))
