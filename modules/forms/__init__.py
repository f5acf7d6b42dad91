"""Dynamic forms: WTForms form classes built from field specs (library
config, capability parameters, entity records), their cleaned values and
their errors."""

from modules.forms.dynamic import (
    KEEP_SECRET_HELP,
    DynamicForm,
    build_form_class,
    form_errors,
    form_values,
    initial_data,
)
from modules.forms.fields import JSONField, MultiCheckboxField, SecretField

__all__ = [
    "KEEP_SECRET_HELP",
    "DynamicForm",
    "JSONField",
    "MultiCheckboxField",
    "SecretField",
    "build_form_class",
    "form_errors",
    "form_values",
    "initial_data",
]
