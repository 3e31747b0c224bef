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

Streaming
---------
Wells are generated in batches of ``batch_wells`` (default
:data:`DEFAULT_BATCH_WELLS`): headers and production are appended to their
files batch by batch, the batch's GL lines go to a temporary spill file as
fixed-size records, and the GL file is then merged in file order (month,
journal type, entity) and written in chunks of :data:`GL_WRITE_CHUNK_LINES`
lines. Memory follows the batch size, not the number of wells (only one
value per well — the well attributes — is kept for all wells). The spill
takes 32 bytes per GL line (about 0.55 GB at 20,000 wells × 120 months) in
the system temp dir (``TMPDIR``) and is removed at the end.

The output does not depend on the batch size: every per-well random block
(:data:`PRODUCTION_DRAWS`, :data:`GL_DRAWS`) is one (wells × months) block
of its child stream, exactly as when everything was drawn at once. A
pre-pass records the stream state where each (block, batch) piece begins
(:class:`_BatchStreams`), so the bytes are those of the in-memory generator
of earlier releases for the same arguments (checked for batch sizes 1, 7,
arbitrary and all wells in tests/test_demo.py). Files are staged as hidden
temp files and renamed together once everything is written.

Stages: :func:`_write_prices`, :func:`_write_fx`, :func:`_draw_wells` /
:func:`_sort_wells` / :func:`_well_labels` (wells and headers),
:func:`_production`, :func:`_gl_amounts` / :func:`_gl_batch_lines` (GL per
batch), :class:`_GlWriter` (merge into journals), :func:`_write_bad_files`.

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
import functools
import io
import os
import pickle
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from . import config
from .config import parse_month
from .workers import BatchPool

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
    """Integer cents → a decimal(38, 2) Arrow array, which the CSV writer renders with exactly two
    decimals ("-12.30", "0.05"); ``null`` marks empty cells.

    The int64 cents become the decimal's 128-bit unscaled values (low word, sign-extended high
    word) without any arithmetic, so the rendering is exact.
    """
    cents = np.asarray(cents, dtype=np.int64)
    words = np.empty((len(cents), 2), np.int64)
    words[:, 0] = cents
    words[:, 1] = cents >> 63
    validity = None if null is None or not null.any() else pa.array(~np.asarray(null, bool)).buffers()[1]
    return pa.Array.from_buffers(pa.decimal128(38, 2), len(cents), [validity, pa.py_buffer(words)])


def _take(strings: list[str] | pa.Array, idx: np.ndarray) -> pa.Array:
    """Vectorised lookup ``strings[idx]``; negative indices give empty cells."""
    idx = np.asarray(idx, dtype=np.int64)
    arr = strings if isinstance(strings, pa.Array) else pa.array(list(strings), pa.string())
    return pc.take(arr, pa.array(idx, mask=idx < 0))


class _StagedFiles:
    """A sink writing every file to a hidden temp file beside it; :meth:`commit` renames them all.

    Files are streamed chunk by chunk; none appears under its real name until
    the whole demo is generated, and a failure part-way (:meth:`discard`)
    leaves neither half-written nor half-updated files behind.
    """

    def __init__(self) -> None:
        self._staged: list[tuple[Path, Path]] = []

    @contextmanager
    def __call__(self, path: Path) -> Iterator[Callable[[bytes], None]]:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        self._staged.append((tmp, path))
        with open(tmp, "wb") as fh:
            yield fh.write

    def commit(self) -> None:
        for tmp, path in self._staged:
            os.replace(tmp, path)
        self._staged = []

    def discard(self) -> None:
        for tmp, _ in self._staged:
            tmp.unlink(missing_ok=True)
        self._staged = []


def _csv_bytes(columns: tuple[str, ...], arrays: list[pa.Array], header: bool = True) -> bytes:
    """CSV without quoting (no value contains a comma, quote or newline: checked by arrow).

    Rows are rendered one by one, so the CSV of a table is the concatenation of
    the CSVs of its consecutive slices (the header only on the first).
    """
    buf = io.BytesIO()
    if header:
        buf.write((",".join(columns) + "\n").encode())
    table = pa.Table.from_arrays(arrays, names=list(columns))
    pacsv.write_csv(table, buf, pacsv.WriteOptions(include_header=False, quoting_style="none",
                                                   batch_size=65536))
    return buf.getvalue()


def _csv_rows_bytes(columns: tuple[str, ...], rows: list[list[str]], header: bool = True) -> bytes:
    """Small CSV written with the csv module (quotes where needed, '\\n' line ends)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    if header:
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
# Streaming: batches of wells, random streams independent of the batch size
# --------------------------------------------------------------------------

#: Wells per batch. Every (wells × months) array and the GL lines of one batch
#: are in memory at once, so the generator's memory follows this, not ``wells``.
DEFAULT_BATCH_WELLS = 500
#: GL lines formatted and written per chunk when the batches are merged into file order.
GL_WRITE_CHUNK_LINES = 100_000

#: The per-well draws of the production and GL streams, in stream order. Each is
#: one (wells × months) block of its child stream, row-major (well by well), so a
#: well's numbers sit at the same place of the stream whatever the batch size.
PRODUCTION_DRAWS = ("shut_in_u", "first_days", "partial_days", "oil_noise", "gas_noise", "water_noise")
GL_DRAWS = ("book_oil", "book_gas", "book_ngl", "loe_noise", "workover_u", "workover_z")

#: An opener: ``with sink(path) as write: write(chunk)``; the file exists under its name once closed.
Sink = Callable[[Path], AbstractContextManager[Callable[[bytes], None]]]


@dataclass(frozen=True)
class _Window:
    """The calendar of the demo window: ``cal`` (year, month) pairs, ``YYYY-MM`` labels, days per month."""

    end: tuple[int, int]
    cal: list[tuple[int, int]]
    month_str: list[str]
    dim: np.ndarray

    @property
    def months(self) -> int:
        return len(self.cal)

    def days(self, n_wells: int) -> np.ndarray:
        """Days in month as an (n_wells × months) view."""
        return np.broadcast_to(self.dim[None, :], (n_wells, self.months))


def _window(end_month: str, months: int) -> _Window:
    cal = _month_list(end_month, months)
    return _Window(end=parse_month(end_month), cal=cal, month_str=[f"{y:04d}-{m:02d}" for y, m in cal],
                   dim=np.array([calendar.monthrange(y, m)[1] for y, m in cal], dtype=np.int64))


def _draw(g: np.random.Generator, name: str, days: np.ndarray) -> np.ndarray:
    """One named per-well block of draws, shape of ``days`` (wells × months)."""
    shape = days.shape
    if name in ("shut_in_u", "workover_u"):
        return g.random(shape)
    if name == "first_days":  # partial first month: 5 .. days-1
        return g.integers(5, days)
    if name == "partial_days":
        return g.integers(8, days)
    if name.startswith("book_"):
        return g.uniform(-REVENUE_BOOKING_NOISE, REVENUE_BOOKING_NOISE, shape)
    return g.standard_normal(shape)


class _BatchStreams:
    """Random access to one child stream by (draw, batch of wells).

    The in-memory generator drew each of ``names`` as one (wells × months)
    array, one after the other. A pre-pass draws the same blocks batch by batch
    (drawing in pieces consumes the stream exactly as one call does: numpy's
    ``Generator`` keeps all its state, including the spare 32-bit half that
    bounded integers use, in the bit generator's ``state``) and records
    the bit generator's state where every (draw, batch) piece begins; a batch's
    draws are then reproduced from those states in any order, with memory of
    one batch. ``tail`` is the state after the last block (later draws start there).
    """

    def __init__(self, gen: np.random.Generator, names: tuple[str, ...], batches: list[tuple[int, int]],
                 window: _Window) -> None:
        self.names, self.batches, self.window = names, batches, window
        self._states: dict[tuple[str, int], dict] = {}
        bits = gen.bit_generator
        for name in names:
            for i, (lo, hi) in enumerate(batches):
                self._states[name, i] = bits.state
                _draw(gen, name, window.days(hi - lo))
        self.tail = bits.state
        self._gen = np.random.Generator(type(bits)())

    def draws(self, i: int) -> dict[str, np.ndarray]:
        """Every named block of batch ``i``."""
        lo, hi = self.batches[i]
        out = {}
        for name in self.names:
            self._gen.bit_generator.state = self._states[name, i]
            out[name] = _draw(self._gen, name, self.window.days(hi - lo))
        return out

    def after(self) -> np.random.Generator:
        """A generator positioned after all the blocks."""
        gen = np.random.Generator(type(self._gen.bit_generator)())
        gen.bit_generator.state = self.tail
        return gen


# --------------------------------------------------------------------------
# Stage: prices and FX
# --------------------------------------------------------------------------

def _write_prices(out_dir: Path, win: _Window, r: np.random.Generator,
                  sink: Sink) -> tuple[np.ndarray, np.ndarray, DemoFile]:
    """Monthly WTI and Henry Hub (log mean-reverting walks) → ``prices/demo_price_deck.parquet``."""
    M = win.months
    wti = np.clip(_ou_log_walk(r, M, WTI_MEAN, WTI_SIGMA, WTI_REVERSION), *WTI_BAND).round(2)
    hh = np.clip(_ou_log_walk(r, M, HH_MEAN, HH_SIGMA, HH_REVERSION), *HH_BAND).round(3)
    table = pa.table({
        "price_month": pa.array([ms for ms in win.month_str for _ in range(2)], pa.string()),
        "benchmark": pa.array(["WTI", "HENRY_HUB"] * M, pa.string()),
        "price_usd": pa.array(np.column_stack([wti, hh]).ravel(), pa.float64()),
    })
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="snappy")
    path = out_dir / FILE_PRICES
    with sink(path) as write:
        write(buf.getvalue())
    return wti, hh, DemoFile("prices", path, table.num_rows)


def _write_fx(out_dir: Path, win: _Window, r: np.random.Generator, sink: Sink) -> DemoFile:
    """Monthly CAD / EUR / NOK per USD → ``fx/demo_fx.xlsx`` with fixed document times."""
    import openpyxl  # local: only needed here
    from openpyxl.xml.functions import tostring

    fx_cols = {cur: _ou_log_walk(r, win.months, centre, sigma, FX_REVERSION).round(4)
               for cur, (centre, sigma) in FX_CENTRES.items()}
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "fx"
    ws.append(["rate_month", "currency", "units_per_usd"])
    for i, ms in enumerate(win.month_str):
        for cur in FX_CENTRES:
            ws.append([ms, cur, float(fx_cols[cur][i])])
    stamp = dt.datetime(*win.end, 1)
    wb.properties.created = stamp
    wb.properties.modified = stamp
    wb.properties.creator = "basinlab demo"
    wb.properties.lastModifiedBy = "basinlab demo"
    buf = io.BytesIO()
    wb.save(buf)  # stamps properties.modified with the wall clock: reset and rewrite core.xml
    wb.properties.modified = stamp
    core = tostring(wb.properties.to_tree())
    path = out_dir / FILE_FX
    with sink(path) as write:
        write(_normalise_zip(buf.getvalue(), stamp, {"docProps/core.xml": core}))
    return DemoFile("fx", path, win.months * len(FX_CENTRES))


# --------------------------------------------------------------------------
# Stage: wells (one value per well: O(wells), a few hundred bytes each)
# --------------------------------------------------------------------------

@dataclass
class _Wells:
    """Per-well attributes, sorted by well id."""

    fld: np.ndarray
    api_numbers: np.ndarray
    first: np.ndarray  # index of the first production month in the window
    lateral: np.ndarray
    lateral_unknown: np.ndarray
    nonop: np.ndarray
    wi: np.ndarray
    nri: np.ndarray
    section: np.ndarray
    qi: np.ndarray
    de: np.ndarray
    b: np.ndarray
    ramp2: np.ndarray
    gor0: np.ndarray
    gor_growth: np.ndarray
    wc0: np.ndarray
    wc_end: np.ndarray
    wc_tau: np.ndarray
    loe_fixed: np.ndarray
    capex_total: np.ndarray
    capex_months: np.ndarray
    n_partners: np.ndarray
    partner_a: np.ndarray
    partner_b: np.ndarray
    split_a: np.ndarray
    well_ids: np.ndarray
    states: list[str]
    counties: list[str]

    def __len__(self) -> int:
        return len(self.well_ids)


#: the demo's API well numbers (the last five digits of a well id): 30000-99999 up to 70,000 wells
API_NUMBER_LOW = 30_000
API_NUMBER_HIGH = 100_000
#: the most wells a demo can hold: every five-digit API well number once
MAX_WELLS = API_NUMBER_HIGH


def _draw_wells(r: np.random.Generator, W: int, M: int) -> dict:
    """Draw every per-well attribute (in the generator's historical draw order), unsorted."""
    weights = np.array([f.weight for f in FIELDS])
    a: dict = {"fld": r.choice(len(FIELDS), size=W, p=weights / weights.sum())}
    county_pick = r.random(W)
    # unique five-digit API well numbers: 30000-99999 as ever (same draws, same files for up to
    # 70,000 wells); a basin-scale demo draws from all of 00000-99999 (up to MAX_WELLS)
    low = API_NUMBER_LOW if W <= API_NUMBER_HIGH - API_NUMBER_LOW else 0
    a["api_numbers"] = r.choice(np.arange(low, API_NUMBER_HIGH), size=W, replace=False)
    first = np.where(r.random(W) < FIRST_MONTH_ONLINE_FRACTION, 0, r.integers(1, max(M, 2), size=W))
    a["first"] = np.minimum(first, M - 1)
    a["lateral"] = np.round(r.uniform(4_500, 12_500, W), -1)
    a["lateral_unknown"] = r.random(W) < 0.04
    n_nonop = 0 if W < 5 else max(1, int(round(NONOP_FRACTION * W)))
    nonop = np.zeros(W, dtype=bool)
    nonop[r.choice(W, size=n_nonop, replace=False)] = True
    full_wi = r.random(W) < 0.35
    wi = np.where(full_wi, 1.0, r.uniform(0.5, 0.95, W))
    a["nonop"], a["wi"] = nonop, np.where(nonop, r.uniform(0.5, 0.75, W), wi).round(4)
    a["nri"] = (a["wi"] * r.choice(np.array([0.75, 0.775, 0.80, 0.8125]), size=W)).round(8)
    a["section"] = r.integers(1, 49, size=W)
    fld = a["fld"]
    qi = np.exp(np.log([f.qi_median for f in FIELDS])[fld] + QI_LOG_SIGMA * r.standard_normal(W))
    a["qi"] = np.clip(qi * np.sqrt(np.where(a["lateral_unknown"], 9_000, a["lateral"]) / 9_000.0),
                      *QI_RANGE_BBL_D)
    a["de"], a["b"] = r.uniform(*DI_EFFECTIVE_RANGE, W), r.uniform(*B_RANGE, W)
    a["ramp2"] = r.random(W) < 0.5
    a["gor0"] = np.array([r.uniform(*FIELDS[k].gor0) for k in fld])
    a["gor_growth"] = r.uniform(*GOR_GROWTH_PER_YEAR, W)
    a["wc0"] = np.array([r.uniform(*FIELDS[k].wc0) for k in fld])
    a["wc_end"] = np.array([r.uniform(*FIELDS[k].wc_end) for k in fld])
    a["wc_tau"] = r.uniform(1.5, 4.0, W)  # years
    a["loe_fixed"] = np.array([FIELDS[k].loe_fixed for k in fld]) * r.uniform(0.9, 1.1, W)
    a["capex_total"] = r.uniform(*CAPEX_RANGE_USD, W)
    a["capex_months"] = r.integers(1, 4, size=W)
    a["n_partners"] = np.where(r.random(W) < 0.6, 1, 2)
    a["partner_a"] = r.integers(0, len(PARTNERS), size=W)
    a["partner_b"] = (a["partner_a"] + r.integers(1, len(PARTNERS), size=W)) % len(PARTNERS)
    a["split_a"] = r.uniform(0.4, 0.7, W)
    a["county"] = [FIELDS[k].counties[int(u * len(FIELDS[k].counties))] for k, u in zip(fld, county_pick)]
    return a


def _sort_wells(a: dict) -> _Wells:
    """API-style well ids from state / county / number, and every attribute sorted by id."""
    county = a.pop("county")
    well_ids = np.array([f"{c[1]}-{c[3]}-{n:05d}" for c, n in zip(county, a["api_numbers"])])
    order = np.argsort(well_ids, kind="stable")
    cols = {k: v[order] for k, v in a.items()}
    return _Wells(**cols, well_ids=well_ids[order], states=[county[i][0] for i in order],
                  counties=[county[i][2] for i in order])


@dataclass(frozen=True)
class _WellLabels:
    """Per-well strings: id, name, operator, basin, AFE number."""

    ids: list[str]
    ids_arrow: pa.Array
    names: list[str]
    operators: list[str]
    basins: list[str]
    afes: list[str]
    afes_arrow: pa.Array


def _well_labels(wells: _Wells, win: _Window) -> _WellLabels:
    """Names ``<lease> <section>-<n>H`` (n counting per lease → unique), operators, AFE numbers.

    AFE numbers are ``AFE-<year of first production>-<seq>``, sequence per year in well order.
    """
    lease_count: dict[str, int] = {}
    afe_seq: dict[int, int] = {}
    names, afes = [], []
    for i, k in enumerate(wells.fld):
        leases = FIELDS[k].leases
        lease = leases[int(wells.api_numbers[i]) % len(leases)]
        lease_count[lease] = lease_count.get(lease, 0) + 1
        names.append(f"{lease} {int(wells.section[i])}-{lease_count[lease]}H")
        year = win.cal[wells.first[i]][0]
        afe_seq[year] = afe_seq.get(year, 100) + 1 + int(wells.api_numbers[i]) % 7
        afes.append(f"AFE-{year}-{afe_seq[year]:04d}")
    ids = [str(x) for x in wells.well_ids]
    operators = [FIELDS[k].nonop_operator if wells.nonop[i] else DEMO_OPERATOR for i, k in enumerate(wells.fld)]
    return _WellLabels(ids=ids, ids_arrow=pa.array(ids, pa.string()), names=names, operators=operators,
                       basins=[FIELDS[k].basin for k in wells.fld], afes=afes,
                       afes_arrow=pa.array(afes, pa.string()))


def _header_csv(wells: _Wells, labels: _WellLabels, win: _Window, lo: int, hi: int) -> bytes:
    """``well_header`` rows of wells ``lo:hi`` (with the column line when ``lo == 0``)."""
    rows = [
        [labels.ids[i], labels.names[i], labels.operators[i], FIELDS[wells.fld[i]].name, wells.counties[i],
         wells.states[i], labels.basins[i], win.month_str[wells.first[i]],
         "" if wells.lateral_unknown[i] else str(int(wells.lateral[i])),
         f"{wells.wi[i]:.4f}", f"{wells.nri[i]:.8f}", "producer"]
        for i in range(lo, hi)
    ]
    return _csv_rows_bytes(HEADER_COLUMNS, rows, header=lo == 0)


# --------------------------------------------------------------------------
# Stage: production (one batch of wells)
# --------------------------------------------------------------------------

@dataclass
class _Production:
    """Monthly production of wells ``lo:hi`` (arrays are batch wells × months)."""

    lo: int
    k_age: np.ndarray  # months since first production
    online: np.ndarray
    days_on: np.ndarray
    oil_c: np.ndarray  # hundredths of bbl / mcf
    gas_c: np.ndarray
    water_c: np.ndarray


def _production(wells: _Wells, lo: int, hi: int, win: _Window, d: dict[str, np.ndarray]) -> _Production:
    """Days on and volumes of wells ``lo:hi``: modified hyperbolic Arps in producing time, ramp-up,
    shut-in and partial months, log-normal noise; gas by GOR, water by water cut (module docstring)."""
    s, n, M = slice(lo, hi), hi - lo, win.months
    first, qi, ramp2 = wells.first[s], wells.qi[s], wells.ramp2[s]
    k_age = np.arange(M)[None, :] - first[:, None]
    online = k_age >= 0
    dim2 = win.days(n)
    u = d["shut_in_u"]
    days_on = np.where(u < SHUT_IN_PROBABILITY, 0,
                       np.where(u < SHUT_IN_PROBABILITY + PARTIAL_MONTH_PROBABILITY, d["partial_days"], dim2))
    days_on = np.where(k_age == 0, d["first_days"], days_on)
    days_on = np.where(online, days_on, 0).astype(np.int64)

    t_end = np.cumsum(days_on, axis=1).astype(float)  # producing days since first production
    t_start = t_end - days_on
    di_day = _nominal_from_secant(wells.de[s], wells.b[s]) / DAYS_PER_YEAR
    d_term_day = -np.log(1.0 - TERMINAL_DECLINE_EFFECTIVE) / DAYS_PER_YEAR
    qi_c, di_c, b_c = qi[:, None], di_day[:, None], wells.b[s][:, None]
    oil = _mh_cum(t_end, qi_c, di_c, b_c, d_term_day) - _mh_cum(t_start, qi_c, di_c, b_c, d_term_day)
    ramp = np.ones((n, M))
    ramp = np.where(k_age == 0, np.where(ramp2, RAMP_TWO_MONTHS[0], RAMP_ONE_MONTH[0])[:, None], ramp)
    ramp = np.where((k_age == 1) & ramp2[:, None], RAMP_TWO_MONTHS[1], ramp)
    oil = oil * ramp * np.exp(OIL_NOISE_SIGMA * d["oil_noise"])
    t_mid_years = (t_start + t_end) / 2.0 / DAYS_PER_YEAR
    gor = np.minimum(GOR_MAX, wells.gor0[s][:, None] * (1.0 + wells.gor_growth[s][:, None] * t_mid_years))
    gas = oil * gor * np.exp(GOR_NOISE_SIGMA * d["gas_noise"])
    wc0, wc_end = wells.wc0[s], wells.wc_end[s]
    wc = wc_end[:, None] - (wc_end - wc0)[:, None] * np.exp(-t_mid_years / wells.wc_tau[s][:, None])
    water = oil * wc / (1.0 - wc) * np.exp(WATER_NOISE_SIGMA * d["water_noise"])
    return _Production(
        lo=lo, k_age=k_age, online=online, days_on=days_on,
        oil_c=np.where(online, np.rint(oil * 100), 0).astype(np.int64),
        gas_c=np.where(online, np.rint(gas * 100), 0).astype(np.int64),
        water_c=np.where(online, np.rint(water * 100), 0).astype(np.int64))


def _production_csv(p: _Production, labels: _WellLabels, win: _Window, header: bool) -> tuple[bytes, int]:
    """``well_production`` rows of one batch (by well, then month; months on line only) and their count."""
    wi_idx, mi_idx = np.nonzero(p.online)  # row-major: by well (sorted id), then month
    arrays = [
        _take(labels.ids_arrow, p.lo + wi_idx),
        _take(win.month_str, mi_idx),
        pa.array(p.days_on[wi_idx, mi_idx]),
        _fmt_cents(p.oil_c[wi_idx, mi_idx]),
        _fmt_cents(p.gas_c[wi_idx, mi_idx]),
        _fmt_cents(p.water_c[wi_idx, mi_idx]),
    ]
    return _csv_bytes(PRODUCTION_COLUMNS, arrays, header=header), len(wi_idx)


# --------------------------------------------------------------------------
# Stage: GL amounts and lines (one batch of wells)
# --------------------------------------------------------------------------

def _gl_amounts(wells: _Wells, p: _Production, wti: np.ndarray, hh: np.ndarray,
                d: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Integer-cent amounts per well-month of one batch: revenue, severance, LOE, G&T, workover, capex."""
    s = slice(p.lo, p.lo + len(p.days_on))
    n, M = p.days_on.shape
    oil_v, gas_v, water_v = p.oil_c / 100.0, p.gas_c / 100.0, p.water_c / 100.0
    producing = p.online & (p.days_on > 0) & ((p.oil_c > 0) | (p.gas_c > 0))
    basins = [FIELDS[k].basin for k in wells.fld[s]]
    nri, nonop, wi = wells.nri[s], wells.nonop[s], wells.wi[s]
    diff = np.array([OIL_DIFFERENTIAL_USD_BBL[bs] for bs in basins])
    oil_price = wti[None, :] - diff[:, None]
    gas_price = np.broadcast_to(hh[None, :] * GAS_REALISATION * MMBTU_PER_MCF, (n, M))
    ngl_price = np.broadcast_to(wti[None, :] * NGL_PRICE_FRACTION_OF_WTI, (n, M))
    ngl_bbl = gas_v * NGL_YIELD_BBL_PER_MMCF / 1000.0

    def booked(volume, price, noise):
        return np.where(producing, np.rint(volume * price * nri[:, None] * (1.0 + noise) * 100), 0).astype(np.int64)

    a = {"producing": producing, "rev_oil": booked(oil_v, oil_price, d["book_oil"]),
         "rev_gas": booked(gas_v, gas_price, d["book_gas"]), "rev_ngl": booked(ngl_bbl, ngl_price, d["book_ngl"])}
    sev_rates = np.array([SEVERANCE_RATES[st] for st in wells.states[s]]).reshape(n, 2)
    a["sev"] = np.rint(sev_rates[:, 0:1] * a["rev_oil"]
                       + sev_rates[:, 1:2] * (a["rev_gas"] + a["rev_ngl"])).astype(np.int64)

    cost_share = np.where(nonop, wi, 1.0)[:, None]  # non-op: booked at our WI (operator's JIB)
    boe = oil_v + gas_v / 6.0
    loe = (wells.loe_fixed[s][:, None] + np.where(p.days_on > 0, LOE_VARIABLE_USD_PER_BOE * boe
                                                  + WATER_DISPOSAL_USD_PER_BBL * water_v, 0.0))
    loe = loe * np.exp(LOE_NOISE_SIGMA * d["loe_noise"])
    a["loe"] = np.where(p.online, np.rint(loe * cost_share * 100), 0).astype(np.int64)
    gt_rate = np.array([GT_USD_PER_MCF[bs] for bs in basins])[:, None]
    a["gt"] = np.where(p.online, np.rint(gas_v * gt_rate * cost_share * 100), 0).astype(np.int64)
    wo_p = np.where(p.days_on == 0, WORKOVER_PROBABILITY[0],
                    np.where(p.k_age >= 6, WORKOVER_PROBABILITY[1], 0.0))
    wo_hit = p.online & (d["workover_u"] < wo_p)
    wo_amt = np.clip(WORKOVER_MEDIAN_USD * np.exp(0.5 * d["workover_z"]), *WORKOVER_RANGE_USD)
    a["wo"] = np.where(wo_hit, np.rint(wo_amt * cost_share * 100), 0).astype(np.int64)
    capex_frac = np.zeros((n, M))
    for n_cap, splits in CAPEX_SPLITS.items():
        sel = (wells.capex_months[s] == n_cap)[:, None]
        for j, frac in enumerate(splits):
            capex_frac = np.where(sel & (p.k_age == j), frac, capex_frac)
    a["capex"] = np.rint(capex_frac * (wells.capex_total[s] * np.where(nonop, wi, 1.0))[:, None]
                         * 100).astype(np.int64)
    return a


#: GL line descriptions (the spill stores their index).
GL_DESCRIPTIONS = (
    "Revenue accrual - purchasers receivable", "Oil sales - net of royalties (NRI)",
    "Gas sales - net of royalties (NRI)", "NGL sales - net of royalties (NRI)",
    "Severance tax - oil and gas", "Severance tax payable",
    "LOE - field operations", "AP - LOE vendors", "Gathering and transportation",
    "AP - gathering and transportation", "Workover - rig and services", "AP - workover vendors",
    "Drilling and completion capex", "AP - drilling and completion",
    "JIB billing - partner share", "JIB recovery - operating cost", "JIB recovery - capex",
    "G&A - corporate overhead", "G&A - paid from operating account",
)
#: Per-well journals (type, line, account, description, amount, debit?, when, dated month end?).
#: Types: 1 revenue (net), 2 severance on net revenue, 3 operating costs (gross for operated
#: wells, WI share for non-op), 4 capex by AFE. Lines are written only where the amount > 0.
_WELL_JOURNAL_LINES = (
    (1, 1, 1200, 0, "rev_total", True, "producing", True),
    (1, 2, 4000, 1, "rev_oil", False, "producing", True),
    (1, 3, 4010, 2, "rev_gas", False, "producing", True),
    (1, 4, 4020, 3, "rev_ngl", False, "producing", True),
    (2, 1, 5200, 4, "sev", True, "producing", True),
    (2, 2, 2100, 5, "sev", False, "producing", True),
    (3, 1, 5000, 6, "loe", True, "online", False),
    (3, 2, 2000, 7, "loe", False, "online", False),
    (3, 3, 5300, 8, "gt", True, "online", False),
    (3, 4, 2000, 9, "gt", False, "online", False),
    (3, 5, 5100, 10, "wo", True, "online", False),
    (3, 6, 2000, 11, "wo", False, "online", False),
    (4, 1, 1500, 12, "capex", True, "online", False),
    (4, 2, 2000, 13, "capex", False, "online", False),
)
#: Journal slots within a month in file order: types 1–4 (one journal per well), then
#: JIB (type 5) one slot per partner; G&A (type 6) follows them.
N_WELL_SLOTS = 4
N_SLOTS = N_WELL_SLOTS + len(PARTNERS)
#: One GL line as spilled between the batch pass and the merge into file order.
_GL_LINE = np.dtype([("cents", "i8"), ("ent", "i4"), ("well", "i4"), ("afe", "i4"), ("acct", "i2"),
                     ("desc", "i1"), ("dr", "?"), ("eom", "?"), ("partner", "i1")], align=True)


def _words(lines: np.ndarray) -> np.ndarray:
    """GL line records as rows of int64 words: copies and takes at plain-array speed (structured ones are slow)."""
    return lines.view(np.int64).reshape(len(lines), _GL_LINE.itemsize // 8)


def _gl_block(mask: np.ndarray, cents: np.ndarray, lo: int, slot: int, ln, acct: int, desc: int,
              debit: bool, eom: bool, partner: np.ndarray | None = None, afe: bool = False) -> tuple:
    """The lines of one (account, side) block where ``mask`` and ``cents > 0``: (month, slot, line key, rows)."""
    w, m = np.nonzero(mask & (cents > 0))
    rows = np.zeros(len(w), _GL_LINE)
    well = lo + w
    rows["ent"] = well if partner is None else partner[w]
    rows["acct"], rows["desc"], rows["dr"], rows["eom"] = acct, desc, debit, eom
    rows["well"] = well
    rows["partner"] = -1 if partner is None else partner[w]
    rows["afe"] = well if afe else -1
    rows["cents"] = cents[w, m]
    line_key = np.full(len(w), ln, np.int64) if np.ndim(ln) == 0 else np.asarray(ln)[w, m]
    return m, np.full(len(w), slot, np.int64), line_key, rows


def _gl_batch_lines(wells: _Wells, p: _Production, a: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """GL lines of one batch sorted as in the file (month, journal slot, entity, line) and the start
    of every (month, slot) bucket (``offsets[month * N_SLOTS + slot]``, one past the end last)."""
    n, M = p.days_on.shape
    s = slice(p.lo, p.lo + n)
    masks = {"producing": a["producing"], "online": p.online}
    a = dict(a, rev_total=a["rev_oil"] + a["rev_gas"] + a["rev_ngl"])
    blocks = [_gl_block(masks[when], a[amount], p.lo, jt - 1, ln, acct, desc, debit, eom, afe=jt == 4)
              for jt, ln, acct, desc, amount, debit, when, eom in _WELL_JOURNAL_LINES]
    # JIB per partner and month (operated wells with WI < 1): Dr 1210 / Cr 5900 opex, Cr 1590 capex
    wi, n_partners = wells.wi[s], wells.n_partners[s]
    billed = ~wells.nonop[s] & (wi < 1.0)
    share_a = np.where(n_partners == 1, 1.0 - wi, np.round((1.0 - wi) * wells.split_a[s], 6))
    share_b = np.where(n_partners == 1, 0.0, (1.0 - wi) - share_a)
    opex_gross = a["loe"] + a["gt"] + a["wo"]
    ln0 = np.broadcast_to((p.lo + np.arange(n))[:, None] * 3, (n, M))
    for partner, share, has in ((wells.partner_a[s], share_a, billed),
                                (wells.partner_b[s], share_b, billed & (n_partners == 2))):
        mask = p.online & has[:, None]
        op_c = np.where(mask, np.rint(opex_gross * share[:, None]), 0).astype(np.int64)
        cx_c = np.where(mask, np.rint(a["capex"] * share[:, None]), 0).astype(np.int64)
        slot = np.broadcast_to((N_WELL_SLOTS + partner)[:, None], (n, M))
        for k, (acct, desc, cents, debit, afe) in enumerate(((1210, 14, op_c + cx_c, True, False),
                                                             (5900, 15, op_c, False, False),
                                                             (1590, 16, cx_c, False, True))):
            m, _, line_key, rows = _gl_block(mask, cents, p.lo, 0, ln0 + k + 1, acct, desc, debit, True,
                                             partner=partner, afe=afe)
            blocks.append((m, slot[mask & (cents > 0)], line_key, rows))
    bucket = np.concatenate([blk[0] * N_SLOTS + blk[1] for blk in blocks])
    rows = np.empty(len(bucket), _GL_LINE)
    line_key = np.empty(len(bucket), np.int64)
    at = 0
    for _, _, keys, block in blocks:
        _words(rows)[at:at + len(block)], line_key[at:at + len(block)] = _words(block), keys
        at += len(block)
    # one int64 sort key (bucket, entity, line): entity < 2**17 wells, line key < 3 * 2**17 + 4
    order = np.argsort((bucket << 36) | (rows["ent"].astype(np.int64) << 19) | line_key, kind="stable")
    return _words(rows)[order].view(_GL_LINE).reshape(-1), np.searchsorted(bucket[order], np.arange(M * N_SLOTS + 1))


class _GlSpill:
    """The batches' GL lines in one temporary file of raw records until they are merged.

    Slices are read back with ``os.pread``, not a memory map: touched pages of a
    map count as resident memory, and the spill grows with the number of wells.
    """

    def __init__(self, path: Path) -> None:
        self._fh = open(path, "w+b")
        self._parts: list[tuple[int, np.ndarray]] = []  # (first record, bucket offsets)
        self._records = 0

    def add(self, lines: np.ndarray, offsets: np.ndarray) -> None:
        self._fh.write(lines.tobytes())
        self._parts.append((self._records, offsets))
        self._records += len(lines)

    def month(self, m: int) -> _SpillMonth:
        """Where month ``m``'s lines are in the spill (for :class:`_SpillMonth`, in any process)."""
        if self._parts and not self._fh.closed:
            self._fh.flush()
        lo, hi = m * N_SLOTS, (m + 1) * N_SLOTS + 1
        return _SpillMonth(self._fh.name, [(start, offsets[lo:hi]) for start, offsets in self._parts])

    def close(self) -> None:
        self._fh.close()


@dataclass(frozen=True)
class _SpillMonth:
    """One month of the spill: its file and, per batch, the batch's first record and the month's bucket offsets."""

    path: str
    parts: list[tuple[int, np.ndarray]]

    def slices(self, slot: int) -> Iterator[np.ndarray]:
        """The month's lines of one slot, batch by batch (non-empty slices only)."""
        size = _GL_LINE.itemsize
        with open(self.path, "rb") as fh:
            for start, offsets in self.parts:
                lo, hi = int(offsets[slot]), int(offsets[slot + 1])
                if hi > lo:
                    data = os.pread(fh.fileno(), (hi - lo) * size, (start + lo) * size)
                    yield np.frombuffer(data, dtype=_GL_LINE)


class _GlWriter:
    """Numbers journals and lines in file order and writes the GL CSV in chunks.

    Journal ids ``JE-YYYY-MM-NNNNNN`` count journals per month; per-well journals
    (types 1–4) start at every new well, a partner's JIB journal spans the month's
    billed wells of every batch, so its line numbers run on across batches.
    """

    def __init__(self, write: Callable[[bytes], None], win: _Window, labels: _WellLabels) -> None:
        self.write, self.win, self.labels = write, win, labels
        self.pending: list[tuple[np.ndarray, int, np.ndarray, np.ndarray]] = []
        self.n_pending = self.lines = self.journals = 0
        self.prefixes = pa.array([f"JE-{ms}-" for ms in win.month_str], pa.string())
        self.dates = [d for (y, mo), ms in zip(win.cal, win.month_str)
                      for d in (f"{ms}-25", f"{ms}-{calendar.monthrange(y, mo)[1]:02d}")]
        self.codes = sorted(ACCOUNTS)
        self.seq = 0  # journals so far in the current month

    def month(self, m: int, spill: _SpillMonth, ga_cents: int) -> None:
        """All journals of month ``m``: per-well slots, JIB per partner, then G&A."""
        self.seq = 0
        for slot in range(N_SLOTS):
            run = 0  # JIB line numbers run across batches
            for rows in spill.slices(slot):
                if slot < N_WELL_SLOTS:
                    new = np.ones(len(rows), bool)
                    new[1:] = rows["ent"][1:] != rows["ent"][:-1]
                    jno = np.cumsum(new) - 1
                    line_no = np.arange(len(rows)) - np.flatnonzero(new)[jno] + 1
                    seq = self.seq + jno + 1
                    self.seq += int(new.sum())
                else:
                    if run == 0:  # the partner's journal starts in the first batch with a line
                        self.seq += 1
                    seq = np.full(len(rows), self.seq)
                    line_no = run + np.arange(1, len(rows) + 1)
                    run += len(rows)
                self._add(rows, m, seq, line_no)
        if ga_cents > 0:  # G&A, company level: Dr 6000 / Cr 1100, no well
            rows = np.zeros(2, _GL_LINE)
            rows["acct"], rows["desc"], rows["dr"] = (6000, 1100), (17, 18), (True, False)
            rows["well"] = rows["partner"] = rows["afe"] = -1
            rows["cents"] = ga_cents
            self.seq += 1
            self._add(rows, m, np.full(2, self.seq), np.array([1, 2]))

    def _add(self, rows: np.ndarray, m: int, seq: np.ndarray, line_no: np.ndarray) -> None:
        self.pending.append((np.asarray(rows), m, seq, line_no))
        self.n_pending += len(rows)
        self.journals += int((line_no == 1).sum())
        if self.n_pending >= GL_WRITE_CHUNK_LINES:
            self.flush()

    def flush(self) -> None:
        """Format and write the pending lines."""
        if not self.pending:
            return
        gl = np.empty(self.n_pending, _GL_LINE)
        at = 0
        for rows, *_ in self.pending:
            _words(gl)[at:at + len(rows)] = _words(rows)
            at += len(rows)
        m = np.concatenate([np.full(len(p[0]), p[1], np.int64) for p in self.pending])
        seq = np.concatenate([p[2] for p in self.pending]).astype(np.int64)
        line_no = np.concatenate([p[3] for p in self.pending]).astype(np.int64)
        dr = gl["dr"]
        # journal ids are built once per journal (a journal's lines are consecutive), then repeated
        first = np.ones(len(gl), bool)
        first[1:] = (seq[1:] != seq[:-1]) | (m[1:] != m[:-1])
        starts = np.flatnonzero(first)
        ids = pc.binary_join_element_wise(pc.take(self.prefixes, pa.array(m[starts])),
                                          pc.utf8_lpad(pc.cast(pa.array(seq[starts]), pa.string()), 6, "0"), "")
        arrays = [
            pc.take(ids, pa.array(np.cumsum(first) - 1)),
            pa.array(line_no),
            _take(self.dates, m * 2 + gl["eom"].astype(np.int64)),
            pa.array(gl["acct"].astype(np.int64)),
            _take([ACCOUNTS[c] for c in self.codes], np.searchsorted(self.codes, gl["acct"])),
            _take(list(GL_DESCRIPTIONS), gl["desc"].astype(np.int64)),
            _take(self.labels.ids_arrow, gl["well"]),
            _take(self.labels.afes_arrow, gl["afe"]),
            _take(list(PARTNERS), gl["partner"].astype(np.int64)),
            _fmt_cents(gl["cents"], ~dr),
            _fmt_cents(gl["cents"], dr),
            _take([CURRENCY], np.zeros(len(gl), np.int64)),
        ]
        self.write(_csv_bytes(GL_COLUMNS, arrays, header=False))
        self.lines += len(gl)
        self.pending, self.n_pending = [], 0


def _ga_cents(wells: _Wells, win: _Window, r: np.random.Generator) -> np.ndarray:
    """G&A per month in cents: fixed + per well on line, log-normal noise."""
    active = np.cumsum(np.bincount(wells.first, minlength=win.months))  # wells on line by month
    ga = (GA_FIXED_USD + GA_PER_WELL_USD * active) * np.exp(0.05 * r.standard_normal(win.months))
    return np.rint(ga * 100).astype(np.int64)


# --------------------------------------------------------------------------
# Stage: deliberately bad files
# --------------------------------------------------------------------------

def _fmt_cents_str(c: int) -> str:
    return f"{'-' if c < 0 else ''}{abs(int(c)) // 100}.{abs(int(c)) % 100:02d}"


def _picked_production_rows(picks: np.ndarray, counts: list[int], streams: _BatchStreams, wells: _Wells,
                            labels: _WellLabels, win: _Window) -> list[tuple[list[str], int]]:
    """Production rows (and their oil in cents) of the picked producing well-months.

    ``picks`` index the producing well-months in file order; ``counts`` holds how
    many each batch has, so only the batches holding a pick are generated again.
    """
    starts = np.concatenate([[0], np.cumsum(counts)])
    cache: dict[int, tuple[_Production, np.ndarray, np.ndarray]] = {}
    out = []
    for pick in picks:
        i = int(np.searchsorted(starts, pick, side="right")) - 1
        if i not in cache:
            lo, hi = streams.batches[i]
            p = _production(wells, lo, hi, win, streams.draws(i))
            cache[i] = (p, *np.nonzero(p.online & (p.days_on > 0)))
        p, cand_w, cand_m = cache[i]
        w, m = int(cand_w[pick - starts[i]]), int(cand_m[pick - starts[i]])
        row = [labels.ids[p.lo + w], win.month_str[m], str(int(p.days_on[w, m])), _fmt_cents_str(p.oil_c[w, m]),
               _fmt_cents_str(p.gas_c[w, m]), _fmt_cents_str(p.water_c[w, m])]
        out.append((row, int(p.oil_c[w, m])))
    return out


def _late_production_rows(picked: list[tuple[list[str], int]], end: tuple[int, int]) -> list[list[str]]:
    """The seven rows of ``demo_production_late_entries.csv`` (see the module docstring's table)."""
    (d1, _), (d2, _), (bad_month, _), (bad_number, _), (negative, oil_c), (days45, _), (no_well, _) = \
        [(list(row), oil) for row, oil in picked]
    bad_month[1] = f"{end[0]:04d}-13"
    bad_number[3] = "12,3a"
    negative[3] = _fmt_cents_str(-abs(oil_c) - 12_500)
    days45[2] = "45"
    no_well[0] = ""
    return [d1, bad_month, bad_number, d2, negative, days45, no_well]


def _gl_adjustment_lines(r: np.random.Generator, wells: _Wells, labels: _WellLabels,
                         win: _Window) -> list[list[str]]:
    """Manual GL journals: two fine ones and ``JE-ADJ-BAD`` made of two bad lines only."""
    end_y, end_m = win.end
    ym = f"{end_y:04d}-{end_m:02d}"
    last = f"{ym}-{calendar.monthrange(end_y, end_m)[1]:02d}"
    on_end = np.flatnonzero(wells.first <= win.months - 1)
    w1 = labels.ids[int(on_end[0])] if len(on_end) else labels.ids[0]
    w2 = labels.ids[int(on_end[-1])] if len(on_end) else labels.ids[-1]
    amt1 = _fmt_cents_str(int(r.integers(500_000, 2_500_000)))
    amt2 = _fmt_cents_str(int(r.integers(100_000, 900_000)))

    def gl_line(jid, ln, acct, desc, well, debit, credit):
        return [jid, str(ln), last, str(acct), ACCOUNTS[acct], desc, well, "", "", debit, credit, CURRENCY]

    j1, j2 = f"JE-ADJ-{ym}-001", f"JE-ADJ-{ym}-002"
    return [
        gl_line(j1, 1, 5100, "Reclass LOE to workover - rod pump repair", w1, amt1, ""),
        gl_line(j1, 2, 5000, "Reclass LOE to workover - rod pump repair", w1, "", amt1),
        gl_line(j2, 1, 1200, "Prior-period gas revenue true-up", w2, amt2, ""),
        gl_line(j2, 2, 4010, "Prior-period gas revenue true-up", w2, "", amt2),
        gl_line("JE-ADJ-BAD", 1, 5000, "Bad line: both debit and credit", w1, "1000.00", "1000.00"),
        gl_line("JE-ADJ-BAD", 2, 2000, "Bad line: neither debit nor credit", w1, "", ""),
    ]


def _write_bad_files(result: DemoResult, r: np.random.Generator, counts: list[int], streams: _BatchStreams,
                     wells: _Wells, labels: _WellLabels, win: _Window, sink: Sink) -> None:
    """Write the late production entries and manual GL adjustments; record the bad lines in ``result``."""
    total = sum(counts)
    picks = r.choice(total, size=7, replace=total < 7)
    rows = _late_production_rows(_picked_production_rows(picks, counts, streams, wells, labels, win), win.end)
    path = result.out_dir / FILE_LATE_PRODUCTION
    with sink(path) as write:
        write(_csv_rows_bytes(PRODUCTION_COLUMNS, rows))
    result.files.append(DemoFile("well_production", path, len(rows)))
    for line, reason in ((3, "unparseable production_month"), (4, "unparseable number in oil_bbl"),
                         (6, "negative volume in oil_bbl"), (7, "days_on out of range 0..31"),
                         (8, "missing required well_id")):
        result.bad_rows.append(DemoBadRow("well_production", path, line, reason))
    lines = _gl_adjustment_lines(r, wells, labels, win)
    path = result.out_dir / FILE_GL_ADJUSTMENTS
    with sink(path) as write:
        write(_csv_rows_bytes(GL_COLUMNS, lines))
    result.files.append(DemoFile("gl", path, len(lines)))
    result.bad_rows.append(DemoBadRow("gl", path, 6, "both debit_amount and credit_amount"))
    result.bad_rows.append(DemoBadRow("gl", path, 7, "neither debit_amount nor credit_amount"))


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
    batch_wells: int = DEFAULT_BATCH_WELLS,
    workers: int | None = None,
) -> DemoResult:
    """Write the deterministic demo inbox under ``out_dir/<kind>/`` and return what was written.

    ``end_month`` (``YYYY-MM``, required) is the last month of the window of
    ``months`` months. Same arguments → byte-identical files, whatever
    ``batch_wells`` (wells generated per batch: it bounds memory, not output)
    and ``workers`` (processes computing batches and GL months while this one
    writes them in order; default :func:`default_workers`).
    The files appear together once all are written; an error part-way leaves
    the inbox as it was. ``progress`` gets a line per file and about ten
    progress lines over the batches when there is more than one.
    """
    files = _StagedFiles()
    try:
        n_workers = default_workers(wells, batch_wells) if workers is None else int(workers)
        result = _generate(out_dir, wells, months, end_month, seed, bad_rows, progress, files, batch_wells,
                           n_workers)
    except BaseException:
        files.discard()
        raise
    files.commit()
    return result


def demo_gl(wells: int = 200, months: int = 60, end_month: str | None = None, seed: int = 42) -> pa.Table:
    """The GL lines :func:`generate_demo` writes to ``gl/demo_gl.csv`` for the same arguments, in memory.

    Nothing is written. Returns an Arrow table of strings with the columns
    :data:`GL_COLUMNS` in file order (journals by month, then journal type,
    then entity; empty cells as nulls). Used by the served GL generator
    (``basinlab.service.generator``), so the served ledger is the demo's ledger.
    """
    captured = io.BytesIO()

    @contextmanager
    def keep_gl(path: Path) -> Iterator[Callable[[bytes], None]]:
        yield captured.write if path.relative_to(_NOWHERE).as_posix() == FILE_GL else (lambda _data: None)

    _generate(_NOWHERE, wells, months, end_month, seed, False, None, keep_gl, DEFAULT_BATCH_WELLS, workers=1)
    return pacsv.read_csv(
        io.BytesIO(captured.getvalue()),
        convert_options=pacsv.ConvertOptions(column_types={c: pa.string() for c in GL_COLUMNS},
                                             strings_can_be_null=True))


#: the out_dir :func:`demo_gl` passes: its sink writes nothing
_NOWHERE = Path("/nonexistent-demo-gl")


def _check_arguments(wells: int, months: int, end_month: str | None, batch_wells: int,
                     workers: int = 1) -> _Window:
    """Validate the arguments (clear messages) and return the calendar window."""
    if end_month is None:
        raise ValueError("end_month is required (YYYY-MM, e.g. 2024-06)")
    end_y, end_m = parse_month(end_month)
    if int(wells) < 1:
        raise ValueError(f"wells must be >= 1, got {wells!r}")
    if int(months) < 1:
        raise ValueError(f"months must be >= 1, got {months!r}")
    if int(wells) > MAX_WELLS:
        raise ValueError(f"wells must be <= {MAX_WELLS} (unique five-digit API well numbers), got {wells!r}")
    if int(batch_wells) < 1:
        raise ValueError(f"batch_wells must be >= 1, got {batch_wells!r}")
    if int(workers) < 1:
        raise ValueError(f"workers must be >= 1, got {workers!r}")
    return _window(f"{end_y:04d}-{end_m:02d}", int(months))


@dataclass(frozen=True)
class _Shared:
    """What every batch and month task of one demo reads: wells, labels, window, prices and the streams."""

    wells: _Wells
    labels: _WellLabels
    win: _Window
    prices: tuple
    prod: _BatchStreams
    gl: _BatchStreams


@functools.lru_cache(maxsize=1)
def _load_shared(path: str) -> _Shared:
    with open(path, "rb") as fh:
        return pickle.load(fh)


def _shared(ref: _Shared | str) -> _Shared:
    """The demo's :class:`_Shared`: itself in this process, read once per worker from its pickle file."""
    return ref if isinstance(ref, _Shared) else _load_shared(ref)


def _batch_task(ref: _Shared | str, i: int) -> tuple[bytes, bytes, int, int, np.ndarray, np.ndarray]:
    """Batch ``i`` of wells (in a worker): its header CSV, production CSV and rows, producing well-months,
    and its GL lines with their bucket offsets (for the spill)."""
    sh = _shared(ref)
    lo, hi = sh.prod.batches[i]
    header = _header_csv(sh.wells, sh.labels, sh.win, lo, hi)
    p = _production(sh.wells, lo, hi, sh.win, sh.prod.draws(i))
    data, n = _production_csv(p, sh.labels, sh.win, header=i == 0)
    count = int((p.online & (p.days_on > 0)).sum())
    lines, offsets = _gl_batch_lines(sh.wells, p, _gl_amounts(sh.wells, p, *sh.prices, sh.gl.draws(i)))
    return header, data, n, count, lines, offsets


def _gl_month_task(ref: _Shared | str, m: int, spill: _SpillMonth, ga_cents: int) -> tuple[bytes, int, int]:
    """Month ``m`` of the GL (in a worker): its CSV text, lines and journals. Months are independent
    (journal numbers count per month), and a table's CSV is the concatenation of its slices' CSVs."""
    sh = _shared(ref)
    chunks: list[bytes] = []
    writer = _GlWriter(chunks.append, sh.win, sh.labels)
    writer.month(m, spill, ga_cents)
    writer.flush()
    return b"".join(chunks), writer.lines, writer.journals


def _write_batches(out_dir: Path, shared: _Shared, ref: _Shared | str, pool: BatchPool, spill: _GlSpill,
                   sink: Sink, say: Callable[[str], None]) -> tuple[int, list[int]]:
    """Headers and production streamed batch by batch (computed by ``pool``, written in order); GL lines
    spilled for the merge. Returns the production rows written and, per batch, its producing well-months."""
    n_rows, counts = 0, []
    W, n_batches = len(shared.wells), len(shared.prod.batches)
    with ExitStack() as stack:
        write_header = stack.enter_context(sink(out_dir / FILE_HEADER))
        write_prod = stack.enter_context(sink(out_dir / FILE_PRODUCTION))
        tasks = ((_batch_task, (ref, i)) for i in range(n_batches))
        for i, (header, data, n, count, lines, offsets) in enumerate(pool.ordered(tasks)):
            write_header(header)
            write_prod(data)
            n_rows += n
            counts.append(count)
            spill.add(lines, offsets)
            hi = shared.prod.batches[i][1]
            if n_batches > 1 and (i + 1) * 10 // n_batches != i * 10 // n_batches:
                say(f"wells {hi:,}/{W:,}: headers, production, GL lines")
    return n_rows, counts


def _write_gl(out_dir: Path, shared: _Shared, ref: _Shared | str, pool: BatchPool, spill: _GlSpill, ga: np.ndarray,
              sink: Sink, say: Callable[[str], None]) -> tuple[int, int]:
    """The GL CSV month by month (each month computed by ``pool``, written in order); its lines and journals."""
    win, lines, journals = shared.win, 0, 0
    M, more_than_one_batch = win.months, len(shared.prod.batches) > 1
    with sink(out_dir / FILE_GL) as write:
        write((",".join(GL_COLUMNS) + "\n").encode())
        tasks = ((_gl_month_task, (ref, m, spill.month(m), int(ga[m]))) for m in range(M))
        for m, (data, n_lines, n_journals) in enumerate(pool.ordered(tasks)):
            write(data)
            lines, journals = lines + n_lines, journals + n_journals
            if more_than_one_batch and (m + 1) * 10 // M != m * 10 // M:
                say(f"gl: journals of {win.month_str[m]} ({m + 1}/{M} months)")
    return lines, journals


#: demos of fewer wells are generated without worker processes (a few seconds of work: starting them
#: and sending each the wells would cost more than they save)
PARALLEL_MIN_WELLS = 5_000


def default_workers(wells: int, batch_wells: int = DEFAULT_BATCH_WELLS) -> int:
    """Worker processes :func:`generate_demo` uses by default: ``$BASINLAB_THREADS`` (else the cores) for a
    demo of :data:`PARALLEL_MIN_WELLS` wells or more in more than one batch, else one (none started)."""
    return config.threads_setting() if int(wells) >= PARALLEL_MIN_WELLS and int(wells) > int(batch_wells) else 1


def _generate(out_dir: Path, wells: int, months: int, end_month: str | None, seed: int, bad_rows: bool,
              progress: Callable[[str], None] | None, sink: Sink, batch_wells: int, workers: int = 1) -> DemoResult:
    """:func:`generate_demo`'s work, stage by stage, with ``workers`` processes; every file goes through ``sink``."""
    win = _check_arguments(wells, months, end_month, batch_wells, workers)
    W, M, B = int(wells), win.months, int(batch_wells)
    out_dir = Path(out_dir)
    say = progress or (lambda _msg: None)
    result = DemoResult(out_dir=out_dir, start_month=win.month_str[0], end_month=win.month_str[-1],
                        wells=W, months=M, seed=int(seed))
    rng_prices, rng_fx, rng_wells, rng_prod, rng_gl, rng_bad = np.random.default_rng(seed).spawn(6)

    wti, hh, prices_file = _write_prices(out_dir, win, rng_prices, sink)
    say(f"prices: {prices_file.rows} rows")
    fx_file = _write_fx(out_dir, win, rng_fx, sink)
    say(f"fx: {fx_file.rows} rows")
    wells_ = _sort_wells(_draw_wells(rng_wells, W, M))
    labels = _well_labels(wells_, win)
    batches = [(lo, min(lo + B, W)) for lo in range(0, W, B)]
    prod = _BatchStreams(rng_prod, PRODUCTION_DRAWS, batches, win)
    gl = _BatchStreams(rng_gl, GL_DRAWS, batches, win)
    shared = _Shared(wells_, labels, win, (wti, hh), prod, gl)
    pool = BatchPool(workers, what="demo", preload=(__name__,))
    with tempfile.TemporaryDirectory(prefix="basinlab-demo-") as tmp, pool:
        ref: _Shared | str = shared
        if pool.workers > 1:                  # the workers read it once each, not once per task
            ref = str(Path(tmp) / "shared.pickle")
            with open(ref, "wb") as fh:
                pickle.dump(shared, fh, protocol=pickle.HIGHEST_PROTOCOL)
        spill = _GlSpill(Path(tmp) / "gl-lines.bin")
        n_prod, counts = _write_batches(out_dir, shared, ref, pool, spill, sink, say)
        say(f"well_header: {W} wells")
        say(f"well_production: {n_prod} rows")
        ga = _ga_cents(wells_, win, gl.after())
        gl_lines, gl_journals = _write_gl(out_dir, shared, ref, pool, spill, ga, sink, say)
        spill.close()
    result.files += [prices_file, fx_file, DemoFile("well_header", out_dir / FILE_HEADER, W),
                     DemoFile("well_production", out_dir / FILE_PRODUCTION, n_prod),
                     DemoFile("gl", out_dir / FILE_GL, gl_lines)]
    say(f"gl: {gl_lines} lines in {gl_journals} journals")
    if bad_rows:
        _write_bad_files(result, rng_bad, counts, prod, wells_, labels, win, sink)
        say("bad rows: 5 production rows, 2 GL lines")
    return result
