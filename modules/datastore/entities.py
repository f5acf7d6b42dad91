"""Entity definitions: the data a module or library hands to the datastore.

An entity becomes one STRICT SQLite table with an integer `id` primary key
(and an `account_id` column when it is tenant-scoped).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal

from modules.datastore.errors import SchemaError
from modules.datastore.identifiers import check_identifier

FieldType = Literal["text", "integer", "real", "boolean", "datetime", "json", "reference"]
FIELD_TYPES: tuple[str, ...] = (
    "text",
    "integer",
    "real",
    "boolean",
    "datetime",
    "json",
    "reference",
)
# How each field type is stored in a STRICT table.
STORAGE = {
    "text": "TEXT",
    "integer": "INTEGER",
    "real": "REAL",
    "boolean": "INTEGER",
    "datetime": "TEXT",
    "json": "TEXT",
    "reference": "INTEGER",
}
ON_DELETE = {"restrict": "RESTRICT", "cascade": "CASCADE", "set null": "SET NULL"}
RESERVED = frozenset({"id", "account_id"})
TENANT_ENTITY = "account"


@dataclass(frozen=True)
class Field:  # pylint: disable=too-many-instance-attributes  # mirrors the spec
    """One column. `default` may be a value or a zero-argument callable."""

    name: str
    type: FieldType = "text"
    required: bool = False
    default: Any = None
    unique: bool = False
    index: bool = False
    references: str | None = None
    on_delete: str = "restrict"
    label: str = ""
    help: str = ""

    def check(self) -> None:
        """Raise `SchemaError` unless the field is well formed."""
        check_identifier(self.name, "field name")
        if self.name in RESERVED:
            raise SchemaError(f"field name {self.name!r} is reserved")
        if self.type not in FIELD_TYPES:
            raise SchemaError(
                f"field {self.name!r} has unknown type {self.type!r}; "
                f"expected one of {', '.join(FIELD_TYPES)}"
            )
        if self.type == "reference":
            if not self.references:
                raise SchemaError(f"field {self.name!r} is a reference and needs `references`")
            check_identifier(self.references, "referenced entity")
        elif self.references:
            raise SchemaError(f"field {self.name!r} sets `references` but is not one")
        if self.on_delete not in ON_DELETE:
            raise SchemaError(
                f"field {self.name!r}: on_delete must be one of {', '.join(ON_DELETE)}"
            )

    @property
    def default_value(self) -> Any:
        """The default, called if it is callable."""
        return self.default() if callable(self.default) else self.default


@dataclass(frozen=True)
class Entity:
    """A named set of fields, with extra unique constraints and indexes."""

    name: str
    fields: tuple[Field, ...]
    tenant_scoped: bool = False
    uniques: tuple[tuple[str, ...], ...] = ()
    indexes: tuple[tuple[str, ...], ...] = ()
    label: str = ""
    search_fields: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        check_identifier(self.name, "entity name")
        if not self.fields:
            raise SchemaError(f"entity {self.name!r} has no fields")
        seen: set[str] = set()
        for one in self.fields:
            one.check()
            if one.name in seen:
                raise SchemaError(f"entity {self.name!r} declares field {one.name!r} twice")
            seen.add(one.name)
        for group in (*self.uniques, *self.indexes, self.search_fields):
            for name in group:
                if name not in seen and name != "id":
                    raise SchemaError(
                        f"entity {self.name!r} has no field {name!r} "
                        "(named in uniques, indexes or search_fields)"
                    )

    @property
    def field_names(self) -> tuple[str, ...]:
        """Declared field names, in order."""
        return tuple(f.name for f in self.fields)

    def get_field(self, name: str) -> Field:
        """The field called `name`; `KeyError` if there is none."""
        for one in self.fields:
            if one.name == name:
                return one
        raise KeyError(name)

    def to_spec(self) -> dict[str, Any]:
        """A JSON-friendly description (callable defaults become None)."""
        return {
            "name": self.name,
            "tenant_scoped": self.tenant_scoped,
            "label": self.label,
            "fields": [
                {
                    "name": f.name,
                    "type": f.type,
                    "required": f.required,
                    "default": None if callable(f.default) else f.default,
                    "unique": f.unique,
                    "index": f.index,
                    "references": f.references,
                    "on_delete": f.on_delete,
                    "label": f.label,
                    "help": f.help,
                }
                for f in self.fields
            ],
            "uniques": [list(u) for u in self.uniques],
            "indexes": [list(i) for i in self.indexes],
            "search_fields": list(self.search_fields),
        }

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> "Entity":
        """Build an entity from the dict form (as libraries may give it)."""
        try:
            fields = tuple(Field(**f) for f in spec["fields"])
            return cls(
                name=spec["name"],
                fields=fields,
                tenant_scoped=bool(spec.get("tenant_scoped", False)),
                uniques=tuple(tuple(u) for u in spec.get("uniques", ())),
                indexes=tuple(tuple(i) for i in spec.get("indexes", ())),
                label=spec.get("label", ""),
                search_fields=tuple(spec.get("search_fields", ())),
            )
        except (KeyError, TypeError) as exc:
            raise SchemaError(f"malformed entity definition: {exc}") from None


def utcnow() -> datetime:
    """Use as `default=utcnow` to stamp the current UTC time at insert."""
    return datetime.now(timezone.utc)
