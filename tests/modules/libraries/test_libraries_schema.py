"""Capability schemas: derived from signatures, enforced by compiled
validators, refused when unsupported, turned into form fields.

This file uses `from __future__ import annotations`, so every signature here
has string annotations; `plain()` builds functions without it."""

# pylint: disable=unused-argument  # the signatures are the test data

from __future__ import annotations

import datetime
import enum
import time
from dataclasses import dataclass, field
from typing import Any, Literal, Mapping, NotRequired, Optional, Sequence, TypedDict

import pytest

from modules.libraries.context import Context
from modules.libraries.contract import FieldSpec, LibraryRegistry, RegistrationError
from modules.libraries.schema import (
    apply_defaults,
    check_schema,
    compile_validator,
    derive,
    fields_from_schema,
)


class Color(enum.Enum):
    """A plain Enum with text values."""

    RED = "red"
    BLUE = "blue"


class Size(enum.IntEnum):
    """An IntEnum."""

    SMALL = 1
    LARGE = 2


class LineItem(TypedDict):
    """A TypedDict with an optional key."""

    sku: str
    quantity: NotRequired[int]


@dataclass
class Address:
    """A dataclass with defaults."""

    street: str
    city: str = "Paris"
    tags: list[str] = field(default_factory=list)


class Node(TypedDict):
    """A recursive TypedDict."""

    name: str
    children: list[Node]


class Opaque:
    """A class with no JSON form."""


def inputs(func: Any) -> dict[str, Any]:
    """The input schema of `func`."""
    return derive(func)[0]


def prop(func: Any, name: str) -> dict[str, Any]:
    """One property of the input schema, without its title and description."""
    found = dict(inputs(func)["properties"][name])
    found.pop("title", None)
    found.pop("description", None)
    return found


def plain(source: str, **namespace: Any) -> Any:
    """A function defined without `from __future__ import annotations`."""
    scope: dict[str, Any] = {"Any": Any, "Optional": Optional, **namespace}
    # Test-only: stands for a module without the future import.
    exec(source, scope)  # pylint: disable=exec-used
    return scope["f"]


# ---------------------------------------------------------------- derive


def test_derive_object_shape() -> None:
    def cap(ctx, name: str, count: int = 2) -> dict:
        return {}

    schema, output, takes_context = derive(cap)
    assert schema == {
        "type": "object",
        "properties": {
            "name": {"title": "Name", "type": "string"},
            "count": {"title": "Count", "type": "integer", "default": 2},
        },
        "required": ["name"],
        "additionalProperties": False,
    }
    assert output == {"type": "object"}
    assert takes_context is True


@pytest.mark.parametrize(
    ("annotation", "expected"),
    [
        ("str", {"type": "string"}),
        ("int", {"type": "integer"}),
        ("float", {"type": "number"}),
        ("bool", {"type": "boolean"}),
        ("None", {"type": "null"}),
        ("type(None)", {"type": "null"}),
        ("Any", {}),
        ("list[int]", {"type": "array", "items": {"type": "integer"}}),
        ("list", {"type": "array"}),
        ("list[Any]", {"type": "array"}),
        ("tuple[str, ...]", {"type": "array", "items": {"type": "string"}}),
        ("Sequence[bool]", {"type": "array", "items": {"type": "boolean"}}),
        ("dict", {"type": "object"}),
        ("dict[str, Any]", {"type": "object"}),
        ("Mapping[str, Any]", {"type": "object"}),
        ("dict[str, int]", {"type": "object", "additionalProperties": {"type": "integer"}}),
        ("str | None", {"type": ["string", "null"]}),
        ("Optional[int]", {"type": ["integer", "null"]}),
        ("int | str", {"type": ["integer", "string"]}),
        (
            "int | list[str]",
            {"anyOf": [{"type": "integer"}, {"type": "array", "items": {"type": "string"}}]},
        ),
        ("Any | None", {}),
        ("Literal['a', 'b']", {"type": "string", "enum": ["a", "b"]}),
        ("Literal[1, 'x']", {"enum": [1, "x"]}),
        ("Literal['a'] | None", {"type": ["string", "null"], "enum": ["a", None]}),
        ("Color", {"type": "string", "enum": ["red", "blue"]}),
        ("Size", {"type": "integer", "enum": [1, 2]}),
        ("datetime.date", {"type": "string", "format": "date"}),
        ("datetime.datetime", {"type": "string", "format": "date-time"}),
        ("datetime.date | None", {"type": ["string", "null"], "format": "date"}),
    ],
)
def test_derive_type_mapping(annotation: str, expected: dict[str, Any]) -> None:
    namespace = {**globals(), "Mapping": Mapping, "Sequence": Sequence}
    # Test-only: one signature per annotation.
    exec(f"def cap(value: {annotation}): pass", namespace)  # pylint: disable=exec-used
    assert prop(namespace["cap"], "value") == expected


def test_derive_without_future_annotations() -> None:
    func = plain("def f(ctx, a: int, b: Optional[str] = None, c: list[float] = ()): pass")
    schema, _, takes_context = derive(func)
    assert takes_context is True
    assert schema["properties"]["a"]["type"] == "integer"
    assert schema["properties"]["b"]["type"] == ["string", "null"]
    assert schema["properties"]["c"]["items"] == {"type": "number"}
    assert schema["properties"]["c"]["default"] == []
    assert schema["required"] == ["a"]


def test_derive_missing_annotation_is_anything() -> None:
    def cap(value, other=3):
        return None

    assert not prop(cap, "value")
    assert prop(cap, "other") == {"default": 3}
    assert not derive(cap)[1]


def test_derive_typed_dict() -> None:
    def cap(item: LineItem):
        return None

    assert prop(cap, "item") == {
        "type": "object",
        "properties": {"sku": {"type": "string"}, "quantity": {"type": "integer"}},
        "required": ["sku"],
        "additionalProperties": False,
    }


def test_derive_dataclass() -> None:
    def cap(address: Address | None = None):
        return None

    schema = prop(cap, "address")
    assert schema["type"] == ["object", "null"]
    assert schema["properties"] == {
        "street": {"type": "string"},
        "city": {"type": "string", "default": "Paris"},
        "tags": {"type": "array", "items": {"type": "string"}},
    }
    assert schema["required"] == ["street"]
    assert schema["additionalProperties"] is False
    assert schema["default"] is None


def test_derive_list_of_typed_dicts_validates_nested() -> None:
    def cap(items: list[LineItem]):
        return None

    validate = compile_validator(inputs(cap))
    assert not validate({"items": [{"sku": "a"}, {"sku": "b", "quantity": 2}]})
    assert validate({"items": [{"sku": "a"}, {"sku": "b"}, {"quantity": "2"}]}) == {
        "items.2.sku": "is required",
        "items.2.quantity": "must be a whole number",
    }


def test_derive_context_by_name() -> None:
    def cap(ctx, value: int):
        return None

    schema, _, takes_context = derive(cap)
    assert takes_context is True
    assert list(schema["properties"]) == ["value"]


def test_derive_context_by_annotation() -> None:
    def cap(context: Context, value: int):
        return None

    schema, _, takes_context = derive(cap)
    assert takes_context is True
    assert list(schema["properties"]) == ["value"]


def test_derive_context_by_annotation_without_future_import() -> None:
    func = plain("def f(call: Context, value: int): pass", Context=Context)
    schema, _, takes_context = derive(func)
    assert takes_context is True
    assert list(schema["properties"]) == ["value"]


def test_derive_without_context() -> None:
    def cap(value: int):
        return None

    schema, _, takes_context = derive(cap)
    assert takes_context is False
    assert list(schema["properties"]) == ["value"]


def test_derive_context_must_come_first() -> None:
    def cap(value: int, ctx: Context):
        return None

    with pytest.raises(RegistrationError, match="'ctx': the context must be the first parameter"):
        derive(cap)


def test_derive_refuses_var_positional() -> None:
    def cap(ctx, *values: int):
        return None

    with pytest.raises(RegistrationError, match=r"\*values is not supported.*list parameter"):
        derive(cap)


def test_derive_refuses_var_keyword() -> None:
    def cap(ctx, **options: Any):
        return None

    with pytest.raises(RegistrationError, match=r"\*\*options is not supported.*dict parameter"):
        derive(cap)


def test_derive_positional_and_keyword_only() -> None:
    def cap(ctx, first: str, /, second: int, *, third: bool = True):
        return None

    schema = inputs(cap)
    assert list(schema["properties"]) == ["first", "second", "third"]
    assert schema["required"] == ["first", "second"]


def test_derive_defaults_and_required() -> None:
    def cap(  # pylint: disable=too-many-arguments,too-many-positional-arguments  # test data
        name: str,
        limit: int = 10,
        ratio: float = 1,
        color: Color = Color.BLUE,
        when: datetime.date = datetime.date(2024, 2, 3),
        tags: list[str] = ("a",),
        thing: Any = Opaque(),
    ):
        return None

    schema = inputs(cap)
    assert schema["required"] == ["name"]
    properties = schema["properties"]
    assert "default" not in properties["name"]
    assert properties["limit"]["default"] == 10
    assert properties["ratio"]["default"] == 1
    assert properties["color"]["default"] == "blue"
    assert properties["when"]["default"] == "2024-02-03"
    assert properties["tags"]["default"] == ["a"]
    # Not JSON: no default recorded, and still not required.
    assert "default" not in properties["thing"]


def test_derive_none_default_makes_type_nullable() -> None:
    def cap(limit: int = None, color: Color = None):  # type: ignore[assignment]
        return None

    assert prop(cap, "limit") == {"type": ["integer", "null"], "default": None}
    assert prop(cap, "color") == {
        "type": ["string", "null"],
        "enum": ["red", "blue", None],
        "default": None,
    }


def test_derive_refuses_default_of_wrong_type() -> None:
    def cap(limit: int = "ten"):  # type: ignore[assignment]
        return None

    with pytest.raises(
        RegistrationError, match="'limit': the default 'ten' must be a whole number"
    ):
        derive(cap)


def test_derive_titles_and_docstring_descriptions() -> None:
    def cap(ctx, first_name: str, age: int = 0, note: str = ""):
        """Create a contact.

        Args:
            ctx: The call context.
            first_name: Their given name.
            age (int): Age in whole
                years, if known.

        Returns:
            The new id.
        """

    properties = inputs(cap)["properties"]
    assert properties["first_name"]["title"] == "First name"
    assert properties["first_name"]["description"] == "Their given name."
    assert properties["age"]["description"] == "Age in whole years, if known."
    assert "description" not in properties["note"]


def test_derive_output_schema() -> None:
    def returns_list() -> list[LineItem]:
        return []

    def returns_none() -> None:
        return None

    def returns_optional() -> int | None:
        return None

    assert derive(returns_list)[1]["items"]["required"] == ["sku"]
    assert derive(returns_none)[1] == {"type": "null"}
    assert derive(returns_optional)[1] == {"type": ["integer", "null"]}


def test_derive_async_function() -> None:
    async def cap(ctx, value: int) -> str:
        return ""

    schema, output, takes_context = derive(cap)
    assert schema["required"] == ["value"]
    assert output == {"type": "string"}
    assert takes_context is True


def test_derive_refuses_types_without_json_form() -> None:
    def cap(value: Opaque):
        return None

    with pytest.raises(RegistrationError, match="'value': the type Opaque has no JSON form"):
        derive(cap)


def test_derive_refuses_bad_return_type() -> None:
    def cap() -> Opaque:
        return Opaque()

    with pytest.raises(RegistrationError, match="return type: the type Opaque has no JSON form"):
        derive(cap)


@pytest.mark.parametrize(
    ("annotation", "message"),
    [
        ("tuple[int, str]", "fixed-length tuples are not supported"),
        ("dict[int, str]", "dictionary keys must be str"),
        ("set[int]", "has no JSON form"),
        ("Node", "recursive type Node is not supported"),
        ("Literal[b'x']", "has no JSON form"),
    ],
)
def test_derive_refusals(annotation: str, message: str) -> None:
    namespace = {**globals(), "Mapping": Mapping, "Sequence": Sequence}
    # Test-only: one signature per annotation.
    exec(f"def cap(value: {annotation}): pass", namespace)  # pylint: disable=exec-used
    with pytest.raises(RegistrationError, match=message):
        derive(namespace["cap"])


def test_derive_unresolvable_annotation() -> None:
    def cap(value: Missing):  # pylint: disable=undefined-variable  # the point of the test
        return None

    with pytest.raises(RegistrationError, match="'value': cannot resolve the type 'Missing'"):
        derive(cap)


def test_derive_resolves_local_types_the_function_closes_over() -> None:
    class Local(TypedDict):
        """Only reachable through the closure."""

        flag: bool

    def cap(value: Local):
        return Local

    assert prop(cap, "value")["properties"] == {"flag": {"type": "boolean"}}


def test_derive_plugs_into_the_registry() -> None:
    registry = LibraryRegistry("crm", derive)

    @registry.capability(title="Create a contact")
    def create_contact(ctx: Context, name: str, email: str = "") -> dict:
        return {}

    capability = registry.result.capabilities[0]
    assert capability.takes_context is True
    assert capability.input_schema["required"] == ["name"]
    assert capability.input_schema["properties"]["email"]["default"] == ""
    assert capability.output_schema == {"type": "object"}


# ---------------------------------------------------------------- validator


@pytest.mark.parametrize(
    ("type_name", "good", "bad", "message"),
    [
        ("string", ["", "x"], [1, None, True, ["x"]], "must be text"),
        ("integer", [0, -3, 10**30], [True, False, 1.0, 1.5, "1", None], "must be a whole number"),
        ("number", [0, 1.5, -2, 10**30], [True, "1", None, float("nan")], "must be a number"),
        ("boolean", [True, False], [0, 1, "true", None], "must be true or false"),
        ("null", [None], [0, "", False], "must be null"),
        ("array", [[], [1], (1, 2)], [{}, "ab", None], "must be a list"),
        ("object", [{}, {"a": 1}], [[], "x", None], "must be an object"),
    ],
)
def test_validator_types(type_name: str, good: list, bad: list, message: str) -> None:
    validate = compile_validator({"type": type_name})
    for value in good:
        assert not validate(value), value
    for value in bad:
        assert validate(value) == {"_": message}, value


def test_validator_list_of_types() -> None:
    validate = compile_validator({"type": ["integer", "null"]})
    assert not validate(None)
    assert not validate(3)
    assert validate("3") == {"_": "must be a whole number or null"}


def test_validator_properties_required_additional() -> None:
    validate = compile_validator(
        {
            "type": "object",
            "properties": {"email": {"type": "string"}, "age": {"type": "integer"}},
            "required": ["email", "phone"],
            "additionalProperties": False,
        }
    )
    assert validate({"email": "a@b.c", "phone": None}) == {"phone": "is not allowed"}
    assert validate({"age": "x", "other": 1}) == {
        "email": "is required",
        "age": "must be a whole number",
        "phone": "is required",
        "other": "is not allowed",
    }


def test_validator_additional_properties_allowed_by_default() -> None:
    validate = compile_validator({"type": "object", "properties": {"a": {"type": "string"}}})
    assert not validate({"a": "x", "b": 2})


def test_validator_additional_properties_schema() -> None:
    validate = compile_validator({"type": "object", "additionalProperties": {"type": "integer"}})
    assert not validate({"a": 1, "b": 2})
    assert validate({"a": 1, "b": "2"}) == {"b": "must be a whole number"}


def test_validator_nested_paths() -> None:
    validate = compile_validator(
        {
            "type": "object",
            "properties": {
                "items": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"name": {"type": "string", "minLength": 1}},
                        "required": ["name"],
                    },
                }
            },
        }
    )
    assert validate({"items": [{"name": "a"}, {"name": "b"}, {"name": ""}, {}]}) == {
        "items.2.name": "must be at least 1 character long",
        "items.3.name": "is required",
    }
    assert validate({"items": "nope"}) == {"items": "must be a list"}
    assert validate([]) == {"_": "must be an object"}


def test_validator_enum_and_const_respect_json_types() -> None:
    validate = compile_validator({"enum": ["a", 1, None]})
    assert not validate("a")
    assert not validate(1)
    assert not validate(1.0)
    assert not validate(None)
    assert validate(True) == {"_": "must be one of: a, 1, null"}
    assert validate("1") == {"_": "must be one of: a, 1, null"}
    booleans = compile_validator({"enum": [True]})
    assert booleans(1) == {"_": "must be one of: true"}
    const = compile_validator({"const": "yes"})
    assert not const("yes")
    assert const("no") == {"_": "must be yes"}


def test_validator_enum_accepts_str_enum_members() -> None:
    class Mode(str, enum.Enum):
        """A str-based Enum."""

        FAST = "fast"

    assert not compile_validator({"enum": ["fast"]})(Mode.FAST)


@pytest.mark.parametrize(
    ("keyword", "limit", "good", "bad", "message"),
    [
        ("minimum", 2, [2, 2.5, 3], [1, 1.99], "must be at least 2"),
        ("maximum", 2, [2, 1.5, -1], [3, 2.01], "must be at most 2"),
        ("exclusiveMinimum", 2, [2.01, 3], [2, 1], "must be greater than 2"),
        ("exclusiveMaximum", 2, [1.99, 1], [2, 3], "must be less than 2"),
    ],
)
def test_validator_numeric_bounds(
    keyword: str, limit: int, good: list, bad: list, message: str
) -> None:
    validate = compile_validator({keyword: limit})
    for value in good:
        assert not validate(value), value
    for value in bad:
        assert validate(value) == {"_": message}, value
    assert not validate("not a number")  # bounds apply to numbers only


def test_validator_string_lengths_and_pattern() -> None:
    validate = compile_validator(
        {"type": "string", "minLength": 2, "maxLength": 4, "pattern": "^[a-z]+$"}
    )
    assert not validate("abc")
    assert validate("a") == {"_": "must be at least 2 characters long"}
    assert validate("abcde") == {"_": "must be at most 4 characters long"}
    assert validate("ab1") == {"_": "must match the pattern ^[a-z]+$"}
    # `pattern` searches, as in JSON Schema: it is not anchored.
    assert not compile_validator({"pattern": "b"})("abc")


@pytest.mark.parametrize(
    ("fmt", "good", "bad", "message"),
    [
        ("date", ["2024-02-29"], ["2023-02-29", "2024-1-01", "20240101", "x"], "must be a date"),
        (
            "date-time",
            ["2024-02-03T10:30", "2024-02-03 10:30:15", "2024-02-03T10:30:15.123Z"],
            ["2024-02-03", "2024-02-03T25:00", "yesterday"],
            "must be a date and time",
        ),
        (
            "email",
            ["a@b.co", "first.last+tag@sub.example.org"],
            ["a@b", "a b@c.d", "@b.c"],
            "email",
        ),
        (
            "uri",
            ["https://x.y/p?q=1", "mailto:a@b.c"],
            ["no scheme", "http://a b", "1http:x"],
            "address",
        ),
    ],
)
def test_validator_formats(fmt: str, good: list, bad: list, message: str) -> None:
    validate = compile_validator({"type": "string", "format": fmt})
    for value in good:
        assert not validate(value), value
    for value in bad:
        assert message in validate(value)["_"], value


def test_validator_any_of() -> None:
    validate = compile_validator(
        {"anyOf": [{"type": "integer", "minimum": 0}, {"type": "string", "maxLength": 2}]}
    )
    assert not validate(3)
    assert not validate("ab")
    # The branch whose type fits explains what is wrong.
    assert validate(-1) == {"_": "must be at least 0"}
    assert validate("abc") == {"_": "must be at most 2 characters long"}
    assert validate(None) == {"_": "must be a whole number or text"}


def test_validator_any_of_nested_path() -> None:
    validate = compile_validator(
        {
            "type": "object",
            "properties": {
                "who": {
                    "anyOf": [
                        {"type": "object", "properties": {"id": {"type": "integer"}}},
                        {"type": "null"},
                    ]
                }
            },
        }
    )
    assert not validate({"who": None})
    assert validate({"who": {"id": "7"}}) == {"who.id": "must be a whole number"}


def test_validator_boolean_schemas() -> None:
    assert not compile_validator(True)("anything")
    assert compile_validator(False)("anything") == {"_": "is not allowed"}
    assert not compile_validator({})(object())


def test_validator_ignores_annotations() -> None:
    validate = compile_validator(
        {"type": "integer", "title": "T", "description": "D", "default": "not checked"}
    )
    assert not validate(1)


def test_validator_derived_schema_end_to_end() -> None:
    def cap(ctx, email: str, count: int = 1, flag: bool = False):
        return None

    schema = inputs(cap)
    validate = compile_validator(schema)
    assert not validate(apply_defaults(schema, {"email": "a@b.c"}))
    assert validate({"count": True, "flag": 1, "extra": 0}) == {
        "email": "is required",
        "count": "must be a whole number",
        "flag": "must be true or false",
        "extra": "is not allowed",
    }


def test_validator_timing() -> None:
    def cap(ctx, email: str, count: int = 1, flag: bool = False):
        return None

    validate = compile_validator(inputs(cap))
    params = {"email": "a@b.c", "count": 3, "flag": True}
    assert not validate(params)
    rounds = 20_000
    start = time.perf_counter()
    for _ in range(rounds):
        validate(params)
    elapsed = (time.perf_counter() - start) / rounds
    print(f"\nvalidate(3-field object): {elapsed * 1e6:.2f} µs per call")


# ---------------------------------------------------------------- check_schema


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        ({"type": "string", "uniqueItems": True}, "schema: unsupported keyword 'uniqueItems'"),
        ({"$ref": "#/defs/x"}, "unsupported keyword '\\$ref'"),
        ({"oneOf": [{}]}, "unsupported keyword 'oneOf'"),
        (
            {"properties": {"a": {"type": "array", "minItems": 1}}},
            "schema.properties.a: unsupported keyword 'minItems'",
        ),
        ({"items": {"not": {}}}, "schema.items: unsupported keyword 'not'"),
        ({"anyOf": [{}, {"allOf": []}]}, "schema.anyOf.1: unsupported keyword 'allOf'"),
        ({"type": "str"}, "'type' must be one of"),
        ({"type": []}, "'type' must be one of"),
        ({"format": "uuid"}, "'format' 'uuid' is not supported"),
        ({"items": [{}]}, "list form is not supported"),
        ({"pattern": "("}, "'pattern' is not a valid regular expression"),
        ({"minLength": -1}, "'minLength' must be a whole number"),
        ({"maxLength": True}, "'maxLength' must be a whole number"),
        ({"minimum": "1"}, "'minimum' must be a number"),
        ({"enum": []}, "'enum' must be a non-empty list"),
        ({"required": "a"}, "'required' must be a list"),
        ({"anyOf": []}, "'anyOf' must be a non-empty list"),
        ({"additionalProperties": {"if": {}}}, "additionalProperties: unsupported keyword 'if'"),
        ("string", "a schema must be an object"),
    ],
)
def test_check_schema_refuses(schema: Any, message: str) -> None:
    with pytest.raises(RegistrationError, match=message):
        check_schema(schema)
    with pytest.raises(RegistrationError):
        compile_validator(schema)


def test_check_schema_accepts_the_supported_subset() -> None:
    check_schema(
        {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$comment": "hand-written",
            "title": "Input",
            "description": "Everything at once",
            "type": "object",
            "properties": {
                "a": {"type": ["string", "null"], "minLength": 1, "maxLength": 3, "pattern": "x"},
                "b": {"type": "number", "minimum": 0, "maximum": 1.5, "exclusiveMinimum": -1},
                "c": {"type": "array", "items": {"enum": [1, "a", None]}},
                "d": {"anyOf": [{"const": 1}, {"type": "string", "format": "email"}]},
                "e": {"type": "string", "format": "uri", "default": "https://x", "examples": []},
                "f": True,
            },
            "required": ["a"],
            "additionalProperties": False,
        }
    )


# ---------------------------------------------------------------- apply_defaults


def test_apply_defaults_fills_missing_top_level_only() -> None:
    schema = {
        "type": "object",
        "properties": {
            "a": {"type": "integer", "default": 1},
            "b": {"type": "array", "default": ["x"]},
            "c": {"type": "string"},
            "d": {"type": "object", "properties": {"e": {"default": 5}}, "default": {}},
        },
    }
    params = {"a": 7}
    filled = apply_defaults(schema, params)
    assert filled == {"a": 7, "b": ["x"], "d": {}}
    assert params == {"a": 7}
    filled["b"].append("y")
    assert schema["properties"]["b"]["default"] == ["x"]
    assert apply_defaults(schema, {"a": None})["a"] is None


# ---------------------------------------------------------------- fields_from_schema


def test_fields_from_schema_types() -> None:
    schema = {
        "type": "object",
        "properties": {
            "name": {"type": "string", "title": "Full name", "description": "As printed"},
            "email": {"type": "string", "format": "email"},
            "site": {"type": "string", "format": "uri"},
            "born": {"type": "string", "format": "date"},
            "meet": {"type": "string", "format": "date-time"},
            "count": {"type": "integer", "default": 3},
            "ratio": {"type": "number"},
            "flag": {"type": "boolean", "default": False},
            "color": {"type": "string", "enum": ["red", "blue"]},
            "sizes": {"type": "array", "items": {"type": "integer", "enum": [1, 2]}},
            "tags": {"type": "array", "items": {"type": "string"}},
            "extra": {"type": "object"},
            "anything": {},
        },
        "required": ["name", "count"],
    }
    specs = {spec.name: spec for spec in fields_from_schema(schema)}
    assert list(specs) == list(schema["properties"])
    assert {name: spec.type for name, spec in specs.items()} == {
        "name": "text",
        "email": "email",
        "site": "url",
        "born": "date",
        "meet": "datetime",
        "count": "integer",
        "ratio": "number",
        "flag": "boolean",
        "color": "choice",
        "sizes": "multi-choice",
        "tags": "json",
        "extra": "json",
        "anything": "json",
    }
    assert specs["name"] == FieldSpec(
        "name", "text", label="Full name", required=True, help="As printed"
    )
    assert specs["count"].required is True
    assert specs["count"].default == 3
    assert specs["email"].required is False
    assert specs["color"].choices == ("red", "blue")
    assert specs["sizes"].choices == (1, 2)


def test_fields_from_schema_nullable_is_not_required() -> None:
    def cap(ctx, note: str | None, level: Literal["low", "high"] | None, when: datetime.date):
        return None

    specs = {spec.name: spec for spec in fields_from_schema(inputs(cap))}
    assert (specs["note"].type, specs["note"].required) == ("text", False)
    assert specs["level"].type == "choice"
    assert specs["level"].choices == ("low", "high")
    assert specs["level"].required is False
    assert (specs["when"].type, specs["when"].required) == ("date", True)
    assert specs["when"].label == "When"


def test_fields_from_schema_any_of_with_null() -> None:
    schema = {
        "type": "object",
        "properties": {"n": {"anyOf": [{"type": "integer"}, {"type": "null"}], "title": "N"}},
        "required": ["n"],
    }
    specs = fields_from_schema(schema)
    assert len(specs) == 1
    spec = specs[0]
    assert (spec.type, spec.required, spec.label) == ("integer", False, "N")


def test_fields_from_schema_refuses_names_forms_cannot_hold() -> None:
    with pytest.raises(RegistrationError, match="'userId'"):
        fields_from_schema({"type": "object", "properties": {"userId": {"type": "integer"}}})
