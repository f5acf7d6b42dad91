"""The generated Records screens over HTTP: the index, list (search, sort,
keyset pages, the htmx partial), create, edit and delete, field errors that
keep what was typed, references, tenant isolation, read-only viewers,
global entities, disabled libraries and escaping."""

from __future__ import annotations

import re
import textwrap
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator, NamedTuple

import pytest
from markupsafe import escape
from starlette.applications import Starlette
from starlette.testclient import TestClient

from modules.datastore import DAO, ScopedDAO
from tests.conftest import make_settings
from tests.webapp.helpers import csrf, sign_in
from webapp import usecases
from webapp.app import create_app
from webapp.container import Container

PASSWORD = "a long password 1"
CRM = """
from modules.datastore import Entity, Field


def register(registry):
    registry.info(version="1.0", title="Tiny CRM", description="Contacts and deals")
    registry.entity(
        Entity(
            "crm_contact",
            (
                Field("name", required=True),
                Field("email", unique=True),
                Field("vip", "boolean", default=False),
                Field("score", "real"),
                Field("notes", "json"),
                Field("met_at", "datetime"),
            ),
            tenant_scoped=True,
        )
    )
    registry.entity(
        Entity(
            "crm_deal",
            (
                Field("title", required=True),
                Field("contact", "reference", references="crm_contact"),
                Field("amount", "integer", label="Amount (cents)"),
            ),
            tenant_scoped=True,
        )
    )

    @registry.capability(title="Say hello")
    def hello(name: str) -> str:
        return "hello " + name
"""
OPS = """
from modules.datastore import Entity, Field


def register(registry):
    registry.info(version="1.0", title="Operations")
    registry.entity(Entity("ops_setting", (Field("setting", required=True, unique=True),)))
"""


class World(NamedTuple):
    """The running app, its services, and one signed-in client per person."""

    app: Starlette
    services: Container
    acme: int
    beta: int
    client: Callable[[str], TestClient]


def write_library(libs: Path, name: str, source: str) -> None:
    """A library folder `libs/name/__init__.py`."""
    folder = libs / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "__init__.py").write_text(textwrap.dedent(source), encoding="utf-8")


@pytest.fixture(name="world")
def fixture_world(tmp_path: Path) -> Iterator[World]:
    """The platform owner, Acme (Admin, Viewer) and Beta (Admin); the CRM
    library (tenant-scoped entities) and the Ops library (a global one),
    added after the app started."""
    libs = tmp_path / "libs"
    write_library(libs, "crm", CRM)
    write_library(libs, "ops", OPS)
    settings = make_settings(tmp_path / "data", BCRYPT_ROUNDS="4", LIBRARIES_DIR=str(libs))
    services = Container.build(settings)
    app = create_app(container=services)
    with TestClient(app) as main:
        services.libraries.add("crm")
        services.libraries.add("ops")
        usecases.create_owner(services, "Operators", "owner@example.com", "Owner", PASSWORD)
        tenants = services.tenants
        acme = tenants.create_account("Acme")
        beta = tenants.create_account("Beta")
        for account, username, role in (
            (acme, "admin@acme.test", "Admin"),
            (acme, "viewer@acme.test", "Viewer"),
            (beta, "admin@beta.test", "Admin"),
        ):
            tenants.create_user(account, username, role, password=PASSWORD, role_names=(role,))
        clients: dict[str, TestClient] = {"owner@example.com": main}

        def client(username: str) -> TestClient:
            if username not in clients:
                clients[username] = TestClient(app)
            signed_in = clients[username]
            if not signed_in.cookies:
                assert sign_in(signed_in, username, PASSWORD).status_code == 303
            return signed_in

        yield World(app, services, acme, beta, client)


def contacts(world: World) -> ScopedDAO:
    """The CRM contact DAO."""
    dao = world.services.store.dao("crm_contact")
    assert isinstance(dao, ScopedDAO)
    return dao


def stored(world: World, account_id: int, record_id: int) -> dict[str, Any]:
    """A contact as stored (it must exist)."""
    record = contacts(world).get(account_id, record_id)
    assert record is not None
    return record


def post(client: TestClient, path: str, data: dict[str, str], token_from: str = ""):
    """POST a form the way the browser would, with the CSRF token of a page."""
    token = csrf(client, token_from or "/records/")
    return client.post(path, data={**data, "csrf_token": token}, follow_redirects=False)


def contact_form(**values: str) -> dict[str, str]:
    """A filled-in contact form (a checkbox only travels when ticked)."""
    form = {
        "name": "Ada Lovelace",
        "email": "ada@example.com",
        "score": "4.5",
        "notes": '{"tags": ["math"]}',
        "met_at": "2024-05-01T09:30",
    }
    form.update(values)
    return form


def test_index_lists_the_entities_the_user_may_view(world: World) -> None:
    contacts(world).insert(world.acme, {"name": "Ada"})
    contacts(world).insert(world.beta, {"name": "Bob"})
    admin = world.client("admin@acme.test")
    page = admin.get("/records/")
    assert page.status_code == 200
    assert "Tiny CRM" in page.text
    assert 'href="/records/crm_contact/"' in page.text
    assert 'href="/records/crm_deal/"' in page.text
    # Acme's count only; a global entity is not for customer accounts.
    assert re.search(r'crm_contact/">crm_contact</a>\s*</td>\s*<td class="num">1</td>', page.text)
    assert "ops_setting" not in page.text
    assert 'href="/records/crm_contact/new"' in page.text
    owner_page = world.client("owner@example.com").get("/records/")
    assert "ops_setting" in owner_page.text
    assert 'href="/records/crm_contact/new"' in owner_page.text
    # Core tables are not library entities.
    assert world.client("owner@example.com").get("/records/user/").status_code == 404


def test_index_needs_sign_in(world: World) -> None:
    anonymous = TestClient(world.app)
    response = anonymous.get("/records/crm_contact/", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login")


def test_create_edit_and_delete_a_record(world: World) -> None:
    admin = world.client("admin@acme.test")
    blank = admin.get("/records/crm_contact/new")
    assert blank.status_code == 200
    for name in ("name", "email", "vip", "score", "notes", "met_at"):
        assert f'name="{name}"' in blank.text
    assert 'type="datetime-local"' in blank.text and 'type="checkbox"' in blank.text

    created = post(admin, "/records/crm_contact/new", contact_form(vip="y"))
    assert created.status_code == 303
    record_id = int(created.headers["location"].rsplit("/", 1)[1])
    assert created.headers["location"] == f"/records/crm_contact/{record_id}"
    record = stored(world, world.acme, record_id)
    assert record["name"] == "Ada Lovelace" and record["vip"] is True
    assert record["score"] == 4.5 and record["notes"] == {"tags": ["math"]}
    assert record["met_at"] == datetime(2024, 5, 1, 9, 30, tzinfo=timezone.utc)

    page = admin.get(f"/records/crm_contact/{record_id}")
    assert "The crm_contact record is added." in page.text
    assert 'value="Ada Lovelace"' in page.text and 'value="2024-05-01T09:30"' in page.text
    assert "&#34;tags&#34;" in page.text or "&quot;tags&quot;" in page.text

    # Unticking the checkbox and blanking optional fields stores False / NULL.
    changed = post(
        admin,
        f"/records/crm_contact/{record_id}",
        contact_form(name="Ada King", score="", notes="", met_at=""),
    )
    assert changed.status_code == 303
    record = stored(world, world.acme, record_id)
    assert record["name"] == "Ada King" and record["vip"] is False
    assert record["score"] is None and record["notes"] is None and record["met_at"] is None
    assert "The changes are saved." in admin.get(changed.headers["location"]).text

    listed = admin.get("/records/crm_contact/")
    assert "Ada King" in listed.text and ">no<" in listed.text

    deleted = post(admin, f"/records/crm_contact/{record_id}/delete", {})
    assert deleted.status_code == 303
    assert deleted.headers["location"] == "/records/crm_contact/"
    assert contacts(world).get(world.acme, record_id) is None
    after = admin.get("/records/crm_contact/")
    assert "Ada King is deleted." in after.text
    assert "No records yet." in after.text


def test_saving_an_unchanged_form_keeps_the_seconds_of_a_time(world: World) -> None:
    met = datetime(2024, 5, 1, 9, 30, 42, tzinfo=timezone.utc)
    record_id = contacts(world).insert(world.acme, {"name": "Ada", "met_at": met})
    admin = world.client("admin@acme.test")
    saved = post(
        admin, f"/records/crm_contact/{record_id}", {"name": "Ada", "met_at": "2024-05-01T09:30"}
    )
    assert saved.status_code == 303
    assert stored(world, world.acme, record_id)["met_at"] == met
    assert "Nothing was changed." in admin.get(saved.headers["location"]).text


@pytest.mark.parametrize(
    ("values", "field", "message"),
    [
        ({"name": ""}, "name", "This field is required."),
        ({"notes": "{not json"}, "notes", "Enter valid JSON"),
        ({"score": "lots"}, "score", "Enter a number."),
        ({"met_at": "yesterday"}, "met_at", "Enter a date and time."),
    ],
)
def test_invalid_values_are_shown_next_to_their_field(
    world: World, values: dict[str, str], field: str, message: str
) -> None:
    admin = world.client("admin@acme.test")
    typed = contact_form(email="typed@example.com", **values)
    response = post(admin, "/records/crm_contact/new", typed)
    assert response.status_code == 400
    assert re.search(rf'<div class="error" id="{field}-error">{re.escape(message)}', response.text)
    # Everything typed is still there, the bad value included.
    assert 'value="typed@example.com"' in response.text
    assert str(escape(values[field])) in response.text
    assert contacts(world).count(world.acme) == 0


def test_a_duplicate_email_is_a_field_error_and_nothing_is_written(world: World) -> None:
    contacts(world).insert(world.acme, {"name": "First", "email": "ada@example.com"})
    other_id = contacts(world).insert(world.acme, {"name": "Second", "email": "b@example.com"})
    # The same address in another account is fine: uniques are per account.
    contacts(world).insert(world.beta, {"name": "Elsewhere", "email": "dup@example.com"})
    admin = world.client("admin@acme.test")
    response = post(admin, "/records/crm_contact/new", contact_form(name="Typed name"))
    assert response.status_code == 400
    assert '<div class="error" id="email-error">Email is already taken.</div>' in response.text
    assert 'value="Typed name"' in response.text and 'value="4.5"' in response.text
    assert contacts(world).count(world.acme) == 2

    edit = post(
        admin,
        f"/records/crm_contact/{other_id}",
        {"name": "Renamed", "email": "ada@example.com"},
    )
    assert edit.status_code == 400
    assert "Email is already taken." in edit.text and 'value="Renamed"' in edit.text
    assert stored(world, world.acme, other_id)["name"] == "Second"

    ok = post(admin, "/records/crm_contact/new", contact_form(email="dup@example.com"))
    assert ok.status_code == 303


def test_a_reference_must_name_a_record_of_the_account(world: World) -> None:
    mine = contacts(world).insert(world.acme, {"name": "Mine"})
    theirs = contacts(world).insert(world.beta, {"name": "Theirs"})
    deals = world.services.store.dao("crm_deal")
    assert isinstance(deals, ScopedDAO)
    admin = world.client("admin@acme.test")
    form = admin.get("/records/crm_deal/new").text
    assert "id of a crm_contact record" in form and "Amount (cents)" in form

    for bad in (str(theirs), "999999"):
        response = post(admin, "/records/crm_deal/new", {"title": "Big", "contact": bad})
        assert response.status_code == 400
        assert (
            f'<div class="error" id="contact-error">There is no crm_contact record with id {bad}.'
            in response.text
        )
        assert 'value="Big"' in response.text
    too_big = post(admin, "/records/crm_deal/new", {"title": "Big", "amount": str(2**64)})
    assert too_big.status_code == 400 and "Enter a smaller whole number." in too_big.text
    assert deals.count(world.acme) == 0

    created = post(
        admin, "/records/crm_deal/new", {"title": "Big", "contact": str(mine), "amount": "12"}
    )
    assert created.status_code == 303
    # A referenced contact cannot be deleted; the page says why and it stays.
    refused = post(admin, f"/records/crm_contact/{mine}/delete", {})
    assert refused.status_code == 303
    assert refused.headers["location"] == f"/records/crm_contact/{mine}"
    assert "still referred to" in admin.get(refused.headers["location"]).text
    assert contacts(world).get(world.acme, mine) is not None


def test_list_search_sort_and_pages(world: World) -> None:
    contacts(world).insert_many(
        world.acme,
        [
            {"name": f"Person {i:03d}", "email": f"p{i}@example.com", "score": float(i % 7)}
            for i in range(120)
        ],
    )
    contacts(world).insert(world.acme, {"name": "Zed Unique", "email": "zed@other.test"})
    admin = world.client("admin@acme.test")

    first = admin.get("/records/crm_contact/")
    assert first.status_code == 200
    assert first.text.count("<tr>") == 1 + 50  # header + one page
    assert "Person 000" in first.text and "Person 050" not in first.text
    next_links = re.findall(r'href="(/records/crm_contact/\?[^"]*after=[^"]*)"', first.text)
    assert next_links
    seen = _names(first.text)
    url = next_links[0].replace("&amp;", "&")
    while url:
        page = admin.get(url)
        seen += _names(page.text)
        found = re.findall(r'href="(/records/crm_contact/\?[^"]*after=[^"]*)"', page.text)
        url = found[0].replace("&amp;", "&") if found else ""
    assert len(seen) == 121 and len(set(seen)) == 121

    # Search: substring of the text fields; the no-match message escapes the term.
    found = admin.get("/records/crm_contact/", params={"q": "other.test"})
    assert _names(found.text) == ["Zed Unique"]
    none = admin.get("/records/crm_contact/", params={"q": "<nobody>"})
    assert "No record matches “&lt;nobody&gt;”." in none.text

    # Sort by name both ways, keeping the search; pages keep the sort too.
    ascending = admin.get(
        "/records/crm_contact/", params={"q": "Person", "order_by": "name", "dir": "asc"}
    )
    assert _names(ascending.text)[:2] == ["Person 000", "Person 001"]
    descending = admin.get(
        "/records/crm_contact/", params={"q": "Person", "order_by": "name", "dir": "desc"}
    )
    assert _names(descending.text)[:2] == ["Person 119", "Person 118"]
    nxt = re.findall(r'href="(/records/crm_contact/\?[^"]*after=[^"]*)"', descending.text)[0]
    assert "q=Person" in nxt and "order_by=name" in nxt and "dir=desc" in nxt
    page_two = admin.get(nxt.replace("&amp;", "&"))
    assert _names(page_two.text)[0] == "Person 069"
    # The header of the sorted column offers the other direction.
    assert 'href="/records/crm_contact/?q=Person&amp;order_by=name&amp;dir=asc"' in descending.text
    by_score = admin.get("/records/crm_contact/", params={"order_by": "score", "dir": "desc"})
    assert _names(by_score.text)[0] == "Person 118"  # 118 % 7 == 6, highest id first

    # Nonsense in the query falls back to the defaults instead of failing.
    odd = admin.get(
        "/records/crm_contact/", params={"order_by": "notes;drop", "dir": "up", "after": "!!"}
    )
    assert odd.status_code == 200 and _names(odd.text)[0] == "Person 000"


def test_htmx_gets_only_the_table(world: World) -> None:
    contacts(world).insert(world.acme, {"name": "Ada"})
    admin = world.client("admin@acme.test")
    partial = admin.get(
        "/records/crm_contact/",
        params={"q": "Ada"},
        headers={"HX-Request": "true", "HX-Target": "record-table"},
    )
    assert partial.status_code == 200
    assert partial.text.lstrip().startswith('<div id="record-table">')
    assert "<html" not in partial.text and "Ada" in partial.text
    assert partial.headers["vary"] == "HX-Target"
    boosted = admin.get("/records/crm_contact/", headers={"HX-Request": "true"})
    assert "<html" in boosted.text and 'hx-target="#record-table"' in boosted.text


def test_another_accounts_record_is_not_found(world: World) -> None:
    theirs = contacts(world).insert(world.beta, {"name": "Beta secret"})
    admin = world.client("admin@acme.test")
    assert admin.get(f"/records/crm_contact/{theirs}").status_code == 404
    assert "Beta secret" not in admin.get("/records/crm_contact/").text
    edit = post(admin, f"/records/crm_contact/{theirs}", {"name": "Hijacked"})
    assert edit.status_code == 404
    delete = post(admin, f"/records/crm_contact/{theirs}/delete", {})
    assert delete.status_code == 404
    assert stored(world, world.beta, theirs)["name"] == "Beta secret"
    # Beta's own admin sees it.
    assert (
        "Beta secret" in world.client("admin@beta.test").get(f"/records/crm_contact/{theirs}").text
    )


def test_a_viewer_reads_but_cannot_change(world: World) -> None:
    record_id = contacts(world).insert(
        world.acme, {"name": "Ada", "vip": True, "notes": {"a": [1, 2]}}
    )
    viewer = world.client("viewer@acme.test")
    listed = viewer.get("/records/crm_contact/")
    assert listed.status_code == 200 and "Ada" in listed.text
    assert "/records/crm_contact/new" not in listed.text
    assert "New record" not in viewer.get("/records/").text
    page = viewer.get(f"/records/crm_contact/{record_id}")
    assert page.status_code == 200
    main = page.text.split('id="main"', 1)[1]
    assert "<form" not in main and "<input" not in main and "Delete" not in main
    assert '<dd class="wrap">yes</dd>' in main
    assert re.search(r"<pre class=\"record-json\">\{\s+(&#34;|&quot;)a", main)
    assert viewer.get("/records/crm_contact/new").status_code == 403
    for path, data in (
        ("/records/crm_contact/new", {"name": "Sneaky"}),
        (f"/records/crm_contact/{record_id}", {"name": "Sneaky"}),
        (f"/records/crm_contact/{record_id}/delete", {}),
    ):
        assert post(viewer, path, data).status_code == 403
    assert stored(world, world.acme, record_id)["name"] == "Ada"


def test_without_view_permission_the_entity_is_forbidden(world: World) -> None:
    services = world.services
    role_id = services.authz.create_role(world.acme, "Deals only", "", ["crm_deal.view"])
    user_id = services.tenants.create_user(
        world.acme, "deals@acme.test", "Deals", password=PASSWORD, role_names=()
    )
    services.authz.set_user_roles(world.acme, user_id, [role_id])
    client = world.client("deals@acme.test")
    index = client.get("/records/").text
    assert "crm_deal" in index and "crm_contact" not in index
    assert client.get("/records/crm_contact/").status_code == 403
    assert client.get("/records/crm_deal/").status_code == 200


def test_global_entities_are_for_the_platform_account_only(world: World) -> None:
    owner = world.client("owner@example.com")
    created = post(owner, "/records/ops_setting/new", {"setting": "maintenance"})
    assert created.status_code == 303
    setting_id = int(created.headers["location"].rsplit("/", 1)[1])
    assert "maintenance" in owner.get("/records/ops_setting/").text
    admin = world.client("admin@acme.test")
    assert admin.get("/records/ops_setting/").status_code == 404
    assert admin.get(f"/records/ops_setting/{setting_id}").status_code == 404
    assert post(admin, f"/records/ops_setting/{setting_id}/delete", {}).status_code == 404
    settings = world.services.store.dao("ops_setting")
    assert isinstance(settings, DAO) and settings.get(setting_id) is not None


def test_unknown_and_disabled_entities_are_not_found(world: World) -> None:
    record_id = contacts(world).insert(world.acme, {"name": "Ada"})
    admin = world.client("admin@acme.test")
    assert admin.get("/records/nothing_here/").status_code == 404
    assert post(admin, "/records/nothing_here/new", {"x": "1"}).status_code == 404
    world.services.libraries.disable("crm")
    assert admin.get("/records/crm_contact/").status_code == 404
    assert admin.get(f"/records/crm_contact/{record_id}").status_code == 404
    assert post(admin, f"/records/crm_contact/{record_id}/delete", {}).status_code == 404
    assert "crm_contact" not in admin.get("/records/").text
    world.services.libraries.enable("crm")
    assert "Ada" in admin.get("/records/crm_contact/").text


def test_data_is_escaped_everywhere(world: World) -> None:
    evil = '<script>alert("x")</script>'
    record_id = contacts(world).insert(
        world.acme, {"name": evil, "email": "e@example.com", "notes": {"html": evil}}
    )
    admin = world.client("admin@acme.test")
    viewer = world.client("viewer@acme.test")
    pages = [
        admin.get("/records/crm_contact/").text,
        admin.get(f"/records/crm_contact/{record_id}").text,
        viewer.get(f"/records/crm_contact/{record_id}").text,
        admin.get("/records/crm_contact/", params={"q": evil}).text,
        post(admin, "/records/crm_contact/new", {"name": evil, "notes": evil}).text,
    ]
    for html in pages:
        assert "<script>alert" not in html
        assert "&lt;script&gt;" in html


def _names(html: str) -> list[str]:
    """The name column (first cell after the id) of a records table."""
    return re.findall(r'</a></td>\s*<td class="wrap">([^<]*)</td>', html)
