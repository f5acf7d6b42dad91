"""Authz fixtures: the tenants and authz tables on a SQLite file, accounts and
users inserted through the DAOs, and hooks the tests steer."""

# pylint: disable=redefined-outer-name  # pytest fixtures name their dependencies

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Iterator, NamedTuple

import pytest

from modules import authz as authz_module
from modules import tenants as tenants_module
from modules.authz import Authz, PermissionRegistry
from modules.datastore import DAO, Database, Datastore, ScopedDAO


class Hooks:
    """What `Authz` asks about accounts: which is the platform account, and
    the tier ceiling of each (absent: no ceiling)."""

    def __init__(self) -> None:
        self.platform: set[int] = set()
        self.ceilings: dict[int, set[str]] = {}

    def is_platform(self, account_id: int) -> bool:
        """Whether `account_id` is marked as the platform account."""
        return account_id in self.platform

    def entitlement(self, account_id: int) -> Iterable[str] | None:
        """The account's ceiling, or None."""
        return self.ceilings.get(account_id)


class World(NamedTuple):
    """Two accounts (B is the platform account) with users, roles seeded."""

    a: int
    b: int
    owner: int  # Owner in A
    admin: int  # Admin in A
    member: int  # Member in A
    viewer: int  # Viewer in A
    nobody: int  # no role in A
    b_user: int  # Owner in B (the platform account)


PLUGIN_PERMISSIONS = (
    authz_module.Permission("crm.view", "See contacts.", "CRM"),
    authz_module.Permission("crm.edit", "Edit contacts.", "CRM", roles=("Member",)),
    authz_module.Permission("crm.export", "Export contacts.", "CRM"),
)


@pytest.fixture
def registry() -> PermissionRegistry:
    """The core permissions plus a small plug-in's."""
    perms = PermissionRegistry()
    perms.register(authz_module.PERMISSIONS + tenants_module.PERMISSIONS + PLUGIN_PERMISSIONS)
    return perms


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    """A `Database` on a fresh file, closed afterwards."""
    with_file = Database(tmp_path / "data" / "authz.db")
    try:
        yield with_file
    finally:
        with_file.close()


@pytest.fixture
def store(db: Database) -> Datastore:
    """The tenants entities, then the authz ones (the container's order)."""
    datastore = Datastore(db)
    for entity in tenants_module.ENTITIES + authz_module.ENTITIES:
        datastore.register(entity)
    return datastore


@pytest.fixture
def hooks() -> Hooks:
    """Platform flag and tier ceilings, steered by the test."""
    return Hooks()


@pytest.fixture
def authz(store: Datastore, registry: PermissionRegistry, hooks: Hooks) -> Authz:
    """`Authz` with the test's hooks."""
    return Authz(store, registry, is_platform=hooks.is_platform, entitlement=hooks.entitlement)


@pytest.fixture
def world(store: Datastore, authz: Authz, hooks: Hooks) -> World:
    """Account A with one user per system role and one without a role;
    account B, the platform account, with an Owner."""
    accounts = store.dao("account")
    users = store.dao("user")
    assert isinstance(accounts, DAO) and isinstance(users, ScopedDAO)
    a = accounts.insert({"name": "A"})
    b = accounts.insert({"name": "B", "platform": True})
    hooks.platform.add(b)
    ids = {}
    for account_id in (a, b):
        ids[account_id] = authz.seed_system_roles(account_id)
    people = {}
    for name in ("owner", "admin", "member", "viewer", "nobody"):
        people[name] = users.insert(a, {"username": f"{name}@a.example", "display_name": name})
        if name != "nobody":
            authz.set_user_roles(a, people[name], [ids[a][name.capitalize()]])
    b_user = users.insert(b, {"username": "staff@b.example", "display_name": "Staff"})
    authz.set_user_roles(b, b_user, [ids[b]["Owner"]])
    return World(a=a, b=b, b_user=b_user, **people)
