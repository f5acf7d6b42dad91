"""The Users screens over HTTP: list, search, paging, create, edit, (de)activate,
reset mails, the access editor, the escalation guard, read-only viewers,
tenant isolation, CSRF and escaping."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator, NamedTuple

import pytest
from starlette.testclient import TestClient

from modules.authz import Permission
from tests.conftest import make_settings
from tests.webapp.helpers import csrf, sign_in
from webapp.container import Container

PASSWORD = "correct horse battery"
# Owner gets every permission; Admin gets `crm.view` (a .view key) but not
# `crm.export`, which makes it something an Admin cannot hand out.
CRM = (
    Permission("crm.view", "See contacts.", "CRM"),
    Permission("crm.export", "Download all contacts as CSV.", "CRM"),
)
NO_TOKEN_MESSAGE = "This form has expired"


class Acme(NamedTuple):
    """The account under test and its people."""

    account_id: int
    owner: int
    admin: int
    member: int
    viewer: int
    roles: dict[str, int]


class Other(NamedTuple):
    """Another account, whose ids must stay out of reach."""

    account_id: int
    user: int
    role: int


@pytest.fixture(name="services")
def fixture_services(tmp_path: Path) -> Iterator[Container]:
    """The module graph with fast bcrypt and the CRM permissions registered."""
    built = Container.build(make_settings(tmp_path / "data", BCRYPT_ROUNDS="4"))
    built.permissions.register(CRM)
    yield built
    built.close()


@pytest.fixture(name="acme")
def fixture_acme(services: Container) -> Acme:
    """An account with one user per system role, and a custom role."""
    tenants = services.tenants
    account_id = tenants.create_account("Acme")
    people = {
        name: tenants.create_user(
            account_id,
            f"{name.lower()}@acme.test",
            f"{name} Person",
            password=PASSWORD,
            role_names=(name,),
        )
        for name in ("Owner", "Admin", "Member", "Viewer")
    }
    exporters = services.authz.create_role(account_id, "Exporters", "", ["crm.export"])
    roles = {r["name"]: r["id"] for r in services.authz.list_roles(account_id)}
    assert roles["Exporters"] == exporters
    return Acme(account_id, *people.values(), roles)


@pytest.fixture(name="other")
def fixture_other(services: Container) -> Other:
    """A second account with a user and a custom role."""
    account_id = services.tenants.create_account("Globex")
    user = services.tenants.create_user(
        account_id, "hank@globex.test", "Hank Scorpio", password=PASSWORD, role_names=("Owner",)
    )
    role = services.authz.create_role(account_id, "Globex helpers", "", ["users.view"])
    return Other(account_id, user, role)


def login(web: TestClient, who: str) -> str:
    """Sign in as `who@acme.test`; returns the session's CSRF token."""
    assert sign_in(web, f"{who}@acme.test", PASSWORD).status_code == 303
    return csrf(web, "/profile")


def post(web: TestClient, path: str, token: str, data: dict | None = None, **kwargs):
    """A form POST as a browser sends it (without following the redirect)."""
    return web.post(
        path, data={**(data or {}), "csrf_token": token}, follow_redirects=False, **kwargs
    )


def emails_on(html: str) -> list[str]:
    """The email column of a rendered users table."""
    return re.findall(r"<td>([^<@]+@[^<]+)</td>", html)


def roles_of(services: Container, acme: Acme, user_id: int) -> set[str]:
    """The names of a user's roles."""
    return {r["name"] for r in services.authz.user_roles(acme.account_id, user_id)}


# --- list, search, paging ----------------------------------------------------------------


def test_list_shows_name_email_roles_status_and_last_sign_in(
    web: TestClient, services: Container, acme: Acme
) -> None:
    login(web, "owner")
    services.tenants.update_user(acme.account_id, acme.viewer, active=False)
    response = web.get("/users/")
    assert response.status_code == 200
    html = response.text
    assert '<div id="user-table">' in html
    assert sorted(emails_on(html)) == sorted(
        f"{n}@acme.test" for n in ("owner", "admin", "member", "viewer")
    )
    viewer_row = re.search(r"<tr>(?:(?!</tr>).)*viewer@acme\.test.*?</tr>", html, re.S).group(0)
    assert "Viewer Person" in viewer_row and "Viewer</span>" in viewer_row
    assert "inactive" in viewer_row and "never" in viewer_row
    owner_row = re.search(r"<tr>(?:(?!</tr>).)*owner@acme\.test.*?</tr>", html, re.S).group(0)
    assert "Owner</span>" in owner_row and ">active<" in owner_row
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d", owner_row)  # signed in just now
    assert "New user" in html


@pytest.mark.usefixtures("acme")
def test_list_marks_locked_users(web: TestClient, services: Container) -> None:
    for _ in range(services.tenants.max_failed_logins):
        services.tenants.authenticate("member@acme.test", "wrong password!!")
    login(web, "owner")
    html = web.get("/users/").text
    member_row = re.search(r"<tr>(?:(?!</tr>).)*member@acme\.test.*?</tr>", html, re.S).group(0)
    assert "locked" in member_row
    owner_row = re.search(r"<tr>(?:(?!</tr>).)*owner@acme\.test.*?</tr>", html, re.S).group(0)
    assert "locked" not in owner_row


def test_list_pages_with_keyset_cursor_and_first_page_link(
    web: TestClient, services: Container, acme: Acme
) -> None:
    for i in range(120):
        services.tenants.create_user(
            acme.account_id, f"bulk{i:03}@acme.test", f"Bulk {i}", password=None
        )
    login(web, "owner")
    seen: list[str] = []
    response = web.get("/users/")
    assert "First page" not in response.text
    pages = 0
    while True:
        pages += 1
        html = response.text
        seen += emails_on(html)
        found = re.search(r'href="([^"]*after=[^"]*)"[^>]*>Next page<', html)
        if pages > 1:
            assert "First page" in html
        if not found:
            break
        assert "q=" in found.group(1)
        response = web.get(found.group(1).replace("&amp;", "&"))
        assert response.status_code == 200
    assert pages == 3  # 124 users, 50 a page
    assert len(seen) == len(set(seen)) == 124
    assert seen == sorted(seen)


def test_search_matches_name_or_email_and_keeps_q_in_the_pager(
    web: TestClient, services: Container, acme: Acme
) -> None:
    for i in range(55):
        services.tenants.create_user(
            acme.account_id, f"zed{i:02}@acme.test", f"Zed {i}", password=None
        )
    login(web, "owner")
    by_email = web.get("/users/", params={"q": "zed1"})
    assert sorted(emails_on(by_email.text)) == [f"zed{i}@acme.test" for i in range(10, 20)]
    assert 'value="zed1"' in by_email.text
    by_name = web.get("/users/", params={"q": "viewer person"})
    assert emails_on(by_name.text) == ["viewer@acme.test"]
    many = web.get("/users/", params={"q": "zed"})
    assert len(emails_on(many.text)) == 50
    next_link = re.search(r'href="([^"]*)"[^>]*>Next page<', many.text).group(1)
    assert "q=zed" in next_link
    rest = web.get(next_link.replace("&amp;", "&"))
    assert len(emails_on(rest.text)) == 5
    assert all(e.startswith("zed") for e in emails_on(rest.text))
    assert "No user matches" in web.get("/users/", params={"q": "nobody-here"}).text


@pytest.mark.usefixtures("acme")
def test_search_is_an_htmx_active_search_inside_a_plain_get_form(web: TestClient) -> None:
    login(web, "owner")
    html = web.get("/users/").text
    form = re.search(r'<form method="get"[^>]*>.*?</form>', html, re.S).group(0)
    search = re.search(r'<input type="search"[^>]*>', form, re.S).group(0)
    assert 'name="q"' in search
    assert 'hx-get="/users/"' in search
    assert 'hx-trigger="input changed delay:300ms, search"' in search
    assert 'hx-target="#user-table"' in search
    assert 'hx-push-url="true"' in search


@pytest.mark.usefixtures("acme")
def test_htmx_target_gets_the_table_partial_alone(web: TestClient) -> None:
    login(web, "owner")
    partial = web.get("/users/", params={"q": "admin"}, headers={"HX-Target": "user-table"})
    assert partial.status_code == 200
    assert partial.text.lstrip().startswith('<div id="user-table">')
    assert "<html" not in partial.text and 'type="search"' not in partial.text
    assert emails_on(partial.text) == ["admin@acme.test"]
    assert "HX-Target" in partial.headers.get("vary", "")
    # A boosted request (HX-Request without that target) wants the page.
    boosted = web.get("/users/", headers={"HX-Request": "true", "HX-Target": "main"})
    assert "<html" in boosted.text


def test_list_reads_roles_in_one_query_whatever_the_page_size(
    web: TestClient, services: Container, acme: Acme
) -> None:
    for i in range(60):
        services.tenants.create_user(
            acme.account_id, f"many{i:02}@acme.test", f"Many {i}", password=None
        )
    statements: list[str] = []
    login(web, "owner")

    def role_queries(params: dict) -> int:
        statements.clear()
        with services.db.trace(statements.append):
            response = web.get("/users/", params=params)
        assert response.status_code == 200
        return sum(1 for s in statements if re.search(r"\brole\b|\buser_role\b", s))

    small = role_queries({"q": "owner@"})  # one user on the page
    full = role_queries({})  # fifty users on the page
    assert statements, "the trace saw no statements"
    assert full == small <= 3


@pytest.mark.usefixtures("acme")
def test_a_mangled_cursor_starts_from_the_first_page(web: TestClient) -> None:
    login(web, "owner")
    response = web.get("/users/", params={"after": "not-a-cursor"})
    assert response.status_code == 200
    assert len(emails_on(response.text)) == 4


# --- create ------------------------------------------------------------------------------


def new_user_form(**values: object) -> dict:
    """A complete "new user" form, with some values replaced."""
    form = {
        "username": "new.person@acme.test",
        "display_name": "New Person",
        "roles": [],
        "setup": "password",
        "password": "a fine new password",
        "confirm": "a fine new password",
    }
    form.update(values)
    return form


def test_new_user_form_offers_roles_and_the_two_password_choices(
    web: TestClient, acme: Acme
) -> None:
    login(web, "owner")
    html = web.get("/users/new").text
    for role_id in acme.roles.values():
        assert f'name="roles" type="checkbox" value="{role_id}"' in html
    assert re.search(
        rf'checked id="roles-\d+" name="roles" type="checkbox" value="{acme.roles["Member"]}"', html
    )
    assert re.search(r'checked id="setup-0" name="setup" type="radio" value="invite"', html)
    assert 'value="password"' in html and "Send an invitation by email" in html


def test_create_with_a_password_then_the_user_can_sign_in(
    web: TestClient, services: Container, acme: Acme
) -> None:
    token = login(web, "owner")
    data = new_user_form(roles=[acme.roles["Member"], acme.roles["Exporters"]])
    response = post(web, "/users/new", token, data)
    assert response.status_code == 303
    user = services.tenants.find_user_by_username("new.person@acme.test")
    assert user and user["account_id"] == acme.account_id and user["has_password"]
    assert response.headers["location"] == f"/users/{user['id']}"
    assert roles_of(services, acme, user["id"]) == {"Member", "Exporters"}
    assert services.tenants.authenticate("new.person@acme.test", "a fine new password").ok
    assert "can sign in now" in web.get(response.headers["location"]).text
    assert services.mailer.count() == 0


def test_create_with_an_invitation_queues_the_mail(
    web: TestClient, services: Container, acme: Acme
) -> None:
    token = login(web, "owner")
    data = new_user_form(setup="invite", password="", confirm="", roles=[acme.roles["Viewer"]])
    response = post(web, "/users/new", token, data)
    assert response.status_code == 303
    user = services.tenants.find_user_by_username("new.person@acme.test")
    assert not user["has_password"]
    assert roles_of(services, acme, user["id"]) == {"Viewer"}
    mails = services.mailer.outbox_page().items
    assert [(m["to_address"], m["template"]) for m in mails] == [("new.person@acme.test", "invite")]
    assert "Owner Person" in mails[0]["body_text"]  # who invited them
    assert "invitation is on its way" in web.get(response.headers["location"]).text


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"username": "not-an-email"}, "Enter a valid email address"),
        ({"username": "ADMIN@acme.test"}, "This email address is already in use."),
        ({"password": "short", "confirm": "short"}, "Use at least 10 characters."),
        ({"confirm": "a different password"}, "The two passwords differ."),
        ({"password": "", "confirm": ""}, "Choose a password."),
        ({"display_name": "  "}, "Enter a name."),
    ],
)
def test_create_errors_rerender_with_typed_values_and_create_nothing(
    web: TestClient, services: Container, acme: Acme, values: dict, message: str
) -> None:
    token = login(web, "owner")
    before = services.tenants.count_users(acme.account_id)
    data = new_user_form(roles=[acme.roles["Admin"]], **values)
    response = post(web, "/users/new", token, data)
    assert response.status_code == 400
    html = response.text
    assert re.search(r'<div class="error"[^>]*>' + re.escape(message), html), message
    assert f'value="{data["username"]}"' in html
    if data["display_name"].strip():
        assert f'value="{data["display_name"]}"' in html
    assert re.search(
        rf'checked id="roles-\d+" name="roles" type="checkbox" value="{acme.roles["Admin"]}"', html
    )
    assert re.search(r'checked id="setup-1" name="setup" type="radio" value="password"', html)
    assert 'value="a fine new password"' not in html  # passwords are never echoed
    assert services.tenants.count_users(acme.account_id) == before
    assert services.mailer.count() == 0


@pytest.mark.usefixtures("acme")
def test_create_refuses_a_role_of_another_account(
    web: TestClient, services: Container, other: Other
) -> None:
    token = login(web, "owner")
    response = post(web, "/users/new", token, new_user_form(roles=[other.role]))
    assert response.status_code == 400
    assert "Choose roles from the list." in response.text
    assert services.tenants.find_user_by_username("new.person@acme.test") is None


# --- edit, deactivate, reset --------------------------------------------------------------


def test_edit_saves_email_name_and_roles(web: TestClient, services: Container, acme: Acme) -> None:
    token = login(web, "owner")
    page = web.get(f"/users/{acme.member}")
    assert 'value="member@acme.test"' in page.text and 'value="Member Person"' in page.text
    data = {
        "username": "Molly@Acme.test",
        "display_name": "Molly Member",
        "roles": [acme.roles["Viewer"], acme.roles["Exporters"]],
    }
    response = post(web, f"/users/{acme.member}", token, data)
    assert response.status_code == 303
    assert response.headers["location"] == f"/users/{acme.member}"
    user = services.tenants.get_user(acme.account_id, acme.member)
    assert (user["username"], user["display_name"]) == ("molly@acme.test", "Molly Member")
    assert roles_of(services, acme, acme.member) == {"Viewer", "Exporters"}
    assert "The changes are saved." in web.get(f"/users/{acme.member}").text


def test_edit_errors_rerender_and_change_nothing(
    web: TestClient, services: Container, acme: Acme
) -> None:
    token = login(web, "owner")
    data = {"username": "admin@acme.test", "display_name": "Changed", "roles": []}
    response = post(web, f"/users/{acme.member}", token, data)
    assert response.status_code == 400
    assert "This email address is already in use." in response.text
    assert 'value="Changed"' in response.text
    user = services.tenants.get_user(acme.account_id, acme.member)
    assert user["display_name"] == "Member Person"
    assert roles_of(services, acme, acme.member) == {"Member"}


def test_the_last_owner_keeps_the_owner_role_and_nothing_half_saves(
    web: TestClient, services: Container, acme: Acme
) -> None:
    token = login(web, "owner")
    data = {
        "username": "owner@acme.test",
        "display_name": "Renamed Owner",
        "roles": [acme.roles["Admin"]],
    }
    response = post(web, f"/users/{acme.owner}", token, data)
    assert response.status_code == 400
    assert "Every account needs at least one Owner." in response.text
    assert services.tenants.get_user(acme.account_id, acme.owner)["display_name"] == "Owner Person"
    assert roles_of(services, acme, acme.owner) == {"Owner"}


def test_deactivate_and_reactivate(web: TestClient, services: Container, acme: Acme) -> None:
    token = login(web, "owner")
    page = web.get(f"/users/{acme.member}").text
    assert f'action="/users/{acme.member}/deactivate"' in page and 'class="confirm"' in page
    response = post(web, f"/users/{acme.member}/deactivate", token)
    assert response.status_code == 303
    assert not services.tenants.get_user(acme.account_id, acme.member)["active"]
    assert not services.tenants.authenticate("member@acme.test", PASSWORD).ok
    page = web.get(f"/users/{acme.member}").text
    assert "is deactivated" in page and f'action="/users/{acme.member}/activate"' in page
    assert post(web, f"/users/{acme.member}/activate", token).status_code == 303
    assert services.tenants.get_user(acme.account_id, acme.member)["active"]
    assert services.tenants.authenticate("member@acme.test", PASSWORD).ok


def test_the_only_active_owner_cannot_be_deactivated(
    web: TestClient, services: Container, acme: Acme
) -> None:
    token = login(web, "admin")
    response = post(web, f"/users/{acme.owner}/deactivate", token)
    assert response.status_code == 303
    assert "only active Owner" in web.get(response.headers["location"]).text
    assert services.tenants.get_user(acme.account_id, acme.owner)["active"]


def test_nobody_deactivates_themselves(web: TestClient, services: Container, acme: Acme) -> None:
    token = login(web, "admin")
    assert f'action="/users/{acme.admin}/deactivate"' not in web.get(f"/users/{acme.admin}").text
    response = post(web, f"/users/{acme.admin}/deactivate", token)
    assert "cannot deactivate yourself" in web.get(response.headers["location"]).text
    assert services.tenants.get_user(acme.account_id, acme.admin)["active"]


def test_send_reset_queues_a_mail_with_a_link(
    web: TestClient, services: Container, acme: Acme
) -> None:
    token = login(web, "owner")
    response = post(web, f"/users/{acme.member}/reset", token)
    assert response.status_code == 303
    mails = services.mailer.outbox_page().items
    assert [(m["to_address"], m["template"]) for m in mails] == [
        ("member@acme.test", "password_reset")
    ]
    assert "/password/reset?token=" in mails[0]["body_text"]
    assert "reset link is on its way" in web.get(response.headers["location"]).text


def test_send_reset_to_an_inactive_user_sends_nothing(
    web: TestClient, services: Container, acme: Acme
) -> None:
    services.tenants.update_user(acme.account_id, acme.member, active=False)
    token = login(web, "owner")
    response = post(web, f"/users/{acme.member}/reset", token)
    assert "get no link" in web.get(response.headers["location"]).text
    assert services.mailer.count() == 0


# --- privilege escalation ---------------------------------------------------------------------


def test_admin_cannot_make_anyone_owner(web: TestClient, services: Container, acme: Acme) -> None:
    token = login(web, "admin")
    response = post(
        web,
        f"/users/{acme.member}",
        token,
        {
            "username": "member@acme.test",
            "display_name": "Member Person",
            "roles": [acme.roles["Owner"]],
        },
    )
    assert response.status_code == 400
    assert re.search(r"do not hold yourself: [^<]*crm\.export", response.text)
    assert roles_of(services, acme, acme.member) == {"Member"}
    # Not themselves either, and not a new user.
    response = post(
        web,
        f"/users/{acme.admin}",
        token,
        {
            "username": "admin@acme.test",
            "display_name": "Admin Person",
            "roles": [acme.roles["Admin"], acme.roles["Owner"]],
        },
    )
    assert response.status_code == 400
    assert roles_of(services, acme, acme.admin) == {"Admin"}
    response = post(web, "/users/new", token, new_user_form(roles=[acme.roles["Owner"]]))
    assert response.status_code == 400 and "crm.export" in response.text
    assert services.tenants.find_user_by_username("new.person@acme.test") is None


def test_admin_cannot_hand_out_a_custom_role_beyond_their_own(
    web: TestClient, services: Container, acme: Acme
) -> None:
    token = login(web, "admin")
    data = {
        "username": "member@acme.test",
        "display_name": "Member Person",
        "roles": [acme.roles["Member"], acme.roles["Exporters"]],
    }
    response = post(web, f"/users/{acme.member}", token, data)
    assert response.status_code == 400 and "crm.export" in response.text
    assert roles_of(services, acme, acme.member) == {"Member"}
    # Roles within their own power are fine.
    data["roles"] = [acme.roles["Admin"]]
    assert post(web, f"/users/{acme.member}", token, data).status_code == 303
    assert roles_of(services, acme, acme.member) == {"Admin"}


def test_admin_can_still_edit_someone_more_powerful(
    web: TestClient, services: Container, acme: Acme
) -> None:
    token = login(web, "admin")
    data = {
        "username": "owner@acme.test",
        "display_name": "Olive Owner",
        "roles": [acme.roles["Owner"]],  # held already: nothing is handed out
    }
    assert post(web, f"/users/{acme.owner}", token, data).status_code == 303
    assert services.tenants.get_user(acme.account_id, acme.owner)["display_name"] == "Olive Owner"


# --- access editor ---------------------------------------------------------------------------


def test_access_editor_lists_permissions_grouped_with_role_grants(
    web: TestClient, acme: Acme
) -> None:
    login(web, "owner")
    html = web.get(f"/users/{acme.member}/access").text
    headings = re.findall(r"<h2>([^<]+)</h2>", html)
    assert headings[:3] == ["Access control", "Accounts and users", "CRM"]
    assert "Download all contacts as CSV. <code>crm.export</code>" in html
    row = re.search(r"<tr>(?:(?!</tr>).)*<code>users\.view</code>.*?</tr>", html, re.S).group(0)
    assert "granted" in row  # Member gets every .view key
    assert 'name="acl.users.view" value="inherit" id="acl-users.view-inherit" checked' in row
    row = re.search(r"<tr>(?:(?!</tr>).)*<code>users\.manage</code>.*?</tr>", html, re.S).group(0)
    assert "granted" not in row
    assert "accounts.manage" not in html  # platform-only, not grantable here


def test_access_editor_saves_allow_and_deny_and_the_effective_set_changes(
    web: TestClient, services: Container, acme: Acme
) -> None:
    token = login(web, "owner")
    before = services.authz.effective_permissions(acme.account_id, acme.member)
    assert "users.view" in before and "crm.export" not in before
    data = {"acl.crm.export": "allow", "acl.users.view": "deny", "acl.roles.view": "inherit"}
    response = post(web, f"/users/{acme.member}/access", token, data)
    assert response.status_code == 303
    assert response.headers["location"] == f"/users/{acme.member}/access"
    assert services.authz.user_acl(acme.account_id, acme.member) == {
        "crm.export": "allow",
        "users.view": "deny",
    }
    after = services.authz.effective_permissions(acme.account_id, acme.member)
    assert "crm.export" in after and "users.view" not in after
    html = web.get(f"/users/{acme.member}/access").text
    assert 'value="allow" id="acl-crm.export-allow" checked' in html
    assert 'value="deny" id="acl-users.view-deny" checked' in html
    effective = re.search(r'id="effective">.*?</section>', html, re.S).group(0)
    assert '<code class="perm">crm.export</code>' in effective
    assert "users.view" not in effective
    # Back to the roles alone.
    assert post(web, f"/users/{acme.member}/access", token, {}).status_code == 303
    assert services.authz.user_acl(acme.account_id, acme.member) == {}
    assert services.authz.effective_permissions(acme.account_id, acme.member) == before


def test_access_editor_refuses_a_bad_choice(
    web: TestClient, services: Container, acme: Acme
) -> None:
    token = login(web, "owner")
    response = post(web, f"/users/{acme.member}/access", token, {"acl.users.view": "maybe"})
    assert response.status_code == 400
    assert "Choose inherit, allow or deny." in response.text
    assert services.authz.user_acl(acme.account_id, acme.member) == {}


def test_admin_cannot_allow_what_they_do_not_hold(
    web: TestClient, services: Container, acme: Acme
) -> None:
    token = login(web, "admin")
    data = {"acl.crm.export": "allow", "acl.users.manage": "allow"}
    response = post(web, f"/users/{acme.member}/access", token, data)
    assert response.status_code == 400
    assert re.search(r"do not hold yourself: crm\.export\.", response.text)
    assert services.authz.user_acl(acme.account_id, acme.member) == {}
    # What they hold themselves they may allow.
    assert (
        post(web, f"/users/{acme.member}/access", token, {"acl.users.manage": "allow"}).status_code
        == 303
    )
    assert services.authz.user_acl(acme.account_id, acme.member) == {"users.manage": "allow"}


def test_admin_cannot_lift_a_deny_that_would_hand_out_more(
    web: TestClient, services: Container, acme: Acme
) -> None:
    services.authz.set_user_roles(acme.account_id, acme.member, [acme.roles["Exporters"]])
    services.authz.set_user_acl(acme.account_id, acme.member, {"crm.export": "deny"})
    token = login(web, "admin")
    response = post(web, f"/users/{acme.member}/access", token, {"acl.crm.export": "inherit"})
    assert response.status_code == 400
    assert services.authz.user_acl(acme.account_id, acme.member) == {"crm.export": "deny"}


# --- read-only viewers and permissions --------------------------------------------------------


def test_viewer_sees_users_read_only(web: TestClient, acme: Acme) -> None:
    token = login(web, "viewer")
    listing = web.get("/users/")
    assert listing.status_code == 200
    assert "New user" not in listing.text and "/users/new" not in listing.text
    assert len(emails_on(listing.text)) == 4
    page = web.get(f"/users/{acme.member}")
    assert page.status_code == 200
    assert "member@acme.test" in page.text and "Member</span>" in page.text
    assert "<input" not in page.text.split('id="main"')[1]
    assert "Deactivate" not in page.text and "reset" not in page.text.lower()
    assert "/access" not in page.text
    data = {"username": "member@acme.test", "display_name": "Hacked", "roles": []}
    assert post(web, f"/users/{acme.member}", token, data).status_code == 403
    assert web.get("/users/new").status_code == 403
    assert post(web, "/users/new", token, new_user_form()).status_code == 403
    for action in ("deactivate", "activate", "reset"):
        assert post(web, f"/users/{acme.member}/{action}", token).status_code == 403
    assert web.get(f"/users/{acme.member}/access").status_code == 403


def test_member_without_roles_manage_gets_no_access_editor(
    web: TestClient, services: Container, acme: Acme
) -> None:
    services.authz.set_user_acl(acme.account_id, acme.member, {"users.manage": "allow"})
    token = login(web, "member")
    assert "/access" not in web.get(f"/users/{acme.viewer}").text
    assert web.get(f"/users/{acme.viewer}/access").status_code == 403
    response = post(web, f"/users/{acme.viewer}/access", token, {"acl.users.manage": "allow"})
    assert response.status_code == 403


@pytest.mark.usefixtures("acme")
def test_anonymous_visitors_are_sent_to_sign_in(web: TestClient) -> None:
    response = web.get("/users/", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("/login")


# --- isolation, CSRF, escaping ------------------------------------------------------------------


@pytest.mark.parametrize(
    "case",
    [
        "GET /users/{id}",
        "POST /users/{id}",
        "POST /users/{id}/deactivate",
        "POST /users/{id}/activate",
        "POST /users/{id}/reset",
        "GET /users/{id}/access",
        "POST /users/{id}/access",
        "GET /users/999999",
    ],
)
def test_another_accounts_user_is_not_found(
    web: TestClient, services: Container, acme: Acme, other: Other, case: str
) -> None:
    token = login(web, "owner")
    method, path = case.split()
    url = path.format(id=other.user)
    data = {
        "username": "mine@acme.test",
        "display_name": "Taken Over",
        "roles": [acme.roles["Viewer"]],
        "acl.users.view": "deny",
    }
    if method == "GET":
        response = web.get(url)
    else:
        response = post(web, url, token, data)
    assert response.status_code == 404
    user = services.tenants.get_user(other.account_id, other.user)
    assert user["display_name"] == "Hank Scorpio" and user["active"]
    assert services.authz.user_acl(other.account_id, other.user) == {}
    assert {r["name"] for r in services.authz.user_roles(other.account_id, other.user)} == {"Owner"}
    assert services.mailer.count() == 0


def test_posts_without_the_csrf_token_are_refused(
    web: TestClient, services: Container, acme: Acme
) -> None:
    token = login(web, "owner")
    response = web.post("/users/new", data=new_user_form(), follow_redirects=False)
    assert response.status_code == 403 and NO_TOKEN_MESSAGE in response.text
    assert services.tenants.find_user_by_username("new.person@acme.test") is None
    response = web.post(f"/users/{acme.member}/deactivate", data={"csrf_token": "forged"})
    assert response.status_code == 403
    assert services.tenants.get_user(acme.account_id, acme.member)["active"]
    # htmx sends the token as a header instead.
    response = web.post(
        f"/users/{acme.member}/deactivate",
        headers={"X-CSRF-Token": token},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert not services.tenants.get_user(acme.account_id, acme.member)["active"]


def test_user_data_is_escaped_everywhere(web: TestClient, services: Container, acme: Acme) -> None:
    script = "<script>alert(1)</script>"
    services.tenants.update_user(acme.account_id, acme.member, display_name=script)
    services.authz.create_role(acme.account_id, "<b>bold</b>", "", [])
    services.authz.set_user_roles(
        acme.account_id, acme.member, [services.authz.role_id(acme.account_id, "<b>bold</b>")]
    )
    token = login(web, "owner")
    pages = [
        web.get("/users/"),
        web.get("/users/", headers={"HX-Target": "user-table"}),
        web.get(f"/users/{acme.member}"),
        web.get(f"/users/{acme.member}/access"),
        post(web, f"/users/{acme.member}", token, {"username": "bad", "display_name": script}),
    ]
    for response in pages:
        assert script not in response.text
        assert "<b>bold</b>" not in response.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in pages[0].text
    assert "&lt;b&gt;bold&lt;/b&gt;" in pages[2].text
    assert 'value="&lt;script&gt;alert(1)&lt;/script&gt;"' in pages[4].text
