"""Test-only fault injection: kill the process at a named point of a run.

``BASINLAB_FAULT=after:transform basinlab run …`` makes the run ``SIGKILL`` itself
right after the transform step, exactly as ``kill -9`` or an out-of-memory kill
would; several points may be given, comma-separated (the first one reached fires).
The fault-injection tests (``tests/test_faults.py``) use it to kill runs at
deterministic places and check what the next run and ``basinlab runs`` make of
the remains. Nothing sets it in normal operation; an unset or empty variable
costs one dictionary lookup per point.

Points (see docs/ARCHITECTURE.md, "Fault injection"):

=====================  ==========================================================
``after:<step>``       a writer step finished and was recorded (ingest, transform,
                       decline, quality)
``publish:linked``     the published file is hard-linked into snapshots/, the
                       build not yet renamed over it
``publish:replaced``   the build was renamed over the published file, the run log
                       not yet written
``report:swap``        the old report folder was moved aside, the new one not yet
                       renamed into place
``pdf``                the browser printing the PDF is running
=====================  ==========================================================
"""
from __future__ import annotations

import os
import signal

ENV_VAR = "BASINLAB_FAULT"

POINTS = ("after:ingest", "after:transform", "after:decline", "after:quality", "publish:linked",
          "publish:replaced", "report:swap", "pdf")


def fault_point(name: str) -> None:
    """SIGKILL this process when ``$BASINLAB_FAULT`` names ``name`` (test-only)."""
    spec = os.environ.get(ENV_VAR)
    if spec and name in (p.strip() for p in spec.split(",")):
        os.kill(os.getpid(), signal.SIGKILL)
