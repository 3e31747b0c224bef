"""Template and print stylesheet of the HTML report.

Kept as Python strings (not package data files) so they ship in any install
of the package without extra packaging configuration.
"""

#: Jinja template (nbconvert "lab" template with the head and page chrome replaced).
REPORT_TEMPLATE = r"""
{%- extends 'lab/index.html.j2' -%}
{%- from 'mathjax.html.j2' import mathjax -%}

{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{% block jupyter_widgets %}{% endblock jupyter_widgets %}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block html_head_js_mathjax -%}
{%- if resources.basinlab.mathjax_url -%}{{ mathjax(resources.basinlab.mathjax_url) }}{%- endif -%}
{%- endblock html_head_js_mathjax -%}

{% block notebook_css %}
<style type="text/css">
{{ resources.basinlab.css }}
</style>
{% endblock notebook_css %}

{%- block html_head_css -%}
{%- if resources.basinlab.plotlyjs %}
<script type="text/javascript">window.PlotlyConfig = {MathJaxConfig: 'local'};</script>
<script type="text/javascript">{{ resources.basinlab.plotlyjs }}</script>
{%- endif %}
{%- endblock html_head_css -%}

{%- block body_header -%}
<body class="basinlab-report">
<main>
<header class="report-header">
  <div class="report-kicker">{{ resources.basinlab.kicker | escape_html }}</div>
  <h1 class="report-title">{{ resources.basinlab.title | escape_html }}</h1>
  {%- if resources.basinlab.subtitle %}
  <div class="report-subtitle">{{ resources.basinlab.subtitle | escape_html }}</div>
  {%- endif %}
</header>
{%- endblock body_header -%}
"""

#: Screen + print stylesheet (A4 portrait).
REPORT_CSS = r"""
@page {
  size: A4 portrait;
  margin: 16mm 15mm 18mm 15mm;
  @bottom-left {
    content: __FOOTER__;
    font: 8pt "Helvetica Neue", Helvetica, Arial, "Liberation Sans", "DejaVu Sans", sans-serif;
    color: #6b7785;
  }
  @bottom-right {
    content: "Page " counter(page) " of " counter(pages);
    font: 8pt "Helvetica Neue", Helvetica, Arial, "Liberation Sans", "DejaVu Sans", sans-serif;
    color: #6b7785;
  }
}
:root {
  --ink: #1f2933;
  --muted: #52606d;
  --accent: #1f4e79;
  --rule: #c9d3dd;
  --zebra: #f2f5f8;
}
* { -webkit-print-color-adjust: exact; print-color-adjust: exact; box-sizing: border-box; }
html { font-size: 10pt; }
body {
  margin: 0;
  background: #fff;
  color: var(--ink);
  font-family: "Helvetica Neue", Helvetica, Arial, "Liberation Sans", "DejaVu Sans", sans-serif;
  line-height: 1.45;
}
main { max-width: 180mm; margin: 0 auto; padding: 0; }
@media screen { main { padding: 12mm 0; } }

/* Header block */
.report-header { border-bottom: 2.5pt solid var(--accent); padding-bottom: 5pt; margin-bottom: 12pt; }
.report-kicker { font-size: 8.5pt; letter-spacing: 0.08em; text-transform: uppercase; color: var(--muted); }
.report-title { font-size: 21pt; line-height: 1.2; margin: 2pt 0 3pt 0; color: var(--accent); font-weight: 700; }
.report-subtitle { font-size: 10.5pt; color: var(--muted); }

/* Headings and text */
h1, h2, h3, h4 { color: var(--accent); line-height: 1.25; break-after: avoid; page-break-after: avoid; }
h1 { font-size: 17pt; margin: 14pt 0 6pt; }
/* Sections flow on from one another (a page is never left mostly empty); a heading stays with what
   follows it, and a figure or a short table never splits. A markdown cell tagged "page-break" (or a
   <div class="bl-pagebreak">) starts a new page. */
h2 { font-size: 14pt; margin: 10pt 0 6pt; padding-bottom: 3pt; border-bottom: 1pt solid var(--rule); }
.celltag_bl-first-h2 h2:first-of-type { margin-top: 4pt; }
.jp-Cell:has(h2), .jp-Cell:has(h3), .jp-Cell:has(h4) { break-after: avoid; page-break-after: avoid; }
.celltag_page-break, .bl-pagebreak { break-before: page; page-break-before: always; }
h3 { font-size: 11.5pt; margin: 12pt 0 4pt; }
h4 { font-size: 10pt; margin: 10pt 0 4pt; }
p { margin: 0 0 6pt; }
ul, ol { margin: 0 0 6pt; padding-left: 16pt; }
a { color: var(--accent); text-decoration: none; }
a.anchor-link { display: none; }
code { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 0.92em; }
blockquote { margin: 6pt 0; padding: 4pt 10pt; border-left: 3pt solid var(--rule); color: var(--muted); }
hr { border: none; border-top: 1pt solid var(--rule); margin: 10pt 0; }
img { max-width: 100%; height: auto; }

/* Notebook chrome that has no place in a report */
.jp-Collapser, .jp-InputPrompt, .jp-OutputPrompt, .jp-CodeCell .jp-Cell-inputWrapper,
[data-mime-type="application/vnd.jupyter.stderr"], .modebar, .modebar-container { display: none !important; }
.jp-Cell { margin: 0 0 6pt 0; padding: 0; }
.jp-OutputArea-child { display: block; }
.jp-OutputArea-output { overflow: visible; }
.jp-RenderedText pre { font-family: inherit; white-space: pre-wrap; margin: 0 0 6pt; font-size: 9.5pt; }

/* Figures */
.plotly-graph-div, .jp-RenderedImage, .jp-RenderedSVG, figure, svg {
  break-inside: avoid; page-break-inside: avoid;
}
.jp-RenderedHTML > div:has(> .plotly-graph-div) { margin: 4pt 0 10pt; }
.plotly-graph-div { margin: 0; }

/* Tables */
table.dataframe, .jp-RenderedHTMLCommon table {
  border-collapse: collapse;
  border: none;
  margin: 4pt 0 12pt;
  font-size: 8.8pt;
  font-variant-numeric: tabular-nums;
  max-width: 100%;
}
table.dataframe caption {
  caption-side: top; text-align: left; font-weight: 600; color: var(--muted); padding-bottom: 3pt;
}
table.dataframe thead { display: table-header-group; }
table.dataframe thead th {
  background: var(--accent); color: #fff; font-weight: 600; text-align: left;
  padding: 4pt 7pt; border: none; vertical-align: bottom;
}
table.dataframe tbody td, table.dataframe tbody th {
  padding: 3pt 7pt; border: none; border-bottom: 0.5pt solid #e1e6eb; text-align: left; vertical-align: top;
}
table.dataframe tbody th { font-weight: 600; color: var(--muted); }
table.dataframe tbody tr:nth-child(even) { background: var(--zebra); }
table.dataframe .num { text-align: right; white-space: nowrap; }
table.dataframe tr { break-inside: avoid; page-break-inside: avoid; }
/* short tables stay on one page; long ones break between rows with the header repeated */
table.dataframe.bl-keep { break-inside: avoid; page-break-inside: avoid; }

/* Report tables (basinlab.report.figures.report_table_html): labels from the registry, fitted to the
   page; numbers never wrap, text wraps anywhere rather than cross the margin. */
table.bl-table { border-collapse: collapse; border: none; margin: 3pt 0 9pt; font-size: 8.4pt;
  font-variant-numeric: tabular-nums; max-width: 100%; line-height: 1.3; }
table.bl-table caption { caption-side: top; text-align: left; font-weight: 600; color: var(--muted);
  padding-bottom: 2pt; font-size: 8.8pt; }
table.bl-table thead { display: table-header-group; }
table.bl-table th { background: var(--accent); color: #fff; font-weight: 600; text-align: left;
  padding: 3pt 4.5pt; border: none; vertical-align: bottom; }
table.bl-table th.num { text-align: right; }
table.bl-table td { padding: 2pt 4.5pt; border: none; border-bottom: 0.5pt solid #e1e6eb; text-align: left;
  vertical-align: top; overflow-wrap: break-word; }
table.bl-table td.dt { white-space: nowrap; }
table.bl-table td.num { text-align: right; white-space: nowrap; }
table.bl-table td.num.na { white-space: normal; color: var(--muted); }
table.bl-table tbody tr:nth-child(even) { background: var(--zebra); }
table.bl-table tr { break-inside: avoid; page-break-inside: avoid; }
table.bl-table.bl-keep { break-inside: avoid; page-break-inside: avoid; }
.bl-note { font-size: 8.5pt; color: var(--muted); margin-top: -5pt; }
.jp-RenderedMarkdown ul { margin-bottom: 4pt; }
.jp-RenderedMarkdown li { margin-bottom: 2pt; }
"""
