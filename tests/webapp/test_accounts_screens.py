"""The platform's accounts screens over HTTP: list, search, paging, create,
rename, suspend and activate, and who may do which."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import Iterator

import pytest
from starlette.routing import Mount
from starlette.testclient import TestClient

from tests.webapp.helpers import csrf, sign_in
from webapp import usecases
from webapp.app import create_app
from webapp.container import Container
from webapp.gate import GatedRoute

PASSWORD = "a long password 1"
OWNER = "owner@example.com"
VIEWER = "viewer@example.com"
CUSTOMER_ADMIN = "admin@acme.example"
CUSTOMER_OWNER = "boss@acme.example"
NEXT_LINK = re.compile(r'href="([^"]*)"[^>]*>Next page<')


@dataclass(frozen=True)
class World:
    """Who exists: the platform account and a customer account, with people."""

    platform_id: int
    customer_id: int


@pytest.fixture(name="world")
def fixture_world(services: Container) -> World:
    """Operators (Owner + Viewer) and the customer Acme (Admin + Owner)."""
    tenants = services.tenants
    usecases.create_owner(services, "Operators", OWNER, "Olive Owner", PASSWORD)
    platform_id = tenants.platform_account_id()
    assert platform_id is not None
    tenants.create_user(
        platform_id, VIEWER, "Vic Viewer", password=PASSWORD, role_names=("Viewer",)
    )
    customer_id = tenants.create_account("Acme")
    tenants.create_user(
        customer_id, CUSTOMER_ADMIN, "Ada Admin", password=PASSWORD, role_names=("Admin",)
    )
    tenants.create_user(
        customer_id, CUSTOMER_OWNER, "Bo Boss", password=PASSWORD, role_names=("Owner",)
    )
    return World(platform_id, customer_id)


@pytest.fixture(name="web")
def fixture_web(services: Container, world: World) -> Iterator[TestClient]:
    """The real app over HTTPX (lifespan included), nobody signed in."""
    assert world.platform_id
    with TestClient(create_app(container=services)) as client:
        yield client


def as_user(web: TestClient, username: str) -> TestClient:
    """Sign `username` in on `web` (anyone signed in before is forgotten)."""
    web.cookies.clear()
    response = sign_in(web, username, PASSWORD)
    assert response.status_code == 303, f"{username} could not sign in"
    return web


def post(web: TestClient, path: str, data: dict[str, str] | None = None, **kwargs):
    """POST a form with the session's CSRF token, as the browser would."""
    token = csrf(web, "/profile")
    return web.post(path, data={**(data or {}), "csrf_token": token}, **kwargs)


def account_named(services: Container, name: str) -> dict | None:
    """The account with exactly this name, or None."""
    for account in services.tenants.page_accounts(search=name, limit=1000).items:
        if account["name"] == name:
            return account
    return None


def input_value(page: str, name: str) -> str | None:
    """The value of the <input name=`name`> on the page, unescaped (None: no such input)."""
    for tag in re.findall(r"<input [^>]*>", page):
        if f'name="{name}"' in tag:
            found = re.search(r'value="([^"]*)"', tag)
            return html.unescape(found.group(1)) if found else ""
    return None


def row_of(page: str, name: str) -> str:
    """The table row (<tr>...</tr>) that links the account `name`."""
    for row in re.findall(r"<tr>.*?</tr>", page, flags=re.S):
        if f">{html.escape(name)}</a>" in row:
            return row
    raise AssertionError(f"no row for {name!r}")


# --- the list -------------------------------------------------------------------


def test_list_shows_name_status_platform_users_and_created(
    web: TestClient, services: Container, world: World
) -> None:
    services.tenants.set_account_status(world.customer_id, "suspended")
    page = as_user(web, OWNER).get("/accounts")  # the mount answers at /accounts/
    assert page.status_code == 200
    assert page.url.path == "/accounts/"
    operators = row_of(page.text, "Operators")
    assert "platform</span>" in operators
    assert 'class="badge ok">active' in operators
    assert re.search(r'class="num">2<', operators)  # owner + viewer
    assert re.search(r"<time [^>]*>\d{4}-\d\d-\d\d \d\d:\d\d</time>", operators)
    acme = row_of(page.text, "Acme")
    assert "platform</span>" not in acme
    assert 'class="badge bad">suspended' in acme
    assert f'href="/accounts/{world.customer_id}"' in acme
    assert "New account" in page.text


def test_search_filters_by_name_and_keeps_the_query(web: TestClient) -> None:
    page = as_user(web, OWNER).get("/accounts/", params={"q": "acm"})
    assert page.status_code == 200
    assert ">Acme</a>" in page.text
    assert ">Operators</a>" not in page.text
    assert 'name="q" value="acm"' in page.text
    assert 'hx-trigger="input changed delay:300ms, search"' in page.text
    nothing = web.get("/accounts/", params={"q": "zzz"})
    assert "No account name contains" in nothing.text


def test_htmx_search_gets_only_the_table(web: TestClient) -> None:
    as_user(web, OWNER)
    partial = web.get(
        "/accounts/",
        params={"q": "acm"},
        headers={"HX-Request": "true", "HX-Target": "account-table"},
    )
    assert partial.status_code == 200
    assert partial.text.lstrip().startswith('<div id="account-table">')
    assert "<html" not in partial.text and "<nav" not in partial.text.split("</table>")[0]
    assert ">Acme</a>" in partial.text and ">Operators</a>" not in partial.text
    assert "HX-Target" in partial.headers["vary"]
    # A boosted navigation is an htmx request too, but wants the whole page.
    boosted = web.get("/accounts/", headers={"HX-Request": "true", "HX-Boosted": "true"})
    assert "<html" in boosted.text


def test_pages_of_accounts_follow_the_next_link(web: TestClient, services: Container) -> None:
    for number in range(120):
        services.tenants.create_account(f"Customer {number:03d}")
    as_user(web, OWNER)

    def walk(path: str) -> list[str]:
        pages: list[str] = []
        while path:
            page = web.get(path)
            assert page.status_code == 200
            pages.append(page.text)
            found = NEXT_LINK.search(page.text)
            path = html.unescape(found.group(1)) if found else ""
        return pages

    pages = walk("/accounts/")
    assert len(pages) == 3
    names = [n for p in pages for n in re.findall(r'href="/accounts/\d+">([^<]+)</a>', p)]
    assert len(names) == len(set(names)) == 122  # 120 + Operators + Acme, none twice
    assert names == sorted(names)
    assert "First page" not in pages[0] and "First page" in pages[1] and "First page" in pages[2]

    searched = walk("/accounts/?q=Customer")
    assert len(searched) == 3
    assert all(">Operators</a>" not in p and ">Acme</a>" not in p for p in searched)
    assert 'href="/accounts/?q=Customer"' in searched[1]  # the first page keeps the search
    found = [n for p in searched for n in re.findall(r'href="/accounts/\d+">([^<]+)</a>', p)]
    assert len(found) == 120


def test_a_tampered_page_link_shows_the_first_page(web: TestClient) -> None:
    page = as_user(web, OWNER).get("/accounts/", params={"after": "not-a-cursor"})
    assert page.status_code == 200
    assert "no longer valid" in page.text
    assert ">Acme</a>" in page.text


# --- creating -------------------------------------------------------------------


def test_create_an_account_without_an_owner(web: TestClient, services: Container) -> None:
    as_user(web, OWNER)
    assert web.get("/accounts/new").status_code == 200
    response = post(web, "/accounts/new", {"name": "Globex"}, follow_redirects=False)
    assert response.status_code == 303
    account = account_named(services, "Globex")
    assert account is not None and account["status"] == "active" and not account["platform"]
    assert response.headers["location"] == f"/accounts/{account['id']}"
    assert services.tenants.count_users(account["id"]) == 0
    assert services.mailer.count() == 0
    assert "Account Globex created." in web.get(response.headers["location"]).text


def test_create_an_account_with_its_first_owner_mails_an_invitation(
    web: TestClient, services: Container
) -> None:
    as_user(web, OWNER)
    response = post(
        web,
        "/accounts/new",
        {"name": "Initech", "owner_email": "Peter@Initech.example", "owner_name": "Peter"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    account = account_named(services, "Initech")
    assert account is not None
    user = services.tenants.find_user_by_username("peter@initech.example")
    assert user is not None and user["account_id"] == account["id"]
    roles = [r["name"] for r in services.authz.user_roles(account["id"], user["id"])]
    assert roles == ["Owner"]
    assert not services.tenants.authenticate("peter@initech.example", PASSWORD).ok  # no password
    mails = services.mailer.outbox_page().items
    assert [(m["to_address"], m["template"]) for m in mails] == [
        ("peter@initech.example", "invite")
    ]
    assert "Olive Owner" in mails[0]["body_text"]  # invited by the signed-in operator
    assert "/password/reset?token=" in mails[0]["body_text"]
    assert "invitation is on its way" in web.get(response.headers["location"]).text


@pytest.mark.parametrize(
    ("form", "field_error"),
    [
        ({"name": ""}, "Name the account."),
        ({"name": "   "}, "Name the account."),
        ({"name": "ACME"}, "An account with this name already exists."),
        ({"name": "Hooli", "owner_email": "not an email", "owner_name": "Gavin"}, "valid email"),
        ({"name": "Hooli", "owner_email": CUSTOMER_ADMIN, "owner_name": "Gavin"}, "already in use"),
        ({"name": "Hooli", "owner_email": "gavin@hooli.example"}, "Enter the owner&#39;s name."),
        ({"name": "Hooli", "owner_name": "Gavin"}, "Enter the owner&#39;s email."),
    ],
)
def test_create_refuses_bad_values_keeps_them_and_creates_nothing(
    web: TestClient, services: Container, form: dict[str, str], field_error: str
) -> None:
    as_user(web, OWNER)
    before = len(services.tenants.page_accounts(limit=1000).items)
    response = post(web, "/accounts/new", form)
    assert response.status_code == 400
    assert field_error in response.text
    assert 'class="field has-error"' in response.text
    for field, value in form.items():
        assert input_value(response.text, field) == value
    assert len(services.tenants.page_accounts(limit=1000).items) == before
    assert account_named(services, "Hooli") is None
    assert services.tenants.find_user_by_username("gavin@hooli.example") is None
    assert services.mailer.count() == 0


# --- the account page -------------------------------------------------------------


def test_account_page_shows_details_and_renames(
    web: TestClient, services: Container, world: World
) -> None:
    as_user(web, OWNER)
    page = web.get(f"/accounts/{world.customer_id}")
    assert page.status_code == 200
    assert re.search(r"<dt>Users</dt>\s*<dd>2</dd>", page.text)
    assert "<dt>Created</dt>" in page.text
    response = post(
        web, f"/accounts/{world.customer_id}", {"name": "Acme Corp"}, follow_redirects=False
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"/accounts/{world.customer_id}"
    assert services.tenants.get_account(world.customer_id)["name"] == "Acme Corp"
    assert "name is saved" in web.get(response.headers["location"]).text


@pytest.mark.parametrize(
    ("name", "error"),
    [("", "Name the account."), ("operators", "An account with this name already exists.")],
)
def test_rename_refuses_bad_names_and_keeps_them(
    web: TestClient, services: Container, world: World, name: str, error: str
) -> None:
    as_user(web, OWNER)
    response = post(web, f"/accounts/{world.customer_id}", {"name": name})
    assert response.status_code == 400
    assert error in response.text
    assert input_value(response.text, "name") == name
    assert services.tenants.get_account(world.customer_id)["name"] == "Acme"


def test_suspend_signs_the_account_out_and_activate_lets_it_back(
    web: TestClient, services: Container, world: World
) -> None:
    customer = TestClient(web.app)  # a second browser, no lifespan of its own
    assert sign_in(customer, CUSTOMER_ADMIN, PASSWORD).status_code == 303
    assert customer.get("/profile", follow_redirects=False).status_code == 200

    as_user(web, OWNER)
    page = web.get(f"/accounts/{world.customer_id}").text
    assert f'action="/accounts/{world.customer_id}/suspend"' in page
    response = post(web, f"/accounts/{world.customer_id}/suspend", follow_redirects=False)
    assert response.status_code == 303
    assert services.tenants.get_account(world.customer_id)["status"] == "suspended"
    page = web.get(response.headers["location"]).text
    assert "The account is suspended." in page
    assert f'action="/accounts/{world.customer_id}/activate"' in page

    assert customer.get("/profile", follow_redirects=False).status_code == 303  # session ended
    customer.cookies.clear()
    assert sign_in(customer, CUSTOMER_ADMIN, PASSWORD).status_code == 400

    response = post(web, f"/accounts/{world.customer_id}/activate", follow_redirects=False)
    assert response.status_code == 303
    assert services.tenants.get_account(world.customer_id)["status"] == "active"
    assert "active again" in web.get(response.headers["location"]).text
    assert sign_in(customer, CUSTOMER_ADMIN, PASSWORD).status_code == 303


def test_the_platform_account_cannot_be_suspended(
    web: TestClient, services: Container, world: World
) -> None:
    as_user(web, OWNER)
    page = web.get(f"/accounts/{world.platform_id}").text
    assert "/suspend" not in page
    response = post(web, f"/accounts/{world.platform_id}/suspend", follow_redirects=False)
    assert response.status_code == 303
    assert services.tenants.get_account(world.platform_id)["status"] == "active"
    shown = web.get(response.headers["location"]).text
    assert 'class="flash flash-error"' in shown
    assert "The platform account cannot be suspended." in shown
    assert web.get("/profile", follow_redirects=False).status_code == 200  # still signed in


def test_unknown_accounts_are_404(web: TestClient) -> None:
    as_user(web, OWNER)
    assert web.get("/accounts/9999").status_code == 404
    assert post(web, "/accounts/9999", {"name": "Ghost"}).status_code == 404
    assert post(web, "/accounts/9999/suspend").status_code == 404
    assert post(web, "/accounts/9999/activate").status_code == 404


# --- who may do what --------------------------------------------------------------


def mounted_routes(web: TestClient, prefix: str) -> list[tuple[str, str]]:
    """(method, path template) of every route under the mount at `prefix`."""
    found = []
    for item in web.app.routes:
        if isinstance(item, Mount) and item.path == prefix:
            for sub in item.routes:
                assert isinstance(sub, GatedRoute)
                found += [(m, prefix + sub.path) for m in sorted(sub.methods) if m != "HEAD"]
    assert found, f"nothing is mounted at {prefix}"
    return found


@pytest.mark.parametrize("username", [CUSTOMER_ADMIN, CUSTOMER_OWNER])
def test_customer_admins_and_owners_get_403_on_every_accounts_route(
    web: TestClient, services: Container, world: World, username: str
) -> None:
    as_user(web, username)
    routes = mounted_routes(web, "/accounts")
    assert len(routes) == 7
    for method, template in routes:
        path = template.replace("{account_id:int}", str(world.customer_id))
        if method == "GET":
            response = web.get(path)
        else:
            response = post(web, path, {"name": "Taken over"})
        assert response.status_code == 403, f"{method} {path}"
        assert "Acme" not in response.text.split("<main", 1)[1]
    account = services.tenants.get_account(world.customer_id)
    assert (account["name"], account["status"]) == ("Acme", "active")
    assert account_named(services, "Taken over") is None


def test_platform_viewer_reads_but_cannot_change(
    web: TestClient, services: Container, world: World
) -> None:
    as_user(web, VIEWER)
    listing = web.get("/accounts/")
    assert listing.status_code == 200
    assert ">Acme</a>" in listing.text
    assert "New account" not in listing.text
    page = web.get(f"/accounts/{world.customer_id}")
    assert page.status_code == 200
    assert "<dt>Users</dt>" in page.text
    assert "/suspend" not in page.text and 'name="name"' not in page.text
    assert web.get("/accounts/new").status_code == 403
    customer = f"/accounts/{world.customer_id}"
    for path in ("/accounts/new", customer, customer + "/suspend", customer + "/activate"):
        assert post(web, path, {"name": "Renamed"}).status_code == 403, path
    account = services.tenants.get_account(world.customer_id)
    assert (account["name"], account["status"]) == ("Acme", "active")
    assert account_named(services, "Renamed") is None


def test_anonymous_visitors_are_sent_to_sign_in(web: TestClient, world: World) -> None:
    response = web.get(f"/accounts/{world.customer_id}", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login")


def test_post_without_csrf_token_is_refused(
    web: TestClient, services: Container, world: World
) -> None:
    as_user(web, OWNER)
    assert web.post("/accounts/new", data={"name": "Forged"}).status_code == 403
    suspend = web.post(f"/accounts/{world.customer_id}/suspend", data={})
    assert suspend.status_code == 403
    assert account_named(services, "Forged") is None
    assert services.tenants.get_account(world.customer_id)["status"] == "active"


def test_account_names_are_escaped(web: TestClient, services: Container) -> None:
    as_user(web, OWNER)
    response = post(web, "/accounts/new", {"name": "<b>x</b>"})  # follows to the account page
    assert response.status_code == 200
    for page in (response.text, web.get("/accounts/").text, web.get("/accounts/?q=<b>").text):
        assert "<b>x</b>" not in page
        assert "&lt;b&gt;x&lt;/b&gt;" in page
    assert account_named(services, "<b>x</b>") is not None
    searched = web.get("/accounts/", params={"q": '"><script>alert(1)</script>'}).text
    assert "<script>alert(1)" not in searched
