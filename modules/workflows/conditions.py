"""Structured step conditions, evaluated without `eval`.

    {"left": "${steps.check.output.count}", "op": ">", "right": 0}
    {"all": [cond, cond, ...]}      every one holds
    {"any": [cond, cond, ...]}      at least one holds
    {"not": cond}

Operators: == != < <= > >= contains exists empty. `exists` and `empty`
take no right side. A reference that points at nothing makes `exists`
false and every other comparison false, never an error.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

from modules.workflows.references import ReferenceMissing, references_in, resolve

OPERATORS = ("==", "!=", "<", "<=", ">", ">=", "contains", "exists", "empty")
UNARY = ("exists", "empty")


def check(  # pylint: disable=too-many-return-statements  # one answer per condition form
    condition: Any, where: str
) -> dict[str, str]:
    """Problems with the shape of a condition (empty when fine)."""
    problems: dict[str, str] = {}
    if condition is None:
        return problems
    if not isinstance(condition, Mapping):
        return {where: "must be an object like {left, op, right} or {all|any: [...]}"}
    if "all" in condition or "any" in condition:
        key = "all" if "all" in condition else "any"
        items = condition[key]
        if set(condition) != {key} or not isinstance(items, list) or not items:
            return {where: f'"{key}" must be the only key and hold a non-empty list'}
        for i, item in enumerate(items):
            problems.update(check(item, f"{where}.{key}[{i}]"))
        return problems
    if "not" in condition:
        if set(condition) != {"not"}:
            return {where: '"not" must be the only key'}
        return check(condition["not"], f"{where}.not")
    op = condition.get("op")
    if op not in OPERATORS:
        return {f"{where}.op": f"must be one of: {' '.join(OPERATORS)}"}
    allowed = {"left", "op"} if op in UNARY else {"left", "op", "right"}
    if "left" not in condition or set(condition) - allowed:
        return {where: f"an {op!r} condition takes exactly: {', '.join(sorted(allowed))}"}
    return problems


def _compare(op: str, left: Any, right: Any) -> bool:
    try:
        if op == "==":
            return left == right
        if op == "!=":
            return left != right
        if op == "contains":
            return right in left if isinstance(left, (str, list, tuple, dict)) else False
        ordered: dict[str, Callable[[Any, Any], bool]] = {
            "<": lambda a, b: a < b,
            "<=": lambda a, b: a <= b,
            ">": lambda a, b: a > b,
            ">=": lambda a, b: a >= b,
        }
        return ordered[op](left, right)
    except TypeError:
        return False  # "3" < 4 and friends: not comparable means not true


def evaluate(  # pylint: disable=too-many-return-statements  # one answer per condition form
    condition: Any, scope: Mapping[str, Any]
) -> bool:
    """Whether the condition holds (None always holds)."""
    if condition is None:
        return True
    if "all" in condition:
        return all(evaluate(c, scope) for c in condition["all"])
    if "any" in condition:
        return any(evaluate(c, scope) for c in condition["any"])
    if "not" in condition:
        return not evaluate(condition["not"], scope)
    op = condition["op"]
    try:
        left = resolve(condition["left"], scope)
    except ReferenceMissing:
        return False
    if op == "exists":
        return left is not None
    if op == "empty":
        return left in (None, "", [], {}) or (isinstance(left, (list, dict, str)) and not left)
    try:
        right = resolve(condition.get("right"), scope)
    except ReferenceMissing:
        return False
    return _compare(op, left, right)


def condition_references(condition: Any) -> list[str]:
    """Reference paths used by a condition."""
    return list(references_in(condition))
