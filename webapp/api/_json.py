"""JSON helpers shared by the API routes: reading a body, shaping libraries
and capabilities, error bodies with a code of their own.

Library JSON is built field by field from the manager's view, never from the
stored row, so secret config values (or their ciphertext) cannot leak: for a
secret the API says only whether it is set.
"""

from __future__ import annotations

import json
import math
from typing import Any, Mapping

from starlette.requests import Request
from starlette.responses import JSONResponse

from modules.libraries.contract import Capability, FieldSpec
from modules.libraries.manager import LibraryManager
from webapp import errors


class BadBody(Exception):
    """The request body is not the JSON object the endpoint needs."""

    def __init__(self, response: JSONResponse):
        super().__init__(response.status_code)
        self.response = response


async def json_object(request: Request) -> dict[str, Any]:
    """The body as a JSON object; an empty body is `{}`.

    Raises `BadBody` (400) for anything that is not a JSON object.
    """
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise BadBody(errors.json_error(400, "The body is not valid JSON.")) from None
    if not isinstance(body, dict):
        raise BadBody(errors.json_error(400, "The body must be a JSON object."))
    return body


def error_response(
    status: int,
    code: str,
    message: str,
    fields: Mapping[str, Any] | None = None,
    **extra: Any,
) -> JSONResponse:
    """`{"error": {"code", "message", "fields", ...extra}}` with a code of our choosing."""
    return JSONResponse(
        {"error": {"code": code, "message": message, "fields": dict(fields or {}), **extra}},
        status_code=status,
    )


def jsonable(value: Any) -> Any:
    """`value` made fit for a JSON response: dates as ISO text, tuples and
    sets as lists, NaN and infinities and anything else unknown as text
    (capability output is whatever the library returned)."""
    if value is None or isinstance(value, (str, int, bool)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(item) for item in value]
    if isinstance(value, Mapping):
        return {str(key): jsonable(item) for key, item in value.items()}
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def config_field_json(spec: FieldSpec) -> dict[str, Any]:
    """A config field's declaration (a secret's default is left out too)."""
    return {
        "name": spec.name,
        "type": spec.type,
        "label": spec.title,
        "required": spec.required,
        "help": spec.help,
        "secret": spec.secret,
        "choices": jsonable(list(spec.choices)),
        "default": None if spec.secret else jsonable(spec.default),
    }


def library_json(view: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """One library as the API shows it.

    `values` is `LibraryManager.config_values(name)`: non-secret values, and
    True/False for whether each secret is set.
    """
    specs: list[FieldSpec] = list(view["config_fields"])
    secret_names = {spec.name for spec in specs if spec.secret}
    return {
        "name": view["name"],
        "title": view["title"],
        "description": view["description"],
        "built_in": view["kind"] == "core",
        "kind": view["kind"],
        "ref": view["ref"],
        "version": view["version"],
        "enabled": view["enabled"],
        "status": view["status"],
        "error": view["error"],
        "mode": view["mode"],
        "capabilities": [cap.name for cap in view["capabilities"]],
        "permissions": [
            {"key": perm.key, "description": perm.description} for perm in view["permissions"]
        ],
        "entities": [
            {
                "name": entity.name,
                "label": entity.label,
                "tenant_scoped": entity.tenant_scoped,
                "fields": [
                    {"name": f.name, "type": f.type, "required": f.required} for f in entity.fields
                ],
            }
            for entity in view["entities"]
        ],
        "events": [
            {"name": event.name, "description": event.description} for event in view["events"]
        ],
        "config": {
            "fields": [config_field_json(spec) for spec in specs],
            "values": {
                key: jsonable(value) for key, value in values.items() if key not in secret_names
            },
            "secrets_set": {key: bool(values.get(key)) for key in sorted(secret_names)},
        },
    }


def library_body(libraries: LibraryManager, name: str) -> dict[str, Any] | None:
    """`library_json` of a library by name, or None when there is none."""
    view = libraries.library(name)
    if view is None:
        return None
    return library_json(view, libraries.config_values(name))


def capability_json(capability: Capability) -> dict[str, Any]:
    """One capability with its schemas."""
    return {
        "name": capability.name,
        "title": capability.title,
        "library": capability.library,
        "description": capability.description,
        "permission": capability.permission,
        "timeout_seconds": capability.timeout,
        "input_schema": jsonable(dict(capability.input_schema)),
        "output_schema": jsonable(dict(capability.output_schema)),
    }
