"""One colour per field across every chart of the PDF and the workbook.

:func:`field_colors` maps each field name to a colour deterministically: a field's preferred slot in
:data:`FIELD_PALETTE` comes from a stable hash of its name (so a field keeps its colour from one
report to the next), and collisions among the fields present are resolved in name order. The
company total, ``CORPORATE`` and unknown fields have fixed colours of their own.
"""
from __future__ import annotations

import zlib
from collections.abc import Iterable

#: colour-blind friendly, distinct in print (no greys: those are reserved below)
FIELD_PALETTE = (
    "#1f77b4",  # blue
    "#ff7f0e",  # orange
    "#2ca02c",  # green
    "#d62728",  # red
    "#9467bd",  # purple
    "#8c564b",  # brown
    "#e377c2",  # pink
    "#17becf",  # cyan
    "#bcbd22",  # olive
    "#1a3d6b",  # navy
    "#c9a227",  # ochre
    "#2a9d8f",  # teal
)

COMPANY_COLOR = "#1f2933"
FORECAST_COLOR = "#d9822b"
ACTUAL_COLOR = "#1f4e79"
FIXED = {"(all)": COMPANY_COLOR, "Company": COMPANY_COLOR, "CORPORATE": "#7b8794", "Corporate": "#7b8794",
         "UNKNOWN": "#a0a8b0", "(unknown)": "#a0a8b0", "Unknown field": "#a0a8b0"}

#: the one spelling of a field the report shows for a well without a header row
UNKNOWN_FIELD = "Unknown field"


def field_name(name: object) -> str:
    """The field as the report shows it: ``UNKNOWN``, ``(unknown)``, empty and null are one
    "Unknown field"; ``(all)`` reads "Company"."""
    if name is None or (isinstance(name, float) and name != name):
        return UNKNOWN_FIELD
    s = str(name).strip()
    if s.upper() in ("", "UNKNOWN", "(UNKNOWN)", "NONE", "NAN"):
        return UNKNOWN_FIELD
    if s == "(all)":
        return "Company"
    if s == "CORPORATE":
        return "Corporate"
    return s


def _slot(name: str) -> int:
    return zlib.crc32(name.encode("utf-8")) % len(FIELD_PALETTE)


def field_colors(fields: Iterable[object]) -> dict[str, str]:
    """Field (as :func:`field_name` shows it) → hex colour, deterministic for the set of fields."""
    names = sorted({field_name(f) for f in fields})
    out: dict[str, str] = {}
    used: set[int] = set()
    for n in names:
        if n in FIXED:
            out[n] = FIXED[n]
            continue
        slot = _slot(n)
        for k in range(len(FIELD_PALETTE)):
            cand = (slot + k) % len(FIELD_PALETTE)
            if cand not in used or len(used) >= len(FIELD_PALETTE):
                break
        used.add(cand)
        out[n] = FIELD_PALETTE[cand]
    return out


def rgba(hex_color: str, alpha: float) -> str:
    h = hex_color.lstrip("#")
    r, g, b = (int(h[i:i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"
