"""The demo GL ledger, served: a history at once, the rest as timed batches of balanced journals.

The ledger is exactly the demo generator's (:func:`basinlab.demo.demo_gl`, the lines
``basinlab demo`` writes to ``gl/demo_gl.csv`` for the same seed, wells, months and
end month), so streamed GL matches the demo's wells and production. It is split in
two:

* **history** — the journals of the window's first ``months - stream_months``
  months, released when the generator starts (``GET /generator/gl``);
* **stream** — the journals of the last ``stream_months`` months, in ledger order,
  cut into batches of ``batch_journals`` whole journals (so every batch balances).
  Batch ``n`` (``sequence``, from 0) is released at ``epoch + n × interval``
  (``GET /generator/gl/stream``); once released it is part of the history too.

Every batch has an id ``<stream id>-<sequence:06d>``. The stream id is a hash of
what decides the content (seed, wells, months, end month, stream months, batch
size), not of the timing: the same seed and settings give the same batches, and
the same epoch and time give the same released set. With the default epoch (the
server's start) a restarted server replays the stream from sequence 0 at the same
pace; a puller that already has batches up to ``n`` just waits for ``n + 1``. Pin
``epoch`` to make the release schedule a pure function of the wall clock.

When the last batch is out the stream says so (an ``end`` message); a new window
(another end month or seed) is a new stream id.
"""
from __future__ import annotations

import hashlib
import math
import threading
import time
from dataclasses import asdict, dataclass, replace
from datetime import UTC, date, datetime
from typing import Any

from ..demo import GL_COLUMNS

DEFAULT_INTERVAL_S = 30.0
DEFAULT_BATCH_JOURNALS = 100
DEFAULT_STREAM_MONTHS = 12
#: a stream with nothing to send says it is alive this often (seconds)
HEARTBEAT_S = 15.0


def _previous_month(today: date | None = None) -> str:
    d = today or date.today()
    y, m = (d.year, d.month - 1) if d.month > 1 else (d.year - 1, 12)
    return f"{y:04d}-{m:02d}"


@dataclass(frozen=True)
class GeneratorConfig:
    """What the served ledger is (seed … batch_journals) and when batches are released (interval, epoch)."""

    seed: int = 42
    wells: int = 200
    months: int = 60
    end_month: str = ""  # "" = the previous calendar month when the generator starts
    stream_months: int = DEFAULT_STREAM_MONTHS
    batch_journals: int = DEFAULT_BATCH_JOURNALS
    interval_s: float = DEFAULT_INTERVAL_S
    epoch: float | None = None  # unix time of batch 0; None = when the generator starts

    def validated(self, now: float) -> GeneratorConfig:
        from ..config import parse_month

        end = self.end_month or _previous_month(datetime.fromtimestamp(now).date())
        parse_month(end)
        problems = []
        if not 1 <= self.wells <= 70_000:
            problems.append(f"wells must be 1..70000, got {self.wells}")
        if self.months < 1:
            problems.append(f"months must be at least 1, got {self.months}")
        if not 0 <= self.stream_months <= self.months:
            problems.append(f"stream_months must be 0..months ({self.months}), got {self.stream_months}")
        if self.batch_journals < 1:
            problems.append(f"batch_journals must be at least 1, got {self.batch_journals}")
        if not (self.interval_s > 0 and math.isfinite(self.interval_s)):
            problems.append(f"interval must be a positive number of seconds, got {self.interval_s}")
        if problems:
            raise ValueError("GL generator: " + "; ".join(problems))
        return replace(self, end_month=end, epoch=float(now if self.epoch is None else self.epoch))

    @property
    def stream_id(self) -> str:
        content = f"{self.seed}|{self.wells}|{self.months}|{self.end_month}|{self.stream_months}|{self.batch_journals}"
        return f"gl{self.seed}-{hashlib.sha256(content.encode()).hexdigest()[:10]}"


def batch_id(stream_id: str, sequence: int) -> str:
    return f"{stream_id}-{sequence:06d}"


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds")


class GLGenerator:
    """The ledger of one :class:`GeneratorConfig`, its batches and its release schedule."""

    def __init__(self, config: GeneratorConfig, clock=time.time):
        self.clock = clock
        self.config = config.validated(clock())
        c = self.config
        from ..demo import _month_list, demo_gl

        self.lines = demo_gl(wells=c.wells, months=c.months, end_month=c.end_month, seed=c.seed)
        window = [f"{y:04d}-{m:02d}" for y, m in _month_list(c.end_month, c.months)]
        self.first_month, self.last_month = window[0], window[-1]
        self.first_stream_month = window[c.months - c.stream_months] if c.stream_months else None
        journal_ids = self.lines.column("journal_id").to_pylist()
        dates = self.lines.column("transaction_date").to_pylist()
        # journals in file order: [(first line, end line)]
        starts = [i for i in range(len(journal_ids)) if i == 0 or journal_ids[i] != journal_ids[i - 1]]
        bounds = list(zip(starts, starts[1:] + [len(journal_ids)]))
        if self.first_stream_month is None:
            first_streamed = len(bounds)
        else:
            first_streamed = next((j for j, (s, _e) in enumerate(bounds) if dates[s][:7] >= self.first_stream_month),
                                  len(bounds))
        self.history_lines = bounds[first_streamed][0] if first_streamed < len(bounds) else len(journal_ids)
        self.history_journals = first_streamed
        streamed = bounds[first_streamed:]
        J = c.batch_journals
        #: per batch: (first line, end line, journals)
        self.batches: list[tuple[int, int, int]] = [
            (streamed[k][0], streamed[min(k + J, len(streamed)) - 1][1], min(J, len(streamed) - k))
            for k in range(0, len(streamed), J)]
        self.stream_id = c.stream_id
        self._con = None
        self._con_lock = threading.Lock()

    # ----------------------------------------------------------------- schedule
    @property
    def n_batches(self) -> int:
        return len(self.batches)

    def release_time(self, sequence: int) -> float:
        return self.config.epoch + sequence * self.config.interval_s

    def released(self, now: float | None = None) -> int:
        """How many batches are out at ``now`` (batch n is out from ``epoch + n × interval``)."""
        now = self.clock() if now is None else now
        if now < self.config.epoch:
            return 0
        return min(self.n_batches, int((now - self.config.epoch) // self.config.interval_s) + 1)

    def info(self, now: float | None = None) -> dict[str, Any]:
        now = self.clock() if now is None else now
        out = self.released(now)
        cfg = asdict(self.config)
        cfg["epoch"] = _iso(self.config.epoch)
        return {
            "stream_id": self.stream_id, "config": cfg,
            "window": {"first_month": self.first_month, "last_month": self.last_month,
                       "first_stream_month": self.first_stream_month},
            "history": {"journals": self.history_journals, "lines": self.history_lines},
            "batches": {"total": self.n_batches, "released": out,
                        "last_sequence": out - 1 if out else None,
                        "next_sequence": out if out < self.n_batches else None,
                        "next_release_at": _iso(self.release_time(out)) if out < self.n_batches else None},
            "now": _iso(now),
        }

    # ----------------------------------------------------------------- content
    def batch(self, sequence: int) -> dict[str, Any]:
        """Batch ``sequence``: its id, release time and lines (canonical GL columns, as text)."""
        start, end, journals = self.batches[sequence]
        lines = self.lines.slice(start, end - start).to_pylist()
        debit = sum(_cents(r["debit_amount"]) for r in lines)
        credit = sum(_cents(r["credit_amount"]) for r in lines)
        return {"type": "batch", "stream_id": self.stream_id, "batch_id": batch_id(self.stream_id, sequence),
                "sequence": sequence, "released_at": _iso(self.release_time(sequence)),
                "journals": journals, "line_count": len(lines),
                "debit_total": _fmt_cents(debit), "credit_total": _fmt_cents(credit), "lines": lines}

    def connection(self):
        """An in-memory DuckDB holding the ledger as ``wh.generator.gl_lines`` (typed), built once.

        ``batch_sequence`` / ``batch_id`` are null for history lines; a line is released when
        ``batch_sequence`` is null or below :meth:`released`.
        """
        with self._con_lock:
            if self._con is None:
                import duckdb
                import pyarrow as pa

                seq = [None] * self.history_lines
                for k, (s, e, _j) in enumerate(self.batches):
                    seq.extend([k] * (e - s))
                t = self.lines.append_column("batch_sequence", pa.array(seq, pa.int32()))
                con = duckdb.connect(":memory:", config={"threads": 1})
                con.execute("attach ':memory:' as wh")
                con.execute("create schema wh.generator")
                con.register("_lines", t)
                con.execute(f"""create table wh.generator.gl_lines as
                    select journal_id, cast(line_number as integer) as line_number,
                           cast(transaction_date as date) as transaction_date, account_code, account_name,
                           description, well_id, afe_number, partner_id,
                           cast(debit_amount as decimal(18, 2)) as debit_amount,
                           cast(credit_amount as decimal(18, 2)) as credit_amount, currency,
                           batch_sequence,
                           case when batch_sequence is not null
                                then '{self.stream_id}-' || lpad(cast(batch_sequence as varchar), 6, '0') end
                               as batch_id
                    from _lines""")
                con.unregister("_lines")
                self._con = con
            return self._con

    def close(self) -> None:
        with self._con_lock:
            if self._con is not None:
                self._con.close()
                self._con = None


def _cents(v: str | None) -> int:
    if not v:
        return 0
    neg = v.startswith("-")
    whole, _, frac = v.lstrip("-").partition(".")
    c = int(whole or 0) * 100 + int((frac + "00")[:2])
    return -c if neg else c


def _fmt_cents(c: int) -> str:
    return f"{'-' if c < 0 else ''}{abs(c) // 100}.{abs(c) % 100:02d}"


def journals_balance(lines: list[dict[str, Any]]) -> list[str]:
    """Journal ids in ``lines`` whose debits and credits differ (exact, in cents)."""
    sums: dict[str, int] = {}
    for r in lines:
        sums[r["journal_id"]] = sums.get(r["journal_id"], 0) + _cents(r.get("debit_amount")) - _cents(
            r.get("credit_amount"))
    return sorted(j for j, s in sums.items() if s != 0)


__all__ = ["GeneratorConfig", "GLGenerator", "GL_COLUMNS", "batch_id", "journals_balance", "HEARTBEAT_S"]
