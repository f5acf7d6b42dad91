"""Threads and processes sharing one database file lose nothing and see each other's commits."""

# pylint: disable=redefined-outer-name  # pytest fixtures name their dependencies

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Callable

import pytest

from modules.datastore import DAO, Database, Datastore, Entity, Field

EVENT = Entity(
    "event",
    (
        Field("worker", "integer", required=True),
        Field("n", "integer", required=True),
        Field("note"),
    ),
    uniques=(("worker", "n"),),
)


@pytest.fixture
def events(store: Datastore) -> DAO:
    """The entity every thread writes to."""
    dao = store.register(EVENT)
    assert isinstance(dao, DAO)
    return dao


def run_threads(targets: list[Callable[[], None]]) -> list[BaseException]:
    """Start all targets at once, wait for them, return what they raised."""
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(targets))

    def wrap(target: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                barrier.wait()
                target()
            except BaseException as exc:  # pylint: disable=broad-exception-caught
                errors.append(exc)

        return run

    threads = [threading.Thread(target=wrap(t)) for t in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
        assert not thread.is_alive(), "a thread hung"
    return errors


def test_eight_writer_threads_lose_nothing(events: DAO) -> None:
    """8 threads x 1,000 single-row inserts through one DAO: 8,000 rows, 8,000 ids."""
    returned: dict[int, list[int]] = {}

    def writer(worker: int) -> Callable[[], None]:
        def run() -> None:
            returned[worker] = [events.insert({"worker": worker, "n": n}) for n in range(1000)]

        return run

    errors = run_threads([writer(w) for w in range(8)])
    assert not errors, errors
    assert events.count() == 8000
    ids = [i for worker_ids in returned.values() for i in worker_ids]
    assert len(set(ids)) == 8000
    assert {r["id"] for r in events.find()} == set(ids)
    for worker, worker_ids in returned.items():
        rows = events.find({"worker": worker})
        assert [r["id"] for r in rows] == worker_ids
        assert [r["n"] for r in rows] == list(range(1000))


def test_readers_alongside_writers_see_no_errors(events: DAO) -> None:
    """Readers run while writers commit: no errors, and counts only ever grow."""
    done = threading.Event()
    observed: list[list[int]] = [[] for _ in range(4)]

    def writer(worker: int) -> Callable[[], None]:
        def run() -> None:
            for n in range(500):
                events.insert({"worker": worker, "n": n, "note": f"w{worker}"})

        return run

    def reader(slot: int) -> Callable[[], None]:
        def run() -> None:
            while not done.is_set() or not observed[slot]:
                observed[slot].append(events.count())
                page = events.page(order_by="note", descending=True, limit=20)
                assert len(page.items) <= 20
                for row in events.find({"worker": slot}, limit=5):
                    assert events.get(row["id"]) == row

        return run

    def writers_then_done() -> None:
        try:
            failed = run_threads([writer(w) for w in range(4)])
            assert not failed, failed
        finally:
            done.set()

    errors = run_threads([writers_then_done, *(reader(s) for s in range(4))])
    assert not errors, errors
    assert events.count() == 2000
    for counts in observed:
        assert counts and counts == sorted(counts)
        assert counts[-1] <= 2000


def test_second_database_object_sees_committed_rows(db_file: Path, events: DAO) -> None:
    """Another Database on the same file (as another process has) sees commits both ways,
    and never sees rows of a transaction that has not committed."""
    other_db = Database(db_file)
    try:
        other = Datastore(other_db).register(EVENT)
        first = events.insert({"worker": 1, "n": 1})
        assert other.get(first)["worker"] == 1
        second = other.insert({"worker": 2, "n": 2})
        assert events.get(second)["worker"] == 2
        with events.db.transaction():
            events.insert({"worker": 3, "n": 3})
            assert other.count() == 2
        assert other.count() == 3
        assert other.find_one({"worker": 3})["n"] == 3
    finally:
        other_db.close()


def test_another_process_writing_at_the_same_time(db_file: Path, events: DAO) -> None:
    """A real second process inserts while this one does; both sets of rows arrive."""
    script = textwrap.dedent(f"""
        from modules.datastore import Database, Datastore, Entity, Field
        db = Database({str(db_file)!r})
        dao = Datastore(db).register(Entity(
            "event",
            (Field("worker", "integer", required=True),
             Field("n", "integer", required=True), Field("note")),
            uniques=(("worker", "n"),),
        ))
        for n in range(300):
            dao.insert({{"worker": 99, "n": n}})
        print(dao.count({{"worker": 99}}))
        db.close()
        """)
    with subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as child:
        for n in range(300):
            events.insert({"worker": 1, "n": n})
        out, err = child.communicate(timeout=60)
    assert child.returncode == 0, err
    assert out.strip() == "300"
    assert events.count({"worker": 99}) == 300
    assert events.count() == 600
