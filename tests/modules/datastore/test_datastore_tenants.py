"""Tenant isolation: through a ScopedDAO, account A never touches account B's rows."""

# pylint: disable=redefined-outer-name  # pytest fixtures name their dependencies

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import pytest

from modules.datastore import (
    DAO,
    Database,
    Datastore,
    Entity,
    Field,
    ScopedDAO,
    UniqueError,
    ValidationError,
)


class World(NamedTuple):
    """Two accounts with contacts each."""

    contacts: ScopedDAO
    a: int
    b: int
    a_ids: list[int]
    b_ids: list[int]


@pytest.fixture
def world(store: Datastore, accounts: DAO) -> World:
    """Accounts A and B with 30 and 20 contacts, interleaved so ids mix."""
    contacts = store.register(
        Entity(
            "contact",
            (
                Field("name", required=True),
                Field("email", unique=True),
                Field("tier", index=True),
            ),
            tenant_scoped=True,
        )
    )
    assert isinstance(contacts, ScopedDAO)
    a = accounts.insert({"name": "A"})
    b = accounts.insert({"name": "B"})
    a_ids, b_ids = [], []
    for i in range(30):
        a_ids.append(contacts.insert(a, {"name": f"a{i}", "email": f"{i}@x", "tier": "gold"}))
        if i < 20:
            b_ids.append(contacts.insert(b, {"name": f"b{i}", "email": f"{i}@x", "tier": "gold"}))
    return World(contacts, a, b, a_ids, b_ids)


def b_rows_unchanged(world: World) -> None:
    """Every one of B's rows is still there, as created."""
    rows = world.contacts.find(world.b)
    assert [r["id"] for r in rows] == world.b_ids
    assert [r["name"] for r in rows] == [f"b{i}" for i in range(20)]
    assert {r["account_id"] for r in rows} == {world.b}


def test_get_with_another_accounts_id_finds_nothing(world: World) -> None:
    """A asking for B's ids gets None, B gets its own rows."""
    for row_id in world.b_ids:
        assert world.contacts.get(world.a, row_id) is None
        assert world.contacts.get(world.b, row_id)["account_id"] == world.b


def test_update_and_delete_of_another_accounts_rows_do_nothing(world: World) -> None:
    """update/delete report False and leave B's rows exactly as they were."""
    for row_id in world.b_ids:
        assert world.contacts.update(world.a, row_id, {"name": "hacked"}) is False
        assert world.contacts.update(world.a, row_id, {}) is False
        assert world.contacts.delete(world.a, row_id) is False
    b_rows_unchanged(world)
    assert world.contacts.count(world.a) == 30


def test_count_find_and_find_one_see_only_the_account(world: World) -> None:
    """Filters on B's ids or B's values come back empty for A."""
    contacts, a, b = world.contacts, world.a, world.b
    assert contacts.count(a) == 30 and contacts.count(b) == 20
    assert contacts.count(a, {"tier": "gold"}) == 30
    assert [r["id"] for r in contacts.find(a)] == world.a_ids
    assert contacts.find(a, {"id": world.b_ids}) == []
    assert contacts.find(a, {"id": world.b_ids[0]}) == []
    assert contacts.find_one(a, {"name": "b3"}) is None
    assert contacts.find_one(a, {"email": "3@x"})["name"] == "a3"
    assert contacts.find_one(b, {"email": "3@x"})["name"] == "b3"
    mixed = contacts.find(a, {"id": [world.a_ids[0], world.b_ids[0]]})
    assert [r["id"] for r in mixed] == [world.a_ids[0]]
    assert contacts.count(a, search="b1") == 0
    assert {r["account_id"] for r in contacts.find(a, search="@x")} == {a}


def test_account_id_cannot_be_filtered_or_written(world: World) -> None:
    """The scope is not a field: it can be neither overridden in where nor set in values."""
    with pytest.raises(ValidationError, match="account_id"):
        world.contacts.find(world.a, {"account_id": world.b})
    with pytest.raises(ValidationError, match="account_id"):
        world.contacts.insert(world.a, {"name": "x", "account_id": world.b})
    with pytest.raises(ValidationError, match="account_id"):
        world.contacts.update(world.a, world.a_ids[0], {"account_id": world.b})
    assert world.contacts.count(world.b) == 20


def test_pages_see_only_the_account(world: World) -> None:
    """Walking A's pages (any order) yields A's rows only; B's cursors do not leak."""
    contacts, a, b = world.contacts, world.a, world.b
    for order_by, descending in [("id", False), ("name", True), ("email", False)]:
        seen, cursor = [], None
        while True:
            page = contacts.page(a, order_by=order_by, descending=descending, after=cursor, limit=7)
            seen += page.items
            cursor = page.next_cursor
            if cursor is None:
                break
        assert sorted(r["id"] for r in seen) == world.a_ids
        assert {r["account_id"] for r in seen} == {a}
    b_cursor = contacts.page(b, limit=5).next_cursor
    leaked = contacts.page(a, after=b_cursor, limit=100).items
    assert {r["account_id"] for r in leaked} == {a}
    assert contacts.page(a, where={"id": world.b_ids}, limit=100).items == []


def test_uniques_are_per_account(world: World) -> None:
    """The same email may exist once in each account, not twice in one."""
    with pytest.raises(UniqueError) as caught:
        world.contacts.insert(world.a, {"name": "dup", "email": "25@x"})
    assert caught.value.fields == {"email": "is already taken"}
    world.contacts.insert(world.b, {"name": "new", "email": "25@x"})
    assert world.contacts.count(world.b, {"email": "25@x"}) == 1


def test_insert_many_goes_to_the_given_account(world: World) -> None:
    """Bulk inserts are scoped too."""
    world.contacts.insert_many(world.a, [{"name": "n1"}, {"name": "n2"}])
    assert world.contacts.count(world.a) == 32
    assert world.contacts.count(world.b) == 20


def test_insert_for_a_missing_account_is_refused(world: World) -> None:
    """account_id is a foreign key: an unknown account cannot own rows."""
    with pytest.raises(ValidationError, match="does not exist"):
        world.contacts.insert(world.b + 100, {"name": "ghost"})
    assert world.contacts.count(world.b + 100) == 0


def test_deleting_an_account_removes_its_rows_only(world: World, accounts: DAO) -> None:
    """account_id cascades: B's rows go with B, A's stay."""
    assert accounts.delete(world.b)
    assert world.contacts.count(world.b) == 0
    assert world.contacts.count(world.a) == 30


def test_a_reference_cannot_point_into_another_account(tmp_path: Path) -> None:
    store = Datastore(Database(tmp_path / "refs.db"))
    accounts = store.register(Entity("account", (Field("name"),)))
    a, b = accounts.insert({"name": "A"}), accounts.insert({"name": "B"})
    contacts = store.register(Entity("contact", (Field("name"),), tenant_scoped=True))
    deals = store.register(
        Entity(
            "deal",
            (Field("contact", "reference", references="contact"), Field("title")),
            tenant_scoped=True,
        )
    )
    mine, theirs = contacts.insert(a, {"name": "mine"}), contacts.insert(b, {"name": "theirs"})
    assert deals.insert(a, {"contact": mine, "title": "ok"})
    try:
        deals.insert(a, {"contact": theirs, "title": "sneaky"})
    except ValidationError as exc:
        assert "contact" in exc.fields
    else:
        raise AssertionError("a reference into account B was accepted")
    deal = deals.insert(a, {"contact": mine, "title": "moving"})
    try:
        deals.update(a, deal, {"contact": theirs})
    except ValidationError as exc:
        assert "contact" in exc.fields
    else:
        raise AssertionError("an update pointing into account B was accepted")
    assert deals.count(a) == 2
