"""The runs API over HTTP: list with filters and a cursor, read one with its
step runs and log, cancel a queued or running run, retry a finished one;
who may call what; another account's runs are a 404."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator

import pytest

from tests.webapp.test_api_workflows import (
    SLOW,
    Api,
    build_api,
    create,
    error_of,
    steps,
    trigger,
    wait_for,
    wait_for_step,
)

NOOP = {"id": "only", "capability": "util.noop"}
FAIL = {"id": "boom", "capability": "util.fail", "params": {"message": "the printer is on fire"}}
SET = {"id": "first", "capability": "util.set", "params": {"n": "${trigger.n}"}}


@pytest.fixture(name="api")
def fixture_api(tmp_path: Path) -> Iterator[Api]:
    """The app with three customer keys and one of another account."""
    yield from build_api(tmp_path)


@pytest.fixture(name="one_worker")
def fixture_one_worker(tmp_path: Path) -> Iterator[Api]:
    """The same, with a single runner worker (so a second run stays queued)."""
    yield from build_api(tmp_path, WORKFLOW_WORKERS="1")


# --- list ----------------------------------------------------------------------------


def test_runs_list_filters_by_workflow_status_and_since(api: Api) -> None:
    quick = create(api, steps(NOOP, name="Quick"))
    broken = create(api, steps(FAIL, name="Broken"))
    quick_runs = [trigger(api, quick["id"]) for _ in range(3)]
    broken_run = trigger(api, broken["id"])
    for run_id in (*quick_runs, broken_run):
        wait_for(api, run_id)

    def ids(**query: object) -> list[int]:
        response = api.client.get("/api/v1/runs", params=query, headers=api.viewer)
        assert response.status_code == 200, response.text
        return [run["id"] for run in response.json()["items"]]

    assert ids() == sorted([*quick_runs, broken_run], reverse=True)  # newest first
    assert ids(workflow=quick["id"]) == sorted(quick_runs, reverse=True)
    assert ids(status="failed") == [broken_run]
    assert ids(status="completed", workflow=broken["id"]) == []
    assert ids(workflow=999) == []
    now = datetime.now(timezone.utc)
    assert ids(since=(now + timedelta(minutes=1)).isoformat()) == []
    assert len(ids(since=(now - timedelta(minutes=5)).isoformat())) == 4
    assert len(ids(since=(now - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ"))) == 4
    # An unencoded "+" arrives as a space; it still reads as an offset.
    since = (now - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%S")
    listed = api.client.get(f"/api/v1/runs?since={since}+00:00", headers=api.viewer).json()
    assert len(listed["items"]) == 4

    item = api.client.get("/api/v1/runs", params={"status": "failed"}, headers=api.viewer)
    run = item.json()["items"][0]
    assert run["error"] and "the printer is on fire" in run["error"]
    assert "steps" not in run and "logs" not in run

    for bad, field in (
        ({"status": "exploded"}, "status"),
        ({"since": "last tuesday"}, "since"),
        ({"workflow": "abc"}, "workflow"),
        ({"workflow": "0"}, "workflow"),
        ({"limit": "500"}, "limit"),
        ({"after": "bm90IGEgY3Vyc29y"}, "after"),
    ):
        error = error_of(api.client.get("/api/v1/runs", params=bad, headers=api.viewer), 422)
        assert field in error["fields"], (bad, error)


def test_runs_list_pages_with_a_cursor(api: Api) -> None:
    workflow = create(api, steps(NOOP))
    run_ids = [trigger(api, workflow["id"]) for _ in range(5)]
    for run_id in run_ids:
        wait_for(api, run_id)
    seen: list[int] = []
    cursor = None
    for _ in range(5):
        query = {"limit": "2"} if cursor is None else {"limit": "2", "after": cursor}
        page = api.client.get("/api/v1/runs", params=query, headers=api.viewer).json()
        seen += [run["id"] for run in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(run_ids, reverse=True)


# --- one run -------------------------------------------------------------------------


def test_a_run_has_its_steps_attempts_and_log(api: Api) -> None:
    retrying = {
        **FAIL,
        "retry": {"max_attempts": 2, "initial_interval_seconds": 0, "backoff_coefficient": 1},
    }
    workflow = create(api, steps(SET, retrying, {"id": "never", "capability": "util.noop"}))
    run = wait_for(api, trigger(api, workflow["id"], {"n": 7}))
    assert run["status"] == "failed"
    assert "the printer is on fire" in run["error"]
    assert [(s["step_id"], s["attempt"], s["status"]) for s in run["steps"]] == [
        ("first", 1, "completed"),
        ("boom", 1, "failed"),
        ("boom", 2, "failed"),
        ("never", 0, "skipped"),
    ]
    first = run["steps"][0]
    assert first["input"] == {"n": 7} and first["output"] == {"n": 7}
    assert first["capability"] == "util.set" and first["error"] is None
    assert isinstance(first["duration_ms"], float)
    datetime.fromisoformat(first["started_at"])
    assert run["steps"][3]["error"] == "an earlier step failed"
    warnings = [line for line in run["logs"] if line["level"] == "WARNING"]
    assert warnings and warnings[0]["step_id"] == "boom"
    assert "attempt 1 of 2 failed" in warnings[0]["message"]
    datetime.fromisoformat(warnings[0]["created_at"])
    assert run["duration_ms"] >= 0 and run["cancel_requested"] is False


# --- cancel --------------------------------------------------------------------------


def test_cancel_a_running_run(api: Api) -> None:
    workflow = create(api, steps(SLOW, {"id": "after", "capability": "util.noop"}))
    run_id = trigger(api, workflow["id"])
    wait_for_step(api, run_id, "wait")
    started = time.monotonic()
    response = api.client.post(f"/api/v1/runs/{run_id}/cancel", headers=api.member)
    assert response.status_code == 202
    assert response.json() == {"run_id": run_id, "status": "running"}
    run = wait_for(api, run_id, ("cancelled",), timeout=4.0)
    assert time.monotonic() - started < 3.0  # the 5-second wait stopped early
    assert run["cancel_requested"] is True
    wait, after = run["steps"]
    # util.delay stops early when its run is cancelled, and the step says so;
    # what follows never runs.
    assert (wait["step_id"], wait["status"]) == ("wait", "cancelled")
    assert "cancelled after" in wait["error"]
    assert (after["step_id"], after["status"]) == ("after", "cancelled")
    again = api.client.post(f"/api/v1/runs/{run_id}/cancel", headers=api.member)
    assert again.status_code == 202 and again.json()["status"] == "cancelled"


def test_cancel_a_queued_run(one_worker: Api) -> None:
    api = one_worker
    workflow = create(api, steps(SLOW))
    busy = trigger(api, workflow["id"])
    wait_for_step(api, busy, "wait")
    queued = trigger(api, workflow["id"])
    assert api.client.get(f"/api/v1/runs/{queued}", headers=api.viewer).json()["status"] == (
        "queued"
    )
    response = api.client.post(f"/api/v1/runs/{queued}/cancel", headers=api.admin)
    assert response.status_code == 202 and response.json()["status"] == "cancelled"
    run = api.client.get(f"/api/v1/runs/{queued}", headers=api.viewer).json()
    assert run["status"] == "cancelled" and run["started_at"] is None
    api.client.post(f"/api/v1/runs/{busy}/cancel", headers=api.admin)
    assert wait_for(api, busy)["status"] == "cancelled"


def test_cancel_a_finished_run_is_a_conflict(api: Api) -> None:
    workflow = create(api, steps(NOOP))
    run_id = trigger(api, workflow["id"])
    wait_for(api, run_id)
    error = error_of(api.client.post(f"/api/v1/runs/{run_id}/cancel", headers=api.admin), 409)
    assert "completed" in error["message"]


# --- retry ---------------------------------------------------------------------------


def test_retry_from_the_failed_step_reuses_completed_outputs(api: Api) -> None:
    workflow = create(api, steps(SET, FAIL))
    failed = wait_for(api, trigger(api, workflow["id"], {"n": 1}))
    assert failed["status"] == "failed"
    response = api.client.post(f"/api/v1/runs/{failed['id']}/retry", json={}, headers=api.member)
    assert response.status_code == 202
    new_id = response.json()["run_id"]
    assert new_id != failed["id"] and response.json()["status"] == "queued"
    assert response.headers["location"] == f"/api/v1/runs/{new_id}"
    retried = wait_for(api, new_id)
    assert retried["status"] == "failed"  # the same version fails the same way
    assert retried["retry_of"] == failed["id"] and retried["reuse_outputs"] is True
    assert retried["trigger_type"] == "retry" and retried["trigger_payload"] == {"n": 1}
    first = retried["steps"][0]
    assert (first["step_id"], first["status"], first["attempt"]) == ("first", "completed", 0)
    assert first["output"] == {"n": 1} and f"run {failed['id']}" in first["error"]
    assert [s["step_id"] for s in retried["steps"]] == ["first", "boom"]


def test_retry_on_the_latest_version_or_from_the_start(api: Api) -> None:
    workflow = create(api, steps(SET, FAIL))
    failed = wait_for(api, trigger(api, workflow["id"], {"n": 2}))
    fixed = steps(SET, {"id": "boom", "capability": "util.noop"})
    assert (
        api.client.put(f"/api/v1/workflows/{workflow['id']}", json=fixed, headers=api.admin)
    ).json()["version"] == 2
    path = f"/api/v1/runs/{failed['id']}/retry"

    pinned = api.client.post(path, json={"version": "pinned"}, headers=api.admin).json()
    assert wait_for(api, pinned["run_id"])["status"] == "failed"

    latest = api.client.post(path, json={"version": "latest"}, headers=api.admin).json()
    run = wait_for(api, latest["run_id"])
    assert run["status"] == "completed" and run["version"] == 2
    assert [s["attempt"] for s in run["steps"]] == [0, 1]  # "first" reused, not run

    fresh = api.client.post(
        path, json={"from": "start", "version": "latest"}, headers=api.admin
    ).json()
    run = wait_for(api, fresh["run_id"])
    assert run["status"] == "completed" and run["reuse_outputs"] is False
    assert [(s["step_id"], s["attempt"]) for s in run["steps"]] == [("first", 1), ("boom", 1)]


def test_retry_needs_a_finished_run_and_a_valid_body(api: Api) -> None:
    workflow = create(api, steps(SLOW))
    run_id = trigger(api, workflow["id"])
    wait_for_step(api, run_id, "wait")
    path = f"/api/v1/runs/{run_id}/retry"
    error = error_of(api.client.post(path, json={}, headers=api.admin), 409)
    assert error["code"] == "conflict" and "finished" in error["message"]
    for body, field in (
        ({"from": "middle"}, "from"),
        ({"version": 3}, "version"),
        ({"from": "start", "again": True}, "again"),
    ):
        assert field in error_of(api.client.post(path, json=body, headers=api.admin), 422)["fields"]
    bad = api.client.post(
        path, content=b"{oops", headers={**api.admin, "Content-Type": "application/json"}
    )
    assert error_of(bad, 400)["code"] == "bad_request"
    api.client.post(f"/api/v1/runs/{run_id}/cancel", headers=api.admin)
    assert wait_for(api, run_id)["status"] == "cancelled"
    # Cancelled is finished: it can be retried.
    assert api.client.post(path, headers=api.admin).status_code == 202


# --- permissions, tenants, keys --------------------------------------------------


def test_viewer_reads_runs_but_cannot_cancel_or_retry(api: Api) -> None:
    workflow = create(api, steps(NOOP))
    run_id = trigger(api, workflow["id"])
    wait_for(api, run_id)
    assert api.client.get("/api/v1/runs", headers=api.viewer).status_code == 200
    assert api.client.get(f"/api/v1/runs/{run_id}", headers=api.viewer).status_code == 200
    for action in ("cancel", "retry"):
        response = api.client.post(f"/api/v1/runs/{run_id}/{action}", headers=api.viewer)
        assert error_of(response, 403)["code"] == "forbidden"
    assert len(api.client.get("/api/v1/runs", headers=api.viewer).json()["items"]) == 1


def test_another_accounts_runs_are_not_found(api: Api) -> None:
    workflow = create(api, steps(NOOP))
    run_id = trigger(api, workflow["id"])
    wait_for(api, run_id)
    for method, path in (
        ("GET", f"/api/v1/runs/{run_id}"),
        ("POST", f"/api/v1/runs/{run_id}/cancel"),
        ("POST", f"/api/v1/runs/{run_id}/retry"),
    ):
        response = api.client.request(method, path, headers=api.other)
        assert error_of(response, 404)["code"] == "not_found", path
    theirs = api.client.get("/api/v1/runs", params={"workflow": workflow["id"]}, headers=api.other)
    assert theirs.json() == {"items": [], "next_cursor": None}
    assert api.client.get("/api/v1/runs", headers=api.other).json()["items"] == []
    assert len(api.client.get("/api/v1/runs", headers=api.admin).json()["items"]) == 1


@pytest.mark.parametrize("run_id", ["999", str(2**64)])
def test_unknown_runs_are_not_found(api: Api, run_id: str) -> None:
    for method, path in (
        ("GET", f"/api/v1/runs/{run_id}"),
        ("POST", f"/api/v1/runs/{run_id}/cancel"),
        ("POST", f"/api/v1/runs/{run_id}/retry"),
    ):
        assert error_of(api.client.request(method, path, headers=api.admin), 404), path


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/runs"),
        ("GET", "/api/v1/runs/1"),
        ("POST", "/api/v1/runs/1/cancel"),
        ("POST", "/api/v1/runs/1/retry"),
    ],
)
def test_runs_need_a_key(api: Api, method: str, path: str) -> None:
    response = api.client.request(method, path)
    assert error_of(response, 401)["code"] == "unauthorized"
    assert response.headers["www-authenticate"] == "Bearer"
