"""The service layer: a read-only data API over the published warehouse, API keys and their audit,
the demo GL generator served as a history and a stream, and the pullers that feed the inbox.

=================  =================================================================
module             owns
=================  =================================================================
``files``          where the service keeps its files (``<data-dir>/service/``), atomic writes
``keys``           the API key store: create, list, revoke, rotate, verify (SHA-256, constant time)
``audit``          the append-only access log and its carry into ``metadata.connection_audit``
``published``      read-only connections to the *published* warehouse, one per publish
``query``          the data resources, filters validated against the warehouse, keyset pages
``generator``      the demo GL ledger served as a history and as timed batches
``runs``           ``POST /runs``: start ``basinlab run`` detached; run status
``api``            the FastAPI application (``basinlab serve``)
``http``           retries with backoff for the pullers
``pull``           ``basinlab pull gl``: stream batches → ``inbox/gl/`` (idempotent, restartable)
``eia``            ``basinlab pull eia``: EIA API v2 → ``inbox/prices/`` + the as-received series
``carry``          the runner hook: service files → the build (audit, EIA as received)
=================  =================================================================

The one-writer rule holds: nothing here opens the published warehouse for
writing. The API reads it read-only; the pullers write files; what must land in
the warehouse (the access log, EIA series as received) is carried in by the next
run, on its build file (:func:`basinlab.service.carry.carry_service_files`).

Only the standard library is imported here, so ``import basinlab.service.carry``
(the runner's hook) never pulls in FastAPI.
"""
