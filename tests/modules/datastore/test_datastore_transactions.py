"""All-or-nothing writes: transactions, savepoints and bulk inserts."""

# pylint: disable=redefined-outer-name  # pytest fixtures name their dependencies

from __future__ import annotations

import pytest

from modules.datastore import DAO, Database, Datastore, Entity, Field, UniqueError, ValidationError


class Boom(Exception):
    """Raised by tests to abort a block."""


@pytest.fixture
def items(store: Datastore) -> DAO:
    """An entity with a unique field to trip over."""
    dao = store.register(Entity("item", (Field("code", required=True, unique=True),)))
    assert isinstance(dao, DAO)
    return dao


def codes(dao: DAO) -> list[str]:
    """Every stored code, in id order."""
    return [r["code"] for r in dao.find()]


def test_exception_inside_transaction_leaves_no_rows(db: Database, items: DAO) -> None:
    """Rows written through the DAO and raw SQL in a failed block are all rolled back."""
    with pytest.raises(Boom):
        with db.transaction() as conn:
            items.insert({"code": "a"})
            items.insert_many([{"code": "b"}, {"code": "c"}])
            conn.execute("INSERT INTO item (code) VALUES ('d')")
            assert items.count() == 4
            raise Boom
    assert items.count() == 0
    assert not db.in_transaction
    items.insert({"code": "a"})
    assert codes(items) == ["a"]


def test_successful_transaction_commits_everything(db: Database, items: DAO) -> None:
    """A block that ends normally commits; a second connection sees it."""
    with db.transaction():
        items.insert({"code": "a"})
        items.insert({"code": "b"})
    other = db.connect()
    try:
        assert [r[0] for r in other.execute("SELECT code FROM item ORDER BY id")] == ["a", "b"]
    finally:
        other.close()


def test_uncommitted_rows_are_invisible_to_other_connections(db: Database, items: DAO) -> None:
    """Inside a block, other connections still see the old state."""
    other = db.connect()
    try:
        with db.transaction():
            items.insert({"code": "a"})
            assert other.execute("SELECT count(*) FROM item").fetchone()[0] == 0
        assert other.execute("SELECT count(*) FROM item").fetchone()[0] == 1
    finally:
        other.close()


def test_nested_failure_caught_keeps_outer_work(db: Database, items: DAO) -> None:
    """An inner block is a savepoint: catching its failure undoes only the inner rows."""
    with db.transaction():
        items.insert({"code": "outer-1"})
        with pytest.raises(Boom):
            with db.transaction():
                items.insert({"code": "inner-1"})
                items.insert({"code": "inner-2"})
                raise Boom
        with db.transaction():
            items.insert({"code": "inner-ok"})
        items.insert({"code": "outer-2"})
    assert codes(items) == ["outer-1", "inner-ok", "outer-2"]


def test_deeply_nested_savepoints(db: Database, items: DAO) -> None:
    """Savepoints nest several levels; each failure undoes its own level only."""
    with db.transaction():
        items.insert({"code": "l1"})
        with db.transaction():
            items.insert({"code": "l2"})
            with pytest.raises(Boom):
                with db.transaction():
                    items.insert({"code": "l3"})
                    raise Boom
            items.insert({"code": "l2b"})
    assert codes(items) == ["l1", "l2", "l2b"]


def test_outer_failure_undoes_committed_inner_blocks(db: Database, items: DAO) -> None:
    """Inner success is only final when the outer block commits."""
    with pytest.raises(Boom):
        with db.transaction():
            with db.transaction():
                items.insert({"code": "inner"})
            raise Boom
    assert items.count() == 0


def test_dao_error_inside_a_transaction_can_be_caught(db: Database, items: DAO) -> None:
    """A unique conflict in a savepoint is recoverable; the outer block still commits."""
    items.insert({"code": "taken"})
    with db.transaction():
        items.insert({"code": "fresh"})
        with pytest.raises(UniqueError):
            with db.transaction():
                items.insert({"code": "also-fresh"})
                items.insert({"code": "taken"})
    assert codes(items) == ["taken", "fresh"]


def test_insert_many_unique_conflict_midway_leaves_no_rows(items: DAO) -> None:
    """A duplicate in the middle of a batch (against the table or the batch) rolls back all."""
    items.insert({"code": "existing"})
    batch = [{"code": f"n{i}"} for i in range(50)]
    with pytest.raises(UniqueError) as caught:
        items.insert_many([*batch[:25], {"code": "existing"}, *batch[25:]])
    assert caught.value.fields == {"code": "is already taken"}
    with pytest.raises(UniqueError):
        items.insert_many([*batch, {"code": "n3"}])
    assert codes(items) == ["existing"]
    assert items.insert_many(batch) == 50
    assert items.count() == 51


def test_insert_many_validation_error_midway_leaves_no_rows(items: DAO) -> None:
    """A bad row late in a batch (unknown field, missing value) rolls back the earlier ones."""
    with pytest.raises(ValidationError) as caught:
        items.insert_many([{"code": "a"}, {"code": "b"}, {"code": "c", "colour": "red"}])
    assert caught.value.fields == {"colour": "is not a field of item"}
    with pytest.raises(ValidationError) as caught:
        items.insert_many([{"code": "a"}, {}])
    assert caught.value.fields == {"code": "is required"}
    assert items.count() == 0


def test_insert_many_in_an_outer_transaction_is_undone_with_it(db: Database, items: DAO) -> None:
    """insert_many joins the caller's transaction as a savepoint."""
    with pytest.raises(Boom):
        with db.transaction():
            assert items.insert_many([{"code": "a"}, {"code": "b"}]) == 2
            raise Boom
    assert items.count() == 0


def test_execute_helpers(db: Database) -> None:
    """execute/execute_one/execute_write/executemany run real statements."""
    db.execute_write("CREATE TABLE kv (k TEXT PRIMARY KEY, v INTEGER) STRICT")
    assert db.executemany("INSERT INTO kv VALUES (?, ?)", [("a", 1), ("b", 2)]) == 2
    assert db.execute_write("UPDATE kv SET v = v + 10 WHERE k = ?", ("a",)).rowcount == 1
    assert [tuple(r) for r in db.execute("SELECT k, v FROM kv ORDER BY k")] == [
        ("a", 11),
        ("b", 2),
    ]
    assert db.execute_one("SELECT v FROM kv WHERE k = ?", ("zz",)) is None
    assert db.ping() is True
    db.checkpoint()


def test_pragmas_are_set_on_every_connection(db: Database) -> None:
    """WAL, foreign keys and the busy timeout come from the one connect()."""
    fresh = db.connect()
    try:
        for conn in (db.conn, fresh):
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
            assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 5000
    finally:
        fresh.close()
    assert db.path.parent.is_dir()


def test_close_then_use_reopens(db: Database, items: DAO) -> None:
    """After close(), the next call opens a fresh connection."""
    items.insert({"code": "a"})
    db.close()
    assert items.count() == 1


def test_after_commit_runs_once_after_the_outermost_commit(db: Database) -> None:
    seen: list[str] = []
    with db.transaction():
        with db.transaction():
            db.after_commit(lambda: seen.append("inner"))
        assert not seen  # still inside the outer transaction
        db.after_commit(lambda: seen.append("outer"))
    assert seen == ["inner", "outer"]
    db.after_commit(lambda: seen.append("now"))  # no transaction: at once
    assert seen[-1] == "now"


def test_after_commit_callbacks_are_dropped_on_rollback(db: Database) -> None:
    seen: list[str] = []
    with pytest.raises(RuntimeError):
        with db.transaction():
            db.after_commit(lambda: seen.append("never"))
            raise RuntimeError("roll back")
    with db.transaction():
        pass
    assert not seen
