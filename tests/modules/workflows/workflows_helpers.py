"""Shared by the workflow tests (and the multi-process system tests): a
probe library that records every call it gets, and `Rig`, the real module
graph on a temporary folder with a few accounts and waiting helpers.

The probe writes one `probe_call` row per invocation (its key, the process
id and the time), so a test can prove how often a step really executed,
in this process or in another one sharing the database.
"""

from __future__ import annotations

import sqlite3
import textwrap
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

from modules.workflows.entities import FINISHED
from modules.workflows.service import Workflows
from tests.conftest import make_settings
from webapp.container import Container

PROBE = '''
"""Test probe: records each call, sleeps, fails on demand, emits events."""

import os
import time

from modules.datastore import Entity, Field


def register(registry):
    registry.info(version="1", title="Probe")
    registry.entity(
        Entity(
            "probe_call",
            (Field("tag", required=True), Field("pid", "integer"), Field("at", "real")),
            tenant_scoped=True,
        )
    )
    registry.event("probe.pinged", "The probe was asked to ping.")

    def record(ctx, key):
        calls = ctx.dao("probe_call")
        calls.insert({"tag": key, "pid": os.getpid(), "at": time.time()})
        return calls.count({"tag": key})

    @registry.capability
    def count(ctx, key: str, sleep: float = 0.0) -> dict:
        """Records the call, then sleeps (stops early when cancelled)."""
        calls = record(ctx, key)
        if sleep:
            ctx.cancelled.wait(sleep)
        return {"key": key, "calls": calls, "cancelled": ctx.cancelled.is_set()}

    @registry.capability
    def flaky(ctx, key: str, failures: int = 1) -> dict:
        """Fails its first `failures` calls for `key`, then succeeds."""
        calls = record(ctx, key)
        if calls <= failures:
            raise RuntimeError(f"{key} failure {calls} of {failures}")
        return {"key": key, "calls": calls}

    @registry.capability
    def ping(ctx, event: str = "probe.pinged", note: str = "", fail: bool = False) -> dict:
        """Emits an event (and fails afterwards when asked)."""
        ctx.emit(event, {"note": note})
        if fail:
            raise RuntimeError("failed after emitting")
        return {"sent": event}

    @registry.capability
    def login(user: str, api_token: str) -> dict:
        """Takes a secret; returns nothing of it."""
        return {"user": user, "token_given": bool(api_token)}
'''


def write_library(libs: Path, name: str, source: str) -> None:
    """A package folder `libs/name` whose `__init__.py` is `source`."""
    folder = libs / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "__init__.py").write_text(textwrap.dedent(source), encoding="utf-8")


def wait_until(check: Callable[[], Any], timeout: float = 10.0, every: float = 0.01) -> Any:
    """Poll `check` until it answers something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"still not true after {timeout} s: {check}")
        time.sleep(every)


def step(name: str, capability: str, **fields: Any) -> dict[str, Any]:
    """One step of a definition (`params=` and the other step fields by keyword)."""
    return {"id": name, "capability": capability, **fields}


def definition(*steps: Mapping[str, Any], **fields: Any) -> dict[str, Any]:
    """A workflow definition with these steps (name defaults to "Test flow")."""
    return {"name": "Test flow", **fields, "steps": list(steps)}


def calls_in(db_file: Path, key: str | None = None) -> dict[str, int] | int:
    """Probe calls per key, read straight from the database file (any process)."""
    with sqlite3.connect(db_file, timeout=10) as conn:
        if key is not None:
            return conn.execute("SELECT count(*) FROM probe_call WHERE tag = ?", (key,)).fetchone()[
                0
            ]
        return dict(conn.execute("SELECT tag, count(*) FROM probe_call GROUP BY tag").fetchall())


@dataclass
class Rig:
    """The real module graph with three accounts and an owner in "Acme"."""

    services: Container
    libs: Path
    platform: int
    account: int
    other: int
    owner: int

    @property
    def flows(self) -> Workflows:
        """The workflows facade."""
        return self.services.workflows

    def create(self, *steps: Mapping[str, Any], account: int | None = None, **fields: Any) -> int:
        """Save a workflow; returns its id."""
        saved = self.flows.create(
            account or self.account, definition(*steps, **fields), user_id=self.owner
        )
        return saved["id"]

    def run(self, workflow_id: int, payload: Mapping[str, Any] | None = None, **kw: Any) -> int:
        """Trigger a run; returns its id."""
        account = kw.pop("account", None) or self.account
        run_id = self.flows.trigger(account, workflow_id, payload, **kw)
        assert run_id is not None
        return run_id

    def finished(self, run_id: int, timeout: float = 10.0, account: int | None = None) -> dict:
        """Wait for the run to end; returns it with its steps and logs."""
        account = account or self.account

        def done() -> dict | None:
            run = self.flows.get_run(account, run_id)
            return run if run and run["status"] in FINISHED else None

        return wait_until(done, timeout)

    def run_to_end(self, workflow_id: int, payload: Mapping[str, Any] | None = None) -> dict:
        """Trigger and wait for the end."""
        return self.finished(self.run(workflow_id, payload))

    def step_running(self, run_id: int, step_id: str, timeout: float = 10.0) -> dict:
        """Wait until the step has a running step run."""

        def running() -> dict | None:
            for one in self.flows.runs.steps_of(self.account, run_id):
                if one["step_id"] == step_id and one["status"] == "running":
                    return one
            return None

        return wait_until(running, timeout)

    def calls(self, key: str, account: int | None = None) -> int:
        """How often the probe was called with `key` in the account."""
        dao = self.services.store.dao("probe_call")
        return dao.count(account or self.account, {"tag": key})  # type: ignore[call-arg]

    def call_times(self, key: str) -> list[float]:
        """When the probe was called with `key` (time.time() values, in order)."""
        rows = self.services.db.execute(
            "SELECT at FROM probe_call WHERE tag = ? ORDER BY id", (key,)
        )
        return [r[0] for r in rows]


def statuses(run: Mapping[str, Any]) -> dict[str, str]:
    """Step id -> status of its last step run."""
    return {one["step_id"]: one["status"] for one in run["steps"]}


def outputs(run: Mapping[str, Any]) -> dict[str, Any]:
    """Step id -> output of its last completed step run."""
    return {one["step_id"]: one["output"] for one in run["steps"] if one["status"] == "completed"}


def settings_for(root: Path, **env: str):
    """Settings on `root/data` with the probe library folder in `root/libs`."""
    libs = root / "libs"
    write_library(libs, "probe", PROBE)
    return make_settings(root / "data", BCRYPT_ROUNDS="4", LIBRARIES_DIR=str(libs), **env)


def populate(services: Container) -> tuple[int, int, int, int]:
    """The probe library and accounts: (platform, Acme, Beta, Acme's owner)."""
    services.libraries.add("probe")
    platform = services.tenants.create_account("Operators", platform=True)
    account = services.tenants.create_account("Acme")
    other = services.tenants.create_account("Beta")
    owner = services.tenants.create_user(
        account, "owner@acme.test", "Olive Owner", role_names=("Owner",)
    )
    return platform, account, other, owner


@contextmanager
def rig_on(root: Path, *, runner: bool = True, **env: str) -> Iterator[Rig]:
    """A started module graph on `root` (the runner only when `runner`)."""
    settings = settings_for(root, **env)
    services = Container.build(settings)
    try:
        services.libraries.start()
        platform, account, other, owner = populate(services)
        if runner:
            services.workflows.start()
        yield Rig(services, Path(settings.libraries_dir), platform, account, other, owner)
    finally:
        services.close()


@contextmanager
def reopen(root: Path, *, runner: bool = True, **env: str) -> Iterator[Container]:
    """The module graph on a folder `rig_on` set up before (a restart)."""
    services = Container.build(settings_for(root, **env))
    try:
        services.libraries.start()
        if runner:
            services.workflows.start()
        yield services
    finally:
        services.close()
