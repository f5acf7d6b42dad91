"""The runner: atomic claims, delayed runs, recovery of runs a dead process
left running (they resume after their last completed step), and shutdown,
which hands in-flight runs back to the queue to complete after a restart."""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

from modules.datastore import Database
from modules.workflows.runs import RunStore
from tests.modules.workflows.workflows_helpers import (
    Rig,
    outputs,
    reopen,
    rig_on,
    statuses,
    step,
    wait_until,
)


def attempts(run: dict, step_id: str) -> list[tuple[int, str]]:
    """(attempt, status) of every step run of one step."""
    return [(s["attempt"], s["status"]) for s in run["steps"] if s["step_id"] == step_id]


def test_claims_are_atomic_across_connections(cold: Rig) -> None:
    workflow_id = cold.create(step("a", "util.noop"))
    queued = {cold.run(workflow_id) for _ in range(50)}
    path = cold.services.settings.database_file
    claimed: Counter[int] = Counter()
    lock = threading.Lock()

    def worker(number: int) -> None:
        store = RunStore(Database(path))  # its own connections, like another process
        try:
            while (run := store.claim(f"worker-{number}", cold.flows.clock())) is not None:
                with lock:
                    claimed[run["id"]] += 1
        finally:
            store.db.close()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert set(claimed) == queued
    assert set(claimed.values()) == {1}


def test_a_run_due_later_waits_until_it_is_due(rig: Rig) -> None:
    workflow_id = rig.create(step("a", "util.noop"))
    due = rig.flows.clock() + timedelta(seconds=1)
    run_id = rig.flows.runs.create_run(
        rig.account, workflow_id, 1, "manual", {}, now=rig.flows.clock(), not_before=due
    )
    rig.flows.runner.wake()
    time.sleep(0.3)
    assert rig.flows.get_run(rig.account, run_id)["status"] == "queued"
    run = rig.finished(run_id, timeout=3)
    assert run["status"] == "completed"
    assert run["started_at"] >= due


def test_a_stale_run_is_requeued_at_start_and_resumes_after_its_last_completed_step(
    cold: Rig,
) -> None:
    workflow_id = cold.create(
        step("first", "probe.count", params={"key": "first"}),
        step("second", "probe.count", params={"key": "second"}),
        step("third", "util.set", params={"first_calls": "${steps.first.output.calls}"}),
    )
    store, account = cold.flows.runs, cold.account
    now = cold.flows.clock()
    # A process claimed this run a minute ago, completed `first`, started
    # `second` and died: no heartbeat since.
    stale = cold.run(workflow_id)
    assert store.claim("dead-worker", now - timedelta(seconds=60))["id"] == stale
    done = store.start_step(
        account,
        stale,
        step_id="first",
        capability="probe.count",
        attempt=1,
        resolved_input={"key": "first"},
        now=now - timedelta(seconds=59),
    )
    store.finish_step(
        done, "completed", output={"key": "first", "calls": 41}, now=now - timedelta(seconds=58)
    )
    store.start_step(account, stale, step_id="second", capability="probe.count", attempt=1,
                     resolved_input={"key": "second"}, now=now - timedelta(seconds=57))  # fmt: skip
    # Another process is running this one right now: hands off.
    alive = cold.run(workflow_id)
    assert store.claim("live-worker", now)["id"] == alive
    cold.flows.start()
    run = cold.finished(stale)
    assert run["status"] == "completed", run["error"]
    assert cold.calls("first") == 0, "a completed step ran again"
    assert cold.calls("second") == 1
    assert attempts(run, "first") == [(1, "completed")]
    assert attempts(run, "second") == [(1, "failed"), (2, "completed")]
    interrupted = [s for s in run["steps"] if s["step_id"] == "second"][0]
    assert interrupted["error"] == "interrupted (the process stopped)"
    assert outputs(run)["third"] == {"first_calls": 41}
    time.sleep(0.2)
    other = cold.flows.runs.run_by_id(alive)
    assert (other["status"], other["claimed_by"]) == ("running", "live-worker")


def test_shutdown_hands_in_flight_runs_back_and_they_complete_after_a_restart(
    tmp_path: Path,
) -> None:
    with rig_on(tmp_path) as first:
        workflow_id = first.create(
            step("one", "probe.count", params={"key": "one"}),
            step("two", "probe.count", params={"key": "two", "sleep": 1}),
            step("three", "probe.count", params={"key": "three"}),
        )
        run_id = first.run(workflow_id)
        first.step_running(run_id, "two")
        first.flows.stop(grace_seconds=5)
        run = first.flows.get_run(first.account, run_id)
        assert (run["status"], run["claimed_by"]) == ("queued", None)
        assert statuses(run) == {"one": "completed", "two": "completed"}
        account = first.account
    with reopen(tmp_path) as services:
        run = wait_until(
            lambda: (r := services.workflows.get_run(account, run_id))["status"] == "completed"
            and r
        )
        counts = {k: services.store.dao("probe_call").count(account, {"tag": k})
                  for k in ("one", "two", "three")}  # fmt: skip
    assert counts == {"one": 1, "two": 1, "three": 1}
    assert [s["step_id"] for s in run["steps"]] == ["one", "two", "three"]


def test_shutdown_during_a_retry_wait_hands_the_run_back_at_once(tmp_path: Path) -> None:
    retry = {"max_attempts": 3, "initial_interval_seconds": 30}
    with rig_on(tmp_path) as first:
        workflow_id = first.create(
            step("flaky", "probe.flaky", params={"key": "flaky", "failures": 1}, retry=retry)
        )
        run_id = first.run(workflow_id)
        wait_until(lambda: first.calls("flaky") == 1)
        time.sleep(0.05)
        started = time.monotonic()
        first.flows.stop(grace_seconds=5)
        assert time.monotonic() - started < 1
        assert first.flows.get_run(first.account, run_id)["status"] == "queued"
        account = first.account
    with reopen(tmp_path) as services:
        run = wait_until(
            lambda: (r := services.workflows.get_run(account, run_id))["status"] == "completed"
            and r
        )
    assert attempts(run, "flaky") == [(1, "failed"), (2, "completed")]


def test_a_resumed_step_gets_only_what_is_left_of_its_retry_budget(cold: Rig) -> None:
    retry = {"max_attempts": 3, "initial_interval_seconds": 0.01}
    workflow_id = cold.create(
        step("flaky", "probe.flaky", params={"key": "flaky", "failures": 5}, retry=retry)
    )
    store, account = cold.flows.runs, cold.account
    now = cold.flows.clock()
    # A process made two failed attempts a minute ago, then died.
    stale = cold.run(workflow_id)
    assert store.claim("dead-worker", now - timedelta(seconds=60))["id"] == stale
    for number in (1, 2):
        made = store.start_step(
            account, stale, step_id="flaky", capability="probe.flaky", attempt=number,
            resolved_input={}, now=now - timedelta(seconds=59),
        )  # fmt: skip
        store.finish_step(made, "failed", error="boom", now=now - timedelta(seconds=58))
    cold.flows.start()
    run = cold.finished(stale)
    assert run["status"] == "failed"
    assert attempts(run, "flaky") == [(1, "failed"), (2, "failed"), (3, "failed")]
    assert cold.calls("flaky") == 1  # only the third attempt ran after the restart
