"""Tenants fixtures: the real module graph on a SQLite file, a movable clock."""

# pylint: disable=redefined-outer-name  # pytest fixtures name their dependencies

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable, Iterator

import pytest

from modules import authz as authz_module
from modules import tenants as tenants_module
from modules.authz import Authz, PermissionRegistry
from modules.datastore import Database, Datastore
from modules.tenants import PasswordHasher, Tenants

PASSWORD = "correct horse battery"  # the password of the `user` fixture


class Clock:
    """A clock tests move by hand."""

    def __init__(self) -> None:
        self.now = datetime(2030, 1, 1, 12, 0, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        """Move time forward by timedelta(**delta)."""
        self.now += timedelta(**delta)


@pytest.fixture
def db_file(tmp_path: Path) -> Path:
    """Where the test database lives."""
    return tmp_path / "data" / "tenants.db"


@pytest.fixture
def db(db_file: Path) -> Iterator[Database]:
    """A `Database` on a fresh file, closed afterwards."""
    database = Database(db_file)
    yield database
    database.close()


@pytest.fixture
def store(db: Database) -> Datastore:
    """The tenants and authz entities registered, in the container's order."""
    datastore = Datastore(db)
    for entity in (*tenants_module.ENTITIES, *authz_module.ENTITIES):
        datastore.register(entity)
    return datastore


@pytest.fixture
def registry() -> PermissionRegistry:
    """The core permissions."""
    perms = PermissionRegistry()
    perms.register(authz_module.PERMISSIONS + tenants_module.PERMISSIONS)
    return perms


@pytest.fixture
def clock() -> Clock:
    """The clock `Tenants` reads."""
    return Clock()


@pytest.fixture
def hasher() -> PasswordHasher:
    """bcrypt at the lowest cost, for speed."""
    return PasswordHasher(rounds=4)


@pytest.fixture
def tenants_ref() -> list[Tenants]:
    """Filled with the `Tenants` once built: `Authz` needs to ask it about the
    platform account, and `Tenants` needs the `Authz` (the container does the
    same with a late-bound lambda)."""
    return []


@pytest.fixture
def authz(store: Datastore, registry: PermissionRegistry, tenants_ref: list[Tenants]) -> Authz:
    """`Authz` asking `Tenants` which account is the platform account."""

    def is_platform(account_id: int) -> bool:
        return tenants_ref[0].is_platform(account_id)

    return Authz(store, registry, is_platform=is_platform)


@pytest.fixture
def tenants(
    store: Datastore,
    authz: Authz,
    hasher: PasswordHasher,
    clock: Clock,
    tenants_ref: list[Tenants],
) -> Tenants:
    """`Tenants` with the default limits and the test clock."""
    built = Tenants(store, authz, hasher, clock=clock)
    tenants_ref.append(built)
    return built


@pytest.fixture
def account(tenants: Tenants) -> int:
    """A customer account."""
    return tenants.create_account("Acme")


@pytest.fixture
def other_account(tenants: Tenants) -> int:
    """A second customer account, for isolation checks."""
    return tenants.create_account("Globex")


@pytest.fixture
def user(tenants: Tenants, account: int) -> int:
    """An Owner of `account` with the password PASSWORD."""
    return tenants.create_user(
        account, "ada@example.com", "Ada", password=PASSWORD, role_names=("Owner",)
    )


@pytest.fixture
def db_bytes(db_file: Path) -> Callable[[], bytes]:
    """Reads everything SQLite has written: the database file and its WAL."""

    def read() -> bytes:
        data = b""
        for path in (db_file, db_file.with_name(db_file.name + "-wal")):
            if path.exists():
                data += path.read_bytes()
        return data

    return read


@pytest.fixture
def password() -> str:
    """The password of the `user` fixture."""
    return PASSWORD
