"""Errors the datastore raises; each names what was wrong in words a user can act on."""

from __future__ import annotations


class DatastoreError(Exception):
    """Base class for datastore errors."""


class SchemaError(DatastoreError):
    """An entity definition or identifier is not acceptable."""


class ValidationError(DatastoreError):
    """Values do not fit the entity; `fields` maps field name -> message."""

    def __init__(self, fields: dict[str, str]):
        self.fields = fields
        super().__init__("; ".join(f"{k}: {v}" for k, v in fields.items()))


class UniqueError(ValidationError):
    """A unique constraint would be broken; `fields` names the fields involved."""


class NotFoundError(DatastoreError):
    """No row with that id (in that account)."""
