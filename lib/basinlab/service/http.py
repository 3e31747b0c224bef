"""HTTP with retries and backoff, for the pullers (GL stream, EIA).

Retried: connection errors and timeouts, 429 and 5xx answers. A ``Retry-After``
header (seconds or an HTTP date) is honoured, capped at :attr:`Backoff.cap_s`.
Otherwise the wait is exponential with full jitter: ``uniform(0, min(cap, base × 2^n))``
(the AWS "full jitter" scheme: many pullers restarting together do not hammer a
recovering server in lockstep). Anything else (4xx) is returned to the caller,
which knows what a 401 or a 404 means for it.
"""
from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime

import httpx

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class RetriesExhausted(Exception):
    """The request kept failing; the message says how and how often."""


@dataclass
class Backoff:
    attempts: int = 6
    base_s: float = 0.5
    cap_s: float = 30.0
    rng: random.Random = field(default_factory=random.Random)
    sleep: Callable[[float], None] = time.sleep

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number ``attempt`` (1-based)."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.cap_s)
        return self.rng.uniform(0, min(self.cap_s, self.base_s * 2 ** (attempt - 1)))


def retry_after_seconds(resp: httpx.Response) -> float | None:
    value = resp.headers.get("retry-after")
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def request(client: httpx.Client, method: str, url: str, *, backoff: Backoff, what: str,
            on_retry: Callable[[str], None] | None = None, **kw) -> httpx.Response:
    """``client.request`` with retries. ``what`` names the request in messages (never the URL:
    it may carry a key). Returns the first response that is not retried; raises RetriesExhausted."""
    last = ""
    for attempt in range(1, backoff.attempts + 1):
        retry_after = None
        try:
            resp = client.request(method, url, **kw)
        except httpx.TransportError as exc:
            last = f"{type(exc).__name__}: {_safe(str(exc))}"
        else:
            if resp.status_code not in RETRY_STATUSES:
                return resp
            retry_after = retry_after_seconds(resp)
            last = f"HTTP {resp.status_code}"
        if attempt == backoff.attempts:
            break
        wait = backoff.delay(attempt, retry_after)
        if on_retry:
            on_retry(f"{what}: {last}; retry {attempt}/{backoff.attempts - 1} in {wait:.1f}s")
        backoff.sleep(wait)
    raise RetriesExhausted(f"{what} failed {backoff.attempts} times; last: {last}")


def _safe(text: str) -> str:
    """Drop query strings from messages (a URL's query may hold an API key)."""
    import re

    return re.sub(r"\?[^\s'\"]*", "?…", text)
