"""Saving workflows: every problem is named by step and field, nothing
invalid is stored, every save is a new immutable version, and a run keeps
the version it started with."""

from __future__ import annotations

from typing import Any

import pytest

from modules.workflows.definition import DefinitionError, parse
from tests.modules.workflows.workflows_helpers import Rig, definition, outputs, step


def problems_of(rig: Rig, data: dict[str, Any]) -> dict[str, str]:
    """The problems `create` answers for `data` (and check nothing was saved)."""
    before = len(rig.flows.page(rig.account).items)
    with pytest.raises(DefinitionError) as caught:
        rig.flows.create(rig.account, data)
    assert len(rig.flows.page(rig.account).items) == before
    return caught.value.problems


def test_an_unknown_capability_is_named_with_its_step(cold: Rig) -> None:
    problems = problems_of(
        cold, definition(step("first", "util.noop"), step("second", "util.nope"))
    )
    assert problems == {"steps.second.capability": "unknown capability 'util.nope'"}


def test_literal_params_are_checked_against_the_capability_schema(cold: Rig) -> None:
    problems = problems_of(
        cold,
        definition(
            step("wait", "util.delay", params={"seconds": "soon"}),
            step("count", "probe.count", params={"sleep": 1}),
            step("extra", "util.delay", params={"seconds": 1, "colour": "red"}),
        ),
    )
    assert problems["steps.wait.params.seconds"] == "must be a number"
    assert problems["steps.count.params.key"] == "is required"
    assert "steps.extra.params.colour" in problems
    assert len(problems) == 3


def test_params_holding_references_are_checked_when_the_run_has_values(cold: Rig) -> None:
    saved = cold.flows.create(
        cold.account, definition(step("wait", "util.delay", params={"seconds": "${trigger.s}"}))
    )
    assert saved["version"] == 1


def test_a_reference_to_an_unknown_step_is_refused(cold: Rig) -> None:
    problems = problems_of(
        cold,
        definition(
            step("one", "util.noop"),
            step("two", "util.set", params={"x": "${steps.nobody.output.x}"}),
        ),
    )
    assert problems == {
        "steps.two.params": "${steps.nobody.output.x} refers to unknown step 'nobody'"
    }


def test_a_reference_to_a_later_step_is_refused_in_sequential_mode(cold: Rig) -> None:
    problems = problems_of(
        cold,
        definition(
            step("early", "util.set", params={"x": "${steps.late.output.x}"}),
            step("late", "util.set", params={"x": 1}),
        ),
    )
    assert problems == {
        "steps.early.params": "${steps.late.output.x} refers to step 'late', "
        "which does not run before 'early'"
    }


def test_a_dag_reference_needs_the_step_among_its_ancestors(cold: Rig) -> None:
    loose = definition(
        step("source", "util.set", params={"x": 1}),
        step("other", "util.noop"),
        step("user", "util.set", params={"x": "${steps.source.output.x}"}, depends_on=["other"]),
        mode="dag",
    )
    problems = problems_of(cold, loose)
    assert problems == {
        "steps.user.params": "${steps.source.output.x} refers to step 'source', which does not "
        "run before 'user' (add it to depends_on)"
    }
    # Listed later but an ancestor through `middle`: fine.
    chained = definition(
        step("user", "util.set", params={"x": "${steps.source.output.x}"}, depends_on=["middle"]),
        step("middle", "util.noop", depends_on=["source"]),
        step("source", "util.set", params={"x": 1}),
        mode="dag",
    )
    assert cold.flows.create(cold.account, chained)["version"] == 1


def test_a_reference_inside_a_condition_is_named_as_the_condition(cold: Rig) -> None:
    problems = problems_of(
        cold,
        definition(
            step(
                "first",
                "util.noop",
                condition={"left": "${steps.second.output.x}", "op": "==", "right": 1},
            ),
            step("second", "util.set", params={"x": 1}),
        ),
    )
    assert problems == {
        "steps.first.condition": "${steps.second.output.x} refers to step 'second', "
        "which does not run before 'first'"
    }


def test_a_malformed_reference_or_condition_is_refused(cold: Rig) -> None:
    problems = problems_of(
        cold,
        definition(
            step("one", "util.set", params={"x": "${secrets.key}"}),
            step("two", "util.set", params={"x": "${steps.one.x}"}),
            step("three", "util.noop", condition={"left": 1, "op": "=~", "right": 2}),
            step("four", "util.noop", condition={"all": []}),
        ),
    )
    assert (
        problems["steps.one.params"] == "${secrets.key} must start with trigger, steps or account"
    )
    assert "steps.<step id>.output" in problems["steps.two.params"]
    assert problems["steps.three.condition.op"].startswith("must be one of: ==")
    assert "non-empty list" in problems["steps.four.condition"]


def test_duplicate_step_ids_are_named(cold: Rig) -> None:
    problems = problems_of(
        cold,
        definition(
            step("same", "util.noop"), step("other", "util.noop"), step("same", "util.noop")
        ),
    )
    assert problems == {"steps.same.id": "the step id 'same' is used more than once"}


def test_a_dependency_cycle_is_named_step_by_step(cold: Rig) -> None:
    problems = problems_of(
        cold,
        definition(
            step("start", "util.noop"),
            step("a", "util.noop", depends_on=["start", "c"]),
            step("b", "util.noop", depends_on=["a"]),
            step("c", "util.noop", depends_on=["b"]),
            mode="dag",
        ),
    )
    assert problems == {"steps": "dependency cycle: a -> c -> b -> a"}
    selfish = problems_of(cold, definition(step("a", "util.noop", depends_on=["a"]), mode="dag"))
    assert selfish["steps.a.depends_on"] == "a step cannot depend on itself"
    unknown = problems_of(
        cold, definition(step("a", "util.noop", depends_on=["ghost"]), mode="dag")
    )
    assert unknown == {"steps.a.depends_on": "depends on unknown step 'ghost'"}


def test_a_bad_cron_expression_or_timezone_is_refused(cold: Rig) -> None:
    bad_minute = problems_of(
        cold, definition(step("a", "util.noop"), trigger={"type": "schedule", "cron": "61 * * * *"})
    )
    assert list(bad_minute) == ["trigger.cron"]
    assert bad_minute["trigger.cron"].startswith("'61 * * * *' is not a valid cron expression")
    too_short = problems_of(
        cold, definition(step("a", "util.noop"), trigger={"type": "schedule", "cron": "* *"})
    )
    assert list(too_short) == ["trigger.cron"]
    bad_zone = problems_of(
        cold,
        definition(
            step("a", "util.noop"),
            trigger={"type": "schedule", "cron": "0 9 * * 1", "timezone": "Mars/Olympus"},
        ),
    )
    assert "Mars/Olympus" in bad_zone["trigger.cron"]
    missing = problems_of(cold, definition(step("a", "util.noop"), trigger={"type": "schedule"}))
    assert missing == {"trigger.cron": 'is required for a schedule, like "0 9 * * 1"'}


def test_a_fallback_to_itself_or_to_nothing_is_refused(cold: Rig) -> None:
    own = problems_of(cold, definition(step("a", "util.fail", on_error={"fallback": "a"})))
    assert own == {"steps.a.on_error": "a step cannot be its own fallback"}
    ghost = problems_of(cold, definition(step("a", "util.fail", on_error={"fallback": "b"})))
    assert ghost == {"steps.a.on_error": "falls back to unknown step 'b'"}
    word = problems_of(cold, definition(step("a", "util.fail", on_error="retry")))
    assert word == {"steps.a.on_error": 'must be "stop", "continue" or {"fallback": "<step id>"}'}


def test_shape_problems_are_all_listed_at_once() -> None:
    with pytest.raises(DefinitionError) as caught:
        parse(
            {
                "name": "",
                "mode": "parallel",
                "colour": "red",
                "steps": [
                    {"id": "Bad Id", "capability": "util.noop"},
                    {"id": "ok", "capability": "noop", "retry": {"max_attempts": 0, "jitter": 1}},
                    {"id": "late", "capability": "util.noop", "timeout_seconds": -1},
                ],
                "notify": ["not-an-address"],
            }
        )
    assert caught.value.problems == {
        "colour": "is not a workflow setting",
        "name": "is required (at most 200 characters)",
        "mode": "must be sequential or dag",
        "steps[0].id": "must be 1-63 characters a-z, 0-9 and _, starting with a letter",
        "steps.ok.capability": "must name a capability, like util.noop",
        "steps.ok.retry.jitter": "is not a retry setting",
        "steps.ok.retry.max_attempts": "must be a whole number from 1 to 100",
        "steps.late.timeout_seconds": "must be a number >= 0",
        "notify": "must be a list of email addresses",
    }


def test_an_error_workflow_must_be_another_existing_workflow(cold: Rig) -> None:
    first = cold.create(step("a", "util.noop"))
    assert problems_of(cold, definition(step("a", "util.noop"), error_workflow=9999)) == {
        "error_workflow": "there is no other workflow 9999"
    }
    with pytest.raises(DefinitionError):
        cold.flows.update(
            cold.account, first, definition(step("a", "util.noop"), error_workflow=first)
        )
    # Another account's workflow is not "another workflow" of this account.
    theirs = cold.create(step("a", "util.noop"), account=cold.other)
    assert "error_workflow" in problems_of(
        cold, definition(step("a", "util.noop"), error_workflow=theirs)
    )


def test_every_save_makes_a_new_immutable_version(cold: Rig) -> None:
    first = definition(step("a", "util.set", params={"v": 1}), name="Versioned")
    workflow_id = cold.flows.create(cold.account, first, user_id=cold.owner)["id"]
    second = definition(step("a", "util.set", params={"v": 2}), name="Versioned")
    assert cold.flows.update(cold.account, workflow_id, second)["version"] == 2
    assert cold.flows.set_enabled(cold.account, workflow_id, False)["version"] == 3
    assert cold.flows.set_enabled(cold.account, workflow_id, False)["version"] == 3  # no change
    with pytest.raises(DefinitionError):
        cold.flows.update(cold.account, workflow_id, definition(step("a", "util.nope")))
    current = cold.flows.get(cold.account, workflow_id)
    assert current is not None
    assert current["version"] == 3 and current["enabled"] is False
    assert cold.flows.version(cold.account, workflow_id, 1)["steps"][0]["params"] == {"v": 1}
    assert cold.flows.version(cold.account, workflow_id, 2)["steps"][0]["params"] == {"v": 2}
    assert cold.flows.version(cold.account, workflow_id, 2)["enabled"] is True
    assert cold.flows.version(cold.account, workflow_id, 4) is None
    # Versions belong to the account: another account sees none of them.
    assert cold.flows.version(cold.other, workflow_id, 1) is None
    assert cold.flows.get(cold.other, workflow_id) is None


def test_a_queued_run_executes_the_version_it_was_started_with(cold: Rig) -> None:
    workflow_id = cold.create(step("a", "util.set", params={"v": "old"}))
    run_id = cold.run(workflow_id)
    cold.flows.update(
        cold.account,
        workflow_id,
        definition(step("a", "util.set", params={"v": "new"}), step("b", "util.noop")),
    )
    later = cold.run(workflow_id)
    cold.flows.start()
    old_run, new_run = cold.finished(run_id), cold.finished(later)
    assert (old_run["version"], old_run["status"]) == (1, "completed")
    assert outputs(old_run) == {"a": {"v": "old"}}
    assert (new_run["version"], new_run["status"]) == (2, "completed")
    assert outputs(new_run) == {"a": {"v": "new"}, "b": None}
