"""A fluent Python way to write a workflow definition.

    definition = (
        WorkflowBuilder("Onboard customer", description="Welcome new accounts")
        .on_event("account.created")
        .with_mode("sequential")
        .add_step("welcome", "email.send",
                  to="${trigger.email}", subject="Welcome", body="Hello!")
        .with_retry(max_attempts=3, initial_interval_seconds=2)
        .add_step("note", "crm.create_contact", name="${trigger.name}",
                  email="${trigger.email}", on_error="continue")
        .build()
    )

`build()` returns the same JSON dict the API and the export files use,
checked by `definition.parse` (the capability checks happen when it is
saved through `Workflows.create`).
"""

from __future__ import annotations

from typing import Any, Iterable

from modules.workflows.definition import DefinitionError, parse


class WorkflowBuilder:
    """Builds a workflow definition step by step; every method returns self."""

    def __init__(self, name: str, *, description: str = "", enabled: bool = True):
        self._data: dict[str, Any] = {
            "name": name,
            "description": description,
            "enabled": enabled,
            "trigger": {"type": "manual"},
            "mode": "sequential",
            "timeout_seconds": None,
            "notify": [],
            "steps": [],
        }
        self._default_retry: dict[str, Any] | None = None

    # --- how it starts ----------------------------------------------------------

    def on_schedule(self, cron: str, *, timezone: str = "UTC") -> "WorkflowBuilder":
        """Start on a cron schedule ("0 9 * * 1": Mondays at 9)."""
        self._data["trigger"] = {"type": "schedule", "cron": cron, "timezone": timezone}
        return self

    def on_event(self, event: str) -> "WorkflowBuilder":
        """Start when the event happens in the workflow's account."""
        self._data["trigger"] = {"type": "event", "event": event}
        return self

    def on_webhook(self) -> "WorkflowBuilder":
        """Start from a signed POST to its webhook URL."""
        self._data["trigger"] = {"type": "webhook"}
        return self

    # --- how it runs --------------------------------------------------------------

    def with_mode(self, mode: str) -> "WorkflowBuilder":
        """ "sequential" (in order) or "dag" (by depends_on, in parallel)."""
        self._data["mode"] = mode
        return self

    def with_timeout(self, seconds: float) -> "WorkflowBuilder":
        """Fail the whole run when it takes longer than this."""
        self._data["timeout_seconds"] = seconds
        return self

    def with_retry(
        self,
        *,
        max_attempts: int = 3,
        initial_interval_seconds: float = 1.0,
        backoff_coefficient: float = 2.0,
        max_interval_seconds: float = 60.0,
    ) -> "WorkflowBuilder":
        """The retry policy of the step added last; before any step, the
        default for every step added afterwards."""
        policy = {
            "max_attempts": max_attempts,
            "initial_interval_seconds": initial_interval_seconds,
            "backoff_coefficient": backoff_coefficient,
            "max_interval_seconds": max_interval_seconds,
        }
        if self._data["steps"]:
            self._data["steps"][-1]["retry"] = policy
        else:
            self._default_retry = policy
        return self

    def notify(self, *addresses: str) -> "WorkflowBuilder":
        """Also mail these addresses when a run fails."""
        self._data["notify"].extend(addresses)
        return self

    def on_failure_run(self, workflow_id: int) -> "WorkflowBuilder":
        """Start this other workflow with the failed run's details."""
        self._data["error_workflow"] = workflow_id
        return self

    # --- steps -----------------------------------------------------------------------

    def add_step(  # pylint: disable=too-many-arguments
        self,
        step_id: str,
        capability: str,
        *,
        depends_on: Iterable[str] = (),
        condition: dict[str, Any] | None = None,
        timeout_seconds: float | None = None,
        on_error: str = "stop",
        fallback: str | None = None,
        title: str = "",
        **params: Any,
    ) -> "WorkflowBuilder":
        """Call `capability` with `params` (values may be `${...}` references)."""
        step: dict[str, Any] = {
            "id": step_id,
            "capability": capability,
            "params": params,
            "depends_on": list(depends_on),
            "condition": condition,
            "timeout_seconds": timeout_seconds,
            "on_error": {"fallback": fallback} if fallback else on_error,
        }
        if title:
            step["title"] = title
        if self._default_retry is not None:
            step["retry"] = dict(self._default_retry)
        self._data["steps"].append(step)
        return self

    def build(self) -> dict[str, Any]:
        """The definition as JSON-ready data; `DefinitionError` if malformed."""
        data = {k: v for k, v in self._data.items() if v is not None}
        parse(data)
        return data


__all__ = ["DefinitionError", "WorkflowBuilder"]
