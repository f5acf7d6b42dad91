"""Dynamic forms: each field type renders and parses, secrets stay secret,
required inputs are enforced, values come out clean."""

from __future__ import annotations

import datetime
import re
from typing import Any, Sequence

import pytest
from starlette.datastructures import FormData
from wtforms import Form

from modules.forms import (
    KEEP_SECRET_HELP,
    build_form_class,
    form_errors,
    form_values,
    initial_data,
)
from modules.libraries.contract import FieldSpec


def post(
    specs: Sequence[FieldSpec], pairs: Sequence[tuple[str, str]], **options: Any
) -> tuple[Form, bool]:
    """A form bound to posted pairs, and whether it validated."""
    form = build_form_class(specs, **options)(FormData(list(pairs)))
    return form, form.validate()


def render(form: Form, name: str) -> str:
    """The HTML of one field."""
    return str(form[name]())


def attrs(html: str) -> dict[str, str]:
    """The attributes of the first tag in `html` (a bare attribute maps to "")."""
    tag = re.match(r"<\w+([^>]*)>", html)
    assert tag, html
    found = {}
    for match in re.finditer(r'([\w-]+)(?:="([^"]*)")?', tag.group(1)):
        found[match.group(1)] = match.group(2) or ""
    return found


# ---------------------------------------------------------------- rendering


@pytest.mark.parametrize(
    ("kind", "tag", "input_type"),
    [
        ("text", "input", "text"),
        ("integer", "input", "number"),
        ("number", "input", "number"),
        ("boolean", "input", "checkbox"),
        ("date", "input", "date"),
        ("datetime", "input", "datetime-local"),
        ("email", "input", "email"),
        ("url", "input", "url"),
        ("secret", "input", "password"),
        ("textarea", "textarea", None),
        ("json", "textarea", None),
    ],
)
def test_field_renders_with_type_and_name(kind: str, tag: str, input_type: str | None) -> None:
    form = build_form_class([FieldSpec("value", kind)])()
    html = render(form, "value")
    assert html.startswith(f"<{tag}")
    found = attrs(html)
    assert found["name"] == "value"
    assert found.get("type") == input_type


def test_choice_renders_a_select_with_blank_when_optional() -> None:
    optional = build_form_class([FieldSpec("size", "choice", choices=("s", "m"))])()
    html = render(optional, "size")
    assert html.startswith('<select id="size" name="size">')
    assert re.findall(r'<option[^>]*value="([^"]*)"', html) == ["", "s", "m"]
    assert ">—</option>" in html
    required = build_form_class([FieldSpec("size", "choice", choices=("s", "m"), required=True)])()
    assert re.findall(r'<option[^>]*value="([^"]*)"', render(required, "size")) == ["s", "m"]


def test_choice_accepts_value_label_pairs() -> None:
    form = build_form_class([FieldSpec("plan", "choice", choices=((1, "Basic"), (2, "Pro")))])()
    assert '<option value="2">Pro</option>' in render(form, "plan")


def test_multi_choice_renders_checkboxes_without_required_attribute() -> None:
    specs = [FieldSpec("days", "multi-choice", choices=("mon", "tue"), required=True)]
    html = render(build_form_class(specs)(), "days")
    assert html.startswith('<ul id="days">')
    boxes = re.findall(r"<input[^>]*>", html)
    assert [attrs(box)["type"] for box in boxes] == ["checkbox", "checkbox"]
    assert [attrs(box)["name"] for box in boxes] == ["days", "days"]
    assert [attrs(box)["value"] for box in boxes] == ["mon", "tue"]
    # A `required` on each box would make the browser demand all of them.
    assert all("required" not in attrs(box) for box in boxes)


def test_labels_help_and_required_attribute() -> None:
    specs = [
        FieldSpec("first_name", "text", required=True, help="As on the card."),
        FieldSpec("nick", "text", label="Nickname"),
        FieldSpec("agree", "boolean", required=True),
    ]
    form = build_form_class(specs)()
    assert form["first_name"].label.text == "First name"
    assert form["first_name"].description == "As on the card."
    assert "required" in attrs(render(form, "first_name"))
    assert form["nick"].label.text == "Nickname"
    assert "required" not in attrs(render(form, "nick"))
    # A required boolean cannot demand a tick: false is an answer.
    assert "required" not in attrs(render(form, "agree"))


def test_defaults_are_rendered() -> None:
    specs = [
        FieldSpec("count", "integer", default=3),
        FieldSpec("on", "boolean", default=True),
        FieldSpec("size", "choice", choices=(1, 2), default=2),
        FieldSpec("days", "multi-choice", choices=("mon", "tue"), default=["tue"]),
        FieldSpec("start", "date", default="2024-05-06"),
        FieldSpec("at", "datetime", default=datetime.datetime(2024, 5, 6, 7, 8)),
        FieldSpec("data", "json", default={"a": [1]}),
    ]
    form = build_form_class(specs)()
    assert attrs(render(form, "count"))["value"] == "3"
    assert "checked" in attrs(render(form, "on"))
    assert '<option selected value="2">' in render(form, "size")
    assert re.findall(r"<input checked[^>]*value=\"(\w+)\"", render(form, "days")) == ["tue"]
    assert attrs(render(form, "start"))["value"] == "2024-05-06"
    assert attrs(render(form, "at"))["value"] == "2024-05-06T07:08"
    assert '"a": [' in render(form, "data").replace("&#34;", '"')


def test_fields_named_like_form_attributes() -> None:
    specs = [FieldSpec(name, "text") for name in ("data", "meta", "errors", "validate")]
    form, valid = post(specs, [("data", "d"), ("meta", "m"), ("errors", "e"), ("validate", "v")])
    assert valid
    assert form_values(form, specs) == {"data": "d", "meta": "m", "errors": "e", "validate": "v"}
    assert attrs(render(form, "meta"))["name"] == "meta"
    assert form.data["errors"] == "e"


# ---------------------------------------------------------------- parsing


def test_every_type_parses_to_python_values() -> None:
    specs = [
        FieldSpec("name", "text"),
        FieldSpec("bio", "textarea"),
        FieldSpec("count", "integer"),
        FieldSpec("ratio", "number"),
        FieldSpec("on", "boolean"),
        FieldSpec("off", "boolean"),
        FieldSpec("size", "choice", choices=(1, 2)),
        FieldSpec("days", "multi-choice", choices=("mon", "tue", "wed")),
        FieldSpec("start", "date"),
        FieldSpec("at", "datetime"),
        FieldSpec("email", "email"),
        FieldSpec("site", "url"),
        FieldSpec("data", "json"),
        FieldSpec("token", "secret"),
    ]
    form, valid = post(
        specs,
        [
            ("name", "Ada"),
            ("bio", "line 1\nline 2"),
            ("count", "42"),
            ("ratio", "2"),
            ("on", "y"),
            ("size", "2"),
            ("days", "mon"),
            ("days", "wed"),
            ("start", "2024-02-29"),
            ("at", "2024-02-29T13:45"),
            ("email", " ada@example.com "),
            ("site", "https://example.com/x"),
            ("data", '{"a": [1, 2.5, null]}'),
            ("token", "s3cret"),
        ],
    )
    assert valid, form_errors(form)
    values = form_values(form, specs)
    assert values == {
        "name": "Ada",
        "bio": "line 1\nline 2",
        "count": 42,
        "ratio": 2.0,
        "on": True,
        "off": False,
        "size": 2,
        "days": ["mon", "wed"],
        "start": datetime.date(2024, 2, 29),
        "at": datetime.datetime(2024, 2, 29, 13, 45),
        "email": "ada@example.com",
        "site": "https://example.com/x",
        "data": {"a": [1, 2.5, None]},
        "token": "s3cret",
    }
    assert isinstance(values["ratio"], float)
    assert isinstance(values["count"], int)


def test_as_json_gives_iso_dates() -> None:
    specs = [FieldSpec("start", "date"), FieldSpec("at", "datetime")]
    form, valid = post(specs, [("start", "2024-02-29"), ("at", "2024-02-29T13:45:10")])
    assert valid
    assert form_values(form, specs, as_json=True) == {
        "start": "2024-02-29",
        "at": "2024-02-29T13:45:10",
    }


def test_blank_optional_inputs_are_none() -> None:
    specs = [
        FieldSpec("name", "text"),
        FieldSpec("count", "integer"),
        FieldSpec("ratio", "number"),
        FieldSpec("size", "choice", choices=("s",)),
        FieldSpec("days", "multi-choice", choices=("mon",)),
        FieldSpec("start", "date"),
        FieldSpec("at", "datetime"),
        FieldSpec("email", "email"),
        FieldSpec("site", "url"),
        FieldSpec("data", "json"),
    ]
    blanks = [(spec.name, "") for spec in specs if spec.type != "multi-choice"]
    form, valid = post(specs, blanks)
    assert valid, form_errors(form)
    assert form_values(form, specs) == {
        "name": None,
        "count": None,
        "ratio": None,
        "size": None,
        "days": [],
        "start": None,
        "at": None,
        "email": None,
        "site": None,
        "data": None,
    }


@pytest.mark.parametrize(
    ("spec", "raw", "message"),
    [
        (FieldSpec("v", "integer"), "4.5", "Enter a whole number."),
        (FieldSpec("v", "integer"), "abc", "Enter a whole number."),
        (FieldSpec("v", "number"), "abc", "Enter a number."),
        (FieldSpec("v", "number"), "nan", "Enter a number."),
        (FieldSpec("v", "number"), "1e999", "Enter a number."),
        (FieldSpec("v", "date"), "2023-02-29", "Enter a date (YYYY-MM-DD)."),
        (FieldSpec("v", "datetime"), "2024-02-29", "Enter a date and time."),
        (FieldSpec("v", "email"), "not-an-address", "Enter an email address"),
        (FieldSpec("v", "email"), "a@b", "Enter an email address"),
        (FieldSpec("v", "url"), "ftp://example.com", "starting with http:// or https://"),
        (FieldSpec("v", "url"), "example.com", "starting with http:// or https://"),
        (FieldSpec("v", "url"), "https://", "starting with http:// or https://"),
        (FieldSpec("v", "choice", choices=("a", "b")), "c", "Choose one of the options."),
        (FieldSpec("v", "multi-choice", choices=("a", "b")), "c", "Choose from the options."),
        (FieldSpec("v", "json"), "{bad", "Enter valid JSON: Expecting property name"),
        (FieldSpec("v", "json"), "[1,]", "(line 1, column 4)"),
        (FieldSpec("v", "json"), "NaN", "Enter valid JSON"),
    ],
)
def test_invalid_input_gets_a_message(spec: FieldSpec, raw: str, message: str) -> None:
    form, valid = post([spec], [("v", raw)])
    assert not valid
    assert message in form_errors(form)["v"]


def test_invalid_input_is_shown_back() -> None:
    specs = [FieldSpec("count", "integer"), FieldSpec("data", "json")]
    form, valid = post(specs, [("count", "abc"), ("data", "{bad")])
    assert not valid
    assert attrs(render(form, "count"))["value"] == "abc"
    assert "{bad</textarea>" in render(form, "data")


# ---------------------------------------------------------------- required


@pytest.mark.parametrize(
    ("spec", "blank"),
    [
        (FieldSpec("v", "text", required=True), "   "),
        (FieldSpec("v", "textarea", required=True), ""),
        (FieldSpec("v", "integer", required=True), ""),
        (FieldSpec("v", "number", required=True), ""),
        (FieldSpec("v", "date", required=True), ""),
        (FieldSpec("v", "datetime", required=True), ""),
        (FieldSpec("v", "email", required=True), ""),
        (FieldSpec("v", "url", required=True), ""),
        (FieldSpec("v", "choice", choices=("a",), required=True), ""),
        (FieldSpec("v", "json", required=True), "  "),
    ],
)
def test_required_blank_is_refused(spec: FieldSpec, blank: str) -> None:
    form, valid = post([spec], [("v", blank)])
    assert not valid
    assert form_errors(form) == {"v": "This field is required."}


def test_required_multi_choice_needs_one() -> None:
    spec = FieldSpec("v", "multi-choice", choices=("a", "b"), required=True)
    form, valid = post([spec], [])
    assert not valid
    assert form_errors(form) == {"v": "Choose at least one."}
    form, valid = post([spec], [("v", "b")])
    assert valid
    assert form_values(form, [spec]) == {"v": ["b"]}


@pytest.mark.parametrize(
    ("kind", "raw", "value"),
    [("integer", "0", 0), ("number", "0", 0.0), ("json", "false", False), ("json", "[]", [])],
)
def test_required_accepts_falsy_answers(kind: str, raw: str, value: Any) -> None:
    spec = FieldSpec("v", kind, required=True)
    form, valid = post([spec], [("v", raw)])
    assert valid, form_errors(form)
    assert form_values(form, [spec]) == {"v": value}


def test_required_boolean_accepts_unticked() -> None:
    spec = FieldSpec("agree", "boolean", required=True)
    form, valid = post([spec], [])
    assert valid
    assert form_values(form, [spec]) == {"agree": False}


# ---------------------------------------------------------------- secrets


def test_secret_is_never_rendered_back() -> None:
    specs = [FieldSpec("token", "secret", required=True), FieldSpec("count", "integer")]
    form, valid = post(specs, [("token", "s3cret"), ("count", "bad")])
    assert not valid
    html = render(form, "token")
    assert "s3cret" not in html
    assert attrs(html)["value"] == ""
    assert attrs(html)["type"] == "password"
    form_class = build_form_class(specs)
    edited = form_class(data=initial_data(specs, {"token": "s3cret", "count": 1}))
    assert "s3cret" not in render(edited, "token")


def test_secret_blank_keeps_the_stored_value() -> None:
    specs = [FieldSpec("token", "secret", required=True, help="From the dashboard.")]
    form, valid = post(specs, [("token", "")])
    assert valid
    assert not form_values(form, specs)
    assert "required" not in attrs(render(form, "token"))
    assert form["token"].description == f"From the dashboard. {KEEP_SECRET_HELP}"
    form, valid = post(specs, [("token", "new")])
    assert valid
    assert form_values(form, specs) == {"token": "new"}


def test_secret_without_keep_is_required_when_the_spec_says_so() -> None:
    required = [FieldSpec("token", "secret", required=True)]
    form, valid = post(required, [("token", "")], keep_secrets=False)
    assert not valid
    assert form_errors(form) == {"token": "This field is required."}
    assert form["token"].description == ""
    optional = [FieldSpec("token", "secret")]
    form, valid = post(optional, [("token", "")], keep_secrets=False)
    assert valid
    assert form_values(form, optional) == {"token": None}


# ---------------------------------------------------------------- editing and errors


def test_initial_data_converts_stored_values() -> None:
    specs = [
        FieldSpec("size", "choice", choices=(1, 2)),
        FieldSpec("days", "multi-choice", choices=("mon", "tue")),
        FieldSpec("start", "date"),
        FieldSpec("at", "datetime"),
        FieldSpec("data", "json"),
        FieldSpec("token", "secret"),
        FieldSpec("name", "text", default="fallback"),
    ]
    stored = {
        "size": 2,
        "days": ["tue"],
        "start": "2024-02-29",
        "at": "2024-02-29T13:45:00",
        "data": [1],
        "token": "s3cret",
    }
    data = initial_data(specs, stored)
    assert data == {
        "size": "2",
        "days": ["tue"],
        "start": datetime.date(2024, 2, 29),
        "at": datetime.datetime(2024, 2, 29, 13, 45),
        "data": [1],
    }
    form = build_form_class(specs)(data=data)
    assert '<option selected value="2">' in render(form, "size")
    assert attrs(render(form, "start"))["value"] == "2024-02-29"
    assert attrs(render(form, "at"))["value"] == "2024-02-29T13:45"
    assert attrs(render(form, "name"))["value"] == "fallback"


def test_form_errors_first_message_per_field() -> None:
    specs = [FieldSpec("count", "integer", required=True), FieldSpec("name", "text")]
    form, valid = post(specs, [("count", "x"), ("name", "ok")])
    assert not valid
    form["count"].errors.append("second")
    assert form_errors(form) == {"count": "Enter a whole number."}
    form.form_errors.append("The whole form is wrong.")
    assert form_errors(form)["_"] == "The whole form is wrong."


def test_fields_keep_spec_order() -> None:
    specs = [FieldSpec(name, "text") for name in ("zeta", "alpha", "mid")]
    form = build_form_class(specs)()
    assert [field.name for field in form] == ["zeta", "alpha", "mid"]
