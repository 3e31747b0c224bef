"""What every source adapter returns to the ingest core."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd


class SourceError(Exception):
    """A file that cannot be read at all. The message names the file and the reason."""

    def __init__(self, file: str, reason: str, line: int | None = None):
        self.file = file
        self.reason = reason
        self.line = line
        where = f"{file}, line {line}" if line is not None else file
        super().__init__(f"{where}: {reason}")


@dataclass
class Reject:
    """One source row that was not loaded, with the line it came from and why."""

    line: int | None
    reason: str
    record: dict[str, Any]


@dataclass
class SourceRead:
    """A whole file read by an adapter that validates in Python (small, odd formats).

    ``tables`` maps a raw table name (``well_header``, ``well_production``,
    ``well_injection``, …) to a frame holding that table's canonical columns,
    already typed and in canonical units, plus ``_source_row`` (the line or
    sheet row the value came from). ``rows_read`` counts the source rows;
    it must equal ``rows_loaded + len(rejects)`` where ``rows_loaded`` counts
    the source rows that contributed to ``tables``.
    """

    tables: dict[str, pd.DataFrame]
    rejects: list[Reject] = field(default_factory=list)
    rows_read: int = 0
    rows_loaded: int = 0
    notes: list[str] = field(default_factory=list)
