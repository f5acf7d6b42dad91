"""The OpenAPI document: a valid OpenAPI 3.1 document, generated from the
route table so it lists every /api/v1 endpoint with hand-written metadata,
and what the real API answers fits the schemas it declares."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any, Iterator, NamedTuple

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import OpenAPIV31SpecValidator, validate
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Mount, Route
from starlette.testclient import TestClient

from tests.conftest import make_settings
from tests.webapp.test_libraries_screens import BROKEN, GREETER, SECRET, write_library
from webapp import usecases
from webapp.api import openapi
from webapp.app import create_app
from webapp.container import Container
from webapp.gate import PUBLIC, route

PASSWORD = "a long password 1"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "api.md"
DOC_URI = "urn:switchboard:openapi"


class Site(NamedTuple):
    """The running app, its OpenAPI document, a platform Owner key and a customer Admin key."""

    services: Container
    client: TestClient
    doc: dict[str, Any]
    owner: dict[str, str]
    admin: dict[str, str]


@pytest.fixture(name="site")
def fixture_site(tmp_path: Path) -> Iterator[Site]:
    """The app with the greeter and broken library folders on disk."""
    libs = tmp_path / "libs"
    write_library(libs, "greeter", GREETER)
    write_library(libs, "broken", BROKEN)
    services = Container.build(
        make_settings(tmp_path / "data", BCRYPT_ROUNDS="4", LIBRARIES_DIR=str(libs))
    )
    owner = usecases.create_owner(services, "Operators", "owner@example.com", "Owner", PASSWORD)
    platform = services.tenants.platform_account_id()
    customer = services.tenants.create_account("Customer Co")
    admin = services.tenants.create_user(
        customer, "admin@customer.test", "Cai", password=PASSWORD, role_names=("Admin",)
    )
    with TestClient(create_app(container=services)) as client:
        response = client.get("/api/v1/openapi.json")
        assert response.status_code == 200
        yield Site(
            services,
            client,
            response.json(),
            {"Authorization": f"Bearer {services.tenants.create_api_key(platform, owner, 'o')[1]}"},
            {"Authorization": f"Bearer {services.tenants.create_api_key(customer, admin, 'a')[1]}"},
        )
    services.close()


def api_routes(routes: list[BaseRoute], prefix: str = "") -> set[tuple[str, str]]:
    """(METHOD, path) of every /api/v1 route, walked independently of the module."""
    found: set[tuple[str, str]] = set()
    for item in routes:
        if isinstance(item, Mount):
            found |= api_routes(item.routes, prefix + item.path)
        elif isinstance(item, Route) and (prefix + item.path).startswith("/api/v1"):
            path = re.sub(r"\{(\w+)(:\w+)?\}", r"{\1}", prefix + item.path)
            found |= {(m, path) for m in item.methods or () if m != "HEAD"}
    return found


def documented(doc: dict[str, Any]) -> set[tuple[str, str]]:
    """(METHOD, path) of every operation in the document."""
    return {(method.upper(), path) for path, ops in doc["paths"].items() for method in ops}


# --- the document itself ----------------------------------------------------------


def test_the_document_is_valid_openapi_3_1(site: Site) -> None:
    assert site.doc["openapi"].startswith("3.1")
    validate(site.doc, cls=OpenAPIV31SpecValidator)
    schemes = site.doc["components"]["securitySchemes"]
    assert schemes["bearer"] == {**schemes["bearer"], "type": "http", "scheme": "bearer"}
    assert site.doc["security"] == [{"bearer": []}]
    schemas = site.doc["components"]["schemas"]
    for name in (
        "Error",
        "WorkflowDefinition",
        "Workflow",
        "Run",
        "StepRun",
        "RunLog",
        "Library",
        "Capability",
    ):
        assert name in schemas, name
        Draft202012Validator.check_schema(schemas[name])


def test_every_api_route_is_in_the_document_with_its_metadata(site: Site) -> None:
    app = site.client.app
    expected = api_routes(app.routes)
    assert ("POST", "/api/v1/workflows/{id}/trigger") in expected
    assert ("GET", "/api/v1/capabilities/{name}") in expected
    assert documented(site.doc) == expected
    assert openapi.undocumented(app.routes) == []
    names = {e.name for e in openapi.endpoints(app.routes)}
    assert set(openapi.OPERATIONS) == names, "metadata for routes that do not exist"
    for path, ops in site.doc["paths"].items():
        for method, op in ops.items():
            assert openapi.UNDOCUMENTED not in op, (method, path)
            assert op["summary"] and op["tags"] and op["responses"], (method, path)
            success = [code for code in op["responses"] if code.startswith("2")]
            assert success, (method, path)
            if op.get("security") == []:
                assert op["x-permission"] == PUBLIC
            else:
                assert "401" in op["responses"], (method, path)


def test_operations_state_the_permission_their_gate_checks(site: Site) -> None:
    gates = {
        (method.lower(), re.sub(r"\{(\w+)(:\w+)?\}", r"{\1}", item.path)): item.permission
        for item in site.client.app.routes
        if isinstance(item, Route) and item.path.startswith("/api/v1")
        for method in item.methods or ()
    }
    doc = site.doc["paths"]
    assert doc["/api/v1/workflows"]["post"]["x-permission"] == "workflows.manage"
    assert doc["/api/v1/workflows/{id}/trigger"]["post"]["x-permission"] == "workflows.execute"
    assert doc["/api/v1/runs"]["get"]["x-permission"] == "workflows.view"
    for path, ops in doc.items():
        for method, op in ops.items():
            assert op["x-permission"] == gates[(method, path)]
            has_403 = "403" in op["responses"]
            assert has_403 == (op["x-permission"] not in (PUBLIC, "@signed_in")), (method, path)


def test_a_route_without_metadata_is_marked_and_reported() -> None:
    def extra(_request: Any) -> JSONResponse:
        return JSONResponse({})

    routes = [
        route("/api/v1/extra/{item:int}", extra, permission="things.view", name="api_extra"),
        Mount("/api/v1/mounted", routes=[Route("/x", extra, name="mounted_x")]),
        route("/not-api", extra, permission=PUBLIC, name="page"),
    ]
    doc = openapi.document(routes)
    assert set(doc["paths"]) == {"/api/v1/extra/{item}", "/api/v1/mounted/x"}
    operation = doc["paths"]["/api/v1/extra/{item}"]["get"]
    assert operation[openapi.UNDOCUMENTED] is True
    assert operation["parameters"][0]["schema"]["type"] == "integer"
    assert openapi.undocumented(routes) == [
        "GET /api/v1/extra/{item} (api_extra)",
        "GET /api/v1/mounted/x (mounted_x)",
    ]
    validate(doc, cls=OpenAPIV31SpecValidator)


def test_the_document_is_public(site: Site) -> None:
    response = site.client.get("/api/v1/openapi.json", headers={"Authorization": "Bearer nope"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    check(site.doc, "GET", "/api/v1/openapi.json", response)


def test_docs_describe_every_endpoint(site: Site) -> None:
    text = DOCS.read_text(encoding="utf-8")
    missing = [f"{m} {p}" for m, p in sorted(documented(site.doc)) if f"{m} {p}" not in text]
    assert not missing, f"docs/api.md does not describe {missing}"


# --- real answers fit their declared schemas ---------------------------------------


def _resolve(doc: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        parts = node["$ref"].removeprefix("#/").split("/")
        node = doc
        for part in parts:
            node = node[part]
    return node


def check(doc: dict[str, Any], method: str, template: str, response: Any) -> dict[str, Any]:
    """Validate a response against the schema its operation declares for its status."""
    operation = doc["paths"][template][method.lower()]
    declared = operation["responses"].get(str(response.status_code))
    assert declared is not None, f"{method} {template} does not declare {response.status_code}"
    declared = _resolve(doc, declared)
    if "content" not in declared:
        assert response.content == b""
        return {}
    schema = declared["content"]["application/json"]["schema"]
    registry = Registry().with_resource(
        DOC_URI, Resource.from_contents(doc, default_specification=DRAFT202012)
    )
    pointer = schema["$ref"] if "$ref" in schema else None
    root = {"$ref": DOC_URI + pointer} if pointer else schema
    body = response.json()
    errors = sorted(
        Draft202012Validator(root, registry=registry).iter_errors(body), key=lambda e: e.path
    )
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors]
    for name in declared.get("headers", {}):
        if name.lower() == "location":
            assert name.lower() in response.headers
    return body


def _wait(site: Site, run_id: int) -> Any:
    deadline = time.monotonic() + 10
    while True:
        response = site.client.get(f"/api/v1/runs/{run_id}", headers=site.admin)
        if response.json()["status"] in ("completed", "failed", "cancelled"):
            return response
        assert time.monotonic() < deadline
        time.sleep(0.02)


def test_workflow_and_run_answers_fit_their_schemas(site: Site) -> None:
    client, doc, key = site.client, site.doc, site.admin
    body = {
        "name": "Checked",
        "description": "schemas",
        "trigger": {"type": "event", "event": "account.created"},
        "mode": "dag",
        "timeout_seconds": 60,
        "notify": ["ops@customer.test"],
        "steps": [
            {"id": "first", "capability": "util.set", "params": {"v": "${trigger.v}"}},
            {
                "id": "second",
                "capability": "util.fail",
                "depends_on": ["first"],
                "condition": {"left": "${steps.first.output.v}", "op": ">", "right": 1},
                "retry": {"max_attempts": 2, "initial_interval_seconds": 0},
                "on_error": {"fallback": "rescue"},
                "title": "Might fail",
            },
            {"id": "rescue", "capability": "util.noop", "timeout_seconds": 5},
        ],
    }
    validator = Draft202012Validator(
        {"$ref": DOC_URI + "#/components/schemas/WorkflowDefinition"},
        registry=Registry().with_resource(
            DOC_URI, Resource.from_contents(doc, default_specification=DRAFT202012)
        ),
    )
    assert not list(validator.iter_errors(body)), "the example body fits the declared schema"
    created = check(
        doc, "POST", "/api/v1/workflows", client.post("/api/v1/workflows", json=body, headers=key)
    )
    wid = created["id"]
    check(doc, "GET", "/api/v1/workflows", client.get("/api/v1/workflows", headers=key))
    check(doc, "GET", "/api/v1/workflows/{id}", client.get(f"/api/v1/workflows/{wid}", headers=key))
    check(
        doc,
        "PUT",
        "/api/v1/workflows/{id}",
        client.put(f"/api/v1/workflows/{wid}", json=created["definition"], headers=key),
    )
    for action in ("disable", "enable"):
        path = f"/api/v1/workflows/{{id}}/{action}"
        check(doc, "POST", path, client.post(path.format(id=wid), headers=key))
    triggered = check(
        doc,
        "POST",
        "/api/v1/workflows/{id}/trigger",
        client.post(f"/api/v1/workflows/{wid}/trigger", json={"payload": {"v": 2}}, headers=key),
    )
    run = check(doc, "GET", "/api/v1/runs/{id}", _wait(site, triggered["run_id"]))
    assert run["steps"] and run["logs"], "the run has step runs and log lines to check"
    check(doc, "GET", "/api/v1/runs", client.get("/api/v1/runs", headers=key))
    check(
        doc,
        "POST",
        "/api/v1/runs/{id}/cancel",
        client.post(f"/api/v1/runs/{run['id']}/cancel", headers=key),
    )
    retried = check(
        doc,
        "POST",
        "/api/v1/runs/{id}/retry",
        client.post(f"/api/v1/runs/{run['id']}/retry", json={"from": "start"}, headers=key),
    )
    _wait(site, retried["run_id"])
    check(
        doc,
        "DELETE",
        "/api/v1/workflows/{id}",
        client.delete(f"/api/v1/workflows/{wid}", headers=key),
    )


def test_error_answers_fit_the_error_schema(site: Site) -> None:
    client, doc, key = site.client, site.doc, site.admin
    bad = {"name": "x", "steps": [{"id": "a", "capability": "nope.nope"}]}
    check(doc, "POST", "/api/v1/workflows", client.post("/api/v1/workflows", json=bad, headers=key))
    check(
        doc,
        "POST",
        "/api/v1/workflows",
        client.post("/api/v1/workflows", content=b"{", headers=key),
    )
    check(doc, "POST", "/api/v1/workflows", client.post("/api/v1/workflows", json=bad))
    check(doc, "GET", "/api/v1/workflows/{id}", client.get("/api/v1/workflows/9", headers=key))
    check(doc, "GET", "/api/v1/runs", client.get("/api/v1/runs?status=x", headers=key))
    check(doc, "GET", "/api/v1/libraries", client.get("/api/v1/libraries", headers=key))


def test_account_library_and_capability_answers_fit_their_schemas(site: Site) -> None:
    client, doc, key = site.client, site.doc, site.owner
    check(doc, "GET", "/api/v1/me", client.get("/api/v1/me", headers=key))
    added = check(
        doc,
        "POST",
        "/api/v1/libraries",
        client.post("/api/v1/libraries", json={"ref": "greeter"}, headers=key),
    )
    site.services.libraries.configure("greeter", {"api_token": SECRET, "greeting": "Howdy"})
    check(
        doc,
        "POST",
        "/api/v1/libraries",
        client.post("/api/v1/libraries", json={"ref": "broken"}, headers=key),
    )
    listed = check(doc, "GET", "/api/v1/libraries", client.get("/api/v1/libraries", headers=key))
    assert {"greeter", "broken", "util"} <= {lib["name"] for lib in listed["libraries"]}
    name = added["name"]
    check(
        doc, "GET", "/api/v1/libraries/{name}", client.get(f"/api/v1/libraries/{name}", headers=key)
    )
    for action in ("disable", "enable", "reload"):
        path = f"/api/v1/libraries/{{name}}/{action}"
        check(doc, "POST", path, client.post(path.format(name=name), headers=key))
    check(
        doc,
        "POST",
        "/api/v1/libraries/{name}/reload",
        client.post("/api/v1/libraries/util/reload", headers=key),
    )
    check(doc, "GET", "/api/v1/capabilities", client.get("/api/v1/capabilities", headers=key))
    check(
        doc,
        "GET",
        "/api/v1/capabilities/{name}",
        client.get("/api/v1/capabilities/util.delay", headers=key),
    )
    invoke = "/api/v1/capabilities/{name}/invoke"
    for capability, params in (("util.set", {"a": 1}), ("util.fail", {}), ("util.delay", {})):
        response = client.post(invoke.format(name=capability), json={"params": params}, headers=key)
        check(doc, "POST", invoke, response)
    check(
        doc,
        "DELETE",
        "/api/v1/libraries/{name}",
        client.delete(f"/api/v1/libraries/{name}", headers=key),
    )
