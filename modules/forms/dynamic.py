"""WTForms forms built at run time from `FieldSpec`s: library config,
capability parameters, entity records.

    Form = build_form_class(specs)
    form = Form(request_formdata)                 # or Form(data=initial_data(specs, stored))
    if form.validate():
        values = form_values(form, specs)         # clean Python values
    else:
        errors = form_errors(form)                # {name: first message}

Fields are reached as `form[name]`: a field whose name is already an
attribute of a form (`data`, `errors`, `meta`, `validate`...) is not set as
an attribute, so every name a library may choose works.
"""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

from wtforms import (
    BooleanField,
    DateField,
    DateTimeLocalField,
    EmailField,
    FloatField,
    Form,
    IntegerField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
    URLField,
)
from wtforms.fields.core import UnboundField
from wtforms.form import BaseForm
from wtforms.validators import DataRequired, InputRequired, Optional

from modules.forms.fields import (
    REQUIRED_MESSAGE,
    AtLeastOne,
    FilledJSON,
    JSONField,
    MultiCheckboxField,
    SecretField,
    check_email,
    check_finite,
    check_url,
    strip,
)

if TYPE_CHECKING:
    # Only for annotations: specs are read by attribute, and importing the
    # libraries package here would tie the two packages' import order.
    from modules.libraries.contract import FieldSpec

KEEP_SECRET_HELP = "Leave blank to keep the current value."
BLANK_CHOICE = ("", "—")
DATETIME_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"]
_OMIT = object()


class DynamicForm(Form):
    """Base of the classes `build_form_class` makes."""

    def __init__(  # pylint: disable=super-init-not-called,non-parent-init-called
        # Form.__init__ sets every field as an attribute, which breaks the form
        # for names such as `data` or `meta`; this is the same steps minus that.
        self,
        formdata: Any = None,
        obj: Any = None,
        prefix: str = "",
        data: Mapping[str, Any] | None = None,
        meta: dict[str, Any] | None = None,
        **kwargs: Any,
    ):
        # FormMeta sets both class attributes before calling __init__.
        # pylint: disable=no-member
        meta_obj = self._wtforms_meta()
        if meta is not None and isinstance(meta, dict):
            meta_obj.update_values(meta)
        BaseForm.__init__(self, self._unbound_fields, meta=meta_obj, prefix=prefix)
        for name, field in self._fields.items():
            if not hasattr(type(self), name) and name not in self.__dict__:
                setattr(self, name, field)
        self.process(formdata, obj, data=data, **kwargs)


def build_form_class(fields: Sequence[FieldSpec], *, keep_secrets: bool = True) -> type[Form]:
    """A WTForms form class with one field per spec, in order.

    With `keep_secrets`, a secret left blank keeps the stored value: it is
    never required and `form_values` leaves it out.
    """
    unbound = [(spec.name, _unbound_field(spec, keep_secrets)) for spec in fields]
    form_class = type("SpecForm", (DynamicForm,), {"__doc__": "A form built from field specs."})
    # Set after creation: FormMeta resets `_unbound_fields` when the class is made.
    form_class._unbound_fields = unbound  # pylint: disable=protected-access  # WTForms' hook
    return form_class


def _unbound_field(spec: FieldSpec, keep_secrets: bool) -> UnboundField:
    kind = spec.type
    if kind == "secret" or spec.secret:  # secret=True on any type is a secret too
        return _secret_field(spec, keep_secrets)
    options: dict[str, Any] = {"description": spec.help, "default": _to_form(spec, spec.default)}
    if kind == "boolean":
        return BooleanField(spec.title, [], **options)
    if kind in ("choice", "multi-choice"):
        choices = [SelectChoice(str(value), label) for value, label in _choices(spec)]
        if kind == "choice":
            if not spec.required:
                choices.insert(0, SelectChoice(*BLANK_CHOICE))
            required = [InputRequired(REQUIRED_MESSAGE)] if spec.required else [Optional()]
            return SelectField(
                spec.title,
                required,
                choices=choices,
                invalid_choice_message="Choose one of the options.",
                **options,
            )
        return MultiCheckboxField(
            spec.title,
            [AtLeastOne()] if spec.required else [],
            choices=choices,
            invalid_choice_message="Choose from the options.",
            **options,
        )
    make, extra, filled = _KINDS[kind]
    validators: list[Callable[..., Any]] = [
        filled(REQUIRED_MESSAGE) if spec.required else Optional()
    ]
    return make(spec.title, validators + list(extra), **options)


def _secret_field(spec: FieldSpec, keep_secrets: bool) -> UnboundField:
    if keep_secrets:
        help_text = f"{spec.help} {KEEP_SECRET_HELP}".strip()
        validators: list[Any] = [Optional()]
    else:
        help_text = spec.help
        validators = [DataRequired(REQUIRED_MESSAGE) if spec.required else Optional()]
    return SecretField(
        spec.title,
        validators,
        description=help_text,
        keep_current=keep_secrets,
        render_kw={"autocomplete": "new-password"},
    )


def _json_required(_message: str) -> FilledJSON:
    return FilledJSON()


def _make(field_class: type, **fixed: Any) -> Callable[..., UnboundField]:
    def make(label: str, validators: list[Any], **options: Any) -> UnboundField:
        return field_class(label, validators, **fixed, **options)

    return make


# type -> (field factory, extra validators, required validator)
_KINDS: dict[str, tuple[Callable[..., UnboundField], tuple[Any, ...], Callable[[str], Any]]] = {
    "text": (_make(StringField), (), DataRequired),
    "textarea": (_make(TextAreaField), (), DataRequired),
    "integer": (
        _make(IntegerField, invalid_value_message="Enter a whole number."),
        (),
        InputRequired,
    ),
    "number": (
        _make(FloatField, invalid_value_message="Enter a number."),
        (check_finite,),
        InputRequired,
    ),
    "date": (
        _make(DateField, format="%Y-%m-%d", invalid_value_message="Enter a date (YYYY-MM-DD)."),
        (),
        InputRequired,
    ),
    "datetime": (
        _make(
            DateTimeLocalField,
            format=DATETIME_FORMATS,
            invalid_value_message="Enter a date and time.",
        ),
        (),
        InputRequired,
    ),
    "email": (_make(EmailField, filters=[strip]), (check_email,), DataRequired),
    "url": (_make(URLField, filters=[strip]), (check_url,), DataRequired),
    "json": (_make(JSONField), (), _json_required),
}


def _choices(spec: FieldSpec) -> list[tuple[Any, str]]:
    """(value, label) pairs; a choice may be a bare value or a (value, label) pair."""
    pairs = []
    for choice in spec.choices:
        if isinstance(choice, (tuple, list)) and len(choice) == 2:
            pairs.append((choice[0], str(choice[1])))
        else:
            pairs.append((choice, str(choice)))
    return pairs


def _choice_values(spec: FieldSpec) -> dict[str, Any]:
    return {str(value): value for value, _ in _choices(spec)}


def _to_form(spec: FieldSpec, value: Any) -> Any:
    """A stored (or default) value as the field's data."""
    if value is None:
        return [] if spec.type == "multi-choice" else None
    convert = _TO_FORM.get(spec.type)
    return value if convert is None else convert(value)


def _as_date(value: Any) -> Any:
    if isinstance(value, str):
        return _parse(datetime.date.fromisoformat, value[:10])
    return value


def _as_datetime(value: Any) -> Any:
    if isinstance(value, str):
        return _parse(datetime.datetime.fromisoformat, value)
    if isinstance(value, datetime.date) and not isinstance(value, datetime.datetime):
        return datetime.datetime.combine(value, datetime.time())
    return value


def _as_strings(value: Any) -> list[str]:
    items = value if isinstance(value, (list, tuple, set, frozenset)) else [value]
    return [str(item) for item in items]


def _parse(parse: Callable[[str], Any], text: str) -> Any:
    try:
        return parse(text)
    except ValueError:
        return None


_TO_FORM: dict[str, Callable[[Any], Any]] = {
    "date": _as_date,
    "datetime": _as_datetime,
    "choice": str,
    "multi-choice": _as_strings,
    "boolean": bool,
}


def initial_data(fields: Sequence[FieldSpec], values: Mapping[str, Any]) -> dict[str, Any]:
    """`data=` for editing stored `values` (secrets never included; fields
    missing from `values` keep their default)."""
    return {
        spec.name: _to_form(spec, values[spec.name])
        for spec in fields
        if not spec.secret and spec.name in values
    }


def form_values(
    form: Form, fields: Sequence[FieldSpec], *, as_json: bool = False
) -> dict[str, Any]:
    """The cleaned values of a validated form, by field name.

    Blank optional inputs are None, JSON is parsed, multi-choices are lists
    of the original choice values; a blank secret is left out when the form
    keeps secrets. With `as_json`, dates and datetimes are ISO strings (for
    capability parameters, which are JSON).
    """
    values: dict[str, Any] = {}
    for spec in fields:
        value = _clean(spec, form[spec.name])
        if value is _OMIT:
            continue
        if as_json and isinstance(value, (datetime.date, datetime.datetime)):
            value = value.isoformat()
        values[spec.name] = value
    return values


def _clean(spec: FieldSpec, field: Any) -> Any:  # pylint: disable=too-many-return-statements
    kind, data = spec.type, field.data
    if kind == "secret" or spec.secret:
        if data:
            return data
        return _OMIT if getattr(field, "keep_current", False) else None
    if kind == "boolean":
        return bool(data)
    if kind == "choice":
        return None if data in (None, "") else _choice_values(spec).get(data, data)
    if kind == "multi-choice":
        lookup = _choice_values(spec)
        return [lookup.get(item, item) for item in data or ()]
    if kind == "number":
        return None if data is None else float(data)
    if isinstance(data, str) and not data.strip():
        return None
    return data


def form_errors(form: BaseForm) -> dict[str, str]:
    """The first error of each field, by field name; form-level errors under "_"."""
    errors = {}
    for field in form:
        if field.errors and isinstance(field.errors, (list, tuple)):
            errors[field.short_name] = str(field.errors[0])
    if getattr(form, "form_errors", None):
        errors["_"] = str(form.form_errors[0])
    return errors
