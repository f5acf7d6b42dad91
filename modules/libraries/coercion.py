"""Turning validated JSON values into the Python types a capability's
signature asks for: `date`, `datetime` and Enum parameters get real dates
and members, not the strings and numbers JSON carries."""

from __future__ import annotations

import enum
import inspect
import types
import typing
from datetime import date, datetime, timezone
from typing import Any, Callable

Coercer = Callable[[Any], Any]


def _to_datetime(value: Any) -> Any:
    if isinstance(value, str):
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    return value


def _to_date(value: Any) -> Any:
    return date.fromisoformat(value) if isinstance(value, str) else value


def _unwrap_optional(hint: Any) -> Any:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not types.NoneType]
        if len(args) == 1:
            return args[0]
    return hint


def _coercer(hint: Any) -> Coercer | None:
    hint = _unwrap_optional(hint)
    if hint is datetime:
        return _to_datetime
    if hint is date:
        return _to_date
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return hint
    return None


def coercers_for(func: Callable[..., Any]) -> dict[str, Coercer]:
    """Parameter name -> converter, for the parameters that need one."""
    target = inspect.unwrap(func)
    try:
        closure = inspect.getclosurevars(target).nonlocals if inspect.isfunction(target) else {}
        hints = typing.get_type_hints(target, localns=dict(closure))
    except Exception:  # pylint: disable=broad-exception-caught
        # Unresolvable hints: derive() reports those; here nothing is converted.
        return {}
    found = {}
    for name in inspect.signature(target).parameters:
        coercer = _coercer(hints.get(name))
        if coercer is not None:
            found[name] = coercer
    return found


def coerce(values: dict[str, Any], coercers: dict[str, Coercer]) -> dict[str, str] | None:
    """Convert `values` in place; {field: message} when one cannot be."""
    errors = {}
    for name, coercer in coercers.items():
        value = values.get(name)
        if value is None:
            continue
        try:
            values[name] = coercer(value)
        except (ValueError, TypeError):
            errors[name] = "has a value of the wrong form"
    return errors or None
