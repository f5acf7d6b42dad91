"""Checks that need more than the shape: the capability catalogue, the
step graph, cron expressions. Every message names the step and field."""

from __future__ import annotations

from typing import Any, Callable, Mapping

from apscheduler.triggers.cron import CronTrigger

from modules.workflows.conditions import check as check_condition
from modules.workflows.conditions import condition_references
from modules.workflows.definition import Definition, DefinitionError
from modules.workflows.references import check_path, has_references, references_in, step_of

# name -> (input schema, validator) for a capability, or None when unknown.
CapabilityLookup = Callable[[str], tuple[Mapping[str, Any], Callable[[Any], dict[str, str]]] | None]


def cron_problem(cron: str, timezone: str) -> str | None:
    """Why a crontab expression (5 fields) or timezone is not usable, or None."""
    try:
        CronTrigger.from_crontab(cron, timezone=timezone)
    except (ValueError, KeyError) as exc:
        return f"{cron!r} is not a valid cron expression or timezone: {exc}"
    return None


def find_cycle(edges: Mapping[str, tuple[str, ...]]) -> list[str] | None:
    """A dependency cycle as [a, b, ..., a], or None."""
    state: dict[str, int] = {}  # 1 = on the path, 2 = done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in edges.get(node, ()):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt in edges and state.get(nxt) is None:
                found = visit(nxt)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for node in edges:
        if state.get(node) is None:
            found = visit(node)
            if found:
                return found
    return None


def _before(definition: Definition) -> dict[str, set[str]]:
    """For each step, the steps guaranteed to have finished before it starts."""
    if definition.mode == "sequential":
        seen: set[str] = set()
        result = {}
        for step in definition.steps:
            result[step.id] = set(seen)
            seen.add(step.id)
        return result
    deps = {s.id: set(s.depends_on) for s in definition.steps}
    result: dict[str, set[str]] = {}

    def ancestors(step_id: str, trail: frozenset[str]) -> set[str]:
        if step_id in result:
            return result[step_id]
        found: set[str] = set()
        for dep in deps.get(step_id, ()):
            if dep in trail or dep not in deps:
                continue
            found |= {dep} | ancestors(dep, trail | {dep})
        result[step_id] = found
        return found

    for step in definition.steps:
        ancestors(step.id, frozenset({step.id}))
    return result


def _graph_problems(definition: Definition, known: set[str]) -> dict[str, str]:
    problems: dict[str, str] = {}
    for step in definition.steps:
        where = f"steps.{step.id}"
        for dep in step.depends_on:
            if dep == step.id:
                problems[f"{where}.depends_on"] = "a step cannot depend on itself"
            elif dep not in known:
                problems[f"{where}.depends_on"] = f"depends on unknown step {dep!r}"
        if step.fallback is not None:
            if step.fallback == step.id:
                problems[f"{where}.on_error"] = "a step cannot be its own fallback"
            elif step.fallback not in known:
                problems[f"{where}.on_error"] = f"falls back to unknown step {step.fallback!r}"
        problems.update(check_condition(step.condition, f"{where}.condition"))
    if definition.mode == "dag":
        cycle = find_cycle({s.id: s.depends_on for s in definition.steps})
        if cycle:
            problems["steps"] = "dependency cycle: " + " -> ".join(cycle)
    return problems


def _reference_problems(definition: Definition, known: set[str]) -> dict[str, str]:
    problems: dict[str, str] = {}
    before = _before(definition)
    fallbacks = {s.fallback for s in definition.steps if s.fallback}
    for step in definition.steps:
        located = [(f"steps.{step.id}.params", p) for p in references_in(dict(step.params))]
        located += [(f"steps.{step.id}.condition", p) for p in condition_references(step.condition)]
        for where, path in located:
            shape = check_path(path)
            target = step_of(path)
            if shape:
                problems[where] = shape
            elif target is None:
                continue
            elif target not in known:
                problems[where] = f"${{{path}}} refers to unknown step {target!r}"
            elif target == step.id:
                problems[where] = f"${{{path}}} refers to the step itself"
            elif target not in before.get(step.id, set()) and step.id not in fallbacks:
                hint = " (add it to depends_on)" if definition.mode == "dag" else ""
                problems[where] = (
                    f"${{{path}}} refers to step {target!r}, which does not run before "
                    f"{step.id!r}{hint}"
                )
    return problems


def _param_problems(definition: Definition, capabilities: CapabilityLookup) -> dict[str, str]:
    problems: dict[str, str] = {}
    for step in definition.steps:
        where = f"steps.{step.id}"
        found = capabilities(step.capability) if step.capability else None
        if found is None:
            problems[f"{where}.capability"] = f"unknown capability {step.capability!r}"
            continue
        literal = {k: v for k, v in step.params.items() if not has_references(v)}
        for field, message in found[1](literal).items():
            name = field.split(".")[0]
            if message == "is not allowed" and "." not in field:
                problems[f"{where}.params.{field}"] = "is not a parameter of " + step.capability
            elif name in step.params and not has_references(step.params[name]):
                problems[f"{where}.params.{field}"] = message
            elif message == "is required" and name not in step.params:
                problems[f"{where}.params.{field}"] = message
        schema = found[0]
        known_params = schema.get("properties", {})
        if schema.get("additionalProperties") is False:
            for name in step.params:
                if name not in known_params and has_references(step.params[name]):
                    problems[f"{where}.params.{name}"] = "is not a parameter of " + step.capability
    return problems


def validate(definition: Definition, capabilities: CapabilityLookup) -> None:
    """Raise DefinitionError listing every problem beyond the shape."""
    problems: dict[str, str] = {}
    ids = [s.id for s in definition.steps]
    for step_id in sorted({i for i in ids if ids.count(i) > 1}):
        problems[f"steps.{step_id}.id"] = f"the step id {step_id!r} is used more than once"
    if definition.trigger.type == "schedule" and definition.trigger.cron:
        problem = cron_problem(definition.trigger.cron, definition.trigger.timezone)
        if problem:
            problems["trigger.cron"] = problem
    known = set(ids)
    for found in (
        _graph_problems(definition, known),
        _reference_problems(definition, known),
        _param_problems(definition, capabilities),
    ):
        for key, message in found.items():
            problems.setdefault(key, message)
    if problems:
        raise DefinitionError(problems)
