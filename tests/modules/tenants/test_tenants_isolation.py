"""Tenant isolation: every method taking an account id refuses the ids of
another account's rows (None, [], False or NotFoundError) and changes nothing."""

from __future__ import annotations

from typing import NamedTuple

import pytest

from modules.authz import Authz
from modules.datastore import Database, NotFoundError
from modules.tenants import Tenants


class Two(NamedTuple):
    """Account A (with a user, a custom role, a key) and account B."""

    a: int
    b: int
    a_user: int
    a_role: int
    a_key: int
    b_user: int


@pytest.fixture(name="two")
def fixture_two(tenants: Tenants, authz: Authz) -> Two:
    """Two accounts with a little of everything in each."""
    a = tenants.create_account("A")
    b = tenants.create_account("B")
    a_user = tenants.create_user(a, "a@a.example", "A person", role_names=("Owner",))
    a_role = authz.create_role(a, "Support", "", ["users.view"])
    a_key, _ = tenants.create_api_key(a, a_user, "a key")
    b_user = tenants.create_user(b, "b@b.example", "B person", role_names=("Owner",))
    return Two(a, b, a_user, a_role, a_key, b_user)


def snapshot(db: Database) -> list[tuple[object, ...]]:
    """Every row that A's users, roles and keys are made of."""
    rows = []
    for table in ("user", "role", "role_permission", "user_role", "user_acl", "api_key"):
        rows += [(table, *r) for r in db.execute(f"SELECT * FROM {table} ORDER BY id")]
    return rows


def test_tenants_readers_return_nothing(tenants: Tenants, two: Two) -> None:
    assert tenants.get_user(two.b, two.a_user) is None
    assert tenants.list_api_keys(two.b, two.a_user) == []
    assert tenants.revoke_api_key(two.b, two.a_user, two.a_key) is False
    assert tenants.revoke_api_key(two.a, two.b_user, two.a_key) is False
    assert all(u["account_id"] == two.b for u in tenants.page_users(two.b).items)
    assert tenants.page_users(two.b, search="a@a.example").items == []
    assert tenants.count_users(two.b) == 1


def test_tenants_writers_refuse(tenants: Tenants, two: Two, db: Database) -> None:
    before = snapshot(db)
    with pytest.raises(NotFoundError):
        tenants.update_user(two.b, two.a_user, display_name="Hijacked")
    with pytest.raises(NotFoundError):
        tenants.update_user(two.b, two.a_user, active=False)
    with pytest.raises(NotFoundError):
        tenants.create_api_key(two.b, two.a_user, "planted")
    assert tenants.delete_user(two.b, two.a_user) is False
    assert snapshot(db) == before


def test_authz_readers_return_nothing(authz: Authz, two: Two) -> None:
    assert authz.get_role(two.b, two.a_role) is None
    assert authz.user_roles(two.b, two.a_user) == []
    assert authz.user_acl(two.b, two.a_user) == {}
    assert "Support" not in [r["name"] for r in authz.list_roles(two.b)]
    assert authz.role_id(two.b, "Support") is None
    assert authz.effective_permissions(two.b, two.a_user) == frozenset()


def test_authz_writers_refuse(authz: Authz, two: Two, db: Database) -> None:
    before = snapshot(db)
    b_owner = authz.role_id(two.b, "Owner")
    with pytest.raises(NotFoundError):
        authz.update_role(two.b, two.a_role, name="Renamed")
    with pytest.raises(NotFoundError):
        authz.delete_role(two.b, two.a_role)
    with pytest.raises(NotFoundError):
        authz.set_user_roles(two.b, two.a_user, [b_owner])  # A's user in B
    with pytest.raises(NotFoundError):
        authz.set_user_roles(two.b, two.b_user, [two.a_role])  # A's role for B's user
    with pytest.raises(NotFoundError):
        authz.set_user_acl(two.b, two.a_user, {"users.view": "allow"})
    assert snapshot(db) == before
