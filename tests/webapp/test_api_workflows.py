"""The workflows API over HTTP with Bearer keys: create, read, list, change
(versions), enable, disable, trigger and delete; definition problems as 422
fields; who may call what; another account's workflows are a 404."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Iterator, NamedTuple

import pytest
from starlette.testclient import TestClient

from tests.conftest import make_settings
from webapp import usecases
from webapp.app import create_app
from webapp.container import Container

PASSWORD = "a long password 1"
FINISHED = ("completed", "failed", "cancelled")


class Api(NamedTuple):
    """The running app and keys for an Admin, a Member and a Viewer of one
    customer account, and an Admin of another."""

    services: Container
    client: TestClient
    account_id: int
    admin: dict[str, str]
    member: dict[str, str]
    viewer: dict[str, str]
    other: dict[str, str]
    admin_id: int


def _bearer(services: Container, account_id: int, user_id: int) -> dict[str, str]:
    _, raw = services.tenants.create_api_key(account_id, user_id, "tests")
    return {"Authorization": f"Bearer {raw}"}


def build_api(tmp_path: Path, **env: str) -> Iterator[Api]:
    """The app (runner and libraries started) with the users and their keys."""
    services = Container.build(make_settings(tmp_path / "data", BCRYPT_ROUNDS="4", **env))
    usecases.create_owner(services, "Operators", "owner@example.com", "Owner", PASSWORD)
    customer = services.tenants.create_account("Customer Co")
    users = {
        role: services.tenants.create_user(
            customer, f"{role.lower()}@customer.test", role, password=PASSWORD, role_names=(role,)
        )
        for role in ("Admin", "Member", "Viewer")
    }
    rival = services.tenants.create_account("Rival Inc")
    rival_admin = services.tenants.create_user(
        rival, "admin@rival.test", "Rival", password=PASSWORD, role_names=("Admin",)
    )
    with TestClient(create_app(container=services)) as client:
        yield Api(
            services,
            client,
            customer,
            _bearer(services, customer, users["Admin"]),
            _bearer(services, customer, users["Member"]),
            _bearer(services, customer, users["Viewer"]),
            _bearer(services, rival, rival_admin),
            users["Admin"],
        )
    services.close()


@pytest.fixture(name="api")
def fixture_api(tmp_path: Path) -> Iterator[Api]:
    """The app with three customer keys and one of another account."""
    yield from build_api(tmp_path)


def definition(name: str = "Onboard", **extra: Any) -> dict[str, Any]:
    """A small valid definition: set a value from the trigger, then do nothing."""
    return {
        "name": name,
        "steps": [
            {"id": "remember", "capability": "util.set", "params": {"email": "${trigger.email}"}},
            {"id": "done", "capability": "util.noop"},
        ],
        **extra,
    }


def steps(*items: dict[str, Any], name: str = "Flow", **extra: Any) -> dict[str, Any]:
    """A definition with these steps."""
    return {"name": name, "steps": list(items), **extra}


def create(api: Api, body: dict[str, Any]) -> dict[str, Any]:
    """POST a definition as the Admin; returns the workflow."""
    response = api.client.post("/api/v1/workflows", json=body, headers=api.admin)
    assert response.status_code == 201, response.text
    return response.json()


def trigger(api: Api, workflow_id: int, payload: Any = None, headers: Any = None) -> int:
    """Start a run; returns its id."""
    body = {} if payload is None else {"payload": payload}
    response = api.client.post(
        f"/api/v1/workflows/{workflow_id}/trigger", json=body, headers=headers or api.admin
    )
    assert response.status_code == 202, response.text
    return response.json()["run_id"]


def wait_for(
    api: Api, run_id: int, statuses: tuple[str, ...] = FINISHED, timeout: float = 10.0
) -> dict[str, Any]:
    """Poll GET /runs/{id} until the run is in one of `statuses`."""
    deadline = time.monotonic() + timeout
    while True:
        run = api.client.get(f"/api/v1/runs/{run_id}", headers=api.viewer).json()
        if run["status"] in statuses:
            return run
        assert time.monotonic() < deadline, f"run {run_id} stayed {run['status']}"
        time.sleep(0.02)


def wait_for_step(api: Api, run_id: int, step_id: str, timeout: float = 10.0) -> dict[str, Any]:
    """Poll until the run has started the step; returns the run."""
    deadline = time.monotonic() + timeout
    while True:
        run = api.client.get(f"/api/v1/runs/{run_id}", headers=api.viewer).json()
        if any(s["step_id"] == step_id for s in run["steps"]):
            return run
        assert time.monotonic() < deadline, f"run {run_id} never started {step_id}"
        time.sleep(0.02)


def error_of(response: Any, status: int) -> dict[str, Any]:
    """The error object of a response that must have this status."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and {"code", "message", "fields"} <= set(body["error"])
    return body["error"]


SLOW = {"id": "wait", "capability": "util.delay", "params": {"seconds": 5}}


# --- create, read, list, versions ------------------------------------------------


def test_create_then_read_and_list(api: Api) -> None:
    response = api.client.post("/api/v1/workflows", json=definition(), headers=api.admin)
    assert response.status_code == 201
    workflow = response.json()
    assert response.headers["location"] == f"/api/v1/workflows/{workflow['id']}"
    assert workflow["version"] == 1 and workflow["enabled"] is True
    assert workflow["name"] == "Onboard" and workflow["owner_user"] == api.admin_id
    assert workflow["trigger"] == {"type": "manual", "cron": None, "timezone": "UTC", "event": None}
    assert workflow["has_webhook"] is False
    assert workflow["created_at"].endswith("+00:00")
    saved = workflow["definition"]
    assert [s["id"] for s in saved["steps"]] == ["remember", "done"]
    assert saved["steps"][0]["retry"]["max_attempts"] == 1  # defaults filled in
    assert saved["steps"][1]["on_error"] == "stop"

    got = api.client.get(f"/api/v1/workflows/{workflow['id']}", headers=api.viewer)
    assert got.status_code == 200 and got.json() == workflow

    listed = api.client.get("/api/v1/workflows", headers=api.viewer).json()
    assert listed["next_cursor"] is None
    assert [w["id"] for w in listed["items"]] == [workflow["id"]]
    assert "definition" not in listed["items"][0]
    assert listed["items"][0]["version"] == 1


def test_put_saves_a_new_version_and_the_definition_round_trips(api: Api) -> None:
    workflow = create(api, definition())
    changed = {**workflow["definition"], "name": "Onboard v2", "description": "Second try"}
    changed["steps"] = changed["steps"][:1]
    response = api.client.put(
        f"/api/v1/workflows/{workflow['id']}", json=changed, headers=api.admin
    )
    assert response.status_code == 200, response.text
    updated = response.json()
    assert updated["version"] == 2 and updated["name"] == "Onboard v2"
    assert updated["description"] == "Second try"
    assert [s["id"] for s in updated["definition"]["steps"]] == ["remember"]
    again = api.client.get(f"/api/v1/workflows/{workflow['id']}", headers=api.admin).json()
    assert again["version"] == 2 and again["definition"] == updated["definition"]
    # The stored definition, sent back as it is, is valid (ids and versions are ignored).
    third = api.client.put(
        f"/api/v1/workflows/{workflow['id']}",
        json={**again["definition"], "id": workflow["id"], "version": 2},
        headers=api.admin,
    )
    assert third.status_code == 200 and third.json()["version"] == 3
    # A run started on a version keeps it.
    run = wait_for(api, trigger(api, workflow["id"], {"email": "a@b.test"}))
    assert run["version"] == 3


def test_list_searches_and_pages_with_a_cursor(api: Api) -> None:
    for name in ("Delta", "alpha", "Charlie", "Bravo", "Echo sync"):
        create(api, definition(name, description="syncs" if name == "Bravo" else ""))
    seen: list[str] = []
    cursor = None
    for _ in range(5):
        query = {"limit": 2} if cursor is None else {"limit": 2, "after": cursor}
        page = api.client.get("/api/v1/workflows", params=query, headers=api.viewer).json()
        assert len(page["items"]) <= 2
        seen += [w["name"] for w in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(seen)  # by name
    assert len(seen) == 5 and set(seen) == {"Delta", "alpha", "Charlie", "Bravo", "Echo sync"}
    found = api.client.get("/api/v1/workflows", params={"q": "sync"}, headers=api.viewer).json()
    assert {w["name"] for w in found["items"]} == {"Bravo", "Echo sync"}

    for bad in ({"limit": "0"}, {"limit": "201"}, {"limit": "ten"}):
        error = error_of(api.client.get("/api/v1/workflows", params=bad, headers=api.admin), 422)
        assert "limit" in error["fields"]
    tampered = api.client.get("/api/v1/workflows", params={"after": "%%%"}, headers=api.admin)
    assert "after" in error_of(tampered, 422)["fields"]


# --- definition problems --------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param(
            steps(
                {"id": "a", "capability": "util.noop", "depends_on": ["b"]},
                {"id": "b", "capability": "util.noop", "depends_on": ["a"]},
                mode="dag",
            ),
            {"steps": "dependency cycle"},
            id="cycle",
        ),
        pytest.param(
            steps({"id": "welcome", "capability": "email.sned"}),
            {"steps.welcome.capability": "unknown capability 'email.sned'"},
            id="unknown-capability",
        ),
        pytest.param(
            steps({"id": "wait", "capability": "util.delay", "params": {"seconds": "soon"}}),
            {"steps.wait.params.seconds": "number"},
            id="bad-param",
        ),
        pytest.param(
            steps({"id": "wait", "capability": "util.delay"}),
            {"steps.wait.params.seconds": "is required"},
            id="missing-param",
        ),
        pytest.param(
            steps({"id": "nap", "capability": "util.noop", "params": {"x": "${steps.zzz.output}"}}),
            {"steps.nap.params": "unknown step 'zzz'"},
            id="bad-reference",
        ),
        pytest.param(
            {"name": "", "steps": [], "colour": "red", "mode": "parallel"},
            {"name": "required", "steps": "non-empty", "colour": "not a workflow setting"},
            id="shape",
        ),
        pytest.param(
            steps({"id": "Bad Id", "capability": "util.noop"}),
            {"steps[0].id": "a-z"},
            id="step-id",
        ),
        pytest.param(
            steps({"id": "a", "capability": "util.noop"}, trigger={"type": "schedule"}),
            {"trigger.cron": "required"},
            id="schedule-without-cron",
        ),
        pytest.param(
            steps(
                {"id": "a", "capability": "util.noop"},
                trigger={"type": "schedule", "cron": "every day"},
            ),
            {"trigger.cron": "not a valid cron"},
            id="bad-cron",
        ),
    ],
)
def test_definition_problems_answer_422_with_fields(
    api: Api, body: dict[str, Any], expected: dict[str, str]
) -> None:
    error = error_of(api.client.post("/api/v1/workflows", json=body, headers=api.admin), 422)
    assert error["code"] == "unprocessable_entity"
    for key, fragment in expected.items():
        assert fragment in error["fields"].get(key, ""), error["fields"]
    assert api.client.get("/api/v1/workflows", headers=api.admin).json()["items"] == []


def test_put_with_problems_keeps_the_current_version(api: Api) -> None:
    workflow = create(api, definition())
    bad = steps({"id": "x", "capability": "nope.nothing"})
    error = error_of(
        api.client.put(f"/api/v1/workflows/{workflow['id']}", json=bad, headers=api.admin), 422
    )
    assert "steps.x.capability" in error["fields"]
    current = api.client.get(f"/api/v1/workflows/{workflow['id']}", headers=api.admin).json()
    assert current["version"] == 1 and current == workflow


def test_error_workflow_must_be_another_workflow_of_the_account(api: Api) -> None:
    theirs = api.client.post("/api/v1/workflows", json=definition("Theirs"), headers=api.other)
    body = definition("Handler-less", error_workflow=theirs.json()["id"])
    error = error_of(api.client.post("/api/v1/workflows", json=body, headers=api.admin), 422)
    assert "error_workflow" in error["fields"]
    handler = create(api, definition("Handler"))
    assert create(api, definition("Guarded", error_workflow=handler["id"]))["version"] == 1


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/v1/workflows"),
        ("PUT", "/api/v1/workflows/{id}"),
        ("POST", "/api/v1/workflows/{id}/trigger"),
    ],
)
@pytest.mark.parametrize("raw", ["{not json", "[1, 2]", '"text"', "\xff"])
def test_a_body_that_is_not_a_json_object_is_a_400(
    api: Api, method: str, path: str, raw: str
) -> None:
    workflow = create(api, definition())
    response = api.client.request(
        method,
        path.format(id=workflow["id"]),
        content=raw.encode("latin-1"),
        headers={**api.admin, "Content-Type": "application/json"},
    )
    assert error_of(response, 400)["code"] == "bad_request"


# --- enable, disable -----------------------------------------------------------


def test_disable_and_enable(api: Api) -> None:
    workflow = create(api, definition())
    path = f"/api/v1/workflows/{workflow['id']}"
    off = api.client.post(f"{path}/disable", headers=api.admin)
    assert off.status_code == 200
    assert off.json()["enabled"] is False and off.json()["version"] == 2
    assert off.json()["definition"]["enabled"] is False
    again = api.client.post(f"{path}/disable", headers=api.admin).json()
    assert again["version"] == 2  # nothing changed, no new version
    # A disabled workflow still runs when asked to explicitly.
    assert wait_for(api, trigger(api, workflow["id"], {"email": "x@y.test"}))["status"] == (
        "completed"
    )
    on = api.client.post(f"{path}/enable", headers=api.admin).json()
    assert on["enabled"] is True and on["version"] == 3
    assert api.client.get(path, headers=api.viewer).json()["enabled"] is True


# --- trigger -----------------------------------------------------------------------


def test_trigger_answers_202_and_the_run_completes(api: Api) -> None:
    workflow = create(api, definition())
    response = api.client.post(
        f"/api/v1/workflows/{workflow['id']}/trigger",
        json={"payload": {"email": "new@customer.test"}},
        headers=api.member,
    )
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "queued" and isinstance(body["run_id"], int)
    assert response.headers["location"] == f"/api/v1/runs/{body['run_id']}"
    run = wait_for(api, body["run_id"])
    assert run["status"] == "completed", run
    assert run["workflow_id"] == workflow["id"] and run["version"] == 1
    assert run["trigger_type"] == "api"
    assert run["trigger_payload"] == {"email": "new@customer.test"}
    assert [(s["step_id"], s["status"]) for s in run["steps"]] == [
        ("remember", "completed"),
        ("done", "completed"),
    ]
    assert run["steps"][0]["output"] == {"email": "new@customer.test"}
    assert run["finished_at"] >= run["started_at"] >= run["created_at"]


def test_trigger_without_a_body_runs_with_an_empty_payload(api: Api) -> None:
    workflow = create(api, steps({"id": "a", "capability": "util.noop"}))
    response = api.client.post(f"/api/v1/workflows/{workflow['id']}/trigger", headers=api.admin)
    assert response.status_code == 202
    run = wait_for(api, response.json()["run_id"])
    assert run["status"] == "completed" and run["trigger_payload"] == {}


def test_trigger_checks_its_body(api: Api) -> None:
    workflow = create(api, definition())
    path = f"/api/v1/workflows/{workflow['id']}/trigger"
    error = error_of(api.client.post(path, json={"payload": [1]}, headers=api.admin), 422)
    assert error["fields"] == {"payload": "must be an object"}
    error = error_of(api.client.post(path, json={"email": "a@b.test"}, headers=api.admin), 422)
    assert "email" in error["fields"]
    assert api.client.get("/api/v1/runs", headers=api.admin).json()["items"] == []


# --- delete ------------------------------------------------------------------------


def test_delete_removes_the_workflow(api: Api) -> None:
    workflow = create(api, definition())
    run_id = trigger(api, workflow["id"], {"email": "a@b.test"})
    wait_for(api, run_id)
    path = f"/api/v1/workflows/{workflow['id']}"
    response = api.client.delete(path, headers=api.admin)
    assert response.status_code == 204 and response.content == b""
    assert error_of(api.client.get(path, headers=api.admin), 404)["code"] == "not_found"
    assert error_of(api.client.delete(path, headers=api.admin), 404)
    assert error_of(api.client.get(f"/api/v1/runs/{run_id}", headers=api.admin), 404)
    bad = api.client.delete(path, params={"force": "maybe"}, headers=api.admin)
    assert error_of(bad, 422)["fields"] == {"force": "must be true or false"}


def test_delete_with_a_running_run_is_a_conflict_unless_forced(api: Api) -> None:
    workflow = create(api, steps(SLOW, {"id": "after", "capability": "util.noop"}))
    run_id = trigger(api, workflow["id"])
    wait_for_step(api, run_id, "wait")
    path = f"/api/v1/workflows/{workflow['id']}"
    conflict = error_of(api.client.delete(path, headers=api.admin), 409)
    assert conflict["code"] == "conflict" and "force" in conflict["message"]
    assert api.client.get(path, headers=api.admin).status_code == 200
    assert wait_for(api, run_id, ("running",))["status"] == "running"  # untouched

    started = time.monotonic()
    forced = api.client.delete(path, params={"force": "true"}, headers=api.admin)
    assert forced.status_code == 204, forced.text
    # The 5-second step was cancelled, not waited for.
    assert time.monotonic() - started < 4.0
    assert run_id not in api.services.workflows.runner.active
    assert api.client.get(path, headers=api.admin).status_code == 404
    assert api.client.get(f"/api/v1/runs/{run_id}", headers=api.admin).status_code == 404
    leftovers = api.services.db.execute("SELECT count(*) FROM step_run WHERE run = ?", (run_id,))[
        0
    ][0]
    assert leftovers == 0


# --- permissions, tenants, keys ------------------------------------------------


def test_viewer_reads_but_cannot_change_or_run(api: Api) -> None:
    workflow = create(api, definition())
    path = f"/api/v1/workflows/{workflow['id']}"
    assert api.client.get("/api/v1/workflows", headers=api.viewer).status_code == 200
    assert api.client.get(path, headers=api.viewer).status_code == 200
    for method, url, body in (
        ("POST", "/api/v1/workflows", definition("Mine")),
        ("PUT", path, definition("Changed")),
        ("DELETE", path, None),
        ("POST", f"{path}/enable", None),
        ("POST", f"{path}/disable", None),
        ("POST", f"{path}/trigger", {"payload": {}}),
    ):
        response = api.client.request(method, url, json=body, headers=api.viewer)
        assert error_of(response, 403)["code"] == "forbidden", (method, url)
    assert api.client.get(path, headers=api.admin).json() == workflow


def test_member_can_trigger_but_not_create_change_or_delete(api: Api) -> None:
    workflow = create(api, definition())
    path = f"/api/v1/workflows/{workflow['id']}"
    for method, url, body in (
        ("POST", "/api/v1/workflows", definition("Mine")),
        ("PUT", path, definition("Changed")),
        ("DELETE", path, None),
        ("POST", f"{path}/disable", None),
    ):
        response = api.client.request(method, url, json=body, headers=api.member)
        assert response.status_code == 403, (method, url)
    run_id = trigger(api, workflow["id"], {"email": "m@c.test"}, headers=api.member)
    assert wait_for(api, run_id)["status"] == "completed"


def test_another_accounts_workflows_are_not_found(api: Api) -> None:
    mine = create(api, definition())
    path = f"/api/v1/workflows/{mine['id']}"
    for method, url, body in (
        ("GET", path, None),
        ("PUT", path, definition("Taken over")),
        ("DELETE", path, None),
        ("POST", f"{path}/enable", None),
        ("POST", f"{path}/disable", None),
        ("POST", f"{path}/trigger", {"payload": {"email": "x@y.test"}}),
    ):
        response = api.client.request(method, url, json=body, headers=api.other)
        assert error_of(response, 404)["code"] == "not_found", (method, url)
    assert api.client.get("/api/v1/workflows", headers=api.other).json()["items"] == []
    assert api.client.get(path, headers=api.admin).json() == mine
    assert api.client.get("/api/v1/runs", headers=api.admin).json()["items"] == []


@pytest.mark.parametrize("workflow_id", ["999", str(2**63), str(2**70)])
def test_unknown_ids_are_not_found(api: Api, workflow_id: str) -> None:
    path = f"/api/v1/workflows/{workflow_id}"
    for method, url, body in (
        ("GET", path, None),
        ("PUT", path, definition()),
        ("DELETE", path, None),
        ("POST", f"{path}/enable", None),
        ("POST", f"{path}/trigger", None),
    ):
        response = api.client.request(method, url, json=body, headers=api.admin)
        assert error_of(response, 404)["code"] == "not_found", (method, url)
    assert error_of(api.client.get("/api/v1/workflows/abc", headers=api.admin), 404)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/workflows"),
        ("POST", "/api/v1/workflows"),
        ("GET", "/api/v1/workflows/1"),
        ("PUT", "/api/v1/workflows/1"),
        ("DELETE", "/api/v1/workflows/1"),
        ("POST", "/api/v1/workflows/1/enable"),
        ("POST", "/api/v1/workflows/1/disable"),
        ("POST", "/api/v1/workflows/1/trigger"),
    ],
)
@pytest.mark.parametrize("key", [None, "Bearer sb_not_a_key", "Basic abc"])
def test_no_valid_key_is_a_401(api: Api, method: str, path: str, key: str | None) -> None:
    create(api, definition())
    headers = {} if key is None else {"Authorization": key}
    response = api.client.request(method, path, json=definition(), headers=headers)
    assert error_of(response, 401)["code"] == "unauthorized"
    assert response.headers["www-authenticate"] == "Bearer"
    assert len(api.client.get("/api/v1/workflows", headers=api.admin).json()["items"]) == 1
