"""API keys: shown once, stored as a hash, resolved to their user, revoked."""

from __future__ import annotations

from typing import Any, Callable

import pytest

from modules.datastore import Database, NotFoundError, ValidationError
from modules.tenants import Tenants

Clock = Any  # the conftest's movable clock: .now and .advance(**timedelta)


def test_create_and_resolve(tenants: Tenants, account: int, user: int) -> None:
    key_id, raw = tenants.create_api_key(account, user, " CI  deploys ")
    assert raw.startswith("sb_") and len(raw) >= 46
    resolved = tenants.resolve_api_key(raw)
    assert resolved is not None
    assert (resolved["id"], resolved["account_id"], resolved["api_key_id"]) == (
        user,
        account,
        key_id,
    )
    assert "password_hash" not in resolved
    [listed] = tenants.list_api_keys(account, user)
    assert listed["id"] == key_id
    assert listed["name"] == "CI deploys"
    assert listed["prefix"] == raw[:8]
    assert "key_hash" not in listed


def test_only_the_hash_is_stored(
    tenants: Tenants, account: int, user: int, db: Database, db_bytes: Callable[[], bytes]
) -> None:
    _, raw = tenants.create_api_key(account, user, "laptop")
    stored = db.execute_one("SELECT key_hash FROM api_key")[0]
    assert stored != raw and len(stored) == 64
    db.checkpoint()
    assert raw.encode() not in db_bytes()


@pytest.mark.parametrize("raw", ["", "sb_", "sb_made-up", "not-a-key", None])
def test_unknown_keys(tenants: Tenants, account: int, user: int, raw: Any) -> None:
    tenants.create_api_key(account, user, "laptop")
    assert tenants.resolve_api_key(raw) is None


def test_revoke(tenants: Tenants, account: int, user: int) -> None:
    key_id, raw = tenants.create_api_key(account, user, "laptop")
    _, other = tenants.create_api_key(account, user, "server")
    assert tenants.revoke_api_key(account, user, key_id) is True
    assert tenants.revoke_api_key(account, user, key_id) is False
    assert tenants.resolve_api_key(raw) is None
    assert tenants.resolve_api_key(other) is not None
    keys = {k["name"]: k for k in tenants.list_api_keys(account, user)}
    assert keys["laptop"]["revoked_at"] is not None
    assert keys["server"]["revoked_at"] is None
    assert [k["name"] for k in tenants.list_api_keys(account, user)] == ["server", "laptop"]


def test_last_used_is_written_at_most_once_a_minute(
    tenants: Tenants, account: int, user: int, clock: Clock
) -> None:
    _, raw = tenants.create_api_key(account, user, "laptop")
    first = clock.now
    tenants.resolve_api_key(raw)
    assert tenants.list_api_keys(account, user)[0]["last_used_at"] == first
    clock.advance(seconds=59)
    tenants.resolve_api_key(raw)
    assert tenants.list_api_keys(account, user)[0]["last_used_at"] == first
    clock.advance(seconds=1)
    tenants.resolve_api_key(raw)
    assert tenants.list_api_keys(account, user)[0]["last_used_at"] == clock.now


def test_keys_stop_with_their_user_or_account(tenants: Tenants, account: int, user: int) -> None:
    member = tenants.create_user(account, "grace@example.com", "Grace")
    _, raw = tenants.create_api_key(account, member, "script")
    tenants.update_user(account, member, active=False)
    assert tenants.resolve_api_key(raw) is None
    tenants.update_user(account, member, active=True)
    assert tenants.resolve_api_key(raw) is not None
    tenants.set_account_status(account, "suspended")
    assert tenants.resolve_api_key(raw) is None
    assert user


def test_key_needs_a_name_and_a_user_of_the_account(
    tenants: Tenants, account: int, other_account: int, user: int
) -> None:
    with pytest.raises(ValidationError) as info:
        tenants.create_api_key(account, user, "  ")
    assert set(info.value.fields) == {"name"}
    with pytest.raises(NotFoundError):
        tenants.create_api_key(other_account, user, "sneaky")
    assert tenants.list_api_keys(account, user) == []
