"""A library in subprocess mode is loaded only in its worker process: an import
that segfaults, exits or hangs fails that library alone, and the app learns
its declarations from the worker's start answer."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest

from modules.libraries.isolation import SubprocessWorker
from modules.libraries.loader import LibrarySource
from tests.modules.libraries.test_libraries_manager import World, write_library

HARMLESS = """
def register(registry):
    registry.info(version="1.0")

    @registry.capability
    def ping() -> str:
        return "pong"
"""

TYPED = """
from datetime import date

from modules.datastore import Entity, Field, utcnow


def register(registry):
    registry.info(version="2.0", title="Typed")
    registry.entity(
        Entity(
            "typed_item",
            (Field("label", required=True), Field("created_at", "datetime", default=utcnow)),
            tenant_scoped=True,
        )
    )

    @registry.capability
    def weekday(ctx, day: date) -> dict:
        item = ctx.dao("typed_item").insert({"label": day.isoformat()})
        return {"type": type(day).__name__, "weekday": day.weekday(), "item": item,
                "pid": __import__("os").getpid()}
"""


@pytest.fixture(name="world")
def fixture_world(tmp_path: Path) -> Iterator[World]:
    """A started manager whose workers must start within 2 s."""
    made = World(tmp_path)
    made.manager.runner_factory = lambda source, _mode: SubprocessWorker(
        source, made.db.path, start_timeout=2
    )
    made.manager.start()
    yield made
    made.close()


def _add_in_subprocess_mode(world: World, name: str) -> None:
    """Add a harmless library, switch it to subprocess mode, then (only now)
    give it the dangerous code: in thread mode it would hit this process."""
    write_library(world.libs, name, HARMLESS)
    world.manager.add(name)
    world.manager.set_mode(name, "subprocess")
    assert world.manager.library(name)["loaded"]


def _assert_failed_alone(world: World, name: str, *expected: str) -> str:
    view = world.manager.library(name)
    assert view is not None
    assert view["status"] == "failed" and not view["loaded"]
    error = view["error"] or ""
    assert any(word in error for word in expected), error
    row = world.manager.state.get(name)
    assert row is not None and row["status"] == "failed" and row["error"] == error
    assert world.manager.capability(f"{name}.ping") is None
    perms = world.everything()
    assert world.manager.invoke("util.noop", {}, permissions=perms).ok
    missing = world.manager.invoke(f"{name}.ping", {}, permissions=perms)
    assert missing.kind == "not_found" or not missing.ok
    return error


def test_an_import_that_segfaults_fails_only_its_library(world: World) -> None:
    _add_in_subprocess_mode(world, "crasher")
    write_library(world.libs, "crasher", "import ctypes\nctypes.string_at(0)\n" + HARMLESS)
    world.manager.reload("crasher")
    error = _assert_failed_alone(world, "crasher", "died", "signal")
    assert "SIGSEGV" in error  # and this process is still here to see it


def test_an_import_that_exits_fails_only_its_library(world: World) -> None:
    _add_in_subprocess_mode(world, "quitter")
    write_library(world.libs, "quitter", "import os\nos._exit(3)\n" + HARMLESS)
    world.manager.reload("quitter")
    error = _assert_failed_alone(world, "quitter", "died")
    assert "exit code 3" in error


def test_an_import_that_hangs_fails_only_its_library(world: World) -> None:
    _add_in_subprocess_mode(world, "sleeper")
    write_library(world.libs, "sleeper", "import time\ntime.sleep(60)\n" + HARMLESS)
    started = time.monotonic()
    world.manager.reload("sleeper")
    assert time.monotonic() - started < 5
    _assert_failed_alone(world, "sleeper", "did not start within 2 s")


def test_a_fixed_library_loads_again_after_a_failed_import(world: World) -> None:
    _add_in_subprocess_mode(world, "flaky")
    write_library(world.libs, "flaky", "import os\nos._exit(3)\n" + HARMLESS)
    world.manager.reload("flaky")
    assert world.manager.library("flaky")["status"] == "failed"
    write_library(world.libs, "flaky", HARMLESS)
    world.manager.reload("flaky")
    result = world.manager.invoke("flaky.ping", {}, permissions=world.everything())
    assert result.ok and result.output == "pong"


def test_a_healthy_library_works_end_to_end_without_loading_in_the_app(world: World) -> None:
    write_library(world.libs, "typed", TYPED)
    world.manager.add("typed")
    world.manager.set_mode("typed", "subprocess")
    # Switching to subprocess mode reloads it: from now on only the worker has
    # imported the library's code.
    sys.modules.pop("switchboard_libraries.typed", None)
    world.manager.reload("typed")
    assert "switchboard_libraries.typed" not in sys.modules
    view = world.manager.library("typed")
    assert view["loaded"] and view["version"] == "2.0" and view["title"] == "Typed"
    capability = world.manager.capability("typed.weekday")
    assert capability is not None and capability.func is None and not capability.coercers
    perms = world.everything()
    result = world.manager.invoke(
        "typed.weekday", {"day": "2026-11-23"}, permissions=perms, account_id=1
    )
    assert result.ok, result.error
    assert result.output["type"] == "date" and result.output["weekday"] == 0  # coerced there
    assert result.output["pid"] != os.getpid()
    wrong = world.manager.invoke("typed.weekday", {"day": "someday"}, permissions=perms)
    assert wrong.kind == "validation" and "day" in wrong.fields  # the app's schema check
    # The entity (with its utcnow default) is registered in the app as well.
    dao = world.store.dao("typed_item")
    new_id = dao.insert(1, {"label": "from the app"})
    row = dao.get(1, new_id)
    assert row is not None
    assert row["label"] == "from the app" and row["created_at"] is not None
    assert world.db.execute_one("SELECT count(*) FROM typed_item")[0] == 2


def test_declarations_that_cannot_be_sent_fail_with_advice(world: World) -> None:
    _add_in_subprocess_mode(world, "local")
    write_library(
        world.libs,
        "local",
        """
        from modules.datastore import Entity, Field


        def register(registry):
            registry.entity(
                Entity("local_row", (Field("n", "integer", default=lambda: 1),))
            )
        """,
    )
    world.manager.reload("local")
    view = world.manager.library("local")
    assert view["status"] == "failed"
    assert "cannot be sent to the app" in view["error"] and "thread mode" in view["error"]
    assert world.manager.invoke("util.noop", {}, permissions=world.everything()).ok


def test_the_worker_coerces_and_names_the_fields_it_cannot(world: World) -> None:
    write_library(world.libs, "typed", TYPED)
    source = LibrarySource.folder(world.libs, "typed")
    with SubprocessWorker(source, world.db.path) as worker:
        answer = worker.start()
        registration = answer["registration"]
        assert registration.name == "typed" and registration.version == "2.0"
        assert [cap.func for cap in registration.capabilities] == [None]
        assert [entity.name for entity in registration.entities] == ["typed_item"]
        good = worker.call("typed.weekday", {"day": "2026-11-23"}, account_id=1, timeout=10)
        assert good.ok and good.output["type"] == "date", good.error
        bad = worker.call("typed.weekday", {"day": "someday"}, account_id=1, timeout=10)
        assert not bad.ok and bad.error.startswith("ValueError") and "day" in bad.error
