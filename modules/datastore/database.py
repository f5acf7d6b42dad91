"""The one SQLite wrapper: connections, pragmas, `execute`, `transaction()`.

Each thread gets its own connection (sqlite3 connections must not be shared
across threads). Writers inside one process take a lock so they queue here
instead of spinning on SQLITE_BUSY; writers in other processes wait on the
busy timeout. WAL lets readers go on while one writer works.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

PRAGMAS = (
    "PRAGMA journal_mode = WAL",
    # NORMAL is durable across application crashes in WAL mode; only an OS
    # crash or power loss can lose the last commits.
    "PRAGMA synchronous = NORMAL",
    "PRAGMA foreign_keys = ON",
    "PRAGMA temp_store = MEMORY",
)


class Database:
    """A SQLite database file shared by every thread of the process."""

    def __init__(self, path: str | Path, busy_timeout_ms: int = 5000):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.busy_timeout_ms = busy_timeout_ms
        self._local = threading.local()
        self._write_lock = threading.RLock()
        self._all: list[sqlite3.Connection] = []
        self._all_lock = threading.Lock()
        self._trace: Callable[[str], None] | None = None

    def connect(self) -> sqlite3.Connection:
        """A new connection with the pragmas set; the caller owns it."""
        conn = sqlite3.connect(
            self.path,
            timeout=self.busy_timeout_ms / 1000,
            isolation_level=None,  # we issue BEGIN/COMMIT ourselves
            check_same_thread=False,
        )
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_ms)}")
        for pragma in PRAGMAS:
            conn.execute(pragma)
        if self._trace is not None:
            conn.set_trace_callback(self._trace)
        return conn

    @contextlib.contextmanager
    def trace(self, callback: Callable[[str], None]) -> Iterator[None]:
        """Pass every statement any thread runs to `callback` inside the block
        (for finding N+1 queries and for tests that count statements)."""
        with self._all_lock:
            self._trace = callback
            for conn in self._all:
                conn.set_trace_callback(callback)
        try:
            yield
        finally:
            with self._all_lock:
                self._trace = None
                for conn in self._all:
                    conn.set_trace_callback(None)

    @property
    def conn(self) -> sqlite3.Connection:
        """This thread's connection, opened on first use."""
        try:
            return self._local.conn
        except AttributeError:
            conn = self.connect()
            self._local.conn = conn
            self._local.depth = 0
            with self._all_lock:
                self._all.append(conn)
            return conn

    def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[sqlite3.Row]:
        """Run one statement and return all its rows."""
        return self.conn.execute(sql, params).fetchall()

    def execute_one(
        self, sql: str, params: Sequence[Any] | dict[str, Any] = ()
    ) -> sqlite3.Row | None:
        """Run one statement and return its first row, if any."""
        return self.conn.execute(sql, params).fetchone()

    def execute_write(
        self, sql: str, params: Sequence[Any] | dict[str, Any] = ()
    ) -> sqlite3.Cursor:
        """Run one writing statement in its own transaction (or the current one)."""
        with self.transaction() as conn:
            return conn.execute(sql, params)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> int:
        """Run one statement for many parameter rows in one transaction."""
        with self.transaction() as conn:
            return conn.executemany(sql, rows).rowcount

    @property
    def in_transaction(self) -> bool:
        """Whether this thread is inside `transaction()`."""
        return getattr(self._local, "depth", 0) > 0

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """All-or-nothing block. Nested blocks become savepoints, so an inner
        failure that the caller catches undoes only the inner work."""
        conn = self.conn
        depth = self._local.depth
        if depth:
            name = f"sp{depth}"
            conn.execute(f"SAVEPOINT {name}")
            self._local.depth = depth + 1
            try:
                yield conn
            except BaseException:
                conn.execute(f"ROLLBACK TO {name}")
                conn.execute(f"RELEASE {name}")
                raise
            else:
                conn.execute(f"RELEASE {name}")
            finally:
                self._local.depth = depth
            return
        with self._write_lock:
            conn.execute("BEGIN IMMEDIATE")
            self._local.depth = 1
            self._local.after = []
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                self._local.after = []
                raise
            finally:
                self._local.depth = 0
        callbacks, self._local.after = self._local.after, []
        for callback in callbacks:
            callback()

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run `callback` once the current transaction has committed (at once
        when there is none); dropped if it rolls back. For announcing changes
        (events) only when they are real."""
        if self.in_transaction:
            self._local.after.append(callback)
        else:
            callback()

    def apply(self, statements: Iterable[str]) -> None:
        """Run fixed DDL statements (a module's extra indexes) in one transaction."""
        with self.transaction() as conn:
            for sql in statements:
                conn.execute(sql)

    def ping(self) -> bool:
        """True when the database answers a trivial query."""
        try:
            return self.execute_one("SELECT 1") is not None
        except sqlite3.Error:
            return False

    def checkpoint(self) -> None:
        """Fold the WAL back into the main file (keeps the WAL small)."""
        self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def close(self) -> None:
        """Close every connection this object opened, in every thread. Call it
        only once the threads that use the database have stopped: closing a
        connection another thread is using crashes the process."""
        with self._all_lock:
            conns, self._all = self._all, []
        for conn in conns:
            with contextlib.suppress(sqlite3.Error):
                conn.close()
        self._local = threading.local()
