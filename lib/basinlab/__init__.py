"""basinlab — a notebook-driven analytics workbench for oil & gas production and accounting data.

The public API, importable from ``basinlab`` (modules load on first use, so
``import basinlab`` stays fast for the command line):

=====================  ===================================================
``open_context``       notebook parameters → paths, month, connection
``connect``            open the warehouse (``read_only=True`` for readers)
``migrate``            apply ``sql/migrations``
``ingest_inbox``       load ``inbox/<kind>/`` files into ``raw.*``
``rejected_summary``   rejected rows by file and reason
``generate_demo``      deterministic demo inbox
``ensure_demo_inbox``  demo inbox when the inbox is empty
``load_project``       the SQL model DAG
``run_models``         run the models in dependency order
``run_checks``         data-quality checks
``fit_wells``          decline-curve fits for a production table
``run_month``          the monthly pipeline
=====================  ===================================================
"""
from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "open_context": "context",
    "ensure_demo_inbox": "context",
    "NotebookContext": "context",
    "connect": "warehouse",
    "migrate": "warehouse",
    "migration_status": "warehouse",
    "ingest_inbox": "ingest",
    "rejected_summary": "ingest",
    "IngestError": "ingest",
    "generate_demo": "demo",
    "load_project": "transform",
    "run_models": "transform",
    "run_checks": "quality",
    "fit_wells": "decline",
    "run_month": "runner",
    "RunError": "runner",
}
_MODULES = {"config", "warehouse", "ingest", "sources", "demo", "transform", "decline", "quality", "report",
            "runner", "cli", "charts", "context", "service"}

__all__ = sorted(_EXPORTS) + sorted(_MODULES)


def __getattr__(name: str) -> Any:
    if name in _MODULES:
        return importlib.import_module(f".{name}", __name__)
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module 'basinlab' has no attribute {name!r}")
