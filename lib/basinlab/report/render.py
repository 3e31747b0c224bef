"""Executed notebook → stakeholder HTML (no code, no noise, offline plotly) → PDF."""
from __future__ import annotations

import datetime as _dt
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

from ._assets import REPORT_CSS, REPORT_TEMPLATE
from ._common import ReportError, atomic_write_text
from .figures import REPORT_PLOTLY_CONFIG

PLOTLY_MIME = "application/vnd.plotly.v1+json"

#: Tags that drop a whole cell / its outputs from the report.
REMOVE_CELL_TAGS = ("remove_cell", "remove-cell", "hide", "hide-cell", "hide_cell")
REMOVE_OUTPUT_TAGS = ("remove_output", "remove-output", "hide-output", "hide_output")
REMOVE_INPUT_TAGS = ("remove_input", "remove-input", "hide-input", "hide_input")

#: Local MathJax 2 copies (e.g. Debian ``libjs-mathjax``); never a CDN.
LOCAL_MATHJAX = (
    Path("/usr/share/javascript/mathjax/MathJax.js"),
    Path("/usr/share/nodejs/mathjax/unpacked/MathJax.js"),
)

_TEMPLATE_NAME = "basinlab_report.html.j2"

_REMOTE_SCRIPT_RE = re.compile(
    r"<script\b[^>]*\bsrc\s*=\s*[\"']?(?:https?:)?//[^>]*>\s*</script>", re.I | re.S
)
_REMOTE_MODULE_IMPORT_RE = re.compile(
    r"<script\b[^>]*>\s*import\s+[\"'](?:https?:)?//[^\"']+[\"'];?\s*</script>", re.I | re.S
)
_TABLE_RE = re.compile(r"<table\b[^>]*\bclass=\"[^\"]*\bdataframe\b[^\"]*\"[^>]*>.*?</table>", re.S)
_SECTION_RE = re.compile(r"(<(thead|tbody)\b[^>]*>)(.*?)(</\2>)", re.S)
_ROW_RE = re.compile(r"<tr\b([^>]*)>(.*?)</tr>", re.S)
_CELL_RE = re.compile(r"<(th|td)\b([^>]*)>(.*?)</\1>", re.S)
_NUM_RE = re.compile(
    r"^[-+\u2212]?\(?[$\u20ac\u00a3]?\s*(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?\)?\s*(?:%|[kKMB])?$"
    r"|^[-+]?\d+(?:\.\d+)?[eE][-+]?\d+$"
)
#: Tables with at most this many rows are kept on one page.
KEEP_TOGETHER_ROWS = 30

_EMPTY_CELL = {"", "nan", "NaN", "<NA>", "&lt;NA&gt;", "None", "NaT", "-", "\u2014", "not reported", "inf", "-inf"}


# --------------------------------------------------------------------------- output cleanup

def _is_plotlyjs_injection(html: str) -> bool:
    """A text/html output that only loads the plotly.js library (``notebook`` renderer)."""
    return "plotly-graph-div" not in html and (
        "window.PlotlyConfig" in html or "plotly.js v" in html[:2000]
    ) and ("<script" in html)


def _strip_remote_scripts(html: str) -> str:
    html = _REMOTE_SCRIPT_RE.sub("", html)
    return _REMOTE_MODULE_IMPORT_RE.sub("", html)


def _plotly_json_to_html(spec: dict[str, Any]) -> str:
    from .figures import figure_html

    fig = {"data": spec.get("data", []), "layout": spec.get("layout", {})}
    cfg = {**(spec.get("config") or {}), **REPORT_PLOTLY_CONFIG}
    return figure_html(fig, cfg)


def _cells(row_html: str) -> list[tuple[str, str, str]]:
    return _CELL_RE.findall(row_html)


def _text(content: str) -> str:
    return re.sub(r"<[^>]+>", "", content).strip()


_Row = tuple[str, list[tuple[str, str, str]]]  # (tr attributes, [(tag, attributes, content), ...])


def _index_columns(row: _Row) -> int:
    """How many leading ``<th>`` cells (index levels) a body row has."""
    n = 0
    for tag, _a, _c in row[1]:
        if tag != "th":
            break
        n += 1
    return n


def _is_plain_range_index(n_index: int, head_rows: list[_Row], body_rows: list[_Row]) -> bool:
    """One unnamed index level holding 0..n-1 (pandas' default RangeIndex)."""
    return bool(
        n_index == 1
        and len(head_rows) == 1
        and head_rows[0][1]
        and _text(head_rows[0][1][0][2]) == ""
        and [_text(c[0][2]) for _, c in body_rows] == [str(i) for i in range(len(body_rows))]
    )


def _numeric_columns(body_rows: list[_Row], n_index: int, width: int) -> set[int]:
    """The data columns whose filled cells are all numbers."""
    numeric_cols = set()
    for j in range(n_index, width):
        texts = [_text(c[j][2]) for _, c in body_rows]
        filled = [t for t in texts if t not in _EMPTY_CELL]
        if filled and all(_NUM_RE.match(t) for t in filled):
            numeric_cols.add(j)
    return numeric_cols


def _cell_html(tag: str, attrs: str, content: str, numeric: bool) -> str:
    if numeric:
        if "class=" in attrs:
            attrs = re.sub(r'class="([^"]*)"', r'class="\1 num"', attrs, count=1)
        else:
            attrs = attrs + ' class="num"'
    return f"<{tag}{attrs}>{content}</{tag}>"


def _rows_html(rows: list[_Row], is_head: bool, width: int, numeric_cols: set[int]) -> str:
    out = []
    for attrs, cells in rows:
        if is_head:
            attrs = re.sub(r'\s*style="text-align:\s*right;?"', "", attrs)
        # header cells align with their column when the header row spans all columns
        mark = (not is_head) or len(cells) == width
        parts = [_cell_html(t, a, c, mark and j in numeric_cols) for j, (t, a, c) in enumerate(cells)]
        out.append(f"<tr{attrs}>" + "".join(parts) + "</tr>")
    return "\n".join(out)


def _polish_table(m: re.Match[str]) -> str:
    """One DataFrame ``<table>``: plain index dropped, numeric columns marked (or left as is)."""
    table = m.group(0)
    sections = {sm.group(2): sm for sm in _SECTION_RE.finditer(table)}
    if "tbody" not in sections:
        return table
    body_rows = [(attrs, _cells(inner)) for attrs, inner in _ROW_RE.findall(sections["tbody"].group(3))]
    head_rows = (
        [(attrs, _cells(inner)) for attrs, inner in _ROW_RE.findall(sections["thead"].group(3))]
        if "thead" in sections else []
    )
    if not body_rows or "rowspan" in table or "colspan" in sections["tbody"].group(3):
        return table
    widths = {len(c) for _, c in body_rows}
    if len(widths) != 1:
        return table
    width = widths.pop()
    n_index = _index_columns(body_rows[0])
    if _is_plain_range_index(n_index, head_rows, body_rows):
        body_rows = [(a, c[1:]) for a, c in body_rows]
        head_rows = [(a, c[1:]) for a, c in head_rows]
        n_index, width = 0, width - 1
    numeric_cols = _numeric_columns(body_rows, n_index, width)

    new = table
    if len(body_rows) <= KEEP_TOGETHER_ROWS:
        new = re.sub(r'class="([^"]*\bdataframe\b[^"]*)"', r'class="\1 bl-keep"', new, count=1)
    if "thead" in sections:
        sm = sections["thead"]
        new = new.replace(sm.group(0), sm.group(1) + _rows_html(head_rows, True, width, numeric_cols) + sm.group(4), 1)
    sm = sections["tbody"]
    new = new.replace(sm.group(0), sm.group(1) + _rows_html(body_rows, False, width, numeric_cols) + sm.group(4), 1)
    return new


def polish_dataframe_html(html: str) -> str:
    """Tidy pandas' DataFrame HTML: drop a plain 0..n-1 index, mark numeric columns.

    Numeric cells get ``class="num"`` (right-aligned by the report CSS) along
    with their header; anything unusual (row spans, ragged rows) is left as is.
    """
    return _TABLE_RE.sub(_polish_table, html)


def _report_output(out: Any) -> tuple[Any | None, bool]:
    """(the output as the report shows it, or None to drop it; whether it holds a plotly figure):
    stderr, blank streams and errors dropped; plotly JSON turned into offline HTML; plotly.js
    injections dropped; remote scripts stripped; DataFrame tables tidied."""
    otype = out.get("output_type")
    if otype == "stream":
        keep = out.get("name") != "stderr" and str(out.get("text", "")).strip()
        return (out if keep else None), False
    if otype == "error":
        return None, False
    if otype not in ("display_data", "execute_result"):
        return out, False
    has_plotly = False
    data = out.get("data", {})
    if PLOTLY_MIME in data and "text/html" not in data:
        spec = data[PLOTLY_MIME]
        if isinstance(spec, str):
            spec = json.loads(spec)
        data["text/html"] = _plotly_json_to_html(spec)
    html = data.get("text/html")
    if html is not None:
        if isinstance(html, list):
            html = "".join(html)
        if _is_plotlyjs_injection(html):
            return None, False
        html = _strip_remote_scripts(html)
        has_plotly = "plotly-graph-div" in html
        if "dataframe" in html and "<table" in html:
            html = polish_dataframe_html(html)
        data["text/html"] = html
    # The JSON representation is of no use in the HTML export and is large.
    data.pop(PLOTLY_MIME, None)
    return (out if data else None), has_plotly


def clean_notebook_for_report(nb: Any) -> dict[str, Any]:
    """Prepare an executed notebook (in place) for the stakeholder report.

    Drops stderr streams and error outputs, plotly.js library injections and
    remote ``<script src=...>`` tags; turns plotly-JSON-only outputs into
    offline HTML; tidies DataFrame tables; drops code cells left without
    output; marks the first ``##`` heading (no page break before it).
    Returns facts used by the template: ``{"has_plotly": bool}``.
    """
    has_plotly = False
    kept = []
    first_h2_marked = False
    for cell in nb.cells:
        tags = list(cell.get("metadata", {}).get("tags", []) or [])
        if cell.cell_type == "code":
            outputs = []
            for out in cell.get("outputs", []):
                shown, plotly = _report_output(out)
                has_plotly = has_plotly or plotly
                if shown is not None:
                    outputs.append(shown)
            cell.outputs = outputs
            if not outputs:
                continue
        elif cell.cell_type == "markdown":
            src = cell.source if isinstance(cell.source, str) else "".join(cell.source)
            if not first_h2_marked and re.search(r"(?m)^\s{0,3}##\s|<h2\b", src):
                first_h2_marked = True
                if re.search(r"(?m)^\s{0,3}#\s|<h1\b", src) is None:
                    tags.append("bl-first-h2")
                    cell.setdefault("metadata", {})["tags"] = tags
        elif cell.cell_type == "raw":
            continue
        kept.append(cell)
    nb.cells = kept
    return {"has_plotly": has_plotly}


# --------------------------------------------------------------------------- export

def _local_mathjax_url() -> str:
    for p in LOCAL_MATHJAX:
        if p.is_file():
            return p.as_uri() + "?config=TeX-AMS_CHTML-full,Safe"
    return ""


def _css_string(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ") + '"'


def _make_exporter() -> Any:
    import jinja2
    from nbconvert.exporters import HTMLExporter
    from traitlets.config import Config

    c = Config()
    c.TemplateExporter.exclude_input = True
    c.TemplateExporter.exclude_input_prompt = True
    c.TemplateExporter.exclude_output_prompt = True
    c.TemplateExporter.exclude_raw = True
    c.HTMLExporter.exclude_anchor_links = True
    c.HTMLExporter.mathjax_url = ""
    c.HTMLExporter.require_js_url = ""
    c.HTMLExporter.embed_images = True
    c.TagRemovePreprocessor.enabled = True
    c.TagRemovePreprocessor.remove_cell_tags = set(REMOVE_CELL_TAGS)
    c.TagRemovePreprocessor.remove_all_outputs_tags = set(REMOVE_OUTPUT_TAGS)
    c.TagRemovePreprocessor.remove_input_tags = set(REMOVE_INPUT_TAGS)
    c.CSSHTMLHeaderPreprocessor.enabled = False
    exporter = HTMLExporter(
        config=c,
        template_name="lab",
        extra_loaders=[jinja2.DictLoader({_TEMPLATE_NAME: REPORT_TEMPLATE})],
    )
    exporter.template_file = _TEMPLATE_NAME
    return exporter


def notebook_to_html(
    executed_ipynb: str | os.PathLike[str],
    html_out: str | os.PathLike[str],
    title: str,
    *,
    subtitle: str | None = None,
    kicker: str = "basinlab report",
) -> Path:
    """Convert an executed notebook to a self-contained stakeholder HTML page.

    No code, prompts, stderr, warnings or tracebacks; cells tagged
    ``remove-cell``/``remove_cell``/``hide`` dropped, outputs of
    ``remove-output`` cells dropped; plotly.js embedded once in the page head
    (works offline); no CDN requests (require.js, MathJax, mermaid are left
    out; a local MathJax copy is used if installed); A4 print stylesheet with
    a title header block.  Written atomically; returns ``html_out``.
    """
    import nbformat
    from nbconvert.preprocessors import TagRemovePreprocessor

    src = Path(executed_ipynb)
    if not src.is_file():
        raise ReportError(f"executed notebook not found: {src}")
    nb = nbformat.read(src, as_version=4)
    # Tag removal first, so removed cells never count as content.
    trp = TagRemovePreprocessor(
        enabled=True,
        remove_cell_tags=set(REMOVE_CELL_TAGS),
        remove_all_outputs_tags=set(REMOVE_OUTPUT_TAGS),
        remove_input_tags=set(REMOVE_INPUT_TAGS),
    )
    nb, _ = trp.preprocess(nb, {})
    facts = clean_notebook_for_report(nb)
    nb.metadata["title"] = title

    plotlyjs = ""
    if facts["has_plotly"]:
        from plotly.offline import get_plotlyjs

        plotlyjs = get_plotlyjs()
    footer = title if not subtitle else f"{title} \u2014 {subtitle}"
    resources = {
        "basinlab": {
            "title": title,
            "subtitle": subtitle or "",
            "kicker": kicker,
            "css": REPORT_CSS.replace("__FOOTER__", _css_string(footer)),
            "plotlyjs": plotlyjs,
            "mathjax_url": _local_mathjax_url(),
        },
        "metadata": {"name": title},
    }
    body, _ = _make_exporter().from_notebook_node(nb, resources=resources)
    return atomic_write_text(Path(html_out), body)


def notebook_to_pdf(
    executed_ipynb: str | os.PathLike[str],
    pdf_out: str | os.PathLike[str],
    title: str,
    *,
    subtitle: str | None = None,
    html_out: str | os.PathLike[str] | None = None,
    browser: str | os.PathLike[str] | None = None,
    timeout_s: float = 120,
) -> Path:
    """Executed notebook → HTML (kept at ``html_out`` if given) → PDF at ``pdf_out``."""
    from .browser import find_browser, html_to_pdf

    exe = Path(browser) if browser else find_browser()  # fail fast, before converting
    if html_out is not None:
        html = notebook_to_html(executed_ipynb, html_out, title, subtitle=subtitle)
        return html_to_pdf(html, pdf_out, browser=exe, timeout_s=timeout_s)
    from .browser import HTML_TMP_PREFIX

    with tempfile.TemporaryDirectory(prefix=f"{HTML_TMP_PREFIX}{os.getpid()}-", ignore_cleanup_errors=True) as tmp:
        html = notebook_to_html(executed_ipynb, Path(tmp) / "report.html", title, subtitle=subtitle)
        return html_to_pdf(html, pdf_out, browser=exe, timeout_s=timeout_s)


def default_subtitle(month: str | None = None, generated_at: _dt.datetime | None = None) -> str:
    """``"Month 2024-06 · generated 2024-07-03 08:15"``-style subtitle."""
    ts = (generated_at or _dt.datetime.now()).strftime("%Y-%m-%d %H:%M")
    return f"Month {month} \u00b7 generated {ts}" if month else f"Generated {ts}"
