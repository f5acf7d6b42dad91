"""SQLite storage without an ORM: one `Database` wrapper and generated DAOs.

db = Database(path)
store = Datastore(db)
contacts = store.register(Entity("contact", (Field("name", required=True),),
                                 tenant_scoped=True))
contact_id = contacts.insert(account_id, {"name": "Ada"})
"""

from modules.datastore.dao import DAO, Page, ScopedDAO
from modules.datastore.database import Database
from modules.datastore.entities import FIELD_TYPES, Entity, Field, utcnow
from modules.datastore.errors import (
    DatastoreError,
    NotFoundError,
    SchemaError,
    UniqueError,
    ValidationError,
)
from modules.datastore.identifiers import check_identifier
from modules.datastore.store import Datastore

__all__ = [
    "DAO",
    "FIELD_TYPES",
    "Database",
    "Datastore",
    "DatastoreError",
    "Entity",
    "Field",
    "NotFoundError",
    "Page",
    "SchemaError",
    "ScopedDAO",
    "UniqueError",
    "ValidationError",
    "check_identifier",
    "utcnow",
]
