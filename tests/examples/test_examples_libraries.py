"""The sample libraries in examples/ load through the real library manager,
built as the app builds it, in-process and in a worker process: every
capability with good and bad parameters, tenant isolation, the secret
token, the export permission and the template sandbox."""

from __future__ import annotations

import contextlib
import csv
import hashlib
import hmac
import io
import logging
import shutil
from pathlib import Path
from typing import Any, Iterator

import pytest

from modules.libraries.invoker import InvokeResult
from tests.conftest import make_settings
from webapp.container import Container

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
TOKEN = "tok-3f9c1e77a5b24d0e-never-shown"
OWNER = "owner@example.com"
USE = frozenset({"crm.use", "texttools.use"})
ALL = USE | {"crm.export"}


@contextlib.contextmanager
def open_services(tmp_path: Path, mode: str, configure: bool = True) -> Iterator[Container]:
    """A container on tmp_path with both examples copied into LIBRARIES_DIR,
    added, switched to `mode` and (optionally) configured."""
    libs = tmp_path / "libs"
    for name in ("crm", "texttools"):
        shutil.copytree(EXAMPLES / name, libs / name, ignore=shutil.ignore_patterns("__pycache__"))
    settings = make_settings(tmp_path / "data", BCRYPT_ROUNDS="4", LIBRARIES_DIR=str(libs))
    services = Container.build(settings)
    try:
        services.libraries.start()
        for name in ("crm", "texttools"):
            row = services.libraries.add(name)
            assert row["status"] == "loaded", row
            if mode != "thread":
                services.libraries.set_mode(name, mode)
            view = services.libraries.library(name)
            assert (view["mode"], view["loaded"]) == (mode, True), view
        if configure:
            services.libraries.configure("crm", {"api_token": TOKEN, "default_owner": OWNER})
        yield services
    finally:
        services.close()


@pytest.fixture(name="services", params=["thread", "subprocess"])
def fixture_services(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Container]:
    """Both examples loaded and crm configured, in each mode."""
    with open_services(tmp_path, request.param) as services:
        yield services


@pytest.fixture(name="account")
def fixture_account(services: Container) -> int:
    """A customer account to call the CRM for."""
    return services.tenants.create_account("Acme")


def call(
    services: Container,
    name: str,
    params: dict[str, Any],
    account: int | None = None,
    permissions: frozenset[str] = ALL,
) -> InvokeResult:
    """Invoke a capability as a user of `account` holding `permissions`."""
    return services.libraries.invoke(
        name, params, permissions=permissions, account_id=account, user_id=None
    )


def ok(result: InvokeResult) -> Any:
    """The output of a call that must have worked."""
    assert result.ok, (result.kind, result.error, dict(result.fields))
    return result.output


def test_both_examples_load_with_what_they_declare(services: Container) -> None:
    crm = services.libraries.library("crm")
    assert (crm["status"], crm["loaded"], crm["version"], crm["title"]) == (
        "loaded",
        True,
        "1.0.0",
        "CRM",
    )
    assert crm["description"]
    assert [c.name for c in crm["capabilities"]] == [
        "crm.create_contact",
        "crm.find_contacts",
        "crm.export_contacts",
    ]
    fields = {spec.name: spec for spec in crm["config_fields"]}
    assert (fields["api_token"].type, fields["api_token"].secret) == ("secret", True)
    assert fields["api_token"].required and fields["api_token"].help
    assert (fields["default_owner"].type, fields["default_owner"].required) == ("email", False)
    assert (fields["page_size"].type, fields["page_size"].default) == ("integer", 25)
    (entity,) = crm["entities"]
    assert entity.name == "crm_contact" and entity.tenant_scoped
    assert entity.search_fields == ("name", "email", "company")
    assert [e.name for e in crm["events"]] == ["crm.contact_created"]
    keys = {p.key: p for p in crm["permissions"]}
    assert set(keys) == {"crm.use", "crm.export", "crm_contact.view", "crm_contact.manage"}
    assert keys["crm.export"].roles == ("Admin",)
    texttools = services.libraries.library("texttools")
    assert (texttools["status"], texttools["loaded"]) == ("loaded", True)
    assert [c.name for c in texttools["capabilities"]] == [
        "texttools.slugify",
        "texttools.render",
        "texttools.count_words",
    ]
    assert {p.key for p in texttools["permissions"]} == {"texttools.use"}


def test_schemas_come_from_type_hints_and_docstrings(services: Container) -> None:
    create = services.libraries.capability("crm.create_contact")
    assert create is not None and create.takes_context
    assert create.input_schema["required"] == ["name", "email"]
    props = create.input_schema["properties"]
    assert props["vip"] == {
        "title": "Vip",
        "description": "Whether they get special attention.",
        "type": "boolean",
        "default": False,
    }
    assert create.description.startswith("Adds a contact")
    assert create.output_schema["properties"]["id"] == {"type": "integer"}
    export = services.libraries.capability("crm.export_contacts")
    assert export is not None and export.permission == "crm.export" and export.timeout == 120
    slugify = services.libraries.capability("texttools.slugify")
    assert slugify is not None and not slugify.takes_context
    assert slugify.input_schema["properties"]["max_length"]["default"] == 80


# --- crm -----------------------------------------------------------------


def test_create_contact_stores_emits_and_logs(services: Container, account: int) -> None:
    seen: list[tuple[str, dict[str, Any]]] = []
    result = services.libraries.invoke(
        "crm.create_contact",
        {"name": " Ada Lovelace ", "email": "Ada@Example.com", "company": "Analytical"},
        permissions=ALL,
        account_id=account,
        event_sink=lambda name, payload: seen.append((name, payload)),
    )
    contact = ok(result)
    assert contact["name"] == "Ada Lovelace" and contact["email"] == "ada@example.com"
    assert (contact["company"], contact["vip"], contact["notes"]) == ("Analytical", False, None)
    assert isinstance(contact["id"], int) and contact["created_at"].startswith("20")
    assert result.events == (("crm.contact_created", {**contact, "owner": OWNER}),)
    assert seen == list(result.events)
    assert any("created contact" in message for _, message in result.logs)
    stored = services.store.dao("crm_contact").get(account, contact["id"])
    assert stored is not None and stored["email"] == "ada@example.com"


def test_create_contact_refuses_bad_params_as_fields(services: Container, account: int) -> None:
    missing = call(services, "crm.create_contact", {}, account)
    assert (missing.kind, dict(missing.fields)) == (
        "validation",
        {"name": "is required", "email": "is required"},
    )
    wrong = call(
        services,
        "crm.create_contact",
        {"name": 5, "email": "a@example.com", "vip": "yes", "colour": "red"},
        account,
    )
    assert wrong.kind == "validation"
    assert dict(wrong.fields) == {
        "name": "must be text",
        "vip": "must be true or false",
        "colour": "is not allowed",
    }
    assert call(services, "crm.create_contact", [], account).kind == "validation"  # type: ignore


def test_create_contact_explains_what_the_schema_cannot(services: Container, account: int) -> None:
    bad_email = call(services, "crm.create_contact", {"name": "Ada", "email": "nope"}, account)
    assert (bad_email.kind, bad_email.error) == (
        "error",
        "ValueError: 'nope' is not an email address",
    )
    blank = call(services, "crm.create_contact", {"name": "  ", "email": "a@example.com"}, account)
    assert blank.error == "ValueError: name must not be blank"
    ok(call(services, "crm.create_contact", {"name": "Ada", "email": "a@example.com"}, account))
    again = call(services, "crm.create_contact", {"name": "Ada", "email": "A@example.com"}, account)
    assert again.error == "ValueError: there is already a contact with the email a@example.com"
    no_account = call(services, "crm.create_contact", {"name": "Ada", "email": "b@example.com"})
    assert no_account.kind == "error" and "per account" in no_account.error


def test_find_contacts_searches_filters_and_limits(services: Container, account: int) -> None:
    for name, email, company, vip in (
        ("Grace Hopper", "grace@navy.example", "Navy", True),
        ("Ada Lovelace", "ada@example.com", "Analytical", False),
        ("Alan Turing", "alan@example.org", "Bletchley", True),
    ):
        params = {"name": name, "email": email, "company": company, "vip": vip}
        ok(call(services, "crm.create_contact", params, account))
    everyone = ok(call(services, "crm.find_contacts", {}, account))
    assert [c["name"] for c in everyone["contacts"]] == [
        "Ada Lovelace",
        "Alan Turing",
        "Grace Hopper",
    ]
    assert (everyone["count"], everyone["total"]) == (3, 3)
    navy = ok(call(services, "crm.find_contacts", {"query": "navy"}, account))
    assert [c["name"] for c in navy["contacts"]] == ["Grace Hopper"]
    vips = ok(call(services, "crm.find_contacts", {"vip_only": True, "limit": 1}, account))
    assert [c["name"] for c in vips["contacts"]] == ["Alan Turing"]
    assert (vips["count"], vips["total"]) == (1, 2)


def test_find_contacts_refuses_bad_params(services: Container, account: int) -> None:
    wrong = call(services, "crm.find_contacts", {"limit": "ten", "vip_only": 1}, account)
    assert (wrong.kind, dict(wrong.fields)) == (
        "validation",
        {"limit": "must be a whole number", "vip_only": "must be true or false"},
    )
    unknown = call(services, "crm.find_contacts", {"q": "ada"}, account)
    assert dict(unknown.fields) == {"q": "is not allowed"}
    zero = call(services, "crm.find_contacts", {"limit": 0}, account)
    assert (zero.kind, zero.error) == ("error", "ValueError: limit must be between 1 and 200")


def test_contacts_of_one_account_are_invisible_to_another(services: Container) -> None:
    acme = services.tenants.create_account("Acme")
    globex = services.tenants.create_account("Globex")
    ok(call(services, "crm.create_contact", {"name": "Ada", "email": "ada@acme.example"}, acme))
    # The same address is free in another account: uniqueness is per account.
    ok(call(services, "crm.create_contact", {"name": "Ada", "email": "ada@acme.example"}, globex))
    ok(call(services, "crm.create_contact", {"name": "Bob", "email": "bob@acme.example"}, acme))
    in_acme = ok(call(services, "crm.find_contacts", {}, acme))
    in_globex = ok(call(services, "crm.find_contacts", {"query": "bob"}, globex))
    assert [c["name"] for c in in_acme["contacts"]] == ["Ada", "Bob"]
    assert (in_globex["contacts"], in_globex["total"]) == ([], 0)
    assert ok(call(services, "crm.export_contacts", {}, globex))["count"] == 1
    newcomer = services.tenants.create_account("Initech")
    assert ok(call(services, "crm.find_contacts", {}, newcomer))["total"] == 0


def test_export_needs_the_export_permission(services: Container, account: int) -> None:
    denied = call(services, "crm.export_contacts", {}, account, permissions=USE)
    assert denied.kind == "permission" and "crm.export" in denied.error
    also_denied = call(services, "crm.find_contacts", {}, account, permissions=frozenset())
    assert also_denied.kind == "permission" and "crm.use" in also_denied.error
    extra = call(services, "crm.export_contacts", {"format": "xml"}, account)
    assert (extra.kind, dict(extra.fields)) == ("validation", {"format": "is not allowed"})


def test_export_is_csv_signed_with_the_token(services: Container, account: int) -> None:
    services.libraries.configure("crm", {"page_size": 2})  # three contacts: two pages
    for name, email in (("Ada", "ada@example.com"), ("=cmd|calc", "x@example.com")):
        ok(call(services, "crm.create_contact", {"name": name, "email": email}, account))
    ok(call(services, "crm.create_contact", {"name": "Bob", "email": "b@example.com"}, account))
    export = ok(call(services, "crm.export_contacts", {}, account))
    assert (export["count"], export["signed"]) == (3, True)
    rows = list(csv.reader(io.StringIO(export["csv"])))
    assert rows[0] == ["id", "name", "email", "company", "vip", "notes", "created_at"]
    assert [row[1] for row in rows[1:]] == ["Ada", "'=cmd|calc", "Bob"]  # never a formula
    expected = hmac.new(TOKEN.encode(), export["csv"].encode(), hashlib.sha256).hexdigest()
    assert export["signature"] == f"sha256={expected}"


def test_export_without_a_token_says_what_to_do(tmp_path: Path) -> None:
    with open_services(tmp_path, "thread", configure=False) as services:
        account = services.tenants.create_account("Acme")
        result = call(services, "crm.export_contacts", {}, account)
    assert result.kind == "error"
    assert result.error == (
        "ValueError: the CRM has no api_token yet: set it on the Libraries screen"
    )


def test_the_api_token_never_leaves(
    services: Container, account: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    results = [
        call(services, "crm.create_contact", {"name": "Ada", "email": "ada@example.com"}, account),
        call(services, "crm.create_contact", {"name": "Ada", "email": "ada@example.com"}, account),
        call(services, "crm.create_contact", {"name": 1}, account),
        call(services, "crm.find_contacts", {"query": "ada"}, account),
        call(services, "crm.find_contacts", {"limit": -1}, account),
        call(services, "crm.export_contacts", {}, account),
        call(services, "crm.export_contacts", {}, account, permissions=USE),
        call(services, "crm.export_contacts", {}),
    ]
    assert [r.ok for r in results] == [True, False, False, True, False, True, False, False]
    for result in results:
        assert TOKEN not in repr(result)
    assert TOKEN not in caplog.text
    values = services.libraries.config_values("crm")
    assert values == {"api_token": True, "default_owner": OWNER, "page_size": 25}
    assert TOKEN not in repr(services.libraries.library("crm"))
    stored = services.libraries.state.get("crm")
    assert stored is not None and stored["config"]["api_token"].startswith("enc:")
    assert TOKEN not in repr(stored)


# --- texttools -------------------------------------------------------------


def test_slugify(services: Container) -> None:
    text = "Héllo, Wörld! — ça va?"
    assert ok(call(services, "texttools.slugify", {"text": text})) == {"slug": "hello-world-ca-va"}
    short = {"text": text, "max_length": 6}
    assert ok(call(services, "texttools.slugify", short)) == {"slug": "hello"}
    wrong = call(services, "texttools.slugify", {"text": 3, "max_length": "long"})
    assert (wrong.kind, dict(wrong.fields)) == (
        "validation",
        {"text": "must be text", "max_length": "must be a whole number"},
    )
    zero = call(services, "texttools.slugify", {"text": "x", "max_length": 0})
    assert (zero.kind, zero.error) == ("error", "ValueError: max_length must be at least 1")
    denied = call(services, "texttools.slugify", {"text": "x"}, permissions=frozenset({"crm.use"}))
    assert denied.kind == "permission"


def test_count_words(services: Container) -> None:
    counts = ok(call(services, "texttools.count_words", {"text": "one two\nthree  four\n"}))
    assert counts == {"words": 4, "characters": 20, "lines": 2}
    empty = ok(call(services, "texttools.count_words", {"text": ""}))
    assert empty == {"words": 0, "characters": 0, "lines": 0}
    missing = call(services, "texttools.count_words", {})
    assert (missing.kind, dict(missing.fields)) == ("validation", {"text": "is required"})


def test_render(services: Container) -> None:
    params = {
        "template": "Hello {{ name | title }}{% for t in tags %} #{{ t }}{% endfor %}",
        "values": {"name": "ada lovelace", "tags": ["math", "poetry"]},
    }
    assert ok(call(services, "texttools.render", params)) == {
        "text": "Hello Ada Lovelace #math #poetry"
    }
    wrong = call(services, "texttools.render", {"template": ["x"], "values": []})
    assert (wrong.kind, dict(wrong.fields)) == (
        "validation",
        {"template": "must be text", "values": "must be an object"},
    )
    missing = call(services, "texttools.render", {"template": "x"})
    assert dict(missing.fields) == {"values": "is required"}


@pytest.mark.parametrize(
    ("template", "error"),
    [
        ("Hi {{ nobody }}", "uses a value it was not given: 'nobody' is undefined"),
        ("{% if %}", "has an error on line 1: Expected an expression"),
        ("{{ 1 / 0 }}", "failed: ZeroDivisionError: division by zero"),
    ],
)
def test_render_explains_template_errors(services: Container, template: str, error: str) -> None:
    result = call(services, "texttools.render", {"template": template, "values": {}})
    assert result.kind == "error"
    assert result.error.startswith(f"ValueError: the template {error}")


@pytest.mark.parametrize(
    "template",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ cycler.__init__.__globals__.os }}",
        "{{ self._TemplateReference__context }}",
        "{{ values.clear() }}",
        "{{ 'x' * 100000000 }}",
        "{{ 9 ** 9999999 }}",
    ],
)
def test_render_refuses_sandbox_escapes(services: Container, template: str) -> None:
    values = {"values": {"keep": "me"}}
    result = call(services, "texttools.render", {"template": template, "values": values})
    assert result.kind == "error"
    assert result.error.startswith("ValueError: the template tried something unsafe: ")
    assert values == {"values": {"keep": "me"}}
