"""WTForms forms for the screens, one module per area.

`bind(form, errors)` shows a module's `ValidationError.fields` next to the
matching fields; errors for fields the form does not have go to `form.form_errors`.
"""

from __future__ import annotations

from typing import Mapping

from wtforms import Form as _WTForm
from wtforms import SelectMultipleField, widgets


class Form(_WTForm):
    """Base form: knows how to take errors raised by the modules."""

    form_errors: list[str]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.form_errors = []

    def bind_errors(self, errors: Mapping[str, str]) -> None:
        """Attach `{field: message}` errors from a module to the fields."""
        for name, message in errors.items():
            field = self._fields.get(name)
            if field is None:
                self.form_errors.append(message)
            else:
                field.errors = [*field.errors, message]


class MultiCheckboxField(SelectMultipleField):
    """A list of checkboxes (roles, permissions)."""

    widget = widgets.ListWidget(prefix_label=False)
    option_widget = widgets.CheckboxInput()

    def pre_validate(self, form):
        # Choices are checked by the module, which says which value is wrong.
        pass
