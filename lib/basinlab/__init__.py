"""basinlab — a notebook-driven analytics workbench for oil & gas production and accounting data."""
from __future__ import annotations

__version__ = "0.1.0"
