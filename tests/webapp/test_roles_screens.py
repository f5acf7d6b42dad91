"""The Roles screens over HTTP: list, create, edit, delete custom roles,
read-only system roles, the escalation guard, read-only viewers, tenant
isolation, CSRF and escaping."""

# The fixtures mirror test_users_screens.py on purpose: each screen's tests
# build their own small world, and tests/webapp has no shared fixture module.
# pylint: disable=duplicate-code

from __future__ import annotations

import re
from typing import NamedTuple

import pytest
from starlette.testclient import TestClient

from tests.webapp.helpers import csrf, sign_in

# The same world as the Users screens: fast bcrypt and the CRM permissions.
from tests.webapp.test_users_screens import (  # pylint: disable=unused-import  # a fixture
    fixture_services,
)
from webapp.container import Container

PASSWORD = "correct horse battery"
# Owner gets both; Admin gets `crm.view` (a .view key) but not `crm.export`.


class Acme(NamedTuple):
    """The account under test: its id, roles by name, and a custom role."""

    account_id: int
    roles: dict[str, int]
    support: int


@pytest.fixture(name="acme")
def fixture_acme(services: Container) -> Acme:
    """An account with one user per system role and a custom role held by two."""
    tenants = services.tenants
    account_id = tenants.create_account("Acme")
    for name in ("Owner", "Admin", "Member", "Viewer"):
        tenants.create_user(
            account_id,
            f"{name.lower()}@acme.test",
            f"{name} Person",
            password=PASSWORD,
            role_names=(name,),
        )
    support = services.authz.create_role(
        account_id, "Support", "Answers customers.", ["users.view", "crm.view"]
    )
    for i in range(2):
        tenants.create_user(
            account_id, f"s{i}@acme.test", f"Support {i}", role_names=("Member", "Support")
        )
    roles = {r["name"]: r["id"] for r in services.authz.list_roles(account_id)}
    return Acme(account_id, roles, support)


@pytest.fixture(name="foreign_role")
def fixture_foreign_role(services: Container) -> tuple[int, int]:
    """Another account's id and one of its custom roles."""
    account_id = services.tenants.create_account("Globex")
    return account_id, services.authz.create_role(account_id, "Globex helpers", "", ["users.view"])


def login(web: TestClient, who: str) -> str:
    """Sign in as `who@acme.test`; returns the session's CSRF token."""
    assert sign_in(web, f"{who}@acme.test", PASSWORD).status_code == 303
    return csrf(web, "/profile")


def post(web: TestClient, path: str, token: str, data: dict | None = None):
    """A form POST as a browser sends it (without following the redirect)."""
    return web.post(path, data={**(data or {}), "csrf_token": token}, follow_redirects=False)


def row_of(html: str, text: str) -> str:
    """The table row that contains `text`."""
    return re.search(r"<tr>(?:(?!</tr>).)*" + re.escape(text) + r".*?</tr>", html, re.S).group(0)


def role_named(services: Container, acme: Acme, name: str) -> dict | None:
    """The account's role with this name, or None."""
    role_id = services.authz.role_id(acme.account_id, name)
    return None if role_id is None else services.authz.get_role(acme.account_id, role_id)


# --- list --------------------------------------------------------------------------------


def test_list_marks_system_roles_and_counts_permissions_and_users(
    web: TestClient, services: Container, acme: Acme
) -> None:
    login(web, "owner")
    response = web.get("/roles/")
    assert response.status_code == 200
    html = response.text
    names = re.findall(r'<a href="/roles/\d+">([^<]+)</a>', html)
    assert names == ["Owner", "Admin", "Member", "Viewer", "Support"]
    owner = row_of(html, ">Owner</a>")
    assert "system" in owner
    owner_perms = len(services.authz.get_role(acme.account_id, acme.roles["Owner"])["permissions"])
    assert re.findall(r"<td>(\d+)</td>", owner) == [str(owner_perms), "1"]
    support = row_of(html, ">Support</a>")
    assert "system" not in support and "custom" in support
    assert "Answers customers." in support
    assert re.findall(r"<td>(\d+)</td>", support) == ["2", "2"]
    assert re.findall(r"<td>(\d+)</td>", row_of(html, ">Member</a>"))[1] == "3"
    assert 'href="/roles/new"' in html


# --- create ------------------------------------------------------------------------------


@pytest.mark.usefixtures("acme")
def test_role_form_groups_permission_checkboxes_under_headings(web: TestClient) -> None:
    login(web, "owner")
    html = web.get("/roles/new").text
    headings = re.findall(r"<h3>([^<]+)</h3>", html)
    # Core modules first, then libraries (the built-in ones included), each once.
    assert headings[:2] == ["Access control", "Accounts and users"]
    assert {"CRM", "Utilities", "HTTP", "Email"} <= set(headings)
    assert len(headings) == len(set(headings))
    crm = html.split("<h3>CRM</h3>")[1]
    assert re.search(
        r'<input type="checkbox" name="permissions" value="crm.export"> '
        r"<span>Download all contacts as CSV. <code>crm.export</code></span>",
        crm,
    )
    assert 'value="users.view"' not in crm  # it sits under its own group
    assert "accounts.manage" not in html  # platform-only: not grantable here


def test_create_a_custom_role(web: TestClient, services: Container, acme: Acme) -> None:
    token = login(web, "owner")
    data = {
        "name": "Exporters",
        "description": "Pull data out.",
        "permissions": ["crm.view", "crm.export"],
    }
    response = post(web, "/roles/new", token, data)
    assert response.status_code == 303
    role = role_named(services, acme, "Exporters")
    assert role and not role["system"]
    assert response.headers["location"] == f"/roles/{role['id']}"
    assert role["permissions"] == ["crm.export", "crm.view"]
    assert role["description"] == "Pull data out."
    page = web.get(response.headers["location"]).text
    assert "is created" in page
    assert 'value="crm.export" checked' in page and 'value="users.view" checked' not in page


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("support", "A role with this name already exists."),
        ("Owner", "is the name of a built-in role"),
        ("", "Give the role a name."),
    ],
)
def test_create_errors_rerender_with_values_and_create_nothing(
    web: TestClient, services: Container, acme: Acme, name: str, message: str
) -> None:
    token = login(web, "owner")
    before = len(services.authz.list_roles(acme.account_id))
    data = {"name": name, "description": "Kept text", "permissions": ["crm.export"]}
    response = post(web, "/roles/new", token, data)
    assert response.status_code == 400
    assert re.search(r'<div class="error"[^>]*>[^<]*' + re.escape(message), response.text)
    assert f'value="{name}"' in response.text and "Kept text</textarea>" in response.text
    assert 'value="crm.export" checked' in response.text
    assert len(services.authz.list_roles(acme.account_id)) == before


def test_unknown_permissions_are_refused(web: TestClient, services: Container, acme: Acme) -> None:
    token = login(web, "owner")
    data = {"name": "Odd", "permissions": ["no.such_thing"]}
    response = post(web, "/roles/new", token, data)
    assert response.status_code == 400
    assert "Unknown permission: no.such_thing." in response.text
    assert role_named(services, acme, "Odd") is None


# --- edit and delete ------------------------------------------------------------------------


def test_edit_a_custom_role_replaces_its_permissions(
    web: TestClient, services: Container, acme: Acme
) -> None:
    token = login(web, "owner")
    page = web.get(f"/roles/{acme.support}").text
    assert 'value="Support"' in page
    assert 'value="users.view" checked' in page and 'value="crm.view" checked' in page
    data = {"name": "Helpdesk", "description": "", "permissions": ["roles.view"]}
    response = post(web, f"/roles/{acme.support}", token, data)
    assert response.status_code == 303
    role = services.authz.get_role(acme.account_id, acme.support)
    assert (role["name"], role["description"], role["permissions"]) == (
        "Helpdesk",
        "",
        ["roles.view"],
    )
    assert "is saved" in web.get(response.headers["location"]).text


def test_edit_errors_keep_values_and_change_nothing(
    web: TestClient, services: Container, acme: Acme
) -> None:
    token = login(web, "owner")
    data = {"name": "Admin", "description": "new text", "permissions": []}
    response = post(web, f"/roles/{acme.support}", token, data)
    assert response.status_code == 400
    assert "is the name of a built-in role" in response.text
    assert "new text</textarea>" in response.text
    role = services.authz.get_role(acme.account_id, acme.support)
    assert role["name"] == "Support" and role["permissions"] == ["crm.view", "users.view"]


def test_delete_a_custom_role_behind_a_confirmation(
    web: TestClient, services: Container, acme: Acme
) -> None:
    token = login(web, "owner")
    page = web.get(f"/roles/{acme.support}").text
    confirm = re.search(r'<details class="confirm">.*?</details>', page, re.S).group(0)
    assert f'action="/roles/{acme.support}/delete"' in confirm
    response = post(web, f"/roles/{acme.support}/delete", token)
    assert response.status_code == 303 and response.headers["location"] == "/roles/"
    assert services.authz.get_role(acme.account_id, acme.support) is None
    assert "is deleted" in web.get("/roles/").text
    assert post(web, f"/roles/{acme.support}/delete", token).status_code == 404


@pytest.mark.parametrize("name", ["Owner", "Viewer"])
def test_system_roles_are_read_only(
    web: TestClient, services: Container, acme: Acme, name: str
) -> None:
    token = login(web, "owner")
    role_id = acme.roles[name]
    before = services.authz.get_role(acme.account_id, role_id)
    page = web.get(f"/roles/{role_id}").text
    main = page.split('id="main"')[1]
    assert "system" in main
    assert "<input" not in main and "<form" not in main
    assert "Delete" not in main
    assert "<code>users.view</code>" in main  # its permissions, listed
    assert "<h3>Accounts and users</h3>" in main
    data = {"name": "Renamed", "description": "", "permissions": ["crm.export"]}
    response = post(web, f"/roles/{role_id}", token, data)
    assert response.status_code == 400
    assert "Built-in roles cannot be renamed, edited or deleted." in response.text
    response = post(web, f"/roles/{role_id}/delete", token)
    assert response.status_code == 303
    assert "Built-in roles cannot be" in web.get(response.headers["location"]).text
    assert services.authz.get_role(acme.account_id, role_id) == before


def test_viewer_role_page_lists_only_what_it_grants(web: TestClient, acme: Acme) -> None:
    login(web, "owner")
    main = web.get(f"/roles/{acme.roles['Viewer']}").text.split('id="main"')[1]
    assert "<code>crm.view</code>" in main
    assert "<code>crm.export</code>" not in main
    assert "<code>users.manage</code>" not in main


# --- privilege escalation -----------------------------------------------------------------


def test_admin_cannot_create_or_extend_a_role_beyond_their_own(
    web: TestClient, services: Container, acme: Acme
) -> None:
    token = login(web, "admin")
    data = {"name": "Exporters", "description": "", "permissions": ["crm.view", "crm.export"]}
    response = post(web, "/roles/new", token, data)
    assert response.status_code == 400
    assert re.search(r"do not hold yourself: crm\.export\.", response.text)
    assert role_named(services, acme, "Exporters") is None
    data = {"name": "Support", "description": "", "permissions": ["crm.view", "crm.export"]}
    response = post(web, f"/roles/{acme.support}", token, data)
    assert response.status_code == 400 and "crm.export" in response.text
    assert services.authz.get_role(acme.account_id, acme.support)["permissions"] == [
        "crm.view",
        "users.view",
    ]
    # Within their own power it works.
    data["permissions"] = ["crm.view", "users.manage"]
    assert post(web, f"/roles/{acme.support}", token, data).status_code == 303


def test_admin_may_keep_a_permission_they_lack_on_a_role(
    web: TestClient, services: Container, acme: Acme
) -> None:
    services.authz.update_role(acme.account_id, acme.support, permissions=["crm.export"])
    token = login(web, "admin")
    data = {"name": "Support desk", "description": "", "permissions": ["crm.export"]}
    assert post(web, f"/roles/{acme.support}", token, data).status_code == 303
    assert services.authz.get_role(acme.account_id, acme.support)["name"] == "Support desk"


# --- viewers, isolation, CSRF, escaping --------------------------------------------------------


def test_viewer_without_roles_view_is_refused(web: TestClient, acme: Acme) -> None:
    login(web, "viewer")
    assert web.get("/roles/").status_code == 403
    assert web.get(f"/roles/{acme.support}").status_code == 403
    assert 'href="/roles/"' not in web.get("/").text


def test_roles_view_alone_is_read_only(web: TestClient, services: Container, acme: Acme) -> None:
    viewer = services.tenants.find_user_by_username("viewer@acme.test")["id"]
    services.authz.set_user_acl(acme.account_id, viewer, {"roles.view": "allow"})
    token = login(web, "viewer")
    listing = web.get("/roles/")
    assert listing.status_code == 200
    assert "New role" not in listing.text and "/roles/new" not in listing.text
    page = web.get(f"/roles/{acme.support}")
    assert page.status_code == 200
    main = page.text.split('id="main"')[1]
    assert "<input" not in main and "Delete" not in main
    assert "<code>crm.view</code>" in main
    data = {"name": "Hacked", "description": "", "permissions": []}
    assert post(web, f"/roles/{acme.support}", token, data).status_code == 403
    assert post(web, f"/roles/{acme.support}/delete", token).status_code == 403
    assert web.get("/roles/new").status_code == 403
    assert post(web, "/roles/new", token, data).status_code == 403
    assert services.authz.get_role(acme.account_id, acme.support)["name"] == "Support"


@pytest.mark.parametrize("case", ["GET /roles/{id}", "POST /roles/{id}", "POST /roles/{id}/delete"])
def test_another_accounts_role_is_not_found(
    web: TestClient, services: Container, acme: Acme, foreign_role: tuple[int, int], case: str
) -> None:
    account_id, role_id = foreign_role
    token = login(web, "owner")
    method, path = case.split()
    url = path.format(id=role_id)
    if method == "GET":
        response = web.get(url)
    else:
        response = post(web, url, token, {"name": "Taken", "permissions": ["users.manage"]})
    assert response.status_code == 404
    role = services.authz.get_role(account_id, role_id)
    assert role and role["name"] == "Globex helpers" and role["permissions"] == ["users.view"]
    assert role_named(services, acme, "Taken") is None


def test_posts_without_the_csrf_token_are_refused(
    web: TestClient, services: Container, acme: Acme
) -> None:
    login(web, "owner")
    data = {"name": "Sneaky", "permissions": ["users.manage"]}
    assert web.post("/roles/new", data=data).status_code == 403
    assert web.post(f"/roles/{acme.support}/delete").status_code == 403
    assert role_named(services, acme, "Sneaky") is None
    assert services.authz.get_role(acme.account_id, acme.support) is not None


def test_role_names_and_descriptions_are_escaped(
    web: TestClient, services: Container, acme: Acme
) -> None:
    script = "<script>alert(1)</script>"
    services.authz.update_role(acme.account_id, acme.support, name=script, description=script)
    login(web, "owner")
    for path in ("/roles/", f"/roles/{acme.support}"):
        html = web.get(path).text
        assert script not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
