"""Mail templates: `<name>.subject.txt`, `<name>.txt` and optionally `<name>.html`."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Mapping, NamedTuple

import jinja2

from modules.email._validation import check_header_text

_TEMPLATE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


class RenderedMail(NamedTuple):
    """A rendered template: subject line, text body and optional HTML body."""

    subject: str
    body_text: str
    body_html: str | None


class MailTemplates:
    """Renders mail templates from one folder with a Jinja2 environment of its own.

    Undefined variables are errors (a mail that says "Hello ," is worse than
    none). Only `.html` templates are autoescaped.
    """

    def __init__(self, templates_dir: Path):
        self.templates_dir = Path(templates_dir)
        self._env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(self.templates_dir),
            undefined=jinja2.StrictUndefined,
            autoescape=jinja2.select_autoescape(
                enabled_extensions=("html",), default_for_string=False, default=False
            ),
            keep_trailing_newline=True,
        )

    def render(self, name: str, context: Mapping[str, Any]) -> RenderedMail:
        """Render template `name`; `ValueError` if it is missing, incomplete or
        its subject is not one line."""
        if not isinstance(name, str) or not _TEMPLATE_NAME.match(name):
            raise ValueError(f"email template name {name!r} must match {_TEMPLATE_NAME.pattern}")
        try:
            subject = self._env.get_template(f"{name}.subject.txt").render(context).strip()
            body_text = self._env.get_template(f"{name}.txt").render(context)
            html = self._optional(f"{name}.html")
            body_html = html.render(context) if html is not None else None
        except jinja2.TemplateNotFound as exc:
            raise ValueError(
                f"email template {name!r} is incomplete: {exc.name} not found in "
                f"{self.templates_dir}"
            ) from None
        except jinja2.UndefinedError as exc:
            raise ValueError(f"email template {name!r}: {exc}") from None
        check_header_text(subject, f"subject of email template {name!r}")
        if not subject:
            raise ValueError(f"email template {name!r} renders an empty subject")
        return RenderedMail(subject, body_text, body_html)

    def _optional(self, filename: str) -> jinja2.Template | None:
        try:
            return self._env.get_template(filename)
        except jinja2.TemplateNotFound:
            return None
