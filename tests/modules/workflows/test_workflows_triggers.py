"""What starts runs besides a manual trigger (events from the people module
and from library capabilities, cron schedules, signed webhooks) and what a
failed run sets off (mail to the owner and the notify list, the error
workflow)."""

from __future__ import annotations

import json
import re
import time

import pytest

from modules.datastore import ValidationError
from modules.workflows.service import MAX_EVENT_DEPTH
from modules.workflows.webhooks import WebhookError, sign
from tests.modules.workflows.workflows_helpers import (
    Rig,
    definition,
    outputs,
    step,
    wait_until,
)


def runs_of(rig: Rig, workflow_id: int, account: int | None = None) -> list[dict]:
    """Every run of the workflow, oldest first."""
    page = rig.flows.runs.page_runs(account or rig.account, workflow_id=workflow_id, limit=200)
    return sorted(page.items, key=lambda r: r["id"])


# --- events -----------------------------------------------------------------------------


def test_a_user_created_in_an_account_starts_only_that_accounts_listeners(rig: Rig) -> None:
    listen = {"type": "event", "event": "user.created"}
    greet = step("greet", "util.set", params={"hello": "${trigger.username}"})
    mine = rig.create(greet, trigger=listen)
    theirs = rig.create(greet, trigger=listen, account=rig.other)
    off = rig.create(greet, trigger=listen, enabled=False)
    rig.services.tenants.create_user(rig.account, "new@acme.test", "New Person")
    assert len(runs_of(rig, mine)) == 1
    assert runs_of(rig, theirs, rig.other) == [] and runs_of(rig, off) == []
    run = rig.finished(runs_of(rig, mine)[0]["id"])
    assert run["trigger_type"] == "event"
    assert run["trigger_payload"]["event"] == "user.created"
    assert run["trigger_payload"]["username"] == "new@acme.test"
    assert outputs(run) == {"greet": {"hello": "new@acme.test"}}
    rig.services.tenants.create_user(rig.other, "new@beta.test", "Beta Person")
    assert len(runs_of(rig, mine)) == 1
    assert len(runs_of(rig, theirs, rig.other)) == 1


def test_an_event_of_a_rolled_back_change_starts_nothing(rig: Rig) -> None:
    mine = rig.create(step("a", "util.noop"), trigger={"type": "event", "event": "user.created"})
    with pytest.raises(ValidationError):
        with rig.services.db.transaction():
            rig.services.tenants.create_user(rig.account, "ghost@acme.test", "Ghost")
            raise ValidationError({"_": "changed my mind"})
    assert runs_of(rig, mine) == []


def test_an_event_a_capability_emits_starts_the_workflows_listening(rig: Rig) -> None:
    listener = rig.create(
        step("echo", "util.set", params={"note": "${trigger.note}"}),
        trigger={"type": "event", "event": "probe.pinged"},
    )
    sender = rig.create(step("ping", "probe.ping", params={"note": "${trigger.note}"}))
    assert rig.run_to_end(sender, {"note": "hello"})["status"] == "completed"
    started = wait_until(lambda: runs_of(rig, listener))
    run = rig.finished(started[0]["id"])
    assert outputs(run) == {"echo": {"note": "hello"}}
    assert run["trigger_payload"]["event"] == "probe.pinged"
    # A call that fails after emitting announces nothing.
    failing = rig.create(step("ping", "probe.ping", params={"note": "lost", "fail": True}))
    assert rig.run_to_end(failing)["status"] == "failed"
    time.sleep(0.1)
    assert len(runs_of(rig, listener)) == 1


def test_workflows_that_emit_the_event_they_listen_for_stop_five_levels_deep(rig: Rig) -> None:
    echo = rig.create(
        step("ping", "probe.ping", params={"note": "again"}),
        trigger={"type": "event", "event": "probe.pinged"},
    )
    starter = rig.create(step("ping", "probe.ping", params={"note": "first"}))
    rig.run_to_end(starter)
    wait_until(lambda: len(runs_of(rig, echo)) >= MAX_EVENT_DEPTH, timeout=5)
    for run in runs_of(rig, echo):
        rig.finished(run["id"])
    time.sleep(0.3)
    runs = runs_of(rig, echo)
    assert len(runs) == MAX_EVENT_DEPTH
    assert [r["trigger_payload"]["_event_depth"] for r in runs] == list(
        range(1, MAX_EVENT_DEPTH + 1)
    )


def test_core_events_raised_inside_a_step_carry_the_chain_depth(rig: Rig) -> None:
    # Each run adds a user; adding a user announces user.created, which starts
    # the workflow again: the chain must stop, like any other event chain.
    adder = rig.create(
        step(
            "add",
            "users.create",
            params={"username": "u${trigger._event_depth}@acme.test", "display_name": "U"},
        ),
        trigger={"type": "event", "event": "user.created"},
    )
    rig.services.tenants.create_user(rig.account, "first@acme.test", "First")
    wait_until(lambda: len(runs_of(rig, adder)) >= MAX_EVENT_DEPTH, timeout=10)
    for run in runs_of(rig, adder):
        rig.finished(run["id"])
    time.sleep(0.3)
    runs = runs_of(rig, adder)
    assert len(runs) == MAX_EVENT_DEPTH, [r["trigger_payload"] for r in runs]
    assert sorted(r["trigger_payload"]["_event_depth"] for r in runs) == list(
        range(1, MAX_EVENT_DEPTH + 1)
    )


# --- schedules --------------------------------------------------------------------------


def test_a_schedule_firing_twice_in_one_minute_makes_one_run(rig: Rig) -> None:
    nightly = rig.create(
        step("echo", "util.set", params={"at": "${trigger.scheduled_for}"}),
        trigger={"type": "schedule", "cron": "0 2 * * *"},
    )
    rig.flows.fire_schedule(rig.account, nightly, "2030-01-01T02:00")
    rig.flows.fire_schedule(rig.account, nightly, "2030-01-01T02:00")  # another process
    runs = runs_of(rig, nightly)
    assert len(runs) == 1 and runs[0]["trigger_type"] == "schedule"
    assert outputs(rig.finished(runs[0]["id"])) == {"echo": {"at": "2030-01-01T02:00"}}
    rig.flows.fire_schedule(rig.account, nightly, "2030-01-02T02:00")
    assert len(runs_of(rig, nightly)) == 2
    # Disabled, not a schedule, or gone: a tick starts nothing.
    rig.flows.set_enabled(rig.account, nightly, False)
    rig.flows.fire_schedule(rig.account, nightly, "2030-01-03T02:00")
    manual = rig.create(step("a", "util.noop"))
    rig.flows.fire_schedule(rig.account, manual, "2030-01-03T02:00")
    rig.flows.fire_schedule(rig.account, 9999, "2030-01-03T02:00")
    assert len(runs_of(rig, nightly)) == 2 and runs_of(rig, manual) == []


def test_saved_schedules_become_cron_jobs_and_follow_changes(rig: Rig) -> None:
    scheduler = rig.flows.runner.scheduler
    data = definition(step("a", "util.noop"), trigger={"type": "schedule", "cron": "*/5 * * * *"})
    workflow_id = rig.flows.create(rig.account, data)["id"]
    job = scheduler.get_job(f"wf-{workflow_id}")
    assert job is not None
    assert "minute='*/5'" in str(job.trigger)
    data["trigger"] = {"type": "schedule", "cron": "30 9 * * 1", "timezone": "Europe/Paris"}
    rig.flows.update(rig.account, workflow_id, data)
    job = scheduler.get_job(f"wf-{workflow_id}")
    assert "minute='30'" in str(job.trigger) and "hour='9'" in str(job.trigger)
    assert str(job.trigger.timezone) == "Europe/Paris"
    # The job starts a run stamped with the minute, as the scheduler would.
    job.func(*job.args)
    runs = wait_until(lambda: runs_of(rig, workflow_id))
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d", runs[0]["trigger_payload"]["scheduled_for"])
    rig.flows.set_enabled(rig.account, workflow_id, False)
    assert scheduler.get_job(f"wf-{workflow_id}") is None
    rig.flows.set_enabled(rig.account, workflow_id, True)
    assert scheduler.get_job(f"wf-{workflow_id}") is not None
    rig.flows.delete(rig.account, workflow_id, force=True)
    assert scheduler.get_job(f"wf-{workflow_id}") is None


def test_set_schedules_registers_and_removes_jobs(rig: Rig) -> None:
    runner = rig.flows.runner
    runner.set_schedules(
        [(rig.account, 501, "15 * * * *", "UTC"), (rig.account, 502, "bad", "UTC")]
    )
    assert runner.scheduler.get_job("wf-501") is not None
    assert runner.scheduler.get_job("wf-502") is None
    runner.set_schedules([])
    assert runner.scheduler.get_job("wf-501") is None


# --- failure notifications --------------------------------------------------------------


def mails(rig: Rig, template: str = "run_failed") -> list[dict]:
    """Outbox rows of one template, oldest first."""
    rows = rig.services.mailer.outbox_page(limit=200).items
    return sorted((m for m in rows if m["template"] == template), key=lambda m: m["id"])


def test_a_failed_run_mails_the_owner_and_the_notify_list(rig: Rig) -> None:
    workflow_id = rig.create(
        step("boom", "util.fail", params={"message": "disk full"}),
        name="Nightly export",
        notify=["ops@acme.test", "oncall@acme.test"],
    )
    run = rig.run_to_end(workflow_id)
    queued = wait_until(lambda: len(mails(rig)) == 3 and mails(rig))
    assert sorted(m["to_address"] for m in queued) == [
        "oncall@acme.test",
        "ops@acme.test",
        "owner@acme.test",
    ]
    for mail in queued:
        assert mail["subject"] == f'Run {run["id"]} of "Nightly export" failed'
        assert "boom: StepFailed: disk full" in mail["body_text"]
        assert f"/runs/{run['id']}" in mail["body_text"]
        assert mail["status"] == "queued"


def test_completed_and_cancelled_runs_mail_nobody(rig: Rig) -> None:
    fine = rig.create(step("a", "util.noop"), notify=["ops@acme.test"])
    rig.run_to_end(fine)
    slow = rig.create(step("long", "util.delay", params={"seconds": 5}), notify=["ops@acme.test"])
    run_id = rig.run(slow)
    rig.step_running(run_id, "long")
    rig.flows.cancel_run(rig.account, run_id)
    rig.finished(run_id)
    time.sleep(0.1)
    assert mails(rig) == []


def test_a_failed_run_starts_its_error_workflow_with_the_details(rig: Rig) -> None:
    handler = rig.create(
        step(
            "note",
            "util.set",
            params={"run": "${trigger.failed_run_id}", "why": "${trigger.error}"},
        ),
        name="On failure",
    )
    workflow_id = rig.create(
        step("boom", "util.fail", params={"message": "bad input"}),
        name="Import",
        error_workflow=handler,
    )
    failed = rig.run_to_end(workflow_id)
    started = wait_until(lambda: runs_of(rig, handler))
    run = rig.finished(started[0]["id"])
    assert run["trigger_type"] == "error"
    assert run["trigger_payload"] == {
        "failed_run_id": failed["id"],
        "workflow_id": workflow_id,
        "workflow_name": "Import",
        "error": "boom: StepFailed: bad input",
    }
    assert outputs(run) == {"note": {"run": failed["id"], "why": "boom: StepFailed: bad input"}}


def test_two_failing_error_workflows_do_not_start_each_other_forever(rig: Rig) -> None:
    first = rig.create(step("boom", "util.fail"), name="First")
    second = rig.create(step("boom", "util.fail"), name="Second", error_workflow=first)
    rig.flows.update(
        rig.account, first, definition(step("boom", "util.fail"), name="First",
                                       error_workflow=second)
    )  # fmt: skip
    rig.run_to_end(first)
    handled = wait_until(lambda: runs_of(rig, second))
    rig.finished(handled[0]["id"])
    time.sleep(0.3)
    assert len(runs_of(rig, first)) == 1
    assert len(runs_of(rig, second)) == 1


# --- webhooks ---------------------------------------------------------------------------


def hook(rig: Rig, enabled: bool = True) -> tuple[int, str, str]:
    """A webhook workflow: (workflow id, url token, signing secret)."""
    workflow_id = rig.create(
        step("echo", "util.set", params={"email": "${trigger.email}"}),
        trigger={"type": "webhook"},
        enabled=enabled,
    )
    token, secret = rig.flows.webhook_secret(rig.account, workflow_id)
    return workflow_id, token, secret


def refused(rig: Rig, token: str, body: bytes, header: str | None) -> tuple[int, str]:
    """(status, message) of a refused webhook call."""
    with pytest.raises(WebhookError) as caught:
        rig.flows.receive_webhook(token, body, header)
    return caught.value.status, str(caught.value)


def test_a_signed_webhook_starts_a_run_with_the_body_as_payload(rig: Rig) -> None:
    workflow_id, token, secret = hook(rig)
    body = json.dumps({"email": "ada@example.com", "plan": "pro"}).encode()
    run_id = rig.flows.receive_webhook(token, body, sign(secret, body, int(time.time())))
    run = rig.finished(run_id)
    assert (run["workflow"], run["trigger_type"], run["status"]) == (
        workflow_id,
        "webhook",
        "completed",
    )
    assert run["trigger_payload"] == {"email": "ada@example.com", "plan": "pro"}
    assert outputs(run) == {"echo": {"email": "ada@example.com"}}
    workflow = rig.flows.get(rig.account, workflow_id)
    assert workflow["has_webhook"] is True
    assert token not in json.dumps(workflow, default=str)
    assert secret not in json.dumps(workflow, default=str)


def test_bad_webhook_requests_are_refused_with_the_right_status(rig: Rig) -> None:
    workflow_id, token, secret = hook(rig)
    body = b'{"email": "ada@example.com"}'
    now = int(time.time())
    assert refused(rig, token, body, sign("whsec_wrong", body, now))[0] == 401
    assert refused(rig, token, body, sign(secret, b'{"email": "eve"}', now))[0] == 401
    assert refused(rig, token, body, None) == (401, "the X-Signature header is missing")
    assert refused(rig, token, body, "")[0] == 401
    assert refused(rig, token, body, "v1=abc")[0] == 401
    assert refused(rig, token, body, sign(secret, body, now - 301))[0] == 401
    assert refused(rig, token, body, sign(secret, body, now + 301))[0] == 401
    assert refused(rig, token, body, f"t={10**20},v1=00")[0] == 401
    assert refused(rig, token, body, f"t={10**12},v1=00")[0] == 401
    assert refused(rig, "not-a-token", body, sign(secret, body, now))[0] == 404
    assert refused(rig, token, b"not json", sign(secret, b"not json", now)) == (
        400,
        "the body must be JSON",
    )
    assert refused(rig, token, b"[1, 2]", sign(secret, b"[1, 2]", now))[0] == 400
    assert refused(rig, token, b"\xff\xfe", sign(secret, b"\xff\xfe", now))[0] == 400
    assert runs_of(rig, workflow_id) == []


def test_a_replayed_webhook_request_is_refused(rig: Rig) -> None:
    workflow_id, token, secret = hook(rig)
    body = b'{"email": "ada@example.com"}'
    header = sign(secret, body, int(time.time()))
    rig.flows.receive_webhook(token, body, header)
    assert refused(rig, token, body, header) == (409, "this request was already received (replay)")
    # The same body signed at another second is a new request.
    rig.flows.receive_webhook(token, body, sign(secret, body, int(time.time()) - 1))
    assert len(runs_of(rig, workflow_id)) == 2


def test_a_disabled_or_rekeyed_webhook_workflow_refuses_requests(rig: Rig) -> None:
    workflow_id, token, secret = hook(rig, enabled=False)
    body = b"{}"
    assert refused(rig, token, body, sign(secret, body, int(time.time())))[0] == 409
    new_token, new_secret = rig.flows.webhook_secret(rig.account, workflow_id)
    assert refused(rig, token, body, sign(new_secret, body, int(time.time()) - 2))[0] == 404
    rig.flows.set_enabled(rig.account, workflow_id, True)
    assert refused(rig, new_token, body, sign(secret, body, int(time.time())))[0] == 401
    run_id = rig.flows.receive_webhook(new_token, body, sign(new_secret, body, int(time.time())))
    assert rig.finished(run_id)["trigger_payload"] == {}
