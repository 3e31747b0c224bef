"""The runner's hook: what the service left beside the warehouse, carried into the run's build.

Called once per run by :mod:`basinlab.runner` on the build file, after the migrations
and the run-log import, before the notebooks — so the runner stays the only writer:

* the API's access log → ``metadata.connection_audit`` (:func:`.audit.carry_audit_log`);
* EIA series as received (``received/eia/*.json``, written by ``basinlab pull eia``) →
  ``raw.eia_petroleum`` (:func:`.eia.carry_eia_received`).

Both are idempotent: a second run inserts nothing twice. Imports only the standard
library and the two modules, never FastAPI.
"""
from __future__ import annotations

from .audit import carry_audit_log
from .eia import carry_eia_received


def carry_service_files(con, paths, batch_id: str) -> dict[str, int]:
    """Carry the access log and the as-received EIA files into the build; rows inserted per table."""
    return {"metadata.connection_audit": carry_audit_log(con, paths, batch_id),
            "raw.eia_petroleum": carry_eia_received(con, paths, batch_id)}
