"""The identity flow in a real browser: first-run setup, sign-in, an account,
a Viewer, and what that Viewer may and may not do."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.browser.pages import sign_in
from tests.live import LiveServer
from webapp.container import Container

OWNER_PASSWORD = "owner password 123"
VIEWER_PASSWORD = "viewer password 456"


def _sign_out(page: Page) -> None:
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/login$"))


def test_setup_account_viewer_flow(page: Page, live_app: tuple[LiveServer, Container]) -> None:
    server, services = live_app
    base = server.url

    # First run: /login sends us to the one-time setup page.
    page.goto(base + "/login")
    expect(page).to_have_url(base + "/setup")
    page.get_by_label("Your name").fill("Olive Owner")
    page.get_by_label("Email").fill("owner@example.com")
    page.get_by_label("New password").fill(OWNER_PASSWORD)
    page.get_by_label("Repeat the password").fill(OWNER_PASSWORD)
    page.get_by_role("button", name="Create the owner and sign in").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Hello, Olive Owner")
    _sign_out(page)

    # Sign in again with the new password.
    sign_in(page, base, "owner@example.com", OWNER_PASSWORD)

    # Create a customer account.
    page.get_by_role("link", name="Accounts").click()
    page.get_by_role("link", name="New account").click()
    page.get_by_label("Account name").fill("Acme Corp")
    page.get_by_role("button", name="Create the account").click()
    expect(page.locator("body")).to_contain_text("Acme Corp")
    assert any(a["name"] == "Acme Corp" for a in services.tenants.page_accounts().items)

    # Create a user with the Viewer role, with a password set now.
    page.get_by_role("link", name="Users").click()
    page.get_by_role("link", name="New user").click()
    page.get_by_role("textbox", name="Email").fill("viewer@example.com")
    page.get_by_label("Name", exact=True).fill("Vic Viewer")
    page.get_by_label("Viewer").check()
    page.get_by_label("Set a password now").check()
    page.get_by_label("Password", exact=True).fill(VIEWER_PASSWORD)
    page.get_by_label("Repeat the password").fill(VIEWER_PASSWORD)
    page.get_by_role("button", name="Add the user").click()
    expect(page.locator("body")).to_contain_text("Vic Viewer")
    _sign_out(page)

    # The Viewer: the Users page is read-only, the Roles page is refused.
    sign_in(page, base, "viewer@example.com", VIEWER_PASSWORD)
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Users")).to_be_visible()
    expect(nav.get_by_role("link", name="Roles")).to_have_count(0)
    nav.get_by_role("link", name="Users").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Users")
    expect(page.locator("#user-table")).to_contain_text("Olive Owner")
    expect(page.get_by_role("link", name="New user")).to_have_count(0)
    page.get_by_role("link", name="Olive Owner").click()
    expect(page.locator("form[method=post] button[type=submit]")).to_have_count(1)  # sign-out only
    response = page.goto(base + "/roles/")
    assert response is not None and response.status == 403
    expect(page.locator("body")).to_contain_text("You do not have permission")
