"""`${...}` references in step params and conditions.

    ${trigger.email}              the trigger payload
    ${steps.welcome.output.id}    a completed step's output
    ${account.name}               the account the run belongs to

A value that is exactly one reference keeps the referenced value's type
(`"${steps.a.output.count}"` gives 3, not "3"); inside a longer string the
value is interpolated as text (JSON for objects and lists). A path into
lists uses numbers: `${steps.find.output.contacts.0.email}`.
"""

from __future__ import annotations

import json
import re
from typing import Any, Iterator, Mapping

REFERENCE = re.compile(r"\$\{([^{}]+)\}")
ROOTS = ("trigger", "steps", "account")


class ReferenceMissing(LookupError):
    """A reference points at nothing; the message says which part is missing."""


def references_in(value: Any) -> Iterator[str]:
    """Every reference path (without `${}`) anywhere inside `value`."""
    if isinstance(value, str):
        for match in REFERENCE.finditer(value):
            yield match.group(1).strip()
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from references_in(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from references_in(item)


def check_path(path: str) -> str | None:
    """A problem with the shape of a reference path, or None when it is fine."""
    parts = path.split(".")
    if parts[0] not in ROOTS:
        return f"${{{path}}} must start with trigger, steps or account"
    if parts[0] == "steps":
        if len(parts) < 3 or parts[2] != "output":
            return f"${{{path}}} must look like steps.<step id>.output[.field...]"
    return None


def step_of(path: str) -> str | None:
    """The step a `steps.<id>.output...` path refers to."""
    parts = path.split(".")
    return parts[1] if parts[0] == "steps" and len(parts) > 1 else None


def lookup(scope: Mapping[str, Any], path: str) -> Any:
    """The value at `path` in `scope` (trigger, steps, account)."""
    parts = path.split(".")
    if parts[0] == "steps" and len(parts) >= 3:
        step = scope.get("steps", {}).get(parts[1])
        if step is None:
            raise ReferenceMissing(f"${{{path}}}: step {parts[1]!r} has no output (yet)")
        current: Any = step.get("output")
        rest = parts[3:]
    else:
        if parts[0] not in scope:
            raise ReferenceMissing(f"${{{path}}}: unknown root {parts[0]!r}")
        current, rest = scope[parts[0]], parts[1:]
    walked = parts[: len(parts) - len(rest)]
    for part in rest:
        walked.append(part)
        if isinstance(current, Mapping) and part in current:
            current = current[part]
        elif isinstance(current, (list, tuple)) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            raise ReferenceMissing(f"${{{path}}}: nothing at {'.'.join(walked)}")
    return current


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    return json.dumps(value, default=str)


def resolve(value: Any, scope: Mapping[str, Any]) -> Any:
    """`value` with every reference replaced (recursively through objects and lists)."""
    if isinstance(value, str):
        if "${" not in value:
            return value
        whole = REFERENCE.fullmatch(value.strip())
        if whole:
            return lookup(scope, whole.group(1).strip())
        return REFERENCE.sub(lambda m: _text(lookup(scope, m.group(1).strip())), value)
    if isinstance(value, Mapping):
        return {key: resolve(item, scope) for key, item in value.items()}
    if isinstance(value, list):
        return [resolve(item, scope) for item in value]
    return value


def has_references(value: Any) -> bool:
    """Whether anything inside `value` is a reference (cheap pre-check)."""
    return next(references_in(value), None) is not None
