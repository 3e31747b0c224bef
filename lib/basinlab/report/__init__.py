"""Report primitives: browser discovery, notebook → HTML → PDF, Excel, manifest, figures.

Public API (all importable from ``basinlab.report``):

* :func:`find_browser`, :func:`html_to_pdf` -- headless Chromium printing
* :func:`notebook_to_html`, :func:`notebook_to_pdf` -- executed notebook → report
* :func:`style_figure`, :func:`show`, :func:`show_table`, :func:`table_html` -- report look
* :class:`SheetSpec`, :class:`LineChartSpec`, :func:`write_excel` -- stakeholder workbook
* :func:`write_manifest`, :func:`publish_report_dir`, :func:`recover_report_dirs`,
  :func:`report_manifest`, :func:`sha256_file` -- run outputs
* :class:`ReportError`, :class:`BrowserNotFoundError`

Heavy dependencies (nbconvert, openpyxl, plotly) are imported when first used,
so ``from basinlab.report import show`` stays cheap in a notebook kernel.
"""
from __future__ import annotations

from ._common import BrowserNotFoundError, ReportError, sha256_file
from .browser import find_browser, html_to_pdf
from .excel import LineChartSpec, SheetSpec, infer_number_format, sanitize_sheet_name, write_excel
from .figures import REPORT_PLOTLY_CONFIG, show, show_table, style_figure, table_html
from .publish import publish_report_dir, recover_report_dirs, report_manifest, write_manifest
from .render import default_subtitle, notebook_to_html, notebook_to_pdf

__all__ = [
    "REPORT_PLOTLY_CONFIG",
    "BrowserNotFoundError",
    "LineChartSpec",
    "ReportError",
    "SheetSpec",
    "default_subtitle",
    "find_browser",
    "html_to_pdf",
    "infer_number_format",
    "notebook_to_html",
    "notebook_to_pdf",
    "publish_report_dir",
    "recover_report_dirs",
    "report_manifest",
    "sanitize_sheet_name",
    "sha256_file",
    "show",
    "show_table",
    "style_figure",
    "table_html",
    "write_excel",
    "write_manifest",
]
