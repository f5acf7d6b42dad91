"""JSON Schema checking for capability parameters: the supported subset,
`check_schema` (refuse what would not be enforced) and `compile_validator`
(a schema compiled once into nested closures; a few microseconds a call)."""

from __future__ import annotations

import datetime
import json
import math
import operator
import re
from typing import Any, Callable, Mapping

from modules.libraries.contract import RegistrationError

_MISSING = object()

Validator = Callable[[Any], dict[str, str]]
# One compiled node: (value, path, errors) -> None; records at most one
# message per path (the first one found).
_Check = Callable[[Any, str, dict[str, str]], None]

TYPES = ("string", "integer", "number", "boolean", "null", "array", "object")
FORMATS = ("date", "date-time", "email", "uri")
_CONSTRAINTS = frozenset(
    "type properties required additionalProperties items enum const minimum maximum "
    "exclusiveMinimum exclusiveMaximum minLength maxLength pattern format anyOf".split()
)
_ANNOTATIONS = frozenset({"title", "description", "default", "examples", "$comment", "$schema"})
SUPPORTED_KEYWORDS = _CONSTRAINTS | _ANNOTATIONS


def _is_json(value: Any) -> bool:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return False
    return True


# --------------------------------------------------------------------------
# check_schema: refuse what we would not enforce


def check_schema(schema: Any, where: str = "schema") -> None:
    """Raise `RegistrationError` naming the first unsupported or malformed
    keyword in `schema` (and its subschemas)."""
    if isinstance(schema, bool):
        return
    if not isinstance(schema, Mapping):
        raise RegistrationError(f"{where}: a schema must be an object or true/false")
    for keyword in schema:
        if keyword not in SUPPORTED_KEYWORDS:
            raise RegistrationError(
                f"{where}: unsupported keyword {keyword!r}; supported: "
                + ", ".join(sorted(SUPPORTED_KEYWORDS))
            )
    _check_keywords(schema, where)


def _check_keywords(  # pylint: disable=too-many-branches
    schema: Mapping[str, Any], where: str
) -> None:
    def fail(keyword: str, message: str) -> RegistrationError:
        return RegistrationError(f"{where}: {keyword!r} {message}")

    if "type" in schema:
        names = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not names or any(name not in TYPES for name in names) or len(set(names)) < len(names):
            raise fail("type", f"must be one of {', '.join(TYPES)} or a list of them")
    if "properties" in schema:
        if not isinstance(schema["properties"], Mapping):
            raise fail("properties", "must be an object of schemas")
        for key, sub in schema["properties"].items():
            check_schema(sub, f"{where}.properties.{key}")
    if "required" in schema:
        required = schema["required"]
        if not isinstance(required, list) or not all(isinstance(k, str) for k in required):
            raise fail("required", "must be a list of property names")
    if "additionalProperties" in schema:
        check_schema(schema["additionalProperties"], f"{where}.additionalProperties")
    if "items" in schema:
        if isinstance(schema["items"], list):
            raise fail("items", "must be one schema (the list form is not supported)")
        check_schema(schema["items"], f"{where}.items")
    if "enum" in schema:
        values = schema["enum"]
        if not isinstance(values, list) or not values:
            raise fail("enum", "must be a non-empty list")
        if not all(_is_json(value) for value in values):
            raise fail("enum", "values must be JSON values")
    if "const" in schema and not _is_json(schema["const"]):
        raise fail("const", "must be a JSON value")
    for keyword in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        if keyword in schema and not _is_number(schema[keyword]):
            raise fail(keyword, "must be a number")
    for keyword in ("minLength", "maxLength"):
        value = schema.get(keyword, 0)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise fail(keyword, "must be a whole number, 0 or more")
    if "pattern" in schema:
        try:
            re.compile(schema["pattern"])
        except (re.error, TypeError) as exc:
            raise fail("pattern", f"is not a valid regular expression ({exc})") from None
    if "format" in schema and schema["format"] not in FORMATS:
        raise fail("format", f"{schema['format']!r} is not supported; use {', '.join(FORMATS)}")
    if "anyOf" in schema:
        if not isinstance(schema["anyOf"], list) or not schema["anyOf"]:
            raise fail("anyOf", "must be a non-empty list of schemas")
        for index, sub in enumerate(schema["anyOf"]):
            check_schema(sub, f"{where}.anyOf.{index}")
    for keyword in ("title", "description", "$comment", "$schema"):
        if keyword in schema and not isinstance(schema[keyword], str):
            raise fail(keyword, "must be text")


# --------------------------------------------------------------------------
# compile_validator: schema -> nested closures

_NOUNS = {
    "string": "text",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "null": "null",
    "array": "a list",
    "object": "an object",
}
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DATE_TIME = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?([Zz]|[+-]\d{2}:?\d{2})?"
)
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:\S+")


def compile_validator(schema: Any) -> Validator:
    """Check `schema` and compile it; the returned function maps a value to
    `{path: message}` ("_" for the value itself), empty when valid."""
    check_schema(schema)
    check = _compile(schema)

    def validate(value: Any) -> dict[str, str]:
        errors: dict[str, str] = {}
        check(value, "", errors)
        return errors

    return validate


def _is_string(value: Any) -> bool:
    return isinstance(value, str)


def _is_integer(value: Any) -> bool:
    return isinstance(value, int) and value.__class__ is not bool


def _is_number(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    return isinstance(value, int) and value.__class__ is not bool


def _is_boolean(value: Any) -> bool:
    return value is True or value is False


def _is_null(value: Any) -> bool:
    return value is None


def _is_array(value: Any) -> bool:
    return isinstance(value, (list, tuple))


def _is_object(value: Any) -> bool:
    return isinstance(value, dict)


_TYPE_TESTS: dict[str, Callable[[Any], bool]] = {
    "string": _is_string,
    "integer": _is_integer,
    "number": _is_number,
    "boolean": _is_boolean,
    "null": _is_null,
    "array": _is_array,
    "object": _is_object,
}


def _accept(_value: Any, _path: str, _errors: dict[str, str]) -> None:
    return None


def _reject(_value: Any, path: str, errors: dict[str, str]) -> None:
    errors.setdefault(path or "_", "is not allowed")


def _type_test(schema: Any) -> Callable[[Any], bool] | None:
    """The test for the schema's `type`, or None when it has none."""
    if not isinstance(schema, Mapping) or "type" not in schema:
        return None
    names = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
    tests = tuple(_TYPE_TESTS[name] for name in names)
    if len(tests) == 1:
        return tests[0]
    return lambda value: any(test(value) for test in tests)


def _type_message(schema: Mapping[str, Any]) -> str:
    names = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
    return "must be " + " or ".join(_NOUNS[name] for name in names)


def _compile(schema: Any) -> _Check:  # pylint: disable=too-many-return-statements
    # One closure per shape (no type / type only / type + one check / type +
    # several) keeps the per-value path free of needless calls and loops.
    if schema is True or (isinstance(schema, Mapping) and not _CONSTRAINTS & schema.keys()):
        return _accept
    if schema is False:
        return _reject
    parts = [
        part
        for part in (
            _compile_enum(schema),
            _compile_const(schema),
            _compile_numbers(schema),
            _compile_strings(schema),
            _compile_items(schema),
            _compile_object(schema),
            _compile_any_of(schema),
        )
        if part is not None
    ]
    type_ok = _type_test(schema)
    if type_ok is None:
        if not parts:
            return _accept
        if len(parts) == 1:
            return parts[0]

        def check_all(value: Any, path: str, errors: dict[str, str]) -> None:
            for part in parts:
                part(value, path, errors)

        return check_all

    message = _type_message(schema)
    if not parts:

        def check_type(value: Any, path: str, errors: dict[str, str]) -> None:
            if not type_ok(value):
                errors.setdefault(path or "_", message)

        return check_type
    if len(parts) == 1:
        only = parts[0]

        def check_type_then(value: Any, path: str, errors: dict[str, str]) -> None:
            if not type_ok(value):
                errors.setdefault(path or "_", message)
            else:
                only(value, path, errors)

        return check_type_then

    def check_type_then_all(value: Any, path: str, errors: dict[str, str]) -> None:
        if not type_ok(value):
            errors.setdefault(path or "_", message)
            return
        for part in parts:
            part(value, path, errors)

    return check_type_then_all


def _enum_key(value: Any) -> Any:
    """A hashable key under which JSON-equal values meet: 1 and 1.0 are
    equal, True and 1 are not, "a" and a str-based Enum member "a" are."""
    if value is None or value is True or value is False:
        return value  # numbers are wrapped below, so True never meets 1
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, (int, float)):
        return ("n", value)
    try:
        return ("j", json.dumps(value, sort_keys=True, allow_nan=False))
    except (TypeError, ValueError):
        return ("x", id(value))


def _show(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _compile_enum(schema: Mapping[str, Any]) -> _Check | None:
    if "enum" not in schema:
        return None
    allowed = frozenset(_enum_key(value) for value in schema["enum"])
    message = "must be one of: " + ", ".join(_show(value) for value in schema["enum"])

    def check_enum(value: Any, path: str, errors: dict[str, str]) -> None:
        if _enum_key(value) not in allowed:
            errors.setdefault(path or "_", message)

    return check_enum


def _compile_const(schema: Mapping[str, Any]) -> _Check | None:
    if "const" not in schema:
        return None
    expected = _enum_key(schema["const"])
    message = f"must be {_show(schema['const'])}"

    def check_const(value: Any, path: str, errors: dict[str, str]) -> None:
        if _enum_key(value) != expected:
            errors.setdefault(path or "_", message)

    return check_const


def _compile_numbers(schema: Mapping[str, Any]) -> _Check | None:
    # (limit, fails(value, limit), message) for each bound present.
    bounds: list[tuple[Any, Callable[[Any, Any], bool], str]] = []
    if "minimum" in schema:
        limit = schema["minimum"]
        bounds.append((limit, operator.lt, f"must be at least {limit}"))
    if "maximum" in schema:
        limit = schema["maximum"]
        bounds.append((limit, operator.gt, f"must be at most {limit}"))
    if "exclusiveMinimum" in schema:
        limit = schema["exclusiveMinimum"]
        bounds.append((limit, operator.le, f"must be greater than {limit}"))
    if "exclusiveMaximum" in schema:
        limit = schema["exclusiveMaximum"]
        bounds.append((limit, operator.ge, f"must be less than {limit}"))
    if not bounds:
        return None
    checks = tuple(bounds)

    def check_numbers(value: Any, path: str, errors: dict[str, str]) -> None:
        if _is_number(value):
            for limit, fails, message in checks:
                if fails(value, limit):
                    errors.setdefault(path or "_", message)
                    return

    return check_numbers


def _compile_strings(schema: Mapping[str, Any]) -> _Check | None:
    tests: list[tuple[Callable[[str], bool], str]] = []
    if "minLength" in schema:
        low = schema["minLength"]
        unit = "character" if low == 1 else "characters"
        tests.append((lambda s: len(s) >= low, f"must be at least {low} {unit} long"))
    if "maxLength" in schema:
        high = schema["maxLength"]
        unit = "character" if high == 1 else "characters"
        tests.append((lambda s: len(s) <= high, f"must be at most {high} {unit} long"))
    if "pattern" in schema:
        regex = re.compile(schema["pattern"])
        tests.append(
            (lambda s: regex.search(s) is not None, f"must match the pattern {regex.pattern}")
        )
    if "format" in schema:
        tests.append(_FORMAT_TESTS[schema["format"]])
    if not tests:
        return None
    checks = tuple(tests)

    def check_string(value: Any, path: str, errors: dict[str, str]) -> None:
        if isinstance(value, str):
            for passes, message in checks:
                if not passes(value):
                    errors.setdefault(path or "_", message)
                    return

    return check_string


def _is_date(value: str) -> bool:
    if not _DATE.fullmatch(value):
        return False
    try:
        datetime.date.fromisoformat(value)
    except ValueError:
        return False
    return True


def _is_date_time(value: str) -> bool:
    if not _DATE_TIME.fullmatch(value):
        return False
    try:
        datetime.datetime.fromisoformat(value[:10] + "T" + value[11:].upper())
    except ValueError:
        return False
    return True


_FORMAT_TESTS: dict[str, tuple[Callable[[str], bool], str]] = {
    "date": (_is_date, "must be a date (YYYY-MM-DD)"),
    "date-time": (_is_date_time, "must be a date and time (YYYY-MM-DDTHH:MM)"),
    "email": (lambda s: EMAIL.fullmatch(s) is not None, "must be an email address"),
    "uri": (lambda s: _URI.fullmatch(s) is not None, "must be an address such as https://..."),
}


def _compile_items(schema: Mapping[str, Any]) -> _Check | None:
    if "items" not in schema:
        return None
    item = _compile(schema["items"])
    if item is _accept:
        return None

    def check_items(value: Any, path: str, errors: dict[str, str]) -> None:
        if isinstance(value, (list, tuple)):
            prefix = f"{path}." if path else ""
            for index, element in enumerate(value):
                item(element, f"{prefix}{index}", errors)

    return check_items


def _compile_object(schema: Mapping[str, Any]) -> _Check | None:
    properties = schema.get("properties") or {}
    required = list(schema.get("required") or ())
    additional = schema.get("additionalProperties", True)
    if not properties and not required and additional is True:
        return None
    # (name, check, required) per declared property, in declaration order.
    declared = tuple((name, _compile(sub), name in required) for name, sub in properties.items())
    others_required = tuple(name for name in required if name not in properties)
    known = frozenset(properties)
    extra: _Check | None = None if additional is True else _compile(additional)
    if extra is _accept:
        extra = None

    def check_object(value: Any, path: str, errors: dict[str, str]) -> None:
        if not isinstance(value, dict):
            return
        prefix = f"{path}." if path else ""
        present = 0
        for name, check, needed in declared:
            item = value.get(name, _MISSING)
            if item is _MISSING:
                if needed:
                    errors.setdefault(prefix + name, "is required")
            else:
                present += 1
                check(item, prefix + name, errors)
        for name in others_required:
            if name not in value:
                errors.setdefault(prefix + name, "is required")
        if extra is not None and present != len(value):
            for name, item in value.items():
                if name not in known:
                    extra(item, f"{prefix}{name}", errors)

    return check_object


def _compile_any_of(schema: Mapping[str, Any]) -> _Check | None:
    if "anyOf" not in schema:
        return None
    branches = tuple((_type_test(sub), _compile(sub)) for sub in schema["anyOf"])
    typed = all(isinstance(sub, Mapping) and "type" in sub for sub in schema["anyOf"])
    if typed:
        nouns = list(dict.fromkeys(_type_message(sub)[8:] for sub in schema["anyOf"]))
        fallback = "must be " + " or ".join(nouns)
    else:
        fallback = "does not match any of the allowed forms"

    def check_any_of(value: Any, path: str, errors: dict[str, str]) -> None:
        trials = []
        for type_ok, check in branches:
            trial: dict[str, str] = {}
            check(value, path, trial)
            if not trial:
                return
            trials.append((type_ok, trial))
        # Report the first branch whose type fits: its messages are the useful ones.
        for type_ok, trial in trials:
            if type_ok is None or type_ok(value):
                for where, message in trial.items():
                    errors.setdefault(where, message)
                return
        errors.setdefault(path or "_", fallback)

    return check_any_of
