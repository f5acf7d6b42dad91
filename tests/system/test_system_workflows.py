"""Workflow runs across real processes: `webapp serve` killed with SIGKILL in
the middle of a run (the next server finishes it without running a
completed step again), and two servers sharing one database (each run
executes exactly once).

Setup (library, accounts, workflows, queued runs) goes through a Container
on the same database, whose runner is never started: every run is executed
by a server. The probe library writes one row per call with the process id,
which is what the assertions count.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest

from tests.conftest import free_port
from tests.modules.workflows.workflows_helpers import (
    calls_in,
    rig_on,
    settings_for,
    step,
    wait_until,
)

WEBAPP = Path(sys.executable).with_name("webapp")
STALE_SECONDS = "3"


class Server:
    """One `webapp serve` process on the test's data folder."""

    def __init__(self, root: Path, name: str):
        self.root = root
        self.name = name
        self.port = free_port()
        self.log = root / f"{name}.log"
        settings = settings_for(root)
        env = {
            **os.environ,
            "DB_PATH": str(settings.data_dir),
            "LIBRARIES_DIR": settings.libraries_dir,
            "BCRYPT_ROUNDS": "4",
            "LOG_CONSOLE": "false",
            "LOG_FILE": str(self.log),
            "LIBRARY_SYNC_SECONDS": "0.5",
            "WORKFLOW_STALE_SECONDS": STALE_SECONDS,
        }
        with open(root / f"{name}.out", "wb") as out:
            self.process = subprocess.Popen(  # pylint: disable=consider-using-with
                # The server outlives this block; `stop`/`kill` end it.
                [str(WEBAPP), "serve", "--host", "127.0.0.1", "--port", str(self.port)],
                cwd=root,  # no stray .env from the checkout
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    @property
    def pid(self) -> int:
        """The server's process id (what the probe records)."""
        return self.process.pid

    def ready(self, timeout: float = 20.0) -> "Server":
        """Wait for /healthz to answer 200."""

        def healthy() -> bool:
            self.check_alive()
            try:
                return httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=1).is_success
            except httpx.TransportError:
                return False

        wait_until(healthy, timeout, every=0.05)
        return self

    def check_alive(self) -> None:
        """Fail with the server's output when it has exited."""
        if self.process.poll() is not None:
            output = (self.root / f"{self.name}.out").read_text(encoding="utf-8", errors="replace")
            raise AssertionError(f"server {self.name} exited early:\n{output}")

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        """A normal shutdown (if it is still running)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture(name="servers")
def fixture_servers() -> Iterator[list[Server]]:
    """Servers a test starts; any still running at the end are stopped."""
    started: list[Server] = []
    yield started
    for server in started:
        server.stop()


def query(root: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Read the shared database straight from its file."""
    with sqlite3.connect(settings_for(root).database_file, timeout=10) as conn:
        return conn.execute(sql, params).fetchall()


def run_status(root: Path, run_id: int) -> str:
    """The run's status as stored."""
    return query(root, "SELECT status FROM workflow_run WHERE id = ?", (run_id,))[0][0]


def test_a_run_survives_a_killed_server_without_running_a_completed_step_twice(
    tmp_path: Path, servers: list[Server]
) -> None:
    # Step 3 sleeps longer: a wide window to kill the server in, even on a busy machine.
    sleeps = {1: 0.4, 2: 0.4, 3: 1.5, 4: 0.4, 5: 0.4}
    with rig_on(tmp_path, runner=False) as rig:
        workflow_id = rig.create(
            *(step(f"s{n}", "probe.count", params={"key": f"s{n}", "sleep": sleep})
              for n, sleep in sleeps.items())
        )  # fmt: skip
        run_id = rig.run(workflow_id)
    database = rig.services.settings.database_file
    first = Server(tmp_path, "first")
    servers.append(first)

    def in_step_three() -> bool:
        first.check_alive()
        counts = calls_in(database)
        assert isinstance(counts, dict) and "s4" not in counts, f"missed step 3: {counts}"
        return "s3" in counts

    wait_until(in_step_three, timeout=30)
    first.kill()  # step 3 is in its sleep
    assert run_status(tmp_path, run_id) == "running"
    assert calls_in(database) == {"s1": 1, "s2": 1, "s3": 1}

    second = Server(tmp_path, "second")
    servers.append(second)
    wait_until(lambda: run_status(tmp_path, run_id) == "completed", timeout=30, every=0.05)

    counts = calls_in(database)
    assert isinstance(counts, dict)
    assert {k: counts[k] for k in ("s1", "s2", "s4", "s5")} == {"s1": 1, "s2": 1, "s4": 1, "s5": 1}
    assert counts["s3"] in (1, 2)
    pids = dict(query(tmp_path, "SELECT tag, pid FROM probe_call WHERE tag IN ('s1', 's5')"))
    assert pids == {"s1": first.pid, "s5": second.pid}
    history = query(
        tmp_path,
        "SELECT step_id, attempt, status, error FROM step_run WHERE run = ? ORDER BY id",
        (run_id,),
    )
    assert [(s, a, st) for s, a, st, _ in history] == [
        ("s1", 1, "completed"),
        ("s2", 1, "completed"),
        ("s3", 1, "failed"),
        ("s3", 2, "completed"),
        ("s4", 1, "completed"),
        ("s5", 1, "completed"),
    ]
    assert history[2][3] == "interrupted (the process stopped)"


def test_two_servers_on_one_database_run_every_run_exactly_once(
    tmp_path: Path, servers: list[Server]
) -> None:
    with rig_on(tmp_path, runner=False) as rig:
        workflow_id = rig.create(
            step("work", "probe.count", params={"key": "${trigger.key}", "sleep": 0.1})
        )
        servers.extend([Server(tmp_path, "left"), Server(tmp_path, "right")])
        for server in servers:
            server.ready()
        with rig.services.db.transaction():
            run_ids = [rig.run(workflow_id, {"key": f"r{n}"}) for n in range(50)]
        marks = ", ".join("?" for _ in run_ids)

        def all_finished() -> bool:
            rows = query(
                tmp_path,
                f"SELECT count(*) FROM workflow_run WHERE id IN ({marks}) "
                "AND status IN ('completed', 'failed', 'cancelled')",
                tuple(run_ids),
            )
            return rows[0][0] == len(run_ids)

        wait_until(all_finished, timeout=60, every=0.05)
        statuses = query(
            tmp_path,
            f"SELECT status, count(*) FROM workflow_run WHERE id IN ({marks}) GROUP BY status",
            tuple(run_ids),
        )
    assert statuses == [("completed", 50)]
    counts = calls_in(settings_for(tmp_path).database_file)
    assert counts == {f"r{n}": 1 for n in range(50)}
    by_process = dict(query(tmp_path, "SELECT pid, count(*) FROM probe_call GROUP BY pid"))
    assert set(by_process) == {servers[0].pid, servers[1].pid}, by_process
    assert sum(by_process.values()) == 50
    attempts = query(tmp_path, "SELECT count(*), max(attempt) FROM step_run")
    assert attempts == [(50, 1)]
