"""Playwright driving Debian's Chromium against the real app on 127.0.0.1."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Iterator

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.conftest import make_settings
from tests.live import LiveServer
from webapp.app import create_app
from webapp.container import Container

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture(name="browser", scope="session")
def fixture_browser() -> Iterator[Browser]:
    """One headless Chromium for the whole session."""
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is not installed: apt-get install chromium (see .ci/run)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture(name="live_app")
def fixture_live_app(tmp_path: Path) -> Iterator[tuple[LiveServer, Container]]:
    """The real app served by uvicorn on a free port, on a fresh database."""
    settings = make_settings(tmp_path / "data", BCRYPT_ROUNDS="4")
    services = Container.build(settings)
    server = LiveServer(create_app(container=services)).start()
    yield server, services
    server.stop()


@pytest.fixture(name="page")
def fixture_page(browser: Browser) -> Iterator[Page]:
    """A fresh browser context (no cookies) and page."""
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()
