"""The Libraries screens over HTTP: the list with built-in libraries, adding
folder libraries (one that loads, one that fails), enable / disable / reload /
remove, the mode switch, the config form (secrets never shown), and who may
see any of it.

The library sources and fixtures here are shared with the capability and
API tests (they import them).
"""

from __future__ import annotations

import os
import re
import textwrap
from pathlib import Path
from typing import Any, Callable, Iterator, NamedTuple

import pytest
from starlette.testclient import TestClient

from tests.conftest import make_settings
from tests.webapp.helpers import csrf, sign_in
from webapp import usecases
from webapp.app import create_app
from webapp.container import Container

PASSWORD = "a long password 1"
SECRET = "tok-SUPERSECRET-4711"
OTHER_SECRET = "tok-ANOTHERSECRET-0815"

GREETER = '''
"""Greets people (a test library)."""

import os

from modules.datastore import Entity, Field

VERSION = "1.0"
WORD = "Hello"


def register(registry):
    registry.info(version=VERSION, title="Greeter", description="Says hello to people.")
    registry.config("greeting", "text", help="How a greeting starts.")
    registry.config("repeat", "integer", default=1)
    registry.config("api_token", "secret", required=True, help="The greeting service token.")
    registry.config("legacy_key", "text", secret=True)
    registry.permission("greeter.admin", "Run the greeter's admin capability.")
    registry.entity(
        Entity(
            "greeter_visit",
            (Field("who", required=True, label="Who came"), Field("visits", "integer")),
            tenant_scoped=True,
            label="Visits",
        )
    )
    registry.event("greeter.greeted", "Someone was greeted.")

    @registry.capability(title="Greet someone")
    def greet(ctx, name: str, shout: bool = False) -> dict:
        """Says hello to someone.

        Args:
            name: Who to greet.
        """
        ctx.logger.info("greeting %s", name)
        text = f"{ctx.config.get('greeting') or WORD}, {name}"
        return {
            "text": text.upper() if shout else text,
            "version": VERSION,
            "pid": os.getpid(),
            "token_length": len(ctx.config.get("api_token") or ""),
            "legacy_length": len(ctx.config.get("legacy_key") or ""),
        }

    @registry.capability(
        title="Check a code",
        input_schema={
            "type": "object",
            "properties": {
                "code": {"type": "string", "pattern": "^[A-Z]{3}$", "description": "Three capitals."},
                "count": {"type": "integer", "minimum": 1, "default": 1},
                "note": {"type": ["string", "null"], "default": "none"},
            },
            "required": ["code"],
            "additionalProperties": False,
        },
        output_schema={"type": "object"},
    )
    def check(code, count=1, note="none"):
        """Checks a three-letter code."""
        return {"code": code, "count": count, "note": note}

    @registry.capability(title="Explode")
    def explode(reason: str = "on purpose") -> None:
        """Always fails."""
        raise RuntimeError(f"exploded {reason}")

    @registry.capability(title="Admin only", permission="greeter.admin")
    def admin_only() -> str:
        """Needs greeter.admin."""
        return "admin ok"
'''

# Declares valid things, then fails: none of them may be registered.
BROKEN = """
def register(registry):
    registry.info(version="0.1", title="Broken")
    registry.permission("broken.special", "Never registered.")

    @registry.capability
    def works() -> str:
        return "never reachable"

    raise RuntimeError("the broken library cannot start: missing FROBNICATOR")
"""


def write_library(libs: Path, name: str, source: str) -> None:
    """A package folder `libs/name` whose `__init__.py` is `source`."""
    folder = libs / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "__init__.py").write_text(textwrap.dedent(source), encoding="utf-8")


class Site(NamedTuple):
    """The running app, its services and who can sign in."""

    services: Container
    web: TestClient
    libs: Path
    pages: list[str]
    customer_account: int
    customer_admin: int
    owner: int


def _record(pages: list[str]) -> Callable[[Any], None]:
    # The response is the test client's (httpx2 or httpx, whichever Starlette uses).
    def keep(response: Any) -> None:
        response.read()
        pages.append(response.text)

    return keep


def client_for(app: Any, pages: list[str]) -> TestClient:
    """A TestClient that keeps the text of every response it receives."""
    client = TestClient(app)
    client.event_hooks = {"request": [], "response": [_record(pages)]}
    return client


@pytest.fixture(name="site")
def fixture_site(tmp_path: Path) -> Iterator[Site]:
    """A platform Owner, a customer Admin, the greeter and broken libraries on disk."""
    libs = tmp_path / "libs"
    write_library(libs, "greeter", GREETER)
    write_library(libs, "broken", BROKEN)
    services = Container.build(
        make_settings(tmp_path / "data", BCRYPT_ROUNDS="4", LIBRARIES_DIR=str(libs))
    )
    owner = usecases.create_owner(services, "Operators", "owner@example.com", "Owner", PASSWORD)
    customer = services.tenants.create_account("Customer Co")
    admin = services.tenants.create_user(
        customer, "admin@customer.test", "Cai", password=PASSWORD, role_names=("Admin",)
    )
    pages: list[str] = []
    app = create_app(container=services)
    with client_for(app, pages) as web:
        yield Site(services, web, libs, pages, customer, admin, owner)
    services.close()


def owner_client(site: Site) -> TestClient:
    """The site's client, signed in as the platform Owner."""
    assert sign_in(site.web, "owner@example.com", PASSWORD).status_code == 303
    return site.web


def other_client(site: Site, username: str) -> TestClient:
    """A second browser on the same app (no second lifespan), signed in."""
    client = client_for(site.web.app, site.pages)
    assert sign_in(client, username, PASSWORD).status_code == 303
    return client


def post(client: TestClient, path: str, data: dict | None = None, page: str | None = None):
    """POST a form with the CSRF token of `page` (default: `path`'s library page)."""
    token = csrf(client, page or "/libraries/")
    return client.post(path, data={**(data or {}), "csrf_token": token}, follow_redirects=False)


def add(client: TestClient, ref: str):
    """Submit the "Add a library" form."""
    return post(client, "/libraries/", {"ref": ref})


def try_it(client: TestClient, name: str, data: dict, htmx: bool = False):
    """Submit a capability's "Try it" form (as htmx targeting #try-it, or plainly)."""
    token = csrf(client, f"/capabilities/{name}")
    headers = {"HX-Request": "true", "HX-Target": "try-it"} if htmx else {}
    return client.post(
        f"/capabilities/{name}/try", data={**data, "csrf_token": token}, headers=headers
    )


def assert_no_secret(site: Site, *secrets: str) -> None:
    """No response the clients received so far carries any of `secrets`."""
    assert site.pages, "no pages were recorded"
    for text in site.pages:
        for secret in secrets or (SECRET, OTHER_SECRET):
            assert secret not in text


def text_of(html: str) -> str:
    """The page's text without tags, whitespace collapsed."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


# --- list ----------------------------------------------------------------------


def test_list_shows_the_built_in_libraries(site: Site) -> None:
    web = owner_client(site)
    page = web.get("/libraries/")
    assert page.status_code == 200
    for name in ("util", "http", "email"):
        assert f'href="/libraries/{name}"' in page.text
    assert page.text.count("built in") >= 3
    util_row = re.search(r'<tr>\s*<td>\s*<a href="/libraries/util">.*?</tr>', page.text, re.S)
    assert util_row and "loaded" in util_row.group(0)
    assert 'class="num">4<' in util_row.group(0)  # noop, set, delay, fail
    assert "in-process" in util_row.group(0)
    assert "Add a library" in page.text
    assert "greeter" not in page.text


def test_a_built_in_library_has_no_actions_and_refuses_them(site: Site) -> None:
    web = owner_client(site)
    page = web.get("/libraries/util")
    assert page.status_code == 200
    assert "util.noop" in page.text and "built in" in page.text
    assert "/libraries/util/disable" not in page.text
    assert "/libraries/util/remove" not in page.text
    response = post(web, "/libraries/util/disable")
    assert response.status_code == 303
    assert "built in and cannot be changed" in web.get(response.headers["location"]).text
    assert site.services.libraries.capability("util.noop") is not None
    response = post(web, "/libraries/util/remove")
    assert "cannot be removed" in web.get(response.headers["location"]).text
    assert site.services.libraries.library("util") is not None


# --- add --------------------------------------------------------------------------


def test_add_a_folder_library_shows_what_it_registered(site: Site) -> None:
    web = owner_client(site)
    response = add(web, "greeter")
    assert response.status_code == 303
    assert response.headers["location"] == "/libraries/greeter"
    page = web.get("/libraries/greeter")
    assert "greeter is added and loaded." in page.text
    text = text_of(page.text)
    assert "Says hello to people." in text
    assert "loaded" in text and "1.0" in text
    for cap in ("greeter.greet", "greeter.check", "greeter.explode", "greeter.admin_only"):
        assert f'href="/capabilities/{cap}"' in page.text
    for perm in ("greeter.admin", "greeter.use", "greeter_visit.view", "greeter_visit.manage"):
        assert f"<code>{perm}</code>" in page.text
    assert "greeter_visit" in text and "Who came" in text and "per account" in text
    assert "greeter.greeted" in text and "Someone was greeted." in text
    for action in ("reload", "disable", "remove", "mode", "config"):
        assert f'action="/libraries/greeter/{action}"' in page.text

    listing = web.get("/libraries/").text
    row = re.search(r'<tr>\s*<td>\s*<a href="/libraries/greeter">.*?</tr>', listing, re.S)
    assert row and "Greeter" in row.group(0) and "loaded" in row.group(0)
    assert 'class="num">4<' in row.group(0)


def test_a_library_that_fails_to_load_shows_its_error_and_registers_nothing(site: Site) -> None:
    web = owner_client(site)
    response = add(web, "broken")
    assert response.status_code == 303
    page = web.get(response.headers["location"])
    assert "failed to load" in page.text
    assert "missing FROBNICATOR" in page.text
    assert "badge bad" in page.text and ">failed<" in page.text
    listing = web.get("/libraries/").text
    row = re.search(r'<tr>\s*<td>\s*<a href="/libraries/broken">.*?</tr>', listing, re.S)
    assert row and "missing FROBNICATOR" in row.group(0) and ">failed<" in row.group(0)
    libraries = site.services.libraries
    assert libraries.capability("broken.works") is None
    assert "broken.special" not in site.services.permissions
    assert "broken.use" not in site.services.permissions
    assert "broken.works" not in web.get("/capabilities/").text

    # Fixed on disk, then reloaded: it loads.
    fixed = BROKEN.replace('raise RuntimeError("the broken library cannot start', '("fixed')
    write_library(site.libs, "broken", fixed)
    assert post(web, "/libraries/broken/reload").status_code == 303
    page = web.get("/libraries/broken")
    assert "Broken is reloaded." in page.text and ">loaded<" in page.text
    assert "missing FROBNICATOR" not in page.text
    assert libraries.capability("broken.works") is not None
    assert "broken.special" in site.services.permissions


def test_add_refuses_bad_references_inline(site: Site) -> None:
    web = owner_client(site)
    blank = add(web, "  ")
    assert blank.status_code == 400
    assert re.search(r'class="error"[^>]*>Enter a folder name or an import name.<', blank.text)
    bad = add(web, "../etc/passwd")
    assert bad.status_code == 400
    assert "is not an import name" in bad.text
    assert 'aria-invalid="true"' in bad.text
    assert add(web, "greeter").status_code == 303
    twice = add(web, "greeter")
    assert twice.status_code == 400
    assert "already added" in twice.text
    assert "already added" in add(web, "util").text
    assert [v["name"] for v in site.services.libraries.libraries()].count("greeter") == 1
    # An import name that is not installed is kept as failed, to fix and reload.
    missing = add(web, "switchboard_not_installed")
    assert missing.headers["location"] == "/libraries/switchboard_not_installed"
    page = web.get(missing.headers["location"]).text
    assert "ModuleNotFoundError" in page and "package <code>switchboard_not_installed" in page


# --- enable, disable, reload, remove, mode --------------------------------------------


def _configure(web: TestClient, **values: str):
    data = {"greeting": "", "repeat": "1", "api_token": "", "legacy_key": "", **values}
    return post(web, "/libraries/greeter/config", data, page="/libraries/greeter")


def test_disable_enable_reload_and_remove(site: Site) -> None:
    web = owner_client(site)
    add(web, "greeter")
    _configure(web, api_token=SECRET)
    first = try_it(web, "greeter.greet", {"name": "Ada"})
    assert "Hello, Ada" in first.text and "&#34;version&#34;: &#34;1.0&#34;" in first.text

    assert post(web, "/libraries/greeter/disable").status_code == 303
    page = web.get("/libraries/greeter")
    assert "Greeter is disabled." in page.text or "greeter is disabled." in page.text
    assert ">disabled<" in page.text
    assert 'action="/libraries/greeter/enable"' in page.text
    assert web.get("/capabilities/greeter.greet").status_code == 404
    assert "greeter.greet" not in web.get("/capabilities/").text

    assert post(web, "/libraries/greeter/enable").status_code == 303
    assert "is enabled." in web.get("/libraries/greeter").text
    assert web.get("/capabilities/greeter.greet").status_code == 200

    # Reload picks up edited code: the same form now answers differently.
    write_library(
        site.libs,
        "greeter",
        GREETER.replace('VERSION = "1.0"', 'VERSION = "2.0-edited"').replace(
            'WORD = "Hello"', 'WORD = "Good morning"'
        ),
    )
    assert "Hello, Ada" in try_it(web, "greeter.greet", {"name": "Ada"}).text
    assert post(web, "/libraries/greeter/reload").status_code == 303
    page = web.get("/libraries/greeter")
    assert "is reloaded." in page.text and "2.0-edited" in page.text
    second = try_it(web, "greeter.greet", {"name": "Ada"})
    assert "Good morning, Ada" in second.text and "2.0-edited" in second.text

    # A reload that breaks the library fails only that library.
    write_library(site.libs, "greeter", "def register(registry):\n    raise ValueError('oops')\n")
    post(web, "/libraries/greeter/reload")
    page = web.get("/libraries/greeter")
    assert "failed to load" in page.text and "ValueError: oops" in page.text
    assert web.get("/capabilities/greeter.greet").status_code == 404
    assert web.get("/capabilities/util.noop").status_code == 200

    response = post(web, "/libraries/greeter/remove")
    assert response.status_code == 303 and response.headers["location"] == "/libraries/"
    assert "is removed" in web.get("/libraries/").text
    assert 'href="/libraries/greeter"' not in web.get("/libraries/").text
    assert web.get("/libraries/greeter").status_code == 404
    assert post(web, "/libraries/greeter/reload").status_code == 404
    assert_no_secret(site)


def test_mode_switch_to_subprocess_keeps_try_it_working(site: Site) -> None:
    web = owner_client(site)
    add(web, "greeter")
    _configure(web, api_token=SECRET, greeting="Ahoy")
    in_process = try_it(web, "greeter.greet", {"name": "Bo"})
    assert f"&#34;pid&#34;: {os.getpid()}" in in_process.text

    response = post(web, "/libraries/greeter/mode", {"mode": "subprocess"})
    assert response.status_code == 303
    page = web.get("/libraries/greeter")
    assert "now runs in a subprocess." in page.text
    assert "Run in-process" in page.text
    assert site.services.libraries.library("greeter")["mode"] == "subprocess"
    assert "subprocess" in text_of(web.get("/libraries/").text)

    result = try_it(web, "greeter.greet", {"name": "Bo"})
    assert result.status_code == 200
    assert "Ahoy, Bo" in result.text
    assert f"&#34;token_length&#34;: {len(SECRET)}" in result.text
    pid = int(re.search(r"&#34;pid&#34;: (\d+)", result.text).group(1))
    assert pid != os.getpid()
    assert "greeting Bo" in result.text  # the worker's log line came back

    failed = try_it(web, "greeter.explode", {"reason": "far away"})
    assert failed.status_code == 502
    assert "exploded far away" in failed.text

    post(web, "/libraries/greeter/mode", {"mode": "thread"})
    assert "now runs in-process." in web.get("/libraries/greeter").text
    back = try_it(web, "greeter.greet", {"name": "Bo"})
    assert f"&#34;pid&#34;: {os.getpid()}" in back.text

    post(web, "/libraries/greeter/mode", {"mode": "warp"})
    assert "must be one of" in web.get("/libraries/greeter").text
    assert site.services.libraries.library("greeter")["mode"] == "thread"
    assert_no_secret(site)


# --- config form --------------------------------------------------------------------


def test_config_form_saves_values_and_never_shows_secrets(site: Site) -> None:
    web = owner_client(site)
    add(web, "greeter")
    page = web.get("/libraries/greeter")
    form = re.search(
        r'<form method="post" action="/libraries/greeter/config".*?</form>', page.text, re.S
    )
    assert form, "the config form is missing"
    assert 'name="greeting"' in form.group(0) and 'name="repeat"' in form.group(0)
    assert 'type="password"' in form.group(0)
    assert "not set" in form.group(0)

    # Required secret missing: the error sits next to the field, nothing is saved.
    missing = _configure(web, greeting="Howdy")
    assert missing.status_code == 400
    assert re.search(r'id="api_token-error">is required<', missing.text)
    assert 'value="Howdy"' in missing.text
    assert site.services.libraries.config_values("greeter")["greeting"] is None

    # A form error elsewhere: the typed secrets are not sent back.
    bad = _configure(
        web, greeting="Howdy", repeat="many", api_token=SECRET, legacy_key=OTHER_SECRET
    )
    assert bad.status_code == 400
    assert "Enter a whole number." in bad.text
    assert SECRET not in bad.text and OTHER_SECRET not in bad.text
    assert site.services.libraries.config_values("greeter")["api_token"] is False

    saved = _configure(web, greeting="Howdy", repeat="3", api_token=SECRET, legacy_key=OTHER_SECRET)
    assert saved.status_code == 303
    page = web.get("/libraries/greeter")
    assert "The settings of Greeter are saved." in page.text
    assert 'value="Howdy"' in page.text and 'value="3"' in page.text
    assert page.text.count('<span class="badge ok">set</span>') == 2
    values = site.services.libraries.config_values("greeter")
    assert values == {"greeting": "Howdy", "repeat": 3, "api_token": True, "legacy_key": True}
    out = try_it(web, "greeter.greet", {"name": "Cy"}).text
    assert "Howdy, Cy" in out
    assert f"&#34;token_length&#34;: {len(SECRET)}" in out
    assert f"&#34;legacy_length&#34;: {len(OTHER_SECRET)}" in out

    # Blank secrets keep the stored ones.
    kept = _configure(web, greeting="Hiya", repeat="2")
    assert kept.status_code == 303
    out = try_it(web, "greeter.greet", {"name": "Cy"}).text
    assert "Hiya, Cy" in out and f"&#34;token_length&#34;: {len(SECRET)}" in out
    assert site.services.libraries.config_values("greeter")["api_token"] is True

    # A failed save after secrets are stored still shows neither.
    again = _configure(web, repeat="x", api_token=OTHER_SECRET)
    assert again.status_code == 400 and OTHER_SECRET not in again.text
    for path in (
        "/libraries/",
        "/libraries/greeter",
        "/capabilities/",
        "/capabilities/greeter.greet",
    ):
        assert web.get(path).status_code == 200
    assert_no_secret(site)


def test_config_field_errors_from_the_manager_are_shown(site: Site) -> None:
    web = owner_client(site)
    add(web, "greeter")
    response = post(
        web,
        "/libraries/greeter/config",
        {"greeting": "x", "repeat": "1", "api_token": SECRET, "nonsense": "1"},
        page="/libraries/greeter",
    )
    # Unknown inputs are ignored by the generated form: the save works.
    assert response.status_code == 303
    disabled = post(web, "/libraries/greeter/disable")
    assert disabled.status_code == 303
    page = web.get("/libraries/greeter")
    assert "Settings are shown once the library is enabled" in page.text
    refused = post(web, "/libraries/greeter/config", {"greeting": "y"}, page="/libraries/greeter")
    assert refused.status_code == 303
    assert "no settings to change right now" in web.get("/libraries/greeter").text
    assert_no_secret(site, SECRET)


# --- who may see it ---------------------------------------------------------------------


def test_customer_admin_gets_403_but_can_use_the_catalogue(site: Site) -> None:
    owner = owner_client(site)
    add(owner, "greeter")
    admin = other_client(site, "admin@customer.test")
    assert admin.get("/libraries/").status_code == 403
    assert admin.get("/libraries/greeter").status_code == 403
    token = csrf(admin, "/capabilities/")
    refused = admin.post("/libraries/", data={"ref": "broken", "csrf_token": token})
    assert refused.status_code == 403
    assert admin.post("/libraries/greeter/disable", data={"csrf_token": token}).status_code == 403
    assert site.services.libraries.library("broken") is None
    assert site.services.libraries.library("greeter")["enabled"] is True
    catalogue = admin.get("/capabilities/")
    assert catalogue.status_code == 200 and "greeter.greet" in catalogue.text
    assert 'href="/libraries/' not in admin.get("/capabilities/greeter.greet").text


def test_platform_admin_sees_libraries_but_cannot_change_them(site: Site) -> None:
    owner = owner_client(site)
    add(owner, "greeter")
    _configure(owner, greeting="Howdy", api_token=SECRET)
    platform = site.services.tenants.platform_account_id()
    site.services.tenants.create_user(
        platform, "staff@example.com", "Staff", password=PASSWORD, role_names=("Admin",)
    )
    staff = other_client(site, "staff@example.com")
    listing = staff.get("/libraries/")
    assert listing.status_code == 200 and "Greeter" in listing.text
    assert "Add a library" not in listing.text
    page = staff.get("/libraries/greeter")
    assert page.status_code == 200
    assert "/libraries/greeter/disable" not in page.text
    assert "/libraries/greeter/config" not in page.text
    assert "Howdy" in page.text and ">set<" in page.text
    token = csrf(staff, "/libraries/")
    assert staff.post("/libraries/greeter/disable", data={"csrf_token": token}).status_code == 403
    assert staff.post("/libraries/", data={"ref": "broken", "csrf_token": token}).status_code == 403
    assert_no_secret(site, SECRET)
