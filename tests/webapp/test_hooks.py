"""`POST /hooks/{token}`: a signed request starts a run (202 with its id);
a missing or wrong signature, an old timestamp, a replay, an unknown token,
a disabled workflow and bodies that are not JSON objects are refused with
JSON errors. No session and no CSRF token are involved."""

from __future__ import annotations

import json
import time
from typing import NamedTuple

import pytest
from starlette.testclient import TestClient

from modules.workflows.webhooks import MAX_BODY, sign
from tests.webapp.test_workflows_screens import (  # pylint: disable=unused-import  # fixtures
    Acme,
    definition,
    fixture_acme,
    wait_for_run,
)
from webapp.container import Container


class Hook(NamedTuple):
    """A workflow with a webhook."""

    workflow: int
    path: str
    secret: str


@pytest.fixture(name="hook")
def fixture_hook(services: Container, acme: Acme) -> Hook:
    """A webhook-triggered workflow that echoes its payload."""
    workflow = services.workflows.create(
        acme.account_id,
        definition(
            "Inbound",
            {"id": "echo", "capability": "util.set", "params": {"email": "${trigger.email}"}},
            trigger={"type": "webhook"},
        ),
    )
    token, secret = services.workflows.webhook_secret(acme.account_id, workflow["id"])
    return Hook(workflow["id"], f"/hooks/{token}", secret)


def send(web: TestClient, hook: Hook, body: bytes, *, at: int | None = None, secret: str = ""):
    """POST `body` signed with the hook's secret (or `secret`) at `at` (now)."""
    signature = sign(secret or hook.secret, body, int(time.time()) if at is None else at)
    return web.post(
        hook.path,
        content=body,
        headers={"Content-Type": "application/json", "X-Signature": signature},
    )


def assert_error(response, status: int, words: str) -> None:
    """A JSON error with this status whose message says `words`."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert words in response.json()["error"]["message"]


def test_a_signed_request_starts_a_run(
    web: TestClient, services: Container, acme: Acme, hook: Hook
) -> None:
    response = send(web, hook, json.dumps({"email": "ada@example.com"}).encode())
    assert response.status_code == 202
    run_id = response.json()["run_id"]
    run = wait_for_run(services, acme.account_id, run_id)
    assert run["workflow"] == hook.workflow and run["trigger_type"] == "webhook"
    assert run["trigger_payload"] == {"email": "ada@example.com"}
    assert run["status"] == "completed"
    assert run["steps"][0]["output"] == {"email": "ada@example.com"}


def test_an_empty_body_is_an_empty_payload(
    web: TestClient, services: Container, acme: Acme
) -> None:
    workflow = services.workflows.create(acme.account_id, definition("Bare"))
    token, secret = services.workflows.webhook_secret(acme.account_id, workflow["id"])
    response = send(web, Hook(workflow["id"], f"/hooks/{token}", secret), b"")
    assert response.status_code == 202
    run = wait_for_run(services, acme.account_id, response.json()["run_id"])
    assert run["trigger_payload"] == {}


def test_signatures_are_checked(
    web: TestClient, services: Container, acme: Acme, hook: Hook
) -> None:
    body = b'{"email": "ada@example.com"}'
    assert_error(send(web, hook, body, secret="whsec_wrong"), 401, "does not match")
    missing = web.post(hook.path, content=body, headers={"Content-Type": "application/json"})
    assert_error(missing, 401, "X-Signature header is missing")
    garbled = web.post(hook.path, content=body, headers={"X-Signature": "v1=abc"})
    assert_error(garbled, 401, "t=<unix seconds>,v1=<hex>")
    # Signed for another body.
    other = sign(hook.secret, b"{}", int(time.time()))
    assert_error(web.post(hook.path, content=body, headers={"X-Signature": other}), 401, "match")
    assert_error(send(web, hook, body, at=int(time.time()) - 3600), 401, "too old")
    assert_error(send(web, hook, body, at=10**20), 401, "in the future")
    assert services.workflows.runs.page_runs(acme.account_id).items == []


def test_a_replay_is_refused(web: TestClient, hook: Hook) -> None:
    body = b'{"email": "ada@example.com"}'
    moment = int(time.time())
    assert send(web, hook, body, at=moment).status_code == 202
    assert_error(send(web, hook, body, at=moment), 409, "replay")


def test_unknown_and_replaced_tokens_are_not_found(
    web: TestClient, services: Container, acme: Acme, hook: Hook
) -> None:
    body = b"{}"
    unknown = Hook(hook.workflow, "/hooks/not-a-real-token", hook.secret)
    assert_error(send(web, unknown, body), 404, "no such webhook")
    services.workflows.webhook_secret(acme.account_id, hook.workflow)
    assert_error(send(web, hook, body), 404, "no such webhook")


def test_a_disabled_workflow_refuses(
    web: TestClient, services: Container, acme: Acme, hook: Hook
) -> None:
    services.workflows.set_enabled(acme.account_id, hook.workflow, False)
    assert_error(send(web, hook, b"{}"), 409, "disabled")


@pytest.mark.parametrize(
    ("body", "words"),
    [(b"[1, 2]", "JSON object"), (b"not json", "must be JSON"), (b"\xff\xfe", "must be JSON")],
)
def test_the_body_must_be_a_json_object(
    web: TestClient, hook: Hook, body: bytes, words: str
) -> None:
    assert_error(send(web, hook, body), 400, words)


def test_form_bodies_and_huge_bodies_are_refused(web: TestClient, hook: Hook) -> None:
    form = web.post(
        hook.path,
        content=b"email=ada",
        headers={"Content-Type": "application/x-www-form-urlencoded", "X-Signature": "t=1,v1=a"},
    )
    assert_error(form, 415, "as JSON")
    huge = b'{"pad": "' + b"x" * MAX_BODY + b'"}'
    assert_error(send(web, hook, huge), 413, "larger than 1 MiB")


def test_only_post_is_allowed(web: TestClient, hook: Hook) -> None:
    assert web.get(hook.path).status_code == 405
