-- V005: metadata.connection_audit — every request the data API (`basinlab serve`) answered.
-- The API never writes the warehouse: it appends one JSON line per request to
-- <data-dir>/service/access.jsonl, and the next run carries the lines it has not seen yet into
-- this table on its build file (basinlab.service.audit.carry_audit_log; idempotent by request_id).
-- Secrets are never logged: a request is known by its key's id and name only.

create table if not exists metadata.connection_audit (
    request_id               varchar primary key,  -- uuid4 hex, one per request
    requested_at             timestamp not null,   -- UTC, when the request arrived
    key_id                   varchar,              -- the key's public id (null: no or malformed key)
    key_name                 varchar,              -- the key's name (null: not authenticated)
    permission               varchar,              -- the key's permission: read | write | admin
    auth                     varchar not null,     -- ok | old_secret | missing | malformed | unknown | revoked | expired | rate_limited | public
    client                   varchar,              -- client address as the server saw it
    method                   varchar not null,
    route                    varchar not null,     -- route template, e.g. /runs/{run_id}
    path                     varchar not null,
    parameters               varchar,              -- JSON: query and path parameters, POST fields
    status                   integer not null,     -- HTTP status sent
    rows_returned            bigint,               -- data rows (or stream batches) sent; null where none apply
    duration_ms              double not null,
    warehouse_version        varchar,              -- which publish answered: <inode>-<mtime_ns> of warehouse.duckdb
    _source_file             varchar not null,     -- access log file name the line came from
    _batch_id                varchar not null,     -- run that carried the line in
    _carried_at              timestamp not null
);
