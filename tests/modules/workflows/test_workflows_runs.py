"""Runs: cancel (running, queued, from another process), retry (from the
failed step without running completed steps again, from the start, on the
pinned or the latest version), many runs at once, deleting a workflow with
runs going, redaction of secrets, retention, and account isolation."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest

from modules.datastore import NotFoundError
from modules.workflows.runs import to_db
from modules.workflows.service import WorkflowConflict
from tests.modules.workflows.workflows_helpers import (
    Rig,
    definition,
    outputs,
    statuses,
    step,
    wait_until,
)

# --- cancel -------------------------------------------------------------------------


def test_cancelling_a_running_run_stops_its_step_and_cancels_the_rest(rig: Rig) -> None:
    workflow_id = rig.create(
        step("first", "util.set", params={"x": 1}),
        step("long", "probe.count", params={"key": "long", "sleep": 5}),
        step("later", "util.noop"),
        step("last", "util.noop"),
    )
    run_id = rig.run(workflow_id)
    rig.step_running(run_id, "long")
    asked = time.monotonic()
    assert rig.flows.cancel_run(rig.account, run_id) == "running"
    run = rig.finished(run_id)
    assert time.monotonic() - asked < 1, "the running step was not asked to stop"
    assert run["status"] == "cancelled"
    assert statuses(run) == {
        "first": "completed",
        "long": "cancelled",
        "later": "cancelled",
        "last": "cancelled",
    }
    reasons = {s["step_id"]: s["error"] for s in run["steps"]}
    assert reasons["later"] == reasons["long"] == "the run was cancelled"
    long = [s for s in run["steps"] if s["step_id"] == "long"][0]
    assert long["output"] == {"key": "long", "calls": 1, "cancelled": True}  # ctx.cancelled
    assert outputs(run) == {"first": {"x": 1}}
    # Cancelling a finished run changes nothing.
    assert rig.flows.cancel_run(rig.account, run_id) == "cancelled"


def test_cancelling_a_dag_run_stops_every_running_branch(rig: Rig) -> None:
    workflow_id = rig.create(
        step("left", "util.delay", params={"seconds": 5}),
        step("right", "util.delay", params={"seconds": 5}),
        step("join", "util.noop", depends_on=["left", "right"]),
        mode="dag",
    )
    run_id = rig.run(workflow_id)
    rig.step_running(run_id, "left")
    rig.step_running(run_id, "right")
    rig.flows.cancel_run(rig.account, run_id)
    run = rig.finished(run_id, timeout=2)
    assert run["status"] == "cancelled"
    assert statuses(run) == {"left": "cancelled", "right": "cancelled", "join": "cancelled"}


def test_a_cancelled_queued_run_never_starts(cold: Rig) -> None:
    workflow_id = cold.create(step("count", "probe.count", params={"key": "queued"}))
    run_id = cold.run(workflow_id)
    assert cold.flows.cancel_run(cold.account, run_id) == "cancelled"
    keep = cold.run(workflow_id)
    cold.flows.start()
    assert cold.finished(keep)["status"] == "completed"
    run = cold.flows.get_run(cold.account, run_id)
    assert run["status"] == "cancelled"
    assert run["error"] == "cancelled before it started"
    assert run["steps"] == [] and run["started_at"] is None
    assert cold.calls("queued") == 1


def test_a_cancel_asked_through_the_database_reaches_the_run(rig: Rig) -> None:
    """What another process does: only the flag in the database is set; the
    heartbeat of the process running it carries it over."""
    workflow_id = rig.create(step("long", "util.delay", params={"seconds": 10}))
    run_id = rig.run(workflow_id)
    rig.step_running(run_id, "long")
    assert rig.flows.runs.request_cancel(rig.account, run_id, rig.flows.clock()) == "running"
    run = rig.finished(run_id, timeout=5)
    assert run["status"] == "cancelled"


def test_cancel_and_get_are_scoped_to_the_account(rig: Rig) -> None:
    workflow_id = rig.create(step("a", "util.noop"))
    run_id = rig.run(workflow_id)
    assert rig.flows.get_run(rig.other, run_id) is None
    with pytest.raises(NotFoundError):
        rig.flows.cancel_run(rig.other, run_id)
    with pytest.raises(NotFoundError):
        rig.flows.retry_run(rig.other, run_id)
    with pytest.raises(NotFoundError):
        rig.flows.trigger(rig.other, workflow_id)
    assert rig.flows.runs.page_runs(rig.other).items == []
    assert rig.finished(run_id)["status"] == "completed"


# --- retry ----------------------------------------------------------------------------


def failing_once(rig: Rig) -> tuple[int, int]:
    """A workflow whose middle step fails the first time, and its failed run."""
    workflow_id = rig.create(
        step("first", "probe.count", params={"key": "first"}),
        step("middle", "probe.flaky", params={"key": "middle", "failures": 1}),
        step("last", "util.set", params={"first_calls": "${steps.first.output.calls}"}),
    )
    run = rig.run_to_end(workflow_id, {"order": 42})
    assert run["status"] == "failed"
    assert statuses(run) == {"first": "completed", "middle": "failed", "last": "skipped"}
    return workflow_id, run["id"]


def test_retry_from_the_failed_step_reuses_completed_outputs(rig: Rig) -> None:
    workflow_id, failed = failing_once(rig)
    retry_id = rig.flows.retry_run(rig.account, failed)
    run = rig.finished(retry_id)
    assert run["status"] == "completed", run["error"]
    assert (run["retry_of"], run["trigger_type"], run["workflow"]) == (
        failed,
        "retry",
        workflow_id,
    )
    assert run["trigger_payload"] == {"order": 42}
    assert rig.calls("first") == 1, "a completed step ran again"
    assert rig.calls("middle") == 2
    first = [s for s in run["steps"] if s["step_id"] == "first"]
    assert len(first) == 1
    assert (first[0]["attempt"], first[0]["error"]) == (0, f"reused from run {failed}")
    assert outputs(run)["last"] == {"first_calls": 1}
    # The failed run is kept as it was.
    assert rig.flows.get_run(rig.account, failed)["status"] == "failed"


def test_retry_from_the_start_runs_every_step_again(rig: Rig) -> None:
    _, failed = failing_once(rig)
    run = rig.finished(rig.flows.retry_run(rig.account, failed, from_failed=False))
    assert run["status"] == "completed", run["error"]
    assert rig.calls("first") == 2 and rig.calls("middle") == 2
    assert outputs(run)["last"] == {"first_calls": 2}


def test_retry_on_the_pinned_or_the_latest_version(rig: Rig) -> None:
    workflow_id = rig.create(
        step("first", "probe.count", params={"key": "first"}),
        step("broken", "util.fail", params={"message": "v1 is broken"}),
    )
    failed = rig.run_to_end(workflow_id)["id"]
    rig.flows.update(
        rig.account,
        workflow_id,
        definition(
            step("first", "probe.count", params={"key": "first"}),
            step("broken", "util.set", params={"fixed": "${steps.first.output.calls}"}),
        ),
    )
    pinned = rig.finished(rig.flows.retry_run(rig.account, failed))
    assert (pinned["version"], pinned["status"], pinned["error"]) == (
        1,
        "failed",
        "broken: StepFailed: v1 is broken",
    )
    latest = rig.finished(rig.flows.retry_run(rig.account, failed, latest=True))
    assert (latest["version"], latest["status"]) == (2, "completed")
    assert outputs(latest)["broken"] == {"fixed": 1}
    assert rig.calls("first") == 1
    fresh = rig.finished(rig.flows.retry_run(rig.account, failed, from_failed=False, latest=True))
    assert (fresh["version"], fresh["status"]) == (2, "completed")
    assert outputs(fresh)["broken"] == {"fixed": 2}


def test_retrying_a_cancelled_run_runs_the_interrupted_step_again(rig: Rig) -> None:
    workflow_id = rig.create(
        step("first", "probe.count", params={"key": "first"}),
        step("long", "probe.count", params={"key": "long", "sleep": 5}),
    )
    run_id = rig.run(workflow_id)
    rig.step_running(run_id, "long")
    rig.flows.cancel_run(rig.account, run_id)
    assert rig.finished(run_id)["status"] == "cancelled"
    retried = rig.flows.retry_run(rig.account, run_id)
    rig.step_running(retried, "long")
    rig.flows.cancel_run(rig.account, retried)
    rig.finished(retried)
    assert rig.calls("first") == 1
    assert rig.calls("long") == 2


def test_only_a_finished_run_can_be_retried(cold: Rig) -> None:
    workflow_id = cold.create(step("a", "util.noop"))
    run_id = cold.run(workflow_id)
    with pytest.raises(WorkflowConflict):
        cold.flows.retry_run(cold.account, run_id)
    with pytest.raises(NotFoundError):
        cold.flows.retry_run(cold.account, 99999)


# --- many runs --------------------------------------------------------------------------


def test_ten_runs_of_one_workflow_at_once_each_keep_their_own_outputs(rig: Rig) -> None:
    workflow_id = rig.create(
        step("pause", "util.delay", params={"seconds": 0.1}),
        step("count", "probe.count", params={"key": "many"}),
        step("echo", "util.set", params={"n": "${trigger.n}", "label": "run ${trigger.n}"}),
    )
    with ThreadPoolExecutor(10) as pool:
        run_ids = list(pool.map(lambda n: rig.run(workflow_id, {"n": n}), range(10)))
    assert len(set(run_ids)) == 10
    runs = [rig.finished(run_id) for run_id in run_ids]
    assert [r["status"] for r in runs] == ["completed"] * 10
    assert [outputs(r)["echo"] for r in runs] == [{"n": n, "label": f"run {n}"} for n in range(10)]
    assert rig.calls("many") == 10
    assert all(len(r["steps"]) == 3 for r in runs)
    page = rig.flows.runs.page_runs(rig.account, workflow_id=workflow_id, status="completed")
    assert sorted(r["id"] for r in page.items) == sorted(run_ids)


# --- delete -----------------------------------------------------------------------------


def test_deleting_a_workflow_with_runs_going_needs_force(rig: Rig) -> None:
    workflow_id = rig.create(step("long", "probe.count", params={"key": "long", "sleep": 10}))
    running = rig.run(workflow_id)
    rig.step_running(running, "long")
    queued = rig.flows.runs.create_run(
        rig.account, workflow_id, 1, "manual", {}, now=rig.flows.clock(),
        not_before=rig.flows.clock() + timedelta(hours=1),
    )  # fmt: skip
    with pytest.raises(WorkflowConflict, match="2 queued or running runs"):
        rig.flows.delete(rig.account, workflow_id)
    assert rig.flows.get(rig.account, workflow_id) is not None
    assert rig.flows.get_run(rig.account, running)["status"] == "running"
    started = time.monotonic()
    rig.flows.delete(rig.account, workflow_id, force=True)
    assert time.monotonic() - started < 2
    assert rig.flows.get(rig.account, workflow_id) is None
    assert rig.flows.get_run(rig.account, running) is None
    assert rig.flows.get_run(rig.account, queued) is None
    assert rig.flows.runner.active == []
    for table in ("workflow_version", "workflow_run"):
        count = rig.services.db.execute_one(
            f"SELECT count(*) FROM {table} WHERE workflow = ?", (workflow_id,)
        )
        assert count[0] == 0
    assert (
        rig.services.db.execute_one("SELECT count(*) FROM step_run WHERE run = ?", (running,))[0]
        == 0
    )


def test_deleting_a_workflow_without_runs_going(rig: Rig) -> None:
    workflow_id = rig.create(step("a", "util.noop"))
    rig.run_to_end(workflow_id)
    rig.flows.delete(rig.account, workflow_id)
    assert rig.flows.get(rig.account, workflow_id) is None
    with pytest.raises(NotFoundError):
        rig.flows.delete(rig.account, workflow_id)


# --- redaction and retention ---------------------------------------------------------------


def test_secret_looking_params_are_stored_redacted(rig: Rig) -> None:
    workflow_id = rig.create(
        step("login", "probe.login", params={"user": "ada", "api_token": "${trigger.token}"}),
        step(
            "nested",
            "util.set",
            params={
                "config": {"password": "pw-SECRET-2", "hosts": [{"apiKey": "k-SECRET-3"}]},
                "plain": "visible",
            },
        ),
    )
    run = rig.run_to_end(workflow_id, {"token": "tok-SECRET-1"})
    assert run["status"] == "completed", run["error"]
    inputs = {s["step_id"]: s["input"] for s in run["steps"]}
    assert inputs["login"] == {"user": "ada", "api_token": "[redacted]"}
    assert inputs["nested"] == {
        "config": {"password": "[redacted]", "hosts": [{"apiKey": "[redacted]"}]},
        "plain": "visible",
    }
    login = [s for s in run["steps"] if s["step_id"] == "login"][0]
    assert login["output"] == {"user": "ada", "token_given": True}
    stored = rig.services.db.execute("SELECT input, error FROM step_run")
    assert "SECRET" not in json.dumps([list(r) for r in stored])
    assert "SECRET" not in json.dumps(run["logs"], default=str)


def test_prune_deletes_old_finished_runs_with_their_steps_and_logs(rig: Rig) -> None:
    workflow_id = rig.create(
        step("flaky", "probe.flaky", params={"key": "prune", "failures": 1},
             retry={"max_attempts": 2, "initial_interval_seconds": 0.01}),
    )  # fmt: skip
    old = rig.run_to_end(workflow_id)
    assert old["logs"] and len(old["steps"]) == 2
    recent = rig.run_to_end(workflow_id)
    slow = rig.create(step("long", "util.delay", params={"seconds": 10}))
    running = rig.run(slow)
    rig.step_running(running, "long")
    # Finished 31 days ago (retention is 30 days); started long ago too.
    long_ago = to_db(rig.flows.clock() - timedelta(days=31))
    rig.services.db.execute_write(
        "UPDATE workflow_run SET finished_at = ?, created_at = ?, started_at = ? WHERE id = ?",
        (long_ago, long_ago, long_ago, old["id"]),
    )
    rig.services.db.execute_write(
        "UPDATE workflow_run SET created_at = ?, started_at = ? WHERE id = ?",
        (long_ago, long_ago, running),
    )
    assert rig.flows.prune() == 1
    assert rig.flows.get_run(rig.account, old["id"]) is None
    for table in ("step_run", "run_log"):
        left = rig.services.db.execute_one(
            f"SELECT count(*) FROM {table} WHERE run = ?", (old["id"],)
        )
        assert left[0] == 0, table
    assert rig.flows.get_run(rig.account, recent["id"])["status"] == "completed"
    assert rig.flows.get_run(rig.account, running)["status"] == "running"
    assert rig.flows.prune() == 0
    rig.flows.cancel_run(rig.account, running)
    wait_until(lambda: rig.flows.get_run(rig.account, running)["status"] == "cancelled")
