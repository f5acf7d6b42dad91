"""The Runs screens over HTTP: the filtered, paged list; a run's page with
its step timeline and log; the live partial that polls while the run goes on
and stops once it is finished; cancel and retry; roles; tenant isolation."""

from __future__ import annotations

import re
import time
from datetime import date, timedelta

import pytest
from starlette.testclient import TestClient

from tests.webapp.test_workflows_screens import (  # pylint: disable=unused-import  # fixtures
    Acme,
    Other,
    definition,
    delay_step,
    fixture_acme,
    fixture_other,
    login,
    post,
    wait_for_run,
)
from webapp.container import Container
from webapp.routes import runs as runs_routes

LIVE = {"HX-Request": "true", "HX-Target": "run-live"}
FAILING = (
    {"id": "prepare", "capability": "util.set", "params": {"who": "${trigger.who}"}},
    {
        "id": "explode",
        "capability": "util.fail",
        "params": {"message": "boom <b>loud</b>"},
        "retry": {"max_attempts": 2, "initial_interval_seconds": 0},
    },
)


def run_ids_on(html: str) -> list[int]:
    """The run ids of a rendered runs table, in order."""
    return [int(i) for i in re.findall(r'<a href="/runs/(\d+)">#\d+</a>', html)]


def listed(web: TestClient, **params) -> list[int]:
    """The run ids the list shows for these filters."""
    return run_ids_on(web.get("/runs/", params=params).text)


def start(services: Container, account_id: int, workflow_id: int, payload=None) -> int:
    """Queue a run; its id."""
    run_id = services.workflows.trigger(account_id, workflow_id, payload or {})
    assert run_id is not None
    return run_id


# --- list ---------------------------------------------------------------------------


def test_the_list_filters_by_workflow_status_and_date(
    web: TestClient, services: Container, acme: Acme
) -> None:
    flows = services.workflows
    good = flows.create(acme.account_id, definition("Good one"))
    bad = flows.create(acme.account_id, definition("Bad one", *FAILING))
    ids = [
        start(services, acme.account_id, good["id"]),
        start(services, acme.account_id, bad["id"], {"who": "x"}),
        start(services, acme.account_id, good["id"]),
    ]
    for run_id in ids:
        wait_for_run(services, acme.account_id, run_id)
    login(web, "viewer")

    page = web.get("/runs/")
    assert page.status_code == 200
    assert run_ids_on(page.text) == ids[::-1]
    assert "Good one" in page.text and "Bad one" in page.text
    assert '<option value="' + str(good["id"]) + '">Good one</option>' in page.text

    by_workflow = web.get("/runs/", params={"workflow": good["id"]})
    assert run_ids_on(by_workflow.text) == [ids[2], ids[0]]
    assert f'<option selected value="{good["id"]}">' in by_workflow.text
    assert listed(web, status="failed") == [ids[1]]
    assert listed(web, status="completed", workflow=bad["id"]) == []
    assert (
        "No run matches these filters."
        in web.get(f"/runs/?workflow={bad['id']}&status=queued").text
    )
    assert listed(web, since=(date.today() + timedelta(days=2)).isoformat()) == []
    assert len(listed(web, since=(date.today() - timedelta(days=2)).isoformat())) == 3

    # Nonsense filters are pointed out and ignored.
    nonsense = web.get("/runs/", params={"since": "someday", "status": "exploded"})
    assert nonsense.status_code == 200 and len(run_ids_on(nonsense.text)) == 3
    assert "Not a valid date value" in nonsense.text and "Not a run status." in nonsense.text

    partial = web.get("/runs/", params={"status": "failed"}, headers={"HX-Target": "run-table"})
    assert partial.text.lstrip().startswith('<div id="run-table">')
    assert "<html" not in partial.text and run_ids_on(partial.text) == [ids[1]]


def test_the_list_pages_with_a_cursor_and_keeps_the_filters(
    web: TestClient, services: Container, acme: Acme, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runs_routes, "PAGE_SIZE", 2)
    workflow = services.workflows.create(acme.account_id, definition("Many"))
    ids = [start(services, acme.account_id, workflow["id"]) for _ in range(5)]
    for run_id in ids:
        wait_for_run(services, acme.account_id, run_id)
    login(web, "viewer")

    seen: list[int] = []
    url = f"/runs/?workflow={workflow['id']}"
    while url:
        page = web.get(url.replace("&amp;", "&"))
        seen.extend(run_ids_on(page.text))
        found = re.search(r'href="([^"]+)"[^>]*>Older runs</a>', page.text)
        url = found.group(1) if found else ""
        if url:
            assert f"workflow={workflow['id']}" in url
    assert seen == ids[::-1]
    # A mangled cursor starts again at the newest.
    assert run_ids_on(web.get("/runs/?after=garbage").text) == ids[::-1][:2]


# --- one run ------------------------------------------------------------------------


def test_the_run_page_shows_steps_and_logs(
    web: TestClient, services: Container, acme: Acme
) -> None:
    workflow = services.workflows.create(acme.account_id, definition("Bad one", *FAILING))
    run_id = start(services, acme.account_id, workflow["id"], {"who": "<script>alert(1)</script>"})
    run = wait_for_run(services, acme.account_id, run_id)
    assert run["status"] == "failed"
    login(web, "viewer")

    page = web.get(f"/runs/{run_id}")
    assert page.status_code == 200
    html = page.text
    assert f"Run #{run_id} of Bad one" in html
    assert f'href="/workflows/{workflow["id"]}/versions/1">version 1</a>' in html
    # The payload, escaped in a <pre>.
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    # The timeline: each step run with capability, attempt, status, error.
    steps = re.findall(
        r'<code class="step-id">(\w+)</code>\s*<span class="muted">([\w.]+)</span>', html
    )
    assert steps == [("prepare", "util.set"), ("explode", "util.fail"), ("explode", "util.fail")]
    assert "attempt 2" in html and html.count("run-status bad") >= 3
    assert "boom &lt;b&gt;loud&lt;/b&gt;" in html and "<b>loud</b>" not in html
    assert '<pre class="step-output">' in html
    # The log: the retry warning.
    log = re.search(r'<ol class="run-log" id="run-log">(.*?)</ol>', html, re.S)
    assert log and "WARNING" in log.group(1) and "attempt 1 of 2 failed" in log.group(1)
    # Finished: no polling, the error shown.
    assert "hx-trigger" not in html.split('id="run-live"', 1)[1].split(">", 1)[0]
    assert 'id="run-error"' in html


def test_secrets_in_step_input_are_redacted_on_the_page(
    web: TestClient, services: Container, acme: Acme
) -> None:
    workflow = services.workflows.create(
        acme.account_id,
        definition(
            "Secretive",
            {
                "id": "creds",
                "capability": "util.set",
                "params": {"user": "ada", "password": "hunter2"},
            },
        ),
    )
    run_id = start(services, acme.account_id, workflow["id"])
    wait_for_run(services, acme.account_id, run_id)
    login(web, "viewer")
    html = web.get(f"/runs/{run_id}").text
    step_input = re.search(r'<pre class="step-input">(.*?)</pre>', html, re.S)
    assert step_input and "[redacted]" in step_input.group(1)
    assert "hunter2" not in step_input.group(1) and "ada" in step_input.group(1)


def test_the_live_part_polls_while_running_and_stops_when_finished(
    web: TestClient, services: Container, acme: Acme
) -> None:
    workflow = services.workflows.create(
        acme.account_id,
        definition("Slow", delay_step(1.0), {"id": "after", "capability": "util.set"}),
    )
    login(web, "member")
    run_id = start(services, acme.account_id, workflow["id"])
    wait_for_run(services, acme.account_id, run_id, statuses=("running",))

    page = web.get(f"/runs/{run_id}")
    assert 'hx-trigger="every 1s"' in page.text and "Cancel the run" in page.text
    live = web.get(f"/runs/{run_id}", headers=LIVE)
    assert live.status_code == 200
    assert live.text.lstrip().startswith('<section id="run-live"')
    assert f'hx-get="/runs/{run_id}" hx-trigger="every 1s"' in live.text
    assert "<html" not in live.text and "hx-swap-oob" not in live.text
    assert live.headers["cache-control"] == "no-store"

    # Poll as htmx would, until the server says done.
    deadline = time.monotonic() + 15
    while "hx-trigger" in live.text:
        assert time.monotonic() < deadline, "the run page never said done"
        time.sleep(0.1)
        live = web.get(f"/runs/{run_id}", headers=LIVE)
    assert "hx-trigger" not in live.text
    assert "run-status ok" in live.text and '<code class="step-id">after</code>' in live.text
    # The poll that sees the end swaps in Retry for Cancel, out of band.
    assert '<div id="run-actions" class="actions run-actions" hx-swap-oob="true">' in live.text
    assert "Retry" in live.text and "Cancel the run" not in live.text


def test_cancel_stops_a_running_run(web: TestClient, services: Container, acme: Acme) -> None:
    workflow = services.workflows.create(acme.account_id, definition("Long", delay_step(30)))
    token = login(web, "member")
    run_id = start(services, acme.account_id, workflow["id"])
    wait_for_run(services, acme.account_id, run_id, statuses=("running",))

    response = post(web, f"/runs/{run_id}/cancel", token)
    assert response.status_code == 303 and response.headers["location"] == f"/runs/{run_id}"
    run = wait_for_run(services, acme.account_id, run_id)
    assert run["status"] == "cancelled"
    page = web.get(f"/runs/{run_id}").text
    assert "asked to stop" in page or "is cancelled" in page
    assert "run-status warn" in page

    # Cancelling a finished run says so and changes nothing.
    post(web, f"/runs/{run_id}/cancel", token)
    assert "had already finished (cancelled)" in web.get(f"/runs/{run_id}").text


def test_retry_from_the_failed_step_or_from_the_start(
    web: TestClient, services: Container, acme: Acme
) -> None:
    flows = services.workflows
    workflow = flows.create(acme.account_id, definition("Flaky", *FAILING))
    run_id = start(services, acme.account_id, workflow["id"], {"who": "ada"})
    wait_for_run(services, acme.account_id, run_id)
    # A fixed version 2 that does not fail.
    fixed = definition("Flaky", FAILING[0], {"id": "explode", "capability": "util.noop"})
    flows.update(acme.account_id, workflow["id"], fixed)
    token = login(web, "member")
    page = web.get(f"/runs/{run_id}").text
    assert 'action="/runs/' + str(run_id) + '/retry"' in page and "(2)" in page

    response = post(web, f"/runs/{run_id}/retry", token, {"start": "failed", "version": "pinned"})
    assert response.status_code == 303
    pinned = int(response.headers["location"].rsplit("/", 1)[1])
    run = wait_for_run(services, acme.account_id, pinned)
    assert run["retry_of"] == run_id and run["version"] == 1 and run["status"] == "failed"
    assert run["trigger_type"] == "retry" and run["trigger_payload"] == {"who": "ada"}
    reused = [s for s in run["steps"] if s["step_id"] == "prepare"]
    assert [s["attempt"] for s in reused] == [0]
    assert f'retries <a href="/runs/{run_id}">run #{run_id}</a> from its failed step' in (
        web.get(f"/runs/{pinned}").text
    )

    response = post(web, f"/runs/{run_id}/retry", token, {"start": "start", "version": "latest"})
    latest = int(response.headers["location"].rsplit("/", 1)[1])
    run = wait_for_run(services, acme.account_id, latest)
    assert run["version"] == 2 and run["status"] == "completed" and not run["reuse_outputs"]

    bad = post(web, f"/runs/{run_id}/retry", token, {"start": "middle", "version": "pinned"})
    assert bad.status_code == 303 and bad.headers["location"] == f"/runs/{run_id}"
    assert "Choose where to start" in web.get(f"/runs/{run_id}").text


def test_retrying_a_run_that_goes_on_is_refused(
    web: TestClient, services: Container, acme: Acme
) -> None:
    workflow = services.workflows.create(acme.account_id, definition("Long", delay_step(30)))
    token = login(web, "admin")
    run_id = start(services, acme.account_id, workflow["id"])
    wait_for_run(services, acme.account_id, run_id, statuses=("running",))
    response = post(web, f"/runs/{run_id}/retry", token, {"start": "start", "version": "pinned"})
    assert response.status_code == 303 and response.headers["location"] == f"/runs/{run_id}"
    assert (
        "cannot be retried: only a finished run can be retried" in web.get(f"/runs/{run_id}").text
    )
    services.workflows.cancel_run(acme.account_id, run_id)
    wait_for_run(services, acme.account_id, run_id)


# --- roles and tenants ----------------------------------------------------------------


def test_a_viewer_sees_runs_but_cannot_cancel_or_retry(
    web: TestClient, services: Container, acme: Acme
) -> None:
    workflow = services.workflows.create(acme.account_id, definition("Seen", *FAILING))
    run_id = start(services, acme.account_id, workflow["id"], {"who": "x"})
    wait_for_run(services, acme.account_id, run_id)
    token = login(web, "viewer")
    page = web.get(f"/runs/{run_id}").text
    assert "Retry" not in page and "Cancel the run" not in page
    assert post(web, f"/runs/{run_id}/cancel", token).status_code == 403
    retry = post(web, f"/runs/{run_id}/retry", token, {"start": "start", "version": "pinned"})
    assert retry.status_code == 403
    assert len(services.workflows.runs.page_runs(acme.account_id).items) == 1


@pytest.mark.usefixtures("acme")
def test_another_accounts_runs_are_not_found(
    web: TestClient, services: Container, other: Other
) -> None:
    token = login(web, "admin")
    assert web.get(f"/runs/{other.run}").status_code == 404
    assert web.get(f"/runs/{other.run}", headers=LIVE).status_code == 404
    assert post(web, f"/runs/{other.run}/cancel", token).status_code == 404
    retry = post(web, f"/runs/{other.run}/retry", token, {"start": "start", "version": "pinned"})
    assert retry.status_code == 404
    assert run_ids_on(web.get("/runs/").text) == []
    assert run_ids_on(web.get("/runs/", params={"workflow": other.workflow}).text) == []
    assert "Globex secret plan" not in web.get("/runs/").text
    assert len(services.workflows.runs.page_runs(other.account_id).items) == 1
