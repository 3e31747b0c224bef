"""Shared fixtures: small deterministic inputs each test builds itself."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("PLOOMBER_STATS_ENABLED", "false")

from basinlab import config, warehouse  # noqa: E402

VOLVE_XLSX = config.SHARED_DATA_DIR / "volve" / "Volve production data.xlsx"
PRICES_DIR = config.SHARED_DATA_DIR / "prices"


# --------------------------------------------------------------------------- markers kept honest
#: tests that may start notebook kernels, Jupyter servers or whole runs (left out by `make test-fast`)
KERNEL_MARKERS = ("slow", "kernel")
#: basinlab commands whose process starts kernels or a Jupyter server
_KERNEL_COMMANDS = {"run", "report", "lab"}


class KernelNotAllowed(RuntimeError):
    """A test without the ``kernel`` (or ``slow``) marker started a notebook kernel or a run."""


def _refuse(item: pytest.Item, what: str) -> KernelNotAllowed:
    return KernelNotAllowed(f"{item.nodeid} {what} but is not marked: add @pytest.mark.kernel (or slow) "
                            "so that `make test-fast` leaves it out")


def _starts_kernels(args) -> bool:
    """True for ``basinlab run|report|lab …`` and ``python -m basinlab.cli run|report|lab …``."""
    if isinstance(args, (str, bytes, os.PathLike)):
        args = [args]
    argv = [os.fsdecode(a) if isinstance(a, (bytes, os.PathLike)) else str(a) for a in args]
    for i, a in enumerate(argv[:-1]):
        if (Path(a).name == "basinlab" or a == "basinlab.cli") and argv[i + 1] in _KERNEL_COMMANDS:
            return True
    return False


def _guarded(item: pytest.Item):
    """Patch kernel launches and kernel-starting commands to raise for an unmarked test."""
    import contextlib
    import subprocess

    from jupyter_client.manager import KernelManager

    if any(item.get_closest_marker(m) for m in KERNEL_MARKERS):
        return contextlib.nullcontext()
    stack = contextlib.ExitStack()
    mp = stack.enter_context(pytest.MonkeyPatch.context())

    async def no_kernel(self, *args, **kwargs):
        raise _refuse(item, "starts a notebook kernel")

    real_popen = subprocess.Popen

    class GuardedPopen(real_popen):
        def __init__(self, args, *a, **kw):
            if _starts_kernels(args):
                raise _refuse(item, f"runs {' '.join(map(str, args if isinstance(args, list) else [args]))}")
            super().__init__(args, *a, **kw)

    mp.setattr(KernelManager, "_async_launch_kernel", no_kernel)
    mp.setattr(subprocess, "Popen", GuardedPopen)
    return stack


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item):
    with _guarded(item):
        yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    with _guarded(item):
        yield


@pytest.fixture
def con(tmp_path):
    """A migrated warehouse in a temp dir."""
    c = warehouse.connect(tmp_path / "w.duckdb")
    warehouse.migrate(c)
    yield c
    c.close()


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def demo_warehouse(d: Path, *, wells: int, months: int, seed: int, end_month: str = "2024-06",
                   name: str = "w.duckdb", extra_files: dict[str, str] | None = None) -> Path:
    """A demo inbox in ``d/inbox`` (plus ``extra_files``, inbox-relative path -> text), ingested and
    transformed into the warehouse ``d/name``; its path."""
    from basinlab import generate_demo, ingest_inbox, run_models

    generate_demo(d / "inbox", wells=wells, months=months, end_month=end_month, seed=seed)
    for rel, text in (extra_files or {}).items():
        write(d / "inbox" / rel, text)
    path = d / name
    con = warehouse.connect(path)
    try:
        warehouse.migrate(con)
        ingest_inbox(con, d / "inbox", "b1")
        run_models(con, run_id="r")
    finally:
        con.close()
    return path


PRODUCTION_HEADER = "well_id,production_month,days_on,oil_bbl,gas_mcf,water_bbl\n"
