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


def _rows_by_month(path: Path, column: str) -> tuple[list[str], dict[str, list[list[str]]]]:
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        if column not in header:
            raise ValueError(f"{path}: no column {column!r} to split by month (columns: {', '.join(header)})")
        i = header.index(column)
        groups: dict[str, list[list[str]]] = {}
        for row in reader:
            value = row[i].strip() if i < len(row) else ""
            key = value[:7] if _MONTH.match(value) else UNDATED
            groups.setdefault(key, []).append(row)
    return header, groups


def _write(path: Path, header: list[str], rows: list[list[str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)


def monthly_deliveries(source: str | Path, inbox: str | Path, upto: str) -> list[Path]:
    """Write into ``inbox`` the files of ``source`` (a demo inbox) delivered up to month ``upto``.

    Returns the files written (idempotent: the same bytes for the same month)."""
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
            header, groups = _rows_by_month(f, column)
            for month, rows in sorted(groups.items()):
                if month != UNDATED and month > upto:
                    continue
                dst = inbox / kind_dir.name / f"{f.stem}_{month}.csv"
                _write(dst, header, rows)
                written.append(dst)
    return written


__all__ = ["MONTHLY_KINDS", "UNDATED", "monthly_deliveries"]
