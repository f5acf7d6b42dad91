"""The fluent builder produces the same definition as the JSON form."""

from __future__ import annotations

import pytest

from modules.workflows.builder import DefinitionError, WorkflowBuilder
from modules.workflows.definition import parse


def test_builder_produces_a_parseable_definition() -> None:
    data = (
        WorkflowBuilder("Onboard customer", description="Welcome new accounts")
        .on_event("account.created")
        .with_mode("dag")
        .with_timeout(300)
        .add_step("welcome", "email.send", to="${trigger.email}", subject="Hi", body="Hello")
        .with_retry(max_attempts=3, initial_interval_seconds=2)
        .add_step("note", "util.set", depends_on=["welcome"], on_error="continue", x=1)
        .add_step("alt", "util.noop")
        .add_step("risky", "util.fail", fallback="alt")
        .notify("ops@example.com")
        .build()
    )
    definition = parse(data)
    assert definition.name == "Onboard customer"
    assert definition.trigger.type == "event" and definition.trigger.event == "account.created"
    assert definition.mode == "dag" and definition.timeout_seconds == 300
    welcome = definition.step("welcome")
    assert welcome.params == {"to": "${trigger.email}", "subject": "Hi", "body": "Hello"}
    assert welcome.retry.max_attempts == 3 and welcome.retry.initial_interval_seconds == 2
    assert (
        definition.step("note").retry.max_attempts == 1
    )  # with_retry applied to the last step only
    assert definition.step("note").on_error == "continue"
    assert definition.step("risky").fallback == "alt"
    assert definition.notify == ("ops@example.com",)
    assert parse(definition.to_json()) == definition  # the JSON form round-trips


def test_a_default_retry_before_any_step_applies_to_all() -> None:
    data = (
        WorkflowBuilder("Nightly")
        .on_schedule("0 2 * * *", timezone="Europe/Paris")
        .with_retry(max_attempts=5)
        .add_step("a", "util.noop")
        .add_step("b", "util.noop")
        .build()
    )
    definition = parse(data)
    assert [s.retry.max_attempts for s in definition.steps] == [5, 5]
    assert definition.trigger.cron == "0 2 * * *" and definition.trigger.timezone == "Europe/Paris"


def test_build_refuses_a_malformed_definition() -> None:
    with pytest.raises(DefinitionError) as error:
        WorkflowBuilder("").with_mode("sideways").build()
    assert {"name", "mode", "steps"} <= set(error.value.problems)
