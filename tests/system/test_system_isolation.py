"""A misbehaving library fails only its own calls: while one hangs, and after
one kills its worker process, the real server keeps answering everything else."""

from __future__ import annotations

import textwrap
import threading
import time
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from tests.conftest import make_settings
from tests.live import LiveServer
from webapp import usecases
from webapp.app import create_app
from webapp.container import Container

BAD = """
import os
import time


def register(registry):
    registry.info(version="1.0", title="Bad")

    @registry.capability(timeout=3)
    def hang(ctx) -> str:
        time.sleep(30)
        return "never"

    @registry.capability(timeout=5)
    def die() -> None:
        os._exit(1)

    @registry.capability
    def fine(x: int = 1) -> int:
        return x + 1
"""


@pytest.fixture(name="server")
def fixture_server(tmp_path: Path) -> Iterator[tuple[LiveServer, Container, dict[str, str]]]:
    """A live app with the bad library added and an owner's API key."""
    libs = tmp_path / "libs"
    (libs / "bad").mkdir(parents=True)
    (libs / "bad" / "__init__.py").write_text(textwrap.dedent(BAD), encoding="utf-8")
    services = Container.build(
        make_settings(tmp_path / "data", BCRYPT_ROUNDS="4", LIBRARIES_DIR=str(libs))
    )
    owner = usecases.create_owner(services, "Operators", "o@example.com", "O", "long password 1")
    _, key = services.tenants.create_api_key(1, owner, "test")
    server = LiveServer(create_app(container=services)).start()
    services.libraries.add("bad")
    yield server, services, {"Authorization": f"Bearer {key}"}
    server.stop()


def _invoke(base: str, headers: dict[str, str], name: str, params: dict) -> httpx.Response:
    return httpx.post(
        f"{base}/api/v1/capabilities/{name}/invoke",
        json={"params": params},
        headers=headers,
        timeout=30,
    )


def test_a_hanging_call_blocks_nothing_else(server) -> None:
    live, _services, headers = server
    results: dict[str, httpx.Response] = {}
    hung = threading.Thread(
        target=lambda: results.update(hang=_invoke(live.url, headers, "bad.hang", {}))
    )
    hung.start()
    time.sleep(0.3)  # the hanging call is in flight now
    started = time.monotonic()
    assert httpx.get(live.url + "/healthz", timeout=5).status_code == 200
    fine = _invoke(live.url, headers, "bad.fine", {"x": 41})
    assert fine.status_code == 200 and fine.json()["output"] == 42
    assert _invoke(live.url, headers, "util.set", {"a": 1}).json()["output"] == {"a": 1}
    assert time.monotonic() - started < 2
    hung.join(timeout=10)
    assert results["hang"].status_code == 502
    assert "timed out" in results["hang"].json()["error"]["message"]


def test_a_worker_that_dies_fails_one_call(server) -> None:
    live, services, headers = server
    services.libraries.set_mode("bad", "subprocess")
    died = _invoke(live.url, headers, "bad.die", {})
    assert died.status_code == 502
    assert "died (exit code 1)" in died.json()["error"]["message"]
    assert httpx.get(live.url + "/healthz", timeout=5).status_code == 200
    again = _invoke(live.url, headers, "bad.fine", {"x": 1})  # a fresh worker
    assert again.status_code == 200 and again.json()["output"] == 2
