"""The canonical layout of every inbox kind: columns, types, keys and row rules.

Each kind lands in one ``raw`` table. Every source adapter produces these
columns (as text for the SQL-validated file adapters, typed for the Python
adapters); the ingest core types them, applies the row rules and sends each
failing row to ``raw.rejected_rows`` with its reason.
"""
from __future__ import annotations

from dataclasses import dataclass

# column types understood by the validator
TEXT = "text"
MONTH = "month"      # YYYY-MM or any date; truncated to the first of the month
DATE = "date"
NUMBER = "number"    # double
INTEGER = "integer"
MONEY = "money"      # decimal(18, 2)


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    required: bool = False
    doc: str = ""


@dataclass(frozen=True)
class RowRule:
    """A row-level rule: ``sql`` is a boolean over typed columns that is TRUE for a bad row."""

    sql: str
    reason_sql: str  # SQL expression giving the human-readable reason


@dataclass(frozen=True)
class KindSpec:
    """One inbox kind.

    ``key`` names the columns identifying a row; ``key_sql`` the same key as the
    staging models compare it (e.g. ``upper(benchmark)``): two rows of one file
    with equal ``key_sql`` values are duplicates. ``window_column`` is the date
    that must fall in the plausible window, ``lead_months`` how far past the
    later of the run month and the current month it may run (``lead_reason`` says why).
    """

    kind: str
    table: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    rules: tuple[RowRule, ...] = ()
    doc: str = ""
    key_sql: tuple[str, ...] = ()
    window_column: str | None = None
    lead_months: int = 0
    lead_reason: str = "the later of the run month and the current month"

    @property
    def key_exprs(self) -> tuple[str, ...]:
        return self.key_sql or self.key

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def required(self) -> list[str]:
        return [c.name for c in self.columns if c.required]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)


#: the earliest plausible month of any dated value
EARLIEST_MONTH = "1900-01"
#: how far ahead price and FX decks may run (forward strips and curves), in months
FORWARD_MONTHS = 360
#: how far ahead a well header's first production may be planned, in months
PLANNED_MONTHS = 60
#: the largest magnitude accepted in a numeric column; beyond it a value is a unit or typing error,
#: and sums of such values would overflow to infinity
MAX_ABS_NUMBER = 1e15


def _fmt(col: str) -> str:
    return f"coalesce(cast({col} as varchar), 'null')"


_DAYS_IN_MONTH = "day(last_day(production_month))"

KINDS: dict[str, KindSpec] = {
    "well_header": KindSpec(
        kind="well_header",
        table="well_header",
        doc="one row per well",
        key=("well_id",),
        window_column="first_production_month",
        lead_months=PLANNED_MONTHS,
        lead_reason="5 years after the later of the run month and the current month (planned wells)",
        columns=(
            Column("well_id", TEXT, True, "API-style well identifier"),
            Column("well_name", TEXT),
            Column("operator", TEXT),
            Column("field", TEXT),
            Column("county", TEXT),
            Column("state", TEXT),
            Column("basin", TEXT),
            Column("first_production_month", MONTH),
            Column("lateral_length_ft", NUMBER),
            Column("working_interest", NUMBER, doc="fraction 0..1"),
            Column("net_revenue_interest", NUMBER, doc="fraction 0..1, at most the working interest"),
            Column("well_type", TEXT, doc="producer | injector (default producer)"),
        ),
        rules=(
            RowRule("working_interest < 0 or working_interest > 1",
                    "'working_interest ' || " + _fmt("working_interest") + " || ' outside 0..1'"),
            RowRule("net_revenue_interest < 0 or net_revenue_interest > 1",
                    "'net_revenue_interest ' || " + _fmt("net_revenue_interest") + " || ' outside 0..1'"),
            RowRule("net_revenue_interest > working_interest + 1e-9",
                    "'net_revenue_interest ' || " + _fmt("net_revenue_interest")
                    + " || ' exceeds working_interest ' || " + _fmt("working_interest")),
            RowRule("lateral_length_ft < 0", "'negative lateral_length_ft ' || " + _fmt("lateral_length_ft")),
            RowRule("lower(coalesce(well_type, 'producer')) not in ('producer', 'injector')",
                    "'well_type ' || well_type || ' is not producer or injector'"),
        ),
    ),
    "well_production": KindSpec(
        kind="well_production",
        table="well_production",
        doc="one row per well and month",
        key=("well_id", "production_month"),
        window_column="production_month",
        columns=(
            Column("well_id", TEXT, True),
            Column("production_month", MONTH, True),
            Column("days_on", NUMBER, doc="producing days in the month"),
            Column("oil_bbl", NUMBER),
            Column("gas_mcf", NUMBER),
            Column("water_bbl", NUMBER),
        ),
        rules=(
            RowRule("oil_bbl < 0", "'negative oil_bbl ' || " + _fmt("oil_bbl")),
            RowRule("gas_mcf < 0", "'negative gas_mcf ' || " + _fmt("gas_mcf")),
            RowRule("water_bbl < 0", "'negative water_bbl ' || " + _fmt("water_bbl")),
            RowRule(f"days_on < 0 or days_on > {_DAYS_IN_MONTH}",
                    "'days_on ' || " + _fmt("days_on") + " || ' outside 0..' || "
                    + f"{_DAYS_IN_MONTH}" + " || ' for ' || strftime(production_month, '%Y-%m')"),
        ),
    ),
    "gl": KindSpec(
        kind="gl",
        table="gl_records",
        doc="one row per journal line",
        key=("journal_id", "line_number"),
        window_column="transaction_date",
        lead_months=1,
        lead_reason="the month after the later of the run month and the current month (reversing entries)",
        columns=(
            Column("journal_id", TEXT, True),
            Column("line_number", INTEGER, True),
            Column("transaction_date", DATE, True),
            Column("account_code", TEXT, True),
            Column("account_name", TEXT),
            Column("description", TEXT),
            Column("well_id", TEXT),
            Column("afe_number", TEXT),
            Column("partner_id", TEXT),
            Column("debit_amount", MONEY),
            Column("credit_amount", MONEY),
            Column("currency", TEXT, doc="ISO 4217, default USD"),
        ),
        rules=(
            RowRule("coalesce(debit_amount, 0) <> 0 and coalesce(credit_amount, 0) <> 0",
                    "'both debit_amount and credit_amount set (' || " + _fmt("debit_amount")
                    + " || ' / ' || " + _fmt("credit_amount") + " || ')'"),
            RowRule("coalesce(debit_amount, 0) = 0 and coalesce(credit_amount, 0) = 0",
                    "'neither debit_amount nor credit_amount set'"),
            RowRule("debit_amount < 0 or credit_amount < 0",
                    "'negative amount (book reversals on the opposite side)'"),
        ),
    ),
    "prices": KindSpec(
        kind="prices",
        table="price_deck",
        doc="one row per benchmark and month",
        key=("price_month", "benchmark"),
        key_sql=("price_month", "upper(benchmark)"),
        window_column="price_month",
        lead_months=FORWARD_MONTHS,
        lead_reason="30 years after the later of the run month and the current month (forward strips)",
        columns=(
            Column("price_month", MONTH, True),
            Column("benchmark", TEXT, True, "WTI, HENRY_HUB or BRENT"),
            Column("price_usd", NUMBER, True),
        ),
        rules=(
            RowRule("upper(benchmark) not in ('WTI', 'HENRY_HUB', 'BRENT')",
                    "'unknown benchmark ' || benchmark || ' (expected WTI, HENRY_HUB or BRENT)'"),
        ),
    ),
    "fx": KindSpec(
        kind="fx",
        table="currency_rates",
        doc="one row per currency and month",
        key=("rate_month", "currency"),
        key_sql=("rate_month", "upper(currency)"),
        window_column="rate_month",
        lead_months=FORWARD_MONTHS,
        lead_reason="30 years after the later of the run month and the current month (forward curves)",
        columns=(
            Column("rate_month", MONTH, True),
            Column("currency", TEXT, True, "ISO 4217"),
            Column("units_per_usd", NUMBER, True, "units of currency one USD buys"),
        ),
        rules=(
            RowRule("units_per_usd <= 0", "'units_per_usd ' || " + _fmt("units_per_usd") + " || ' is not positive'"),
            RowRule("not regexp_full_match(currency, '[A-Za-z]{3}')",
                    "'currency ' || currency || ' is not a 3-letter ISO code'"),
        ),
    ),
}

#: kinds loaded by a Python adapter rather than the SQL-validated file path
ADAPTER_KINDS = ("volve",)

#: ingestion order: dimensions first
KIND_ORDER = ("well_header", "well_production", "gl", "prices", "fx", "volve")
