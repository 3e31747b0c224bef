"""``basinlab pull gl``: the GL stream's batches into the inbox, one file per batch, exactly once.

The puller asks the server (``GET /generator``) which stream it serves, then reads
``GET /generator/gl/stream?after=<last sequence it has>``. Every batch is checked
(its sequence is the next one, its id is ``<stream>-<sequence>``, every journal
balances to the cent, the line and journal counts match) and written as
``inbox/gl/stream_<batch id>.csv`` — the canonical GL layout — atomically (a hidden
temporary file renamed into place); only then does the state file
(``<data-dir>/service/pull_gl.json``: the last sequence per stream) move on.

Restarting is safe at any point. Killed after the file and before the state, the
puller fetches that batch again, finds the same bytes under the same name and
moves on; killed before the file, it fetches the batch again. A batch is never
skipped (sequences must follow one another; a gap stops the puller with an error)
and never written twice (one name per batch id; a different content under an
existing name is an error, never an overwrite). The next run loads the new files
as usual; loading the same file twice loads it once.

Connection errors, timeouts, 429 and 5xx are retried with exponential backoff and
jitter (``Retry-After`` honoured); the attempt count starts again after each batch
that arrives. 401/403 stop at once with what to do. One puller per data dir (a lock).
"""
from __future__ import annotations

import csv
import io
import json
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from ..demo import GL_COLUMNS
from .files import ServicePaths, exclusive, write_atomic
from .generator import batch_id as make_batch_id
from .generator import journals_balance
from .http import Backoff, RetriesExhausted, retry_after_seconds
from .http import request as http_request

Progress = Callable[[str], None]
#: seconds between looks for a new stream once the current one has ended (--follow)
IDLE_POLL_S = 60.0
#: the server sends a heartbeat at least every 15 s: no byte for this long means a dead connection
READ_TIMEOUT_S = 60.0


class PullError(Exception):
    """The puller cannot go on; the message says why and what to do."""


@dataclass
class PullResult:
    stream_id: str | None = None
    written: list[str] = field(default_factory=list)
    already_present: list[str] = field(default_factory=list)
    last_sequence: int | None = None
    ended: bool = False


def batch_path(inbox: Path, bid: str) -> Path:
    return inbox / "gl" / f"stream_{bid}.csv"


def batch_csv(lines: list[dict[str, Any]]) -> bytes:
    """The canonical GL CSV of a batch (header row, empty cells for nulls, '\\n' line ends)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(GL_COLUMNS)
    for r in lines:
        w.writerow(["" if r.get(c) is None else str(r.get(c)) for c in GL_COLUMNS])
    return buf.getvalue().encode("utf-8")


def load_state(sp: ServicePaths) -> dict[str, Any]:
    if not sp.pull_gl_state.exists():
        return {"version": 1, "streams": {}}
    try:
        state = json.loads(sp.pull_gl_state.read_text(encoding="utf-8"))
        if not isinstance(state.get("streams"), dict):
            raise ValueError("no streams")
        return state
    except (OSError, ValueError) as exc:
        raise PullError(f"puller state {sp.pull_gl_state} is unreadable ({exc}); move it away to start again "
                        "(batches already in the inbox are recognised and not written twice)") from None


def save_state(sp: ServicePaths, state: dict[str, Any]) -> None:
    write_atomic(sp.pull_gl_state, (json.dumps(state, indent=1, sort_keys=True) + "\n").encode("utf-8"))


def check_batch(msg: dict[str, Any], stream_id: str, expected: int) -> list[dict[str, Any]]:
    """The batch's lines, after checking it is the expected, complete, balanced batch."""
    seq = msg.get("sequence")
    if msg.get("stream_id") != stream_id:
        raise PullError(f"batch from stream {msg.get('stream_id')!r} while reading {stream_id!r}")
    if not isinstance(seq, int):
        raise PullError(f"batch without a sequence number: {str(msg)[:200]}")
    if seq != expected:
        raise PullError(f"expected batch {expected} of {stream_id}, got {seq}: "
                        + ("a batch is missing" if seq > expected else "a batch came twice")
                        + "; nothing was written for it (rerun to try again)")
    if msg.get("batch_id") != make_batch_id(stream_id, seq):
        raise PullError(f"batch {seq} has id {msg.get('batch_id')!r}, expected {make_batch_id(stream_id, seq)!r}")
    lines = msg.get("lines")
    if not isinstance(lines, list) or not lines or not all(isinstance(r, dict) for r in lines):
        raise PullError(f"batch {msg.get('batch_id')} has no lines")
    missing = [c for c in GL_COLUMNS if c not in lines[0]]
    if missing:
        raise PullError(f"batch {msg.get('batch_id')} lines lack column(s) {missing}")
    if msg.get("line_count") not in (None, len(lines)):
        raise PullError(f"batch {msg.get('batch_id')} says {msg.get('line_count')} lines and has {len(lines)}")
    journals = {r.get("journal_id") for r in lines}
    if msg.get("journals") not in (None, len(journals)):
        raise PullError(f"batch {msg.get('batch_id')} says {msg.get('journals')} journals and has {len(journals)}")
    try:
        unbalanced = journals_balance(lines)
    except (ValueError, TypeError, AttributeError) as exc:
        raise PullError(f"batch {msg.get('batch_id')} has an amount that is not a number: {exc}") from None
    if unbalanced:
        raise PullError(f"batch {msg.get('batch_id')}: journal(s) {unbalanced[:5]} do not balance "
                        "(debits != credits); nothing was written for it")
    return lines


class GLPuller:
    """Pulls one server's GL stream into one data dir (see the module docstring)."""

    def __init__(self, source: str, sp: ServicePaths, *, key: str | None = None, backoff: Backoff | None = None,
                 progress: Progress | None = None, stop: threading.Event | None = None,
                 idle_poll_s: float = IDLE_POLL_S, read_timeout_s: float = READ_TIMEOUT_S):
        self.source = source.rstrip("/")
        self.sp = sp
        self.key = key
        self.backoff = backoff or Backoff()
        self.say = progress or (lambda _m: None)
        self.stop = stop or threading.Event()
        self.idle_poll_s = idle_poll_s
        self.headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.timeout = httpx.Timeout(connect=10.0, read=read_timeout_s, write=10.0, pool=10.0)

    # ----------------------------------------------------------------- server answers
    def _refused(self, resp: httpx.Response) -> PullError:
        try:
            msg = resp.json().get("error", {}).get("message", "")
        except ValueError:
            msg = resp.text[:200]
        if resp.status_code in (401, 403):
            hint = ("set BASINLAB_API_KEY (or --key-file) to a key with read permission: "
                    "`basinlab keys create --name puller --permission read` on the server")
            return PullError(f"{self.source} refused the key (HTTP {resp.status_code}: {msg}); {hint}")
        return PullError(f"{self.source} answered HTTP {resp.status_code}: {msg}")

    def stream_info(self, client: httpx.Client) -> dict[str, Any]:
        try:
            resp = http_request(client, "GET", f"{self.source}/generator", backoff=self.backoff,
                                what=f"GET {self.source}/generator", on_retry=self.say, headers=self.headers)
        except RetriesExhausted as exc:
            raise PullError(str(exc)) from None
        if resp.status_code != 200:
            raise self._refused(resp)
        try:
            info = resp.json()
            info["stream_id"], info["batches"]["total"]  # noqa: B018 - shape check
        except (ValueError, KeyError, TypeError):
            raise PullError(f"{self.source}/generator did not answer with a GL generator description") from None
        return info

    # ----------------------------------------------------------------- one batch
    def _store(self, msg: dict[str, Any], state: dict[str, Any], stream_id: str, result: PullResult) -> None:
        streams = state.setdefault("streams", {})
        last = streams.get(stream_id, {}).get("last_sequence", -1)
        lines = check_batch(msg, stream_id, last + 1)
        bid = msg["batch_id"]
        data = batch_csv(lines)
        path = batch_path(self.sp.paths.inbox, bid)
        if path.exists():
            if path.read_bytes() != data:
                raise PullError(f"{path} exists with other content than batch {bid}: refusing to overwrite it "
                                "(move it away if it is not from this stream)")
            result.already_present.append(bid)
            self.say(f"batch {bid}: already in the inbox ({path.name})")
        else:
            write_atomic(path, data)
            result.written.append(bid)
            self.say(f"batch {bid}: {msg.get('journals')} journals, {len(lines)} lines -> "
                     f"{path.relative_to(self.sp.paths.data_dir)}")
        streams[stream_id] = {"last_sequence": msg["sequence"], "last_batch_id": bid,
                              "updated_at": datetime.now(UTC).isoformat(timespec="seconds")}
        state["source"] = self.source
        save_state(self.sp, state)
        result.last_sequence = msg["sequence"]

    # ----------------------------------------------------------------- the loop
    def run(self, follow: bool = False, max_batches: int | None = None) -> PullResult:
        """Fetch every batch after the last one the data dir has; with ``follow``, keep waiting for more."""
        with exclusive(self.sp.root / "pull_gl.lock", f"basinlab pull gl for {self.sp.paths.data_dir}"), \
                httpx.Client(timeout=self.timeout) as client:
            state = load_state(self.sp)
            info = self.stream_info(client)
            result = PullResult(stream_id=info["stream_id"])
            stream_id = info["stream_id"]
            last = state["streams"].get(stream_id, {}).get("last_sequence", -1)
            self.say(f"stream {stream_id} at {self.source}: {info['batches']['released']}/"
                     f"{info['batches']['total']} batches out; this data dir has up to sequence {last}")
            attempt = 0
            while not self.stop.is_set():
                last = state["streams"].get(stream_id, {}).get("last_sequence", -1)
                left = None if max_batches is None else max_batches - len(result.written) - len(
                    result.already_present)
                if left is not None and left <= 0:
                    return result
                params = {"after": str(last), "follow": "true" if follow else "false"}
                if left is not None:
                    params["limit"] = str(left)
                progressed = False
                try:
                    outcome = self._read_stream(client, params, state, stream_id, result)
                    if outcome in ("caught_up", "limit"):
                        return result
                    if outcome == "end":
                        result.ended = True
                        if not follow:
                            return result
                        self.say(f"stream {stream_id} is complete; looking for a new stream every "
                                 f"{self.idle_poll_s:.0f}s")
                        new_id = stream_id
                        while new_id == stream_id and not self.stop.wait(self.idle_poll_s):
                            new_id = self.stream_info(client)["stream_id"]
                        if new_id != stream_id:
                            self.say(f"the server now serves stream {new_id}")
                            stream_id = result.stream_id = new_id
                            result.ended = False
                        continue
                    progressed = outcome == "progress"
                    problem = "the stream closed early"
                except (httpx.RequestError, _Retry) as exc:
                    problem = str(exc) or type(exc).__name__
                    progressed = isinstance(exc, _Retry) and exc.progressed
                    retry_after = exc.retry_after if isinstance(exc, _Retry) else None
                else:
                    retry_after = None
                attempt = 1 if progressed else attempt + 1
                if attempt >= self.backoff.attempts:
                    raise PullError(f"the GL stream at {self.source} kept failing ({attempt} times); "
                                    f"last: {problem}. Rerun to continue from sequence "
                                    f"{state['streams'].get(stream_id, {}).get('last_sequence', -1) + 1}")
                wait = self.backoff.delay(attempt, retry_after)
                self.say(f"stream interrupted ({problem}); reconnecting in {wait:.1f}s")
                if self.stop.wait(wait):
                    break
            return result

    def _read_stream(self, client: httpx.Client, params: dict[str, str], state: dict[str, Any], stream_id: str,
                     result: PullResult) -> str:
        """Read one stream connection. Returns caught_up | end | limit | progress | idle."""
        got = 0
        with client.stream("GET", f"{self.source}/generator/gl/stream", params=params,
                           headers=self.headers) as resp:
            if resp.status_code in (429, 500, 502, 503, 504):
                raise _Retry(f"HTTP {resp.status_code}", retry_after_seconds(resp), False)
            if resp.status_code != 200:
                resp.read()
                raise self._refused(resp)
            if resp.headers.get("x-stream-id") not in (None, stream_id):
                raise PullError(f"the server switched to stream {resp.headers.get('x-stream-id')} while the puller "
                                f"read {stream_id}: rerun to follow the new stream")
            try:
                for line in resp.iter_lines():
                    if self.stop.is_set():
                        return "progress" if got else "idle"
                    if not line.strip():
                        continue
                    try:
                        msg = json.loads(line)
                    except ValueError:
                        raise PullError(f"the stream sent a line that is not JSON: {line[:200]!r}") from None
                    kind = msg.get("type")
                    if kind == "batch":
                        self._store(msg, state, stream_id, result)
                        got += 1
                    elif kind == "caught_up":
                        self.say(f"up to date: next batch {msg.get('next_sequence')} at {msg.get('next_release_at')}")
                        return "caught_up"
                    elif kind == "end":
                        return "end"
                    elif kind != "heartbeat":
                        raise PullError(f"the stream sent an unknown message type {kind!r}")
            except httpx.RequestError as exc:
                raise _Retry(f"{type(exc).__name__}: {exc}", None, got > 0) from None
        if "limit" in params and got >= int(params["limit"]):
            return "limit"
        return "progress" if got else "idle"


class _Retry(Exception):
    def __init__(self, message: str, retry_after: float | None, progressed: bool):
        super().__init__(message)
        self.retry_after, self.progressed = retry_after, progressed


def read_key(key_file: str | None, env: str = "BASINLAB_API_KEY") -> str | None:
    """The API key: from ``key_file`` (first line) or the ``env`` variable — never a command-line value,
    which other users could read in the process list."""
    if key_file:
        try:
            return Path(key_file).read_text(encoding="utf-8").strip().splitlines()[0].strip()
        except (OSError, IndexError):
            raise PullError(f"cannot read an API key from {key_file}") from None
    return os.environ.get(env) or None
