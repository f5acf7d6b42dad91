"""Generated data access objects: one per entity, thin on purpose.

SQL text is built once per entity (and per set of updated columns), values
always travel as `?` parameters, and rows come back as plain dicts. A
tenant-scoped entity gets a `ScopedDAO`, whose every method takes the
account id first and adds it to every statement, so one account can never
read or change another's rows through it.
"""

from __future__ import annotations

import base64
import json
import operator
import re
import sqlite3
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Mapping, NamedTuple, Sequence

from modules.datastore.database import Database
from modules.datastore.entities import Entity
from modules.datastore.errors import ValidationError, UniqueError

Row = dict[str, Any]


class Page(NamedTuple):
    """One page of rows and the cursor of the next page (None at the end)."""

    items: list[Row]
    next_cursor: str | None


# --- value conversion -------------------------------------------------------


def _write_boolean(value: Any) -> int:
    if value in (True, False, 0, 1):
        return int(value)
    raise ValueError("must be true or false")


def _write_datetime(value: Any) -> str:
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if not isinstance(value, datetime):
        raise ValueError("must be a date and time")
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).isoformat(timespec="microseconds")


def _write_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _read_datetime(value: str) -> datetime:
    return datetime.fromisoformat(value)


WRITERS: dict[str, Callable[[Any], Any]] = {
    "boolean": _write_boolean,
    "datetime": _write_datetime,
    "json": _write_json,
}
READERS: dict[str, Callable[[Any], Any]] = {
    "boolean": bool,
    "datetime": _read_datetime,
    "json": json.loads,
}
_TYPE_WORDS = {"INTEGER": "a whole number", "REAL": "a number", "TEXT": "text"}


def _escape_like(term: str) -> str:
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def encode_cursor(value: Any, row_id: int) -> str:
    """Opaque keyset cursor: the sort value and id of the last row shown."""
    raw = json.dumps([value, row_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[Any, int]:
    """Inverse of `encode_cursor`; `ValidationError` on a tampered cursor."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        value, row_id = json.loads(raw)
        if isinstance(row_id, bool) or not isinstance(row_id, int):
            raise ValueError
        # Only values SQLite can bind: no lists/objects, integers within 64 bits.
        if not (value is None or isinstance(value, (str, int, float))):
            raise ValueError
        if any(isinstance(v, int) and not -(2**63) <= v < 2**63 for v in (value, row_id)):
            raise ValueError
        return value, row_id
    except (ValueError, TypeError) as exc:
        raise ValidationError({"cursor": "is not a valid page cursor"}) from exc


# --- the DAO -----------------------------------------------------------------


class _Table:  # pylint: disable=too-many-instance-attributes  # precomputed SQL
    """SQL and conversions shared by `DAO` and `ScopedDAO`."""

    def __init__(self, db: Database, entity: Entity):
        self.db = db
        self.entity = entity
        self.name = entity.name
        scoped = entity.tenant_scoped
        self._fields = entity.field_names
        self._field_set = frozenset(self._fields)
        self._sortable = frozenset(("id", *self._fields))
        self._columns = ("id", "account_id", *self._fields) if scoped else ("id", *self._fields)
        self._types = {f.name: f.type for f in entity.fields}
        self._required = {f.name for f in entity.fields if f.required}
        self._defaults = [
            (i, f.default) for i, f in enumerate(entity.fields) if f.default is not None
        ]
        self._writers = [
            (i, WRITERS[f.type]) for i, f in enumerate(entity.fields) if f.type in WRITERS
        ]
        self._plain = not self._defaults and not self._writers
        getter = operator.itemgetter(*self._fields)
        self._getter = getter if len(self._fields) > 1 else lambda v: (getter(v),)
        self._readers = [(f.name, READERS[f.type]) for f in entity.fields if f.type in READERS]
        cols = ", ".join(self._columns)
        scope = " AND account_id = ?" if scoped else ""
        self._scope = scope
        self._select = f"SELECT {cols} FROM {self.name}"
        self._sql_get = f"{self._select} WHERE id = ?{scope}"
        insert_cols = ("account_id", *self._fields) if scoped else self._fields
        marks = ", ".join("?" for _ in insert_cols)
        self._sql_insert = f"INSERT INTO {self.name} ({', '.join(insert_cols)}) VALUES ({marks})"
        self._sql_delete = f"DELETE FROM {self.name} WHERE id = ?{scope}"
        self._update_sql: dict[tuple[str, ...], str] = {}

    # rows in and out

    def _to_dict(self, row: sqlite3.Row) -> Row:
        record = dict(zip(self._columns, row))
        for name, reader in self._readers:
            value = record[name]
            if value is not None:
                record[name] = reader(value)
        return record

    def _row_params(self, values: Mapping[str, Any]) -> Sequence[Any]:
        # Fast path for the common bulk case: every field given, nothing to
        # convert. itemgetter does the lookups in C.
        if self._plain and len(values) == len(self._fields):
            try:
                return self._getter(values)
            except KeyError:
                pass
        if not self._field_set.issuperset(values.keys()):
            unknown = sorted(set(values) - self._field_set)
            raise ValidationError({name: "is not a field of " + self.name for name in unknown})
        params = list(map(values.get, self._fields))
        for i, default in self._defaults:
            if params[i] is None:
                params[i] = default() if callable(default) else default
        if self._writers:
            self._convert(params, self._fields, self._writers)
        return params

    @staticmethod
    def _convert(
        params: list[Any],
        names: tuple[str, ...],
        writers: list[tuple[int, Callable[[Any], Any]]],
    ) -> None:
        errors = {}
        for i, writer in writers:
            if params[i] is not None:
                try:
                    params[i] = writer(params[i])
                except (ValueError, TypeError) as exc:
                    errors[names[i]] = str(exc) or "has the wrong type"
        if errors:
            raise ValidationError(errors)

    def _writers_for(self, names: tuple[str, ...]) -> list[tuple[int, Callable[[Any], Any]]]:
        return [
            (i, WRITERS[self._types[n]]) for i, n in enumerate(names) if self._types[n] in WRITERS
        ]

    def _translate(self, exc: sqlite3.Error) -> Exception:
        """Turn SQLite's constraint messages into field-level errors."""
        message = str(exc)
        if "UNIQUE constraint failed" in message:
            cols = [c.split(".")[-1] for c in message.split(":", 1)[1].split(",")]
            cols = [c.strip() for c in cols if c.strip() != "account_id"]
            return UniqueError({c: "is already taken" for c in cols})
        if "NOT NULL constraint failed" in message:
            return ValidationError({message.rsplit(".", 1)[-1]: "is required"})
        match = re.search(r"cannot store (\w+) value in (\w+) column \w+\.(\w+)", message)
        if match:
            word = _TYPE_WORDS.get(match.group(2), match.group(2).lower())
            return ValidationError({match.group(3): f"must be {word}"})
        if "FOREIGN KEY constraint failed" in message:
            return ValidationError(
                {"_": "refers to a record that does not exist, or is still referred to"}
            )
        return exc

    def _write(self, sql: str, params: Iterable[Any]) -> sqlite3.Cursor:
        try:
            if self.db.in_transaction:
                return self.db.conn.execute(sql, params)
            with self.db.transaction() as conn:
                return conn.execute(sql, params)
        except sqlite3.IntegrityError as exc:
            raise self._translate(exc) from None
        except (OverflowError, sqlite3.ProgrammingError, sqlite3.InterfaceError) as exc:
            # A value SQLite cannot bind (an int beyond 64 bits, a dict into text):
            # the caller's mistake, reported like any other bad value.
            raise ValidationError({"_": f"a value cannot be stored: {exc}"}) from None

    def _sql_update(self, names: tuple[str, ...]) -> str:
        sql = self._update_sql.get(names)
        if sql is None:
            unknown = [n for n in names if n not in self._field_set]
            if unknown:
                raise ValidationError({n: "is not a field of " + self.name for n in unknown})
            sets = ", ".join(f"{n} = ?" for n in names)
            sql = f"UPDATE {self.name} SET {sets} WHERE id = ?{self._scope}"
            self._update_sql[names] = sql
        return sql

    def _update(self, row_id: int, values: Mapping[str, Any], scope: tuple[Any, ...]) -> bool:
        if not values:
            return self._get(row_id, scope) is not None
        names = tuple(values)
        sql = self._sql_update(names)
        params = list(values.values())
        missing = [n for n, v in zip(names, params) if v is None and n in self._required]
        if missing:
            raise ValidationError({n: "is required" for n in missing})
        self._convert(params, names, self._writers_for(names))
        return self._write(sql, (*params, row_id, *scope)).rowcount > 0

    def _get(self, row_id: int, scope: tuple[Any, ...]) -> Row | None:
        row = self.db.conn.execute(self._sql_get, (row_id, *scope)).fetchone()
        return None if row is None else self._to_dict(row)

    # filters, search, order

    def _where(
        self, where: Mapping[str, Any] | None, search: str | None, scope: tuple[Any, ...]
    ) -> tuple[list[str], list[Any]]:
        clauses: list[str] = ["account_id = ?"] if scope else []
        params: list[Any] = list(scope)
        for name, value in (where or {}).items():
            if name not in self._sortable:
                raise ValidationError({name: "is not a field of " + self.name})
            writer = WRITERS.get(self._types.get(name, ""))
            try:
                if value is None:
                    clauses.append(f"{name} IS NULL")
                elif isinstance(value, (list, tuple, set, frozenset)):
                    values = [writer(v) if writer else v for v in value]
                    clauses.append(
                        f"{name} IN ({', '.join('?' for _ in values)})" if values else "0"
                    )
                    params += values
                else:
                    clauses.append(f"{name} = ?")
                    params.append(writer(value) if writer else value)
            except (ValueError, TypeError) as exc:
                raise ValidationError({name: str(exc) or "has the wrong type"}) from None
        if search:
            fields = self.entity.search_fields or tuple(
                f.name for f in self.entity.fields if f.type == "text"
            )
            if fields:
                like = "%" + _escape_like(search) + "%"
                clauses.append("(" + " OR ".join(f"{f} LIKE ? ESCAPE '\\'" for f in fields) + ")")
                params += [like] * len(fields)
        return clauses, params

    def _order(self, order_by: str, descending: bool) -> str:
        if order_by not in self._sortable:
            raise ValidationError({"order_by": f"{order_by!r} is not a field of {self.name}"})
        direction = "DESC" if descending else "ASC"
        if order_by == "id":
            return f" ORDER BY id {direction}"
        return f" ORDER BY {order_by} {direction}, id {direction}"

    def _find(  # pylint: disable=too-many-arguments
        self,
        where: Mapping[str, Any] | None,
        scope: tuple[Any, ...],
        *,
        order_by: str = "id",
        descending: bool = False,
        limit: int | None = None,
        search: str | None = None,
    ) -> list[Row]:
        clauses, params = self._where(where, search, scope)
        sql = self._select + (" WHERE " + " AND ".join(clauses) if clauses else "")
        sql += self._order(order_by, descending)
        if limit is not None:
            sql += " LIMIT ?"
            params.append(int(limit))
        return [self._to_dict(r) for r in self.db.conn.execute(sql, params)]

    def _count(
        self, where: Mapping[str, Any] | None, search: str | None, scope: tuple[Any, ...]
    ) -> int:
        clauses, params = self._where(where, search, scope)
        sql = f"SELECT count(*) FROM {self.name}"
        sql += " WHERE " + " AND ".join(clauses) if clauses else ""
        return self.db.conn.execute(sql, params).fetchone()[0]

    def _page(  # pylint: disable=too-many-arguments,too-many-locals
        self,
        where: Mapping[str, Any] | None,
        scope: tuple[Any, ...],
        *,
        order_by: str,
        descending: bool,
        after: str | None,
        limit: int,
        search: str | None,
    ) -> Page:
        if not 0 < limit <= 1000:
            raise ValidationError({"limit": "must be between 1 and 1000"})
        clauses, params = self._where(where, search, scope)
        order = self._order(order_by, descending)
        if after:
            value, last_id = decode_cursor(after)
            clauses.append(self._after_clause(order_by, descending, value))
            params += self._after_params(order_by, value, last_id)
        sql = self._select + (" WHERE " + " AND ".join(clauses) if clauses else "")
        sql += order + " LIMIT ?"
        params.append(limit + 1)
        rows = self.db.conn.execute(sql, params).fetchall()
        more = len(rows) > limit
        rows = rows[:limit]
        cursor = None
        if more:
            last = rows[-1]
            key = last[0] if order_by == "id" else last[self._columns.index(order_by)]
            cursor = encode_cursor(key, last[0])
        return Page([self._to_dict(r) for r in rows], cursor)

    def _after_clause(self, order_by: str, descending: bool, value: Any) -> str:
        """Rows strictly after (value, id) in the page order.

        NULLs sort first ascending and last descending (SQLite's rule), so a
        nullable sort column needs its own branches.
        """
        cmp = "<" if descending else ">"
        if order_by == "id":
            return f"id {cmp} ?"
        col = order_by
        if value is None:
            if descending:
                return f"({col} IS NULL AND id < ?)"
            return f"(({col} IS NULL AND id > ?) OR {col} IS NOT NULL)"
        clause = f"({col} {cmp} ? OR ({col} = ? AND id {cmp} ?)"
        return clause + (f" OR {col} IS NULL)" if descending else ")")

    @staticmethod
    def _after_params(order_by: str, value: Any, last_id: int) -> list[Any]:
        if order_by == "id":
            return [last_id]
        if value is None:
            return [last_id]
        return [value, value, last_id]


class DAO(_Table):
    """Data access for an entity that is not tenant-scoped."""

    def insert(self, values: Mapping[str, Any]) -> int:
        """Add a row; returns its id."""
        return self._write(self._sql_insert, self._row_params(values)).lastrowid

    def insert_many(self, rows: Iterable[Mapping[str, Any]]) -> int:
        """Add many rows in one transaction; returns how many."""
        try:
            with self.db.transaction() as conn:
                return conn.executemany(self._sql_insert, map(self._row_params, rows)).rowcount
        except sqlite3.IntegrityError as exc:
            raise self._translate(exc) from None

    def get(self, row_id: int) -> Row | None:
        """The row with this id, or None."""
        row = self.db.conn.execute(self._sql_get, (row_id,)).fetchone()
        return None if row is None else self._to_dict(row)

    def update(self, row_id: int, values: Mapping[str, Any]) -> bool:
        """Change the given fields; False when no such row."""
        return self._update(row_id, values, ())

    def delete(self, row_id: int) -> bool:
        """Remove the row; False when no such row."""
        return self._write(self._sql_delete, (row_id,)).rowcount > 0

    def find(  # pylint: disable=too-many-arguments
        self,
        where: Mapping[str, Any] | None = None,
        *,
        order_by: str = "id",
        descending: bool = False,
        limit: int | None = None,
        search: str | None = None,
    ) -> list[Row]:
        """Rows whose fields equal `where` (None: IS NULL; a list: IN)."""
        return self._find(
            where, (), order_by=order_by, descending=descending, limit=limit, search=search
        )

    def find_one(self, where: Mapping[str, Any]) -> Row | None:
        """The first row matching `where`, or None."""
        rows = self._find(where, (), limit=1)
        return rows[0] if rows else None

    def count(self, where: Mapping[str, Any] | None = None, *, search: str | None = None) -> int:
        """How many rows match."""
        return self._count(where, search, ())

    def page(  # pylint: disable=too-many-arguments
        self,
        where: Mapping[str, Any] | None = None,
        *,
        order_by: str = "id",
        descending: bool = False,
        after: str | None = None,
        limit: int = 50,
        search: str | None = None,
    ) -> Page:
        """One page in keyset order; pass `next_cursor` back as `after`."""
        return self._page(
            where,
            (),
            order_by=order_by,
            descending=descending,
            after=after,
            limit=limit,
            search=search,
        )


class ScopedDAO(_Table):
    """Data access for a tenant-scoped entity: every call names the account.

    A reference to another tenant-scoped entity must point at a row of the
    same account (a foreign key alone only checks that the id exists)."""

    scoped_refs: tuple[tuple[str, str], ...] = ()  # (field, referenced table), set by Datastore

    def _check_refs(self, account_id: int, values: Mapping[str, Any]) -> None:
        errors = {}
        for name, table in self.scoped_refs:
            value = values.get(name)
            if value is None:
                continue
            found = self.db.conn.execute(
                f"SELECT 1 FROM {table} WHERE id = ? AND account_id = ?", (value, account_id)
            ).fetchone()
            if found is None:
                errors[name] = f"there is no {table} record with id {value}"
        if errors:
            raise ValidationError(errors)

    def insert(self, account_id: int, values: Mapping[str, Any]) -> int:
        """Add a row to the account; returns its id."""
        params = self._row_params(values)
        if self.scoped_refs:
            self._check_refs(account_id, values)
        return self._write(self._sql_insert, (account_id, *params)).lastrowid

    def insert_many(self, account_id: int, rows: Iterable[Mapping[str, Any]]) -> int:
        """Add many rows to the account in one transaction; returns how many."""
        if self.scoped_refs:
            rows = list(rows)
            for row in rows:
                self._check_refs(account_id, row)
        params = ((account_id, *self._row_params(r)) for r in rows)
        try:
            with self.db.transaction() as conn:
                return conn.executemany(self._sql_insert, params).rowcount
        except sqlite3.IntegrityError as exc:
            raise self._translate(exc) from None

    def get(self, account_id: int, row_id: int) -> Row | None:
        """The account's row with this id, or None."""
        row = self.db.conn.execute(self._sql_get, (row_id, account_id)).fetchone()
        return None if row is None else self._to_dict(row)

    def update(self, account_id: int, row_id: int, values: Mapping[str, Any]) -> bool:
        """Change the given fields of the account's row; False when not found."""
        if self.scoped_refs:
            self._check_refs(account_id, values)
        return self._update(row_id, values, (account_id,))

    def delete(self, account_id: int, row_id: int) -> bool:
        """Remove the account's row; False when not found."""
        return self._write(self._sql_delete, (row_id, account_id)).rowcount > 0

    def find(  # pylint: disable=too-many-arguments
        self,
        account_id: int,
        where: Mapping[str, Any] | None = None,
        *,
        order_by: str = "id",
        descending: bool = False,
        limit: int | None = None,
        search: str | None = None,
    ) -> list[Row]:
        """The account's rows whose fields equal `where`."""
        return self._find(
            where,
            (account_id,),
            order_by=order_by,
            descending=descending,
            limit=limit,
            search=search,
        )

    def find_one(self, account_id: int, where: Mapping[str, Any]) -> Row | None:
        """The account's first row matching `where`, or None."""
        rows = self._find(where, (account_id,), limit=1)
        return rows[0] if rows else None

    def count(
        self, account_id: int, where: Mapping[str, Any] | None = None, *, search: str | None = None
    ) -> int:
        """How many of the account's rows match."""
        return self._count(where, search, (account_id,))

    def page(  # pylint: disable=too-many-arguments
        self,
        account_id: int,
        where: Mapping[str, Any] | None = None,
        *,
        order_by: str = "id",
        descending: bool = False,
        after: str | None = None,
        limit: int = 50,
        search: str | None = None,
    ) -> Page:
        """One page of the account's rows in keyset order."""
        return self._page(
            where,
            (account_id,),
            order_by=order_by,
            descending=descending,
            after=after,
            limit=limit,
            search=search,
        )
