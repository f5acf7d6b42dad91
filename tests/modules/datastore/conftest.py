"""Datastore fixtures: a real SQLite file per test, closed afterwards."""

# pylint: disable=redefined-outer-name  # pytest fixtures name their dependencies

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from modules.datastore import DAO, Database, Datastore, Entity, Field


@pytest.fixture
def db_file(tmp_path: Path) -> Path:
    """Where the test database lives (the folder does not exist yet)."""
    return tmp_path / "data" / "test.db"


@pytest.fixture
def db(db_file: Path) -> Iterator[Database]:
    """A `Database` on a fresh file; every connection it opened is closed after."""
    database = Database(db_file)
    yield database
    database.close()


@pytest.fixture
def store(db: Database) -> Datastore:
    """An empty entity registry on `db`."""
    return Datastore(db)


@pytest.fixture
def accounts(store: Datastore) -> DAO:
    """The `account` entity that tenant-scoped entities point at."""
    dao = store.register(Entity("account", (Field("name", required=True),)))
    assert isinstance(dao, DAO)
    return dao
