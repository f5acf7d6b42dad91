"""The workflow definition: the JSON model, parsed into frozen dataclasses.

    {"name": "Onboard customer", "enabled": true,
     "trigger": {"type": "manual|schedule|event|webhook", "cron": "0 9 * * 1",
                 "timezone": "UTC", "event": "subscription.created"},
     "mode": "sequential|dag", "timeout_seconds": 300,
     "steps": [{"id": "welcome", "capability": "email.send",
                "params": {"to": "${trigger.email}", "subject": "Welcome"},
                "depends_on": [], "condition": null,
                "retry": {"max_attempts": 3, "initial_interval_seconds": 1,
                          "backoff_coefficient": 2.0, "max_interval_seconds": 60},
                "timeout_seconds": 30, "on_error": "stop"}]}

`parse(data)` checks the shape and answers `DefinitionError` with one
message per problem, each naming the step and field; the checks that need
the capability catalogue live in `validation.py`.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Mapping

STEP_ID = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
TRIGGER_TYPES = ("manual", "schedule", "event", "webhook")
MODES = ("sequential", "dag")
ON_ERROR = ("stop", "continue")
MAX_STEPS = 200


class DefinitionError(ValueError):
    """The definition is not valid; `problems` maps a location to a message,
    e.g. {"steps.welcome.capability": "unknown capability 'email.sned'"}."""

    def __init__(self, problems: Mapping[str, str]):
        self.problems = dict(problems)
        super().__init__("; ".join(f"{k}: {v}" for k, v in self.problems.items()))


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff: wait initial * coefficient**(n-1), capped."""

    max_attempts: int = 1
    initial_interval_seconds: float = 1.0
    backoff_coefficient: float = 2.0
    max_interval_seconds: float = 60.0

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based)."""
        raw = self.initial_interval_seconds * self.backoff_coefficient ** (attempt - 1)
        return min(raw, self.max_interval_seconds)


@dataclass(frozen=True)
class Step:  # pylint: disable=too-many-instance-attributes  # mirrors the JSON
    """One step: a capability called with params."""

    id: str
    capability: str
    params: Mapping[str, Any] = field(default_factory=dict)
    depends_on: tuple[str, ...] = ()
    condition: Any = None
    retry: RetryPolicy = RetryPolicy()
    timeout_seconds: float | None = None
    on_error: str = "stop"
    fallback: str | None = None
    title: str = ""

    def to_json(self) -> dict[str, Any]:
        """The JSON form (as in the API and export files)."""
        data: dict[str, Any] = {
            "id": self.id,
            "capability": self.capability,
            "params": dict(self.params),
            "depends_on": list(self.depends_on),
            "condition": self.condition,
            "retry": asdict(self.retry),
            "timeout_seconds": self.timeout_seconds,
            "on_error": {"fallback": self.fallback} if self.fallback else self.on_error,
        }
        if self.title:
            data["title"] = self.title
        return data


@dataclass(frozen=True)
class Trigger:
    """What starts runs besides a manual or API call."""

    type: str = "manual"
    cron: str | None = None
    timezone: str = "UTC"
    event: str | None = None


@dataclass(frozen=True)
class Definition:  # pylint: disable=too-many-instance-attributes  # mirrors the JSON
    """A whole workflow definition."""

    name: str
    steps: tuple[Step, ...]
    description: str = ""
    enabled: bool = True
    trigger: Trigger = Trigger()
    mode: str = "sequential"
    timeout_seconds: float | None = None
    notify: tuple[str, ...] = ()
    error_workflow: int | None = None

    def step(self, step_id: str) -> Step:
        """The step with this id (KeyError when there is none)."""
        for one in self.steps:
            if one.id == step_id:
                return one
        raise KeyError(step_id)

    def to_json(self) -> dict[str, Any]:
        """The JSON form (round-trips through `parse`)."""
        return {
            "name": self.name,
            "description": self.description,
            "enabled": self.enabled,
            "trigger": {k: v for k, v in asdict(self.trigger).items() if v is not None},
            "mode": self.mode,
            "timeout_seconds": self.timeout_seconds,
            "notify": list(self.notify),
            "error_workflow": self.error_workflow,
            "steps": [s.to_json() for s in self.steps],
        }


def _number(value: Any, where: str, problems: dict[str, str], *, minimum: float = 0) -> Any:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < minimum:
        problems[where] = f"must be a number >= {minimum:g}"
        return None
    return value


def _retry(data: Any, where: str, problems: dict[str, str]) -> RetryPolicy:
    if data is None:
        return RetryPolicy()
    if not isinstance(data, Mapping):
        problems[where] = "must be an object"
        return RetryPolicy()
    unknown = set(data) - {f.name for f in fields(RetryPolicy)}
    for key in sorted(unknown):
        problems[f"{where}.{key}"] = "is not a retry setting"
    attempts = data.get("max_attempts", 1)
    if isinstance(attempts, bool) or not isinstance(attempts, int) or not 1 <= attempts <= 100:
        problems[f"{where}.max_attempts"] = "must be a whole number from 1 to 100"
        attempts = 1
    initial = _number(
        data.get("initial_interval_seconds", 1.0), f"{where}.initial_interval_seconds", problems
    )
    coefficient = _number(
        data.get("backoff_coefficient", 2.0), f"{where}.backoff_coefficient", problems, minimum=1
    )
    ceiling = _number(
        data.get("max_interval_seconds", 60.0), f"{where}.max_interval_seconds", problems
    )
    return RetryPolicy(
        max_attempts=attempts,
        initial_interval_seconds=float(initial if initial is not None else 1.0),
        backoff_coefficient=float(coefficient if coefficient is not None else 2.0),
        max_interval_seconds=float(ceiling if ceiling is not None else 60.0),
    )


def _on_error(value: Any, where: str, problems: dict[str, str]) -> tuple[str, str | None]:
    if value is None:
        return "stop", None
    if isinstance(value, str) and value in ON_ERROR:
        return value, None
    if (
        isinstance(value, Mapping)
        and set(value) == {"fallback"}
        and isinstance(value["fallback"], str)
    ):
        return "fallback", value["fallback"]
    problems[where] = 'must be "stop", "continue" or {"fallback": "<step id>"}'
    return "stop", None


def _step(data: Any, index: int, problems: dict[str, str]) -> Step | None:
    if not isinstance(data, Mapping):
        problems[f"steps[{index}]"] = "must be an object"
        return None
    step_id = data.get("id")
    if not isinstance(step_id, str) or not STEP_ID.fullmatch(step_id):
        problems[f"steps[{index}].id"] = (
            "must be 1-63 characters a-z, 0-9 and _, starting with a letter"
        )
        return None
    where = f"steps.{step_id}"
    known = {
        "id", "capability", "params", "depends_on", "condition", "retry",
        "timeout_seconds", "on_error", "title",
    }  # fmt: skip
    for key in sorted(set(data) - known):
        problems[f"{where}.{key}"] = "is not a step setting"
    capability = data.get("capability")
    if not isinstance(capability, str) or "." not in capability:
        problems[f"{where}.capability"] = "must name a capability, like util.noop"
        capability = ""
    params = data.get("params") or {}
    if not isinstance(params, Mapping):
        problems[f"{where}.params"] = "must be an object"
        params = {}
    depends = data.get("depends_on") or []
    if not isinstance(depends, list) or not all(isinstance(d, str) for d in depends):
        problems[f"{where}.depends_on"] = "must be a list of step ids"
        depends = []
    on_error, fallback = _on_error(data.get("on_error"), f"{where}.on_error", problems)
    title = data.get("title") or ""
    if not isinstance(title, str):
        problems[f"{where}.title"] = "must be text"
        title = ""
    return Step(
        id=step_id,
        capability=capability,
        params=dict(params),
        depends_on=tuple(depends),
        condition=data.get("condition"),
        retry=_retry(data.get("retry"), f"{where}.retry", problems),
        timeout_seconds=_number(data.get("timeout_seconds"), f"{where}.timeout_seconds", problems),
        on_error=on_error,
        fallback=fallback,
        title=title,
    )


def _trigger(data: Any, problems: dict[str, str]) -> Trigger:
    if data is None:
        return Trigger()
    if not isinstance(data, Mapping):
        problems["trigger"] = "must be an object"
        return Trigger()
    kind = data.get("type", "manual")
    if kind not in TRIGGER_TYPES:
        problems["trigger.type"] = f"must be one of: {', '.join(TRIGGER_TYPES)}"
        kind = "manual"
    cron, event = data.get("cron"), data.get("event")
    timezone = data.get("timezone") or "UTC"
    if kind == "schedule" and not isinstance(cron, str):
        problems["trigger.cron"] = 'is required for a schedule, like "0 9 * * 1"'
    if kind == "event" and not isinstance(event, str):
        problems["trigger.event"] = "is required for an event trigger, like account.created"
    return Trigger(
        type=kind,
        cron=cron if kind == "schedule" else None,
        timezone=timezone if isinstance(timezone, str) else "UTC",
        event=event if kind == "event" else None,
    )


def parse(data: Any) -> Definition:
    """Check the shape of a definition and build it; `DefinitionError` lists
    every problem found (not just the first)."""
    problems: dict[str, str] = {}
    if not isinstance(data, Mapping):
        raise DefinitionError({"_": "a workflow definition must be a JSON object"})
    known = {
        "name", "description", "enabled", "trigger", "mode", "timeout_seconds",
        "steps", "notify", "error_workflow", "id", "version",
    }  # fmt: skip
    for key in sorted(set(data) - known):
        problems[key] = "is not a workflow setting"
    name = data.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        problems["name"] = "is required (at most 200 characters)"
        name = ""
    mode = data.get("mode", "sequential")
    if mode not in MODES:
        problems["mode"] = "must be sequential or dag"
        mode = "sequential"
    raw_steps = data.get("steps")
    if not isinstance(raw_steps, list) or not raw_steps:
        problems["steps"] = "must be a non-empty list of steps"
        raw_steps = []
    elif len(raw_steps) > MAX_STEPS:
        problems["steps"] = f"at most {MAX_STEPS} steps"
    parsed = [_step(raw, i, problems) for i, raw in enumerate(raw_steps)]
    steps = [s for s in parsed if s is not None]
    notify = data.get("notify") or []
    if not isinstance(notify, list) or not all(isinstance(n, str) and "@" in n for n in notify):
        problems["notify"] = "must be a list of email addresses"
        notify = []
    error_workflow = data.get("error_workflow")
    if error_workflow is not None and (
        isinstance(error_workflow, bool) or not isinstance(error_workflow, int)
    ):
        problems["error_workflow"] = "must be the id of a workflow"
        error_workflow = None
    enabled = data.get("enabled", True)
    if not isinstance(enabled, bool):
        problems["enabled"] = "must be true or false"
        enabled = True
    description = data.get("description") or ""
    if not isinstance(description, str):
        problems["description"] = "must be text"
        description = ""
    definition = Definition(
        name=name.strip(),
        description=description,
        enabled=enabled,
        trigger=_trigger(data.get("trigger"), problems),
        mode=mode,
        timeout_seconds=_number(data.get("timeout_seconds"), "timeout_seconds", problems),
        steps=tuple(steps),
        notify=tuple(notify),
        error_workflow=error_workflow,
    )
    if problems:
        raise DefinitionError(problems)
    return definition
