"""DDL for entities: create the table, or migrate it additively.

The DDL is generated from the entity definition (data), so every table is
built the same way and a re-registration can only add: new columns, new
indexes. A field that changes type is refused rather than silently kept.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from modules.datastore.entities import ON_DELETE, STORAGE, TENANT_ENTITY, Entity, Field
from modules.datastore.errors import SchemaError

META_DDL = """CREATE TABLE IF NOT EXISTS _entity (
    name TEXT PRIMARY KEY,
    spec TEXT NOT NULL,
    updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT"""


def _literal(value: Any) -> str:
    """A constant for a DEFAULT clause (only for fixed, non-callable defaults)."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (dict, list)):
        value = json.dumps(value)
    return "'" + str(value).replace("'", "''") + "'"


def column_sql(one: Field, adding: bool = False) -> str:
    """The column definition of one field.

    `adding` is for ALTER TABLE ADD COLUMN, where SQLite needs a constant
    default for NOT NULL and cannot add UNIQUE (uniques are indexes anyway).
    """
    parts = [one.name, STORAGE[one.type]]
    fixed_default = one.default is not None and not callable(one.default)
    if one.required:
        if adding and not fixed_default:
            raise SchemaError(
                f"new required field {one.name!r} needs a fixed default so that "
                "existing rows can be given a value"
            )
        parts.append("NOT NULL")
    if fixed_default:
        parts.append("DEFAULT " + _literal(one.default))
    if one.type == "reference":
        parts.append(f"REFERENCES {one.references}(id) ON DELETE {ON_DELETE[one.on_delete]}")
    return " ".join(parts)


def _indexes(entity: Entity) -> list[tuple[str, tuple[str, ...], bool]]:
    """(index name, columns, unique) for every index the entity needs."""
    scope: tuple[str, ...] = ("account_id",) if entity.tenant_scoped else ()
    wanted: list[tuple[tuple[str, ...], bool]] = []
    for one in entity.fields:
        if one.unique:
            wanted.append(((*scope, one.name), True))
        elif one.index or one.type == "reference":
            wanted.append(((*scope, one.name), False))
    wanted += [((*scope, *cols), True) for cols in entity.uniques]
    wanted += [((*scope, *cols), False) for cols in entity.indexes]
    if entity.tenant_scoped:
        wanted.append((("account_id",), False))
    result = []
    for cols, unique in wanted:
        name = ("ux_" if unique else "ix_") + entity.name + "__" + "__".join(cols)
        result.append((name, cols, unique))
    return result


def create_table_sql(entity: Entity) -> str:
    """CREATE TABLE for a new entity."""
    columns = ["id INTEGER PRIMARY KEY AUTOINCREMENT"]
    if entity.tenant_scoped:
        columns.append(
            f"account_id INTEGER NOT NULL REFERENCES {TENANT_ENTITY}(id) ON DELETE CASCADE"
        )
    columns += [column_sql(one) for one in entity.fields]
    return f"CREATE TABLE {entity.name} (\n    " + ",\n    ".join(columns) + "\n) STRICT"


def _existing_columns(conn: sqlite3.Connection, table: str) -> dict[str, str]:
    return {
        row[1]: row[2].upper()
        for row in conn.execute("SELECT * FROM pragma_table_info(?)", (table,))
    }


def apply(conn: sqlite3.Connection, entity: Entity) -> list[str]:
    """Create or migrate the table of `entity` inside the caller's transaction.

    Returns the statements it ran (empty when nothing changed).
    """
    conn.execute(META_DDL)
    statements: list[str] = []
    if entity.tenant_scoped and entity.name != TENANT_ENTITY:
        if not _existing_columns(conn, TENANT_ENTITY):
            raise SchemaError(
                f"entity {entity.name!r} is tenant-scoped: register the "
                f"{TENANT_ENTITY!r} entity first"
            )
    existing = _existing_columns(conn, entity.name)
    if not existing:
        statements.append(create_table_sql(entity))
    else:
        if entity.tenant_scoped != ("account_id" in existing):
            raise SchemaError(f"entity {entity.name!r} cannot change whether it is tenant-scoped")
        for one in entity.fields:
            stored = existing.get(one.name)
            if stored is None:
                statements.append(
                    f"ALTER TABLE {entity.name} ADD COLUMN {column_sql(one, adding=True)}"
                )
            elif stored != STORAGE[one.type]:
                raise SchemaError(
                    f"field {entity.name}.{one.name} is stored as {stored}; changing "
                    f"it to {one.type} needs a manual migration"
                )
        _check_type_changes(conn, entity)
    for name, cols, unique in _indexes(entity):
        kind = "UNIQUE INDEX" if unique else "INDEX"
        statements.append(
            f"CREATE {kind} IF NOT EXISTS {name} ON {entity.name} ({', '.join(cols)})"
        )
    for sql in statements:
        try:
            conn.execute(sql)
        except sqlite3.IntegrityError as exc:
            raise SchemaError(
                f"cannot apply {sql!r} to {entity.name!r}: existing rows break it ({exc})"
            ) from None
    conn.execute(
        "INSERT INTO _entity (name, spec) VALUES (?, ?) ON CONFLICT(name) DO UPDATE "
        "SET spec = excluded.spec, updated_at = excluded.updated_at",
        (entity.name, json.dumps(entity.to_spec())),
    )
    return statements


def _check_type_changes(conn: sqlite3.Connection, entity: Entity) -> None:
    """Refuse a change of logical type that storage alone cannot see (text -> json)."""
    row = conn.execute("SELECT spec FROM _entity WHERE name = ?", (entity.name,)).fetchone()
    if row is None:
        return
    before = {f["name"]: f["type"] for f in json.loads(row[0])["fields"]}
    for one in entity.fields:
        if one.name in before and before[one.name] != one.type:
            raise SchemaError(
                f"field {entity.name}.{one.name} was {before[one.name]} and cannot "
                f"become {one.type} without a manual migration"
            )


def registered_specs(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """Every entity definition ever applied to this database."""
    conn.execute(META_DDL)
    return [json.loads(r[0]) for r in conn.execute("SELECT spec FROM _entity ORDER BY name")]
