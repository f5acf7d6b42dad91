"""The libraries' state in the database, shared by every process.

One row per added library (source, enabled, mode, status, error, config)
and one generation counter that every change bumps, so other processes
notice with a single cheap query.
"""

from __future__ import annotations

from typing import Any

from modules.datastore import DAO, Datastore, Entity, Field, utcnow

MODES = ("thread", "subprocess")
STATUSES = ("loaded", "failed", "disabled")

LIBRARY = Entity(
    "library_state",
    (
        Field("name", required=True, unique=True),
        Field("kind", required=True),
        Field("ref", required=True),
        Field("enabled", "boolean", required=True, default=True),
        Field("mode", required=True, default="thread"),
        Field("status", required=True, default="loaded"),
        Field("error"),
        Field("version"),
        Field("config", "json", default={}),
        Field("revision", "integer", required=True, default=1),
        Field("created_at", "datetime", default=utcnow),
        Field("updated_at", "datetime", default=utcnow),
    ),
)
CLOCK = Entity("library_clock", (Field("generation", "integer", required=True, default=0),))
ENTITIES = (LIBRARY, CLOCK)


class LibraryState:
    """Reads and writes `library_state` rows and the generation counter."""

    def __init__(self, store: Datastore):
        self.store = store
        self.db = store.db
        self.rows: DAO = store.dao(LIBRARY.name)  # type: ignore[assignment]
        self.clock: DAO = store.dao(CLOCK.name)  # type: ignore[assignment]
        if self.clock.get(1) is None:
            self.db.execute_write(
                "INSERT OR IGNORE INTO library_clock (id, generation) VALUES (1, 0)"
            )

    def generation(self) -> int:
        """The counter other processes compare against."""
        row = self.db.execute_one("SELECT generation FROM library_clock WHERE id = 1")
        return row[0] if row else 0

    def all(self) -> list[dict[str, Any]]:
        """Every library row, by name."""
        return self.rows.find(order_by="name")

    def get(self, name: str) -> dict[str, Any] | None:
        """One library's row."""
        return self.rows.find_one({"name": name})

    def save(self, name: str, values: dict[str, Any]) -> None:
        """Insert or update the row of `name` and bump the generation, atomically."""
        with self.db.transaction():
            row = self.get(name)
            values = {**values, "updated_at": utcnow()}
            if row is None:
                self.rows.insert({"name": name, **values})
            else:
                self.rows.update(row["id"], {**values, "revision": row["revision"] + 1})
            self._bump()

    def delete(self, name: str) -> None:
        """Forget a library (its tables and data stay) and bump the generation."""
        with self.db.transaction():
            row = self.get(name)
            if row is not None:
                self.rows.delete(row["id"])
            self._bump()

    def _bump(self) -> None:
        self.db.conn.execute("UPDATE library_clock SET generation = generation + 1 WHERE id = 1")
