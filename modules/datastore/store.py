"""The entity registry: register an entity, get its DAO back."""

from __future__ import annotations

import sqlite3
import threading
from typing import Any, Mapping

from modules.datastore import schema
from modules.datastore.dao import DAO, ScopedDAO
from modules.datastore.database import Database
from modules.datastore.entities import Entity
from modules.datastore.errors import SchemaError

# Keyed by `tenant_scoped`. A lookup (not a conditional) also keeps linters
# from assuming every caller holds whichever class has the other signature.
_DAO_CLASS: dict[bool, type[DAO] | type[ScopedDAO]] = {False: DAO, True: ScopedDAO}


class Datastore:
    """Creates and migrates entity tables and hands out their DAOs."""

    def __init__(self, db: Database):
        self.db = db
        self._daos: dict[str, DAO | ScopedDAO] = {}
        self._lock = threading.Lock()

    def register(self, entity: Entity | Mapping[str, Any]) -> DAO | ScopedDAO:
        """Create the entity's table (or add what is new to it); return its DAO.

        Safe to call at every start and from several processes: the DDL runs
        in one transaction and only ever adds.
        """
        if not isinstance(entity, Entity):
            entity = Entity.from_spec(dict(entity))
        with self._lock, self.db.transaction() as conn:
            schema.apply(conn, entity)
            dao = _DAO_CLASS[entity.tenant_scoped](self.db, entity)
            self._scope_refs(conn, dao)
            self._daos[entity.name] = dao
        return dao

    def register_many(self, entities: list[Entity]) -> list[DAO | ScopedDAO]:
        """Register several entities all-or-nothing: when one fails, no table
        of the batch is created or changed, and no DAO is handed out."""
        with self._lock, self.db.transaction() as conn:
            for entity in entities:
                schema.apply(conn, entity)
            daos = [_DAO_CLASS[e.tenant_scoped](self.db, e) for e in entities]
            for dao in daos:
                self._scope_refs(conn, dao)
        for dao in daos:
            self._daos[dao.entity.name] = dao
        return daos

    @staticmethod
    def _scope_refs(conn: sqlite3.Connection, dao: DAO | ScopedDAO) -> None:
        """Note which references of a tenant-scoped entity point at another
        tenant-scoped table (those must stay inside the account)."""
        if not isinstance(dao, ScopedDAO):
            return
        scoped = []
        for field in dao.entity.fields:
            if field.type == "reference" and field.references:
                columns = conn.execute(
                    "SELECT name FROM pragma_table_info(?)", (field.references,)
                ).fetchall()
                if any(c[0] == "account_id" for c in columns) or (
                    field.references == dao.entity.name
                ):
                    scoped.append((field.name, field.references))
        dao.scoped_refs = tuple(scoped)

    def forget(self, name: str) -> None:
        """Stop handing out the DAO of `name` (its table and rows stay)."""
        self._daos.pop(name, None)

    def dao(self, name: str) -> DAO | ScopedDAO:
        """The DAO of a registered entity."""
        try:
            return self._daos[name]
        except KeyError:
            raise SchemaError(f"entity {name!r} is not registered") from None

    @property
    def entities(self) -> dict[str, Entity]:
        """The entities registered through this object, by name."""
        return {name: dao.entity for name, dao in self._daos.items()}

    def registered_specs(self) -> list[dict[str, Any]]:
        """Every entity definition stored in the database (any process)."""
        return schema.registered_specs(self.db.conn)
