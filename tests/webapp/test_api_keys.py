"""API keys: created on the profile page, shown once, used as Bearer on /api/v1."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator

import pytest
from starlette.testclient import TestClient

from tests.conftest import make_settings
from tests.webapp.helpers import csrf, sign_in
from webapp import usecases
from webapp.app import create_app
from webapp.container import Container

PASSWORD = "correct horse battery"


@pytest.fixture(name="services")
def fixture_services(tmp_path: Path) -> Iterator[Container]:
    """An installation with a platform owner and a customer account with an admin."""
    built = Container.build(make_settings(tmp_path / "data", BCRYPT_ROUNDS="4"))
    usecases.create_owner(built, "Operators", "owner@example.com", "Olive", PASSWORD)
    customer = built.tenants.create_account("Customer Co")
    built.tenants.create_user(
        customer, "admin@customer.test", "Cai", password=PASSWORD, role_names=("Admin",)
    )
    yield built
    built.close()


def _create_key(web: TestClient, name: str) -> str:
    response = web.post("/profile/keys", data={"name": name, "csrf_token": csrf(web, "/profile")})
    assert response.status_code == 201
    assert response.headers["cache-control"] == "no-store"
    return re.search(r'<pre id="new-api-key">([^<]+)</pre>', response.text).group(1)


def test_key_is_shown_once_and_works_as_bearer(web: TestClient, services: Container) -> None:
    sign_in(web, "admin@customer.test", PASSWORD)
    key = _create_key(web, "deploy script")
    assert key.startswith("sb_")
    assert key not in web.get("/profile").text
    assert "deploy script" in web.get("/profile").text

    with TestClient(create_app(container=services)) as api:
        response = api.get("/api/v1/me", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200
    body = response.json()
    assert body["user"]["username"] == "admin@customer.test"
    assert body["account"]["name"] == "Customer Co" and body["account"]["platform"] is False
    assert "users.manage" in body["permissions"]
    assert "accounts.view" not in body["permissions"]


def test_api_refuses_missing_wrong_and_revoked_keys(web: TestClient, services: Container) -> None:
    sign_in(web, "admin@customer.test", PASSWORD)
    key = _create_key(web, "to revoke")
    with TestClient(create_app(container=services)) as api:
        missing = api.get("/api/v1/me")
        assert missing.status_code == 401
        assert missing.json()["error"]["code"] == "unauthorized"
        assert missing.headers["www-authenticate"] == "Bearer"
        assert api.get("/api/v1/me", headers={"Authorization": "Bearer sb_nope"}).status_code == 401
        key_id = services.tenants.list_api_keys(*_ids(services, "admin@customer.test"))[0]["id"]
        revoke = web.post(
            f"/profile/keys/{key_id}/revoke", data={"csrf_token": csrf(web, "/profile")}
        )
        assert revoke.status_code == 200 and "revoked" in revoke.text
        assert api.get("/api/v1/me", headers={"Authorization": f"Bearer {key}"}).status_code == 401


def test_session_cookie_does_not_authenticate_the_api(web: TestClient) -> None:
    sign_in(web, "admin@customer.test", PASSWORD)
    assert web.get("/api/v1/me").status_code == 401


def test_a_user_cannot_revoke_someone_elses_key(web: TestClient, services: Container) -> None:
    owner_account, owner_id = _ids(services, "owner@example.com")
    key_id, raw = services.tenants.create_api_key(owner_account, owner_id, "owner key")
    sign_in(web, "admin@customer.test", PASSWORD)
    response = web.post(
        f"/profile/keys/{key_id}/revoke", data={"csrf_token": csrf(web, "/profile")}
    )
    assert "No such key." in response.text
    assert services.tenants.resolve_api_key(raw) is not None


def test_key_form_errors_keep_the_page(web: TestClient) -> None:
    sign_in(web, "admin@customer.test", PASSWORD)
    response = web.post("/profile/keys", data={"name": "", "csrf_token": csrf(web, "/profile")})
    assert response.status_code == 400
    assert "Name the key" in response.text


def _ids(services: Container, username: str) -> tuple[int, int]:
    user = services.tenants.find_user_by_username(username)
    return user["account_id"], user["id"]
