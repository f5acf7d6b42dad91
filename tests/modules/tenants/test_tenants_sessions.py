"""Sessions: hash-only storage, idle and absolute expiry through the clock,
throttled touches, rotation and ending them."""

from __future__ import annotations

from typing import Any, Callable

import pytest

from modules.datastore import Database, NotFoundError
from modules.tenants import Tenants

Clock = Any  # the conftest's movable clock: .now and .advance(**timedelta)


def test_start_and_resolve(tenants: Tenants, account: int, user: int, db: Database) -> None:
    token = tenants.start_session(user, ip="203.0.113.9", user_agent="Firefox")
    assert len(token) >= 43
    resolved = tenants.resolve_session(token)
    assert resolved is not None
    assert (resolved["id"], resolved["account_id"]) == (user, account)
    assert "password_hash" not in resolved
    row = db.execute_one("SELECT token_hash, ip, user_agent FROM user_session")
    assert row["token_hash"] != token and len(row["token_hash"]) == 64
    assert (row["ip"], row["user_agent"]) == ("203.0.113.9", "Firefox")


def test_tokens_are_stored_as_hashes_only(
    tenants: Tenants, user: int, db: Database, db_bytes: Callable[[], bytes]
) -> None:
    token = tenants.start_session(user)
    assert tenants.resolve_session(token)
    assert token.encode() not in db_bytes()
    db.checkpoint()
    assert token.encode() not in db_bytes()


@pytest.mark.parametrize("token", ["", "nonsense", None, 42])
def test_unknown_tokens(tenants: Tenants, user: int, token: Any) -> None:
    tenants.start_session(user)
    assert tenants.resolve_session(token) is None
    assert tenants.end_session(token) is False


def test_start_session_for_a_missing_user(tenants: Tenants) -> None:
    with pytest.raises(NotFoundError):
        tenants.start_session(9999)


def test_idle_expiry(tenants: Tenants, user: int, clock: Clock, db: Database) -> None:
    token = tenants.start_session(user)
    for _ in range(3):  # activity keeps it alive well past the idle limit
        clock.advance(minutes=119)
        assert tenants.resolve_session(token) is not None
    clock.advance(minutes=120)
    assert tenants.resolve_session(token) is None
    assert db.execute_one("SELECT count(*) FROM user_session")[0] == 0  # deleted on sight


def test_absolute_expiry_despite_activity(tenants: Tenants, user: int, clock: Clock) -> None:
    token = tenants.start_session(user)
    for _ in range(23):
        clock.advance(hours=1)
        assert tenants.resolve_session(token) is not None
    clock.advance(minutes=59)
    assert tenants.resolve_session(token) is not None
    clock.advance(minutes=1)
    assert tenants.resolve_session(token) is None


def test_last_seen_is_written_at_most_once_a_minute(
    tenants: Tenants, user: int, clock: Clock, db: Database
) -> None:
    token = tenants.start_session(user)
    started = clock.now
    statements: list[str] = []
    db.conn.set_trace_callback(statements.append)
    try:
        clock.advance(seconds=30)
        tenants.resolve_session(token)
        assert not [s for s in statements if s.lstrip().upper().startswith("UPDATE")]
        clock.advance(seconds=30)
        tenants.resolve_session(token)
        assert len([s for s in statements if s.lstrip().upper().startswith("UPDATE")]) == 1
    finally:
        db.conn.set_trace_callback(None)
    seen = db.execute_one("SELECT last_seen_at FROM user_session")[0]
    assert seen > started.isoformat()


def test_rotation_gives_a_separate_session(tenants: Tenants, user: int) -> None:
    old = tenants.start_session(user)
    new = tenants.start_session(user)
    assert old != new
    assert tenants.end_session(old) is True
    assert tenants.resolve_session(old) is None
    assert tenants.resolve_session(new) is not None


def test_end_user_sessions(tenants: Tenants, account: int, user: int) -> None:
    tokens = [tenants.start_session(user) for _ in range(3)]
    other = tenants.create_user(account, "grace@example.com", "Grace")
    theirs = tenants.start_session(other)
    assert tenants.end_user_sessions(user, except_token=tokens[0]) == 2
    assert tenants.resolve_session(tokens[0]) is not None
    assert tenants.resolve_session(tokens[1]) is None
    assert tenants.end_user_sessions(user) == 1
    assert tenants.resolve_session(tokens[0]) is None
    assert tenants.resolve_session(theirs) is not None


def test_purge_expired_sessions(tenants: Tenants, user: int, clock: Clock) -> None:
    stale = tenants.start_session(user)
    clock.advance(minutes=100)
    fresh = tenants.start_session(user)
    clock.advance(minutes=21)
    assert tenants.purge_expired_sessions() == 1
    assert tenants.resolve_session(fresh) is not None
    assert tenants.resolve_session(stale) is None
    clock.advance(hours=25)
    assert tenants.purge_expired_sessions() == 1


def test_inactive_user_or_suspended_account_resolve_to_nothing(
    tenants: Tenants, account: int, user: int
) -> None:
    member = tenants.create_user(account, "grace@example.com", "Grace")
    token = tenants.start_session(member)
    owner_token = tenants.start_session(user)
    tenants.set_account_status(account, "suspended")
    assert tenants.resolve_session(token) is None
    assert tenants.resolve_session(owner_token) is None
    tenants.set_account_status(account, "active")
    assert tenants.resolve_session(owner_token) is not None


def test_sessions_go_with_their_user(
    tenants: Tenants, account: int, user: int, db: Database
) -> None:
    member = tenants.create_user(account, "grace@example.com", "Grace")
    tenants.start_session(member)
    tenants.delete_user(account, member)
    assert db.execute_one("SELECT count(*) FROM user_session")[0] == 0
    assert user


def test_read_only_resolution_defers_the_touch_to_the_caller(
    tenants: Tenants, user: int, clock: Clock, db: Database
) -> None:
    token = tenants.start_session(user)
    statements: list[str] = []
    db.conn.set_trace_callback(statements.append)
    try:
        clock.advance(seconds=90)
        found = tenants.resolve_session(token, write=False)
        assert found is not None and found["session_touch_due"] is True
        assert not [s for s in statements if s.lstrip().upper().startswith(("UPDATE", "DELETE"))]
    finally:
        db.conn.set_trace_callback(None)
    tenants.touch_session(token)
    fresh = tenants.resolve_session(token, write=False)
    assert fresh is not None and "session_touch_due" not in fresh
    clock.advance(hours=3)  # idle past the limit: read-only resolution refuses, deletes nothing
    assert tenants.resolve_session(token, write=False) is None
    assert db.execute_one("SELECT count(*) FROM user_session")[0] == 1
