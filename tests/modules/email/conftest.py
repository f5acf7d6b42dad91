"""Email fixtures: a real SMTP server (aiosmtpd), a real SQLite file, a clock the test drives."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest
from aiosmtpd.controller import Controller
from tests.modules.email.email_helpers import (
    START,
    TEMPLATES,
    Clock,
    Inbox,
    MakeMailer,
    SmtpServer,
    StartServer,
    free_port,
    open_store,
    smtp_config,
)

from modules.datastore import DAO, Datastore
from modules.email import OUTBOX, Mailer


@pytest.fixture(name="start_server")
def fixture_start_server() -> Iterator[StartServer]:
    """Start a real SMTP server on 127.0.0.1 (`port=` to choose it); stopped after the test."""
    started: list[Controller] = []

    def start(port: int | None = None, **smtp_options: Any) -> SmtpServer:
        inbox = Inbox()
        port = port or free_port()
        controller = Controller(
            inbox, hostname="127.0.0.1", port=port, server_hostname="localhost", **smtp_options
        )
        controller.start()
        started.append(controller)
        return SmtpServer(port, inbox, controller)

    yield start
    for controller in started:
        controller.stop()


@pytest.fixture(name="server")
def fixture_server(start_server: StartServer) -> SmtpServer:
    """A plain SMTP server (no TLS, no AUTH)."""
    return start_server()


@pytest.fixture(name="clock")
def fixture_clock() -> Clock:
    """Starts on a fixed Monday morning."""
    return Clock(START)


@pytest.fixture(name="db_file")
def fixture_db_file(tmp_path: Path) -> Path:
    """Where the test database lives."""
    return tmp_path / "data" / "switchboard.db"


@pytest.fixture(name="store")
def fixture_store(db_file: Path) -> Iterator[Datastore]:
    """The datastore every Mailer of the test shares."""
    store = open_store(db_file)
    yield store
    store.db.close()


@pytest.fixture(name="outbox")
def fixture_outbox(store: Datastore) -> DAO:
    """The outbox DAO, to look at and arrange rows directly."""
    dao = store.dao(OUTBOX)
    assert isinstance(dao, DAO)
    return dao


@pytest.fixture(name="make_mailer")
def fixture_make_mailer(store: Datastore, clock: Clock) -> Iterator[MakeMailer]:
    """`make_mailer(port, **options)`: a Mailer on the shared store and clock
    (`port=None` for no SMTP). Background threads are stopped after the test."""
    made: list[Mailer] = []

    def make(port: int | None, templates_dir: Path = TEMPLATES, **options: Any) -> Mailer:
        smtp_options = options.pop("smtp", {})
        smtp = smtp_config(port, **smtp_options) if port is not None else None
        mailer = Mailer(options.pop("store", store), smtp, templates_dir, clock=clock, **options)
        made.append(mailer)
        return mailer

    yield make
    for mailer in made:
        mailer.stop()
