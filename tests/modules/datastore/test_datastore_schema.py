"""Entity registration: tables, indexes and additive migrations, read back from SQLite."""

# pylint: disable=redefined-outer-name  # pytest fixtures name their dependencies

from __future__ import annotations

import json

import pytest

from modules.datastore import (
    DAO,
    Database,
    Datastore,
    Entity,
    Field,
    SchemaError,
    ScopedDAO,
)


def columns(db: Database, table: str) -> dict[str, tuple[str, bool, object]]:
    """column -> (declared type, NOT NULL, default SQL) as SQLite reports them."""
    return {
        row["name"]: (row["type"], bool(row["notnull"]), row["dflt_value"])
        for row in db.execute("SELECT * FROM pragma_table_info(?)", (table,))
    }


def indexes(db: Database, table: str) -> dict[str, tuple[tuple[str, ...], bool]]:
    """index name -> (columns, unique) for the indexes created explicitly."""
    result = {}
    for row in db.execute("SELECT * FROM pragma_index_list(?)", (table,)):
        if row["origin"] != "c":
            continue
        cols = tuple(
            r["name"]
            for r in db.execute("SELECT * FROM pragma_index_info(?) ORDER BY seqno", (row["name"],))
        )
        result[row["name"]] = (cols, bool(row["unique"]))
    return result


def tables(db: Database) -> set[str]:
    """Names of the user tables in the file."""
    return {
        r[0]
        for r in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
    }


CATEGORY = Entity("category", (Field("title", required=True, unique=True),))
PRODUCT = Entity(
    "product",
    (
        Field("name", required=True),
        Field("sku", unique=True),
        Field("price", "real", default=0.0),
        Field("active", "boolean", default=True),
        Field("status", index=True),
        Field("category", "reference", references="category"),
        Field("meta", "json"),
    ),
    uniques=(("name", "status"),),
    indexes=(("status", "price"),),
)


def test_register_creates_strict_table_with_typed_columns(db: Database, store: Datastore) -> None:
    """The table exists in sqlite_master, is STRICT, and has one column per field."""
    store.register(CATEGORY)
    dao = store.register(PRODUCT)
    assert isinstance(dao, DAO)
    assert {"category", "product", "_entity"} <= tables(db)
    strict = db.execute_one("SELECT strict FROM pragma_table_list WHERE name = 'product'")
    assert strict is not None and strict[0] == 1
    sql = db.execute_one("SELECT sql FROM sqlite_master WHERE name = 'product'")[0]
    assert sql.rstrip().endswith("STRICT")
    assert columns(db, "product") == {
        "id": ("INTEGER", False, None),
        "name": ("TEXT", True, None),
        "sku": ("TEXT", False, None),
        "price": ("REAL", False, "0.0"),
        "active": ("INTEGER", False, "1"),
        "status": ("TEXT", False, None),
        "category": ("INTEGER", False, None),
        "meta": ("TEXT", False, None),
    }
    pk = db.execute("SELECT name FROM pragma_table_info('product') WHERE pk = 1")
    assert [r[0] for r in pk] == ["id"]


def test_register_creates_indexes_for_unique_index_and_reference_fields(
    db: Database, store: Datastore
) -> None:
    """unique -> unique index, index/reference -> plain index, plus declared groups."""
    store.register(CATEGORY)
    store.register(PRODUCT)
    assert indexes(db, "product") == {
        "ux_product__sku": (("sku",), True),
        "ix_product__status": (("status",), False),
        "ix_product__category": (("category",), False),
        "ux_product__name__status": (("name", "status"), True),
        "ix_product__status__price": (("status", "price"), False),
    }
    assert indexes(db, "category") == {"ux_category__title": (("title",), True)}


def test_reference_field_is_a_foreign_key(db: Database, store: Datastore) -> None:
    """A reference column points at the other table's id with the chosen ON DELETE."""
    store.register(CATEGORY)
    store.register(PRODUCT)
    fks = [
        (r["from"], r["table"], r["to"], r["on_delete"])
        for r in db.execute("SELECT * FROM pragma_foreign_key_list('product')")
    ]
    assert fks == [("category", "category", "id", "RESTRICT")]


def test_tenant_scoped_table_has_account_id_and_scoped_indexes(
    db: Database, store: Datastore, accounts: DAO
) -> None:
    """A tenant-scoped entity gets account_id (NOT NULL, FK with cascade) first in its indexes."""
    assert accounts.name == "account"
    dao = store.register(
        Entity(
            "contact",
            (Field("email", unique=True), Field("tag", index=True)),
            tenant_scoped=True,
        )
    )
    assert isinstance(dao, ScopedDAO)
    assert columns(db, "contact")["account_id"] == ("INTEGER", True, None)
    fks = [
        (r["from"], r["table"], r["on_delete"])
        for r in db.execute("SELECT * FROM pragma_foreign_key_list('contact')")
    ]
    assert fks == [("account_id", "account", "CASCADE")]
    assert indexes(db, "contact") == {
        "ux_contact__account_id__email": (("account_id", "email"), True),
        "ix_contact__account_id__tag": (("account_id", "tag"), False),
        "ix_contact__account_id": (("account_id",), False),
    }


def test_tenant_scoped_entity_needs_the_account_entity_first(
    db: Database, store: Datastore
) -> None:
    """Registering a tenant-scoped entity before `account` is refused and creates nothing."""
    with pytest.raises(SchemaError, match="register the 'account' entity first"):
        store.register(Entity("note", (Field("body"),), tenant_scoped=True))
    assert "note" not in tables(db)
    with pytest.raises(SchemaError, match="not registered"):
        store.dao("note")


def test_register_accepts_a_spec_dict_and_records_it(db: Database, store: Datastore) -> None:
    """A library may hand a plain dict; the spec is stored in `_entity` for every process."""
    spec = {
        "name": "tag",
        "fields": [{"name": "label", "required": True, "unique": True}],
        "search_fields": ["label"],
    }
    dao = store.register(spec)
    assert dao.entity == Entity(
        "tag", (Field("label", required=True, unique=True),), search_fields=("label",)
    )
    assert store.dao("tag") is dao
    assert set(store.entities) == {"tag"}
    stored = db.execute_one("SELECT spec FROM _entity WHERE name = 'tag'")[0]
    assert json.loads(stored) == dao.entity.to_spec()
    assert [s["name"] for s in Datastore(db).registered_specs()] == ["tag"]


def test_malformed_spec_dict_is_a_schema_error(db: Database, store: Datastore) -> None:
    """A dict missing `fields` or carrying an unknown key is refused with SchemaError."""
    with pytest.raises(SchemaError, match="malformed"):
        store.register({"name": "tag"})
    with pytest.raises(SchemaError, match="malformed"):
        store.register({"name": "tag", "fields": [{"name": "label", "colour": "red"}]})
    assert "tag" not in tables(db)


def test_registering_the_same_entity_again_changes_nothing(db: Database, store: Datastore) -> None:
    """Every start re-registers: same definition, same table, rows kept."""
    store.register(CATEGORY)
    dao = store.register(CATEGORY)
    dao.insert({"title": "Books"})
    before = (columns(db, "category"), indexes(db, "category"))
    again = Datastore(db).register(CATEGORY)
    assert (columns(db, "category"), indexes(db, "category")) == before
    assert [r["title"] for r in again.find()] == ["Books"]


def test_new_field_is_added_with_alter_table_and_data_is_kept(
    db: Database, store: Datastore
) -> None:
    """A new optional field becomes a column (NULL for old rows); a new required
    field with a fixed default gives old rows that default; indexes follow."""
    old = store.register(Entity("person", (Field("name", required=True),)))
    first = old.insert({"name": "Ada"})
    new = store.register(
        Entity(
            "person",
            (
                Field("name", required=True),
                Field("nickname", unique=True),
                Field("level", "integer", required=True, default=3),
                Field("joined", "datetime"),
            ),
        )
    )
    assert list(columns(db, "person")) == ["id", "name", "nickname", "level", "joined"]
    assert columns(db, "person")["level"] == ("INTEGER", True, "3")
    assert "ux_person__nickname" in indexes(db, "person")
    assert new.get(first) == {
        "id": first,
        "name": "Ada",
        "nickname": None,
        "level": 3,
        "joined": None,
    }
    second = new.insert({"name": "Grace", "nickname": "amazing", "level": 5})
    assert new.get(second)["level"] == 5
    assert new.count() == 2


def test_new_required_field_without_fixed_default_is_refused(
    db: Database, store: Datastore
) -> None:
    """Old rows would have no value: refused, and the table is left as it was."""
    store.register(Entity("person", (Field("name"),)))
    before = columns(db, "person")
    with pytest.raises(SchemaError, match="'age' needs a fixed default"):
        store.register(Entity("person", (Field("name"), Field("age", "integer", required=True))))
    with pytest.raises(SchemaError, match="'age' needs a fixed default"):
        store.register(
            Entity(
                "person",
                (Field("name"), Field("age", "integer", required=True, default=lambda: 1)),
            )
        )
    assert columns(db, "person") == before


def test_new_unique_field_that_existing_rows_break_is_refused_and_rolled_back(
    db: Database, store: Datastore
) -> None:
    """Two old rows would share the new unique default: SchemaError, no column added."""
    dao = store.register(Entity("person", (Field("name"),)))
    dao.insert_many([{"name": "a"}, {"name": "b"}])
    with pytest.raises(SchemaError, match="existing rows break it"):
        store.register(
            Entity(
                "person",
                (Field("name"), Field("slug", required=True, unique=True, default="x")),
            )
        )
    assert list(columns(db, "person")) == ["id", "name"]
    assert dao.count() == 2


@pytest.mark.parametrize(
    ("old_type", "new_type"),
    [("text", "integer"), ("integer", "real"), ("text", "json"), ("integer", "boolean")],
)
def test_field_changing_type_is_refused(
    db: Database, store: Datastore, old_type: str, new_type: str
) -> None:
    """Storage changes and logical changes (text -> json) both need a manual migration."""
    dao = store.register(Entity("thing", (Field("value", old_type),)))  # type: ignore[arg-type]
    dao.insert({"value": 1 if old_type == "integer" else "x"})
    with pytest.raises(SchemaError, match="thing.value"):
        store.register(Entity("thing", (Field("value", new_type),)))  # type: ignore[arg-type]
    assert columns(db, "thing")["value"][0] == ("INTEGER" if old_type == "integer" else "TEXT")
    spec = json.loads(db.execute_one("SELECT spec FROM _entity WHERE name = 'thing'")[0])
    assert spec["fields"][0]["type"] == old_type


def test_tenant_scoped_flag_cannot_flip(store: Datastore, accounts: DAO) -> None:
    """Neither global -> scoped nor scoped -> global is allowed on an existing table."""
    assert accounts.count() == 0
    store.register(Entity("note", (Field("body"),)))
    with pytest.raises(SchemaError, match="tenant-scoped"):
        store.register(Entity("note", (Field("body"),), tenant_scoped=True))
    store.register(Entity("memo", (Field("body"),), tenant_scoped=True))
    with pytest.raises(SchemaError, match="tenant-scoped"):
        store.register(Entity("memo", (Field("body"),)))
    assert isinstance(store.dao("note"), DAO)
    assert isinstance(store.dao("memo"), ScopedDAO)


def test_registration_is_shared_through_the_file(db_file, store: Datastore) -> None:
    """A second process (a second Database) sees the table and can migrate it further."""
    store.register(Entity("person", (Field("name"),)))
    other = Database(db_file)
    try:
        dao = Datastore(other).register(Entity("person", (Field("name"), Field("age", "integer"))))
        dao.insert({"name": "Ada", "age": 36})
        assert list(columns(store.db, "person")) == ["id", "name", "age"]
    finally:
        other.close()
