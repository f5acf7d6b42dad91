"""The generated DAO: CRUD, filters, type round trips, defaults and field-level errors."""

# pylint: disable=redefined-outer-name  # pytest fixtures name their dependencies

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from typing import Iterator

import pytest

from modules.datastore import (
    DAO,
    Database,
    Datastore,
    Entity,
    Field,
    UniqueError,
    ValidationError,
    utcnow,
)

TASK = Entity(
    "task",
    (
        Field("title", required=True),
        Field("code", unique=True),
        Field("status", default="open"),
        Field("priority", "integer", default=2),
        Field("estimate", "real"),
        Field("done", "boolean", default=False),
        Field("due", "datetime"),
        Field("created_at", "datetime", default=utcnow),
        Field("payload", "json"),
        Field("owner", "reference", references="person"),
    ),
)


@pytest.fixture
def people(store: Datastore) -> DAO:
    """A plain entity that tasks refer to."""
    dao = store.register(Entity("person", (Field("name", required=True),)))
    assert isinstance(dao, DAO)
    return dao


@pytest.fixture
def tasks(store: Datastore, people: DAO) -> DAO:
    """The entity under test, registered after the one it refers to."""
    assert people.count() == 0
    dao = store.register(TASK)
    assert isinstance(dao, DAO)
    return dao


def raw(db: Database, row_id: int, column: str) -> object:
    """A stored value exactly as SQLite holds it."""
    return db.execute_one(f"SELECT {column} FROM task WHERE id = ?", (row_id,))[0]


# --- create / read / update / delete -------------------------------------------------


def test_insert_returns_integer_ids_and_get_reads_the_row(tasks: DAO) -> None:
    """Ids are increasing integers; get returns a plain dict with every column."""
    first = tasks.insert({"title": "Write tests"})
    second = tasks.insert({"title": "Fix bugs", "code": "T-2"})
    assert isinstance(first, int) and second > first
    row = tasks.get(second)
    assert isinstance(row, dict)
    assert list(row) == ["id", *TASK.field_names]
    assert row["id"] == second and row["title"] == "Fix bugs" and row["code"] == "T-2"
    assert tasks.get(second + 100) is None


def test_update_changes_only_given_fields(tasks: DAO) -> None:
    """Untouched fields keep their values; a missing row gives False."""
    row_id = tasks.insert({"title": "Draft", "priority": 1, "payload": {"a": 1}})
    assert tasks.update(row_id, {"title": "Final", "done": True}) is True
    row = tasks.get(row_id)
    assert (row["title"], row["done"], row["priority"], row["payload"]) == (
        "Final",
        True,
        1,
        {"a": 1},
    )
    assert tasks.update(row_id + 1, {"title": "Nobody"}) is False
    assert tasks.update(row_id, {}) is True
    assert tasks.update(row_id + 1, {}) is False
    assert tasks.count({"title": "Nobody"}) == 0


def test_update_can_clear_optional_fields_but_not_required_ones(tasks: DAO) -> None:
    """None clears an optional value; None for a required one is a ValidationError."""
    row_id = tasks.insert({"title": "Draft", "code": "C", "estimate": 1.5})
    assert tasks.update(row_id, {"code": None, "estimate": None})
    assert (tasks.get(row_id)["code"], tasks.get(row_id)["estimate"]) == (None, None)
    with pytest.raises(ValidationError) as caught:
        tasks.update(row_id, {"title": None})
    assert caught.value.fields == {"title": "is required"}
    assert tasks.get(row_id)["title"] == "Draft"


def test_delete_removes_the_row(tasks: DAO) -> None:
    """delete is True once, then False; other rows stay."""
    keep = tasks.insert({"title": "keep"})
    drop = tasks.insert({"title": "drop"})
    assert tasks.delete(drop) is True
    assert tasks.delete(drop) is False
    assert tasks.get(drop) is None
    assert [r["id"] for r in tasks.find()] == [keep]


# --- find / find_one / count ---------------------------------------------------------


@pytest.fixture
def sample(tasks: DAO) -> dict[str, int]:
    """Five tasks with a mix of statuses, priorities and missing codes."""
    ids = {}
    for title, code, status, priority in [
        ("a", "A", "open", 1),
        ("b", None, "open", 3),
        ("c", "C", "closed", 2),
        ("d", None, "blocked", 3),
        ("e", "E", "closed", 1),
    ]:
        ids[title] = tasks.insert(
            {"title": title, "code": code, "status": status, "priority": priority}
        )
    return ids


def titles(rows: list[dict]) -> list[str]:
    """The titles of `rows`, in order."""
    return [r["title"] for r in rows]


def test_find_with_equality_filters(tasks: DAO, sample: dict[str, int]) -> None:
    """Each key is ANDed as equality; no filter means every row, ordered by id."""
    assert titles(tasks.find()) == ["a", "b", "c", "d", "e"]
    assert titles(tasks.find({"status": "open"})) == ["a", "b"]
    assert titles(tasks.find({"status": "closed", "priority": 1})) == ["e"]
    assert titles(tasks.find({"id": sample["c"]})) == ["c"]
    assert tasks.find({"status": "nope"}) == []


def test_find_none_means_is_null_and_list_means_in(tasks: DAO, sample: dict[str, int]) -> None:
    """None -> IS NULL; list/tuple/set -> IN; an empty list matches nothing."""
    assert titles(tasks.find({"code": None})) == ["b", "d"]
    assert titles(tasks.find({"status": ["blocked", "closed"]})) == ["c", "d", "e"]
    assert titles(tasks.find({"priority": (3,)})) == ["b", "d"]
    assert titles(tasks.find({"id": {sample["a"], sample["e"]}})) == ["a", "e"]
    assert tasks.find({"status": []}) == []
    assert tasks.count({"status": []}) == 0


def test_find_order_limit_and_find_one(tasks: DAO, sample: dict[str, int]) -> None:
    """order_by a field breaks ties by id; limit caps; find_one takes the first by id."""
    assert titles(tasks.find(order_by="priority")) == ["a", "e", "c", "b", "d"]
    assert titles(tasks.find(order_by="priority", descending=True)) == ["d", "b", "c", "e", "a"]
    assert titles(tasks.find({"status": "open"}, descending=True, limit=1)) == ["b"]
    assert tasks.find_one({"status": "closed"})["id"] == sample["c"]
    assert tasks.find_one({"status": "gone"}) is None


def test_count_with_filters(tasks: DAO, sample: dict[str, int]) -> None:
    """count agrees with find for the same filter."""
    assert len(sample) == tasks.count() == 5
    assert tasks.count({"status": "open"}) == 2
    assert tasks.count({"code": None, "priority": 3}) == 2
    assert tasks.count({"status": ["open", "closed"], "priority": 1}) == 2


def test_filters_and_order_reject_unknown_fields(tasks: DAO, sample: dict[str, int]) -> None:
    """A filter or sort on a name that is not a field is a ValidationError naming it."""
    assert sample
    with pytest.raises(ValidationError) as caught:
        tasks.find({"colour": "red"})
    assert caught.value.fields == {"colour": "is not a field of task"}
    with pytest.raises(ValidationError, match="colour"):
        tasks.count({"colour": "red"})
    with pytest.raises(ValidationError) as caught:
        tasks.find(order_by="title; drop table task")
    assert set(caught.value.fields) == {"order_by"}
    assert tasks.count() == 5


def test_filter_values_are_parameters_not_sql(tasks: DAO, sample: dict[str, int]) -> None:
    """A value that looks like SQL is just a value."""
    assert sample
    assert tasks.find({"title": "a' OR '1'='1"}) == []
    tasks.insert({"title": "x'); DROP TABLE task; --"})
    assert titles(tasks.find({"title": "x'); DROP TABLE task; --"})) == ["x'); DROP TABLE task; --"]
    assert tasks.count() == 6


# --- search --------------------------------------------------------------------------


def test_search_is_a_like_over_text_fields_with_wildcards_escaped(tasks: DAO) -> None:
    """% and _ in the term match themselves; the match is case-insensitive."""
    for title in ["100% done", "100 percent", "snake_case", "snakeXcase", "C:\\temp", "Other"]:
        tasks.insert({"title": title})
    tasks.insert({"title": "coded", "code": "SNAKE_CASE-1"})
    assert titles(tasks.find(search="100%")) == ["100% done"]
    assert titles(tasks.find(search="e_c")) == ["snake_case", "coded"]
    assert titles(tasks.find(search="\\t")) == ["C:\\temp"]
    assert titles(tasks.find(search="OTHER")) == ["Other"]
    assert tasks.count(search="%") == 1
    assert tasks.count(search="_") == 2
    assert tasks.count(search="100") == 2
    assert titles(tasks.find({"code": None}, search="snake")) == ["snake_case", "snakeXcase"]


def test_search_fields_limit_where_search_looks(store: Datastore) -> None:
    """With search_fields set, other text fields are not searched."""
    notes = store.register(
        Entity("note", (Field("title"), Field("body")), search_fields=("title",))
    )
    notes.insert({"title": "apple", "body": "banana"})
    notes.insert({"title": "banana", "body": "apple"})
    assert [r["title"] for r in notes.find(search="apple")] == ["apple"]


# --- types ---------------------------------------------------------------------------


def test_boolean_round_trip(db: Database, tasks: DAO) -> None:
    """Stored as 0/1, read back as bool, filterable with bools."""
    yes = tasks.insert({"title": "y", "done": True})
    no = tasks.insert({"title": "n", "done": False})
    assert tasks.get(yes)["done"] is True
    assert tasks.get(no)["done"] is False
    assert (raw(db, yes, "done"), raw(db, no, "done")) == (1, 0)
    assert titles(tasks.find({"done": True})) == ["y"]
    with pytest.raises(ValidationError) as caught:
        tasks.insert({"title": "bad", "done": "yes"})
    assert caught.value.fields == {"done": "must be true or false"}


@pytest.fixture
def local_time_not_utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Run with a local zone far from UTC, so "naive means local" would show."""
    monkeypatch.setenv("TZ", "HST10")  # POSIX form: needs no tzdata
    time.tzset()
    assert time.timezone != 0
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.usefixtures("local_time_not_utc")
def test_datetime_round_trip_and_naive_is_utc(db: Database, tasks: DAO) -> None:
    """Naive means UTC (whatever the local zone); aware values are converted to UTC;
    strings with Z are accepted."""
    naive = datetime(2024, 5, 6, 7, 8, 9, 123456)
    paris = datetime(2024, 5, 6, 9, 8, 9, 123456, tzinfo=timezone(timedelta(hours=2)))
    expected = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=timezone.utc)
    ids = [
        tasks.insert({"title": "naive", "due": naive}),
        tasks.insert({"title": "aware", "due": paris}),
        tasks.insert({"title": "text", "due": "2024-05-06T07:08:09.123456Z"}),
    ]
    for row_id in ids:
        due = tasks.get(row_id)["due"]
        assert due == expected
        assert due.utcoffset() == timedelta(0)
        assert raw(db, row_id, "due") == "2024-05-06T07:08:09.123456+00:00"
    assert titles(tasks.find({"due": naive})) == ["naive", "aware", "text"]
    assert tasks.update(ids[0], {"due": datetime(2030, 1, 1)})
    assert tasks.get(ids[0])["due"] == datetime(2030, 1, 1, tzinfo=timezone.utc)


def test_bad_datetimes_are_validation_errors(tasks: DAO) -> None:
    """Garbage in a datetime field names the field, whether written or filtered on."""
    with pytest.raises(ValidationError) as caught:
        tasks.insert({"title": "x", "due": "next tuesday"})
    assert set(caught.value.fields) == {"due"}
    with pytest.raises(ValidationError) as caught:
        tasks.insert({"title": "x", "due": 12})
    assert caught.value.fields == {"due": "must be a date and time"}
    with pytest.raises(ValidationError) as caught:
        tasks.find({"due": "next tuesday"})
    assert set(caught.value.fields) == {"due"}
    assert tasks.count() == 0


def test_json_and_real_round_trip(tasks: DAO) -> None:
    """JSON values come back equal (nested, unicode); REAL takes ints and floats."""
    payload = {"tags": ["a", "ü", None], "n": 1.25, "ok": True, "nested": {"x": [1, 2]}}
    row_id = tasks.insert({"title": "j", "payload": payload, "estimate": 2})
    row = tasks.get(row_id)
    assert row["payload"] == payload
    assert row["estimate"] == 2.0 and isinstance(row["estimate"], float)
    other = tasks.insert({"title": "k", "payload": [1, "two"], "estimate": 0.1})
    assert tasks.get(other)["payload"] == [1, "two"]
    assert tasks.get(other)["estimate"] == 0.1


def test_defaults_fixed_and_callable(tasks: DAO) -> None:
    """Fixed defaults fill missing values; a callable default is called per insert."""
    before = datetime.now(timezone.utc)
    first = tasks.get(tasks.insert({"title": "first"}))
    second = tasks.get(tasks.insert({"title": "second", "priority": 9, "status": "x"}))
    after = datetime.now(timezone.utc)
    assert (first["status"], first["priority"], first["done"]) == ("open", 2, False)
    assert (second["status"], second["priority"]) == ("x", 9)
    assert before <= first["created_at"] <= second["created_at"] <= after
    assert first["created_at"].tzinfo is not None
    stamped = datetime(2020, 1, 1, tzinfo=timezone.utc)
    third = tasks.get(tasks.insert({"title": "third", "created_at": stamped}))
    assert third["created_at"] == stamped


def test_reference_round_trip_and_foreign_keys(people: DAO, tasks: DAO) -> None:
    """A reference holds an id; a dangling one is refused; a referenced row cannot go."""
    ada = people.insert({"name": "Ada"})
    row_id = tasks.insert({"title": "t", "owner": ada})
    assert tasks.get(row_id)["owner"] == ada
    assert titles(tasks.find({"owner": ada})) == ["t"]
    with pytest.raises(ValidationError) as caught:
        tasks.insert({"title": "orphan", "owner": ada + 1000})
    assert "does not exist" in str(caught.value)
    with pytest.raises(ValidationError):
        tasks.update(row_id, {"owner": ada + 1000})
    with pytest.raises(ValidationError, match="still referred to"):
        people.delete(ada)
    assert people.get(ada) is not None
    assert tasks.get(row_id)["owner"] == ada
    assert tasks.count() == 1


@pytest.mark.parametrize(("on_delete", "expected"), [("cascade", 0), ("set null", 1)])
def test_reference_on_delete(store: Datastore, people: DAO, on_delete: str, expected: int) -> None:
    """cascade removes referring rows; set null keeps them with no reference."""
    pets = store.register(
        Entity("pet", (Field("owner", "reference", references="person", on_delete=on_delete),))
    )
    ada = people.insert({"name": "Ada"})
    pets.insert({"owner": ada})
    assert people.delete(ada)
    assert pets.count() == expected
    assert pets.count({"owner": None}) == expected


# --- errors --------------------------------------------------------------------------


def test_unknown_field_is_a_validation_error_listing_every_one(tasks: DAO) -> None:
    """Every unknown name is reported in .fields; nothing is written."""
    with pytest.raises(ValidationError) as caught:
        tasks.insert({"title": "x", "colour": "red", "size": 3})
    assert caught.value.fields == {
        "colour": "is not a field of task",
        "size": "is not a field of task",
    }
    with pytest.raises(ValidationError) as caught:
        tasks.update(1, {"colour": "red"})
    assert caught.value.fields == {"colour": "is not a field of task"}
    assert tasks.count() == 0


def test_unknown_field_on_the_fast_path(store: Datastore) -> None:
    """An entity without defaults or conversions still checks the names it is given."""
    pairs = store.register(Entity("pair", (Field("head"), Field("tail"))))
    with pytest.raises(ValidationError) as caught:
        pairs.insert({"head": "a", "wrong": "b"})
    assert caught.value.fields == {"wrong": "is not a field of pair"}
    assert pairs.get(pairs.insert({"head": "a", "tail": "b"}))["tail"] == "b"


def test_missing_required_field_is_a_validation_error(tasks: DAO) -> None:
    """Leaving out (or passing None for) a required field names it."""
    for values in ({}, {"title": None}, {"code": "x"}):
        with pytest.raises(ValidationError) as caught:
            tasks.insert(values)
        assert caught.value.fields == {"title": "is required"}
    assert tasks.count() == 0


def test_unique_violation_names_the_field(tasks: DAO) -> None:
    """UniqueError (a ValidationError) names the field, on insert and on update."""
    first = tasks.insert({"title": "one", "code": "X-1"})
    other = tasks.insert({"title": "two", "code": "X-2"})
    with pytest.raises(UniqueError) as caught:
        tasks.insert({"title": "dup", "code": "X-1"})
    assert caught.value.fields == {"code": "is already taken"}
    assert isinstance(caught.value, ValidationError)
    with pytest.raises(UniqueError) as caught:
        tasks.update(other, {"code": "X-1"})
    assert caught.value.fields == {"code": "is already taken"}
    assert tasks.get(other)["code"] == "X-2"
    assert tasks.count({"code": "X-1"}) == 1 and tasks.get(first)["title"] == "one"


def test_composite_unique_names_every_field(store: Datastore) -> None:
    """A unique group reports all of its fields."""
    slots = store.register(
        Entity("slot", (Field("day"), Field("hour", "integer")), uniques=(("day", "hour"),))
    )
    slots.insert({"day": "mon", "hour": 9})
    slots.insert({"day": "mon", "hour": 10})
    with pytest.raises(UniqueError) as caught:
        slots.insert({"day": "mon", "hour": 9})
    assert caught.value.fields == {"day": "is already taken", "hour": "is already taken"}


@pytest.mark.parametrize(
    ("values", "field", "message"),
    [
        ({"priority": "high"}, "priority", "must be a whole number"),
        ({"priority": 1.5}, "priority", "must be a whole number"),
        ({"estimate": "soon"}, "estimate", "must be a number"),
        ({"owner": "ada"}, "owner", "must be a whole number"),
    ],
)
def test_wrong_type_into_strict_column_is_a_validation_error(
    tasks: DAO, values: dict, field: str, message: str
) -> None:
    """STRICT refuses the value; the error names the field and the expected kind."""
    with pytest.raises(ValidationError) as caught:
        tasks.insert({"title": "x", **values})
    assert caught.value.fields == {field: message}
    row_id = tasks.insert({"title": "ok"})
    with pytest.raises(ValidationError) as caught:
        tasks.update(row_id, values)
    assert caught.value.fields == {field: message}
    assert tasks.count() == 1


def test_strict_still_accepts_lossless_conversions(tasks: DAO) -> None:
    """'7' into INTEGER is stored as 7 (SQLite's documented STRICT behaviour)."""
    row_id = tasks.insert({"title": "x", "priority": "7"})
    assert tasks.get(row_id)["priority"] == 7
