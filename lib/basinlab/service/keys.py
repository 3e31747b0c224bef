"""API keys: a small store of its own beside the warehouse, hashes only, constant-time checks.

A key is a random secret shown once, at creation or rotation::

    blk_<key id: 8 hex>_<secret: 32 random bytes, url-safe base64>

Only ``sha256(token)`` is stored, in ``<data-dir>/service/keys.json`` (mode 0600,
rewritten atomically under a file lock, so the CLI and the API can both change it).

Why unsalted SHA-256 and not a salted slow KDF (bcrypt, scrypt, argon2)? Slow,
salted hashes protect *low-entropy* secrets (passwords) against guessing once
the hash file leaks. A token with 256 random bits cannot be guessed: a leaked
hash gives nothing to brute-force and nothing for a precomputed table to hit, so
a salt or work factor adds no protection, while a slow KDF would cost ~100 ms of
CPU on every request. The comparison is constant-time (:func:`hmac.compare_digest`)
and a token with an unknown key id is compared against a dummy hash, so response
times do not tell which key ids exist.

Permissions are ranked: ``read`` < ``write`` < ``admin``; a key may do what its
permission and every lower one allow (``write`` reads too, ``admin`` may start runs).

Rotation gives a key a new secret; the old secret stays valid for a grace period
(default :data:`DEFAULT_GRACE_HOURS` = 24 h), long enough to roll the new secret out
to every client, short enough that a leaked old secret dies soon. Revoked and
expired keys are refused at once.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
import threading
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from .files import blocking, write_atomic

PERMISSIONS = ("read", "write", "admin")
RANK = {p: i for i, p in enumerate(PERMISSIONS)}
DEFAULT_GRACE_HOURS = 24.0
TOKEN_PREFIX = "blk"
TOKEN_RE = re.compile(r"^blk_([0-9a-f]{8})_([A-Za-z0-9_-]{43})$")
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
STORE_VERSION = 1
_DUMMY_HASH = hashlib.sha256(b"basinlab: no such key").hexdigest()


class KeyStoreError(Exception):
    """A key operation that cannot be done; the message is for the user."""


def utcnow() -> datetime:
    return datetime.now(UTC)


def _iso(t: datetime | None) -> str | None:
    return t.astimezone(UTC).isoformat(timespec="seconds") if t else None


def _parse(t: str | None) -> datetime | None:
    return datetime.fromisoformat(t) if t else None


def hash_token(token: str) -> str:
    """Hex SHA-256 of the whole token (see the module docstring for why this is enough)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token(key_id: str) -> str:
    secret = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode("ascii").rstrip("=")
    return f"{TOKEN_PREFIX}_{key_id}_{secret}"


def key_id_of(token: str) -> str | None:
    """The key id a token names (not secret: it appears in ``keys list``), or None if malformed."""
    m = TOKEN_RE.match(token or "")
    return m.group(1) if m else None


@dataclass
class KeyRecord:
    id: str
    name: str
    permission: str
    hash: str
    created_at: str
    expires_at: str | None = None
    revoked_at: str | None = None
    rotated_at: str | None = None
    previous_hash: str | None = None
    previous_valid_until: str | None = None
    note: str = ""

    def status(self, now: datetime | None = None) -> str:
        now = now or utcnow()
        if self.revoked_at:
            return "revoked"
        if self.expires_at and _parse(self.expires_at) <= now:
            return "expired"
        return "active"

    def public(self, now: datetime | None = None) -> dict:
        """Everything but the hashes (what ``keys list`` and ``GET /keys`` show)."""
        now = now or utcnow()
        d = {k: v for k, v in asdict(self).items() if k not in ("hash", "previous_hash")}
        d["status"] = self.status(now)
        d["old_secret_valid"] = bool(self.previous_hash and self.previous_valid_until
                                     and _parse(self.previous_valid_until) > now)
        return d


@dataclass(frozen=True)
class Identity:
    """Who a request is: the key's id, name and permission (never the secret)."""

    key_id: str
    name: str
    permission: str
    via_old_secret: bool = False

    def may(self, needed: str) -> bool:
        return RANK[self.permission] >= RANK[needed]


@dataclass(frozen=True)
class AuthFailure:
    """Why a token was refused: ``missing``, ``malformed``, ``unknown``, ``revoked``, ``expired``."""

    reason: str
    key_id: str | None = None
    name: str | None = None

    @property
    def message(self) -> str:
        return {
            "missing": "an API key is required: send it as 'Authorization: Bearer <key>' or 'X-API-Key: <key>'",
            "malformed": "the API key is not a basinlab key (blk_<id>_<secret>)",
            "unknown": "the API key is not valid",
            "revoked": "the API key was revoked",
            "expired": "the API key has expired",
        }[self.reason]


@dataclass
class CreatedKey:
    """A new or rotated key: the only time its ``token`` (secret) exists outside the client."""

    record: KeyRecord
    token: str
    old_valid_until: str | None = None


class KeyStore:
    """The key file. Every change is a locked read-modify-write with an atomic rename;
    :meth:`verify` re-reads the file when it changed (so ``basinlab keys revoke`` takes
    effect on the API's next request)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self._cache: tuple[tuple, dict[str, KeyRecord]] | None = None
        self._mutex = threading.Lock()

    # ----------------------------------------------------------------- file
    def _read(self) -> dict[str, KeyRecord]:
        if not self.path.exists():
            return {}
        try:
            doc = json.loads(self.path.read_text(encoding="utf-8"))
            return {r["id"]: KeyRecord(**r) for r in doc.get("keys", [])}
        except (json.JSONDecodeError, TypeError, KeyError) as exc:
            raise KeyStoreError(f"key store {self.path} is unreadable ({exc}); restore it from a backup "
                            "or move it away and create new keys") from None

    def _write(self, records: dict[str, KeyRecord]) -> None:
        doc = {"version": STORE_VERSION,
               "hash": "sha256 of the whole token; see basinlab.service.keys",
               "keys": [asdict(r) for r in sorted(records.values(), key=lambda r: (r.created_at, r.id))]}
        write_atomic(self.path, (json.dumps(doc, indent=1) + "\n").encode("utf-8"), mode=0o600)

    def records(self) -> dict[str, KeyRecord]:
        """The current records, re-read only when the file changed (inode, size, mtime)."""
        try:
            st = os.stat(self.path)
            stamp = (st.st_ino, st.st_size, st.st_mtime_ns)
        except FileNotFoundError:
            stamp = ()
        with self._mutex:
            if self._cache is None or self._cache[0] != stamp:
                self._cache = (stamp, self._read())
            return self._cache[1]

    # ----------------------------------------------------------------- changes
    def create(self, name: str, permission: str, expires_days: float | None = None, note: str = "") -> CreatedKey:
        if not NAME_RE.match(name or ""):
            raise KeyStoreError(f"key name {name!r} must be 1-64 letters, digits, '_', '.' or '-' "
                            "(starting with a letter or digit)")
        if permission not in PERMISSIONS:
            raise KeyStoreError(f"permission must be one of {', '.join(PERMISSIONS)}, got {permission!r}")
        if expires_days is not None and not expires_days > 0:
            raise KeyStoreError(f"expires_days must be positive, got {expires_days!r}")
        now = utcnow()
        with blocking(self.lock_path):
            records = self._read()
            if any(r.name == name and r.status(now) == "active" for r in records.values()):
                raise KeyStoreError(f"an active key named {name!r} exists already: rotate it, or revoke it first")
            key_id = secrets.token_hex(4)
            while key_id in records:
                key_id = secrets.token_hex(4)
            token = new_token(key_id)
            rec = KeyRecord(id=key_id, name=name, permission=permission, hash=hash_token(token),
                            created_at=_iso(now),
                            expires_at=_iso(now + timedelta(days=expires_days)) if expires_days else None,
                            note=note)
            records[key_id] = rec
            self._write(records)
        return CreatedKey(rec, token)

    def find(self, name_or_id: str, records: dict[str, KeyRecord] | None = None) -> KeyRecord:
        """The key with this id, else the active key with this name, else the newest with this name."""
        records = self._read() if records is None else records
        if name_or_id in records:
            return records[name_or_id]
        named = sorted((r for r in records.values() if r.name == name_or_id), key=lambda r: r.created_at)
        if not named:
            raise KeyStoreError(f"no key named {name_or_id!r} (basinlab keys list shows them)")
        active = [r for r in named if r.status() == "active"]
        return (active or named)[-1]

    def revoke(self, name_or_id: str) -> KeyRecord:
        with blocking(self.lock_path):
            records = self._read()
            rec = self.find(name_or_id, records)
            if rec.revoked_at:
                raise KeyStoreError(f"key {rec.name} ({rec.id}) was already revoked at {rec.revoked_at}")
            rec.revoked_at = _iso(utcnow())
            rec.previous_hash = rec.previous_valid_until = None
            self._write(records)
        return rec

    def rotate(self, name_or_id: str, grace_hours: float = DEFAULT_GRACE_HOURS) -> CreatedKey:
        """New secret for the key; the current one stays valid for ``grace_hours`` (0: none)."""
        if grace_hours < 0:
            raise KeyStoreError(f"grace_hours must be 0 or more, got {grace_hours!r}")
        now = utcnow()
        with blocking(self.lock_path):
            records = self._read()
            rec = self.find(name_or_id, records)
            if rec.status(now) != "active":
                raise KeyStoreError(f"key {rec.name} ({rec.id}) is {rec.status(now)}: create a new key instead")
            token = new_token(rec.id)
            rec.previous_hash = rec.hash if grace_hours > 0 else None
            rec.previous_valid_until = _iso(now + timedelta(hours=grace_hours)) if grace_hours > 0 else None
            rec.hash = hash_token(token)
            rec.rotated_at = _iso(now)
            self._write(records)
        return CreatedKey(rec, token, rec.previous_valid_until)

    # ----------------------------------------------------------------- checks
    def verify(self, token: str | None, now: datetime | None = None) -> Identity | AuthFailure:
        """Who ``token`` is, or why it is refused. Constant-time in the secret."""
        if not token:
            return AuthFailure("missing")
        now = now or utcnow()
        key_id = key_id_of(token)
        if key_id is None:
            return AuthFailure("malformed")
        rec = self.records().get(key_id)
        digest = hash_token(token)
        current_ok = hmac.compare_digest(digest, rec.hash if rec else _DUMMY_HASH)
        old_ok = bool(rec and rec.previous_hash and hmac.compare_digest(digest, rec.previous_hash)
                      and rec.previous_valid_until and _parse(rec.previous_valid_until) > now)
        if rec is None or not (current_ok or old_ok):
            return AuthFailure("unknown", key_id)
        status = rec.status(now)
        if status != "active":
            return AuthFailure(status, rec.id, rec.name)
        return Identity(rec.id, rec.name, rec.permission, via_old_secret=old_ok and not current_ok)
