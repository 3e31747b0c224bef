"""Adapter for the published Equinor Volve production workbook, read as it is.

``read_volve(path)`` reads the sheet ``Daily Production Data`` (one row per
wellbore and day, volumes in Sm3) and rolls it up to calendar months per
wellbore, in canonical units, as three raw tables:

* ``well_header``     one row per wellbore;
* ``well_production`` one row per producing wellbore and month (bbl, mcf);
* ``well_injection``  one row per injecting wellbore and month (bbl).

``compare_with_monthly_sheet(path)`` reconciles the daily roll-up with the
workbook's own ``Monthly Production Data`` sheet (oil, Sm3).

Rules (the data's traps, see ``../shared/data/README.md``):

Identity
    ``well_id`` is ``NPD_WELL_BORE_NAME`` (the NPD wellbore name, e.g.
    ``15/9-F-12``), the key the monthly sheet also uses; ``well_name`` keeps the
    operator's ``WELL_BORE_CODE`` (e.g. ``NO 15/9-F-12 H``), which is the more
    precise designation (``15/9-F-15`` is the NPD name of ``NO 15/9-F-15 C``).
    ``NPD_WELL_BORE_CODE`` is not used: it is typed inconsistently (text and
    numbers) and two wellbores (F-15 C and F-15 D) share 7289.

Dates
    ``DATEPRD`` is normalised to the date (some rows carry a time of day); the
    month is the first of its calendar month. Several rows may fall on the same
    wellbore and date (the 2009 test periods of F-15 C): they are all kept and
    summed.

Producer or injector, per day
    Each daily row is routed on its own: ``FLOW_KIND`` 'production' → the
    production table, 'injection' → the injection table; when ``FLOW_KIND`` is
    blank, ``WELL_TYPE`` decides ('OP' → production, 'WI' → injection). A
    wellbore that produced on some days and injected on others (F-5: a water
    injector from 2007, put on production in April 2016) therefore appears in
    both tables, for the months of each kind. ``FLOW_KIND`` wins over ``WELL_TYPE`` because
    17 rows are typed 'WI' while flowing oil ('production', with oil, gas and
    water volumes, e.g. F-1 C on 2014-07-07 and F-5 in 2016): routing them by
    ``WELL_TYPE`` would silently drop their oil, and the operator's own monthly
    sheet counts it as production. A production row carrying injected water,
    or an injection row carrying oil/gas/water, is rejected (cannot route).
    The header's ``well_type`` is the kind of the majority of the wellbore's
    days (a tie → producer).

Volumes
    Null volumes are not reported, not rejected: they count as 0 and are
    counted in ``notes``. A volume that is not a number, is not finite (``NaN``,
    ``inf``, ``1e400``) or is negative rejects the whole daily row (``Reject`` with
    the Excel row and the reason); so does a missing/unparseable date or one
    outside the plausible window ``read_volve`` is given, a missing wellbore name,
    negative, non-finite or unparseable
    ``ON_STREAM_HRS``, or a ``WELL_TYPE``/``FLOW_KIND`` that cannot be routed.
    Conversions (sums are taken in Sm3, then converted): see the constants below.

Days on
    Each row's ``ON_STREAM_HRS`` is clipped to 24 h (rows above 24 h are counted
    in ``notes``). Null hours count as a full day (24 h) when the row has any
    routed volume > 0, else as 0 h. ``days_on`` = sum(hours) / 24 per wellbore,
    month and kind, clipped to the calendar days of the month.

Provenance
    ``_source_row`` is the Excel row number (header = row 1, first data row =
    row 2): for a monthly row the first daily row of that wellbore, month and
    kind; for a header row the wellbore's first loaded daily row.
"""
from __future__ import annotations

import calendar
import datetime as dt
import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ..units import BBL_PER_M3, SCF_PER_MCF, SCF_PER_SM3
from .base import Reject, SourceError, SourceRead

#: 1 standard m3 of oil (or water) in US barrels (see basinlab.units).
SM3_TO_BBL = BBL_PER_M3
#: 1 standard m3 of gas in standard cubic feet.
SM3_TO_SCF = SCF_PER_SM3
#: 1 mcf = 1,000 scf, so 1 Sm3 of gas = 35.3147 / 1000 mcf.
SM3_GAS_TO_MCF = SCF_PER_SM3 / SCF_PER_MCF

DAILY_SHEET = "Daily Production Data"
MONTHLY_SHEET = "Monthly Production Data"

COL_DATE = "DATEPRD"
COL_WELL = "NPD_WELL_BORE_NAME"
COL_CODE = "WELL_BORE_CODE"
COL_FIELD = "NPD_FIELD_NAME"
COL_HOURS = "ON_STREAM_HRS"
COL_OIL = "BORE_OIL_VOL"
COL_GAS = "BORE_GAS_VOL"
COL_WAT = "BORE_WAT_VOL"
COL_WI = "BORE_WI_VOL"
COL_FLOW = "FLOW_KIND"
COL_TYPE = "WELL_TYPE"

#: Columns the daily sheet must have (matched case-insensitively, spaces trimmed).
REQUIRED_DAILY_COLUMNS = (
    COL_DATE, COL_CODE, COL_WELL, COL_HOURS, COL_OIL, COL_GAS, COL_WAT, COL_WI, COL_TYPE,
)
#: Columns used when present.
OPTIONAL_DAILY_COLUMNS = (COL_FIELD, COL_FLOW)
VOLUME_COLUMNS = (COL_OIL, COL_GAS, COL_WAT, COL_WI)

#: Monthly sheet columns (row 1), and the units row that follows (row 2).
REQUIRED_MONTHLY_COLUMNS = ("Wellbore name", "Year", "Month", "Oil")

OPERATOR = "Equinor"  # Statoil at the time; Equinor since 2018.
BASIN = "North Sea"

HEADER_COLUMNS = [
    "well_id", "well_name", "operator", "field", "county", "state", "basin",
    "first_production_month", "lateral_length_ft", "working_interest",
    "net_revenue_interest", "well_type", "_source_row",
]
PRODUCTION_COLUMNS = [
    "well_id", "production_month", "days_on", "oil_bbl", "gas_mcf", "water_bbl", "_source_row",
]
INJECTION_COLUMNS = [
    "well_id", "injection_month", "days_on", "water_injected_bbl", "gas_injected_mcf", "_source_row",
]

_NULL_STRINGS = {"", "null", "n/a", "na", "none", "-"}
_PRODUCTION = "production"
_INJECTION = "injection"


# --------------------------------------------------------------------------- helpers

def _json_value(v: Any) -> Any:
    """A cell value as something ``json.dumps`` accepts."""
    if v is None or isinstance(v, (bool, int, str)):
        return v
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, (dt.datetime, dt.date, dt.time)):
        return v.isoformat()
    if isinstance(v, dt.timedelta):
        return v.total_seconds()
    return str(v)


def _blank(v: Any) -> bool:
    return v is None or (isinstance(v, str) and v.strip() == "")


def _parse_number(v: Any) -> tuple[float | None, str | None]:
    """(value, None), (None, None) for a null, or (None, problem)."""
    if v is None:
        return None, None
    if isinstance(v, bool):
        return None, f"not a number: {v!r}"
    if isinstance(v, (int, float)):
        x = float(v)
    elif isinstance(v, str):
        s = v.strip()
        if s.lower() in _NULL_STRINGS:
            return None, None
        try:
            x = float(s.replace(",", ""))
        except ValueError:
            return None, f"not a number: {v!r}"
    else:
        return None, f"not a number: {v!r}"
    if not math.isfinite(x):  # NaN, inf, 1e400: a value that is not a value
        return None, f"not a finite number: {v!r}"
    if x < 0:
        return None, f"negative: {v!r}"
    return x, None


def _parse_date(v: Any) -> tuple[dt.date | None, bool, str | None]:
    """(date, had_time_of_day, problem)."""
    if _blank(v):
        return None, False, "missing"
    if isinstance(v, dt.datetime):
        return v.date(), v.time() != dt.time(0), None
    if isinstance(v, dt.date):
        return v, False, None
    if isinstance(v, str):
        s = v.strip()
        try:
            d = dt.datetime.fromisoformat(s)
        except ValueError:
            return None, False, f"not a date: {v!r}"
        return d.date(), d.time() != dt.time(0), None
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        # A date cell stored as an Excel serial number (1900 system).
        try:
            from openpyxl.utils.datetime import from_excel

            d = from_excel(v)
        except Exception:
            return None, False, f"not a date: {v!r}"
        if isinstance(d, dt.datetime):
            return d.date(), d.time() != dt.time(0), None
        if isinstance(d, dt.date):
            return d, False, None
    return None, False, f"not a date: {v!r}"


def _open_sheet(path: Path, sheet: str):
    """(workbook, worksheet) opened read-only; SourceError when impossible."""
    import openpyxl

    file = str(path)
    if not Path(path).is_file():
        raise SourceError(file, "file not found" if not Path(path).exists() else "not a file")
    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as e:  # zipfile.BadZipFile, InvalidFileException, KeyError, OSError, ...
        raise SourceError(file, f"not a readable .xlsx workbook ({type(e).__name__}: {e})") from e
    if sheet not in wb.sheetnames:
        names = ", ".join(repr(n) for n in wb.sheetnames)
        wb.close()
        raise SourceError(file, f"sheet {sheet!r} not found (sheets: {names})")
    return wb, wb[sheet]


def _header_index(file: str, sheet: str, header: tuple | None, required: tuple, optional: tuple = ()) -> dict[str, int]:
    """Map canonical column names to positions in ``header``; SourceError naming what is missing."""
    if header is None:
        raise SourceError(file, f"sheet {sheet!r} is empty (no header row)", line=1)
    found: dict[str, int] = {}
    for i, name in enumerate(header):
        if isinstance(name, str):
            found.setdefault(name.strip().upper(), i)
    missing = [c for c in required if c.upper() not in found]
    if missing:
        raise SourceError(
            file, f"sheet {sheet!r} is missing required column(s): {', '.join(missing)}", line=1
        )
    return {c: found[c.upper()] for c in (*required, *optional) if c.upper() in found}


def _month_start(d: dt.date) -> dt.date:
    return d.replace(day=1)


def _days_in_month(d: dt.date) -> int:
    return calendar.monthrange(d.year, d.month)[1]


# --------------------------------------------------------------------------- daily sheet

@dataclass(frozen=True)
class _DailyColumns:
    """Where the daily sheet's columns sit in its header row (0-based positions)."""

    names: list[str]  # every header cell as text (``column_N`` for an empty one): the reject records' keys
    date: int
    well: int
    code: int
    hours: int
    well_type: int
    field: int | None
    flow: int | None
    volumes: list[int]  # positions of VOLUME_COLUMNS, in that order

    @property
    def width(self) -> int:
        return len(self.names)

    @classmethod
    def from_header(cls, file: str, header: tuple | None) -> _DailyColumns:
        """Locate the columns; ``SourceError`` (line 1) naming the ones missing."""
        idx = _header_index(file, DAILY_SHEET, header, REQUIRED_DAILY_COLUMNS, OPTIONAL_DAILY_COLUMNS)
        names = [str(h) if h is not None else f"column_{i + 1}" for i, h in enumerate(header)]
        return cls(names, idx[COL_DATE], idx[COL_WELL], idx[COL_CODE], idx[COL_HOURS], idx[COL_TYPE],
                   idx.get(COL_FIELD), idx.get(COL_FLOW), [idx[c] for c in VOLUME_COLUMNS])


@dataclass(frozen=True)
class _DailyRow:
    """One daily row that passed validation, before the roll-up."""

    excel_row: int
    kind: str  # _PRODUCTION or _INJECTION
    well: str
    code: str | None
    field: str | None
    day: dt.date
    had_time: bool
    hours: float | None  # as reported (None: null)
    volumes: tuple[float | None, ...]  # oil, gas, water, injected water in Sm3 (None: null)
    well_type: str  # WELL_TYPE, upper case ('' when blank)


def _text(v: Any) -> str | None:
    """A cell as stripped text, None when blank."""
    return None if _blank(v) else str(v).strip()


def _route_kind(flow_cell: Any, type_cell: Any) -> tuple[str | None, str | None]:
    """(kind, problem): ``FLOW_KIND`` decides, else ``WELL_TYPE`` ('OP' production, 'WI' injection)."""
    flow = (_text(flow_cell) or "").lower()
    wtype = (_text(type_cell) or "").upper()
    if flow in (_PRODUCTION, _INJECTION):
        return flow, None
    if flow:
        return None, f"{COL_FLOW} not 'production' or 'injection': {flow_cell!r}"
    if wtype == "OP":
        return _PRODUCTION, None
    if wtype == "WI":
        return _INJECTION, None
    return None, (f"cannot tell producer from injector: {COL_FLOW} blank and "
                  f"{COL_TYPE} {type_cell!r} not 'OP' or 'WI'")


def _date_problems(day: dt.date | None, problem: str | None,
                   window: tuple[dt.date, dt.date] | None) -> list[str]:
    """The date's problem, or that it falls outside the plausible ``window`` of months."""
    if problem:
        return [f"{COL_DATE} {problem}"]
    if window and not window[0] <= _month_start(day) <= window[1]:
        return [f"{COL_DATE} {day.isoformat()} outside the plausible window "
                f"({window[0]:%Y-%m}..{window[1]:%Y-%m})"]
    return []


def _volume_problems(kind: str | None, vols: list[float | None]) -> list[str]:
    """A production row must carry no injected water, an injection row no produced volumes."""
    oil, gas, wat, wi = vols
    if kind == _PRODUCTION and (wi or 0) > 0:
        return [f"production row carries injected water ({COL_WI} {wi})"]
    if kind == _INJECTION and any((v or 0) > 0 for v in (oil, gas, wat)):
        return [f"injection row carries produced volumes ({COL_OIL}/{COL_GAS}/{COL_WAT})"]
    return []


def _parse_daily_row(excel_row: int, values: tuple, cols: _DailyColumns,
                     window: tuple[dt.date, dt.date] | None) -> _DailyRow | Reject:
    """Validate one (padded) daily row: the parsed row, or a ``Reject`` listing every problem."""
    day, had_time, p = _parse_date(values[cols.date])
    problems = _date_problems(day, p, window)
    well = _text(values[cols.well])
    if well is None:
        problems.append(f"{COL_WELL} missing")
    hours, p = _parse_number(values[cols.hours])
    if p:
        problems.append(f"{COL_HOURS} {p}")
    vols: list[float | None] = []
    for col, i in zip(VOLUME_COLUMNS, cols.volumes):
        x, p = _parse_number(values[i])
        if p:
            problems.append(f"{col} {p}")
        vols.append(x)
    kind, p = _route_kind(values[cols.flow] if cols.flow is not None else None, values[cols.well_type])
    if p:
        problems.append(p)
    problems += _volume_problems(kind, vols)
    if problems:
        record = {cols.names[i]: _json_value(v) for i, v in enumerate(values[:cols.width])}
        return Reject(excel_row, "; ".join(problems), record)
    return _DailyRow(excel_row, kind, well, _text(values[cols.code]),
                     _text(values[cols.field]) if cols.field is not None else None,
                     day, had_time, hours, tuple(vols), (_text(values[cols.well_type]) or "").upper())


#: what :func:`_hours_on_stream` did to a row's hours (counted in the notes)
_HOURS_NULL_ON, _HOURS_NULL_OFF, _HOURS_CLIPPED = "null_on", "null_off", "clipped"


def _hours_on_stream(hours: float | None, routed: tuple[float | None, ...]) -> tuple[float, str | None]:
    """(hours counted for days_on, what was done): null hours are a full day when a routed volume
    is > 0, else 0 h; hours above 24 are clipped to 24."""
    if hours is None:
        if any((v or 0) > 0 for v in routed):
            return 24.0, _HOURS_NULL_ON
        return 0.0, _HOURS_NULL_OFF
    if hours > 24.0:
        return 24.0, _HOURS_CLIPPED
    return hours, None


@dataclass
class _DailyScan:
    """What the scan of the daily sheet saw: the accepted rows, the rejects and the traps counted."""

    rows_read: int = 0
    accepted: list[tuple] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    null_volumes: Counter = field(default_factory=Counter)
    hours_clipped: int = 0
    max_hours: float = 0.0
    null_hours_on: int = 0
    null_hours_off: int = 0
    time_of_day: int = 0
    routed_by_flow_against_type: int = 0
    codes_per_well: dict[str, set] = field(default_factory=dict)
    fields_per_well: dict[str, str] = field(default_factory=dict)

    def accept(self, row: _DailyRow) -> None:
        """Count the row's traps and keep what the roll-up needs."""
        kind = row.kind
        if kind == _PRODUCTION and row.well_type == "WI" or kind == _INJECTION and row.well_type == "OP":
            self.routed_by_flow_against_type += 1
        if row.had_time:
            self.time_of_day += 1
        for col, x in zip(VOLUME_COLUMNS, row.volumes):
            if x is None:
                self.null_volumes[col] += 1
        oil, gas, wat, wi = row.volumes
        hours, what = _hours_on_stream(row.hours, (oil, gas, wat) if kind == _PRODUCTION else (wi,))
        if what == _HOURS_NULL_ON:
            self.null_hours_on += 1
        elif what == _HOURS_NULL_OFF:
            self.null_hours_off += 1
        elif what == _HOURS_CLIPPED:
            self.hours_clipped += 1
            self.max_hours = max(self.max_hours, row.hours)
        codes = self.codes_per_well.setdefault(row.well, set())
        if row.code:
            codes.add(row.code)
        if row.field is not None and row.well not in self.fields_per_well:
            self.fields_per_well[row.well] = row.field
        self.accepted.append((
            kind, row.well, row.code, _month_start(row.day), row.day, hours,
            oil or 0.0, gas or 0.0, wat or 0.0, wi or 0.0, row.excel_row,
        ))


def _scan_daily_rows(rows: Iterable[tuple], cols: _DailyColumns,
                     window: tuple[dt.date, dt.date] | None) -> _DailyScan:
    """Validate every data row (Excel row 2 on); blank rows are skipped, not counted."""
    scan = _DailyScan()
    for excel_row, values in enumerate(rows, start=2):
        if all(_blank(v) for v in values):
            continue  # blank (formatted) rows at the end of a sheet are not data
        scan.rows_read += 1
        if len(values) < cols.width:
            values = tuple(values) + (None,) * (cols.width - len(values))
        row = _parse_daily_row(excel_row, values, cols, window)
        if isinstance(row, Reject):
            scan.rejects.append(row)
        else:
            scan.accept(row)
    return scan


_DAILY_FRAME_COLUMNS = ["kind", "well_id", "well_name", "month", "day", "hours",
                        "oil_sm3", "gas_sm3", "water_sm3", "wi_sm3", "_source_row"]


def _monthly_rollup(daily: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """(one row per kind, well and month with hours and Sm3 sums, first Excel row, daily row count
    and ``days_on`` clipped to the calendar days; the number of well-months clipped)."""
    monthly = (
        daily.groupby(["kind", "well_id", "month"], sort=True)
        .agg(hours=("hours", "sum"), oil_sm3=("oil_sm3", "sum"), gas_sm3=("gas_sm3", "sum"),
             water_sm3=("water_sm3", "sum"), wi_sm3=("wi_sm3", "sum"),
             _source_row=("_source_row", "min"), daily_rows=("_source_row", "size"))
        .reset_index()
    )
    cal_days = monthly["month"].map(_days_in_month).astype(float)
    raw_days = monthly["hours"] / 24.0
    months_clipped = int((raw_days > cal_days + 1e-9).sum())
    monthly["days_on"] = raw_days.clip(upper=cal_days)
    monthly["month"] = pd.to_datetime(monthly["month"]).astype("datetime64[s]")
    return monthly, months_clipped


def _production_table(monthly: pd.DataFrame) -> pd.DataFrame:
    """The producing well-months in canonical units (bbl, mcf)."""
    prod = monthly[monthly["kind"] == _PRODUCTION]
    return pd.DataFrame({
        "well_id": prod["well_id"].astype(str),
        "production_month": prod["month"],
        "days_on": prod["days_on"].astype(float),
        "oil_bbl": prod["oil_sm3"] * SM3_TO_BBL,
        "gas_mcf": prod["gas_sm3"] * SM3_GAS_TO_MCF,
        "water_bbl": prod["water_sm3"] * SM3_TO_BBL,
        "_source_row": prod["_source_row"].astype("int64"),
    }, columns=PRODUCTION_COLUMNS).reset_index(drop=True)


def _injection_table(monthly: pd.DataFrame) -> pd.DataFrame:
    """The injecting well-months in canonical units (bbl; gas injected not reported)."""
    inj = monthly[monthly["kind"] == _INJECTION]
    return pd.DataFrame({
        "well_id": inj["well_id"].astype(str),
        "injection_month": inj["month"],
        "days_on": inj["days_on"].astype(float),
        "water_injected_bbl": inj["wi_sm3"] * SM3_TO_BBL,
        # The daily sheet has no gas-injection column (the monthly GI column is all NULL):
        # not reported, so null rather than 0.
        "gas_injected_mcf": pd.Series([float("nan")] * len(inj), index=inj.index, dtype="float64"),
        "_source_row": inj["_source_row"].astype("int64"),
    }, columns=INJECTION_COLUMNS).reset_index(drop=True)


def _days_by_kind(daily: pd.DataFrame) -> pd.DataFrame:
    """Accepted daily rows per wellbore (index) and kind (columns)."""
    return daily.groupby(["well_id", "kind"]).size().unstack(fill_value=0)


def _header_table(daily: pd.DataFrame, production: pd.DataFrame, injection: pd.DataFrame,
                  scan: _DailyScan) -> pd.DataFrame:
    """One row per wellbore: the kind of the majority of its days (a tie: producer), its first
    month with volume of that kind, its first ``WELL_BORE_CODE`` and field, its first Excel row."""
    header_rows = []
    if len(daily):
        days_by_kind = _days_by_kind(daily)
        first_row = daily.groupby("well_id")["_source_row"].min()
        first_oil = production[production["oil_bbl"] > 0].groupby("well_id")["production_month"].min()
        first_inj = injection[injection["water_injected_bbl"] > 0].groupby("well_id")["injection_month"].min()
        for well in sorted(first_row.index):
            n_prod = int(days_by_kind.loc[well].get(_PRODUCTION, 0))
            n_inj = int(days_by_kind.loc[well].get(_INJECTION, 0))
            well_type = "injector" if n_inj > n_prod else "producer"
            first = (first_inj if well_type == "injector" else first_oil).get(well, pd.NaT)
            codes = sorted(scan.codes_per_well.get(well, ()))
            first_code = daily.loc[daily["_source_row"] == first_row[well], "well_name"].iloc[0]
            header_rows.append({
                "well_id": well,
                "well_name": first_code if first_code else (codes[0] if codes else None),
                "operator": OPERATOR,
                "field": scan.fields_per_well.get(well),
                "county": None,
                "state": None,
                "basin": BASIN,
                "first_production_month": first,
                "lateral_length_ft": float("nan"),
                "working_interest": float("nan"),
                "net_revenue_interest": float("nan"),
                "well_type": well_type,
                "_source_row": int(first_row[well]),
            })
    header_df = pd.DataFrame(header_rows, columns=HEADER_COLUMNS)
    header_df["first_production_month"] = pd.to_datetime(header_df["first_production_month"]).astype("datetime64[s]")
    for c in ("lateral_length_ft", "working_interest", "net_revenue_interest"):
        header_df[c] = header_df[c].astype("float64")
    for c in ("county", "state"):
        header_df[c] = header_df[c].astype(object)
    header_df["_source_row"] = header_df["_source_row"].astype("int64")
    return header_df


def _hours_notes(scan: _DailyScan, months_clipped: int) -> list[str]:
    """Notes on on-stream hours: clipped to 24 h, null, more than the calendar days in a month."""
    notes = []
    if scan.hours_clipped:
        notes.append(
            f"{scan.hours_clipped} daily rows had {COL_HOURS} above 24 h (max {scan.max_hours:.2f} h); "
            "each clipped to 24 h for days_on"
        )
    if scan.null_hours_on or scan.null_hours_off:
        notes.append(
            f"{scan.null_hours_on + scan.null_hours_off} daily rows had null {COL_HOURS}: {scan.null_hours_on} "
            f"counted as a full day on stream (a volume > 0), {scan.null_hours_off} as 0 h (no volume)"
        )
    if months_clipped:
        notes.append(f"{months_clipped} well-months had more on-stream hours than calendar days; days_on clipped")
    return notes


def _identity_notes(scan: _DailyScan, daily: pd.DataFrame) -> list[str]:
    """Notes on dates and wellbores: times of day, repeated dates, routing against WELL_TYPE,
    wellbores in both tables, several WELL_BORE_CODEs."""
    notes = []
    if scan.time_of_day:
        notes.append(f"{scan.time_of_day} {COL_DATE} values carried a time of day; normalised to the date")
    dup = int(daily.duplicated(["kind", "well_id", "day"]).sum())
    if dup:
        notes.append(f"{dup} daily rows repeat a (wellbore, date) already seen; all kept and summed")
    if scan.routed_by_flow_against_type:
        notes.append(
            f"{scan.routed_by_flow_against_type} rows routed by {COL_FLOW} against {COL_TYPE} "
            f"(e.g. {COL_TYPE} 'WI' with {COL_FLOW} 'production' and oil volumes)"
        )
    if len(daily):
        days_by_kind = _days_by_kind(daily)
        both = [w for w in days_by_kind.index if (days_by_kind.loc[w] > 0).all()]
        if both and days_by_kind.shape[1] > 1:
            notes.append(f"wellbores with both producing and injecting days (in both tables): {', '.join(both)}")
    for well, codes in sorted(scan.codes_per_well.items()):
        if len(codes) > 1:
            notes.append(f"wellbore {well}: several {COL_CODE} values {sorted(codes)}; well_name keeps the first")
    return notes


def _daily_notes(scan: _DailyScan, daily: pd.DataFrame, tables: dict[str, pd.DataFrame],
                 months_clipped: int) -> list[str]:
    """The read's notes: counts first, then every trap met, then the rejects by reason."""
    notes = [
        f"{DAILY_SHEET}: {scan.rows_read} daily rows read, {len(scan.accepted)} loaded into "
        f"{len(tables['well_production'])} production and {len(tables['well_injection'])} injection well-months "
        f"for {len(tables['well_header'])} wellbores, {len(scan.rejects)} rejected"
    ]
    if scan.null_volumes:
        parts = ", ".join(f"{c} {scan.null_volumes[c]}" for c in VOLUME_COLUMNS if scan.null_volumes[c])
        notes.append(f"null volumes treated as 0 (not reported), rows per column: {parts}")
    notes += _hours_notes(scan, months_clipped)
    notes += _identity_notes(scan, daily)
    if scan.rejects:
        reasons = Counter(r.reason for r in scan.rejects)
        notes.append("rejected rows by reason: " + "; ".join(f"{n} × {reason}" for reason, n in reasons.most_common()))
    return notes


def _read_daily(path: Path, window: tuple[dt.date, dt.date] | None = None) -> tuple[SourceRead, pd.DataFrame]:
    """Read and validate the daily sheet: the SourceRead and the monthly Sm3 roll-up.

    The roll-up has one row per (kind, well_id, month) with hours, oil/gas/water/wi
    in Sm3, the first Excel row and the daily row count. ``window`` (first and last
    month, as first days) rejects days outside it.

    Stages: locate the columns (:class:`_DailyColumns`), validate and route each row
    (:func:`_scan_daily_rows`), roll the accepted days up to months (:func:`_monthly_rollup`),
    build the three tables and write the notes (:func:`_daily_notes`).
    """
    path = Path(path)
    wb, ws = _open_sheet(path, DAILY_SHEET)
    try:
        rows = ws.iter_rows(values_only=True)
        cols = _DailyColumns.from_header(str(path), next(rows, None))
        scan = _scan_daily_rows(rows, cols, window)
    finally:
        wb.close()
    rows_loaded = len(scan.accepted)
    assert scan.rows_read == rows_loaded + len(scan.rejects), (scan.rows_read, rows_loaded, len(scan.rejects))

    daily = pd.DataFrame(scan.accepted, columns=_DAILY_FRAME_COLUMNS)
    monthly, months_clipped = _monthly_rollup(daily)
    production = _production_table(monthly)
    injection = _injection_table(monthly)
    tables = {"well_header": _header_table(daily, production, injection, scan),
              "well_production": production, "well_injection": injection}
    result = SourceRead(
        tables=tables,
        rejects=scan.rejects,
        rows_read=scan.rows_read,
        rows_loaded=rows_loaded,
        notes=_daily_notes(scan, daily, tables, months_clipped),
    )
    return result, monthly


def read_volve(path: Path, window: tuple[dt.date, dt.date] | None = None) -> SourceRead:
    """Read the Volve production workbook (sheet ``Daily Production Data``).

    Returns the ``well_header``, ``well_production`` and ``well_injection`` tables
    in canonical columns and units (bbl, mcf) plus ``_source_row`` (Excel row),
    the rejected daily rows, and notes on the data's traps. Raises ``SourceError``
    when the file is not a readable workbook or the sheet / required columns are
    missing. See the module docstring for the rules.
    """
    result, _ = _read_daily(Path(path), window)
    return result


# --------------------------------------------------------------------------- reconciliation

def _read_monthly_sheet(path: Path) -> pd.DataFrame:
    """The ``Monthly Production Data`` sheet: well_id, month, oil_sm3 (null = 'NULL'), _source_row."""
    file = str(path)
    wb, ws = _open_sheet(path, MONTHLY_SHEET)
    try:
        rows = ws.iter_rows(values_only=True)
        header = next(rows, None)
        idx = _header_index(file, MONTHLY_SHEET, header, REQUIRED_MONTHLY_COLUMNS, ("On Stream",))
        out = []
        for excel_row, values in enumerate(rows, start=2):
            if all(_blank(v) for v in values):
                continue
            well, year, month = (values[idx[c]] for c in ("Wellbore name", "Year", "Month"))
            if _blank(well) and _blank(year) and _blank(month):
                continue  # the units row (hrs, Sm3, ...) right under the header
            try:
                m = dt.datetime(int(year), int(month), 1)
            except (TypeError, ValueError) as e:
                raise SourceError(file, f"sheet {MONTHLY_SHEET!r}: bad Year/Month {year!r}/{month!r}", excel_row) from e
            oil, p = _parse_number(values[idx["Oil"]])
            if p:
                raise SourceError(file, f"sheet {MONTHLY_SHEET!r}: Oil {p}", excel_row)
            hrs = None
            if "On Stream" in idx:
                hrs, _ = _parse_number(values[idx["On Stream"]])
            out.append((str(well).strip(), m, oil, hrs, excel_row))
    finally:
        wb.close()
    df = pd.DataFrame(out, columns=["well_id", "month", "monthly_oil_sm3", "monthly_on_stream_hrs", "monthly_row"])
    df["month"] = pd.to_datetime(df["month"]).astype("datetime64[s]")
    df["monthly_oil_sm3"] = df["monthly_oil_sm3"].astype("float64")
    df["monthly_on_stream_hrs"] = df["monthly_on_stream_hrs"].astype("float64")
    return df


def compare_with_monthly_sheet(path: Path) -> pd.DataFrame:
    """Reconcile the daily roll-up (what ``read_volve`` loads) with the monthly sheet, oil in Sm3.

    One row per wellbore and month present in either (outer join on the NPD
    wellbore name and month), sorted by well and month, with columns:

    ``well_id``, ``month``, ``daily_oil_sm3`` (sum of the loaded producing daily
    rows; null when the daily sheet has no producing row that month),
    ``monthly_oil_sm3`` (null when the sheet says NULL or has no row),
    ``diff_sm3`` = daily − monthly (nulls as 0), ``rel_diff`` = diff / monthly
    (0 when both are 0, null when the monthly is missing or only it is 0),
    ``daily_on_stream_hrs`` (producing hours as loaded, each day clipped to 24 h) /
    ``monthly_on_stream_hrs`` (the sheet's, which also counts a converted
    wellbore's injecting hours), ``rejected_daily_rows``
    (daily rows of that well and month that ``read_volve`` rejected: they explain
    a difference) and ``presence``: 'both', 'daily_only' (e.g. wellbore 15/9-F-15,
    absent from the monthly sheet) or 'monthly_only' (mostly the injectors'
    months, whose Oil is NULL).

    On the published workbook the two agree to floating-point rounding in every
    month without a rejected daily row; the four months holding a daily row
    rejected for negative water differ by exactly that row's oil.
    """
    path = Path(path)
    result, monthly_rollup = _read_daily(path)
    monthly_sheet = _read_monthly_sheet(path)

    prod = monthly_rollup[monthly_rollup["kind"] == _PRODUCTION]
    daily = pd.DataFrame({
        "well_id": prod["well_id"].astype(str),
        "month": prod["month"],
        "daily_oil_sm3": prod["oil_sm3"].astype(float),
        "daily_on_stream_hrs": prod["hours"].astype(float),
    })
    rej = []
    for r in result.rejects:
        day, _, p = _parse_date(r.record.get(COL_DATE))
        well = r.record.get(COL_WELL)
        if p is None and not _blank(well):
            rej.append((str(well).strip(), dt.datetime(day.year, day.month, 1)))
    rej_df = pd.DataFrame(rej, columns=["well_id", "month"])
    rej_df["month"] = pd.to_datetime(rej_df["month"]).astype("datetime64[s]")
    rej_counts = rej_df.groupby(["well_id", "month"]).size().rename("rejected_daily_rows").reset_index()

    df = daily.merge(monthly_sheet.drop(columns=["monthly_row"]), on=["well_id", "month"], how="outer", indicator=True)
    presence = {"both": "both", "left_only": "daily_only", "right_only": "monthly_only"}
    df["presence"] = df["_merge"].map(presence).astype(str)
    df = df.drop(columns="_merge")
    df = df.merge(rej_counts, on=["well_id", "month"], how="left")
    df["rejected_daily_rows"] = df["rejected_daily_rows"].fillna(0).astype("int64")
    d = df["daily_oil_sm3"].fillna(0.0)
    m = df["monthly_oil_sm3"].fillna(0.0)
    df["diff_sm3"] = d - m
    rel = (d - m) / m.where(m != 0)
    rel = rel.where(~((d == 0) & (m == 0)), 0.0)
    df["rel_diff"] = rel.where(df["monthly_oil_sm3"].notna())
    cols = ["well_id", "month", "daily_oil_sm3", "monthly_oil_sm3", "diff_sm3", "rel_diff",
            "daily_on_stream_hrs", "monthly_on_stream_hrs", "rejected_daily_rows", "presence"]
    return df[cols].sort_values(["well_id", "month"]).reset_index(drop=True)


__all__ = [
    "SM3_TO_BBL", "SM3_TO_SCF", "SM3_GAS_TO_MCF", "DAILY_SHEET", "MONTHLY_SHEET",
    "read_volve", "compare_with_monthly_sheet",
]
