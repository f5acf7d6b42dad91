"""Forms and display values generated from a library entity's fields.

Each datastore `Field` maps to a `FieldSpec` (text -> text, integer ->
integer, real -> number, boolean -> boolean, datetime -> datetime, json ->
json, reference -> integer), and `modules.forms` builds the WTForms class.
Errors the datastore raises come back keyed by field name; `RecordForm`
puts them next to the matching inputs.
"""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass
from typing import Any, Mapping

from wtforms import Form

from modules.datastore import Entity, Field
from modules.forms import build_form_class, form_values, initial_data
from modules.libraries.contract import NAME, FieldSpec

SPEC_TYPES = {
    "text": "text",
    "integer": "integer",
    "real": "number",
    "boolean": "boolean",
    "datetime": "datetime",
    "json": "json",
    "reference": "integer",
}
# SQLite INTEGER is 64-bit signed; a bigger number would not even reach a constraint.
INT_MIN, INT_MAX = -(2**63), 2**63 - 1
CELL_CHARS = 80
DATETIME_DISPLAY = "%Y-%m-%d %H:%M"


def field_label(field: Field) -> str:
    """The field's label, or its name made readable."""
    return field.label or field.name.replace("_", " ").capitalize()


def entity_label(entity: Entity) -> str:
    """The entity's label, or its name."""
    return entity.label or entity.name


def _help(field: Field) -> str:
    if field.type == "reference":
        hint = f"id of a {field.references} record"
        return f"{field.help} ({hint})" if field.help else hint
    if field.type == "datetime":
        return f"{field.help} (UTC)" if field.help else "In UTC."
    return field.help


def field_spec(field: Field, form_name: str) -> FieldSpec:
    """The form field spec for one datastore field."""
    return FieldSpec(
        form_name,
        SPEC_TYPES[field.type],
        label=field_label(field),
        required=field.required,
        # A callable default (such as `utcnow`) runs at insert: the form leaves it blank.
        default=None if callable(field.default) else field.default,
        help=_help(field),
    )


@dataclass(frozen=True)
class RecordFields:
    """The entity's fields paired with their form specs.

    Form names are the field names, except for names longer than form
    specs allow (datastore names may have 63 characters, specs 40), which
    get a positional alias.
    """

    entity: Entity
    fields: tuple[Field, ...]
    specs: tuple[FieldSpec, ...]

    @classmethod
    def of(cls, entity: Entity) -> "RecordFields":
        """Pair every field of `entity` with its spec."""
        specs = tuple(
            field_spec(f, f.name if NAME.fullmatch(f.name) else f"field_{i}")
            for i, f in enumerate(entity.fields)
        )
        return cls(entity, entity.fields, specs)

    def form_name(self, field_name: str) -> str | None:
        """The input name of a datastore field (None if it has none)."""
        for field, spec in zip(self.fields, self.specs):
            if field.name == field_name:
                return spec.name
        return None

    def blank_form(self) -> "RecordForm":
        """A new-record form with the defaults filled in."""
        return RecordForm(self, build_form_class(list(self.specs))())

    def posted_form(self, formdata: Any) -> "RecordForm":
        """A form bound to posted data."""
        return RecordForm(self, build_form_class(list(self.specs))(formdata))

    def record_form(self, record: Mapping[str, Any]) -> "RecordForm":
        """An edit form holding a stored record's values."""
        stored = {spec.name: record.get(field.name) for field, spec in zip(self.fields, self.specs)}
        data = initial_data(list(self.specs), stored)
        return RecordForm(self, build_form_class(list(self.specs))(data=data))


class RecordForm:
    """A generated form plus the errors that belong to the whole record."""

    def __init__(self, fields: RecordFields, form: Form):
        self.fields = fields
        self.form = form
        self.form_errors: list[str] = []

    def __iter__(self) -> Any:
        return iter(self.form)

    def validate(self) -> bool:
        """The form's own checks plus the 64-bit range of whole numbers."""
        valid = self.form.validate()
        for field, spec in zip(self.fields.fields, self.fields.specs):
            bound = self.form[spec.name]
            value = bound.data
            if field.type in ("integer", "reference") and value is not None and not bound.errors:
                if not INT_MIN <= value <= INT_MAX:
                    bound.errors = [*bound.errors, "Enter a smaller whole number."]
                    valid = False
        return valid

    def values(self) -> dict[str, Any]:
        """The cleaned values by datastore field name (after `validate`)."""
        cleaned = form_values(self.form, list(self.fields.specs))
        return {
            field.name: cleaned[spec.name]
            for field, spec in zip(self.fields.fields, self.fields.specs)
        }

    def add_error(self, field_name: str, message: str) -> None:
        """Show `message` next to the field, or above the form when there is none."""
        form_name = self.fields.form_name(field_name)
        if form_name is None:
            self.form_errors.append(message)
            return
        bound = self.form[form_name]
        bound.errors = [*bound.errors, message]

    def bind_errors(self, errors: Mapping[str, str]) -> None:
        """Attach a datastore `ValidationError.fields` to the inputs.

        Its messages are sentence ends ("is already taken"): each gets the
        field's label in front.
        """
        for name, message in errors.items():
            try:
                label = field_label(self.fields.entity.get_field(name))
            except KeyError:
                label = "This record"
            self.add_error(name, sentence(label, message))


def sentence(subject: str, message: str) -> str:
    """ "Email" + "is already taken" -> "Email is already taken."."""
    if message[:1].islower():
        message = f"{subject} {message}"
    return message if message.endswith(".") else message + "."


def changed_values(
    fields: tuple[Field, ...], record: Mapping[str, Any], values: Mapping[str, Any]
) -> dict[str, Any]:
    """The values that differ from the stored record.

    The datetime input has minute precision: a stored time with seconds
    that the form shows unchanged is not rewritten to the full minute.
    """
    changes = {}
    for field in fields:
        new, old = values[field.name], record.get(field.name)
        if field.type == "datetime" and _same_minute(old, new):
            continue
        if new != old or type(new) is not type(old):
            changes[field.name] = new
    return changes


def _same_minute(old: Any, new: Any) -> bool:
    if not isinstance(old, datetime.datetime) or not isinstance(new, datetime.datetime):
        return False
    as_utc = old.astimezone(datetime.timezone.utc).replace(tzinfo=None)
    new = new.astimezone(datetime.timezone.utc).replace(tzinfo=None) if new.tzinfo else new
    return as_utc.replace(second=0, microsecond=0) == new.replace(second=0, microsecond=0)


# --- display -------------------------------------------------------------------------


def truncate(text: str, limit: int = CELL_CHARS) -> str:
    """`text`, cut at `limit` characters with an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def display(field: Field, value: Any, limit: int | None = CELL_CHARS) -> str:
    """A stored value as text for a table cell or a read-only page.

    Booleans are yes/no, datetimes `YYYY-MM-DD HH:MM` (UTC), JSON compact,
    references their id; blank is "". With `limit`, long text is cut.
    """
    if value is None:
        return ""
    if field.type == "boolean":
        text = "yes" if value else "no"
    elif field.type == "datetime" and isinstance(value, datetime.datetime):
        text = value.astimezone(datetime.timezone.utc).strftime(DATETIME_DISPLAY)
    elif field.type == "json":
        text = json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
    else:
        text = str(value)
    return truncate(text, limit) if limit else text


def pretty_json(value: Any) -> str:
    """A JSON value indented for a read-only page."""
    return json.dumps(value, ensure_ascii=False, indent=2)


def record_title(entity: Entity, record: Mapping[str, Any]) -> str:
    """What to call a record: its first non-blank text field, else `#id`."""
    for field in entity.fields:
        value = record.get(field.name)
        if field.type == "text" and isinstance(value, str) and value.strip():
            return truncate(value.strip(), 60)
    return f"#{record['id']}"
