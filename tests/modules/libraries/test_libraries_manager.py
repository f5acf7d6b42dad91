"""The library manager with real library folders, a real SQLite file and real
worker processes: add, use, change and reload, disable, remove; failures of
every kind stay inside their library; secrets stay secret; a second process
follows the first."""

from __future__ import annotations

import importlib.util
import logging
import os
import py_compile
import textwrap
import threading
import time
from pathlib import Path
from typing import Iterator

import pytest

from modules.authz import Permission, PermissionRegistry
from modules.datastore import Database, Datastore, Entity, Field, ValidationError
from modules.libraries import state
from modules.libraries.core import util
from modules.libraries.isolation import SubprocessWorker
from modules.libraries.manager import CoreLibrary, LibraryManager
from modules.libraries.secretbox import SecretBox

SECRET = "s3cr3t-token-value-123"

GREETER = '''
from modules.datastore import Entity, Field


def register(registry):
    registry.info(version="{version}", title="Greeter", description="Says hello")
    registry.config("greeting", "text", default="Hello")
    registry.config("token", "secret", required=True)
    registry.entity(Entity("greeter_note", (Field("text", required=True),), tenant_scoped=True))
    registry.event("greeter.greeted")

    @registry.capability(title="Greet")
    def greet(ctx, name: str, times: int = 1) -> dict:
        """Greets someone."""
        ctx.logger.info("greeting %s", name)
        ctx.emit("greeter.greeted", {{"name": name}})
        note = ctx.dao("greeter_note").insert({{"text": name}})
        text = " ".join([f"{{ctx.config.get('greeting') or '{word}'}} {{name}}"] * times)
        return {{"text": text, "note": note, "has_token": bool(ctx.config.get("token"))}}

    @registry.capability
    def boom() -> None:
        raise ValueError("it went boom")

    @registry.capability(timeout=0.5)
    def hang(ctx) -> None:
        import time
        while not ctx.cancelled.is_set():
            time.sleep(0.01)

    @registry.capability(timeout=5)
    def die() -> None:
        import os
        os._exit(1)

    @registry.capability
    def leak(ctx) -> str:
        ctx.logger.info("config has %d keys", len(ctx.config))
        return "ok"
'''


def write_library(libs: Path, name: str, source: str) -> Path:
    """A package folder `libs/name` with `source` as its __init__.py."""
    folder = libs / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "__init__.py").write_text(textwrap.dedent(source), encoding="utf-8")
    return folder


def greeter(version: str = "1.0", word: str = "Hello") -> str:
    """The greeter library's source."""
    return GREETER.format(version=version, word=word)


class World:
    """A database with one account, a permission registry and a manager."""

    def __init__(self, root: Path, poll_seconds: float = 0.0):
        self.root = root
        self.libs = root / "libs"
        self.libs.mkdir(exist_ok=True)
        self.db = Database(root / "app.db")
        self.store = Datastore(self.db)
        self.store.register(Entity("account", (Field("name", required=True),)))
        for entity in state.ENTITIES:
            self.store.register(entity)
        if not self.db.execute_one("SELECT id FROM account WHERE id = 1"):
            self.db.execute_write("INSERT INTO account (name) VALUES ('A'), ('B')")
        self.registry = PermissionRegistry()
        self.registry.register([Permission("crm.view", "See.", "CRM")])
        self.manager = LibraryManager(
            self.store,
            self.registry,
            SecretBox("x" * 40),
            libraries_dir=self.libs,
            core=[CoreLibrary("util", util.register)],
            runner_factory=lambda source, _mode: SubprocessWorker(source, self.db.path),
            poll_seconds=poll_seconds,
        )

    def everything(self) -> frozenset[str]:
        """Every registered permission (an all-powerful caller)."""
        return self.registry.keys()

    def close(self) -> None:
        """Stop the manager and close the database."""
        self.manager.stop()
        self.db.close()


@pytest.fixture(name="world")
def fixture_world(tmp_path: Path) -> Iterator[World]:
    """A started manager on a fresh database."""
    made = World(tmp_path)
    made.manager.start()
    yield made
    made.close()


def test_core_libraries_load_at_start(world: World) -> None:
    names = [lib["name"] for lib in world.manager.libraries()]
    assert names == ["util"]
    assert world.manager.capability("util.noop") is not None
    result = world.manager.invoke("util.set", {"a": 1}, permissions=world.everything())
    assert result.ok and result.output == {"a": 1}


def test_add_use_change_reload_disable_enable_remove(world: World) -> None:
    write_library(world.libs, "greeter", greeter())
    row = world.manager.add("greeter")
    assert row["status"] == "loaded" and row["version"] == "1.0"
    world.manager.configure("greeter", {"token": SECRET})
    perms = world.everything()
    assert {"greeter.use", "greeter_note.view", "greeter_note.manage"} <= perms

    result = world.manager.invoke("greeter.greet", {"name": "Ada"}, permissions=perms, account_id=1)
    assert result.ok, result.error
    assert result.output["text"] == "Hello Ada" and result.output["has_token"] is True
    assert result.logs == (("INFO", "greeting Ada"),)
    assert result.events == (("greeter.greeted", {"name": "Ada"}),)

    write_library(world.libs, "greeter", greeter(version="2.0", word="Howdy"))
    world.manager.configure("greeter", {"greeting": ""})
    world.manager.reload("greeter")
    assert world.manager.library("greeter")["version"] == "2.0"
    changed = world.manager.invoke("greeter.greet", {"name": "Bo"}, permissions=perms, account_id=1)
    assert changed.output["text"] == "Howdy Bo"

    world.manager.disable("greeter")
    off = world.manager.invoke("greeter.greet", {"name": "Cy"}, permissions=perms, account_id=1)
    assert off.kind == "not_found"
    assert "greeter.use" not in world.registry.keys()
    world.manager.enable("greeter")
    assert world.manager.invoke("greeter.greet", {"name": "Di"}, permissions=perms, account_id=1).ok

    world.manager.remove("greeter")
    assert world.manager.library("greeter") is None
    assert world.manager.capability("greeter.greet") is None
    # The data stays: removing code never drops a table.
    assert world.db.execute_one("SELECT count(*) FROM greeter_note")[0] == 3


def test_a_failing_registration_registers_nothing(world: World) -> None:
    write_library(
        world.libs,
        "broken",
        """
        from modules.datastore import Entity, Field

        def register(registry):
            registry.entity(Entity("broken_thing", (Field("x"),)))
            registry.permission("broken.admin", "Administer.")

            @registry.capability
            def fine() -> int:
                return 1

            raise RuntimeError("the library is broken on purpose")
        """,
    )
    row = world.manager.add("broken")
    assert row["status"] == "failed"
    assert "the library is broken on purpose" in row["error"]
    view = world.manager.library("broken")
    assert view["status"] == "failed" and view["capabilities"] == []
    assert world.manager.capability("broken.fine") is None
    assert "broken.admin" not in world.registry.keys()
    tables = [r[0] for r in world.db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    assert "broken_thing" not in tables


def test_bad_declarations_are_refused_with_the_reason(world: World) -> None:
    write_library(
        world.libs,
        "sneaky",
        """
        from modules.datastore import Entity, Field

        def register(registry):
            registry.entity(Entity("user_secrets", (Field("x"),)))
        """,
    )
    row = world.manager.add("sneaky")
    assert row["status"] == "failed"
    assert "must be named sneaky_<something>" in row["error"]


def test_add_refuses_unknown_names_and_duplicates(world: World) -> None:
    with pytest.raises(ValidationError) as bad:
        world.manager.add("../etc")
    assert "ref" in bad.value.fields
    write_library(world.libs, "greeter", greeter())
    world.manager.add("greeter")
    with pytest.raises(ValidationError) as twice:
        world.manager.add("greeter")
    assert "already added" in twice.value.fields["ref"]
    missing = world.manager.add("no_such_package_anywhere")
    assert missing["status"] == "failed" and "No module named" in missing["error"]


def test_invoke_checks_permission_and_schema_before_running(world: World) -> None:
    write_library(world.libs, "greeter", greeter())
    world.manager.add("greeter")
    world.manager.configure("greeter", {"token": SECRET})
    denied = world.manager.invoke(
        "greeter.greet", {"name": "Ada"}, permissions=frozenset(), account_id=1
    )
    assert denied.kind == "permission" and not denied.retryable
    invalid = world.manager.invoke(
        "greeter.greet", {"name": 5, "extra": 1}, permissions=world.everything(), account_id=1
    )
    assert invalid.kind == "validation"
    assert set(invalid.fields) == {"name", "extra"}
    assert world.db.execute_one("SELECT count(*) FROM greeter_note")[0] == 0


@pytest.mark.parametrize("mode", ["thread", "subprocess"])
def test_failures_stay_inside_the_call(world: World, mode: str) -> None:
    write_library(world.libs, "greeter", greeter())
    world.manager.add("greeter")
    world.manager.configure("greeter", {"token": SECRET})
    world.manager.set_mode("greeter", mode)
    perms = world.everything()

    boom = world.manager.invoke("greeter.boom", {}, permissions=perms)
    assert boom.kind == "error" and "ValueError: it went boom" in boom.error and boom.retryable
    started = time.monotonic()
    hang = world.manager.invoke("greeter.hang", {}, permissions=perms)
    assert hang.kind == "timeout" and "timed out" in hang.error
    assert time.monotonic() - started < 5
    if mode == "subprocess":
        died = world.manager.invoke("greeter.die", {}, permissions=perms)
        assert died.kind == "crashed" and "exit code 1" in died.error
    # Everything else still works, in this library and the others.
    again = world.manager.invoke("greeter.greet", {"name": "Ok"}, permissions=perms, account_id=1)
    assert again.ok, again.error
    assert world.manager.invoke("util.noop", {}, permissions=perms).ok


def test_secrets_are_encrypted_at_rest_and_never_shown(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    write_library(world.libs, "greeter", greeter())
    world.manager.add("greeter")
    caplog.set_level(logging.DEBUG)
    world.manager.configure("greeter", {"token": SECRET, "greeting": "Hi"})
    stored = world.db.execute_one("SELECT config FROM library_state WHERE name = 'greeter'")[0]
    assert SECRET not in stored and "enc:v1:" in stored
    assert world.manager.config_values("greeter") == {"greeting": "Hi", "token": True}
    result = world.manager.invoke("greeter.leak", {}, permissions=world.everything())
    assert result.ok
    # A blank secret keeps the stored one.
    world.manager.configure("greeter", {"token": "", "greeting": "Yo"})
    again = world.manager.invoke(
        "greeter.greet", {"name": "A"}, permissions=world.everything(), account_id=1
    )
    assert again.output["has_token"] is True and again.output["text"] == "Yo A"
    assert SECRET not in caplog.text
    for path in world.root.glob("app.db*"):
        assert SECRET.encode() not in path.read_bytes()


def test_configure_reports_field_errors(world: World) -> None:
    write_library(world.libs, "greeter", greeter())
    world.manager.add("greeter")
    with pytest.raises(ValidationError) as errors:
        world.manager.configure("greeter", {"nope": 1})
    assert set(errors.value.fields) == {"nope", "token"}


def test_another_process_follows_within_the_poll_interval(tmp_path: Path) -> None:
    first = World(tmp_path)
    second = World(tmp_path, poll_seconds=0.1)
    first.manager.start()
    second.manager.start()
    try:
        write_library(first.libs, "greeter", greeter())
        first.manager.add("greeter")
        first.manager.configure("greeter", {"token": SECRET})
        assert _eventually(lambda: second.manager.capability("greeter.greet") is not None)
        result = second.manager.invoke(
            "greeter.greet", {"name": "Ev"}, permissions=second.everything(), account_id=2
        )
        assert result.ok and result.output["has_token"] is True
        first.manager.disable("greeter")
        assert _eventually(lambda: second.manager.capability("greeter.greet") is None)
        first.manager.enable("greeter")
        assert _eventually(lambda: second.manager.capability("greeter.greet") is not None)
        first.manager.remove("greeter")
        assert _eventually(lambda: second.manager.library("greeter") is None)
    finally:
        second.close()
        first.close()


def test_state_is_restored_at_start(tmp_path: Path) -> None:
    first = World(tmp_path)
    first.manager.start()
    write_library(first.libs, "greeter", greeter())
    first.manager.add("greeter")
    first.manager.configure("greeter", {"token": SECRET})
    first.manager.set_mode("greeter", "subprocess")
    first.close()
    again = World(tmp_path)
    again.manager.start()
    try:
        view = again.manager.library("greeter")
        assert view["loaded"] and view["mode"] == "subprocess"
        result = again.manager.invoke(
            "greeter.greet", {"name": "Re"}, permissions=again.everything(), account_id=1
        )
        assert result.ok, result.error
    finally:
        again.close()


def test_core_libraries_cannot_be_changed(world: World) -> None:
    with pytest.raises(ValidationError):
        world.manager.disable("util")
    with pytest.raises(ValidationError):
        world.manager.remove("util")


def test_a_package_library_by_import_name(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "site"
    source = greeter(version="3.0").replace("greeter_note", "sb_greeter_pkg_note")
    write_library(site, "sb_greeter_pkg", source.replace("greeter.greeted", "sb_greeter_pkg.hi"))
    monkeypatch.syspath_prepend(str(site))  # as if pip-installed
    row = world.manager.add("sb_greeter_pkg")
    assert row["kind"] == "package" and row["status"] == "loaded", row.get("error")
    world.manager.configure("sb_greeter_pkg", {"token": SECRET})
    result = world.manager.invoke(
        "sb_greeter_pkg.greet", {"name": "Pk"}, permissions=world.everything(), account_id=1
    )
    assert result.ok and result.output["text"] == "Hello Pk"


def _eventually(check, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return False


ODDITIES = """
import sys


def register(registry):
    registry.config("greeting", "text", default="Hello")
    registry.event("odd.happened")

    @registry.capability
    def exits() -> None:
        sys.exit(3)

    @registry.capability
    def says_died() -> None:
        raise ConnectionError("the connection died and timed out")

    @registry.capability
    def emits_foreign(ctx) -> None:
        ctx.emit("greeter.greeted", {})

    @registry.capability
    def emits_own(ctx) -> None:
        ctx.emit("odd.happened", {"n": 1})

    @registry.capability
    def greeting(ctx) -> str:
        return ctx.config["greeting"]

    @registry.capability
    def mutates(ctx) -> None:
        ctx.config["greeting"] = "changed"
"""


@pytest.mark.parametrize("mode", ["thread", "subprocess"])
def test_odd_library_behaviour_is_contained(world: World, mode: str) -> None:
    write_library(world.libs, "odd", ODDITIES)
    world.manager.add("odd")
    world.manager.set_mode("odd", mode)
    perms = world.everything()
    exited = world.manager.invoke("odd.exits", {}, permissions=perms)
    assert not exited.ok and "SystemExit" in exited.error
    died = world.manager.invoke("odd.says_died", {}, permissions=perms)
    assert died.kind == "error"  # what the message says does not make it a crash
    assert world.manager.invoke("odd.greeting", {}, permissions=perms).output == "Hello"
    own = world.manager.invoke("odd.emits_own", {}, permissions=perms, account_id=1)
    assert own.ok and own.events == (("odd.happened", {"n": 1}),)
    if mode == "thread":
        foreign = world.manager.invoke("odd.emits_foreign", {}, permissions=perms, account_id=1)
        assert not foreign.ok and "did not declare" in foreign.error
        mutated = world.manager.invoke("odd.mutates", {}, permissions=perms)
        assert not mutated.ok and "TypeError" in mutated.error  # config is read-only
        assert world.manager.invoke("odd.greeting", {}, permissions=perms).output == "Hello"


def test_reload_picks_up_an_edit_of_the_same_size_in_the_same_second(world: World) -> None:
    write_library(world.libs, "greeter", greeter(word="Hello"))
    world.manager.add("greeter")
    world.manager.configure("greeter", {"token": SECRET, "greeting": ""})
    perms = world.everything()
    first = world.manager.invoke("greeter.greet", {"name": "A"}, permissions=perms, account_id=1)
    assert first.output["text"] == "Hello A"
    # What the first import leaves behind when bytecode is written (the default):
    source = world.libs / "greeter" / "__init__.py"
    py_compile.compile(str(source), cfile=importlib.util.cache_from_source(str(source)))
    stat = source.stat()
    write_library(world.libs, "greeter", greeter(word="Howdy"))  # same length...
    os.utime(source, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # ...and the same second
    world.manager.reload("greeter")
    second = world.manager.invoke("greeter.greet", {"name": "A"}, permissions=perms, account_id=1)
    assert second.output["text"] == "Howdy A"


def test_inline_capabilities_run_in_the_callers_thread(world: World) -> None:
    write_library(
        world.libs,
        "where",
        """
        import threading

        def register(registry):
            @registry.capability(inline=True)
            def here() -> int:
                return threading.get_ident()

            @registry.capability
            def there() -> int:
                return threading.get_ident()
        """,
    )
    world.manager.add("where")
    perms = world.everything()
    me = threading.get_ident()
    assert world.manager.invoke("where.here", {}, permissions=perms).output == me
    assert world.manager.invoke("where.there", {}, permissions=perms).output != me


def test_dates_datetimes_and_enums_arrive_as_python_values(world: World) -> None:
    write_library(
        world.libs,
        "typed",
        """
        import enum
        from datetime import date, datetime


        class Size(enum.Enum):
            SMALL = "s"
            LARGE = "l"


        def register(registry):
            @registry.capability
            def describe(day: date, at: datetime, size: Size, maybe: date | None = None) -> dict:
                return {
                    "day": type(day).__name__, "weekday": day.weekday(),
                    "at": type(at).__name__, "aware": at.tzinfo is not None,
                    "size": size.name, "maybe": maybe,
                }
        """,
    )
    world.manager.add("typed")
    perms = world.everything()
    result = world.manager.invoke(
        "typed.describe",
        {"day": "2026-11-23", "at": "2026-11-23T09:30:00Z", "size": "l"},
        permissions=perms,
    )
    assert result.ok, result.error
    assert result.output == {
        "day": "date", "weekday": 0, "at": "datetime", "aware": True, "size": "LARGE",
        "maybe": None,
    }  # fmt: skip
    wrong = world.manager.invoke(
        "typed.describe", {"day": "someday", "at": "x", "size": "m"}, permissions=perms
    )
    assert wrong.kind == "validation" and {"day", "at", "size"} <= set(wrong.fields)
