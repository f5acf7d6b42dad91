"""Sign-in, sign-out, lockout, rate limit, first-run setup and the gate, over HTTP."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
from starlette.routing import Mount
from starlette.testclient import TestClient

from tests.conftest import make_settings
from tests.webapp.helpers import csrf, csrf_from, sign_in
from webapp import usecases
from webapp.app import SESSION_COOKIE, create_app
from webapp.container import Container
from webapp.gate import GatedRoute

PASSWORD = "correct horse battery"


@pytest.fixture(name="services")
def fixture_services(tmp_path: Path) -> Iterator[Container]:
    """A container with fast bcrypt, a low lockout and a low rate limit."""
    settings = make_settings(
        tmp_path / "data", BCRYPT_ROUNDS="4", LOGIN_MAX_ATTEMPTS="3", LOGIN_RATE_LIMIT="8"
    )
    built = Container.build(settings)
    yield built
    built.close()


@pytest.fixture(name="owner")
def fixture_owner(services: Container) -> int:
    """The platform owner's user id."""
    return usecases.create_owner(
        services, "Operators", "owner@example.com", "Olive Owner", PASSWORD
    )


def test_every_route_declares_a_permission(services: Container) -> None:
    app = create_app(container=services)
    undeclared = []

    def walk(routes, prefix=""):
        for item in routes:
            if isinstance(item, Mount):
                if item.name == "static":
                    continue  # public files, served before any session exists
                walk(item.routes, prefix + item.path)
            elif not isinstance(item, GatedRoute):
                undeclared.append(prefix + getattr(item, "path", repr(item)))

    walk(app.routes)
    assert not undeclared, f"routes without a declared permission: {undeclared}"


def test_fresh_install_sends_sign_in_to_setup_and_setup_works_once(web: TestClient) -> None:
    assert web.get("/login", follow_redirects=False).headers["location"] == "/setup"
    token = csrf(web, "/setup")
    form = {
        "account_name": "Operators",
        "display_name": "Ada",
        "username": "ada@example.com",
        "password": PASSWORD,
        "confirm": PASSWORD,
        "csrf_token": token,
    }
    response = web.post("/setup", data=form, follow_redirects=False)
    assert response.status_code == 303
    assert web.get("/").status_code == 200  # signed in by setup
    gone = web.get("/setup")
    assert gone.status_code == 404
    # Setup rotated the session, so the form needs the new token to get past CSRF.
    assert web.post("/setup", data={**form, "csrf_token": csrf_from(gone.text)}).status_code == 404


def test_setup_rerenders_with_field_errors_and_creates_nothing(
    web: TestClient, services: Container
) -> None:
    token = csrf(web, "/setup")
    response = web.post(
        "/setup",
        data={
            "account_name": "Operators",
            "display_name": "Ada",
            "username": "not-an-email",
            "password": "short",
            "confirm": "different",
            "csrf_token": token,
        },
    )
    assert response.status_code == 400
    assert "Use at least 10 characters." in response.text
    assert 'value="not-an-email"' in response.text
    assert not services.tenants.has_users()


@pytest.mark.usefixtures("owner")
def test_anonymous_pages_redirect_to_login_with_local_next(web: TestClient) -> None:
    response = web.get("/profile?tab=keys", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/profile%3Ftab%3Dkeys"
    signed = sign_in(web, "owner@example.com", PASSWORD, next_path="/profile?tab=keys")
    assert signed.headers["location"] == "/profile?tab=keys"


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/\\evil"])
@pytest.mark.usefixtures("owner")
def test_only_local_next_targets_are_honoured(web: TestClient, target: str) -> None:
    response = sign_in(web, "owner@example.com", PASSWORD, next_path=target)
    assert response.status_code == 303
    assert response.headers["location"] == "/"


@pytest.mark.usefixtures("owner")
def test_login_rotates_the_session_and_logout_ends_it(web: TestClient, services: Container) -> None:
    web.get("/login")
    before = web.cookies.get(SESSION_COOKIE)
    sign_in(web, "owner@example.com", PASSWORD)
    after = web.cookies.get(SESSION_COOKIE)
    assert after and after != before
    stolen = dict(web.cookies)
    home = web.get("/")
    assert home.status_code == 200 and "Olive Owner" in home.text
    token = csrf(web, "/profile")
    assert (
        web.post("/logout", data={"csrf_token": token}, follow_redirects=False).status_code == 303
    )
    assert web.get("/", follow_redirects=False).status_code == 303
    # The old cookie is worthless: the server-side session is gone.
    with TestClient(create_app(container=services), cookies=stolen) as replay:
        assert replay.get("/", follow_redirects=False).status_code == 303


@pytest.mark.usefixtures("owner")
def test_wrong_password_and_unknown_user_get_the_same_answer(web: TestClient) -> None:
    wrong = sign_in(web, "owner@example.com", "wrong password!!")
    unknown = sign_in(web, "nobody@example.com", "wrong password!!")
    assert wrong.status_code == unknown.status_code == 400
    message = "That email and password do not match an active account."
    assert message in wrong.text and message in unknown.text


@pytest.mark.usefixtures("owner")
def test_lockout_after_repeated_failures(web: TestClient) -> None:
    for _ in range(3):
        assert sign_in(web, "owner@example.com", "wrong password!!").status_code == 400
    locked = sign_in(web, "owner@example.com", PASSWORD)
    assert locked.status_code == 400
    assert "do not match an active account" in locked.text


@pytest.mark.usefixtures("owner")
def test_rate_limit_per_client_address(web: TestClient) -> None:
    statuses = [sign_in(web, f"u{i}@example.com", "nope nope nope").status_code for i in range(9)]
    assert statuses[:8] == [400] * 8
    assert statuses[8] == 429
    assert sign_in(web, "owner@example.com", PASSWORD).status_code == 429


@pytest.mark.usefixtures("owner")
def test_signed_in_user_without_permission_gets_403(web: TestClient, services: Container) -> None:
    customer = services.tenants.create_account("Customer Co")
    services.tenants.create_user(
        customer, "viewer@customer.test", "Vic", password=PASSWORD, role_names=("Viewer",)
    )
    sign_in(web, "viewer@customer.test", PASSWORD)
    response = web.get("/accounts")
    assert response.status_code == 403
    assert "You do not have permission" in response.text


@pytest.mark.usefixtures("owner")
def test_navigation_shows_only_what_the_user_may_use(web: TestClient, services: Container) -> None:
    customer = services.tenants.create_account("Customer Co")
    services.tenants.create_user(
        customer, "member@customer.test", "Mo", password=PASSWORD, role_names=("Member",)
    )
    sign_in(web, "member@customer.test", PASSWORD)
    nav = web.get("/").text.split('<nav class="nav"', 1)[1].split("</nav>", 1)[0]
    assert 'href="/profile"' not in nav  # profile lives in the user menu
    assert "/accounts" not in nav and "/outbox" not in nav and "/roles" not in nav
    assert 'href="/users/"' in nav  # members may view the people of their account


def test_security_headers_on_pages(web: TestClient) -> None:
    headers = web.get("/setup").headers
    assert headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"


@pytest.mark.usefixtures("owner")
def test_session_cookie_flags(web: TestClient) -> None:
    response = sign_in(web, "owner@example.com", PASSWORD)
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie
