"""Report periods: a month (``2026-10``), a quarter (``2026-Q3``) or a year (``2026``).

The report's pages are the same for every period; its figures are sums over the period's months
and rates per calendar day of the period, compared with the previous period of the same length and
the same period a year earlier.
"""
from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date

_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
_QUARTER = re.compile(r"^(\d{4})-[Qq]([1-4])$")
_YEAR = re.compile(r"^(\d{4})$")

#: folder names of report periods under reports/: YYYY-MM, YYYY-QN, YYYY
PERIOD_DIR_RE = re.compile(r"^\d{4}(?:-(?:0[1-9]|1[0-2])|-Q[1-4])?$")


def _add_months(d: date, n: int) -> date:
    k = d.year * 12 + d.month - 1 + n
    return date(k // 12, k % 12 + 1, 1)


@dataclass(frozen=True)
class Period:
    """``kind`` is ``month``, ``quarter`` or ``year``; ``start`` is the first day of its first month,
    ``end`` the first day of its last month (the marts' month keys)."""

    kind: str
    start: date
    end: date

    @classmethod
    def parse(cls, text: str) -> Period:
        """``YYYY-MM`` → month, ``YYYY-QN`` → quarter, ``YYYY`` → year; anything else is a ValueError
        that says what is accepted."""
        s = str(text).strip()
        if m := _MONTH.match(s):
            d = date(int(m.group(1)), int(m.group(2)), 1)
            return cls("month", d, d)
        if m := _QUARTER.match(s):
            d = date(int(m.group(1)), 3 * (int(m.group(2)) - 1) + 1, 1)
            return cls("quarter", d, _add_months(d, 2))
        if m := _YEAR.match(s):
            d = date(int(m.group(1)), 1, 1)
            return cls("year", d, date(d.year, 12, 1))
        raise ValueError(f"report period {text!r}: expected a month YYYY-MM, a quarter YYYY-QN (N = 1..4) "
                         "or a year YYYY")

    @classmethod
    def month(cls, month: str) -> Period:
        p = cls.parse(month)
        if p.kind != "month":
            raise ValueError(f"expected a month YYYY-MM, got {month!r}")
        return p

    @property
    def months(self) -> int:
        return (self.end.year - self.start.year) * 12 + self.end.month - self.start.month + 1

    @property
    def days(self) -> int:
        total, d = 0, self.start
        for _ in range(self.months):
            total += calendar.monthrange(d.year, d.month)[1]
            d = _add_months(d, 1)
        return total

    @property
    def slug(self) -> str:
        """Folder and file name part: ``2026-10``, ``2026-Q3``, ``2026``."""
        if self.kind == "month":
            return f"{self.start:%Y-%m}"
        if self.kind == "quarter":
            return f"{self.start.year}-Q{(self.start.month - 1) // 3 + 1}"
        return f"{self.start.year}"

    @property
    def label(self) -> str:
        """For sentences: ``October 2026``, ``Q3 2026``, ``2026``."""
        if self.kind == "month":
            return f"{self.start:%B %Y}"
        if self.kind == "quarter":
            return f"Q{(self.start.month - 1) // 3 + 1} {self.start.year}"
        return f"{self.start.year}"

    @property
    def noun(self) -> str:
        return self.kind

    def shift(self, months: int) -> Period:
        return Period(self.kind, _add_months(self.start, months), _add_months(self.end, months))

    def previous(self) -> Period:
        """The period of the same length just before."""
        return self.shift(-self.months)

    def year_ago(self) -> Period:
        return self.shift(-12)

    @property
    def last_month(self) -> Period:
        return Period("month", self.end, self.end)

    def __str__(self) -> str:
        return self.slug
