"""Accounts: creation seeds the system roles, names are unique, the platform
account is unique and cannot be suspended, listing pages without N+1."""

from __future__ import annotations

import pytest

from modules.authz import SYSTEM_ROLES, Authz, PermissionRegistry
from modules.datastore import Database, Datastore, NotFoundError, ValidationError
from modules.tenants import PasswordHasher, Tenants


def test_create_account_seeds_the_system_roles(tenants: Tenants, authz: Authz) -> None:
    account_id = tenants.create_account("  Acme   Corp ")
    account = tenants.get_account(account_id)
    assert account is not None
    assert account["name"] == "Acme Corp"
    assert account["status"] == "active"
    assert account["platform"] is False
    roles = authz.list_roles(account_id)
    assert [r["name"] for r in roles] == list(SYSTEM_ROLES)
    assert all(r["system"] for r in roles)


def test_account_names_are_required_and_unique(tenants: Tenants, db: Database) -> None:
    tenants.create_account("Acme")
    with pytest.raises(ValidationError) as info:
        tenants.create_account("ACME")
    assert "already exists" in info.value.fields["name"]
    with pytest.raises(ValidationError) as info:
        tenants.create_account("   ")
    assert set(info.value.fields) == {"name"}
    assert db.execute_one("SELECT count(*) FROM account")[0] == 1
    assert db.execute_one("SELECT count(*) FROM role")[0] == len(SYSTEM_ROLES)


def test_only_one_platform_account(tenants: Tenants, db: Database) -> None:
    tenants.create_account("Platform", platform=True)
    with pytest.raises(ValidationError) as info:
        tenants.create_account("Second platform", platform=True)
    assert "platform" in info.value.fields
    assert db.execute_one("SELECT count(*) FROM account")[0] == 1


class SeedingFails(Authz):
    """An Authz whose role seeding breaks after writing the roles."""

    def seed_system_roles(self, account_id: int) -> dict[str, int]:
        super().seed_system_roles(account_id)
        raise RuntimeError("disk on fire")


def test_create_account_is_all_or_nothing(
    store: Datastore, registry: PermissionRegistry, hasher: PasswordHasher, db: Database
) -> None:
    broken = Tenants(store, SeedingFails(store, registry, is_platform=lambda _: False), hasher)
    with pytest.raises(RuntimeError):
        broken.create_account("Acme")
    assert db.execute_one("SELECT count(*) FROM account")[0] == 0
    assert db.execute_one("SELECT count(*) FROM role")[0] == 0


def test_platform_account(tenants: Tenants) -> None:
    assert tenants.platform_account_id() is None
    customer = tenants.create_account("Acme")
    platform = tenants.create_account("Switchboard staff", platform=True)
    assert tenants.platform_account_id() == platform
    assert tenants.is_platform(platform)
    assert not tenants.is_platform(customer)
    assert not tenants.is_platform(9999)


def test_platform_flag_is_read_from_the_database_by_a_fresh_object(
    tenants: Tenants, authz: Authz, store: Datastore, hasher: PasswordHasher
) -> None:
    platform = tenants.create_account("Staff", platform=True)
    fresh = Tenants(store, authz, hasher)
    assert fresh.platform_account_id() == platform
    assert fresh.is_platform(platform)


def test_account_status(tenants: Tenants) -> None:
    account_id = tenants.create_account("Acme")
    tenants.set_account_status(account_id, "suspended")
    assert tenants.get_account(account_id)["status"] == "suspended"
    tenants.set_account_status(account_id, "active")
    assert tenants.get_account(account_id)["status"] == "active"
    with pytest.raises(ValidationError) as info:
        tenants.set_account_status(account_id, "closed")
    assert set(info.value.fields) == {"status"}
    with pytest.raises(NotFoundError):
        tenants.set_account_status(9999, "active")


def test_the_platform_account_cannot_be_suspended(tenants: Tenants) -> None:
    platform = tenants.create_account("Staff", platform=True)
    with pytest.raises(ValidationError) as info:
        tenants.set_account_status(platform, "suspended")
    assert "platform" in info.value.fields["status"]
    assert tenants.get_account(platform)["status"] == "active"


def test_update_account(tenants: Tenants) -> None:
    acme = tenants.create_account("Acme")
    tenants.create_account("Globex")
    tenants.update_account(acme, name="Acme Inc")
    assert tenants.get_account(acme)["name"] == "Acme Inc"
    tenants.update_account(acme, name="acme inc")  # its own name, other case
    with pytest.raises(ValidationError) as info:
        tenants.update_account(acme, name="globex")
    assert "already exists" in info.value.fields["name"]
    with pytest.raises(NotFoundError):
        tenants.update_account(9999, name="Nobody")
    assert tenants.get_account(9999) is None


def test_page_accounts_with_user_counts_in_two_queries(tenants: Tenants, db: Database) -> None:
    ids = [tenants.create_account(f"Account {i:02d}") for i in range(12)]
    for n in range(3):
        tenants.create_user(ids[0], f"u{n}@a.example", f"U{n}")
    tenants.create_user(ids[1], "solo@b.example", "Solo")
    statements: list[str] = []
    db.conn.set_trace_callback(statements.append)
    try:
        page = tenants.page_accounts(limit=5)
    finally:
        db.conn.set_trace_callback(None)
    assert len(statements) == 2
    assert [a["name"] for a in page.items] == [f"Account {i:02d}" for i in range(5)]
    assert [a["user_count"] for a in page.items] == [3, 1, 0, 0, 0]
    names = [a["name"] for a in page.items]
    while page.next_cursor:
        page = tenants.page_accounts(after=page.next_cursor, limit=5)
        names += [a["name"] for a in page.items]
    assert len(names) == 12
    found = tenants.page_accounts(search="ount 1")
    assert [a["name"] for a in found.items] == ["Account 10", "Account 11"]


def test_limits_are_readable(
    store: Datastore, authz: Authz, hasher: PasswordHasher, tenants: Tenants
) -> None:
    assert (tenants.max_failed_logins, tenants.lockout_minutes) == (5, 15)
    assert (tenants.session_idle_minutes, tenants.session_max_hours) == (120, 24)
    assert tenants.reset_token_minutes == 60
    custom = Tenants(store, authz, hasher, reset_token_minutes=30, session_max_hours=8)
    assert (custom.reset_token_minutes, custom.session_max_hours) == (30, 8)
