"""The app shell: health, static files, error pages, CSRF, request ids."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

from starlette.testclient import TestClient

from modules.logs import configure
from tests.conftest import make_settings
from webapp.app import create_app
from webapp.container import Container


def test_healthz_reports_version_and_database(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"] == "ok"
    assert re.match(r"^\d+\.\d+", body["version"])


def test_healthz_degraded_when_database_unreachable(tmp_path: Path) -> None:
    container = Container.build(make_settings(tmp_path / "data"))
    app = create_app(container=container)
    with TestClient(app) as client:
        # Closing the database is only safe once nothing else uses it: stop
        # the background workers first, as Container.close() does.
        container.workflows.stop()
        container.libraries.stop()
        container.mailer.stop()
        container.db.close()
        container.db.path = tmp_path / "missing-dir" / "nope" / "x.db"
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["database"] == "unreachable"


def test_pages_render_the_layout_with_htmx_and_csrf_slot(client: TestClient) -> None:
    response = client.get("/setup")
    assert response.status_code == 200
    html = response.text
    assert "/static/vendor/htmx-2.0.11.min.js" in html
    match = re.search(r"hx-headers='\{\"X-CSRF-Token\": \"([^\"]+)\"\}'", html)
    assert match and len(match.group(1)) >= 32


def test_vendored_htmx_is_served(client: TestClient) -> None:
    response = client.get("/static/vendor/htmx-2.0.11.min.js")
    assert response.status_code == 200
    assert "htmx" in response.text[:200]


def test_unknown_page_is_a_404_page_in_the_layout(client: TestClient) -> None:
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert "text/html" in response.headers["content-type"]
    assert 'class="shell"' in response.text
    assert "Not Found" in response.text


def test_unknown_api_path_answers_json_error(client: TestClient) -> None:
    response = client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_unhandled_error_is_a_500_page(tmp_path: Path) -> None:
    container = Container.build(make_settings(tmp_path / "data"))
    app = create_app(container=container)

    def boom(_request):
        raise RuntimeError("kaboom")

    app.add_route("/boom", boom)
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/boom")
    assert response.status_code == 500
    assert "Something went wrong" in response.text
    assert "kaboom" not in response.text


def test_post_without_csrf_token_is_refused(client: TestClient) -> None:
    response = client.post("/login", data={"username": "a@b.co", "password": "x"})
    assert response.status_code == 403
    assert "expired" in response.text


def test_post_with_wrong_csrf_token_is_refused(client: TestClient) -> None:
    client.get("/setup")
    response = client.post("/login", data={"csrf_token": "forged"})
    assert response.status_code == 403


def test_post_with_session_csrf_token_passes_the_check(client: TestClient) -> None:
    page = client.get("/setup").text
    token = re.search(r"X-CSRF-Token\": \"([^\"]+)\"", page).group(1)
    # Past the CSRF check, an empty sign-in form is a 400 with field errors, not a 403.
    assert client.post("/login", data={"csrf_token": token}).status_code == 400
    assert client.post("/login", headers={"X-CSRF-Token": token}).status_code == 400


def test_request_id_in_header_and_in_json_log_lines(tmp_path: Path) -> None:
    log_file = tmp_path / "app.log"
    settings = make_settings(tmp_path / "data", LOG_FORMAT="json", LOG_FILE=str(log_file))
    app = create_app(settings)
    try:
        with TestClient(app) as client:
            response = client.get("/healthz")
            echoed = client.get("/healthz", headers={"X-Request-ID": "proxy-given-1234"})
    finally:
        configure(console=False)
    request_id = response.headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", request_id)
    assert echoed.headers["x-request-id"] == "proxy-given-1234"
    records = [json.loads(line) for line in log_file.read_text().splitlines()]
    request_lines = [r for r in records if r["logger"] == "switchboard.http"]
    assert {r.get("request_id") for r in request_lines} >= {request_id, "proxy-given-1234"}
    assert all(r["level"] in logging.getLevelNamesMapping() for r in records)
