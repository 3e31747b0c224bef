"""One label registry for the PDF and the workbook: column name → heading, unit, number format, description.

Every table the report shows, on a page or in a sheet, takes its headings and number formats from
here, so "Oil (bbl)" reads the same in both and a cell is formatted the same way the page prints it::

    >>> label_for("gross_oil_bbl")
    'Oil (bbl)'
    >>> column_meta("loe_per_boe_usd").excel_format
    '#,##0.00'

The registry is built by :func:`_load_registry`. Today it is the table below; when the warehouse
schema declaration carries labels and units, that one function reads them from there instead
(columns the declaration does not describe fall back to :func:`infer_meta`, which reads the unit
from the column name's suffix, the house convention).
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass, replace

#: number kinds: (Excel number format, Python format spec)
FORMATS: dict[str, tuple[str, str]] = {
    "int": ("#,##0", ",.0f"),
    "volume": ("#,##0", ",.0f"),
    "rate": ("#,##0", ",.0f"),
    "money": ("#,##0", ",.0f"),
    "unit_money": ("#,##0.00", ",.2f"),
    "price": ("#,##0.00", ",.2f"),
    "fraction": ("0.0%", ".1%"),
    "interest": ("0.00%", ".2%"),
    "ratio": ("#,##0.00", ",.2f"),
    "factor": ("0.000", ".3f"),
    "decline": ("0.0%", ".1%"),
    "month": ("yyyy-mm", "%Y-%m"),
    "date": ("yyyy-mm-dd", "%Y-%m-%d"),
    "datetime": ("yyyy-mm-dd hh:mm", "%Y-%m-%d %H:%M"),
    "text": ("@", ""),
    "count": ("#,##0", ",.0f"),
    "year": ("0", "d"),
}

#: placeholder in a unit that stands for the reporting currency (e.g. ``CAD``)
CURRENCY = "{currency}"


@dataclass(frozen=True)
class ColumnMeta:
    """How a column is shown: ``label`` without unit, ``unit`` (may hold ``{currency}``), ``kind``
    (a key of :data:`FORMATS`), a one-line ``description``, and a ``short`` heading for tight tables."""

    name: str
    label: str
    unit: str = ""
    kind: str = "text"
    description: str = ""
    short: str = ""

    @property
    def excel_format(self) -> str | None:
        fmt = FORMATS.get(self.kind, ("", ""))[0]
        return None if fmt in ("", "@") else fmt

    @property
    def py_format(self) -> str:
        return FORMATS.get(self.kind, ("", ""))[1]

    @property
    def numeric(self) -> bool:
        return self.kind not in ("text", "month", "date", "datetime")

    def heading(self, short: bool = False) -> str:
        """``Label (unit)``; ``short`` uses the abbreviated label where one is declared."""
        text = (self.short or self.label) if short else self.label
        return f"{text} ({self.unit})" if self.unit else text

    def for_currency(self, currency: str) -> ColumnMeta:
        if CURRENCY not in self.unit and CURRENCY not in self.label:
            return self
        return replace(self, unit=self.unit.replace(CURRENCY, currency), label=self.label.replace(CURRENCY, currency),
                       description=self.description.replace(CURRENCY, currency))


def _m(name: str, label: str, unit: str = "", kind: str = "text", description: str = "", short: str = "") -> ColumnMeta:
    return ColumnMeta(name, label, unit, kind, description, short)


_TABLE: tuple[ColumnMeta, ...] = (
    # identities and time
    _m("well_id", "Well", description="Well identifier (API / UWI / wellbore)"),
    _m("well_name", "Well name"),
    _m("field", "Field", description="Field from the well header; wells without a header row: Unknown field"),
    _m("basin", "Basin"),
    _m("operator", "Operator"),
    _m("partner_id", "Partner"),
    _m("group", "Group", description="Field, or (all) for the company"),
    _m("phase", "Phase", description="oil, gas or water"),
    _m("month", "Month", kind="month"),
    _m("production_month", "Month", kind="month"),
    _m("from_month", "From", kind="month"),
    _m("to_month", "To", kind="month"),
    _m("first_month", "First month", kind="month"),
    _m("last_month", "Last month", kind="month"),
    _m("last_reported_month", "Last reported", kind="month", description="Latest month with a production row"),
    _m("first_production_month", "First production", kind="month"),
    _m("cut_month", "Forecast made as of", kind="month"),
    _m("status", "Status"),
    _m("status_this_month", "This month", description="producing, shut in (reported zero), late (no row yet)"),
    _m("kpi", "KPI"),
    _m("unit", "Unit"),
    _m("item", "Item"),
    _m("value_text", "Value"),
    _m("source", "Source"),
    _m("setting", "Setting"),
    _m("note", "Note"),
    # volumes
    _m("oil_bbl", "Oil", "bbl", "volume", "Oil produced, gross (8/8ths)"),
    _m("gas_mcf", "Gas", "mcf", "volume", "Gas produced, gross (8/8ths)"),
    _m("water_bbl", "Water", "bbl", "volume", "Water produced"),
    _m("boe", "BOE", "BOE", "volume", "Barrels of oil equivalent: oil + gas / 6"),
    _m("gross_oil_bbl", "Oil", "bbl", "volume", "Oil produced, gross (8/8ths)"),
    _m("gross_gas_mcf", "Gas", "mcf", "volume", "Gas produced, gross (8/8ths)"),
    _m("gross_water_bbl", "Water", "bbl", "volume", "Water produced, gross"),
    _m("gross_boe", "Gross BOE", "BOE", "volume", "Oil + gas / 6, gross (8/8ths)"),
    _m("net_wi_boe", "Net BOE (WI)", "BOE", "volume", "Gross BOE x working interest: the volumes our costs pay for",
       short="Net WI"),
    _m("net_nri_boe", "Net BOE (NRI)", "BOE", "volume", "Gross BOE x net revenue interest: our revenue share",
       short="Net NRI"),
    _m("boe_per_day", "Production", "BOE/d", "rate", "Gross BOE per calendar day of the period"),
    _m("boe_per_day_cal", "Production", "BOE/d", "rate", "Gross BOE per calendar day of the month"),
    _m("boe_per_day_prior", "Prior", "BOE/d", "rate", "Gross BOE per calendar day, previous period"),
    _m("boe_per_day_change", "Change", "BOE/d", "rate", "This period minus the previous period, per calendar day"),
    _m("oil_bbl_per_day", "Oil", "bbl/d", "rate", "Oil per calendar day"),
    _m("oil_per_day", "Oil", "bbl/d", "rate", "Oil per calendar day"),
    _m("gas_per_day", "Gas", "mcf/d", "rate", "Gas per calendar day"),
    _m("cum_oil_bbl", "Cum. oil", "bbl", "volume", "Cumulative oil to date"),
    _m("cum_gas_mcf", "Cum. gas", "mcf", "volume", "Cumulative gas to date"),
    _m("cum_boe", "Cum. BOE", "BOE", "volume", "Cumulative BOE to date"),
    _m("remaining_oil_bbl", "Remaining oil", "bbl", "volume", "Decline forecast from now to the economic limit"),
    _m("remaining_boe", "Remaining", "BOE", "volume", "Decline forecast from now to the economic limit"),
    _m("eur_oil_bbl", "EUR oil", "bbl", "volume", "Estimated ultimate recovery: cumulative + remaining"),
    _m("eur_gas_mcf", "EUR gas", "mcf", "volume", "Estimated ultimate recovery: cumulative + remaining"),
    _m("eur_boe", "EUR", "BOE", "volume", "Estimated ultimate recovery: cumulative + remaining"),
    _m("forecast_bbl", "Forecast oil", "bbl", "volume", "What last year's forecast said (P50)"),
    _m("actual_bbl", "Actual oil", "bbl", "volume", "What the wells produced"),
    _m("forecast_p50_bbl", "Forecast P50", "bbl", "volume"),
    _m("p10", "P10 (high)", kind="volume", description="High case: 10 % chance of more"),
    _m("p50", "P50", kind="volume", description="Median case"),
    _m("p90", "P90 (low)", kind="volume", description="Low case: 90 % chance of more"),
    _m("oil_p10_bbl", "Oil P10 (high)", "bbl", "volume"),
    _m("oil_p50_bbl", "Oil P50", "bbl", "volume"),
    _m("oil_p90_bbl", "Oil P90 (low)", "bbl", "volume"),
    _m("actual_oil_bbl", "Actual oil", "bbl", "volume"),
    _m("mean", "Mean", kind="volume"),
    _m("volume_change_boe", "Change", "BOE/d", "rate"),
    # counts
    _m("wells", "Wells", kind="count"),
    _m("well_phases", "Well-phases", kind="count"),
    _m("producing_wells", "Producing wells", kind="count", description="Wells with oil or gas in the month"),
    _m("producing_well_count", "Producing wells", kind="count", description="Wells with oil or gas in the month"),
    _m("reporting_wells", "Reporting wells", kind="count", description="Wells with a production row in the month"),
    _m("n_wells", "Wells", kind="count"),
    _m("n_points", "Months fitted", kind="count"),
    _m("rows", "Rows", kind="count"),
    _m("journal_count", "Journals", kind="count"),
    _m("oil_wells_forecast", "Wells with oil forecast", kind="count", short="Forecast"),
    _m("month_index", "Months from peak", kind="int"),
    _m("horizon_months", "Horizon", "months", "int"),
    _m("source_line", "Line", kind="int"),
    _m("first_line", "First line", kind="int"),
    _m("failing_rows", "Failing rows", kind="count"),
    _m("rows_read", "Rows read", kind="count"),
    _m("rows_loaded", "Rows loaded", kind="count"),
    _m("rows_rejected", "Rows rejected", kind="count"),
    _m("version", "Version", kind="int"),
    _m("catchup_months", "Catch-up months", kind="int"),
    _m("half_life_months", "Half-life", "months", "ratio"),
    # money (USD)
    _m("revenue_booked_usd", "Revenue booked", "USD", "money",
       "GL 4000/4010/4020, net to the company (after royalties)", short="Revenue"),
    _m("revenue_calculated_usd", "Revenue calculated, net", "USD", "money",
       "Volumes x price deck x NRI; empty where a well's NRI is unknown", short="Calc. revenue net"),
    _m("revenue_gross_calc_usd", "Revenue calculated, gross", "USD", "money",
       "Volumes (8/8ths) x price deck: oil, gas and assumed NGL", short="Calc. revenue gross"),
    _m("revenue_net_calc_usd", "Revenue calculated, net", "USD", "money",
       "Gross calculated revenue x NRI; empty where a well's NRI is unknown", short="Calc. revenue net"),
    _m("oil_revenue_calc_usd", "Oil revenue, calculated gross", "USD", "money", short="Oil revenue"),
    _m("gas_revenue_calc_usd", "Gas revenue, calculated gross", "USD", "money", short="Gas revenue"),
    _m("ngl_revenue_calc_usd", "NGL revenue, calculated gross", "USD", "money",
       "Assumed NGL: gas x NGL yield x WTI x NGL price fraction", short="NGL revenue"),
    _m("revenue_variance_usd", "Revenue variance", "USD", "money", "Booked minus calculated"),
    _m("revenue_variance_pct", "Revenue variance", "%", "fraction", "Booked vs calculated, share of calculated",
       short="Variance"),
    _m("loe_net_usd", "LOE", "USD", "money", "Lease operating expense net of partners' JIB share"),
    _m("workover_net_usd", "Workovers", "USD", "money", "Workover expense net of partners' JIB share"),
    _m("severance_tax_usd", "Severance tax", "USD", "money", short="Sev. tax"),
    _m("gathering_transport_net_usd", "Gathering & transport", "USD", "money", short="G&T"),
    _m("g_and_a_usd", "G&A", "USD", "money", "General and administrative (not allocated to wells)"),
    _m("capex_net_usd", "Capex", "USD", "money", "Capital spend net of partners' JIB share"),
    _m("noi_usd", "Net operating income", "USD", "money", "Revenue booked - LOE - workovers - severance - G&T",
       short="NOI"),
    _m("cost_usd", "Cost", "USD", "money"),
    _m("cost_prior_usd", "Prior", "USD", "money"),
    _m("cost_change_usd", "Change", "USD", "money"),
    _m("opex_billed_usd", "Opex billed", "USD", "money"),
    _m("capex_billed_usd", "Capex billed", "USD", "money"),
    _m("total_billed_usd", "Total billed", "USD", "money"),
    _m("receivable_billed_usd", "Receivable", "USD", "money"),
    _m("loe_per_boe_usd", "LOE per BOE", "USD", "unit_money", "LOE net / net WI BOE", short="LOE/BOE"),
    _m("netback_per_boe_usd", "Netback per BOE", "USD", "unit_money", "NOI / net WI BOE", short="Netback/BOE"),
    _m("revenue_booked_rc", "Revenue booked", CURRENCY, "money", "Revenue booked in the reporting currency"),
    _m("noi_rc", "Net operating income", CURRENCY, "money", "NOI in the reporting currency", short="NOI"),
    _m("fx_units_per_usd", "FX rate", f"{CURRENCY}/USD", "factor", "Units of the reporting currency per USD"),
    # prices
    _m("wti_usd_per_bbl", "WTI", "USD/bbl", "price"),
    _m("henry_hub_usd_per_mmbtu", "Henry Hub", "USD/MMBtu", "price"),
    _m("oil_price_usd_per_bbl", "Oil price realised", "USD/bbl", "price"),
    _m("gas_price_usd_per_mcf", "Gas price realised", "USD/mcf", "price"),
    _m("ngl_price_usd_per_bbl", "NGL price", "USD/bbl", "price"),
    # shares and ratios
    _m("value", "Value", kind="ratio"),
    _m("share", "Share", "%", "fraction", short="Share"),
    _m("change_pct", "Change", "%", "fraction"),
    _m("change_lfl_pct", "Change, like-for-like", "%", "fraction",
       "Wells that reported in both periods only", short="Like-for-like"),
    _m("change_all_pct", "Change, all wells", "%", "fraction", "Every well, reported or not", short="All wells"),
    _m("change_year_pct", "Change vs a year earlier", "%", "fraction", short="vs year ago"),
    _m("error_pct", "Forecast error", "%", "fraction", "Forecast / actual - 1"),
    _m("median_ape", "Median well error", "%", "fraction"),
    _m("p90_ape", "P90 well error", "%", "fraction"),
    _m("aggregate_error", "Total error", "%", "fraction"),
    _m("coverage", "Inside P10-P90", "%", "fraction"),
    _m("forecast_share", "Wells forecast", "%", "fraction"),
    _m("working_interest", "Working interest", "%", "interest", short="WI"),
    _m("net_revenue_interest", "Net revenue interest", "%", "interest", short="NRI"),
    _m("uptime", "Uptime", "%", "fraction", "Producing / calendar days, last 12 months"),
    _m("anchor_factor", "Anchor factor", kind="factor"),
    _m("ratio_value", "Ratio", kind="ratio"),
    # decline
    _m("model", "Model"),
    _m("method", "Method", description="curve, anchored_curve, analog, ml_trendline, terminal_decline, ratio, "
                                      "below_limit"),
    _m("reason", "Reason"),
    _m("example_reason", "Example reason", short="Example"),
    _m("example_wells", "Example wells"),
    _m("qi", "Initial rate qi", "per day", "ratio"),
    _m("di", "Initial decline di", "%/yr", "decline", "Secant-effective annual decline"),
    _m("b", "b-factor", kind="factor"),
    _m("dterm", "Terminal decline", "%/yr", "decline"),
    _m("fit_start", "Fit from", kind="month"),
    _m("fit_end", "Fit to", kind="month"),
    _m("segment_start", "Segment start", kind="month"),
    _m("segment_rule", "Segment rule"),
    _m("anchor_rule", "Anchor rule"),
    _m("limit_source", "Limit from"),
    _m("q_limit", "Economic limit", "per day", "ratio"),
    _m("ratio_basis", "Ratio basis"),
    _m("ratio_trend_per_yr", "Ratio trend", "%/yr", "decline",
       "Change of the GOR / WOR / yield per year (0: held constant)"),
    _m("cum_to_date", "Cumulative", kind="volume"),
    _m("remaining", "Remaining", kind="volume"),
    _m("remaining_p10", "Remaining P10", kind="volume"),
    _m("remaining_p90", "Remaining P90", kind="volume"),
    _m("eur", "EUR", kind="volume"),
    _m("eur_p10", "EUR P10", kind="volume"),
    _m("eur_p90", "EUR P90", kind="volume"),
    _m("rmse", "RMSE", kind="ratio"),
    _m("r2", "R²", kind="factor"),
    _m("forecast_start", "Forecast from", kind="month"),
    _m("as_of_month", "As of", kind="month"),
    _m("units", "Units"),
    _m("normalised", "Per 1,000 ft"),
    _m("short_history_method", "Short-history method"),
    # quality and inputs
    _m("check_name", "Check"),
    _m("check_type", "Type"),
    _m("severity", "Severity"),
    _m("kind", "Kind"),
    _m("file_name", "File"),
    _m("source_file", "File"),
    _m("ingested_at", "Ingested", kind="datetime"),
    _m("example", "Example"),
)


@functools.lru_cache(maxsize=1)
def _load_registry() -> dict[str, ColumnMeta]:
    """Column name → :class:`ColumnMeta`. The one place that knows where labels come from."""
    return {m.name: m for m in _TABLE}


#: unit suffixes of the house naming convention, longest first: (suffix, unit, kind)
_SUFFIXES: tuple[tuple[str, str, str], ...] = (
    ("_per_boe_usd", "USD/BOE", "unit_money"),
    ("_usd_per_bbl", "USD/bbl", "price"),
    ("_usd_per_mcf", "USD/mcf", "price"),
    ("_usd_per_mmbtu", "USD/MMBtu", "price"),
    ("_bbl_per_day_cal", "bbl/d", "rate"),
    ("_mcf_per_day_cal", "mcf/d", "rate"),
    ("_per_day_cal", "BOE/d", "rate"),
    ("_bbl_per_day", "bbl/d", "rate"),
    ("_mcf_per_day", "mcf/d", "rate"),
    ("_bbl", "bbl", "volume"),
    ("_mcf", "mcf", "volume"),
    ("_boe", "BOE", "volume"),
    ("_usd", "USD", "money"),
    ("_pct", "%", "fraction"),
    ("_share", "%", "fraction"),
    ("_ft", "ft", "int"),
    ("_months", "months", "int"),
    ("_count", "", "count"),
)


def infer_meta(column: str) -> ColumnMeta:
    """Label, unit and kind from a column name the registry does not know (``x_bbl`` → "X (bbl)")."""
    name = str(column)
    low = name.lower()
    for suffix, unit, kind in _SUFFIXES:
        if low.endswith(suffix) and len(low) > len(suffix):
            stem = name[: -len(suffix)]
            return ColumnMeta(name, _humanise(stem), unit, kind)
    if low.endswith("_month") or low == "month":
        return ColumnMeta(name, _humanise(name), "", "month")
    return ColumnMeta(name, _humanise(name), "", "text")


_UPPER = {"nri": "NRI", "wi": "WI", "loe": "LOE", "noi": "NOI", "eur": "EUR", "boe": "BOE", "ngl": "NGL",
          "wti": "WTI", "fx": "FX", "jib": "JIB", "usd": "USD", "id": "ID", "gl": "GL", "afe": "AFE", "and": "&"}


def _humanise(stem: str) -> str:
    words = [_UPPER.get(w.lower(), w) for w in re.sub(r"[_\s]+", " ", str(stem)).split()]
    if len(words) > 1 and words[0].lower() == "gross":
        words = words[1:]
    text = " ".join(words)
    return text[:1].upper() + text[1:] if text else str(stem)


def column_meta(column: str, currency: str | None = None) -> ColumnMeta:
    """The :class:`ColumnMeta` of ``column`` (declared, or inferred from its name); ``currency`` fills
    the reporting-currency placeholder."""
    meta = _load_registry().get(str(column)) or infer_meta(str(column))
    return meta.for_currency(currency) if currency else meta


def label_for(column: str, currency: str | None = None, short: bool = False) -> str:
    """The heading of ``column`` with its unit: ``"Oil (bbl)"``, ``"LOE per BOE (USD)"``."""
    return column_meta(column, currency).heading(short=short)


def headings(columns, currency: str | None = None, short: bool = False) -> list[str]:
    """Headings for several columns; duplicates get the column name appended so each stays unique."""
    out: list[str] = []
    for c in columns:
        h = label_for(c, currency, short)
        if h in out:
            h = f"{h} [{c}]"
        out.append(h)
    return out


__all__ = ["CURRENCY", "FORMATS", "ColumnMeta", "column_meta", "headings", "infer_meta", "label_for"]
