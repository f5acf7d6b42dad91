"""What a capability receives as `ctx`: its library's config and DAOs, a
logger, the calling account, a way to emit events and to notice cancellation."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from modules.datastore import DAO, Datastore, Page, ScopedDAO
from modules.logs import get_logger

# (level name, message) pairs a capability logged, in order.
LogSink = Callable[[str, str], None]
# (event name, payload)
EventSink = Callable[[str, dict[str, Any]], None]


class AccountDAO:
    """A tenant-scoped DAO bound to one account: the account id is filled in,
    so library code cannot reach another account's rows."""

    def __init__(self, dao: ScopedDAO, account_id: int):
        self._dao = dao
        self._account_id = account_id
        self.entity = dao.entity

    def insert(self, values: Mapping[str, Any]) -> int:
        """Add a row; returns its id."""
        return self._dao.insert(self._account_id, values)

    def get(self, row_id: int) -> dict[str, Any] | None:
        """The row, or None."""
        return self._dao.get(self._account_id, row_id)

    def update(self, row_id: int, values: Mapping[str, Any]) -> bool:
        """Change fields; False when not found."""
        return self._dao.update(self._account_id, row_id, values)

    def delete(self, row_id: int) -> bool:
        """Remove the row; False when not found."""
        return self._dao.delete(self._account_id, row_id)

    def find(self, where: Mapping[str, Any] | None = None, **options: Any) -> list[dict[str, Any]]:
        """Rows matching `where` (see DAO.find)."""
        return self._dao.find(self._account_id, where, **options)

    def count(self, where: Mapping[str, Any] | None = None, **options: Any) -> int:
        """How many rows match."""
        return self._dao.count(self._account_id, where, **options)

    def page(self, where: Mapping[str, Any] | None = None, **options: Any) -> Page:
        """One keyset page (see DAO.page)."""
        return self._dao.page(self._account_id, where, **options)


class _SinkHandler(logging.Handler):
    def __init__(self, sink: LogSink):
        super().__init__(logging.DEBUG)
        self.sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.sink(record.levelname, record.getMessage())
        except Exception:  # pylint: disable=broad-exception-caught
            # A broken sink must not turn a log call into a capability failure.
            self.handleError(record)


@dataclass
class Context:  # pylint: disable=too-many-instance-attributes  # one call's facts
    """Passed to a capability as its `ctx` parameter."""

    library: str
    store: Datastore
    entities: tuple[str, ...]
    account_id: int | None = None
    user_id: int | None = None
    config: Mapping[str, Any] = field(default_factory=dict)
    log_sink: LogSink | None = None
    event_sink: EventSink | None = None
    cancelled: threading.Event = field(default_factory=threading.Event)

    _logger: logging.Logger | None = field(default=None, init=False, repr=False)

    @property
    def logger(self) -> logging.Logger:
        """The library's logger; with a log sink, a child logger for this call
        whose lines reach the sink (the run log of the step it serves) and
        still the app's log. Made on first use: most calls never log."""
        if self._logger is None:
            base = get_logger(f"library.{self.library}")
            if self.log_sink is None:
                self._logger = base
            else:
                self._logger = logging.getLogger(f"{base.name}.call{id(self)}")
                self._logger.setLevel(logging.DEBUG)
                self._logger.addHandler(_SinkHandler(self.log_sink))
        return self._logger

    def dao(self, entity: str) -> DAO | AccountDAO:
        """The DAO of one of this library's entities (bound to the account
        for tenant-scoped ones)."""
        if entity not in self.entities:
            raise LookupError(f"library {self.library!r} declares no entity {entity!r}")
        dao = self.store.dao(entity)
        if isinstance(dao, ScopedDAO):
            if self.account_id is None:
                raise LookupError(f"{entity!r} is per account, and this call has no account")
            return AccountDAO(dao, self.account_id)
        return dao

    def emit(self, event: str, payload: Mapping[str, Any] | None = None) -> None:
        """Announce an event (workflows with an event trigger react to it)."""
        if self.event_sink is not None:
            self.event_sink(event, dict(payload or {}))

    def close(self) -> None:
        """Detach the per-call logger (avoids leaking loggers)."""
        if self._logger is not None and self.log_sink is not None:
            for handler in list(self._logger.handlers):
                self._logger.removeHandler(handler)
            logging.Logger.manager.loggerDict.pop(self._logger.name, None)
