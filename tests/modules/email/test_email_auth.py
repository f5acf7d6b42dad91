"""SMTP AUTH against a real server; the password never reaches a log line or the outbox."""

from __future__ import annotations

import base64
import logging
from typing import Any

import pytest
from aiosmtpd.smtp import AuthResult, LoginPassword
from tests.modules.email.email_helpers import RESET, MakeMailer, StartServer

USER = "mailer"
PASSWORD = "s3cret-Pa55word"

# AUTH without TLS is what these tests want (the server runs on 127.0.0.1).
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")


def authenticator(  # pylint: disable=too-many-arguments  # aiosmtpd's signature
    server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
) -> AuthResult:
    """Accept USER / PASSWORD only."""
    del server, session, envelope, mechanism
    ok = isinstance(auth_data, LoginPassword) and auth_data == (
        USER.encode(),
        PASSWORD.encode(),
    )
    return AuthResult(success=ok, handled=False)


def secret_forms() -> list[str]:
    """The password as typed and as AUTH PLAIN / LOGIN put it on the wire."""
    return [
        PASSWORD,
        base64.b64encode(PASSWORD.encode()).decode(),
        base64.b64encode(f"\0{USER}\0{PASSWORD}".encode()).decode(),
    ]


@pytest.fixture(name="auth_port")
def fixture_auth_port(start_server: StartServer) -> tuple[int, Any]:
    """A server that refuses mail until the client logs in (AUTH allowed without TLS)."""
    server = start_server(auth_require_tls=False, auth_required=True, authenticator=authenticator)
    return server.port, server.inbox


def test_login_with_username_and_password_sends_and_logs_no_secret(
    auth_port: tuple[int, Any], make_mailer: MakeMailer, caplog: pytest.LogCaptureFixture
) -> None:
    """username set: the mailer logs in, the server accepts the mail, no log shows the password."""
    port, inbox = auth_port
    caplog.set_level(logging.DEBUG)
    mailer = make_mailer(port, smtp={"username": USER, "password": PASSWORD})
    outbox_id = mailer.queue("ada@example.com", "password_reset", RESET)
    assert mailer.send_due() == 1
    [received] = inbox.received
    assert received.authenticated
    assert mailer.get(outbox_id)["status"] == "sent"
    assert any(r.name == "switchboard.email" for r in caplog.records)
    for secret in secret_forms():
        assert secret not in caplog.text
    assert PASSWORD not in repr(mailer.smtp)


def test_wrong_password_counts_an_attempt_and_stores_no_secret(
    auth_port: tuple[int, Any], make_mailer: MakeMailer, caplog: pytest.LogCaptureFixture
) -> None:
    """A refused login is a failed attempt whose error names the reply, not the password."""
    port, inbox = auth_port
    caplog.set_level(logging.DEBUG)
    wrong = PASSWORD + "-nope"
    mailer = make_mailer(port, smtp={"username": USER, "password": wrong})
    outbox_id = mailer.queue("ada@example.com", "password_reset", RESET)
    assert mailer.send_due() == 0
    assert inbox.received == []
    row = mailer.get(outbox_id)
    assert row["attempts"] == 1
    assert "535" in row["last_error"]
    assert wrong not in row["last_error"]
    assert "mail 1 attempt 1 failed" in caplog.text
    assert wrong not in caplog.text
    assert base64.b64encode(f"\0{USER}\0{wrong}".encode()).decode() not in caplog.text


def test_without_a_username_the_mailer_does_not_log_in(
    auth_port: tuple[int, Any], make_mailer: MakeMailer
) -> None:
    """No username: no AUTH, so a server that requires it refuses the mail."""
    port, inbox = auth_port
    mailer = make_mailer(port)
    outbox_id = mailer.queue("ada@example.com", "password_reset", RESET)
    assert mailer.send_due() == 0
    assert inbox.received == []
    assert "530" in mailer.get(outbox_id)["last_error"]
