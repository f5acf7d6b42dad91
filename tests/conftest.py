"""Fixtures shared by the web tests: settings on a temp folder, the real app."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Iterator

import pytest
from starlette.testclient import TestClient

from webapp.app import create_app
from webapp.container import Container
from webapp.settings import Settings


def make_settings(data_dir: Path, **env: str) -> Settings:
    """Settings for a test: its own data folder, quiet console, no .env file."""
    environ = {"DB_PATH": str(data_dir), "LOG_CONSOLE": "false", **env}
    return Settings.load(environ=environ, env_file=None)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(name="settings")
def fixture_settings(tmp_path: Path) -> Settings:
    """Settings pointing at this test's temp folder (bcrypt at its cheapest cost)."""
    return make_settings(tmp_path / "data", BCRYPT_ROUNDS="4")


@pytest.fixture(name="services")
def fixture_services(settings: Settings) -> Iterator[Container]:
    """The module graph built on the temp folder; a test module may override
    it (extra settings, seeded data) and keep the shared `web` client."""
    built = Container.build(settings)
    yield built
    built.close()


@pytest.fixture(name="web")
def fixture_web(services: Container) -> Iterator[TestClient]:
    """HTTPX client bound to the real ASGI app, lifespan included."""
    with TestClient(create_app(container=services), base_url="http://testserver") as client:
        yield client


@pytest.fixture(name="container")
def fixture_container(services: Container) -> Container:
    """The same graph under its older name."""
    return services


@pytest.fixture(name="client")
def fixture_client(web: TestClient) -> TestClient:
    """The same client under its older name."""
    return web


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Browser tests last: Playwright's sync API keeps an event loop running
    in the main thread for the rest of the session, which would break tests
    that call asyncio.run(); they are also the slowest."""
    items.sort(key=lambda item: "tests/browser/" in str(item.path).replace("\\", "/"))
