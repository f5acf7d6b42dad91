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
import re
import types
import typing
from typing import Any, Callable, Mapping

from modules.libraries.context import Context
from modules.libraries.contract import FieldSpec, RegistrationError
from modules.libraries.validator import (
    EMAIL,
    FORMATS,
    SUPPORTED_KEYWORDS,
    TYPES,
    Validator,
    _compile,
    check_schema,
    compile_validator,
)

__all__ = [  # what callers use; the validator half lives in validator.py
    "EMAIL",
    "FORMATS",
    "SUPPORTED_KEYWORDS",
    "TYPES",
    "Validator",
    "apply_defaults",
    "check_schema",
    "compile_validator",
    "derive",
    "fields_from_schema",
]

_MISSING = object()
# (globals, locals) to evaluate a callable's annotations in.
_Names = tuple[dict[str, Any], dict[str, Any]]
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
