"""Strict checks for names that end up in SQL text (tables, columns, indexes).

Values never need this: they always travel as `?` parameters.
"""

from __future__ import annotations

import re

from modules.datastore.errors import SchemaError

IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]{0,62}$")

# SQLite's keyword list (https://sqlite.org/lang_keywords.html).
SQL_KEYWORDS = frozenset("""abort action add after all alter always analyze and as asc attach
    autoincrement before begin between by cascade case cast check collate column
    commit conflict constraint create cross current current_date current_time
    current_timestamp database default deferrable deferred delete desc detach
    distinct do drop each else end escape except exclude exclusive exists explain
    fail filter first following for foreign from full generated glob group groups
    having if ignore immediate in index indexed initially inner insert instead
    intersect into is isnull join key last left like limit match materialized
    natural no not nothing notnull null nulls of offset on or order others outer
    over partition plan pragma preceding primary query raise range recursive
    references regexp reindex release rename replace restrict returning right
    rollback row rows savepoint select set table temp temporary then ties to
    transaction trigger unbounded union unique update using vacuum values view
    virtual when where window with without""".split())


def check_identifier(name: object, what: str = "name") -> str:
    """Return `name` if it is a safe identifier, else raise `SchemaError`."""
    if not isinstance(name, str) or not IDENTIFIER.fullmatch(name):
        raise SchemaError(
            f"{what} {name!r} is not allowed: use 1-63 characters a-z, 0-9 and _, "
            "starting with a letter"
        )
    if name in SQL_KEYWORDS:
        raise SchemaError(f"{what} {name!r} is an SQL keyword; choose another name")
    return name
