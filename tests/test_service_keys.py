"""API keys: secrets shown once, only SHA-256 stored (0600, atomic), constant-time checks, ranks,
revocation, expiry, rotation with a grace period, and the `basinlab keys` command."""
from __future__ import annotations

import hashlib
import json
import os
import stat
import threading
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from basinlab.service import keys as k
from basinlab.service.files import ServicePaths
from service_support import basinlab


@pytest.fixture
def store(tmp_path):
    return k.KeyStore(ServicePaths.resolve(tmp_path).keys)


def test_the_secret_is_returned_once_and_only_its_sha256_is_stored(store):
    made = store.create("analyst", "read")
    assert k.TOKEN_RE.match(made.token)
    text = store.path.read_text()
    assert made.token not in text and made.token.split("_", 2)[2] not in text
    doc = json.loads(text)
    (rec,) = doc["keys"]
    assert rec["hash"] == hashlib.sha256(made.token.encode()).hexdigest()
    assert rec["id"] == made.token.split("_")[1] and rec["name"] == "analyst" and rec["permission"] == "read"


def test_store_file_is_private_and_written_atomically(store):
    store.create("a", "read")
    store.create("b", "admin")
    assert stat.S_IMODE(os.stat(store.path).st_mode) == 0o600
    leftovers = [p.name for p in store.path.parent.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []


def test_verify_answers_who_or_why_not(store):
    made = store.create("svc", "write")
    who = store.verify(made.token)
    assert isinstance(who, k.Identity) and (who.name, who.permission) == ("svc", "write")
    assert store.verify(None).reason == "missing"
    assert store.verify("").reason == "missing"
    assert store.verify("Bearer something").reason == "malformed"
    other_id = made.token.replace(made.record.id, "0" * 8 if made.record.id != "0" * 8 else "1" * 8)
    assert store.verify(other_id).reason == "unknown"


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", min_size=43,
               max_size=43))
def test_any_other_secret_for_a_real_key_id_is_refused(tmp_path_factory, secret):
    store = k.KeyStore(ServicePaths.resolve(tmp_path_factory.mktemp("k")).keys)
    made = store.create("x", "admin")
    forged = f"blk_{made.record.id}_{secret}"
    res = store.verify(forged)
    if forged == made.token:  # pragma: no cover - 2^-256
        assert isinstance(res, k.Identity)
    else:
        assert isinstance(res, k.AuthFailure) and res.reason == "unknown"


@pytest.mark.parametrize("have", k.PERMISSIONS)
@pytest.mark.parametrize("need", k.PERMISSIONS)
def test_permissions_are_ranked_read_write_admin(store, have, need):
    who = store.verify(store.create(f"k-{have}-{need}", have).token)
    assert who.may(need) == (k.PERMISSIONS.index(have) >= k.PERMISSIONS.index(need))


def test_revoked_keys_are_refused_at_once_even_by_another_store_instance(store):
    made = store.create("temp", "read")
    reader = k.KeyStore(store.path)  # e.g. the running API, with its cached copy
    assert isinstance(reader.verify(made.token), k.Identity)
    store.revoke("temp")
    res = reader.verify(made.token)
    assert isinstance(res, k.AuthFailure) and res.reason == "revoked" and res.name == "temp"
    with pytest.raises(k.KeyStoreError, match="already revoked"):
        store.revoke(made.record.id)


def test_expired_keys_are_refused(store):
    made = store.create("short", "read", expires_days=1)
    assert isinstance(store.verify(made.token), k.Identity)
    later = k.utcnow() + timedelta(days=1, seconds=1)
    res = store.verify(made.token, now=later)
    assert isinstance(res, k.AuthFailure) and res.reason == "expired"


def test_rotation_keeps_the_old_secret_for_the_grace_period_only(store):
    old = store.create("app", "read")
    new = store.rotate("app", grace_hours=2)
    assert new.token != old.token and new.record.id == old.record.id
    now = k.utcnow()
    assert isinstance(store.verify(new.token, now=now), k.Identity)
    via_old = store.verify(old.token, now=now)
    assert isinstance(via_old, k.Identity) and via_old.via_old_secret
    after = now + timedelta(hours=2, seconds=1)
    assert store.verify(old.token, now=after).reason == "unknown"
    assert isinstance(store.verify(new.token, now=after), k.Identity)
    # a second rotation: the first secret is gone for good, the second is in grace
    newer = store.rotate("app", grace_hours=1)
    assert store.verify(old.token).reason == "unknown"
    assert isinstance(store.verify(new.token), k.Identity) and isinstance(store.verify(newer.token), k.Identity)


def test_rotation_without_grace_and_revocation_end_the_old_secret_now(store):
    old = store.create("app", "read")
    store.rotate("app", grace_hours=0)
    assert store.verify(old.token).reason == "unknown"
    a = store.create("b", "read")
    store.rotate("b", grace_hours=5)
    store.revoke("b")
    assert store.verify(a.token).reason in ("revoked", "unknown")


@pytest.mark.parametrize("name", ["", " ", "a b", "x" * 65, "../etc", "-lead", "ü"])
def test_bad_names_and_permissions_are_refused(store, name):
    with pytest.raises(k.KeyStoreError, match="key name"):
        store.create(name, "read")


def test_unknown_permission_duplicate_active_name_and_missing_key(store):
    with pytest.raises(k.KeyStoreError, match="permission must be one of read, write, admin"):
        store.create("a", "superuser")
    store.create("a", "read")
    with pytest.raises(k.KeyStoreError, match="exists already"):
        store.create("a", "write")
    store.revoke("a")
    store.create("a", "write")  # the name is free again once revoked
    with pytest.raises(k.KeyStoreError, match="no key named 'nobody'"):
        store.rotate("nobody")


def test_concurrent_creates_lose_nothing(store):
    errors = []

    def make(i):
        try:
            store.create(f"k{i}", "read")
        except Exception as exc:  # pragma: no cover - would fail the assert below
            errors.append(exc)

    threads = [threading.Thread(target=make, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(r.name for r in k.KeyStore(store.path).records().values()) == sorted(f"k{i}" for i in range(12))


def test_an_unreadable_store_is_an_error_naming_the_file(store):
    store.path.parent.mkdir(parents=True, exist_ok=True)
    store.path.write_text("{not json")
    with pytest.raises(k.KeyStoreError, match="keys.json is unreadable"):
        store.verify("blk_00000000_" + "a" * 43)


def test_cli_create_prints_the_key_alone_on_stdout_and_list_never_shows_secrets(tmp_path):
    res = basinlab("keys", "create", "--name", "ci", "--permission", "write", "--expires-days", "30",
                   "--data-dir", str(tmp_path))
    assert res.returncode == 0, res.stderr
    token = res.stdout.strip()
    assert k.TOKEN_RE.match(token) and "shown once" in res.stderr
    store = k.KeyStore(ServicePaths.resolve(tmp_path).keys)
    assert store.verify(token).permission == "write"
    listed = basinlab("keys", "list", "--data-dir", str(tmp_path))
    assert "ci" in listed.stdout and "write" in listed.stdout and "active" in listed.stdout
    assert token not in listed.stdout and store.records()[token.split("_")[1]].hash not in listed.stdout
    rotated = basinlab("keys", "rotate", "--name", "ci", "--grace-hours", "1", "--data-dir", str(tmp_path))
    assert rotated.returncode == 0 and k.TOKEN_RE.match(rotated.stdout.strip()) and "valid until" in rotated.stderr
    revoked = basinlab("keys", "revoke", "--name", "ci", "--data-dir", str(tmp_path))
    assert revoked.returncode == 0 and "revoked" in revoked.stderr
    again = basinlab("keys", "revoke", "--name", "ci", "--data-dir", str(tmp_path))
    assert again.returncode == 1 and "already revoked" in again.stderr and "Traceback" not in again.stderr
    missing = basinlab("keys", "create", "--name", "x", "--data-dir", str(tmp_path))
    assert missing.returncode == 2 and "--permission" in missing.stderr
