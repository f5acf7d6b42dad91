"""Forms of the workflow and run screens.

Definitions are edited as JSON text: `DefinitionForm.data_or_none()` turns
the text into an object or puts a JSON syntax error (with its line and
column) on the field, so the typed text is always re-rendered as it was.
"""

from __future__ import annotations

import json
import re
from datetime import date, datetime, time, timezone
from typing import Any, Iterable

from starlette.datastructures import UploadFile
from wtforms import DateField, FileField, RadioField, SelectChoice, SelectField, TextAreaField
from wtforms.validators import InputRequired, Optional

from modules.workflows.entities import RUN_STATUSES
from webapp.forms import Form

MAX_IMPORT_BYTES = 1024 * 1024
EXAMPLE_DEFINITION: dict[str, Any] = {
    "name": "Greet a new customer",
    "description": "An example: the second step uses the first step's output.",
    "enabled": True,
    "trigger": {"type": "manual"},
    "mode": "sequential",
    "steps": [
        {"id": "greeting", "capability": "util.set", "params": {"text": "Hello"}},
        {
            "id": "message",
            "capability": "util.set",
            "params": {"text": "${steps.greeting.output.text}, world"},
        },
    ],
}


def pretty(value: Any) -> str:
    """Indented JSON for a textarea or a <pre> (the template escapes it)."""
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


def json_problem(exc: json.JSONDecodeError) -> str:
    """A JSON syntax error as a sentence with its place in the text."""
    return f"This is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})."


def slug(name: str) -> str:
    """A file name for an export: lowercase ASCII words joined by dashes."""
    words = re.findall(r"[a-z0-9]+", name.lower())
    return "-".join(words)[:80].strip("-") or "workflow"


class DefinitionForm(Form):
    """A whole workflow definition as JSON text."""

    definition = TextAreaField(
        "Definition (JSON)",
        validators=[InputRequired("Paste or type the workflow definition.")],
    )

    def data_or_none(self) -> Any:
        """The parsed JSON, or None with an error on the field."""
        if not self.validate():
            return None
        try:
            return json.loads(self.definition.data)
        except json.JSONDecodeError as exc:
            self.definition.errors = [*self.definition.errors, json_problem(exc)]
            return None


class ImportForm(Form):
    """A definition file (or pasted JSON) that becomes a new workflow."""

    file = FileField("A .json file")
    definition = TextAreaField("Or paste the JSON", validators=[Optional()])

    def data_or_none(self) -> Any:
        """The parsed definition from the file or the text, or None with an
        error on the field it came from."""
        upload = self.file.data
        if isinstance(upload, UploadFile) and upload.filename:
            raw = upload.file.read(MAX_IMPORT_BYTES + 1)
            if len(raw) > MAX_IMPORT_BYTES:
                self.file.errors = ["The file is larger than 1 MiB."]
                return None
            try:
                return json.loads(raw.decode("utf-8-sig"))
            except UnicodeDecodeError:
                self.file.errors = ["The file is not UTF-8 text."]
            except json.JSONDecodeError as exc:
                self.file.errors = [json_problem(exc)]
            return None
        text = (self.definition.data or "").strip()
        if not text:
            self.form_errors.append("Choose a .json file or paste a definition.")
            return None
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            self.definition.errors = [json_problem(exc)]
            return None


class RunForm(Form):
    """Start a run: an optional JSON object as the trigger payload."""

    payload = TextAreaField(
        "Payload (JSON, optional)",
        description=(
            'A JSON object the steps read as ${trigger.…}, like {"email": "ada@example.com"}.'
        ),
    )

    def payload_or_none(self) -> dict[str, Any] | None:
        """The payload ({} when empty), or None with an error on the field."""
        text = (self.payload.data or "").strip()
        if not text:
            return {}
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            self.payload.errors = [json_problem(exc)]
            return None
        if not isinstance(value, dict):
            self.payload.errors = ['The payload must be a JSON object, like {"key": "value"}.']
            return None
        return value


class RetryForm(Form):
    """Run a finished run again."""

    start = RadioField(
        "Start",
        choices=[
            SelectChoice("failed", "From the failed step"),
            SelectChoice("start", "From the start"),
        ],
        default="failed",
    )
    version = RadioField(
        "Version",
        choices=[
            SelectChoice("pinned", "The run's version"),
            SelectChoice("latest", "The latest version"),
        ],
        default="pinned",
    )


def _optional_int(value: Any) -> int | None:
    if value in (None, ""):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


class RunFilterForm(Form):
    """The runs list filters (a GET form: invalid values are ignored)."""

    workflow = SelectField("Workflow", coerce=_optional_int, validate_choice=False)
    status = SelectField(
        "Status",
        choices=[SelectChoice("", "Any status"), *(SelectChoice(s, s) for s in RUN_STATUSES)],
        validate_choice=False,
    )
    since = DateField("Since", validators=[Optional()])

    def set_workflow_choices(self, workflows: Iterable[dict[str, Any]]) -> None:
        """The account's workflows, by name."""
        self.workflow.choices = [SelectChoice("", "All workflows")] + [
            SelectChoice(str(w["id"]), w["name"]) for w in workflows
        ]

    def filters(self) -> dict[str, Any]:
        """Keyword arguments for `RunStore.page_runs` (unknown values dropped)."""
        self.validate()
        status = self.status.data if self.status.data in RUN_STATUSES else None
        if self.status.data and status is None:
            self.status.errors = ["Not a run status."]
        since: date | None = self.since.data if not self.since.errors else None
        return {
            "workflow_id": self.workflow.data,
            "status": status,
            "since": datetime.combine(since, time.min, tzinfo=timezone.utc) if since else None,
        }

    def query(self) -> dict[str, str]:
        """The filters as query parameters (for the pager links)."""
        values = {
            "workflow": "" if self.workflow.data is None else str(self.workflow.data),
            "status": self.status.data or "",
            "since": self.since.data.isoformat() if self.since.data else "",
        }
        return {k: v for k, v in values.items() if v}
