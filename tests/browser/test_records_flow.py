"""The Records screens in a real browser: the owner opens Records, creates a
contact through the generated form, edits it, finds it with the active
search, sorts, and deletes it after confirming."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator

import pytest
from playwright.sync_api import Page, expect

from modules.datastore import ScopedDAO
from tests.browser.pages import sign_in
from tests.conftest import make_settings
from tests.live import LiveServer
from tests.webapp.test_records_screens import CRM, write_library
from webapp import usecases
from webapp.app import create_app
from webapp.container import Container

PASSWORD = "a long password 1"


@pytest.fixture(name="records_app")
def fixture_records_app(tmp_path: Path) -> Iterator[tuple[LiveServer, Container]]:
    """Like `live_app`, with a libraries folder holding the CRM library."""
    libs = tmp_path / "libs"
    write_library(libs, "crm", CRM)
    settings = make_settings(tmp_path / "data", BCRYPT_ROUNDS="4", LIBRARIES_DIR=str(libs))
    services = Container.build(settings)
    server = LiveServer(create_app(container=services)).start()
    yield server, services
    server.stop()


def _create(page: Page) -> int:
    """Fill in the generated form; returns the new record's id."""
    page.get_by_role("link", name="New", exact=True).click()
    page.get_by_label("Name").fill("Ada Lovelace")
    page.get_by_label("Email").fill("ada@example.com")
    page.get_by_label("Vip").check()
    page.get_by_label("Score").fill("4.5")
    page.get_by_label("Notes").fill('{"tags": ["math"]}')
    page.get_by_label("Met at").fill("2024-05-01T09:30")
    page.get_by_role("button", name="Add the record").click()
    expect(page.locator("#flashes")).to_contain_text("record is added")
    expect(page.get_by_role("heading", level=1)).to_have_text("Ada Lovelace")
    return int(page.url.rsplit("/", 1)[1])


def _edit(page: Page) -> None:
    """A field error keeps what was typed; then a good edit."""
    page.get_by_label("Name").fill("")
    page.get_by_label("Score").fill("7")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#name-error")).to_have_text("This field is required.")
    expect(page.get_by_label("Score")).to_have_value("7")
    page.get_by_label("Name").fill("Ada King")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#flashes")).to_contain_text("The changes are saved.")
    expect(page.get_by_role("heading", level=1)).to_have_text("Ada King")


def _search_and_sort(page: Page) -> None:
    """The active search (htmx) and sorting by a column header."""
    table = page.locator("#record-table")
    search = page.get_by_role("searchbox")
    expect(table).to_contain_text("Ada King")
    expect(table).to_contain_text("Grace Hopper")
    search.fill("king")
    expect(table).not_to_contain_text("Grace Hopper")
    expect(table).to_contain_text("Ada King")
    expect(page).to_have_url(re.compile(r"q=king"))
    search.fill("")
    expect(table).to_contain_text("Grace Hopper")
    header = page.locator("#record-table th").get_by_role("link", name="Name")
    header.click()
    expect(page).to_have_url(re.compile(r"order_by=name&dir=asc"))
    header.click()
    expect(page).to_have_url(re.compile(r"order_by=name&dir=desc"))
    expect(table.locator("tbody tr").first).to_contain_text("Grace Hopper")
    # Searching now keeps the sort (the table carries it for the search box).
    search.fill("a")
    expect(page).to_have_url(re.compile(r"q=a\b"))
    expect(page).to_have_url(re.compile(r"dir=desc"))
    expect(table.locator("tbody tr").first).to_contain_text("Grace Hopper")


def test_create_edit_delete_a_contact(
    page: Page, records_app: tuple[LiveServer, Container]
) -> None:
    server, services = records_app
    services.libraries.add("crm")
    usecases.create_owner(services, "Operators", "owner@example.com", "Olive Owner", PASSWORD)
    account_id = services.tenants.platform_account_id()
    dao = services.store.dao("crm_contact")
    assert isinstance(dao, ScopedDAO) and account_id is not None
    dao.insert(account_id, {"name": "Grace Hopper", "email": "grace@example.com"})
    sign_in(page, server.url, "owner@example.com", PASSWORD)

    # Records, grouped by library, then the contacts list.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Records").click()
    expect(page.get_by_role("heading", name="Tiny CRM")).to_be_visible()
    page.get_by_role("link", name="crm_contact").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("crm_contact")
    expect(page.locator("#record-table")).to_contain_text("Grace Hopper")

    record_id = _create(page)
    stored = dao.get(account_id, record_id)
    assert stored is not None
    assert stored["vip"] is True and stored["notes"] == {"tags": ["math"]}
    _edit(page)
    page.get_by_role("link", name="Back to crm_contact").click()
    _search_and_sort(page)

    # Delete, confirming first; the list no longer has it.
    page.locator("#record-table").get_by_role("link", name=str(record_id), exact=True).click()
    page.get_by_text("Delete this record").click()
    expect(page.get_by_text("Delete Ada King for good?")).to_be_visible()
    page.get_by_role("button", name="Delete", exact=True).click()
    expect(page.locator("#flashes")).to_contain_text("Ada King is deleted.")
    expect(page.get_by_role("heading", level=1)).to_have_text("crm_contact")
    expect(page.locator("#record-table")).not_to_contain_text("Ada King")
    expect(page.locator("#record-table")).to_contain_text("Grace Hopper")
    assert dao.get(account_id, record_id) is None
