"""The outbox screens over HTTP: the list (envelopes only), one mail with its
body, retrying failed mail, and who may see what."""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Iterator

import pytest
from starlette.routing import Mount
from starlette.testclient import TestClient

from tests.conftest import free_port, make_settings
from tests.webapp.helpers import csrf, sign_in
from webapp import usecases
from webapp.app import create_app
from webapp.container import Container
from webapp.gate import GatedRoute

PASSWORD = "a long password 1"
OWNER = "owner@example.com"
VIEWER = "viewer@example.com"
PLATFORM_ADMIN = "padmin@example.com"
CUSTOMER_ADMIN = "admin@acme.example"
CUSTOMER_OWNER = "boss@acme.example"
NO_SMTP = "No SMTP server is configured: mail stays here. Set SMTP_HOST to send it."
NEXT_LINK = re.compile(r'href="([^"]*)"[^>]*>Next page<')


def build(tmp_path: Path, **env: str) -> Container:
    """A container with fast bcrypt and the people every test needs."""
    services = Container.build(make_settings(tmp_path / "data", BCRYPT_ROUNDS="4", **env))
    usecases.create_owner(services, "Operators", OWNER, "Olive Owner", PASSWORD)
    people = {
        services.tenants.platform_account_id(): ((VIEWER, "Viewer"), (PLATFORM_ADMIN, "Admin")),
        services.tenants.create_account("Acme"): (
            (CUSTOMER_ADMIN, "Admin"),
            (CUSTOMER_OWNER, "Owner"),
        ),
    }
    for account_id, members in people.items():
        for username, role in members:
            services.tenants.create_user(
                account_id, username, role, password=PASSWORD, role_names=(role,)
            )
    return services


@pytest.fixture(name="services")
def fixture_services(tmp_path: Path) -> Iterator[Container]:
    """Operators (Owner, Admin, Viewer), the customer Acme (Admin + Owner); no SMTP."""
    built = build(tmp_path)
    yield built
    built.close()


@pytest.fixture(name="reset_mail")
def fixture_reset_mail(services: Container) -> dict:
    """A queued password-reset mail for the platform Owner (a live reset link)."""
    assert usecases.send_password_reset(services, OWNER)
    mail = services.mailer.outbox_page().items[0]
    assert "/password/reset?token=" in mail["body_text"]
    return mail


def as_user(web: TestClient, username: str) -> TestClient:
    """Sign `username` in on `web` (anyone signed in before is forgotten)."""
    web.cookies.clear()
    response = sign_in(web, username, PASSWORD)
    assert response.status_code == 303, f"{username} could not sign in"
    return web


def post(web: TestClient, path: str, **kwargs):
    """POST an (empty) form with the session's CSRF token."""
    return web.post(path, data={"csrf_token": csrf(web, "/profile")}, **kwargs)


def reset_link(mail: dict) -> str:
    """The reset URL in a mail body."""
    found = re.search(r"\S+/password/reset\?token=\S+", mail["body_text"])
    assert found
    return found.group(0)


def fail(services: Container, mail_id: int, error: str = "550 mailbox unavailable") -> None:
    """Mark a mail as failed, as the sender does after its last attempt."""
    services.store.dao("email_outbox").update(
        mail_id, {"status": "failed", "attempts": 5, "last_error": error}
    )


def listed_ids(page: str) -> list[int]:
    """Ids of the mails a list page links to (Owner view)."""
    return [int(i) for i in re.findall(r'href="/outbox/(\d+)"', page)]


# --- the list -------------------------------------------------------------------


def test_list_shows_envelopes_newest_first_and_the_no_smtp_note(
    web: TestClient, services: Container, reset_mail: dict
) -> None:
    later = services.mailer.queue(
        "someone@example.com",
        "password_reset",
        {"display_name": "Someone", "reset_url": "http://x/r", "expires_minutes": 60},
    )
    page = as_user(web, OWNER).get("/outbox")
    assert page.status_code == 200
    assert page.url.path == "/outbox/"
    assert NO_SMTP in page.text
    assert listed_ids(page.text) == [later, reset_mail["id"]]
    assert OWNER in page.text and html.escape(reset_mail["subject"]) in page.text
    assert 'class="badge ">queued' in page.text
    assert reset_link(reset_mail) not in page.text


def test_no_note_when_smtp_is_configured(tmp_path: Path) -> None:
    services = build(tmp_path, SMTP_HOST="127.0.0.1", SMTP_PORT=str(free_port()))
    with TestClient(create_app(container=services)) as web:
        page = as_user(web, OWNER).get("/outbox/")
        assert page.status_code == 200
        assert "No SMTP server" not in page.text
        assert "No mail yet." in page.text


def test_status_filter(web: TestClient, services: Container, reset_mail: dict) -> None:
    assert usecases.send_password_reset(services, VIEWER)
    fail(services, reset_mail["id"])
    as_user(web, OWNER)
    failed = web.get("/outbox/", params={"status": "failed"})
    assert failed.status_code == 200
    assert listed_ids(failed.text) == [reset_mail["id"]]
    assert "550 mailbox unavailable" in failed.text
    assert '<option value="failed" selected>failed (1)</option>' in failed.text
    queued = web.get("/outbox/", params={"status": "queued"})
    assert len(listed_ids(queued.text)) == 1 and reset_mail["id"] not in listed_ids(queued.text)
    assert "No sent mail." in web.get("/outbox/", params={"status": "sent"}).text
    everything = web.get("/outbox/", params={"status": "bogus"})  # unknown: no filter
    assert everything.status_code == 200 and len(listed_ids(everything.text)) == 2


def test_pages_of_mail_keep_the_filter(web: TestClient, services: Container) -> None:
    ids = [
        services.mailer.queue(
            f"user{n}@example.com",
            "password_reset",
            {"display_name": "U", "reset_url": "http://x/r", "expires_minutes": 60},
        )
        for n in range(60)
    ]
    for mail_id in ids[:55]:
        fail(services, mail_id)
    as_user(web, OWNER)

    first = web.get("/outbox/").text
    assert listed_ids(first) == ids[::-1][:50]
    second = web.get(html.unescape(NEXT_LINK.search(first).group(1))).text
    assert listed_ids(second) == ids[::-1][50:]
    assert NEXT_LINK.search(second) is None and "First page" in second

    first = web.get("/outbox/?status=failed").text
    link = html.unescape(NEXT_LINK.search(first).group(1))
    assert "status=failed" in link
    second = web.get(link).text
    assert listed_ids(second) == ids[:5][::-1]
    assert 'href="/outbox/?status=failed"' in second  # First page keeps the filter


def test_a_tampered_page_link_shows_the_first_page(web: TestClient, reset_mail: dict) -> None:
    page = as_user(web, OWNER).get("/outbox/", params={"after": "garbage"})
    assert page.status_code == 200
    assert "no longer valid" in page.text
    assert listed_ids(page.text) == [reset_mail["id"]]


# --- one mail -------------------------------------------------------------------


def test_owner_reads_the_body(web: TestClient, reset_mail: dict) -> None:
    page = as_user(web, OWNER).get(f"/outbox/{reset_mail['id']}")
    assert page.status_code == 200
    assert "no-store" in page.headers["cache-control"]
    body = re.search(r'<pre class="mail-body">(.*?)</pre>', page.text, flags=re.S)
    assert body and html.unescape(body.group(1)) == reset_mail["body_text"]
    assert ">Retry</button>" not in page.text  # queued, not failed


def test_bodies_are_escaped(web: TestClient, services: Container) -> None:
    platform_id = services.tenants.platform_account_id()
    services.tenants.create_user(platform_id, "eve@example.com", "<i>Eve</i>", password=PASSWORD)
    assert usecases.send_password_reset(services, "eve@example.com")
    mail = services.mailer.outbox_page().items[0]
    assert "<i>Eve</i>" in mail["body_text"]  # text bodies are not escaped when rendered
    page = as_user(web, OWNER).get(f"/outbox/{mail['id']}").text
    assert "<i>Eve</i>" not in page
    assert "&lt;i&gt;Eve&lt;/i&gt;" in page


def test_retry_puts_a_failed_mail_back_in_the_queue(
    web: TestClient, services: Container, reset_mail: dict
) -> None:
    fail(services, reset_mail["id"])
    as_user(web, OWNER)
    page = web.get(f"/outbox/{reset_mail['id']}").text
    assert f'action="/outbox/{reset_mail["id"]}/retry"' in page
    assert "550 mailbox unavailable" in page
    response = post(web, f"/outbox/{reset_mail['id']}/retry", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == f"/outbox/{reset_mail['id']}"
    mail = services.mailer.get(reset_mail["id"])
    assert (mail["status"], mail["attempts"]) == ("queued", 0)
    page = web.get(response.headers["location"]).text
    assert "queued again" in page and ">Retry</button>" not in page


def test_retry_of_a_mail_that_has_not_failed_changes_nothing(
    web: TestClient, services: Container, reset_mail: dict
) -> None:
    as_user(web, OWNER)
    response = post(web, f"/outbox/{reset_mail['id']}/retry")
    assert response.status_code == 200
    assert "Only failed mail can be retried" in response.text
    assert services.mailer.get(reset_mail["id"]) == reset_mail


def test_unknown_mail_is_404(web: TestClient) -> None:
    as_user(web, OWNER)
    assert web.get("/outbox/9999").status_code == 404
    assert post(web, "/outbox/9999/retry").status_code == 404


def test_retry_without_csrf_token_is_refused(
    web: TestClient, services: Container, reset_mail: dict
) -> None:
    fail(services, reset_mail["id"])
    as_user(web, OWNER)
    assert web.post(f"/outbox/{reset_mail['id']}/retry", data={}).status_code == 403
    assert services.mailer.get(reset_mail["id"])["status"] == "failed"


# --- who may see what -------------------------------------------------------------


def test_outbox_view_alone_shows_envelopes_but_never_a_body(
    web: TestClient, services: Container, reset_mail: dict
) -> None:
    # A platform Admin holds outbox.view but not outbox.manage.
    fail(services, reset_mail["id"])
    as_user(web, PLATFORM_ADMIN)
    listing = web.get("/outbox/")
    assert listing.status_code == 200
    assert OWNER in listing.text and "550 mailbox unavailable" in listing.text
    token = reset_link(reset_mail).split("token=", 1)[1]
    for shown in (listing.text, html.unescape(listing.text)):
        assert "/password/reset" not in shown and token not in shown
    assert f'href="/outbox/{reset_mail["id"]}"' not in listing.text  # no link they cannot follow
    view = web.get(f"/outbox/{reset_mail['id']}")
    assert view.status_code == 403
    assert token not in view.text
    assert post(web, f"/outbox/{reset_mail['id']}/retry").status_code == 403
    assert services.mailer.get(reset_mail["id"])["status"] == "failed"


def test_platform_viewer_gets_no_outbox_at_all(
    web: TestClient, services: Container, reset_mail: dict
) -> None:
    # outbox.view names Admin only, so a Viewer does not get it (docs/access-control.md).
    as_user(web, VIEWER)
    token = reset_link(reset_mail).split("token=", 1)[1]
    for path in ("/outbox/", f"/outbox/{reset_mail['id']}"):
        response = web.get(path)
        assert response.status_code == 403, path
        assert token not in response.text and OWNER not in response.text
    assert 'href="/outbox/"' not in web.get("/").text  # not in the navigation either
    assert services.mailer.get(reset_mail["id"]) == reset_mail


@pytest.mark.parametrize("username", [CUSTOMER_ADMIN, CUSTOMER_OWNER])
def test_customer_admins_and_owners_get_403_on_every_outbox_route(
    web: TestClient, services: Container, reset_mail: dict, username: str
) -> None:
    fail(services, reset_mail["id"])
    as_user(web, username)
    routes = []
    for item in web.app.routes:
        if isinstance(item, Mount) and item.path == "/outbox":
            for sub in item.routes:
                assert isinstance(sub, GatedRoute)
                routes += [(m, "/outbox" + sub.path) for m in sorted(sub.methods) if m != "HEAD"]
    assert len(routes) == 3
    token = reset_link(reset_mail).split("token=", 1)[1]
    for method, template in routes:
        path = template.replace("{mail_id:int}", str(reset_mail["id"]))
        response = web.get(path) if method == "GET" else post(web, path)
        assert response.status_code == 403, f"{method} {path}"
        assert OWNER not in response.text and token not in response.text
    assert services.mailer.get(reset_mail["id"])["status"] == "failed"


def test_anonymous_visitors_are_sent_to_sign_in(web: TestClient, reset_mail: dict) -> None:
    response = web.get(f"/outbox/{reset_mail['id']}", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login")
