"""A demo inbox delivered month by month, as an operator's monthly files arrive.

:func:`basinlab.demo.generate_demo` writes one file per kind holding the whole history; a second
run for a later month rewrites every file (each a restatement). To exercise incremental runs
(``bench/pipeline.py --incremental``, ``tests/test_incremental.py``) this splits the monthly facts
— production and GL lines — into one file per month (``well_production/demo_production_2024-06.csv``)
and copies the other kinds (header, prices, FX) whole. Delivering up to month M-1, then up to M,
adds exactly month M's files; a file the source has no month for (an unparseable date) goes in
``<name>_undated.csv`` with the first delivery, so every row of the source is delivered once.
"""
from __future__ import annotations

import csv
import re
import shutil
from pathlib import Path

from . import config

#: kind folder -> the column whose YYYY-MM prefix says the month of a row
MONTHLY_KINDS: dict[str, str] = {"well_production": "production_month", "gl": "transaction_date"}
_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])")
UNDATED = "undated"


#: month files a split keeps open at once (more months close them all, then append on)
MAX_OPEN_FILES = 64


def _month_of(row: list[str], i: int) -> str:
    value = row[i].strip() if i < len(row) else ""
    return value[:7] if _MONTH.match(value) else UNDATED


class _MonthFiles:
    """The per-month files of one source file, written row by row as the source streams by: memory
    stays one row (and a few open files), whatever the size of the source (a basin's GL: 11 GB)."""

    def __init__(self, inbox_dir: Path, stem: str, header: list[str]):
        self.dir, self.stem, self.header = inbox_dir, stem, header
        self.open: dict[str, tuple] = {}
        self.started: dict[str, Path] = {}

    def write(self, month: str, row: list[str]) -> None:
        if month not in self.open:
            if len(self.open) >= MAX_OPEN_FILES:
                self.close()
            path = self.dir / f"{self.stem}_{month}.csv"
            fh = path.open("a" if month in self.started else "w", newline="", encoding="utf-8")
            w = csv.writer(fh, lineterminator="\n")
            if month not in self.started:
                w.writerow(self.header)
                self.started[month] = path
            self.open[month] = (fh, w)
        self.open[month][1].writerow(row)

    def close(self) -> None:
        for fh, _w in self.open.values():
            fh.close()
        self.open.clear()


def _split_by_month(path: Path, column: str, inbox_dir: Path, upto: str) -> list[Path]:
    """Write the rows of ``path`` into ``<stem>_<YYYY-MM>.csv`` files of ``inbox_dir``, months up to
    ``upto`` (and ``_undated``), in the source's order; returns the files written, by month."""
    inbox_dir.mkdir(parents=True, exist_ok=True)
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        if column not in header:
            raise ValueError(f"{path}: no column {column!r} to split by month (columns: {', '.join(header)})")
        i = header.index(column)
        out = _MonthFiles(inbox_dir, path.stem, header)
        try:
            for row in reader:
                month = _month_of(row, i)
                if month == UNDATED or month <= upto:
                    out.write(month, row)
        finally:
            out.close()
    return [out.started[m] for m in sorted(out.started)]


def monthly_deliveries(source: str | Path, inbox: str | Path, upto: str) -> list[Path]:
    """Write into ``inbox`` the files of ``source`` (a demo inbox) delivered up to month ``upto``.

    Returns the files written (idempotent: the same bytes for the same month). The monthly kinds
    are split as they stream by: memory does not grow with the source."""
    config.parse_month(upto)
    source, inbox = Path(source), Path(inbox)
    written: list[Path] = []
    for kind_dir in sorted(p for p in source.iterdir() if p.is_dir()):
        column = MONTHLY_KINDS.get(kind_dir.name)
        for f in sorted(p for p in kind_dir.iterdir() if p.is_file()):
            if column is None or f.suffix.lower() != ".csv":
                dst = inbox / kind_dir.name / f.name
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(f, dst)
                written.append(dst)
                continue
            written.extend(_split_by_month(f, column, inbox / kind_dir.name, upto))
    return written


__all__ = ["MAX_OPEN_FILES", "MONTHLY_KINDS", "UNDATED", "monthly_deliveries"]
