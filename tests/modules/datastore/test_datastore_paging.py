"""Keyset pagination over 10,000 rows: every row once, in order, whatever the sort."""

# pylint: disable=redefined-outer-name  # pytest fixtures name their dependencies

from __future__ import annotations

import base64
import json
import math
import random
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from modules.datastore import DAO, Database, Datastore, Entity, Field, ValidationError

ROWS = 10_000
ITEM = Entity(
    "item",
    (
        Field("seq", "integer", required=True),
        Field("name", required=True),
        Field("score", "integer"),
        Field("price", "real"),
        Field("flag", "boolean"),
        Field("label"),
    ),
)


@pytest.fixture(scope="module")
def items(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DAO, list[dict]]]:
    """10,000 rows in shuffled sort order, built once for this module (read-only)."""
    db = Database(Path(tmp_path_factory.mktemp("paging")) / "paging.db")
    dao = Datastore(db).register(ITEM)
    rnd = random.Random(20240506)
    rows = [
        {
            "seq": i,
            "name": f"name-{rnd.randrange(37):02d}",
            "score": None if rnd.random() < 0.2 else rnd.randrange(50),
            "price": rnd.choice([0.5, 1.25, 9.99, 100.0]),
            "flag": rnd.random() < 0.5,
            "label": f"label {i} " + rnd.choice(["100%", "a_b", "axb", "plain"]),
        }
        for i in range(ROWS)
    ]
    assert dao.insert_many(rows) == ROWS
    stored = dao.find()
    assert len(stored) == ROWS
    yield dao, stored
    db.close()


def walk(dao: DAO, limit: int, **kwargs: Any) -> tuple[list[int], int]:
    """Follow next_cursor to the end; returns the ids seen and the number of pages."""
    seen: list[int] = []
    cursor = None
    pages = 0
    while True:
        page = dao.page(after=cursor, limit=limit, **kwargs)
        pages += 1
        assert len(page.items) <= limit
        seen += [r["id"] for r in page.items]
        if page.next_cursor is None:
            return seen, pages
        assert page.items, "a page with a next cursor must not be empty"
        cursor = page.next_cursor
        assert pages <= ROWS, "pagination does not terminate"


def nulls_first(field: str) -> Callable[[dict], tuple]:
    """SQLite's ascending order for a nullable column, ties broken by id."""
    return lambda r: (r[field] is not None, r[field] if r[field] is not None else 0, r["id"])


ORDERS = [
    ("id", False, lambda r: r["id"]),
    ("id", True, lambda r: r["id"]),
    ("name", False, lambda r: (r["name"], r["id"])),
    ("name", True, lambda r: (r["name"], r["id"])),
    ("score", False, nulls_first("score")),
    ("score", True, nulls_first("score")),
    ("price", False, lambda r: (r["price"], r["id"])),
    ("flag", True, lambda r: (r["flag"], r["id"])),
]


@pytest.mark.parametrize("limit", [250, 333])
@pytest.mark.parametrize(
    ("order_by", "descending", "key"),
    ORDERS,
    ids=[f"{o}-{'desc' if d else 'asc'}" for o, d, _ in ORDERS],
)
def test_walking_every_page_sees_every_row_once_in_order(
    items: tuple[DAO, list[dict]],
    order_by: str,
    descending: bool,
    key: Callable[[dict], Any],
    limit: int,
) -> None:
    """Pages chained by cursor equal the full sorted list, with nothing repeated or lost."""
    dao, rows = items
    expected = [r["id"] for r in sorted(rows, key=key, reverse=descending)]
    seen, pages = walk(dao, limit, order_by=order_by, descending=descending)
    assert len(set(seen)) == len(seen) == ROWS
    assert seen == expected
    assert pages == math.ceil(ROWS / limit)


def test_nullable_sort_column_really_has_nulls(items: tuple[DAO, list[dict]]) -> None:
    """Guard for the test above: the NULL/non-NULL boundary falls inside a page."""
    dao, rows = items
    nulls = sum(1 for r in rows if r["score"] is None)
    assert 1000 < nulls < 3000
    assert dao.count({"score": None}) == nulls
    assert nulls % 250 and nulls % 333


def test_filtered_and_searched_walks(items: tuple[DAO, list[dict]]) -> None:
    """where and search narrow the walk; LIKE wildcards in the term are literal."""
    dao, rows = items
    expected = [r["id"] for r in sorted(rows, key=nulls_first("score")) if r["flag"]]
    seen, _ = walk(dao, 100, where={"flag": True}, order_by="score")
    assert seen == expected
    for term, needle in [("100%", "100%"), ("a_b", "a_b")]:
        expected = [r["id"] for r in rows if needle in r["label"]]
        seen, _ = walk(dao, 500, search=term, order_by="name")
        assert sorted(seen) == expected
        assert len(seen) == dao.count(search=term)
    assert all("axb" not in r["label"] for r in dao.page(search="a_b", limit=1000).items)


def test_page_sizes_are_bounded(items: tuple[DAO, list[dict]]) -> None:
    """limit must be 1..1000; the last page has no cursor."""
    dao, _ = items
    for limit in (0, -1, 1001):
        with pytest.raises(ValidationError) as caught:
            dao.page(limit=limit)
        assert set(caught.value.fields) == {"limit"}
    assert len(dao.page(limit=1000).items) == 1000
    last = dao.page(where={"seq": [1, 2, 3]}, limit=3)
    assert len(last.items) == 3 and last.next_cursor is None


def _encode(obj: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")


TAMPERED = [
    "not a cursor!",
    "abc",
    "%%%%",
    _encode("ab"),
    _encode([1, 2, 3]),
    _encode(["name-01", "7"]),
    _encode(["name-01", 1.5]),
    _encode(["name-01", True]),
    _encode(None),
    _encode({"a": 1}),
    _encode([["name-01"], 7]),
    _encode([{"a": 1}, 7]),
    _encode(["name-01", 2**70]),
    _encode([2**70, 7]),
]


@pytest.mark.parametrize("order_by", ["id", "name"])
@pytest.mark.parametrize("cursor", TAMPERED)
def test_tampered_cursor_is_a_validation_error(
    items: tuple[DAO, list[dict]], cursor: str, order_by: str
) -> None:
    """Anything that is not a cursor the DAO made is refused with a field error."""
    dao, _ = items
    with pytest.raises(ValidationError) as caught:
        dao.page(after=cursor, order_by=order_by)
    assert caught.value.fields == {"cursor": "is not a valid page cursor"}


def test_cursor_is_opaque_text(items: tuple[DAO, list[dict]]) -> None:
    """A cursor is URL-safe text that survives being passed around."""
    dao, _ = items
    cursor = dao.page(order_by="name", limit=10).next_cursor
    assert cursor and all(c.isalnum() or c in "-_" for c in cursor)
    again = dao.page(order_by="name", limit=10, after=str(cursor))
    assert len(again.items) == 10
