"""Forgotten password, end to end: the mail goes through a real SMTP server
(aiosmtpd) and its link is used in the real app."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator

import pytest
from aiosmtpd.controller import Controller
from starlette.testclient import TestClient

from tests.conftest import free_port, make_settings
from tests.modules.email.email_helpers import Inbox
from tests.webapp.helpers import csrf, sign_in
from webapp import usecases
from webapp.app import create_app
from webapp.container import Container

OLD = "the old password 1"
NEW = "a brand new password 2"


@pytest.fixture(name="inbox")
def fixture_inbox() -> Iterator[tuple[Inbox, int]]:
    """A real SMTP server on 127.0.0.1."""
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


@pytest.fixture(name="services")
def fixture_services(tmp_path: Path, inbox: tuple[Inbox, int]) -> Iterator[Container]:
    """The app's modules, sending mail to the test SMTP server."""
    settings = make_settings(
        tmp_path / "data",
        BCRYPT_ROUNDS="4",
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=str(inbox[1]),
        SMTP_SECURITY="none",
        BASE_URL="http://testserver",
    )
    built = Container.build(settings)
    usecases.create_owner(built, "Operators", "ada@example.com", "Ada", OLD)
    yield built
    built.close()


def _forgot(client: TestClient, address: str):
    token = csrf(client, "/password/forgot")
    return client.post(
        "/password/forgot", data={"username": address, "csrf_token": token}, follow_redirects=False
    )


def _reset_link(inbox: Inbox) -> str:
    assert inbox.wait_for(1, timeout=10), "no mail arrived"
    body = inbox.messages[-1].get_body(("plain",)).get_content()
    match = re.search(r"http://testserver(/password/reset\?token=[\w\-%]+)", body)
    assert match, body
    return match.group(1)


def test_reset_mail_link_sets_a_new_password_once(
    services: Container, inbox: tuple[Inbox, int]
) -> None:
    app = create_app(container=services)
    with TestClient(app) as other_device, TestClient(app) as client:
        assert sign_in(other_device, "ada@example.com", OLD).status_code == 303
        assert other_device.get("/", follow_redirects=False).status_code == 200

        answer = _forgot(client, "ada@example.com")
        assert answer.status_code == 303
        link = _reset_link(inbox[0])
        message = inbox[0].messages[-1]
        assert message["To"] == "ada@example.com"

        page = client.get(link)
        assert page.status_code == 200
        assert page.headers["referrer-policy"] == "no-referrer"
        token = re.search(r'name="token" type="hidden" value="([^"]+)"', page.text)
        token = token or re.search(r'type="hidden" name="token" value="([^"]+)"', page.text)
        assert token
        form = {"token": token.group(1), "password": NEW, "confirm": NEW}
        done = client.post(link, data={**form, "csrf_token": csrf(client, link)})
        assert done.status_code == 200 and "Your password is changed" in done.text

        assert sign_in(client, "ada@example.com", NEW).status_code == 303
        # The reset ended every other session.
        assert other_device.get("/", follow_redirects=False).status_code == 303
        # The link works once.
        again = client.post(link, data={**form, "csrf_token": csrf(client, link)})
        assert again.status_code == 400
        assert "invalid or has expired" in again.text


def test_forgot_answers_the_same_for_unknown_addresses(
    services: Container, inbox: tuple[Inbox, int]
) -> None:
    with TestClient(create_app(container=services)) as client:
        known = _forgot(client, "ada@example.com")
        unknown = _forgot(client, "nobody@example.com")
        assert known.status_code == unknown.status_code == 303
        assert known.headers["location"] == unknown.headers["location"]
        assert "on its way" in client.get("/login").text
        assert inbox[0].wait_for(1, timeout=10)
    assert [m["To"] for m in inbox[0].messages] == ["ada@example.com"]


def test_reset_enforces_the_password_policy(services: Container, inbox: tuple[Inbox, int]) -> None:
    with TestClient(create_app(container=services)) as client:
        _forgot(client, "ada@example.com")
        link = _reset_link(inbox[0])
        token = link.split("token=", 1)[1]
        response = client.post(
            link,
            data={
                "token": token,
                "password": "ada@example.com",
                "confirm": "ada@example.com",
                "csrf_token": csrf(client, link),
            },
        )
        assert response.status_code == 400
        assert sign_in(client, "ada@example.com", OLD).status_code == 303


def test_without_smtp_the_reset_mail_waits_in_the_outbox(tmp_path: Path) -> None:
    services = Container.build(make_settings(tmp_path / "data", BCRYPT_ROUNDS="4"))
    try:
        usecases.create_owner(services, "Operators", "ada@example.com", "Ada", OLD)
        with TestClient(create_app(container=services)) as client:
            assert _forgot(client, "ada@example.com").status_code == 303
        queued = services.mailer.outbox_page(status="queued").items
        assert [m["to_address"] for m in queued] == ["ada@example.com"]
        assert "/password/reset?token=" in queued[0]["body_text"]
    finally:
        services.close()
