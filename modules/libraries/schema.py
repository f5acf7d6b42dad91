"""JSON Schemas for capabilities: derived from signatures, compiled into fast
validators, and turned into form fields.

- `derive(func)` is the contract's `SchemaDeriver`: it returns the input
  schema (an object with one property per parameter), the output schema
  (from the return annotation) and whether the callable takes the `Context`.
- `check_schema(schema)` refuses any keyword this module would not enforce,
  so a hand-written schema cannot promise checks that never happen.
- `compile_validator(schema)` compiles a schema once into nested closures;
  the result maps a value to `{path: message}` (empty when valid).
- `apply_defaults(schema, params)` fills missing top-level defaults.
- `fields_from_schema(schema)` turns an input schema into form `FieldSpec`s.

The supported subset of JSON Schema (draft 2020-12): type, properties,
required, additionalProperties (boolean or schema), items, enum, const,
minimum, maximum, exclusiveMinimum, exclusiveMaximum, minLength, maxLength,
pattern, format (date, date-time, email, uri), anyOf; and the annotations
title, description, default, examples, $comment and $schema, which constrain
nothing. `true` and `false` are schemas too (anything / nothing).
"""

from __future__ import annotations

import collections.abc
import copy
import dataclasses
import datetime
import enum
import functools
import inspect
import json
import math
import operator
import re
import types
import typing
from typing import Any, Callable, Mapping

from modules.libraries.context import Context
from modules.libraries.contract import FieldSpec, RegistrationError

Validator = Callable[[Any], dict[str, str]]
# One compiled node: (value, path, errors) -> None; records at most one
# message per path (the first one found).
_Check = Callable[[Any, str, dict[str, str]], None]

_MISSING = object()
# (globals, locals) to evaluate a callable's annotations in.
_Names = tuple[dict[str, Any], dict[str, Any]]
TYPES = ("string", "integer", "number", "boolean", "null", "array", "object")
FORMATS = ("date", "date-time", "email", "uri")
_CONSTRAINTS = frozenset(
    "type properties required additionalProperties items enum const minimum maximum "
    "exclusiveMinimum exclusiveMaximum minLength maxLength pattern format anyOf".split()
)
_ANNOTATIONS = frozenset({"title", "description", "default", "examples", "$comment", "$schema"})
SUPPORTED_KEYWORDS = _CONSTRAINTS | _ANNOTATIONS

_SUPPORTED_TYPES_HINT = (
    "use str, int, float, bool, None, list[...], tuple[..., ...], dict[str, ...], "
    "X | None, Literal[...], an Enum, a TypedDict, a dataclass, date or datetime"
)


# --------------------------------------------------------------------------
# derive: signature -> schemas


def derive(func: Callable[..., Any]) -> tuple[dict[str, Any], dict[str, Any], bool]:
    """(input schema, output schema, takes_context) for a capability callable.

    Raises `RegistrationError` for `*args`/`**kwargs`, a misplaced context
    parameter, unresolvable annotations and types with no JSON form.
    """
    label = _callable_name(func)
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError) as exc:
        raise RegistrationError(f"{label}: cannot read its signature ({exc})") from None
    names = _namespaces(func)
    params = list(signature.parameters.values())
    takes_context = bool(params) and _is_context(params[0], names)
    docs = _docstring_args(inspect.getdoc(func) or "")
    properties: dict[str, Any] = {}
    required: list[str] = []
    for param in params[1 if takes_context else 0 :]:
        where = f"{label}: parameter {param.name!r}"
        properties[param.name] = _parameter_schema(param, names, docs.get(param.name, ""), where)
        if param.default is param.empty:
            required.append(param.name)
    where = f"{label}: return type"
    output = _schema_for(_resolve(signature.return_annotation, names, where), where, ())
    schema = {
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }
    return schema, output, takes_context


def _parameter_schema(
    param: inspect.Parameter, names: _Names, description: str, where: str
) -> dict[str, Any]:
    _check_parameter_kind(param, where)
    if _is_context(param, names):
        raise RegistrationError(f"{where}: the context must be the first parameter")
    prop = _schema_for(_resolve(param.annotation, names, where), where, ())
    if param.default is not param.empty:
        prop = _with_default(prop, param.default, where)
    described = {"title": _readable(param.name)}
    if description:
        described["description"] = description
    return {**described, **prop}


def _check_parameter_kind(param: inspect.Parameter, where: str) -> None:
    if param.kind is param.VAR_POSITIONAL:
        raise RegistrationError(
            f"{where}: *{param.name} is not supported; a capability takes named "
            "parameters only (use a list parameter instead)"
        )
    if param.kind is param.VAR_KEYWORD:
        raise RegistrationError(
            f"{where}: **{param.name} is not supported; a capability takes named "
            "parameters only (use a dict parameter instead)"
        )


def _callable_name(func: Callable[..., Any]) -> str:
    name = getattr(func, "__qualname__", None) or getattr(func, "__name__", None)
    return f"capability {name or type(func).__name__!r}"


def _namespaces(func: Callable[..., Any]) -> _Names:
    """Where the names in the annotations live: the function's module, plus
    the variables it closes over (types defined inside `register`)."""
    target: Any = func
    if isinstance(target, functools.partial):
        target = target.func
    target = getattr(target, "__func__", target)  # bound methods
    if not inspect.isfunction(target) and callable(target) and not inspect.isclass(target):
        target = getattr(type(target), "__call__", target)  # callable instances
    target = inspect.unwrap(target)
    globalns = dict(getattr(target, "__globals__", {}))
    localns: dict[str, Any] = {}
    if inspect.isfunction(target):
        try:
            localns = dict(inspect.getclosurevars(target).nonlocals)
        except (TypeError, ValueError):
            localns = {}
    return globalns, localns


def _resolve(annotation: Any, names: _Names, where: str) -> Any:
    """The annotation as a type (strings from `from __future__ import
    annotations` evaluated, `Annotated` stripped); `Any` when absent."""
    if annotation is inspect.Parameter.empty:
        return Any
    holder = types.SimpleNamespace(__annotations__={"value": annotation})
    try:
        return typing.get_type_hints(holder, *names)["value"]
    except Exception as exc:  # pylint: disable=broad-exception-caught
        # Evaluating an annotation can raise anything (NameError, TypeError,
        # SyntaxError...); each means the same thing to the library author.
        raise RegistrationError(
            f"{where}: cannot resolve the type {annotation!r} ({type(exc).__name__}: {exc}); "
            "types in annotations must be importable from the function's module"
        ) from None


def _is_context(param: inspect.Parameter, names: _Names) -> bool:
    if param.name == "ctx":
        return True
    annotation = param.annotation
    if annotation is Context:
        return True
    if isinstance(annotation, str):
        try:
            return _resolve(annotation, names, "") is Context
        except RegistrationError:
            return False
    return False


def _readable(name: str) -> str:
    return name.replace("_", " ").strip().capitalize()


def _schema_for(  # pylint: disable=too-many-return-statements,too-many-branches
    hint: Any, where: str, seen: tuple[type, ...]
) -> dict[str, Any]:
    """The JSON Schema of one resolved type hint (a fresh dict every call)."""
    if hint is Any or hint is object:
        return {}
    if hint is None or hint is types.NoneType:
        return {"type": "null"}
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is typing.Union or origin is types.UnionType:
        return _union_schema(args, where, seen)
    if origin is typing.Literal:
        return _enum_schema([_literal_value(arg, where) for arg in args], where)
    if isinstance(hint, typing.NewType):
        return _schema_for(hint.__supertype__, where, seen)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return _enum_schema([member.value for member in hint], where)
    if origin is None and isinstance(hint, type):
        simple = _simple_schema(hint)
        if simple is not None:
            return simple
    if hint in (list, tuple, collections.abc.Sequence, collections.abc.MutableSequence):
        return {"type": "array"}
    if origin in (list, collections.abc.Sequence, collections.abc.MutableSequence):
        return _array_schema(args[0] if args else Any, where, seen)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return _array_schema(args[0], where, seen)
        raise RegistrationError(
            f"{where}: fixed-length tuples are not supported; use list[X] or tuple[X, ...]"
        )
    if hint in (dict, collections.abc.Mapping, collections.abc.MutableMapping):
        return {"type": "object"}
    if origin in (dict, collections.abc.Mapping, collections.abc.MutableMapping):
        return _mapping_schema(args, where, seen)
    if typing.is_typeddict(hint) or (isinstance(hint, type) and dataclasses.is_dataclass(hint)):
        if hint in seen:
            raise RegistrationError(f"{where}: recursive type {hint.__name__} is not supported")
        return _record_schema(hint, where, (*seen, hint))
    raise RegistrationError(
        f"{where}: the type {_type_name(hint)} has no JSON form; {_SUPPORTED_TYPES_HINT}"
    )


# Checked in order: bool is an int, datetime is a date.
_SIMPLE: tuple[tuple[type, dict[str, str]], ...] = (
    (bool, {"type": "boolean"}),
    (str, {"type": "string"}),
    (int, {"type": "integer"}),
    (float, {"type": "number"}),
    (datetime.datetime, {"type": "string", "format": "date-time"}),
    (datetime.date, {"type": "string", "format": "date"}),
)


def _simple_schema(hint: type) -> dict[str, Any] | None:
    for base, schema in _SIMPLE:
        if issubclass(hint, base):
            return dict(schema)
    return None


def _type_name(hint: Any) -> str:
    return getattr(hint, "__name__", None) or repr(hint)


def _union_schema(args: tuple[Any, ...], where: str, seen: tuple[type, ...]) -> dict[str, Any]:
    has_null = any(arg is None or arg is types.NoneType for arg in args)
    schemas = [_schema_for(arg, where, seen) for arg in args if arg is not types.NoneType]
    if any(schema == {} for schema in schemas):
        return {}
    if len(schemas) == 1:
        return _nullable(schemas[0]) if has_null else schemas[0]
    if all(set(schema) == {"type"} and isinstance(schema["type"], str) for schema in schemas):
        names = [schema["type"] for schema in schemas] + (["null"] if has_null else [])
        return {"type": list(dict.fromkeys(names))}
    return {"anyOf": schemas + ([{"type": "null"}] if has_null else [])}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` that also accepts null."""
    if not schema or _allows_null(schema):
        return schema
    if set(schema) == {"anyOf"}:
        return {"anyOf": [*schema["anyOf"], {"type": "null"}]}
    if "anyOf" in schema or "const" in schema:
        return {"anyOf": [schema, {"type": "null"}]}
    result = dict(schema)
    if "enum" in result:
        result["enum"] = [*result["enum"], None]
    if "type" in result:
        names = result["type"] if isinstance(result["type"], list) else [result["type"]]
        result["type"] = [*names, "null"]
    return result


def _allows_null(schema: Any) -> bool:
    errors: dict[str, str] = {}
    _compile(schema)(None, "", errors)
    return not errors


def _literal_value(arg: Any, where: str) -> Any:
    if isinstance(arg, enum.Enum):
        arg = arg.value
    if arg is None or isinstance(arg, (str, int, float, bool)):
        return arg
    raise RegistrationError(f"{where}: Literal value {arg!r} has no JSON form")


def _enum_schema(values: list[Any], where: str) -> dict[str, Any]:
    if not values:
        raise RegistrationError(f"{where}: an enumeration needs at least one value")
    for value in values:
        if _json_value(value) is _MISSING or isinstance(value, (list, dict)):
            raise RegistrationError(f"{where}: enumeration value {value!r} has no JSON form")
    schema: dict[str, Any] = {"enum": list(values)}
    kinds = {_json_type(value) for value in values}
    if len(kinds) == 1 and None not in kinds:
        schema = {"type": kinds.pop(), **schema}
    return schema


def _json_type(value: Any) -> str | None:
    """The JSON type name of a scalar ("number" only for non-integers)."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return None


def _array_schema(item: Any, where: str, seen: tuple[type, ...]) -> dict[str, Any]:
    items = _schema_for(item, where, seen)
    return {"type": "array", "items": items} if items else {"type": "array"}


def _mapping_schema(args: tuple[Any, ...], where: str, seen: tuple[type, ...]) -> dict[str, Any]:
    if not args:
        return {"type": "object"}
    key, value = args
    if key is not str and key is not Any:
        raise RegistrationError(f"{where}: dictionary keys must be str (JSON object keys are text)")
    values = _schema_for(value, where, seen)
    return {"type": "object", "additionalProperties": values} if values else {"type": "object"}


def _record_schema(hint: type, where: str, seen: tuple[type, ...]) -> dict[str, Any]:
    """A TypedDict or a dataclass: an object with fixed keys."""
    try:
        hints = typing.get_type_hints(hint)
    except Exception as exc:  # pylint: disable=broad-exception-caught
        # Same as _resolve: any failure means an unresolvable annotation.
        raise RegistrationError(
            f"{where}: cannot resolve the fields of {hint.__name__} ({exc})"
        ) from None
    properties: dict[str, Any] = {}
    required: list[str] = []
    if dataclasses.is_dataclass(hint):
        for item in dataclasses.fields(hint):
            if not item.init:
                continue
            inner = f"{where}, field {hint.__name__}.{item.name}"
            prop = _schema_for(hints.get(item.name, Any), inner, seen)
            if item.default is not dataclasses.MISSING:
                prop = _with_default(prop, item.default, inner)
            elif item.default_factory is dataclasses.MISSING:
                required.append(item.name)
            properties[item.name] = prop
    else:
        marked = typing.get_type_hints(hint, include_extras=True)
        for key, value in hints.items():
            properties[key] = _schema_for(value, f"{where}, key {hint.__name__}.{key}", seen)
            if _typed_dict_requires(hint, key, marked[key]):
                required.append(key)
    return {
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }


def _typed_dict_requires(hint: type, key: str, marked: Any) -> bool:
    """Whether a TypedDict key is required. `__required_keys__` misses
    `NotRequired[...]` written as a string (`from __future__ import
    annotations` on Python 3.11), so the markers are read from the hint."""
    marked = typing.get_origin(marked)
    if marked is typing.NotRequired:
        return False
    if marked is typing.Required:
        return True
    return key in getattr(hint, "__required_keys__", ())


def _with_default(prop: dict[str, Any], default: Any, where: str) -> dict[str, Any]:
    """`prop` with its default recorded; `= None` makes the type nullable."""
    if default is None:
        prop = _nullable(prop)
    value = _json_value(default)
    if value is _MISSING:
        return prop
    errors = compile_validator(prop)(value)
    if errors:
        path, message = next(iter(errors.items()))
        at = "" if path == "_" else f" (at {path})"
        raise RegistrationError(f"{where}: the default {default!r}{at} {message}")
    return {**prop, "default": value}


def _json_value(value: Any) -> Any:
    """`value` as plain JSON data, or _MISSING when it has no JSON form."""
    if isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    if isinstance(value, datetime.date):
        return value.isoformat()
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError):
        return _MISSING


def _is_json(value: Any) -> bool:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return False
    return True


_SECTION = re.compile(r"(Args|Arguments|Parameters|Params):")
_ENTRY = re.compile(r"\*{0,2}(\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)")


def _docstring_args(doc: str) -> dict[str, str]:
    """Parameter descriptions from a Google-style `Args:` section."""
    found: dict[str, str] = {}
    header: int | None = None
    entry: int | None = None
    current: str | None = None
    for line in doc.splitlines():
        text = line.strip()
        indent = len(line) - len(line.lstrip())
        if header is None:
            if _SECTION.fullmatch(text):
                header = indent
            continue
        if not text:
            continue
        if indent <= header:
            break
        if entry is None:
            entry = indent
        if indent == entry:
            match = _ENTRY.fullmatch(text)
            current = match.group(1) if match else None
            if match:
                found[current] = match.group(2).strip()
        elif current is not None:
            found[current] = f"{found[current]} {text}".strip()
    return found


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


# --------------------------------------------------------------------------
# defaults and form fields


def apply_defaults(schema: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of `params` with each missing top-level property's default."""
    result = dict(params)
    for name, sub in (schema.get("properties") or {}).items():
        # A subschema is a mapping or a bare true/false.
        if name not in result and sub.__class__ is not bool and "default" in sub:
            default = sub["default"]
            result[name] = copy.deepcopy(default) if isinstance(default, (list, dict)) else default
    return result


def fields_from_schema(schema: Mapping[str, Any]) -> list[FieldSpec]:
    """Form field specs for an object input schema, one per property.

    A property that accepts null is never required in the form (a blank
    input means null). Raises `RegistrationError` for a property name a
    form field cannot have.
    """
    properties = schema.get("properties") or {}
    required = set(schema.get("required") or ())
    specs = []
    for name, sub in properties.items():
        sub = sub if isinstance(sub, Mapping) else {}
        inner, nullable = _without_null(sub)
        kind, choices = _field_kind(inner)
        specs.append(
            FieldSpec(
                name=name,
                type=kind,
                label=str(sub.get("title") or inner.get("title") or ""),
                required=name in required and not nullable,
                default=sub.get("default", inner.get("default")),
                help=str(sub.get("description") or inner.get("description") or ""),
                choices=choices,
            )
        )
    return specs


def _without_null(schema: Mapping[str, Any]) -> tuple[Mapping[str, Any], bool]:
    """(the schema without its null alternative, whether it had one)."""
    names = schema.get("type")
    if isinstance(names, list) and "null" in names:
        others = [name for name in names if name != "null"]
        inner = dict(schema)
        inner["type"] = others[0] if len(others) == 1 else others
        if "enum" in inner:
            inner["enum"] = [value for value in inner["enum"] if value is not None]
        return inner, True
    if "enum" in schema and None in schema["enum"] and "type" not in schema:
        return {**schema, "enum": [value for value in schema["enum"] if value is not None]}, True
    branches = schema.get("anyOf")
    if isinstance(branches, list):
        others = [sub for sub in branches if sub != {"type": "null"}]
        if len(others) == 1 and len(others) < len(branches) and isinstance(others[0], Mapping):
            return others[0], True
    return schema, False


def _field_kind(  # pylint: disable=too-many-return-statements
    schema: Mapping[str, Any],
) -> tuple[str, tuple[Any, ...]]:
    if schema.get("enum"):
        return "choice", tuple(schema["enum"])
    if "const" in schema:
        return "choice", (schema["const"],)
    kind = schema.get("type")
    if kind == "string":
        return _STRING_FORMATS.get(schema.get("format", ""), "text"), ()
    if kind in ("integer", "number", "boolean"):
        return kind, ()
    if kind == "array" and isinstance(schema.get("items"), Mapping):
        items, _ = _without_null(schema["items"])
        if items.get("enum"):
            return "multi-choice", tuple(items["enum"])
    return "json", ()


_STRING_FORMATS = {"email": "email", "uri": "url", "date": "date", "date-time": "datetime"}
