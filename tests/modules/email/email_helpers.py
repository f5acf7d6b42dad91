"""Helpers shared by the email tests: the SMTP inbox handler, a hand-driven clock, contexts."""

from __future__ import annotations

import email
import email.policy
import socket
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Callable

from aiosmtpd.controller import Controller

from modules.datastore import Database, Datastore
from modules.email import ENTITIES, Mailer, SmtpConfig

TEMPLATES = Path(__file__).resolve().parents[3] / "templates" / "email"
FROM = "switchboard@example.com"
START = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Received:
    """One message as the server got it: envelope and parsed message."""

    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    authenticated: bool


@dataclass
class Inbox:
    """aiosmtpd handler that keeps what it receives; refuses `reject*@` recipients."""

    received: list[Received] = field(default_factory=list)
    changed: threading.Condition = field(default_factory=threading.Condition)

    async def handle_RCPT(  # pylint: disable=invalid-name,too-many-arguments  # aiosmtpd hook
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        """Accept every recipient but those starting with `reject`."""
        del server, session, rcpt_options
        if address.startswith("reject"):
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # pylint: disable=invalid-name  # aiosmtpd hook
        self, server: Any, session: Any, envelope: Any
    ) -> str:
        """Parse and keep the message."""
        del server
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        with self.changed:
            self.received.append(
                Received(
                    envelope.mail_from,
                    list(envelope.rcpt_tos),
                    message,
                    bool(session.authenticated),
                )
            )
            self.changed.notify_all()
        return "250 Message accepted for delivery"

    def wait_for(self, count: int, timeout: float) -> bool:
        """Block until `count` messages arrived (True) or `timeout` passed (False)."""
        with self.changed:
            return self.changed.wait_for(lambda: len(self.received) >= count, timeout)

    @property
    def messages(self) -> list[EmailMessage]:
        """The parsed messages, in arrival order."""
        with self.changed:
            return [r.message for r in self.received]


@dataclass
class SmtpServer:
    """A running aiosmtpd server and what it received."""

    port: int
    inbox: Inbox
    controller: Controller


# start_server(port=None, **aiosmtpd_options) -> SmtpServer
StartServer = Callable[..., SmtpServer]
# make_mailer(port | None, templates_dir=TEMPLATES, smtp={...}, **mailer_options) -> Mailer
MakeMailer = Callable[..., Mailer]


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        """Move forward by `timedelta(**delta)`; returns the new time."""
        self.now += timedelta(**delta)
        return self.now


def open_store(db_file: Path) -> Datastore:
    """A datastore on `db_file` with the email entities registered (as the container does)."""
    store = Datastore(Database(db_file))
    for entity in ENTITIES:
        store.register(entity)
    return store


def smtp_config(port: int, **options: Any) -> SmtpConfig:
    """Plain SMTP on 127.0.0.1:`port` with a short timeout."""
    return SmtpConfig(
        "127.0.0.1",
        port,
        security=options.pop("security", "none"),
        from_address=FROM,
        timeout=2.0,
        **options,
    )


RESET = {
    "display_name": "Ada Lovelace",
    "reset_url": "https://switchboard.example.com/reset/tok-123",
    "expires_minutes": 30,
    "product": "Switchboard",
}
INVITE = {
    "display_name": "Grace",
    "account_name": "Acme Corp",
    "invited_by": "Ada",
    "reset_url": "https://switchboard.example.com/reset/tok-456",
    "expires_minutes": 1440,
}
