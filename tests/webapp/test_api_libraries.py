"""The libraries and capabilities API over HTTP with Bearer keys: every
endpoint, its errors and 404s, who may call what, and no secret in any
answer."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator, NamedTuple

import pytest
from starlette.testclient import TestClient

from tests.conftest import make_settings
from tests.webapp.test_libraries_screens import (
    BROKEN,
    GREETER,
    SECRET,
    client_for,
    write_library,
)
from webapp import usecases
from webapp.app import create_app
from webapp.container import Container
from webapp.errors import error_code

PASSWORD = "a long password 1"
SLEEPY = """
import time


def register(registry):
    registry.info(version="1", title="Sleepy")

    @registry.capability(timeout=0.2)
    def nap(seconds: float = 5.0) -> float:
        time.sleep(seconds)
        return seconds
"""


class Api(NamedTuple):
    """The running app and three keys: platform Owner, platform Admin, customer Admin."""

    services: Container
    client: TestClient
    libs: Path
    owner: dict[str, str]
    staff: dict[str, str]
    customer: dict[str, str]
    bodies: list[str]


def _bearer(services: Container, account_id: int, user_id: int) -> dict[str, str]:
    _, raw = services.tenants.create_api_key(account_id, user_id, "tests")
    return {"Authorization": f"Bearer {raw}"}


@pytest.fixture(name="api")
def fixture_api(tmp_path: Path) -> Iterator[Api]:
    """The app with the greeter, broken and sleepy folders on disk (none added yet)."""
    libs = tmp_path / "libs"
    write_library(libs, "greeter", GREETER)
    write_library(libs, "broken", BROKEN)
    write_library(libs, "sleepy", SLEEPY)
    services = Container.build(
        make_settings(tmp_path / "data", BCRYPT_ROUNDS="4", LIBRARIES_DIR=str(libs))
    )
    owner = usecases.create_owner(services, "Operators", "owner@example.com", "Owner", PASSWORD)
    platform = services.tenants.platform_account_id()
    staff = services.tenants.create_user(
        platform, "staff@example.com", "Staff", password=PASSWORD, role_names=("Admin",)
    )
    customer = services.tenants.create_account("Customer Co")
    admin = services.tenants.create_user(
        customer, "admin@customer.test", "Cai", password=PASSWORD, role_names=("Admin",)
    )
    bodies: list[str] = []
    with client_for(create_app(container=services), bodies) as client:
        yield Api(
            services,
            client,
            libs,
            _bearer(services, platform, owner),
            _bearer(services, platform, staff),
            _bearer(services, customer, admin),
            bodies,
        )
    services.close()


def _add_greeter(api: Api) -> dict:
    response = api.client.post("/api/v1/libraries", json={"ref": "greeter"}, headers=api.owner)
    assert response.status_code == 201
    api.services.libraries.configure(
        "greeter", {"api_token": SECRET, "greeting": "Howdy", "legacy_key": SECRET}
    )
    return response.json()


def _invoke(api: Api, name: str, params, headers: dict[str, str] | None = None):
    return api.client.post(
        f"/api/v1/capabilities/{name}/invoke", json={"params": params}, headers=headers or api.owner
    )


def _error(response) -> dict:
    body = response.json()
    assert set(body) == {"error"}
    assert {"code", "message", "fields"} <= set(body["error"])
    return body["error"]


# --- libraries -------------------------------------------------------------------------


def test_list_libraries(api: Api) -> None:
    response = api.client.get("/api/v1/libraries", headers=api.owner)
    assert response.status_code == 200
    libraries = {lib["name"]: lib for lib in response.json()["libraries"]}
    assert {"util", "http", "email"} <= set(libraries)
    util = libraries["util"]
    assert util["built_in"] is True and util["status"] == "loaded" and util["mode"] == "thread"
    assert "util.noop" in util["capabilities"]
    assert api.client.get("/api/v1/libraries", headers=api.staff).status_code == 200


def test_add_a_library_and_get_it(api: Api) -> None:
    body = _add_greeter(api)
    assert body["name"] == "greeter" and body["status"] == "loaded" and body["built_in"] is False
    assert body["kind"] == "folder" and body["version"] == "1.0" and body["enabled"] is True
    assert sorted(body["capabilities"]) == [
        "greeter.admin_only",
        "greeter.check",
        "greeter.explode",
        "greeter.greet",
    ]
    assert {p["key"] for p in body["permissions"]} >= {"greeter.admin", "greeter.use"}
    assert body["entities"][0]["name"] == "greeter_visit"
    assert body["entities"][0]["fields"][0] == {"name": "who", "type": "text", "required": True}
    assert body["events"] == [{"name": "greeter.greeted", "description": "Someone was greeted."}]
    assert body["config"]["secrets_set"] == {"api_token": False, "legacy_key": False}

    one = api.client.get("/api/v1/libraries/greeter", headers=api.owner)
    assert one.status_code == 200
    config = one.json()["config"]
    assert config["values"] == {"greeting": "Howdy", "repeat": 1}  # the declared default
    assert config["secrets_set"] == {"api_token": True, "legacy_key": True}
    assert {f["name"]: f["secret"] for f in config["fields"]}["legacy_key"] is True
    listed = api.client.get("/api/v1/libraries", headers=api.owner).text
    assert SECRET not in one.text and SECRET not in listed and "enc:" not in listed
    assert all(SECRET not in text for text in api.bodies)


def test_add_errors(api: Api) -> None:
    client = api.client
    failed = client.post("/api/v1/libraries", json={"ref": "broken"}, headers=api.owner)
    assert failed.status_code == 201
    assert failed.json()["status"] == "failed"
    assert "missing FROBNICATOR" in failed.json()["error"]
    assert failed.json()["capabilities"] == []
    write_library(api.libs, "broken", BROKEN.replace("raise RuntimeError", "print"))
    fixed = client.post("/api/v1/libraries/broken/reload", headers=api.owner)
    assert fixed.status_code == 200
    assert fixed.json()["status"] == "loaded" and fixed.json()["error"] is None
    assert fixed.json()["capabilities"] == ["broken.works"]

    twice = client.post("/api/v1/libraries", json={"ref": "broken"}, headers=api.owner)
    assert twice.status_code == 422
    assert "already added" in _error(twice)["fields"]["ref"]
    bad = client.post("/api/v1/libraries", json={"ref": "no/such thing"}, headers=api.owner)
    assert bad.status_code == 422 and "ref" in _error(bad)["fields"]
    for body in ({}, {"ref": ""}, {"ref": 12}):
        missing = client.post("/api/v1/libraries", json=body, headers=api.owner)
        assert missing.status_code == 422 and _error(missing)["fields"]["ref"]
    invalid = client.post(
        "/api/v1/libraries",
        content=b"{not json",
        headers={**api.owner, "Content-Type": "application/json"},
    )
    assert invalid.status_code == 400 and _error(invalid)["code"] == "bad_request"
    not_object = client.post("/api/v1/libraries", json=["greeter"], headers=api.owner)
    assert not_object.status_code == 400
    assert api.services.libraries.library("greeter") is None


def test_reload_enable_disable_and_delete(api: Api) -> None:
    _add_greeter(api)
    client, owner = api.client, api.owner
    disabled = client.post("/api/v1/libraries/greeter/disable", headers=owner)
    assert disabled.status_code == 200
    assert disabled.json()["status"] == "disabled" and disabled.json()["enabled"] is False
    assert _invoke(api, "greeter.greet", {"name": "x"}).status_code == 404
    enabled = client.post("/api/v1/libraries/greeter/enable", headers=owner)
    assert enabled.status_code == 200 and enabled.json()["status"] == "loaded"
    assert _invoke(api, "greeter.greet", {"name": "x"}).json()["output"]["text"] == "Howdy, x"

    write_library(api.libs, "greeter", GREETER.replace('VERSION = "1.0"', 'VERSION = "1.1-api"'))
    reloaded = client.post("/api/v1/libraries/greeter/reload", headers=owner)
    assert reloaded.status_code == 200 and reloaded.json()["version"] == "1.1-api"
    assert _invoke(api, "greeter.greet", {"name": "x"}).json()["output"]["version"] == "1.1-api"

    for action in ("reload", "enable", "disable"):
        missing = client.post(f"/api/v1/libraries/nothing/{action}", headers=owner)
        assert missing.status_code == 404 and _error(missing)["code"] == "not_found"
        core = client.post(f"/api/v1/libraries/util/{action}", headers=owner)
        assert core.status_code == 409 and "built in" in _error(core)["message"]
    assert client.get("/api/v1/libraries/nothing", headers=owner).status_code == 404
    assert client.delete("/api/v1/libraries/util", headers=owner).status_code == 409

    deleted = client.delete("/api/v1/libraries/greeter", headers=owner)
    assert deleted.status_code == 204 and deleted.content == b""
    assert client.get("/api/v1/libraries/greeter", headers=owner).status_code == 404
    assert client.delete("/api/v1/libraries/greeter", headers=owner).status_code == 404
    assert _invoke(api, "greeter.greet", {"name": "x"}).status_code == 404


def test_libraries_api_is_for_platform_operators(api: Api) -> None:
    client = api.client
    _add_greeter(api)
    for headers in (api.customer, api.staff):
        assert (
            client.post("/api/v1/libraries", json={"ref": "broken"}, headers=headers).status_code
            == 403
        )
        assert client.post("/api/v1/libraries/greeter/disable", headers=headers).status_code == 403
        assert client.delete("/api/v1/libraries/greeter", headers=headers).status_code == 403
    denied = client.get("/api/v1/libraries", headers=api.customer)
    assert denied.status_code == 403 and _error(denied)["code"] == "forbidden"
    assert client.get("/api/v1/libraries/greeter", headers=api.customer).status_code == 403
    anonymous = client.get("/api/v1/libraries")
    assert anonymous.status_code == 401 and anonymous.headers["www-authenticate"] == "Bearer"
    wrong = client.get("/api/v1/libraries", headers={"Authorization": "Bearer sb_nope"})
    assert wrong.status_code == 401
    assert api.services.libraries.library("broken") is None
    assert api.services.libraries.library("greeter")["enabled"] is True


# --- capabilities ------------------------------------------------------------------------


def test_list_capabilities_with_schemas(api: Api) -> None:
    _add_greeter(api)
    response = api.client.get("/api/v1/capabilities", headers=api.customer)
    assert response.status_code == 200
    caps = {cap["name"]: cap for cap in response.json()["capabilities"]}
    assert {"util.noop", "greeter.greet"} <= set(caps)
    greet = caps["greeter.greet"]
    assert greet["library"] == "greeter" and greet["permission"] == "greeter.use"
    assert greet["title"] == "Greet someone"
    assert greet["input_schema"]["required"] == ["name"]
    assert greet["input_schema"]["properties"]["name"]["type"] == "string"
    assert caps["greeter.admin_only"]["permission"] == "greeter.admin"
    found = api.client.get("/api/v1/capabilities", params={"q": "three-letter"}, headers=api.owner)
    assert [cap["name"] for cap in found.json()["capabilities"]] == ["greeter.check"]
    one = api.client.get("/api/v1/capabilities/greeter.check", headers=api.owner)
    assert one.status_code == 200 and one.json()["input_schema"]["properties"]["code"]["pattern"]
    assert api.client.get("/api/v1/capabilities/greeter.none", headers=api.owner).status_code == 404
    assert api.client.get("/api/v1/capabilities").status_code == 401


def test_invoke_success_and_caller_errors(api: Api) -> None:
    _add_greeter(api)
    done = _invoke(api, "greeter.greet", {"name": "Ada", "shout": True}, api.customer)
    assert done.status_code == 200
    body = done.json()
    assert body["ok"] is True and body["output"]["text"] == "HOWDY, ADA"
    assert body["output"]["token_length"] == len(SECRET)
    assert isinstance(body["duration_ms"], float)
    assert body["logs"] == [{"level": "INFO", "message": "greeting Ada"}]

    invalid = _invoke(api, "greeter.check", {"code": "abc", "count": 0})
    assert invalid.status_code == 422
    fields = _error(invalid)["fields"]
    assert "pattern" in fields["code"] and "1" in fields["count"]
    assert _error(invalid)["code"] == error_code(422)
    missing = _invoke(api, "greeter.check", {})
    assert missing.status_code == 422 and _error(missing)["fields"] == {"code": "is required"}
    not_object = _invoke(api, "greeter.check", ["ABC"])
    assert not_object.status_code == 422 and "params" in _error(not_object)["fields"]

    denied = _invoke(api, "greeter.admin_only", {}, api.customer)
    assert denied.status_code == 403
    assert "greeter.admin" in _error(denied)["message"]
    assert _invoke(api, "greeter.admin_only", {}).json()["output"] == "admin ok"

    unknown = _invoke(api, "greeter.nothing", {})
    assert unknown.status_code == 404 and _error(unknown)["code"] == "not_found"

    no_params = api.client.post("/api/v1/capabilities/util.noop/invoke", headers=api.owner)
    assert no_params.status_code == 200 and no_params.json()["output"] is None
    invalid_json = api.client.post(
        "/api/v1/capabilities/util.noop/invoke",
        content=b'{"params": ',
        headers={**api.owner, "Content-Type": "application/json"},
    )
    assert invalid_json.status_code == 400
    assert api.client.post("/api/v1/capabilities/util.noop/invoke").status_code == 401
    assert all(SECRET not in text for text in api.bodies)


def test_invoke_failures_answer_502(api: Api) -> None:
    _add_greeter(api)
    raised = _invoke(api, "greeter.explode", {"reason": "loudly"})
    assert raised.status_code == 502
    error = _error(raised)
    assert error["code"] == "capability_failed"
    assert error["message"] == "RuntimeError: exploded loudly"
    assert error["fields"] == {}

    assert (
        api.client.post("/api/v1/libraries", json={"ref": "sleepy"}, headers=api.owner).status_code
        == 201
    )
    slow = _invoke(api, "sleepy.nap", {"seconds": 2})
    assert slow.status_code == 502
    assert _error(slow)["code"] == "capability_failed"
    assert "timed out" in _error(slow)["message"]

    # The same through a worker process.
    api.services.libraries.set_mode("greeter", "subprocess")
    worker = _invoke(api, "greeter.explode", {})
    assert worker.status_code == 502 and "exploded on purpose" in _error(worker)["message"]
    ok = _invoke(api, "greeter.greet", {"name": "W"})
    assert ok.status_code == 200 and ok.json()["output"]["text"] == "Howdy, W"
    assert json.dumps(ok.json()).count(SECRET) == 0
