"""A workflow run in a real browser: the owner creates a workflow (a 1 s
util.delay step, then a util.set step) in the JSON editor, runs it, and
watches the run page update itself to "completed" without a reload."""

from __future__ import annotations

import json
import re

from playwright.sync_api import Page, expect

from tests.browser.pages import sign_in
from tests.live import LiveServer
from webapp import usecases
from webapp.container import Container

PASSWORD = "a long password 1"
DEFINITION = {
    "name": "Slow greeting",
    "trigger": {"type": "manual"},
    "steps": [
        {"id": "wait", "capability": "util.delay", "params": {"seconds": 1}},
        {"id": "greet", "capability": "util.set", "params": {"text": "Hello ${trigger.name}"}},
    ],
}


def _create_workflow(page: Page) -> None:
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Workflows").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Workflows")
    page.get_by_role("link", name="New workflow").click()
    editor = page.get_by_label("Definition (JSON)")
    expect(editor).to_contain_text("util.set")
    # A mistake first: the problem is shown next to the editor, the text kept.
    broken = {**DEFINITION, "steps": [{"id": "wait", "capability": "util.dozy"}]}
    editor.fill(json.dumps(broken, indent=2))
    page.get_by_role("button", name="Create the workflow").click()
    expect(page.locator("#definition-problems")).to_contain_text("steps.wait.capability")
    expect(page.get_by_label("Definition (JSON)")).to_have_value(json.dumps(broken, indent=2))
    page.get_by_label("Definition (JSON)").fill(json.dumps(DEFINITION, indent=2))
    page.get_by_role("button", name="Create the workflow").click()
    expect(page.locator("#flashes")).to_contain_text("Slow greeting is saved as version 1.")
    expect(page.get_by_role("heading", level=1)).to_have_text("Slow greeting")


def test_run_page_follows_the_run_to_the_end(
    page: Page, live_app: tuple[LiveServer, Container]
) -> None:
    server, services = live_app
    usecases.create_owner(services, "Operators", "owner@example.com", "Olive Owner", PASSWORD)
    sign_in(page, server.url, "owner@example.com", PASSWORD)
    _create_workflow(page)

    page.get_by_role("link", name="Run now").click()
    page.get_by_label("Payload (JSON, optional)").fill('{"name": "Ada"}')
    page.get_by_role("button", name="Run now").click()
    expect(page).to_have_url(re.compile(r"/runs/\d+$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("of Slow greeting")
    # A mark on this document: it must survive, so the page was never reloaded.
    page.evaluate("window.__sameDocument = true")
    status = page.locator("#run-status")
    expect(status).to_contain_text(re.compile("queued|running"))
    expect(page.locator("#run-actions")).to_contain_text("Cancel the run")

    expect(status).to_contain_text("completed", timeout=10_000)
    assert page.evaluate("window.__sameDocument") is True
    steps = page.locator("#run-steps")
    expect(steps).to_contain_text("wait")
    expect(steps).to_contain_text("greet")
    # Polling stopped, and the actions now offer Retry instead of Cancel.
    expect(page.locator("#run-live")).not_to_have_attribute("hx-trigger", re.compile("."))
    expect(page.locator("#run-actions")).to_contain_text("Retry")
    expect(page.locator("#run-actions")).not_to_contain_text("Cancel the run")
    page.locator("#run-steps li", has_text="greet").locator("summary").click()
    expect(page.locator("#run-steps")).to_contain_text('"text": "Hello Ada"')
