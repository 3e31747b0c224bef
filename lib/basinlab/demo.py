"""Deterministic demo inbox generator.

``generate_demo(out_dir, wells, months, end_month, seed)`` writes a small but
realistic operator's month-end data set into the inbox layout
(``out_dir/<kind>/<file>``, see the inbox contract in docs/ARCHITECTURE.md):

=============================================  =====================================
file                                           content
=============================================  =====================================
``well_header/demo_wells.csv``                 one row per well
``well_production/demo_production.csv``        one row per well and month on line
``gl/demo_gl.csv``                             balanced GL journals (demo chart of accounts)
``prices/demo_price_deck.parquet``             monthly WTI and Henry Hub
``fx/demo_fx.xlsx``                            monthly CAD / EUR / NOK per USD
``well_production/demo_production_late_entries.csv``   deliberately bad rows (``bad_rows=True``)
``gl/demo_gl_manual_adjustments.csv``          manual journals incl. bad lines (``bad_rows=True``)
=============================================  =====================================

Everything is a pure function of the arguments: the same arguments give
byte-identical files (no wall clock anywhere: the XLSX document properties and
zip entry times are derived from ``end_month``, the Parquet file carries no
timestamps). Random numbers come from ``numpy.random.default_rng(seed)`` split
into independent child streams, so e.g. the price deck depends only on
``seed``, ``months`` and ``end_month``, not on the number of wells.

Wells and production
--------------------
API-style ids ``SS-CCC-NNNNN`` with real state / county API codes (TX 42,
NM 30, ND 33), five fields in four basins (Spraberry and Wolfcamp A in the
Midland basin, Delaware Wolfcamp in the Delaware basin (TX and NM), Eagle Ford
in the Western Gulf basin, Bakken in the Williston basin). Most wells are
operated by :data:`DEMO_OPERATOR`; a few (:data:`NONOP_FRACTION`) are non-op.
First production months lie inside the window: ~30 % of the wells in the
first month, the rest spread uniformly over the later months.

Oil follows a modified hyperbolic Arps decline per well (``_mh_rate`` /
``_mh_cum``) in *producing* time: the monthly volume is the integral of the
rate over the month's producing days, i.e. the well's clock only runs while
it produces (rates are per producing day; volume = rate × days_on). On top: a
1–2 month ramp-up (choke management after flowback), a partial first month,
occasional shut-in months (days_on 0, zero volumes) and partial months, and
multiplicative log-normal noise (~8 %). Gas = oil × GOR with GOR rising from
1.0–1.8 towards a cap of 3.0 mcf/bbl; water = oil × WC/(1 − WC) with the
water cut rising towards 65–90 %. Volumes are rounded to 2 decimals.

GL (``demo_gl.csv``)
--------------------
All amounts are computed in integer cents, so every journal balances exactly.
Journal ids are ``JE-YYYY-MM-NNNNNN`` (sequence per month), line numbers
1..n per journal; per month the journals come in this order:

* revenue, per producing well (dated month end): Dr 1200 / Cr 4000, 4010,
  4020. Booked *net* = volume × realised price × NRI × (1 ± up to 1 %
  booking noise, so booked and recalculated revenue differ slightly).
  Realised prices: oil = WTI − :data:`OIL_DIFFERENTIAL_USD_BBL` (by basin);
  gas = Henry Hub × :data:`GAS_REALISATION` × :data:`MMBTU_PER_MCF` (1.0
  MMBtu/mcf assumed); NGL volume = gas mcf × :data:`NGL_YIELD_BBL_PER_MMCF`
  / 1000 at :data:`NGL_PRICE_FRACTION_OF_WTI` × WTI. Residue-gas shrink from
  NGL extraction is ignored (gas sales volume = reported gas_mcf).
* severance tax, per producing well (month end): Dr 5200 / Cr 2100 =
  state rate (:data:`SEVERANCE_RATES`, oil rate on oil, gas rate on gas and
  NGL) × the *booked net* revenue: royalty owners bear their own share of
  the tax (withheld from their distributions), so the operator's expense is
  the rate times its net revenue.
* operating cost accrual, per well on line (25th): Dr 5000 / Cr 2000 LOE
  (fixed $/well-month by field + $/BOE + $/bbl water disposal; shut-in months
  carry the fixed part only), Dr 5300 / Cr 2000 gathering & transport
  ($/mcf by basin), Dr 5100 / Cr 2000 workovers (occasional, mostly in
  shut-in months).
* capex by AFE (25th) in the well's first 1–3 months (drilling,
  completion, facilities): Dr 1500 / Cr 2000 with ``afe_number``
  ``AFE-YYYY-NNNN`` (YYYY = year of first production), $6–10 MM gross per
  well; months after ``end_month`` are simply not booked yet.
* JIB, one journal per partner and month (month end), per billed well:
  Dr 1210 (partner_id) / Cr 5900 partner share of that well-month's LOE +
  workover + G&T / Cr 1590 partner share of capex. Operated wells with
  WI < 1 have one or two partners (``P001``…) whose shares sum to 1 − WI.
* G&A, one per month (25th), company level: Dr 6000 / Cr 1100, no well.

Costs and capex of *operated* wells are booked gross (8/8ths) and recovered
through JIB. For the few *non-op* wells the other operator bills us: their
costs and capex are booked at our WI share (the operator's JIB, Cr 2000) and
there is no partner billing by us. Net cost = 5000 + 5100 + 5300 − 5900
therefore holds for both.

Deliberately bad files (``bad_rows=True``)
------------------------------------------
``well_production/demo_production_late_entries.csv`` (header = line 1):

====  ===========================================================  ===============================
line  row                                                          expected outcome
====  ===========================================================  ===============================
2     exact duplicate of a row in demo_production.csv              loads; staging dedup drops it
3     production_month ``<end year>-13``                           reject: unparseable production_month
4     oil_bbl ``12,3a``                                            reject: unparseable number (oil_bbl)
5     exact duplicate of another row in demo_production.csv        loads; staging dedup drops it
6     oil_bbl negative                                             reject: negative volume (oil_bbl)
7     days_on 45                                                   reject: days_on out of range 0..31
8     empty well_id                                                reject: missing required well_id
====  ===========================================================  ===============================

``gl/demo_gl_manual_adjustments.csv``: ``JE-ADJ-YYYY-MM-001`` (reclass LOE
to workover, Dr 5100 / Cr 5000) and ``JE-ADJ-YYYY-MM-002`` (prior-period gas
revenue true-up, Dr 1200 / Cr 4010) are fine and balanced (lines 2–5).
``JE-ADJ-BAD`` consists only of two bad lines: line 6 has both a debit and a
credit, line 7 has neither; both are rejected ("exactly one of
debit/credit"), so nothing of that journal is loaded and every loaded
journal still balances.

:attr:`DemoResult.bad_rows` lists these lines with their reasons.
"""
from __future__ import annotations

import calendar
import csv
import datetime as dt
import io
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from .config import parse_month

__all__ = [
    "DEMO_OPERATOR",
    "DemoBadRow",
    "DemoFile",
    "DemoResult",
    "demo_gl",
    "generate_demo",
]

# --------------------------------------------------------------------------
# Documented assumptions (named constants)
# --------------------------------------------------------------------------

DEMO_OPERATOR = "Basin Demo Operating LLC"
CURRENCY = "USD"
DAYS_PER_YEAR = 365.25

#: Share of wells operated by someone else (at least one when wells >= 5).
NONOP_FRACTION = 0.06
#: Share of wells whose first production month is the window's first month.
FIRST_MONTH_ONLINE_FRACTION = 0.30

#: Arps parameters: initial oil rate (bbl per producing day) is log-normal by
#: field and clipped to this range; secant-effective initial decline per year
#: and b factor uniform in these ranges; terminal (exponential) decline per year.
QI_RANGE_BBL_D = (150.0, 1500.0)
QI_LOG_SIGMA = 0.35
DI_EFFECTIVE_RANGE = (0.50, 0.85)
B_RANGE = (0.6, 1.5)
TERMINAL_DECLINE_EFFECTIVE = 0.06
#: Multiplicative monthly noise (log-normal sigma) on oil; GOR and water.
OIL_NOISE_SIGMA = 0.08
GOR_NOISE_SIGMA = 0.04
WATER_NOISE_SIGMA = 0.06
#: GOR cap (mcf/bbl) and relative GOR growth per producing year.
GOR_MAX = 3.0
GOR_GROWTH_PER_YEAR = (0.15, 0.35)
#: Probability per well-month (after the first) of a shut-in / partial month.
SHUT_IN_PROBABILITY = 0.015
PARTIAL_MONTH_PROBABILITY = 0.06
#: Ramp-up factors on the month's volume: 1-month ramp, 2-month ramp.
RAMP_ONE_MONTH = (0.65,)
RAMP_TWO_MONTHS = (0.45, 0.80)

#: Prices: log mean-reverting walks (monthly), clipped to plausible bands.
WTI_MEAN, WTI_SIGMA, WTI_REVERSION, WTI_BAND = 75.0, 0.06, 0.25, (60.0, 90.0)
HH_MEAN, HH_SIGMA, HH_REVERSION, HH_BAND = 3.2, 0.12, 0.30, (2.0, 5.0)
#: FX: units of currency per USD, log mean-reverting walks.
FX_CENTRES = {"CAD": (1.35, 0.015), "EUR": (0.92, 0.015), "NOK": (10.5, 0.02)}
FX_REVERSION = 0.10

#: Realised prices.
OIL_DIFFERENTIAL_USD_BBL = {"Midland": 2.0, "Delaware": 3.0, "Western Gulf": 2.5, "Williston": 5.5}
GAS_REALISATION = 0.85  # realised gas price / Henry Hub
MMBTU_PER_MCF = 1.0  # heat content assumed for converting HH USD/MMBtu to USD/mcf
NGL_YIELD_BBL_PER_MMCF = 80.0
NGL_PRICE_FRACTION_OF_WTI = 0.30
REVENUE_BOOKING_NOISE = 0.01  # booked = calculated × (1 + U(-1 %, +1 %))

#: Approximate state production/severance tax rates (oil, gas) on value.
#: TX: statutory 4.6 % oil / 7.5 % gas. NM: severance + school + conservation
#: (~7.09 % oil, ~8.09 % gas). ND: 5 % gross production + 5 % extraction on
#: oil; ND gas is taxed per mcf, approximated here as 4 % of value.
SEVERANCE_RATES = {"TX": (0.046, 0.075), "NM": (0.0709, 0.0809), "ND": (0.10, 0.04)}

#: LOE: fixed USD per well-month (by field, ±10 % per well) + per BOE + water disposal.
LOE_VARIABLE_USD_PER_BOE = 4.0
WATER_DISPOSAL_USD_PER_BBL = 0.60
LOE_NOISE_SIGMA = 0.05
#: Gathering & transportation, USD per mcf, by basin.
GT_USD_PER_MCF = {"Midland": 0.55, "Delaware": 0.70, "Western Gulf": 0.45, "Williston": 0.90}
#: Workover probability per well-month: in shut-in months / otherwise (after month 6).
WORKOVER_PROBABILITY = (0.40, 0.01)
WORKOVER_MEDIAN_USD, WORKOVER_RANGE_USD = 120_000.0, (30_000.0, 400_000.0)
#: Capex (drilling + completion + facilities), gross USD per well; split over 1–3 months.
CAPEX_RANGE_USD = (6_000_000.0, 10_000_000.0)
CAPEX_SPLITS = {1: (1.0,), 2: (0.55, 0.45), 3: (0.45, 0.40, 0.15)}
#: G&A per month: fixed + per well on line.
GA_FIXED_USD, GA_PER_WELL_USD = 120_000.0, 900.0

PARTNERS = ("P001", "P002", "P003", "P004", "P005", "P006")

#: Demo chart of accounts (docs/ARCHITECTURE.md).
ACCOUNTS = {
    1100: "Cash",
    1200: "Accounts receivable - purchasers",
    1210: "JIB receivable - partners",
    1500: "Oil and gas properties - capex (AFE)",
    1590: "JIB recovery - partners' share of capex",
    2000: "Accounts payable",
    2100: "Severance tax payable",
    4000: "Oil sales",
    4010: "Gas sales",
    4020: "NGL sales",
    5000: "Lease operating expense",
    5100: "Workover expense",
    5200: "Severance tax",
    5300: "Gathering and transportation",
    5900: "JIB recovery - partners' share of operating cost",
    6000: "General and administrative",
}


@dataclass(frozen=True)
class _Field:
    name: str
    basin: str
    weight: float
    counties: tuple[tuple[str, str, str, str], ...]  # (state, api state, county, api county)
    qi_median: float
    gor0: tuple[float, float]
    wc0: tuple[float, float]
    wc_end: tuple[float, float]
    loe_fixed: float
    nonop_operator: str
    leases: tuple[str, ...]


FIELDS: tuple[_Field, ...] = (
    _Field("Spraberry", "Midland", 0.25,
           (("TX", "42", "Martin", "317"), ("TX", "42", "Midland", "329"),
            ("TX", "42", "Howard", "227"), ("TX", "42", "Glasscock", "173")),
           450.0, (1.1, 1.5), (0.30, 0.45), (0.65, 0.80), 9_000.0,
           "Permian Ridge Energy LP", ("Tarzan", "Bluebonnet", "Caprock", "Mustang Draw", "Sulphur Draw")),
    _Field("Wolfcamp A", "Midland", 0.20,
           (("TX", "42", "Midland", "329"), ("TX", "42", "Upton", "461"),
            ("TX", "42", "Reagan", "383"), ("TX", "42", "Martin", "317")),
           650.0, (1.2, 1.7), (0.35, 0.50), (0.70, 0.85), 10_000.0,
           "Permian Ridge Energy LP", ("Big Spring", "Pecan Acres", "Horned Frog", "Centennial")),
    _Field("Delaware Wolfcamp", "Delaware", 0.25,
           (("TX", "42", "Reeves", "389"), ("TX", "42", "Loving", "301"), ("TX", "42", "Ward", "475"),
            ("NM", "30", "Lea", "025"), ("NM", "30", "Eddy", "015")),
           900.0, (1.4, 1.8), (0.50, 0.65), (0.80, 0.90), 14_000.0,
           "Red Hills Operating LLC", ("Pecos Valley", "Red Bluff", "Jal Draw", "Salado", "Toyah")),
    _Field("Eagle Ford", "Western Gulf", 0.15,
           (("TX", "42", "Karnes", "255"), ("TX", "42", "DeWitt", "123"),
            ("TX", "42", "Gonzales", "177"), ("TX", "42", "La Salle", "283")),
           600.0, (1.0, 1.4), (0.20, 0.35), (0.55, 0.70), 8_000.0,
           "Brush Country Resources Inc", ("Kenedy Ranch", "Cibolo", "Yorktown", "Helena")),
    _Field("Bakken", "Williston", 0.15,
           (("ND", "33", "McKenzie", "053"), ("ND", "33", "Williams", "105"),
            ("ND", "33", "Mountrail", "061"), ("ND", "33", "Dunn", "025")),
           700.0, (1.0, 1.3), (0.30, 0.45), (0.60, 0.75), 16_000.0,
           "Dakota Prairie Oil Co", ("Skunk Creek", "Antelope", "Lost Bridge", "Charlson")),
)

HEADER_COLUMNS = ("well_id", "well_name", "operator", "field", "county", "state", "basin",
                  "first_production_month", "lateral_length_ft", "working_interest",
                  "net_revenue_interest", "well_type")
PRODUCTION_COLUMNS = ("well_id", "production_month", "days_on", "oil_bbl", "gas_mcf", "water_bbl")
GL_COLUMNS = ("journal_id", "line_number", "transaction_date", "account_code", "account_name",
              "description", "well_id", "afe_number", "partner_id", "debit_amount",
              "credit_amount", "currency")

FILE_HEADER = "well_header/demo_wells.csv"
FILE_PRODUCTION = "well_production/demo_production.csv"
FILE_GL = "gl/demo_gl.csv"
FILE_PRICES = "prices/demo_price_deck.parquet"
FILE_FX = "fx/demo_fx.xlsx"
FILE_LATE_PRODUCTION = "well_production/demo_production_late_entries.csv"
FILE_GL_ADJUSTMENTS = "gl/demo_gl_manual_adjustments.csv"


# --------------------------------------------------------------------------
# Result types
# --------------------------------------------------------------------------

class DemoFile(NamedTuple):
    """One written file: inbox kind, path, data rows (header excluded)."""

    kind: str
    path: Path
    rows: int


class DemoBadRow(NamedTuple):
    """A deliberately bad source line: file, 1-based line (header = 1), expected reject reason."""

    kind: str
    path: Path
    line: int
    reason: str


@dataclass
class DemoResult:
    """What :func:`generate_demo` wrote."""

    out_dir: Path
    start_month: str
    end_month: str
    wells: int
    months: int
    seed: int
    files: list[DemoFile] = field(default_factory=list)
    bad_rows: list[DemoBadRow] = field(default_factory=list)

    def rows(self, kind: str) -> int:
        """Data rows written for ``kind`` (all files of that kind)."""
        return sum(f.rows for f in self.files if f.kind == kind)

    def path(self, relative: str) -> Path:
        """Path of a written file given as ``<kind>/<name>``."""
        return self.out_dir / relative


# --------------------------------------------------------------------------
# Modified hyperbolic Arps (private; basinlab.decline owns the public one)
# --------------------------------------------------------------------------

def _nominal_from_secant(de: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Nominal initial decline (1/yr) from a secant-effective annual decline: ((1-De)^-b - 1)/b."""
    return ((1.0 - de) ** (-b) - 1.0) / b


def _mh_params(di_nominal: np.ndarray, b: np.ndarray, d_terminal: float) -> tuple[np.ndarray, np.ndarray]:
    """Switch time ``t*`` (same unit as 1/di) where D(t) = di/(1+b di t) falls to ``d_terminal``."""
    t_switch = np.where(di_nominal > d_terminal, (di_nominal / d_terminal - 1.0) / (b * di_nominal), 0.0)
    return t_switch, np.maximum(di_nominal, d_terminal)


def _mh_rate(t, qi, di, b, d_terminal):
    """Rate of the modified hyperbolic Arps decline, vectorised.

    Same formula as Arps modified hyperbolic (``basinlab.decline``): hyperbolic
    ``q = qi / (1 + b di t)^(1/b)`` with nominal initial decline ``di`` until the
    instantaneous decline ``di / (1 + b di t)`` reaches the nominal terminal
    decline ``d_terminal``, exponential ``q* exp(-d_terminal (t - t*))`` after.
    ``t``, ``di`` and ``d_terminal`` in consistent units (here days, 1/day).
    """
    t = np.asarray(t, dtype=float)
    t_sw, di = _mh_params(np.asarray(di, float), np.asarray(b, float), d_terminal)
    hyp = qi / (1.0 + b * di * np.minimum(t, t_sw)) ** (1.0 / b)
    return hyp * np.exp(-d_terminal * np.maximum(t - t_sw, 0.0))


def _mh_cum(t, qi, di, b, d_terminal):
    """Cumulative volume of :func:`_mh_rate` from 0 to ``t`` (closed form, vectorised).

    Hyperbolic part ``qi / ((1-b) di) * (1 - (1 + b di t)^((b-1)/b))`` (``qi/di ln(1+di t)``
    for b = 1), plus ``(q* - q(t)) / d_terminal`` after the switch.
    """
    t = np.asarray(t, dtype=float)
    b = np.asarray(b, float)
    t_sw, di = _mh_params(np.asarray(di, float), b, d_terminal)
    th = np.minimum(t, t_sw)
    x = 1.0 + b * di * th
    harmonic = np.abs(b - 1.0) < 1e-9
    b_safe = np.where(harmonic, 0.5, b)
    with np.errstate(divide="ignore", invalid="ignore"):
        hyp = np.where(harmonic,
                       qi / di * np.log(x),
                       qi / ((1.0 - b_safe) * di) * (1.0 - x ** ((b_safe - 1.0) / b_safe)))
    q_sw = qi / (1.0 + b * di * t_sw) ** (1.0 / b)
    tail = q_sw * (1.0 - np.exp(-d_terminal * np.maximum(t - t_sw, 0.0))) / d_terminal
    return hyp + tail


# --------------------------------------------------------------------------
# Formatting and writing helpers
# --------------------------------------------------------------------------

def _fmt_cents(cents: np.ndarray, null: np.ndarray | None = None) -> pa.Array:
    """Integer cents → strings with exactly two decimals ("-12.30"); ``null`` marks empty cells."""
    cents = np.asarray(cents, dtype=np.int64)
    a = np.abs(cents)
    whole = pc.cast(pa.array(a // 100), pa.string())
    frac = pc.utf8_lpad(pc.cast(pa.array(a % 100), pa.string()), 2, "0")
    s = pc.binary_join_element_wise(whole, frac, ".")
    neg = cents < 0
    if neg.any():
        s = pc.if_else(pa.array(neg), pc.binary_join_element_wise("-", s, ""), s)
    if null is not None and null.any():
        s = pc.if_else(pa.array(null), pa.scalar(None, pa.string()), s)
    return s


def _take(strings: list[str] | pa.Array, idx: np.ndarray) -> pa.Array:
    """Vectorised lookup ``strings[idx]``; negative indices give empty cells."""
    idx = np.asarray(idx, dtype=np.int64)
    arr = strings if isinstance(strings, pa.Array) else pa.array(list(strings), pa.string())
    return pc.take(arr, pa.array(idx, mask=idx < 0))


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _csv_bytes(columns: tuple[str, ...], arrays: list[pa.Array]) -> bytes:
    """CSV without quoting (no value contains a comma, quote or newline: checked by arrow)."""
    buf = io.BytesIO()
    buf.write((",".join(columns) + "\n").encode())
    table = pa.Table.from_arrays(arrays, names=list(columns))
    pacsv.write_csv(table, buf, pacsv.WriteOptions(include_header=False, quoting_style="none",
                                                   batch_size=65536))
    return buf.getvalue()


def _csv_rows_bytes(columns: tuple[str, ...], rows: list[list[str]]) -> bytes:
    """Small CSV written with the csv module (quotes where needed, '\\n' line ends)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    w.writerows(rows)
    return buf.getvalue().encode()


def _normalise_zip(data: bytes, when: dt.datetime, replace: dict[str, bytes] | None = None) -> bytes:
    """Rewrite a zip (XLSX) with fixed entry times so the bytes depend only on the content.

    ``replace`` swaps whole members (openpyxl's ``save`` stamps ``docProps/core.xml``
    with the wall clock; we put back properties with fixed times).
    """
    replace = replace or {}
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            zi = zipfile.ZipInfo(info.filename, date_time=when.timetuple()[:6])
            zi.compress_type = zipfile.ZIP_DEFLATED
            zi.external_attr = 0o600 << 16
            dst.writestr(zi, replace.get(info.filename, src.read(info.filename)))
    return out.getvalue()


def _month_list(end_month: str, months: int) -> list[tuple[int, int]]:
    y, m = parse_month(end_month)
    idx = y * 12 + (m - 1) - (months - 1)
    return [((idx + i) // 12, (idx + i) % 12 + 1) for i in range(months)]


def _ou_log_walk(rng: np.random.Generator, n: int, mean: float, sigma: float, theta: float) -> np.ndarray:
    """Mean-reverting (Ornstein-Uhlenbeck, discrete) walk in log space around ``mean``."""
    mu = np.log(mean)
    eps = rng.standard_normal(n)
    x = np.empty(n)
    x[0] = mu + sigma / np.sqrt(max(1e-9, 1 - (1 - theta) ** 2)) * eps[0] * 0.5
    for i in range(1, n):
        x[i] = x[i - 1] + theta * (mu - x[i - 1]) + sigma * eps[i]
    return np.exp(x)


# --------------------------------------------------------------------------
# Generator
# --------------------------------------------------------------------------

def generate_demo(
    out_dir: Path,
    wells: int = 200,
    months: int = 60,
    end_month: str | None = None,
    seed: int = 42,
    bad_rows: bool = True,
    progress: Callable[[str], None] | None = None,
) -> DemoResult:
    """Write the deterministic demo inbox under ``out_dir/<kind>/`` and return what was written.

    ``end_month`` (``YYYY-MM``, required) is the last month of the window of
    ``months`` months. Same arguments → byte-identical files.
    """
    return _generate(out_dir, wells, months, end_month, seed, bad_rows, progress, _write_atomic)


def demo_gl(wells: int = 200, months: int = 60, end_month: str | None = None, seed: int = 42) -> pa.Table:
    """The GL lines :func:`generate_demo` writes to ``gl/demo_gl.csv`` for the same arguments, in memory.

    Nothing is written. Returns an Arrow table of strings with the columns
    :data:`GL_COLUMNS` in file order (journals by month, then journal type,
    then entity; empty cells as nulls). Used by the served GL generator
    (``basinlab.service.generator``), so the served ledger is the demo's ledger.
    """
    captured: dict[str, bytes] = {}

    def keep_gl(path: Path, data: bytes) -> None:
        if path.relative_to(_NOWHERE).as_posix() == FILE_GL:
            captured["gl"] = data

    _generate(_NOWHERE, wells, months, end_month, seed, False, None, keep_gl)
    return pacsv.read_csv(
        io.BytesIO(captured["gl"]),
        convert_options=pacsv.ConvertOptions(column_types={c: pa.string() for c in GL_COLUMNS},
                                             strings_can_be_null=True))


#: the out_dir :func:`demo_gl` passes: its sink writes nothing
_NOWHERE = Path("/nonexistent-demo-gl")


def _generate(out_dir: Path, wells: int, months: int, end_month: str | None, seed: int, bad_rows: bool,
              progress: Callable[[str], None] | None, sink: Callable[[Path, bytes], None]) -> DemoResult:
    """:func:`generate_demo`'s work; every file goes through ``sink(path, data)``."""
    if end_month is None:
        raise ValueError("end_month is required (YYYY-MM, e.g. 2024-06)")
    end_y, end_m = parse_month(end_month)
    if int(wells) < 1:
        raise ValueError(f"wells must be >= 1, got {wells!r}")
    if int(months) < 1:
        raise ValueError(f"months must be >= 1, got {months!r}")
    if int(wells) > 70_000:
        raise ValueError(f"wells must be <= 70000 (API number space), got {wells!r}")
    W, M = int(wells), int(months)
    out_dir = Path(out_dir)
    say = progress or (lambda _msg: None)

    cal = _month_list(f"{end_y:04d}-{end_m:02d}", M)
    month_str = [f"{y:04d}-{m:02d}" for y, m in cal]
    dim = np.array([calendar.monthrange(y, m)[1] for y, m in cal], dtype=np.int64)
    result = DemoResult(out_dir=out_dir, start_month=month_str[0], end_month=month_str[-1],
                        wells=W, months=M, seed=int(seed))

    root = np.random.default_rng(seed)
    rng_prices, rng_fx, rng_wells, rng_prod, rng_gl, rng_bad = root.spawn(6)

    # ---------------------------------------------------------------- prices
    wti = np.clip(_ou_log_walk(rng_prices, M, WTI_MEAN, WTI_SIGMA, WTI_REVERSION), *WTI_BAND).round(2)
    hh = np.clip(_ou_log_walk(rng_prices, M, HH_MEAN, HH_SIGMA, HH_REVERSION), *HH_BAND).round(3)
    price_table = pa.table({
        "price_month": pa.array([ms for ms in month_str for _ in range(2)], pa.string()),
        "benchmark": pa.array(["WTI", "HENRY_HUB"] * M, pa.string()),
        "price_usd": pa.array(np.column_stack([wti, hh]).ravel(), pa.float64()),
    })
    pbuf = io.BytesIO()
    pq.write_table(price_table, pbuf, compression="snappy")
    path = out_dir / FILE_PRICES
    sink(path, pbuf.getvalue())
    result.files.append(DemoFile("prices", path, price_table.num_rows))
    say(f"prices: {price_table.num_rows} rows")

    # ---------------------------------------------------------------- fx
    import openpyxl  # local: only needed here
    from openpyxl.xml.functions import tostring

    fx_cols = {}
    for cur, (centre, sigma) in FX_CENTRES.items():
        fx_cols[cur] = _ou_log_walk(rng_fx, M, centre, sigma, FX_REVERSION).round(4)
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "fx"
    ws.append(["rate_month", "currency", "units_per_usd"])
    for i, ms in enumerate(month_str):
        for cur in FX_CENTRES:
            ws.append([ms, cur, float(fx_cols[cur][i])])
    stamp = dt.datetime(end_y, end_m, 1)
    wb.properties.created = stamp
    wb.properties.modified = stamp
    wb.properties.creator = "basinlab demo"
    wb.properties.lastModifiedBy = "basinlab demo"
    xbuf = io.BytesIO()
    wb.save(xbuf)  # stamps properties.modified with the wall clock: reset and rewrite core.xml
    wb.properties.modified = stamp
    core = tostring(wb.properties.to_tree())
    path = out_dir / FILE_FX
    sink(path, _normalise_zip(xbuf.getvalue(), stamp, {"docProps/core.xml": core}))
    result.files.append(DemoFile("fx", path, M * len(FX_CENTRES)))
    say(f"fx: {M * len(FX_CENTRES)} rows")

    # ---------------------------------------------------------------- wells
    r = rng_wells
    weights = np.array([f.weight for f in FIELDS])
    fld = r.choice(len(FIELDS), size=W, p=weights / weights.sum())
    county_pick = r.random(W)
    api_numbers = r.choice(np.arange(30_000, 100_000), size=W, replace=False)
    first = np.where(r.random(W) < FIRST_MONTH_ONLINE_FRACTION, 0,
                     r.integers(1, max(M, 2), size=W))
    first = np.minimum(first, M - 1)
    lateral = np.round(r.uniform(4_500, 12_500, W), -1)
    lateral_unknown = r.random(W) < 0.04
    n_nonop = 0 if W < 5 else max(1, int(round(NONOP_FRACTION * W)))
    nonop = np.zeros(W, dtype=bool)
    nonop[r.choice(W, size=n_nonop, replace=False)] = True
    full_wi = r.random(W) < 0.35
    wi = np.where(full_wi, 1.0, r.uniform(0.5, 0.95, W))
    wi = np.where(nonop, r.uniform(0.5, 0.75, W), wi).round(4)
    lease_nri = r.choice(np.array([0.75, 0.775, 0.80, 0.8125]), size=W)
    nri = (wi * lease_nri).round(8)
    section = r.integers(1, 49, size=W)
    qi = np.exp(np.log([f.qi_median for f in FIELDS])[fld] + QI_LOG_SIGMA * r.standard_normal(W))
    qi = np.clip(qi * np.sqrt(np.where(lateral_unknown, 9_000, lateral) / 9_000.0), *QI_RANGE_BBL_D)
    de = r.uniform(*DI_EFFECTIVE_RANGE, W)
    b = r.uniform(*B_RANGE, W)
    ramp2 = r.random(W) < 0.5
    gor0 = np.array([r.uniform(*FIELDS[k].gor0) for k in fld])
    gor_growth = r.uniform(*GOR_GROWTH_PER_YEAR, W)
    wc0 = np.array([r.uniform(*FIELDS[k].wc0) for k in fld])
    wc_end = np.array([r.uniform(*FIELDS[k].wc_end) for k in fld])
    wc_tau = r.uniform(1.5, 4.0, W)  # years
    loe_fixed = np.array([FIELDS[k].loe_fixed for k in fld]) * r.uniform(0.9, 1.1, W)
    capex_total = r.uniform(*CAPEX_RANGE_USD, W)
    capex_months = r.integers(1, 4, size=W)
    n_partners = np.where(r.random(W) < 0.6, 1, 2)
    partner_a = r.integers(0, len(PARTNERS), size=W)
    partner_b = (partner_a + r.integers(1, len(PARTNERS), size=W)) % len(PARTNERS)
    split_a = r.uniform(0.4, 0.7, W)

    # per-well strings; wells are then sorted by id
    states, api_states, counties, api_counties = [], [], [], []
    for k, u in zip(fld, county_pick):
        c = FIELDS[k].counties[int(u * len(FIELDS[k].counties))]
        states.append(c[0]); api_states.append(c[1]); counties.append(c[2]); api_counties.append(c[3])
    well_ids = np.array([f"{s}-{c}-{n:05d}" for s, c, n in zip(api_states, api_counties, api_numbers)])
    order = np.argsort(well_ids, kind="stable")

    def srt(a):
        return a[order] if isinstance(a, np.ndarray) else [a[i] for i in order]

    (fld, api_numbers, first, lateral, lateral_unknown, nonop, wi, nri, section, qi, de, b, ramp2,
     gor0, gor_growth, wc0, wc_end, wc_tau, loe_fixed, capex_total, capex_months, n_partners,
     partner_a, partner_b, split_a, well_ids) = (srt(a) for a in (
        fld, api_numbers, first, lateral, lateral_unknown, nonop, wi, nri, section, qi, de, b, ramp2,
        gor0, gor_growth, wc0, wc_end, wc_tau, loe_fixed, capex_total, capex_months, n_partners,
        partner_a, partner_b, split_a, well_ids))
    states, counties = srt(states), srt(counties)
    well_id_list = [str(x) for x in well_ids]
    basins = [FIELDS[k].basin for k in fld]

    # well names: "<lease> <section>-<n>H", n counting per lease → unique
    lease_count: dict[str, int] = {}
    names = []
    for i, k in enumerate(fld):
        leases = FIELDS[k].leases
        lease = leases[int(api_numbers[i]) % len(leases)]
        lease_count[lease] = lease_count.get(lease, 0) + 1
        names.append(f"{lease} {int(section[i])}-{lease_count[lease]}H")

    operators = [FIELDS[k].nonop_operator if nonop[i] else DEMO_OPERATOR for i, k in enumerate(fld)]
    header_rows = [
        [well_id_list[i], names[i], operators[i], FIELDS[fld[i]].name, counties[i], states[i],
         basins[i], month_str[first[i]], "" if lateral_unknown[i] else str(int(lateral[i])),
         f"{wi[i]:.4f}", f"{nri[i]:.8f}", "producer"]
        for i in range(W)
    ]
    path = out_dir / FILE_HEADER
    sink(path, _csv_rows_bytes(HEADER_COLUMNS, header_rows))
    result.files.append(DemoFile("well_header", path, W))
    say(f"well_header: {W} wells")

    # ---------------------------------------------------------------- production
    r = rng_prod
    k_age = np.arange(M)[None, :] - first[:, None]  # months since first production
    online = k_age >= 0
    dim2 = np.broadcast_to(dim[None, :], (W, M))
    u = r.random((W, M))
    first_days = r.integers(5, dim2)  # partial first month: 5 .. days-1
    partial_days = r.integers(8, dim2)
    days_on = np.where(u < SHUT_IN_PROBABILITY, 0,
                       np.where(u < SHUT_IN_PROBABILITY + PARTIAL_MONTH_PROBABILITY, partial_days, dim2))
    days_on = np.where(k_age == 0, first_days, days_on)
    days_on = np.where(online, days_on, 0).astype(np.int64)

    t_end = np.cumsum(days_on, axis=1).astype(float)  # producing days since first production
    t_start = t_end - days_on
    di_day = _nominal_from_secant(de, b) / DAYS_PER_YEAR
    d_term_day = -np.log(1.0 - TERMINAL_DECLINE_EFFECTIVE) / DAYS_PER_YEAR
    qi_c, di_c, b_c = qi[:, None], di_day[:, None], b[:, None]
    oil = _mh_cum(t_end, qi_c, di_c, b_c, d_term_day) - _mh_cum(t_start, qi_c, di_c, b_c, d_term_day)
    ramp = np.ones((W, M))
    ramp = np.where(k_age == 0, np.where(ramp2, RAMP_TWO_MONTHS[0], RAMP_ONE_MONTH[0])[:, None], ramp)
    ramp = np.where((k_age == 1) & ramp2[:, None], RAMP_TWO_MONTHS[1], ramp)
    oil = oil * ramp * np.exp(OIL_NOISE_SIGMA * r.standard_normal((W, M)))
    t_mid_years = (t_start + t_end) / 2.0 / DAYS_PER_YEAR
    gor = np.minimum(GOR_MAX, gor0[:, None] * (1.0 + gor_growth[:, None] * t_mid_years))
    gas = oil * gor * np.exp(GOR_NOISE_SIGMA * r.standard_normal((W, M)))
    wc = wc_end[:, None] - (wc_end - wc0)[:, None] * np.exp(-t_mid_years / wc_tau[:, None])
    water = oil * wc / (1.0 - wc) * np.exp(WATER_NOISE_SIGMA * r.standard_normal((W, M)))
    oil_c = np.where(online, np.rint(oil * 100), 0).astype(np.int64)  # hundredths of bbl / mcf
    gas_c = np.where(online, np.rint(gas * 100), 0).astype(np.int64)
    water_c = np.where(online, np.rint(water * 100), 0).astype(np.int64)

    wi_idx, mi_idx = np.nonzero(online)  # row-major: by well (sorted id), then month
    prod_arrays = [
        _take(well_id_list, wi_idx),
        _take(month_str, mi_idx),
        pa.array(days_on[wi_idx, mi_idx]),
        _fmt_cents(oil_c[wi_idx, mi_idx]),
        _fmt_cents(gas_c[wi_idx, mi_idx]),
        _fmt_cents(water_c[wi_idx, mi_idx]),
    ]
    path = out_dir / FILE_PRODUCTION
    sink(path, _csv_bytes(PRODUCTION_COLUMNS, prod_arrays))
    result.files.append(DemoFile("well_production", path, len(wi_idx)))
    say(f"well_production: {len(wi_idx)} rows")

    # ---------------------------------------------------------------- GL
    r = rng_gl
    oil_v, gas_v, water_v = oil_c / 100.0, gas_c / 100.0, water_c / 100.0
    producing = online & (days_on > 0) & ((oil_c > 0) | (gas_c > 0))
    diff = np.array([OIL_DIFFERENTIAL_USD_BBL[bs] for bs in basins])
    oil_price = wti[None, :] - diff[:, None]
    gas_price = np.broadcast_to(hh[None, :] * GAS_REALISATION * MMBTU_PER_MCF, (W, M))
    ngl_price = np.broadcast_to(wti[None, :] * NGL_PRICE_FRACTION_OF_WTI, (W, M))
    ngl_bbl = gas_v * NGL_YIELD_BBL_PER_MMCF / 1000.0

    def booked(volume, price):
        noise = 1.0 + r.uniform(-REVENUE_BOOKING_NOISE, REVENUE_BOOKING_NOISE, (W, M))
        return np.where(producing, np.rint(volume * price * nri[:, None] * noise * 100), 0).astype(np.int64)

    rev_oil, rev_gas, rev_ngl = booked(oil_v, oil_price), booked(gas_v, gas_price), booked(ngl_bbl, ngl_price)
    sev_rates = np.array([SEVERANCE_RATES[s] for s in states]).reshape(W, 2)
    sev = np.rint(sev_rates[:, 0:1] * rev_oil + sev_rates[:, 1:2] * (rev_gas + rev_ngl)).astype(np.int64)

    cost_share = np.where(nonop, wi, 1.0)[:, None]  # non-op: booked at our WI (operator's JIB)
    boe = oil_v + gas_v / 6.0
    loe = (loe_fixed[:, None] + np.where(days_on > 0, LOE_VARIABLE_USD_PER_BOE * boe
                                         + WATER_DISPOSAL_USD_PER_BBL * water_v, 0.0))
    loe = loe * np.exp(LOE_NOISE_SIGMA * r.standard_normal((W, M)))
    loe_c = np.where(online, np.rint(loe * cost_share * 100), 0).astype(np.int64)
    gt_rate = np.array([GT_USD_PER_MCF[bs] for bs in basins])[:, None]
    gt_c = np.where(online, np.rint(gas_v * gt_rate * cost_share * 100), 0).astype(np.int64)
    wo_p = np.where(days_on == 0, WORKOVER_PROBABILITY[0], np.where(k_age >= 6, WORKOVER_PROBABILITY[1], 0.0))
    wo_hit = online & (r.random((W, M)) < wo_p)
    wo_amt = np.clip(WORKOVER_MEDIAN_USD * np.exp(0.5 * r.standard_normal((W, M))), *WORKOVER_RANGE_USD)
    wo_c = np.where(wo_hit, np.rint(wo_amt * cost_share * 100), 0).astype(np.int64)
    capex_frac = np.zeros((W, M))
    for n_cap, splits in CAPEX_SPLITS.items():
        sel = (capex_months == n_cap)[:, None]
        for j, frac in enumerate(splits):
            capex_frac = np.where(sel & (k_age == j), frac, capex_frac)
    capex_c = np.rint(capex_frac * (capex_total * np.where(nonop, wi, 1.0))[:, None] * 100).astype(np.int64)

    # AFE numbers: AFE-<year of first production>-<seq>, sequence per year in well order
    afe_list = []
    afe_seq: dict[int, int] = {}
    for i in range(W):
        year = cal[first[i]][0]
        afe_seq[year] = afe_seq.get(year, 100) + 1 + int(api_numbers[i]) % 7
        afe_list.append(f"AFE-{year}-{afe_seq[year]:04d}")

    # GL lines are assembled as column blocks, then sorted into journals.
    desc_list: list[str] = []

    def desc(text: str) -> int:
        if text not in desc_list:
            desc_list.append(text)
        return desc_list.index(text)

    blocks: list[dict[str, np.ndarray]] = []

    def add(mask, m_idx, jtype, ent, ln, acct, text, cents, debit, well=None, partner=None, afe=None,
            eom=True):
        sel = np.asarray(mask, bool) & (np.asarray(cents) > 0)
        n = int(sel.sum())
        if n == 0:
            return

        def col(v, fill):
            if v is None:
                return np.full(n, fill, np.int64)
            v = np.asarray(v)
            return np.broadcast_to(v, sel.shape)[sel].astype(np.int64) if v.ndim else np.full(n, v, np.int64)

        blocks.append({
            "m": col(m_idx, 0), "jt": np.full(n, jtype, np.int64), "ent": col(ent, 0),
            "ln": col(ln, 0), "acct": np.full(n, acct, np.int64), "desc": np.full(n, desc(text), np.int64),
            "cents": np.asarray(cents)[sel].astype(np.int64), "dr": np.full(n, debit, bool),
            "well": col(well, -1), "partner": col(partner, -1), "afe": col(afe, -1),
            "eom": np.full(n, eom, bool),
        })

    wgrid = np.broadcast_to(np.arange(W)[:, None], (W, M))
    mgrid = np.broadcast_to(np.arange(M)[None, :], (W, M))
    # 1 revenue (net)
    rev_total = rev_oil + rev_gas + rev_ngl
    add(producing, mgrid, 1, wgrid, 1, 1200, "Revenue accrual - purchasers receivable", rev_total, True, wgrid)
    add(producing, mgrid, 1, wgrid, 2, 4000, "Oil sales - net of royalties (NRI)", rev_oil, False, wgrid)
    add(producing, mgrid, 1, wgrid, 3, 4010, "Gas sales - net of royalties (NRI)", rev_gas, False, wgrid)
    add(producing, mgrid, 1, wgrid, 4, 4020, "NGL sales - net of royalties (NRI)", rev_ngl, False, wgrid)
    # 2 severance on net revenue
    add(producing, mgrid, 2, wgrid, 1, 5200, "Severance tax - oil and gas", sev, True, wgrid)
    add(producing, mgrid, 2, wgrid, 2, 2100, "Severance tax payable", sev, False, wgrid)
    # 3 operating costs (gross for operated wells, WI share for non-op)
    add(online, mgrid, 3, wgrid, 1, 5000, "LOE - field operations", loe_c, True, wgrid, eom=False)
    add(online, mgrid, 3, wgrid, 2, 2000, "AP - LOE vendors", loe_c, False, wgrid, eom=False)
    add(online, mgrid, 3, wgrid, 3, 5300, "Gathering and transportation", gt_c, True, wgrid, eom=False)
    add(online, mgrid, 3, wgrid, 4, 2000, "AP - gathering and transportation", gt_c, False, wgrid, eom=False)
    add(online, mgrid, 3, wgrid, 5, 5100, "Workover - rig and services", wo_c, True, wgrid, eom=False)
    add(online, mgrid, 3, wgrid, 6, 2000, "AP - workover vendors", wo_c, False, wgrid, eom=False)
    # 4 capex by AFE
    add(online, mgrid, 4, wgrid, 1, 1500, "Drilling and completion capex", capex_c, True, wgrid, afe=wgrid,
        eom=False)
    add(online, mgrid, 4, wgrid, 2, 2000, "AP - drilling and completion", capex_c, False, wgrid, afe=wgrid,
        eom=False)
    # 5 JIB per partner and month (operated wells with WI < 1)
    billed = ~nonop & (wi < 1.0)
    share_a = np.where(n_partners == 1, 1.0 - wi, np.round((1.0 - wi) * split_a, 6))
    share_b = np.where(n_partners == 1, 0.0, (1.0 - wi) - share_a)
    opex_gross = loe_c + gt_c + wo_c
    for p_idx, share, has in ((partner_a, share_a, billed),
                              (partner_b, share_b, billed & (n_partners == 2))):
        mask = online & has[:, None]
        op_c = np.where(mask, np.rint(opex_gross * share[:, None]), 0).astype(np.int64)
        cx_c = np.where(mask, np.rint(capex_c * share[:, None]), 0).astype(np.int64)
        pgrid = np.broadcast_to(p_idx[:, None], (W, M))
        ln0 = wgrid * 3
        add(mask, mgrid, 5, pgrid, ln0 + 1, 1210, "JIB billing - partner share", op_c + cx_c, True, wgrid,
            partner=pgrid)
        add(mask, mgrid, 5, pgrid, ln0 + 2, 5900, "JIB recovery - operating cost", op_c, False, wgrid,
            partner=pgrid)
        add(mask, mgrid, 5, pgrid, ln0 + 3, 1590, "JIB recovery - capex", cx_c, False, wgrid,
            partner=pgrid, afe=wgrid)
    # 6 G&A, company level
    active = online.sum(axis=0)
    ga = (GA_FIXED_USD + GA_PER_WELL_USD * active) * np.exp(0.05 * r.standard_normal(M))
    ga_c = np.rint(ga * 100).astype(np.int64)
    add(np.ones(M, bool), np.arange(M), 6, 0, 1, 6000, "G&A - corporate overhead", ga_c, True, eom=False)
    add(np.ones(M, bool), np.arange(M), 6, 0, 2, 1100, "G&A - paid from operating account", ga_c, False,
        eom=False)

    gl = {k: np.concatenate([blk[k] for blk in blocks]) for k in blocks[0]}
    order = np.lexsort((gl["ln"], gl["ent"], gl["jt"], gl["m"]))
    gl = {k: v[order] for k, v in gl.items()}
    n_lines = len(order)
    new_journal = np.ones(n_lines, bool)
    new_journal[1:] = ((gl["m"][1:] != gl["m"][:-1]) | (gl["jt"][1:] != gl["jt"][:-1])
                       | (gl["ent"][1:] != gl["ent"][:-1]))
    journal_no = np.cumsum(new_journal) - 1  # global journal index
    j_start = np.flatnonzero(new_journal)
    line_number = np.arange(n_lines) - j_start[journal_no] + 1
    j_month = gl["m"][j_start]
    new_month = np.ones(len(j_start), bool)
    new_month[1:] = j_month[1:] != j_month[:-1]
    m_first_j = np.flatnonzero(new_month)
    seq_in_month = np.arange(len(j_start)) - m_first_j[np.cumsum(new_month) - 1] + 1
    prefixes = pa.array([f"JE-{ms}-" for ms in month_str], pa.string())
    journal_id = pc.binary_join_element_wise(
        pc.take(prefixes, pa.array(gl["m"])),
        pc.utf8_lpad(pc.cast(pa.array(seq_in_month[journal_no]), pa.string()), 6, "0"), "")
    dates = [d for (y, mo), ms in zip(cal, month_str)
             for d in (f"{ms}-25", f"{ms}-{calendar.monthrange(y, mo)[1]:02d}")]
    codes = sorted(ACCOUNTS)
    acct_pos = np.searchsorted(codes, gl["acct"])
    gl_arrays = [
        journal_id,
        pa.array(line_number),
        _take(dates, gl["m"] * 2 + gl["eom"].astype(np.int64)),
        pa.array(gl["acct"]),
        _take([ACCOUNTS[c] for c in codes], acct_pos),
        _take(desc_list, gl["desc"]),
        _take(well_id_list, gl["well"]),
        _take(afe_list, gl["afe"]),
        _take(list(PARTNERS), gl["partner"]),
        _fmt_cents(gl["cents"], ~gl["dr"]),
        _fmt_cents(gl["cents"], gl["dr"]),
        _take([CURRENCY], np.zeros(n_lines, np.int64)),
    ]
    path = out_dir / FILE_GL
    sink(path, _csv_bytes(GL_COLUMNS, gl_arrays))
    result.files.append(DemoFile("gl", path, n_lines))
    say(f"gl: {n_lines} lines in {len(j_start)} journals")

    # ---------------------------------------------------------------- bad rows
    if bad_rows:
        _write_bad_files(result, rng_bad, well_id_list, month_str, days_on, oil_c, gas_c, water_c, online,
                         nonop, (end_y, end_m), say, sink)
    return result


def _write_bad_files(result: DemoResult, r: np.random.Generator, well_ids: list[str], month_str: list[str],
                     days_on, oil_c, gas_c, water_c, online, nonop, end: tuple[int, int], say,
                     sink: Callable[[Path, bytes], None]) -> None:
    def fmt(c: int) -> str:
        return f"{'-' if c < 0 else ''}{abs(int(c)) // 100}.{abs(int(c)) % 100:02d}"

    def row(w: int, m: int) -> list[str]:
        return [well_ids[w], month_str[m], str(int(days_on[w, m])), fmt(oil_c[w, m]), fmt(gas_c[w, m]),
                fmt(water_c[w, m])]

    cand_w, cand_m = np.nonzero(online & (days_on > 0))
    picks = r.choice(len(cand_w), size=7, replace=len(cand_w) < 7)
    (d1, d2, a, bb, c, d, e) = [(int(cand_w[p]), int(cand_m[p])) for p in picks]
    end_y, end_m = end
    bad_month = row(*a)
    bad_month[1] = f"{end_y:04d}-13"
    bad_number = row(*bb)
    bad_number[3] = "12,3a"
    negative = row(*c)
    negative[3] = fmt(-abs(int(oil_c[c])) - 12_500)
    days45 = row(*d)
    days45[2] = "45"
    no_well = row(*e)
    no_well[0] = ""
    rows = [row(*d1), bad_month, bad_number, row(*d2), negative, days45, no_well]
    path = result.out_dir / FILE_LATE_PRODUCTION
    sink(path, _csv_rows_bytes(PRODUCTION_COLUMNS, rows))
    result.files.append(DemoFile("well_production", path, len(rows)))
    for line, reason in ((3, "unparseable production_month"), (4, "unparseable number in oil_bbl"),
                         (6, "negative volume in oil_bbl"), (7, "days_on out of range 0..31"),
                         (8, "missing required well_id")):
        result.bad_rows.append(DemoBadRow("well_production", path, line, reason))

    # manual GL adjustments: two fine journals + JE-ADJ-BAD made of two bad lines only
    ym = f"{end_y:04d}-{end_m:02d}"
    last = f"{ym}-{calendar.monthrange(end_y, end_m)[1]:02d}"
    on_end = np.flatnonzero(online[:, -1])
    w1 = well_ids[int(on_end[0])] if len(on_end) else well_ids[0]
    w2 = well_ids[int(on_end[-1])] if len(on_end) else well_ids[-1]
    amt1 = fmt(int(r.integers(500_000, 2_500_000)))
    amt2 = fmt(int(r.integers(100_000, 900_000)))

    def gl_line(jid, ln, acct, desc, well, debit, credit):
        return [jid, str(ln), last, str(acct), ACCOUNTS[acct], desc, well, "", "", debit, credit, CURRENCY]

    j1, j2 = f"JE-ADJ-{ym}-001", f"JE-ADJ-{ym}-002"
    lines = [
        gl_line(j1, 1, 5100, "Reclass LOE to workover - rod pump repair", w1, amt1, ""),
        gl_line(j1, 2, 5000, "Reclass LOE to workover - rod pump repair", w1, "", amt1),
        gl_line(j2, 1, 1200, "Prior-period gas revenue true-up", w2, amt2, ""),
        gl_line(j2, 2, 4010, "Prior-period gas revenue true-up", w2, "", amt2),
        gl_line("JE-ADJ-BAD", 1, 5000, "Bad line: both debit and credit", w1, "1000.00", "1000.00"),
        gl_line("JE-ADJ-BAD", 2, 2000, "Bad line: neither debit nor credit", w1, "", ""),
    ]
    path = result.out_dir / FILE_GL_ADJUSTMENTS
    sink(path, _csv_rows_bytes(GL_COLUMNS, lines))
    result.files.append(DemoFile("gl", path, len(lines)))
    result.bad_rows.append(DemoBadRow("gl", path, 6, "both debit_amount and credit_amount"))
    result.bad_rows.append(DemoBadRow("gl", path, 7, "neither debit_amount nor credit_amount"))
    say("bad rows: 5 production rows, 2 GL lines")
