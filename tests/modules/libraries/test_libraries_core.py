"""The built-in libraries, called through the same invoke path as any other:
util.*, http.request (against a real local server), email.send,
accounts.create and users.create."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Iterator, NamedTuple

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from tests.conftest import make_settings
from tests.live import LiveServer
from webapp import usecases
from webapp.container import Container


class World(NamedTuple):
    """A started library manager, a platform account and a customer account."""

    services: Container
    platform: int
    customer: int

    def call(self, name: str, params: dict, account_id: int, user_id: int | None = None):
        """Invoke as the account's service identity (what workflows use)."""
        return self.services.libraries.invoke(
            name,
            params,
            permissions=self.services.authz.entitled_permissions(account_id),
            account_id=account_id,
            user_id=user_id,
        )


@pytest.fixture(name="world")
def fixture_world(tmp_path: Path) -> Iterator[World]:
    """The real module graph with its core libraries loaded."""
    services = Container.build(make_settings(tmp_path / "data", BCRYPT_ROUNDS="4"))
    services.libraries.start()
    usecases.create_owner(services, "Operators", "owner@example.com", "Owner", "long password 1")
    customer = services.tenants.create_account("Customer Co")
    yield World(services, services.tenants.platform_account_id(), customer)
    services.libraries.stop()
    services.close()


@pytest.fixture(name="echo")
def fixture_echo() -> Iterator[str]:
    """A real HTTP server on 127.0.0.1 that echoes what it gets."""

    async def echo(request: Request) -> JSONResponse:
        body = await request.body()
        return JSONResponse(
            {
                "method": request.method,
                "header": request.headers.get("x-test"),
                "body": body.decode(),
            },
            status_code=201 if request.method == "POST" else 200,
        )

    async def text(_request: Request) -> PlainTextResponse:
        return PlainTextResponse("plain words", status_code=418)

    app = Starlette(
        routes=[Route("/echo", echo, methods=["GET", "POST", "PUT"]), Route("/text", text)]
    )
    server = LiveServer(app).start()
    yield server.url
    server.stop()


def test_util_capabilities(world: World) -> None:
    assert world.call("util.noop", {}, world.customer).ok
    assert world.call("util.set", {"a": 1, "b": [2]}, world.customer).output == {"a": 1, "b": [2]}
    started = time.monotonic()
    waited = world.call("util.delay", {"seconds": 0.2}, world.customer)
    assert waited.ok and 0.18 <= time.monotonic() - started < 2
    failed = world.call("util.fail", {"message": "on purpose"}, world.customer)
    assert not failed.ok and failed.error == "StepFailed: on purpose" and failed.retryable
    negative = world.call("util.delay", {"seconds": -1}, world.customer)
    assert not negative.ok and "negative" in negative.error


def test_http_request_json_text_and_errors(world: World, echo: str) -> None:
    sent = world.call(
        "http.request",
        {"url": f"{echo}/echo", "method": "POST", "json": {"x": 1}, "headers": {"X-Test": "yes"}},
        world.customer,
    )
    assert sent.ok, sent.error
    assert sent.output["status"] == 201 and sent.output["ok"] is True
    assert sent.output["body"] == {"method": "POST", "header": "yes", "body": '{"x":1}'}
    text = world.call("http.request", {"url": f"{echo}/text"}, world.customer)
    assert text.output["status"] == 418 and text.output["body"] == "plain words"
    assert text.output["ok"] is False
    bad = world.call("http.request", {"url": "ftp://example.com/"}, world.customer)
    assert not bad.ok and "http:// or https://" in bad.error
    wrong = world.call("http.request", {"url": f"{echo}/echo", "method": "BREW"}, world.customer)
    assert wrong.kind == "validation" and "method" in wrong.fields


def test_email_send_queues_a_mail(world: World) -> None:
    result = world.call(
        "email.send",
        {"to": "ada@example.com", "subject": "Hello", "body": "Line one\nLine two"},
        world.customer,
    )
    assert result.ok, result.error
    mail = world.services.mailer.get(result.output["outbox_id"])
    assert mail["to_address"] == "ada@example.com" and mail["subject"] == "Hello"
    assert "Line two" in mail["body_text"]
    injected = world.call(
        "email.send", {"to": "a@example.com", "subject": "Hi\r\nBcc: x@y.z", "body": "."},
        world.customer,
    )  # fmt: skip
    assert not injected.ok


def test_accounts_create_is_for_the_platform_only(world: World) -> None:
    made = world.call("accounts.create", {"name": "New Co"}, world.platform)
    assert made.ok and world.services.tenants.get_account(made.output["account_id"])
    refused = world.call("accounts.create", {"name": "Sneaky Co"}, world.customer)
    assert refused.kind == "permission"


def test_users_create_stays_in_the_callers_account(world: World) -> None:
    own = world.call(
        "users.create",
        {"username": "new@customer.test", "display_name": "New", "role": "Viewer"},
        world.customer,
    )
    assert own.ok and own.output["account_id"] == world.customer
    elsewhere = world.call(
        "users.create",
        {"username": "x@platform.test", "display_name": "X", "account_id": world.platform},
        world.customer,
    )
    assert not elsewhere.ok and "only the platform account" in elsewhere.error
    by_platform = world.call(
        "users.create",
        {"username": "y@customer.test", "display_name": "Y", "account_id": world.customer},
        world.platform,
    )
    assert by_platform.ok and by_platform.output["account_id"] == world.customer
