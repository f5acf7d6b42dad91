"""The Workflows screens over HTTP: list, active search, enable/disable, "Run
now" with its payload, the JSON editor with its problems, versions, delete
(409 and force), export/import, webhook setup, read-only roles, tenant
isolation and escaping.

The fixtures here are shared with the runs and hooks tests."""

from __future__ import annotations

import json
import re
import time
from html import unescape
from typing import Any, NamedTuple

import pytest
from starlette.testclient import TestClient

from tests.webapp.helpers import csrf, sign_in
from webapp import usecases
from webapp.container import Container
from webapp.forms.workflows import EXAMPLE_DEFINITION

PASSWORD = "correct horse battery"
FINISHED = ("completed", "failed", "cancelled")


class Acme(NamedTuple):
    """The customer account under test and its people."""

    account_id: int
    admin: int
    member: int
    viewer: int


class Other(NamedTuple):
    """Another account with a workflow and a finished run, out of reach."""

    account_id: int
    workflow: int
    run: int


@pytest.fixture(name="acme")
def fixture_acme(services: Container) -> Acme:
    """The platform owner, and a customer account with an Admin, a Member and a Viewer."""
    usecases.create_owner(services, "Operators", "owner@ops.test", "Olive Owner", PASSWORD)
    account_id = services.tenants.create_account("Acme")
    people = [
        services.tenants.create_user(
            account_id, f"{role.lower()}@acme.test", f"{role} Person", password=PASSWORD,
            role_names=(role,),
        )  # fmt: skip
        for role in ("Admin", "Member", "Viewer")
    ]
    return Acme(account_id, *people)


@pytest.fixture(name="other")
def fixture_other(services: Container, web: TestClient) -> Other:
    """Globex, with a workflow that has run once (`web` starts the runner)."""
    assert web is not None
    account_id = services.tenants.create_account("Globex")
    services.tenants.create_user(
        account_id, "hank@globex.test", "Hank Scorpio", password=PASSWORD, role_names=("Owner",)
    )
    workflow = services.workflows.create(account_id, definition("Globex secret plan"))
    run = services.workflows.trigger(account_id, workflow["id"], {})
    assert run is not None
    wait_for_run(services, account_id, run)
    return Other(account_id, workflow["id"], run)


# --- helpers ---------------------------------------------------------------------------


def login(web: TestClient, who: str) -> str:
    """Sign in as `who@acme.test`; returns the session's CSRF token."""
    assert sign_in(web, f"{who}@acme.test", PASSWORD).status_code == 303
    return csrf(web, "/profile")


def post(web: TestClient, path: str, token: str, data: dict | None = None, **kwargs):
    """A form POST as a browser sends it (without following the redirect)."""
    return web.post(
        path, data={**(data or {}), "csrf_token": token}, follow_redirects=False, **kwargs
    )


def definition(name: str, *steps: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A workflow definition (one util.set step unless steps are given)."""
    chosen = steps or ({"id": "hello", "capability": "util.set", "params": {"text": "hi"}},)
    return {"name": name, "steps": list(chosen), **extra}


def delay_step(seconds: float, step_id: str = "wait") -> dict[str, Any]:
    """A util.delay step."""
    return {"id": step_id, "capability": "util.delay", "params": {"seconds": seconds}}


def wait_for_run(
    services: Container, account_id: int, run_id: int, statuses=FINISHED, timeout: float = 15.0
) -> dict[str, Any]:
    """The run once its status is one of `statuses` (the runner works in threads)."""
    deadline = time.monotonic() + timeout
    while True:
        run = services.workflows.get_run(account_id, run_id)
        assert run is not None
        if run["status"] in statuses:
            return run
        assert time.monotonic() < deadline, f"run {run_id} is still {run['status']}"
        time.sleep(0.05)


def textarea(html: str, name: str) -> str:
    """The (unescaped) text of a textarea."""
    match = re.search(rf'<textarea[^>]*name="{name}"[^>]*>(?:\r?\n)?(.*?)</textarea>', html, re.S)
    assert match, f"no textarea {name}"
    return unescape(match.group(1))


def workflow_count(services: Container, account_id: int) -> int:
    """How many workflows the account has."""
    return len(services.workflows.page(account_id, limit=200).items)


# --- list, search, toggles -----------------------------------------------------------


def test_list_shows_trigger_state_version_and_last_run(
    web: TestClient, services: Container, acme: Acme
) -> None:
    flows = services.workflows
    manual = flows.create(acme.account_id, definition("Manual one"))
    flows.create(
        acme.account_id,
        definition("Weekly report", trigger={"type": "schedule", "cron": "0 9 * * 1"}),
    )
    flows.create(
        acme.account_id,
        definition("On signup", trigger={"type": "event", "event": "account.created"}),
    )
    flows.create(acme.account_id, definition("Inbound", enabled=False, trigger={"type": "webhook"}))
    run = flows.trigger(acme.account_id, manual["id"], {})
    assert run is not None
    wait_for_run(services, acme.account_id, run)
    login(web, "viewer")

    page = web.get("/workflows/")
    assert page.status_code == 200
    rows = {
        name: row
        for row in re.findall(r"<tr>(.*?)</tr>", page.text, re.S)
        for name in re.findall(r'<a href="/workflows/\d+">([^<]+)</a>', row)
    }
    assert list(rows) == ["Inbound", "Manual one", "On signup", "Weekly report"]
    assert "<code>0 9 * * 1</code>" in rows["Weekly report"]
    assert "<code>account.created</code>" in rows["On signup"]
    assert "webhook" in rows["Inbound"] and "disabled" in rows["Inbound"]
    assert "enabled" in rows["Manual one"] and "completed" in rows["Manual one"]
    assert "never run" in rows["Weekly report"]


def test_active_search_returns_the_table_alone_for_htmx(
    web: TestClient, services: Container, acme: Acme
) -> None:
    for name in ("Invoice reminder", "Welcome mail", "Invoice export"):
        services.workflows.create(acme.account_id, definition(name))
    login(web, "viewer")

    full = web.get("/workflows/", params={"q": "invoice"})
    assert "<html" in full.text and 'value="invoice"' in full.text
    assert "Invoice reminder" in full.text and "Welcome mail" not in full.text

    partial = web.get(
        "/workflows/", params={"q": "welcome"}, headers={"HX-Target": "workflow-table"}
    )
    assert "<html" not in partial.text
    assert partial.text.lstrip().startswith('<div id="workflow-table">')
    assert "Welcome mail" in partial.text and "Invoice" not in partial.text
    assert partial.headers["vary"] == "HX-Target"

    none = web.get("/workflows/", params={"q": "nothing like it"})
    assert "No workflow matches" in none.text


def test_disable_and_enable_make_new_versions(
    web: TestClient, services: Container, acme: Acme
) -> None:
    workflow = services.workflows.create(acme.account_id, definition("Toggle me"))
    token = login(web, "admin")
    path = f"/workflows/{workflow['id']}"

    response = post(web, f"{path}/disable", token, {"next": "/workflows/?q=toggle"})
    assert response.status_code == 303 and response.headers["location"] == "/workflows/?q=toggle"
    current = services.workflows.get(acme.account_id, workflow["id"])
    assert current is not None and current["enabled"] is False and current["version"] == 2
    listing = web.get("/workflows/?q=toggle").text
    assert "Toggle me is disabled." in listing and ">Enable</button>" in listing

    # An outside `next` is ignored.
    response = post(web, f"{path}/enable", token, {"next": "https://evil.test/"})
    assert response.headers["location"] == "/workflows/"
    current = services.workflows.get(acme.account_id, workflow["id"])
    assert current is not None and current["enabled"] is True and current["version"] == 3


def test_a_toggle_that_the_module_refuses_is_explained(
    web: TestClient, services: Container, acme: Acme
) -> None:
    workflow = services.workflows.create(acme.account_id, definition("Orphan"))
    # Its capability disappeared since it was saved (say, a library was removed).
    gone = json.dumps(definition("Orphan", {"id": "hello", "capability": "gone.away"}))
    services.db.execute_write(
        "UPDATE workflow_version SET definition = ? WHERE workflow = ?", (gone, workflow["id"])
    )
    token = login(web, "admin")
    response = post(web, f"/workflows/{workflow['id']}/disable", token)
    assert response.status_code == 303
    listing = web.get("/workflows/").text
    assert "Orphan cannot be changed" in listing or "Orphan is disabled." in listing


def test_run_now_queues_a_run_with_the_payload(
    web: TestClient, services: Container, acme: Acme
) -> None:
    workflow = services.workflows.create(
        acme.account_id,
        definition(
            "Greeter",
            {"id": "greet", "capability": "util.set", "params": {"text": "hi ${trigger.name}"}},
        ),
    )
    token = login(web, "member")
    assert "Run now" in web.get("/workflows/").text

    response = post(web, f"/workflows/{workflow['id']}/run", token, {"payload": '{"name": "Ada"}'})
    assert response.status_code == 303
    run_id = int(response.headers["location"].rsplit("/", 1)[1])
    assert response.headers["location"] == f"/runs/{run_id}"
    run = wait_for_run(services, acme.account_id, run_id)
    assert run["status"] == "completed" and run["trigger_payload"] == {"name": "Ada"}
    assert run["trigger_type"] == "manual" and run["created_by"] == acme.member
    assert run["steps"][0]["output"] == {"text": "hi Ada"}
    # An empty payload is an empty object.
    response = post(web, f"/workflows/{workflow['id']}/run", token, {"payload": "  "})
    assert response.status_code == 303


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ("[1, 2]", "must be a JSON object"),
        ('{"name": ', "This is not valid JSON"),
        ('"text"', "must be a JSON object"),
    ],
)
def test_run_now_refuses_a_payload_that_is_not_an_object(
    web: TestClient, services: Container, acme: Acme, payload: str, message: str
) -> None:
    workflow = services.workflows.create(acme.account_id, definition("Greeter"))
    token = login(web, "member")
    response = post(web, f"/workflows/{workflow['id']}/run", token, {"payload": payload})
    assert response.status_code == 400
    assert message in response.text and 'class="error" id="payload-error"' in response.text
    assert textarea(response.text, "payload") == payload
    assert services.workflows.runs.page_runs(acme.account_id).items == []


# --- create and edit ---------------------------------------------------------------------


def test_new_prefills_an_example_and_creates(
    web: TestClient, services: Container, acme: Acme
) -> None:
    token = login(web, "admin")
    page = web.get("/workflows/new")
    assert page.status_code == 200
    example = json.loads(textarea(page.text, "definition"))
    assert example == EXAMPLE_DEFINITION
    assert [s["capability"] for s in example["steps"]] == ["util.set", "util.set"]

    response = post(web, "/workflows/new", token, {"definition": json.dumps(example)})
    assert response.status_code == 303
    workflow_id = int(response.headers["location"].rsplit("/", 1)[1])
    saved = services.workflows.get(acme.account_id, workflow_id)
    assert saved is not None and saved["name"] == example["name"] and saved["version"] == 1
    assert saved["owner_user"] == acme.admin
    page = web.get(response.headers["location"])
    assert "is saved as version 1." in page.text
    assert "Save as version 2" in page.text


def test_problems_are_listed_with_their_location_and_the_json_is_kept(
    web: TestClient, services: Container, acme: Acme
) -> None:
    token = login(web, "admin")
    typed = json.dumps(
        definition("Broken <b>bold</b>", {"id": "welcome", "capability": "email.sned"}), indent=1
    )
    response = post(web, "/workflows/new", token, {"definition": typed})
    assert response.status_code == 400
    assert (
        '<code class="location">steps.welcome.capability</code>: unknown capability'
        in response.text
    )
    assert textarea(response.text, "definition") == typed
    assert "<b>bold</b>" not in response.text and "&lt;b&gt;bold&lt;/b&gt;" in response.text
    assert workflow_count(services, acme.account_id) == 0

    # Several shape problems at once, each with its place.
    bad_shape = json.dumps({"name": "", "mode": "fast", "steps": [{"id": "Bad Id"}]})
    response = post(web, "/workflows/new", token, {"definition": bad_shape})
    assert response.status_code == 400
    for location in ("name", "mode", "steps[0].id"):
        assert f'<code class="location">{location}</code>' in response.text

    # Not JSON at all: where the syntax error is.
    response = post(web, "/workflows/new", token, {"definition": '{"name": "x",\n  steps: []}'})
    assert response.status_code == 400
    assert "This is not valid JSON" in response.text and "(line 2, column 3)" in response.text
    assert textarea(response.text, "definition") == '{"name": "x",\n  steps: []}'

    # JSON, but not an object.
    response = post(web, "/workflows/new", token, {"definition": "[]"})
    assert '<code class="location">definition</code>: a workflow definition must be' in (
        response.text
    )
    assert workflow_count(services, acme.account_id) == 0


def test_edit_saves_a_new_version_and_keeps_the_history(
    web: TestClient, services: Container, acme: Acme
) -> None:
    workflow = services.workflows.create(acme.account_id, definition("First name"))
    token = login(web, "admin")
    path = f"/workflows/{workflow['id']}"
    page = web.get(path)
    current = json.loads(textarea(page.text, "definition"))
    assert current["name"] == "First name"

    changed = {**current, "name": "Second name", "description": "now with a description"}
    response = post(web, path, token, {"definition": json.dumps(changed)})
    assert response.status_code == 303 and response.headers["location"] == path
    page = web.get(path)
    assert "Second name is saved as version 2." in page.text
    assert "View version 1" in page.text and "View version 2" in page.text
    assert re.search(r"2 <span class=\"badge system\">current</span>", page.text)

    old = web.get(f"{path}/versions/1")
    assert old.status_code == 200
    assert "First name" in old.text and "now with a description" not in old.text
    assert "<textarea" not in old.text
    assert web.get(f"{path}/versions/3").status_code == 404

    # A bad edit saves nothing and keeps the text.
    broken = json.dumps({**changed, "steps": [{"id": "x", "capability": "nope.never"}]})
    response = post(web, path, token, {"definition": broken})
    assert response.status_code == 400
    assert "steps.x.capability" in response.text
    assert textarea(response.text, "definition") == broken
    saved = services.workflows.get(acme.account_id, workflow["id"])
    assert saved is not None and saved["version"] == 2


# --- delete -----------------------------------------------------------------------------


def test_delete_asks_first_and_removes_it(web: TestClient, services: Container, acme: Acme) -> None:
    workflow = services.workflows.create(acme.account_id, definition("Doomed"))
    token = login(web, "admin")
    page = web.get(f"/workflows/{workflow['id']}")
    assert "Delete Doomed with its versions and runs, for good?" in page.text
    response = post(web, f"/workflows/{workflow['id']}/delete", token)
    assert response.status_code == 303 and response.headers["location"] == "/workflows/"
    assert "Doomed is deleted" in web.get("/workflows/").text
    assert services.workflows.get(acme.account_id, workflow["id"]) is None


def test_delete_with_a_running_run_is_a_conflict_until_forced(
    web: TestClient, services: Container, acme: Acme
) -> None:
    workflow = services.workflows.create(acme.account_id, definition("Busy", delay_step(30)))
    run_id = services.workflows.trigger(acme.account_id, workflow["id"], {})
    assert run_id is not None
    wait_for_run(services, acme.account_id, run_id, statuses=("running",))
    token = login(web, "admin")

    response = post(web, f"/workflows/{workflow['id']}/delete", token)
    assert response.status_code == 409
    assert "flash-error" in response.text and "queued or running runs" in response.text
    assert "Delete and cancel its runs" in response.text
    assert f'action="/workflows/{workflow["id"]}/force-delete"' in response.text
    assert services.workflows.get(acme.account_id, workflow["id"]) is not None

    response = post(web, f"/workflows/{workflow['id']}/force-delete", token)
    assert response.status_code == 303
    assert services.workflows.get(acme.account_id, workflow["id"]) is None
    assert services.workflows.get_run(acme.account_id, run_id) is None


# --- import and export ------------------------------------------------------------------


def test_export_downloads_the_definition(web: TestClient, services: Container, acme: Acme) -> None:
    workflow = services.workflows.create(acme.account_id, definition("Ünïcode & Friends: v2!"))
    login(web, "viewer")
    response = web.get(f"/workflows/{workflow['id']}/export")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert (
        response.headers["content-disposition"] == 'attachment; filename="n-code-friends-v2.json"'
    )
    assert response.json() == workflow["definition"]


def test_import_a_file_or_pasted_json(web: TestClient, services: Container, acme: Acme) -> None:
    source = services.workflows.create(acme.account_id, definition("Exported one"))
    token = login(web, "admin")
    exported = web.get(f"/workflows/{source['id']}/export").content

    response = post(
        web,
        "/workflows/import",
        token,
        files={"file": ("exported-one.json", exported, "application/json")},
    )
    assert response.status_code == 303
    imported_id = int(response.headers["location"].rsplit("/", 1)[1])
    assert imported_id != source["id"]
    imported = services.workflows.get(acme.account_id, imported_id)
    assert imported is not None and imported["definition"] == source["definition"]

    pasted = json.dumps(definition("Pasted one"))
    response = post(web, "/workflows/import", token, {"definition": pasted})
    assert response.status_code == 303
    assert workflow_count(services, acme.account_id) == 3


def test_a_bad_import_creates_nothing(web: TestClient, services: Container, acme: Acme) -> None:
    token = login(web, "admin")
    page = web.get("/workflows/import")
    assert 'enctype="multipart/form-data"' in page.text and 'type="file"' in page.text

    not_json = post(
        web, "/workflows/import", token, files={"file": ("x.json", b"{nope", "text/plain")}
    )
    assert not_json.status_code == 400
    assert "This is not valid JSON" in not_json.text and 'id="file-error"' in not_json.text

    binary = post(web, "/workflows/import", token, files={"file": ("x.json", b"\xff\xfe\x00", "x")})
    assert binary.status_code == 400 and "not UTF-8" in binary.text

    nothing = post(web, "/workflows/import", token, {"definition": ""})
    assert nothing.status_code == 400 and "Choose a .json file or paste" in nothing.text

    invalid = json.dumps(definition("Bad import", {"id": "s", "capability": "no.such"}))
    problems = post(
        web, "/workflows/import", token, files={"file": ("bad.json", invalid.encode(), "x")}
    )
    assert problems.status_code == 400
    assert '<code class="location">steps.s.capability</code>' in problems.text
    # The file's content lands in the text box, to be fixed right there.
    assert json.loads(textarea(problems.text, "definition"))["name"] == "Bad import"
    assert workflow_count(services, acme.account_id) == 0


# --- webhook setup ---------------------------------------------------------------------


def test_the_webhook_secret_is_shown_once(web: TestClient, services: Container, acme: Acme) -> None:
    workflow = services.workflows.create(acme.account_id, definition("Hooked"))
    token = login(web, "admin")
    path = f"/workflows/{workflow['id']}"
    assert "Create webhook URL" in web.get(path).text

    shown = post(web, f"{path}/webhook", token)
    assert shown.status_code == 200
    assert shown.headers["cache-control"] == "no-store"
    url = re.search(r'<code id="webhook-url">([^<]+)</code>', shown.text)
    secret = re.search(r'<code id="webhook-secret">([^<]+)</code>', shown.text)
    assert url and secret
    assert url.group(1).startswith(services.settings.base_url.rstrip("/") + "/hooks/")
    assert secret.group(1).startswith("whsec_")
    assert "X-Signature: t=$T,v1=$SIG" in shown.text and "openssl dgst -sha256 -hmac" in shown.text

    page = web.get(path).text
    assert secret.group(1) not in page and url.group(1).rsplit("/", 1)[1] not in page
    assert "Replace the webhook URL and secret" in page

    again = post(web, f"{path}/webhook", token)
    new_secret = re.search(r'<code id="webhook-secret">([^<]+)</code>', again.text)
    assert new_secret and new_secret.group(1) != secret.group(1)
    assert "The previous URL and secret no longer work." in again.text


# --- roles ------------------------------------------------------------------------------


def test_a_viewer_reads_but_changes_nothing(
    web: TestClient, services: Container, acme: Acme
) -> None:
    workflow = services.workflows.create(acme.account_id, definition("Read only"))
    token = login(web, "viewer")
    path = f"/workflows/{workflow['id']}"

    listing = web.get("/workflows/").text
    assert "New workflow" not in listing and "Run now" not in listing
    assert ">Disable</button>" not in listing
    page = web.get(path)
    assert page.status_code == 200
    assert "<textarea" not in page.text and "Read only" in page.text
    assert '<pre class="definition" id="definition">' in page.text
    assert "Create webhook URL" not in page.text and "Delete this workflow" not in page.text
    assert web.get(f"{path}/versions/1").status_code == 200
    assert web.get(f"{path}/export").status_code == 200

    for url in ("/workflows/new", "/workflows/import", f"{path}/run"):
        assert web.get(url).status_code == 403
    for url in ("/workflows/new", path, f"{path}/run", f"{path}/disable", f"{path}/webhook"):
        assert post(web, url, token, {"definition": "{}"}).status_code == 403
    assert post(web, f"{path}/delete", token).status_code == 403
    current = services.workflows.get(acme.account_id, workflow["id"])
    assert current is not None and current["version"] == 1 and not current["has_webhook"]


def test_a_member_runs_but_does_not_edit(web: TestClient, services: Container, acme: Acme) -> None:
    workflow = services.workflows.create(acme.account_id, definition("Runnable"))
    token = login(web, "member")
    path = f"/workflows/{workflow['id']}"
    page = web.get(path)
    assert "<textarea" not in page.text and f'href="{path}/run"' in page.text
    assert web.get(f"{path}/run").status_code == 200
    assert post(web, f"{path}/run", token).status_code == 303
    assert post(web, path, token, {"definition": "{}"}).status_code == 403
    assert post(web, f"{path}/enable", token).status_code == 403
    assert post(web, f"{path}/force-delete", token).status_code == 403


def test_anonymous_visitors_are_sent_to_sign_in(web: TestClient) -> None:
    response = web.get("/workflows/", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("/login")


@pytest.mark.usefixtures("acme")
def test_another_accounts_workflow_is_not_found(
    web: TestClient, services: Container, other: Other
) -> None:
    token = login(web, "admin")
    path = f"/workflows/{other.workflow}"
    for url in (path, f"{path}/export", f"{path}/versions/1", f"{path}/run"):
        assert web.get(url).status_code == 404, url
    for url in (
        path, f"{path}/run", f"{path}/enable", f"{path}/disable", f"{path}/webhook",
        f"{path}/delete", f"{path}/force-delete",
    ):  # fmt: skip
        assert post(web, url, token, {"definition": "{}"}).status_code == 404, url
    assert "Globex secret plan" not in web.get("/workflows/").text
    still = services.workflows.get(other.account_id, other.workflow)
    assert still is not None and still["version"] == 1 and not still["has_webhook"]
