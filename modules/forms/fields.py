"""The WTForms fields and validators that dynamic forms need beyond the stock ones."""

from __future__ import annotations

import json
import math
import re
from typing import Any
from urllib.parse import urlsplit

from wtforms import PasswordField, SelectMultipleField, TextAreaField, widgets
from wtforms.validators import StopValidation, ValidationError

REQUIRED_MESSAGE = "This field is required."
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


class JSONField(TextAreaField):
    """A textarea whose text must be JSON; `data` is the parsed value (None when blank)."""

    # WTForms fields set `data` while processing, never in __init__.
    # pylint: disable=attribute-defined-outside-init

    def _value(self) -> str:
        if self.raw_data:
            return str(self.raw_data[0])
        if self.data is None:
            return ""
        try:
            return json.dumps(self.data, indent=2, ensure_ascii=False)
        except (TypeError, ValueError):
            return str(self.data)

    def process_formdata(self, valuelist: list[Any]) -> None:
        text = valuelist[0] if valuelist else ""
        if not isinstance(text, str) or not text.strip():
            self.data = None
            return
        try:
            self.data = json.loads(text, parse_constant=_no_constant)
        except json.JSONDecodeError as exc:
            self.data = None
            raise ValueError(
                f"Enter valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})."
            ) from exc
        except ValueError as exc:
            self.data = None
            raise ValueError(f"Enter valid JSON: {exc}.") from exc


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


class MultiCheckboxField(SelectMultipleField):
    """A multiple choice shown as a list of checkboxes."""

    widget = widgets.ListWidget(prefix_label=False)
    option_widget = widgets.CheckboxInput()


class SecretField(PasswordField):
    """A password input that never renders its value. With `keep_current`,
    a blank submission means "keep the stored value"."""

    widget = widgets.PasswordInput(hide_value=True)

    def __init__(self, *args: Any, keep_current: bool = False, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.keep_current = keep_current


class FilledJSON:
    """Required for a JSON field: some text was typed (`0`, `false`, `[]`
    are answers too, unlike with `DataRequired`)."""

    field_flags = {"required": True}

    def __call__(self, form: Any, field: Any) -> None:
        raw = field.raw_data
        if raw is None and field.data is not None:
            return
        if raw and isinstance(raw[0], str) and raw[0].strip():
            return
        field.errors[:] = []
        raise StopValidation(REQUIRED_MESSAGE)


class AtLeastOne:
    """Required for checkboxes. Unlike `InputRequired` it sets no `required`
    flag, which each checkbox would render, asking the browser for all of them."""

    def __call__(self, form: Any, field: Any) -> None:
        if not field.data:
            field.errors[:] = []
            raise StopValidation("Choose at least one.")


def check_email(_form: Any, field: Any) -> None:
    """A loose address check: one @, no spaces, a dot in the domain."""
    if field.data and not EMAIL.fullmatch(field.data):
        raise ValidationError("Enter an email address such as name@example.com.")


def check_url(_form: Any, field: Any) -> None:
    """A loose web address check: http or https, a host, no spaces."""
    value = field.data or ""
    if not value:
        return
    try:
        parts = urlsplit(value)
    except ValueError:
        parts = None
    if (
        parts is None
        or parts.scheme.lower() not in ("http", "https")
        or not parts.hostname
        or any(char.isspace() for char in value)
    ):
        raise ValidationError("Enter a web address starting with http:// or https://.")


def check_finite(_form: Any, field: Any) -> None:
    """Refuse `nan` and `inf`, which `float()` accepts."""
    if field.data is not None and not math.isfinite(field.data):
        raise ValidationError("Enter a number.")


def strip(value: Any) -> Any:
    """Filter: surrounding whitespace off text."""
    return value.strip() if isinstance(value, str) else value
