"""Names that end up in SQL text are checked before anything reaches the database."""

# pylint: disable=redefined-outer-name  # pytest fixtures name their dependencies

from __future__ import annotations

import pytest

from modules.datastore import Database, Datastore, Entity, Field, SchemaError, check_identifier

RULE = "use 1-63 characters a-z, 0-9 and _, starting with a letter"

BAD_SHAPES = [
    "Contact",
    "contactS",
    "1contact",
    "_contact",
    "",
    "a" * 64,
    "con tact",
    "contact;",
    "contact; drop table account",
    "con'tact",
    'con"tact',
    "con`tact",
    "con-tact",
    "contact--",
    "côntact",
    "contact\n",
]
KEYWORDS = ["select", "order", "table", "from", "where", "group", "index", "default"]


@pytest.mark.parametrize("name", BAD_SHAPES)
def test_bad_shapes_are_rejected_with_the_rule(name: str) -> None:
    """Anything outside [a-z][a-z0-9_]{0,62} is refused, naming the value and the rule."""
    with pytest.raises(SchemaError) as caught:
        check_identifier(name, "entity name")
    assert str(caught.value) == f"entity name {name!r} is not allowed: {RULE}"


@pytest.mark.parametrize("name", KEYWORDS)
def test_sql_keywords_are_rejected(name: str) -> None:
    """SQL keywords are refused with a message that says so."""
    with pytest.raises(SchemaError, match=f"field name '{name}' is an SQL keyword"):
        check_identifier(name, "field name")


@pytest.mark.parametrize("name", [None, 3, b"contact", ["contact"]])
def test_non_strings_are_rejected(name: object) -> None:
    """Only str can be an identifier."""
    with pytest.raises(SchemaError, match="is not allowed"):
        check_identifier(name)


@pytest.mark.parametrize("name", ["a", "contact", "contact_2", "x" * 63, "selected", "orders"])
def test_good_names_pass_through(name: str) -> None:
    """The longest allowed name and words that merely contain a keyword are fine."""
    assert check_identifier(name) == name


@pytest.mark.parametrize("name", ["Contact", "2fa", "select", "a b", "x;y", "a" * 64])
def test_bad_entity_and_field_names_are_refused_before_sql(
    db: Database, store: Datastore, name: str
) -> None:
    """Entity, field and referenced-entity names all go through the check; nothing is created."""
    with pytest.raises(SchemaError, match="entity name"):
        Entity(name, (Field("title"),))
    with pytest.raises(SchemaError, match="field name"):
        Entity("thing", (Field(name),))
    with pytest.raises(SchemaError, match="referenced entity"):
        Entity("thing", (Field("owner", "reference", references=name),))
    with pytest.raises(SchemaError, match="entity name"):
        store.register({"name": name, "fields": [{"name": "title"}]})
    assert db.execute("SELECT name FROM sqlite_master") == []


@pytest.mark.parametrize("name", ["id", "account_id"])
def test_reserved_field_names_are_refused(name: str) -> None:
    """id and account_id belong to the datastore."""
    with pytest.raises(SchemaError, match=f"field name '{name}' is reserved"):
        Entity("thing", (Field(name, "integer"),))


def test_other_malformed_definitions_are_refused() -> None:
    """Unknown types, duplicate fields, dangling group names and bad on_delete values."""
    with pytest.raises(SchemaError, match="unknown type 'date'.*expected one of text"):
        Entity("thing", (Field("born", "date"),))  # type: ignore[arg-type]
    with pytest.raises(SchemaError, match="declares field 'a' twice"):
        Entity("thing", (Field("a"), Field("a")))
    with pytest.raises(SchemaError, match="has no fields"):
        Entity("thing", ())
    with pytest.raises(SchemaError, match="no field 'b'"):
        Entity("thing", (Field("a"),), uniques=(("a", "b"),))
    with pytest.raises(SchemaError, match="no field 'b'"):
        Entity("thing", (Field("a"),), search_fields=("b",))
    with pytest.raises(SchemaError, match="needs `references`"):
        Entity("thing", (Field("owner", "reference"),))
    with pytest.raises(SchemaError, match="sets `references` but is not one"):
        Entity("thing", (Field("owner", "integer", references="account"),))
    with pytest.raises(SchemaError, match="on_delete must be one of"):
        Entity("thing", (Field("owner", "reference", references="x", on_delete="drop"),))
