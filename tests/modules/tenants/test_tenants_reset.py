"""Password reset tokens and password changes: hash-only, single use,
expiring, ending sessions and lockouts."""

from __future__ import annotations

from typing import Any, Callable

import pytest

from modules.datastore import Database, NotFoundError, ValidationError
from modules.tenants import Tenants

Clock = Any  # the conftest's movable clock: .now and .advance(**timedelta)
NEW = "a brand new passphrase"
INVALID = {"token": "This reset link is invalid or has expired."}


def test_reset_flow(tenants: Tenants, user: int, password: str) -> None:
    issued = tenants.create_reset_token("Ada@Example.com")
    assert issued is not None
    found, token = issued
    assert found["id"] == user and "reset_token_hash" not in found
    assert tenants.reset_password(token, NEW) == user
    assert tenants.authenticate("ada@example.com", NEW).ok
    assert not tenants.authenticate("ada@example.com", password).ok


def test_token_is_single_use(tenants: Tenants, user: int) -> None:
    _, token = tenants.create_reset_token("ada@example.com")
    tenants.reset_password(token, NEW)
    with pytest.raises(ValidationError) as info:
        tenants.reset_password(token, "another new passphrase")
    assert info.value.fields == INVALID
    assert user


def test_token_expires(tenants: Tenants, user: int, clock: Clock) -> None:
    _, token = tenants.create_reset_token("ada@example.com")
    clock.advance(minutes=59, seconds=59)
    _, fresh = tenants.create_reset_token("ada@example.com")  # replaces the first
    with pytest.raises(ValidationError) as info:
        tenants.reset_password(token, NEW)
    assert info.value.fields == INVALID
    clock.advance(minutes=60)
    with pytest.raises(ValidationError) as info:
        tenants.reset_password(fresh, NEW)
    assert info.value.fields == INVALID
    assert tenants.find_user_by_username("ada@example.com")["reset_token_created_at"] is None
    assert user


def test_token_just_inside_its_lifetime(tenants: Tenants, user: int, clock: Clock) -> None:
    _, token = tenants.create_reset_token("ada@example.com")
    clock.advance(minutes=59, seconds=59)
    assert tenants.reset_password(token, NEW) == user


@pytest.mark.parametrize("token", ["", "made-up", None])
def test_bogus_tokens(tenants: Tenants, user: int, token: Any) -> None:
    tenants.create_reset_token("ada@example.com")
    with pytest.raises(ValidationError) as info:
        tenants.reset_password(token, NEW)
    assert info.value.fields == INVALID
    assert user


def test_policy_failure_keeps_the_token(tenants: Tenants, user: int) -> None:
    _, token = tenants.create_reset_token("ada@example.com")
    with pytest.raises(ValidationError) as info:
        tenants.reset_password(token, "short")
    assert set(info.value.fields) == {"password"}
    assert tenants.reset_password(token, NEW) == user


def test_no_token_for_unknown_or_inactive_users(tenants: Tenants, account: int, user: int) -> None:
    assert tenants.create_reset_token("nobody@example.com") is None
    member = tenants.create_user(account, "grace@example.com", "Grace")
    tenants.update_user(account, member, active=False)
    assert tenants.create_reset_token("grace@example.com") is None
    tenants.set_account_status(account, "suspended")
    assert tenants.create_reset_token("ada@example.com") is None
    assert user


def test_token_dies_when_the_user_is_deactivated(tenants: Tenants, account: int, user: int) -> None:
    member = tenants.create_user(account, "grace@example.com", "Grace")
    _, token = tenants.create_reset_token("grace@example.com")
    tenants.update_user(account, member, active=False)
    with pytest.raises(ValidationError):
        tenants.reset_password(token, NEW)
    assert user


def test_only_the_hash_is_stored(
    tenants: Tenants, user: int, db: Database, db_bytes: Callable[[], bytes]
) -> None:
    _, token = tenants.create_reset_token("ada@example.com")
    stored = db.execute_one("SELECT reset_token_hash FROM user WHERE id = ?", (user,))[0]
    assert stored and stored != token and len(stored) == 64
    db.checkpoint()
    assert token.encode() not in db_bytes()
    tenants.reset_password(token, NEW)
    assert token.encode() not in db_bytes()
    assert NEW.encode() not in db_bytes()


def test_reset_ends_sessions_and_lockout(tenants: Tenants, user: int, password: str) -> None:
    session = tenants.start_session(user)
    for _ in range(5):
        tenants.authenticate("ada@example.com", "wrong password")
    assert tenants.authenticate("ada@example.com", password).reason == "locked"
    _, token = tenants.create_reset_token("ada@example.com")
    tenants.reset_password(token, NEW)
    assert tenants.resolve_session(session) is None
    assert tenants.authenticate("ada@example.com", NEW).ok


def test_set_password_keeps_only_the_given_session(
    tenants: Tenants, user: int, password: str
) -> None:
    current = tenants.start_session(user)
    elsewhere = tenants.start_session(user)
    _, token = tenants.create_reset_token("ada@example.com")
    tenants.set_password(user, NEW, keep_session_token=current)
    assert tenants.resolve_session(current) is not None
    assert tenants.resolve_session(elsewhere) is None
    assert tenants.authenticate("ada@example.com", NEW).ok
    assert not tenants.authenticate("ada@example.com", password).ok
    with pytest.raises(ValidationError):
        tenants.reset_password(token, "yet another passphrase")  # cleared


def test_set_password_policy_and_missing_user(tenants: Tenants, user: int) -> None:
    with pytest.raises(ValidationError) as info:
        tenants.set_password(user, "Ada@example.com")
    assert "email address" in info.value.fields["password"]
    with pytest.raises(NotFoundError):
        tenants.set_password(9999, NEW)
