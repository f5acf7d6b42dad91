"""The engine through real runs: references, conditions, sequential and DAG
order, concurrency and its bound, retries with backoff (and what is never
retried), step and run timeouts, and on_error stop / continue / fallback."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from modules.workflows.definition import RetryPolicy, parse
from modules.workflows.engine import Engine
from tests.modules.workflows.workflows_helpers import Rig, outputs, statuses, step

FAST_RETRY = {"max_attempts": 3, "initial_interval_seconds": 0.05, "backoff_coefficient": 2.0}


def attempts_of(run: dict[str, Any], step_id: str) -> list[tuple[int, str]]:
    """(attempt, status) of every step run of one step."""
    return [(s["attempt"], s["status"]) for s in run["steps"] if s["step_id"] == step_id]


def intervals(run: dict[str, Any]) -> dict[str, tuple[datetime, datetime]]:
    """Step id -> (started, finished) of its step run."""
    return {s["step_id"]: (s["started_at"], s["finished_at"]) for s in run["steps"]}


def most_at_once(spans: list[tuple[datetime, datetime]]) -> int:
    """The largest number of spans that overlap at one moment."""
    return max(sum(1 for s, e in spans if s <= start < e) for start, _ in spans)


# --- references --------------------------------------------------------------


def test_references_keep_their_type_interpolate_and_walk_paths(rig: Rig) -> None:
    source = {
        "count": 3,
        "flag": True,
        "items": [{"email": "a@x.test"}, {"email": "b@x.test"}],
        "obj": {"k": 1},
        "nested": {"deep": {"value": None}},
    }
    workflow_id = rig.create(
        step("src", "util.set", params=source),
        step(
            "use",
            "util.set",
            params={
                "count": "${steps.src.output.count}",
                "padded": " ${steps.src.output.count} ",
                "flag": "${steps.src.output.flag}",
                "second": "${steps.src.output.items.1.email}",
                "items": "${steps.src.output.items}",
                "none": "${steps.src.output.nested.deep.value}",
                "text": "n=${steps.src.output.count} obj=${steps.src.output.obj} "
                "none=[${steps.src.output.nested.deep.value}] flag=${steps.src.output.flag}",
                "account": "${account.name}",
                "account_id": "${account.id}",
                "who": "${trigger.user.name}",
                "inside": {"list": ["${trigger.n}", "n${trigger.n}"]},
            },
        ),
    )
    run = rig.run_to_end(workflow_id, {"n": 7, "user": {"name": "Ada"}})
    assert run["status"] == "completed", run["error"]
    assert outputs(run)["use"] == {
        "count": 3,
        "padded": 3,
        "flag": True,
        "second": "b@x.test",
        "items": source["items"],
        "none": None,
        "text": 'n=3 obj={"k": 1} none=[] flag=true',
        "account": "Acme",
        "account_id": rig.account,
        "who": "Ada",
        "inside": {"list": [7, "n7"]},
    }
    # The resolved input is what the step run records.
    use = [s for s in run["steps"] if s["step_id"] == "use"][0]
    assert use["input"]["second"] == "b@x.test"


def test_a_reference_to_nothing_fails_the_step_at_once(rig: Rig) -> None:
    workflow_id = rig.create(
        step("src", "util.set", params={"items": [1, 2]}),
        step("bad", "util.set", params={"x": "${steps.src.output.items.5}"}, retry=FAST_RETRY),
        step("after", "util.noop"),
    )
    run = rig.run_to_end(workflow_id)
    assert run["status"] == "failed"
    assert attempts_of(run, "bad") == [(1, "failed")]
    assert run["error"] == "bad: ${steps.src.output.items.5}: nothing at steps.src.output.items.5"
    assert statuses(run)["after"] == "skipped"
    missing = rig.create(step("mail", "util.set", params={"to": "${trigger.email}"}))
    run = rig.run_to_end(missing, {"name": "no email"})
    assert run["error"] == "mail: ${trigger.email}: nothing at trigger.email"


# --- conditions ----------------------------------------------------------------


def cond(left: Any, op: str, right: Any = None) -> dict[str, Any]:
    """A leaf condition (unary operators take no right side)."""
    return {"left": left, "op": op} if op in ("exists", "empty") else {
        "left": left, "op": op, "right": right
    }  # fmt: skip


def test_each_condition_operator_and_combinator_decides_whether_a_step_runs(rig: Rig) -> None:
    n, name, tags = "${trigger.n}", "${trigger.name}", "${trigger.tags}"
    cases: dict[str, tuple[Any, bool]] = {
        "eq": (cond(n, "==", 3), True),
        "eq_no": (cond(n, "==", 4), False),
        "ne": (cond(n, "!=", 4), True),
        "ne_no": (cond(n, "!=", 3), False),
        "lt": (cond(n, "<", 4), True),
        "lt_no": (cond(n, "<", 3), False),
        "le": (cond(n, "<=", 3), True),
        "le_no": (cond(n, "<=", 2), False),
        "gt": (cond(n, ">", 2), True),
        "gt_no": (cond(n, ">", 3), False),
        "ge": (cond(n, ">=", 3), True),
        "ge_no": (cond(n, ">=", 4), False),
        "gt_mixed_types": (cond("${trigger.text_n}", ">", 1), False),
        "right_ref": (cond(n, "==", "${trigger.three}"), True),
        "contains_list": (cond(tags, "contains", "b"), True),
        "contains_list_no": (cond(tags, "contains", "z"), False),
        "contains_text": (cond(name, "contains", "da"), True),
        "contains_key": (cond("${trigger.obj}", "contains", "k"), True),
        "contains_number": (cond(n, "contains", 3), False),
        "exists": (cond(name, "exists"), True),
        "exists_null": (cond("${trigger.nothing}", "exists"), False),
        "exists_missing": (cond("${trigger.nope}", "exists"), False),
        "empty_text": (cond("${trigger.blank}", "empty"), True),
        "empty_list": (cond("${trigger.no_tags}", "empty"), True),
        "empty_null": (cond("${trigger.nothing}", "empty"), True),
        "empty_no": (cond(tags, "empty"), False),
        "empty_missing": (cond("${trigger.nope}", "empty"), False),
        "missing_eq": (cond("${trigger.nope}", "==", None), False),
        "missing_right": (cond(n, "==", "${trigger.nope}"), False),
        "missing_step_output": (cond("${steps.eq_no.output.x}", "==", None), False),
        "all": ({"all": [cond(n, "==", 3), cond(name, "exists")]}, True),
        "all_no": ({"all": [cond(n, "==", 3), cond(name, "==", "Bob")]}, False),
        "any": ({"any": [cond(n, "==", 9), cond(name, "==", "Ada")]}, True),
        "any_no": ({"any": [cond(n, "==", 9), cond("${trigger.nope}", "exists")]}, False),
        "not": ({"not": cond(n, "==", 9)}, True),
        "not_no": ({"not": cond(n, "==", 3)}, False),
        "nested": ({"all": [{"not": {"any": [cond(n, "<", 0), cond(n, ">", 5)]}}]}, True),
    }
    workflow_id = rig.create(
        *(step(key, "util.set", params={"ran": key}, condition=c) for key, (c, _) in cases.items())
    )
    payload = {
        "n": 3,
        "three": 3,
        "text_n": "3",
        "name": "Ada",
        "tags": ["a", "b"],
        "no_tags": [],
        "obj": {"k": 1},
        "blank": "",
        "nothing": None,
    }
    run = rig.run_to_end(workflow_id, payload)
    assert run["status"] == "completed", run["error"]
    expected = {key: "completed" if runs else "skipped" for key, (_, runs) in cases.items()}
    assert statuses(run) == expected
    skipped = [s for s in run["steps"] if s["status"] == "skipped"]
    assert {s["error"] for s in skipped} == {"its condition was false"}
    assert {s["attempt"] for s in skipped} == {0}


def test_a_later_step_that_needs_a_skipped_steps_output_fails(rig: Rig) -> None:
    workflow_id = rig.create(
        step("maybe", "util.set", params={"x": 1}, condition=cond("${trigger.go}", "==", True)),
        step("needs", "util.set", params={"x": "${steps.maybe.output.x}"}),
    )
    run = rig.run_to_end(workflow_id, {"go": False})
    assert statuses(run) == {"maybe": "skipped", "needs": "failed"}
    assert run["status"] == "failed"
    ran = rig.run_to_end(workflow_id, {"go": True})
    assert outputs(ran) == {"maybe": {"x": 1}, "needs": {"x": 1}}


# --- sequential and DAG ----------------------------------------------------------


def test_sequential_steps_run_one_after_the_other_in_order(rig: Rig) -> None:
    workflow_id = rig.create(
        *(step(f"s{i}", "probe.count", params={"key": f"s{i}", "sleep": 0.05}) for i in range(3))
    )
    run = rig.run_to_end(workflow_id)
    assert [s["step_id"] for s in run["steps"]] == ["s0", "s1", "s2"]
    spans = intervals(run)
    assert spans["s0"][1] <= spans["s1"][0] and spans["s1"][1] <= spans["s2"][0]


def test_independent_dag_steps_run_at_the_same_time(rig: Rig) -> None:
    workflow_id = rig.create(
        step("left", "util.delay", params={"seconds": 0.5}),
        step("right", "util.delay", params={"seconds": 0.5}),
        step(
            "join",
            "util.set",
            params={"l": "${steps.left.output.waited}", "r": "${steps.right.output.waited}"},
            depends_on=["left", "right"],
        ),
        mode="dag",
    )
    started = time.monotonic()
    run = rig.run_to_end(workflow_id)
    elapsed = time.monotonic() - started
    assert run["status"] == "completed", run["error"]
    assert elapsed < 0.9, f"two 0.5 s steps took {elapsed:.2f} s together"
    assert run["duration_ms"] < 900
    spans = intervals(run)
    assert spans["left"][0] < spans["right"][1] and spans["right"][0] < spans["left"][1]
    assert spans["join"][0] >= max(spans["left"][1], spans["right"][1])
    assert outputs(run)["join"]["l"] >= 0.45


def test_dag_concurrency_is_bounded_by_max_parallel(cold: Rig) -> None:
    steps = [step(f"b{i}", "util.delay", params={"seconds": 0.2}) for i in range(4)]
    workflow_id = cold.create(*steps, mode="dag")
    definition = parse(cold.flows.get(cold.account, workflow_id)["definition"])

    def execute(max_parallel: int) -> dict[str, Any]:
        run_id = cold.run(workflow_id)
        claimed = cold.flows.runs.claim("test-worker", cold.flows.clock())
        assert claimed is not None and claimed["id"] == run_id
        engine = Engine(
            cold.flows.runs,
            cold.services.libraries,
            permissions_for=cold.services.authz.entitled_permissions,
            account_info=lambda account_id: {"id": account_id, "name": "Acme"},
            max_parallel=max_parallel,
        )
        assert engine.execute(claimed, definition).status == "completed"
        return cold.flows.get_run(cold.account, run_id)

    two = execute(2)
    assert most_at_once(list(intervals(two).values())) == 2
    spans = intervals(two).values()
    assert (max(e for _, e in spans) - min(s for s, _ in spans)).total_seconds() >= 0.4
    four = execute(4)
    assert most_at_once(list(intervals(four).values())) == 4


def test_dag_dependents_of_a_skipped_step_are_skipped(rig: Rig) -> None:
    workflow_id = rig.create(
        step("gate", "util.noop", condition=cond("${trigger.open}", "==", True)),
        step("behind", "util.noop", depends_on=["gate"]),
        step("further", "util.noop", depends_on=["behind"]),
        step("free", "util.set", params={"x": 1}),
        mode="dag",
    )
    run = rig.run_to_end(workflow_id, {"open": False})
    assert run["status"] == "completed"
    assert statuses(run) == {
        "gate": "skipped",
        "free": "completed",
        "behind": "skipped",
        "further": "skipped",
    }
    reasons = {s["step_id"]: s["error"] for s in run["steps"]}
    assert reasons["behind"] == "a step it depends on did not run"


def test_a_failed_dag_step_lets_running_branches_finish_and_skips_the_rest(rig: Rig) -> None:
    workflow_id = rig.create(
        step("slow", "util.delay", params={"seconds": 0.3}),
        step("bad", "util.fail", params={"message": "broken branch"}),
        step("after_slow", "util.noop", depends_on=["slow"]),
        step("after_bad", "util.noop", depends_on=["bad"]),
        mode="dag",
    )
    run = rig.run_to_end(workflow_id)
    assert run["status"] == "failed"
    assert run["error"] == "bad: StepFailed: broken branch"
    assert statuses(run) == {
        "slow": "completed",
        "bad": "failed",
        "after_slow": "skipped",
        "after_bad": "skipped",
    }


# --- retries ------------------------------------------------------------------------


def test_a_failing_step_is_retried_with_exponential_backoff(rig: Rig) -> None:
    retry = {"max_attempts": 3, "initial_interval_seconds": 0.1, "backoff_coefficient": 3.0}
    workflow_id = rig.create(
        step("flaky", "probe.flaky", params={"key": "flaky", "failures": 2}, retry=retry)
    )
    run = rig.run_to_end(workflow_id)
    assert run["status"] == "completed", run["error"]
    assert attempts_of(run, "flaky") == [(1, "failed"), (2, "failed"), (3, "completed")]
    assert outputs(run)["flaky"] == {"key": "flaky", "calls": 3}
    first, second, third = rig.call_times("flaky")
    assert 0.1 <= second - first < 0.1 + 0.2, second - first
    assert 0.3 <= third - second < 0.3 + 0.2, third - second
    notes = [line["message"] for line in run["logs"] if line["level"] == "WARNING"]
    assert notes == [
        "attempt 1 of 3 failed (RuntimeError: flaky failure 1 of 2); trying again in 0.1 s",
        "attempt 2 of 3 failed (RuntimeError: flaky failure 2 of 2); trying again in 0.3 s",
    ]


def test_backoff_is_capped_by_max_interval() -> None:
    policy = RetryPolicy(
        max_attempts=5,
        initial_interval_seconds=0.05,
        backoff_coefficient=10.0,
        max_interval_seconds=0.08,
    )
    assert [policy.delay(n) for n in (1, 2, 3)] == [0.05, 0.08, 0.08]


def test_a_step_that_keeps_failing_gives_up_after_max_attempts(rig: Rig) -> None:
    workflow_id = rig.create(
        step("flaky", "probe.flaky", params={"key": "always", "failures": 10}, retry=FAST_RETRY)
    )
    run = rig.run_to_end(workflow_id)
    assert run["status"] == "failed"
    assert attempts_of(run, "flaky") == [(1, "failed"), (2, "failed"), (3, "failed")]
    assert run["error"] == "flaky: RuntimeError: always failure 3 of 10"
    assert rig.calls("always") == 3


def test_bad_parameters_at_run_time_are_not_retried(rig: Rig) -> None:
    workflow_id = rig.create(
        step("wait", "util.delay", params={"seconds": "${trigger.seconds}"}, retry=FAST_RETRY)
    )
    run = rig.run_to_end(workflow_id, {"seconds": "soon"})
    assert run["status"] == "failed"
    assert attempts_of(run, "wait") == [(1, "failed")]
    assert run["error"] == "wait: some parameters are not valid: seconds must be a number"


def test_a_capability_the_account_may_not_use_fails_without_retries(rig: Rig) -> None:
    steps = step("make", "accounts.create", params={"name": "${trigger.name}"}, retry=FAST_RETRY)
    customer = rig.create(steps)
    run = rig.run_to_end(customer, {"name": "Sneaky Co"})
    assert run["status"] == "failed"
    assert attempts_of(run, "make") == [(1, "failed")]
    assert run["error"] == "make: accounts.create needs the permission 'accounts.manage'"
    names = [a["name"] for a in rig.services.tenants.page_accounts(limit=50).items]
    assert "Sneaky Co" not in names
    # The platform account is entitled to it: the same step works there.
    platform = rig.create(steps, account=rig.platform)
    done = rig.finished(rig.run(platform, {"name": "Real Co"}, account=rig.platform),
                        account=rig.platform)  # fmt: skip
    assert done["status"] == "completed", done["error"]
    names = [a["name"] for a in rig.services.tenants.page_accounts(limit=50).items]
    assert "Real Co" in names


def test_a_capability_whose_library_was_disabled_fails_once(rig: Rig) -> None:
    workflow_id = rig.create(step("count", "probe.count", params={"key": "k"}, retry=FAST_RETRY))
    rig.services.libraries.disable("probe")
    run = rig.run_to_end(workflow_id)
    assert run["status"] == "failed"
    assert attempts_of(run, "count") == [(1, "failed")]
    assert run["error"] == "count: there is no capability 'probe.count' (is its library enabled?)"
    rig.services.libraries.enable("probe")
    assert rig.run_to_end(workflow_id)["status"] == "completed"
    assert rig.calls("k") == 1


# --- timeouts ---------------------------------------------------------------------------


def test_a_step_timeout_stops_the_step_and_is_retried(rig: Rig) -> None:
    retry = {"max_attempts": 2, "initial_interval_seconds": 0.01}
    workflow_id = rig.create(
        step("slow", "probe.count", params={"key": "slow", "sleep": 5}, timeout_seconds=0.2,
             retry=retry),
        step("after", "util.noop"),
    )  # fmt: skip
    started = time.monotonic()
    run = rig.run_to_end(workflow_id)
    assert time.monotonic() - started < 2
    assert run["status"] == "failed"
    assert attempts_of(run, "slow") == [(1, "failed"), (2, "failed")]
    assert run["error"] == "slow: probe.count timed out after 0.2 s"
    assert statuses(run)["after"] == "skipped"
    assert rig.calls("slow") == 2


def test_a_run_timeout_fails_the_run_as_timed_out(rig: Rig) -> None:
    workflow_id = rig.create(
        step("quick", "util.delay", params={"seconds": 0.05}),
        step("slow", "util.delay", params={"seconds": 5}, retry=FAST_RETRY),
        step("never", "util.noop"),
        timeout_seconds=0.4,
    )
    started = time.monotonic()
    run = rig.run_to_end(workflow_id)
    assert time.monotonic() - started < 2
    assert run["status"] == "failed"
    assert run["error"] == "the run timed out after 0.4 s"
    assert statuses(run) == {"quick": "completed", "slow": "failed", "never": "skipped"}
    assert len(attempts_of(run, "slow")) == 1


def test_a_run_timeout_also_bounds_the_wait_between_retries(rig: Rig) -> None:
    retry = {"max_attempts": 3, "initial_interval_seconds": 5}
    workflow_id = rig.create(
        step("flaky", "probe.flaky", params={"key": "bound", "failures": 5}, retry=retry),
        timeout_seconds=0.3,
    )
    started = time.monotonic()
    run = rig.run_to_end(workflow_id)
    assert time.monotonic() - started < 2
    assert run["status"] == "failed"
    assert "timed out" in run["error"]
    assert rig.calls("bound") == 1


# --- on_error ---------------------------------------------------------------------------


def test_on_error_stop_skips_the_rest_and_keeps_partial_outputs(rig: Rig) -> None:
    workflow_id = rig.create(
        step("first", "util.set", params={"x": 1}),
        step("boom", "util.fail", params={"message": "no luck"}),
        step("third", "util.set", params={"x": 3}),
        step("fourth", "util.noop"),
    )
    run = rig.run_to_end(workflow_id)
    assert run["status"] == "failed"
    assert run["error"] == "boom: StepFailed: no luck"
    assert statuses(run) == {
        "first": "completed",
        "boom": "failed",
        "third": "skipped",
        "fourth": "skipped",
    }
    assert outputs(run) == {"first": {"x": 1}}
    assert run["finished_at"] is not None and run["duration_ms"] >= 0


def test_on_error_continue_goes_on_and_the_run_completes(rig: Rig) -> None:
    workflow_id = rig.create(
        step("first", "util.set", params={"x": 1}),
        step("boom", "util.fail", params={"message": "ignored"}, on_error="continue"),
        step("third", "util.set", params={"x": "${steps.first.output.x}"}),
    )
    run = rig.run_to_end(workflow_id)
    assert run["status"] == "completed"
    assert statuses(run) == {"first": "completed", "boom": "failed", "third": "completed"}
    assert outputs(run)["third"] == {"x": 1}
    assert any(
        line["message"] == "failed; the run goes on (StepFailed: ignored)" for line in run["logs"]
    )


def test_a_fallback_output_stands_in_for_the_failed_step(rig: Rig) -> None:
    workflow_id = rig.create(
        step("lookup", "util.fail", on_error={"fallback": "guess"}),
        step("guess", "util.set", params={"plan": "free", "from": "${trigger.who}"}),
        step("use", "util.set", params={"plan": "${steps.lookup.output.plan}"}),
    )
    run = rig.run_to_end(workflow_id, {"who": "fallback"})
    assert run["status"] == "completed", run["error"]
    assert statuses(run) == {"lookup": "failed", "guess": "completed", "use": "completed"}
    assert outputs(run)["use"] == {"plan": "free"}
    assert [s["step_id"] for s in run["steps"]] == ["lookup", "guess", "use"]
    # A fallback step runs only as a fallback: with no failure it never runs.
    fine = rig.create(
        step("lookup", "util.set", params={"plan": "pro"}, on_error={"fallback": "guess"}),
        step("guess", "util.set", params={"plan": "free"}),
        step("use", "util.set", params={"plan": "${steps.lookup.output.plan}"}),
    )
    run = rig.run_to_end(fine)
    assert statuses(run) == {"lookup": "completed", "use": "completed"}
    assert outputs(run)["use"] == {"plan": "pro"}


def test_a_fallback_works_in_a_dag_too(rig: Rig) -> None:
    workflow_id = rig.create(
        step("lookup", "util.fail", on_error={"fallback": "guess"}),
        step("guess", "util.set", params={"plan": "free"}),
        step("use", "util.set", params={"plan": "${steps.lookup.output.plan}"},
             depends_on=["lookup"]),
        mode="dag",
    )  # fmt: skip
    run = rig.run_to_end(workflow_id)
    assert run["status"] == "completed", run["error"]
    assert outputs(run)["use"] == {"plan": "free"}


def test_a_failing_fallback_fails_the_run_naming_both(rig: Rig) -> None:
    workflow_id = rig.create(
        step("lookup", "util.fail", params={"message": "first"}, on_error={"fallback": "guess"}),
        step("guess", "util.fail", params={"message": "second"}),
        step("use", "util.noop"),
    )
    run = rig.run_to_end(workflow_id)
    assert run["status"] == "failed"
    assert run["error"] == (
        "lookup failed (StepFailed: first); its fallback guess failed too (StepFailed: second)"
    )
    assert statuses(run)["use"] == "skipped"
