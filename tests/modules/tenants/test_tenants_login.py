"""Passwords and sign-in: bcrypt hashing, lockout with expiry, inactive users
and suspended accounts, unknown usernames."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any, Callable

import pytest

from modules.authz import Authz
from modules.datastore import Database, Datastore
from modules.tenants import PasswordHasher, Tenants

Clock = Any  # the conftest's movable clock: .now and .advance(**timedelta)


def test_hash_and_verify(hasher: PasswordHasher) -> None:
    hashed = hasher.hash("correct horse battery")
    assert hashed.startswith("$2b$04$")
    assert "correct horse" not in hashed
    assert hasher.verify("correct horse battery", hashed)
    assert not hasher.verify("correct horse batterY", hashed)
    assert hasher.hash("correct horse battery") != hashed  # salted


def test_long_passwords_count_beyond_72_bytes(hasher: PasswordHasher) -> None:
    base = "é" * 40  # 80 bytes of UTF-8
    hashed = hasher.hash(base + "a")
    assert hasher.verify(base + "a", hashed)
    assert not hasher.verify(base + "b", hashed)
    assert hasher.verify("x" * 1024, hasher.hash("x" * 1024))


@pytest.mark.parametrize("garbage", ["", "not a hash", "$2b$04$tooshort", "\x00", None])
def test_verify_never_raises_on_garbage(hasher: PasswordHasher, garbage: str | None) -> None:
    assert hasher.verify("whatever password", garbage) is False


def test_dummy_verify_costs_about_what_verify_costs() -> None:
    hasher = PasswordHasher(rounds=8)
    hashed = hasher.hash("correct horse battery")
    hasher.dummy_verify()  # the first call prepares the dummy hash
    started = time.perf_counter()
    for _ in range(3):
        hasher.verify("wrong password!", hashed)
    real = time.perf_counter() - started
    started = time.perf_counter()
    for _ in range(3):
        hasher.dummy_verify()
    dummy = time.perf_counter() - started
    assert 0.3 < dummy / real < 3.0  # same work; loose bounds for busy machines


def test_rounds_are_checked() -> None:
    with pytest.raises(ValueError):
        PasswordHasher(rounds=3)


def test_authenticate_ok(tenants: Tenants, user: int, password: str, clock: Clock) -> None:
    result = tenants.authenticate("ADA@example.com ", password)
    assert result.ok and result.reason == "ok"
    assert result.user is not None and result.user["id"] == user
    assert "password_hash" not in result.user
    assert result.user["last_login_at"] == clock.now
    stored = tenants.find_user_by_username("ada@example.com")
    assert stored["last_login_at"] == clock.now


def test_authenticate_invalid(tenants: Tenants, user: int) -> None:
    result = tenants.authenticate("ada@example.com", "wrong password")
    assert (result.ok, result.user, result.reason) == (False, None, "invalid")
    assert tenants.find_user_by_username("ada@example.com")["failed_logins"] == 1
    assert user


def test_unknown_username_and_missing_password(tenants: Tenants, account: int) -> None:
    assert tenants.authenticate("nobody@example.com", "whatever password").reason == "invalid"
    tenants.create_user(account, "nopass@example.com", "No Password")
    assert tenants.authenticate("nopass@example.com", "").reason == "invalid"
    assert tenants.authenticate("nopass@example.com", None).reason == "invalid"  # type: ignore


def test_lockout_and_its_expiry(tenants: Tenants, user: int, password: str, clock: Clock) -> None:
    reasons = [tenants.authenticate("ada@example.com", "wrong password").reason for _ in range(5)]
    assert reasons == ["invalid"] * 4 + ["locked"]
    stored = tenants.find_user_by_username("ada@example.com")
    assert stored["locked_until"] == clock.now + timedelta(minutes=15)
    assert tenants.authenticate("ada@example.com", password).reason == "locked"
    clock.advance(minutes=14, seconds=59)
    assert tenants.authenticate("ada@example.com", password).reason == "locked"
    clock.advance(seconds=1)
    result = tenants.authenticate("ada@example.com", password)
    assert result.ok
    stored = tenants.find_user_by_username("ada@example.com")
    assert (stored["failed_logins"], stored["locked_until"]) == (0, None)
    assert user


def test_an_expired_lockout_restarts_the_count(
    tenants: Tenants, user: int, password: str, clock: Clock
) -> None:
    for _ in range(5):
        tenants.authenticate("ada@example.com", "wrong password")
    clock.advance(minutes=15)
    assert tenants.authenticate("ada@example.com", "wrong password").reason == "invalid"
    assert tenants.find_user_by_username("ada@example.com")["failed_logins"] == 1
    assert tenants.authenticate("ada@example.com", password).ok
    assert user


def test_lockout_limits_are_options(
    store: Datastore, authz: Authz, hasher: PasswordHasher, clock: Clock, account: int
) -> None:
    strict = Tenants(store, authz, hasher, max_failed_logins=2, lockout_minutes=1, clock=clock)
    strict.create_user(account, "bob@example.com", "Bob", password="bob's long password")
    assert strict.authenticate("bob@example.com", "nope").reason == "invalid"
    assert strict.authenticate("bob@example.com", "nope").reason == "locked"
    clock.advance(minutes=1)
    assert strict.authenticate("bob@example.com", "bob's long password").ok


def test_inactive_user(tenants: Tenants, account: int, password: str) -> None:
    tenants.create_user(account, "owner@example.com", "Owner", role_names=("Owner",))
    member = tenants.create_user(account, "grace@example.com", "Grace", password=password)
    tenants.update_user(account, member, active=False)
    assert tenants.authenticate("grace@example.com", password).reason == "inactive"
    assert tenants.authenticate("grace@example.com", "wrong password").reason == "invalid"


def test_suspended_account(tenants: Tenants, account: int, user: int, password: str) -> None:
    tenants.set_account_status(account, "suspended")
    result = tenants.authenticate("ada@example.com", password)
    assert (result.ok, result.user, result.reason) == (False, None, "inactive")
    tenants.set_account_status(account, "active")
    assert tenants.authenticate("ada@example.com", password).ok
    assert user


def test_no_plain_password_is_stored(
    tenants: Tenants, user: int, password: str, db: Database, db_bytes: Callable[[], bytes]
) -> None:
    tenants.authenticate("ada@example.com", password)
    db.checkpoint()
    assert password.encode() not in db_bytes()
    assert user
