"""``basinlab pull eia``: monthly spot prices from the EIA API v2 into the inbox.

Series (``--series``, default all three):

===========  ============================  ========  ========================================
name         EIA route                     series    what
===========  ============================  ========  ========================================
WTI          ``petroleum/pri/spt``         RWTC      Cushing, OK WTI spot price FOB, USD/bbl
BRENT        ``petroleum/pri/spt``         RBRTE     Europe Brent spot price FOB, USD/bbl
HENRY_HUB    ``natural-gas/pri/fut``       RNGWHHD   Henry Hub natural gas spot price, USD/MMBtu
===========  ============================  ========  ========================================

Each series is read page by page (``offset`` / ``length``, up to
:data:`PAGE_LENGTH` rows a page, until the response's ``total``), with retries and
backoff on connection errors, 429 and 5xx (``Retry-After`` honoured). 401/403 stop
with what to do about the key (``EIA_API_KEY``). A body that is not the API v2
shape — not JSON, no ``response.data``, a period that is not ``YYYY-MM``, a value
that is not a number — fails the pull naming the series and the page.

Nothing is written until every series is in: then, atomically, one file each,

* ``inbox/prices/eia_<stamp>_<hash>.csv`` — the canonical ``prices`` layout
  (price_month, benchmark, price_usd) that the next run ingests like any price
  file (months EIA withholds, value null, are left out and counted);
* ``received/eia/eia_<stamp>_<hash>.json`` — the rows exactly as received, which
  the next run loads into ``raw.eia_petroleum`` (:func:`carry_eia_received`, called
  by the runner on its build file: the puller never opens the warehouse).

The same data pulled again writes nothing (the hash names the content). The key
never appears in files, messages or logs: it travels in the query string, so
httpx's request log is held to warnings while a pull runs.
"""
from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import logging
import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported where a pull runs (see below)
    import httpx

    from .http import Backoff

from .. import catalog
from .files import ServicePaths, write_atomic

#: where the series as received land (columns declared in sql/catalog/raw.yml)
EIA_TABLE = "raw.eia_petroleum"

# httpx and .http are imported where a pull needs them: the runner imports this module for
# carry_eia_received only.

DEFAULT_BASE_URL = "https://api.eia.gov/v2"
PAGE_LENGTH = 5000
KEY_ENV = "EIA_API_KEY"
PERIOD_RE = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


@dataclass(frozen=True)
class EIASeries:
    name: str
    route: str
    series_id: str
    benchmark: str  # the canonical prices benchmark
    units: str


SERIES: dict[str, EIASeries] = {
    "WTI": EIASeries("WTI", "petroleum/pri/spt", "RWTC", "WTI", "$/BBL"),
    "BRENT": EIASeries("BRENT", "petroleum/pri/spt", "RBRTE", "BRENT", "$/BBL"),
    "HENRY_HUB": EIASeries("HENRY_HUB", "natural-gas/pri/fut", "RNGWHHD", "HENRY_HUB", "$/MMBTU"),
}
_ALIASES = {"RWTC": "WTI", "RBRTE": "BRENT", "RNGWHHD": "HENRY_HUB", "HH": "HENRY_HUB", "HENRYHUB": "HENRY_HUB",
            "HENRY-HUB": "HENRY_HUB"}


class EIAError(Exception):
    """A pull that cannot complete; nothing was written."""


class EIAAuthError(EIAError):
    """EIA refused the key (401/403)."""


class EIAFormatError(EIAError):
    """A response that is not what the API v2 sends."""


def resolve_series(names: list[str] | None) -> list[EIASeries]:
    if not names:
        return list(SERIES.values())
    out = []
    for n in names:
        key = _ALIASES.get(n.strip().upper(), n.strip().upper())
        if key not in SERIES:
            raise EIAError(f"unknown series {n!r}: use {', '.join(SERIES)} (or their EIA ids "
                           f"{', '.join(s.series_id for s in SERIES.values())})")
        if SERIES[key] not in out:
            out.append(SERIES[key])
    return out


@dataclass
class SeriesPull:
    series: EIASeries
    rows: list[dict[str, Any]] = field(default_factory=list)
    total: int = 0
    pages: int = 0
    frequency: str | None = None
    date_format: str | None = None


@dataclass
class EIAPullResult:
    series: list[SeriesPull]
    prices_file: Path | None
    received_file: Path | None
    prices_rows: int
    withheld: dict[str, list[str]]
    unchanged: bool = False


@contextlib.contextmanager
def _quiet_httpx() -> Iterator[None]:
    """httpx logs every request URL at INFO; the EIA key is in the URL."""
    logger = logging.getLogger("httpx")
    level = logger.level
    logger.setLevel(max(level, logging.WARNING))
    try:
        yield
    finally:
        logger.setLevel(level)


def _check_row(row: Any, s: EIASeries, where: str) -> None:
    if not isinstance(row, dict):
        raise EIAFormatError(f"series {s.name} ({s.series_id}): {where}: a data row is not an object: {row!r:.100}")
    period = row.get("period")
    if not isinstance(period, str) or not PERIOD_RE.match(period):
        raise EIAFormatError(f"series {s.name} ({s.series_id}): {where}: period {period!r} is not a month YYYY-MM")
    if row.get("series") not in (None, s.series_id):
        raise EIAFormatError(f"series {s.name} ({s.series_id}): {where}: a row of series {row.get('series')!r}")
    v = row.get("value")
    if v is not None and not isinstance(v, bool):
        try:
            f = float(v)
            if f != f or f in (float("inf"), float("-inf")):
                raise ValueError
        except (TypeError, ValueError):
            raise EIAFormatError(f"series {s.name} ({s.series_id}): {where}: value {v!r} for {period} is not a "
                                 "number") from None
    elif isinstance(v, bool):
        raise EIAFormatError(f"series {s.name} ({s.series_id}): {where}: value {v!r} for {period} is not a number")


def fetch_series(client: httpx.Client, base_url: str, api_key: str, s: EIASeries, *, start: str | None = None,
                 end: str | None = None, backoff: Backoff, page_length: int = PAGE_LENGTH,
                 say: Callable[[str], None] = lambda _m: None) -> SeriesPull:
    """Every page of one monthly series. Raises EIAAuthError / EIAFormatError / EIAError."""
    from .http import RetriesExhausted
    from .http import request as http_request

    pull = SeriesPull(s)
    offset = 0
    url = f"{base_url.rstrip('/')}/{s.route}/data/"
    while True:
        params = [("api_key", api_key), ("frequency", "monthly"), ("data[0]", "value"),
                  ("facets[series][]", s.series_id), ("sort[0][column]", "period"), ("sort[0][direction]", "asc"),
                  ("offset", str(offset)), ("length", str(page_length))]
        if start:
            params.append(("start", start))
        if end:
            params.append(("end", end))
        where = f"page {pull.pages + 1} (offset {offset})"
        try:
            resp = http_request(client, "GET", url, params=params, backoff=backoff,
                                what=f"EIA {s.name} ({s.series_id}) {where}", on_retry=say)
        except RetriesExhausted as exc:
            raise EIAError(str(exc)) from None
        body: Any = None
        with contextlib.suppress(ValueError):
            body = resp.json()
        if resp.status_code in (401, 403):
            msg = _eia_message(body) or resp.reason_phrase
            raise EIAAuthError(f"EIA refused the API key for {s.name} (HTTP {resp.status_code}: {msg}). Set "
                               f"{KEY_ENV} to a valid key (free at https://www.eia.gov/opendata/register.php)")
        if resp.status_code != 200:
            raise EIAError(f"EIA answered HTTP {resp.status_code} for {s.name} ({s.series_id}) {where}: "
                           f"{_eia_message(body) or resp.text[:200]}")
        if not isinstance(body, dict):
            raise EIAFormatError(f"series {s.name} ({s.series_id}): {where}: the body is not a JSON object")
        if "response" not in body and body.get("error"):
            raise EIAError(f"EIA refused the request for {s.name} ({s.series_id}): {_eia_message(body)}")
        r = body.get("response")
        data = r.get("data") if isinstance(r, dict) else None
        if not isinstance(data, list):
            raise EIAFormatError(f"series {s.name} ({s.series_id}): {where}: no response.data list in the body")
        try:
            total = int(r.get("total"))
        except (TypeError, ValueError):
            raise EIAFormatError(f"series {s.name} ({s.series_id}): {where}: response.total "
                                 f"{r.get('total')!r} is not a count") from None
        for row in data:
            _check_row(row, s, where)
        pull.rows.extend(data)
        pull.total = total
        pull.pages += 1
        pull.frequency = r.get("frequency") or pull.frequency
        pull.date_format = r.get("dateFormat") or pull.date_format
        offset += len(data)
        say(f"{s.name}: page {pull.pages}, {len(pull.rows)}/{total} rows")
        if offset >= total:
            break
        if not data:
            raise EIAFormatError(f"series {s.name} ({s.series_id}): {where}: an empty page before the "
                                 f"{total} rows response.total promises (have {len(pull.rows)})")
    periods = [row["period"] for row in pull.rows]
    if len(set(periods)) != len(periods):
        dup = sorted({p for p in periods if periods.count(p) > 1})
        raise EIAFormatError(f"series {s.name} ({s.series_id}): month(s) {dup[:5]} came twice across the pages")
    return pull


def _eia_message(body: Any) -> str:
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict):
            return str(err.get("message") or err.get("code") or err)[:300]
        if err:
            return str(err)[:300]
    return ""


def pull_eia(sp: ServicePaths, *, series: list[str] | None = None, start: str | None = None,
             end: str | None = None, api_key: str | None = None, base_url: str = DEFAULT_BASE_URL,
             backoff: Backoff | None = None, page_length: int = PAGE_LENGTH,
             progress: Callable[[str], None] | None = None) -> EIAPullResult:
    """Pull ``series`` and write the prices file and the as-received file (or nothing)."""
    import httpx

    from .http import Backoff

    say = progress or (lambda _m: None)
    wanted = resolve_series(series)
    key = api_key if api_key is not None else os.environ.get(KEY_ENV, "")
    if not key.strip():
        raise EIAError(f"no EIA API key: set {KEY_ENV} (free at https://www.eia.gov/opendata/register.php)")
    for name, v in (("start", start), ("end", end)):
        if v and not PERIOD_RE.match(v):
            raise EIAError(f"--{name} must be a month YYYY-MM, got {v!r}")
    backoff = backoff or Backoff()
    pulls: list[SeriesPull] = []
    with _quiet_httpx(), httpx.Client(timeout=httpx.Timeout(30.0, connect=10.0)) as client:
        for s in wanted:
            pulls.append(fetch_series(client, base_url, key.strip(), s, start=start, end=end, backoff=backoff,
                                      page_length=page_length, say=say))
    # every series is in: build both files, then write them
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["price_month", "benchmark", "price_usd"])
    withheld: dict[str, list[str]] = {}
    n = 0
    for p in pulls:
        for row in sorted(p.rows, key=lambda r: r["period"]):
            if row.get("value") is None:
                withheld.setdefault(p.series.name, []).append(row["period"])
                continue
            w.writerow([row["period"], p.series.benchmark, str(row["value"])])
            n += 1
    prices = buf.getvalue().encode("utf-8")
    received_series = [{"name": p.series.name, "series_id": p.series.series_id, "route": p.series.route,
                        "units": p.series.units, "frequency": p.frequency, "date_format": p.date_format,
                        "total": p.total, "pages": p.pages, "rows": p.rows} for p in pulls]
    digest = hashlib.sha256(prices + json.dumps(received_series, sort_keys=True).encode()).hexdigest()[:12]
    prices_dir = sp.paths.inbox / "prices"
    existing = sorted(prices_dir.glob(f"eia_*_{digest}.csv")) if prices_dir.exists() else []
    if existing:
        say(f"nothing new: the same data was pulled before ({existing[-1].name})")
        return EIAPullResult(pulls, existing[-1], None, n, withheld, unchanged=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    pull_id = f"eia_{stamp}_{digest}"
    received = {"pull_id": pull_id, "pulled_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "source": base_url, "request": {"frequency": "monthly", "start": start, "end": end},
                "series": received_series}
    received_path = sp.received_eia / f"{pull_id}.json"
    prices_path = prices_dir / f"{pull_id}.csv"
    write_atomic(received_path, (json.dumps(received, indent=1) + "\n").encode("utf-8"))
    try:
        write_atomic(prices_path, prices)
    except BaseException:
        received_path.unlink(missing_ok=True)
        raise
    return EIAPullResult(pulls, prices_path, received_path, n, withheld)


# --------------------------------------------------------------------------- into the warehouse


def _received_row_problem(row: Any, sid_default: Any) -> tuple[str | None, float | None]:
    """(reason the row is rejected or None, its value): an object with a month ``period``, a numeric
    (or null) ``value`` and a series id of its own or its series'."""
    if not isinstance(row, dict):
        return "row is not an object", None
    period = row.get("period")
    if not isinstance(period, str) or not PERIOD_RE.match(period):
        return f"period {period!r} is not a month YYYY-MM", None
    v = row.get("value")
    try:
        value = None if v is None else float(v)
    except (TypeError, ValueError):
        return f"value {v!r} is not a number", None
    if not (row.get("series") or sid_default):
        return "no series id (neither the row nor its series names one)", None
    return None, value


def _received_rows(series: list, rel: str) -> tuple[list[tuple], list[tuple[int, str, str]]]:
    """The rows of an as-received document, numbered from 1 across its series: (series_id, month,
    value, units, file, line) for the good ones, (line, reason, record) for the rejected."""
    good: list[tuple] = []
    bad: list[tuple[int, str, str]] = []
    line = 0
    for s in series:
        sid_default = s.get("series_id") if isinstance(s, dict) else None
        for row in (s.get("rows", []) if isinstance(s, dict) else []):
            line += 1
            reason, value = _received_row_problem(row, sid_default)
            if reason:
                bad.append((line, reason, json.dumps(row, default=str)[:2000]))
                continue
            y, m = PERIOD_RE.match(row["period"]).groups()
            good.append((row.get("series") or sid_default, date(int(y), int(m), 1), value,
                         row.get("units") or s.get("units"), rel, line))
    return good, bad


def carry_eia_received(con, paths, batch_id: str) -> int:
    """Load every as-received EIA file the warehouse has not seen into ``raw.eia_petroleum``.

    Runs inside the runner on the build file (the one writer). Per file, like the inbox:
    idempotent by sha256, recorded in ``metadata.ingested_files`` (kind ``eia``, name
    ``eia/<file>``), every row either loaded or in ``raw.rejected_rows`` with its reason
    (rows read = loaded + rejected). A file that is not an as-received EIA document fails
    the run, naming the file. Returns the rows loaded.
    """
    folder = paths.data_dir / "received" / "eia"
    if not folder.is_dir():
        return 0
    loaded_total = 0
    for path in sorted(folder.glob("*.json")):
        data = path.read_bytes()
        sha = hashlib.sha256(data).hexdigest()
        rel = f"eia/{path.name}"
        seen = con.execute("select 1 from metadata.ingested_files where sha256 = ? and kind = 'eia' "
                           "and status = 'loaded'", [sha]).fetchall()
        if seen:
            continue
        try:
            doc = json.loads(data)
            series = doc["series"]
            if not isinstance(series, list):
                raise TypeError("series is not a list")
        except (ValueError, KeyError, TypeError) as exc:
            raise EIAFormatError(f"{path}: not an as-received EIA file written by `basinlab pull eia` ({exc}); "
                                 "move it out of received/eia/ and pull again") from None
        good, bad = _received_rows(series, rel)
        t0 = time.perf_counter()
        con.execute("begin transaction")
        try:
            file_id = int(con.execute("select nextval('metadata.ingested_files_seq')").fetchall()[0][0])
            prev = con.execute("select coalesce(max(version), 0) from metadata.ingested_files where file_name = ?",
                               [rel]).fetchall()[0][0]
            if good:
                names = catalog.columns(EIA_TABLE)         # declared: series_id, period, value, units + lineage
                row = {"_file_id": file_id, "_batch_id": batch_id}
                con.executemany(
                    f"insert into {EIA_TABLE} ({', '.join(names)}) values "
                    f"({', '.join('current_timestamp::timestamp' if n == '_ingested_at' else '?' for n in names)})",
                    [[dict(zip(("series_id", "period", "value", "units", "_source_file", "_source_row"), g), **row)[n]
                      for n in names if n != "_ingested_at"] for g in good])
            if bad:
                con.executemany(
                    "insert into raw.rejected_rows values ('eia', ?, ?, ?, ?, ?, ?, current_timestamp::timestamp)",
                    [(rel, ln, reason, rec, file_id, batch_id) for ln, reason, rec in bad])
            con.execute("update metadata.ingested_files set status = 'superseded', superseded_by = ? "
                        "where file_name = ? and status = 'loaded'", [file_id, rel])
            con.execute(
                """insert into metadata.ingested_files
                   (file_id, kind, file_name, sha256, size_bytes, version, status, superseded_by, rows_read,
                    rows_loaded, rows_rejected, batch_id, ingested_at, seconds)
                   values (?, 'eia', ?, ?, ?, ?, 'loaded', null, ?, ?, ?, ?, current_timestamp::timestamp, ?)""",
                [file_id, rel, sha, len(data), int(prev) + 1, len(good) + len(bad), len(good), len(bad), batch_id,
                 time.perf_counter() - t0])
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise
        loaded_total += len(good)
    return loaded_total
