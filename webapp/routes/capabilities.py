"""The capability catalogue: active search over every live capability, and a
capability's page with its schemas and a "Try it" form.

"Try it" invokes the capability once as the signed-in user (their
permissions, account and user id) through the same path workflows use, and
shows the output, duration and log lines, or the error. The form and its
result are one component (`#try-it`): htmx swaps it in place, and without
JavaScript the form posts the whole page.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Mapping

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount
from wtforms import Form

from modules.forms import build_form_class, form_values
from modules.libraries.contract import Capability, FieldSpec, RegistrationError
from modules.libraries.invoker import NOT_FOUND, PERMISSION, VALIDATION, InvokeResult
from modules.libraries.schema import fields_from_schema
from webapp.gate import route
from webapp.identity import Identity
from webapp.rendering import container, render, render_for_target

TABLE_PARTIAL = {"capability-table": "capabilities/_capability_table.html"}
TRY_PARTIAL = {"try-it": "capabilities/_try_it.html"}
RAW_PARAMS = FieldSpec(
    "params",
    "json",
    label="Parameters",
    help='A JSON object with the parameters, such as {"name": "value"}.',
)


def pretty(value: Any) -> str:
    """Indented JSON for a <pre> (anything JSON cannot hold as text)."""
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False, default=str)


@dataclass(frozen=True)
class TryForm:
    """How the "Try it" form asks for parameters.

    One field per input property when the schema is an object whose
    properties a form can show; otherwise (free-form objects such as
    util.set, names a field cannot have) one JSON field for all of them.
    """

    capability: Capability
    specs: list[FieldSpec]
    raw: bool
    form_class: type[Form]

    @classmethod
    def for_capability(cls, capability: Capability) -> "TryForm":
        """The form for `capability`'s input schema."""
        schema = capability.input_schema
        properties = schema.get("properties") or {}
        free_form = not properties and schema.get("additionalProperties", True) is not False
        specs: list[FieldSpec] = []
        raw = free_form
        if not raw:
            try:
                specs = fields_from_schema(schema)
            except RegistrationError:
                raw = True
        if raw:
            specs = [RAW_PARAMS]
        return cls(capability, specs, raw, build_form_class(specs, keep_secrets=False))

    def params(self, form: Form) -> dict[str, Any] | str:
        """The parameters the validated form holds, or a message when the
        raw JSON is not an object."""
        values = form_values(form, self.specs, as_json=True)
        if self.raw:
            given = values.get("params")
            if given is None:
                return {}
            return given if isinstance(given, dict) else "Enter a JSON object, such as {}."
        properties = self.capability.input_schema.get("properties") or {}
        # A blank optional input means "not given" (its default applies),
        # unless the property accepts null, where blank means null.
        return {
            name: value
            for name, value in values.items()
            if value is not None or _nullable(properties.get(name))
        }

    def place_errors(self, form: Form, fields: Mapping[str, str]) -> list[str]:
        """Put the capability's validation messages next to their fields; the
        messages no field can show (nested paths in a raw form, say) come back."""
        unplaced = []
        names = {spec.name for spec in self.specs}
        for path, message in fields.items():
            top = path.split(".", 1)[0]
            if not self.raw and top in names:
                where = form[top]
                text = message if path == top else f"{path}: {message}"
                where.errors = [*where.errors, text]
            else:
                unplaced.append(message if path in ("", "_") else f"{path}: {message}")
        if self.raw and unplaced:
            form["params"].errors = [*form["params"].errors, *unplaced]
            return []
        return unplaced


def _nullable(schema: Any) -> bool:
    """Whether a property schema accepts null."""
    if not isinstance(schema, Mapping):
        return schema is True
    kind = schema.get("type")
    if kind == "null" or (isinstance(kind, list) and "null" in kind):
        return True
    if None in (schema.get("enum") or ()):
        return True
    return any(_nullable(branch) for branch in schema.get("anyOf") or ())


def _capability_or_404(request: Request) -> Capability:
    capability = container(request).libraries.capability(request.path_params["name"])
    if capability is None:
        raise HTTPException(404, "There is no such capability. Is its library enabled?")
    return capability


# --- catalogue ----------------------------------------------------------------------


def capability_list(request: Request) -> Response:
    """Every live capability; searched by name, title and description."""
    search = request.query_params.get("q", "").strip()
    context = {
        "capabilities": container(request).libraries.capabilities(search or None),
        "q": search,
    }
    response = render_for_target(
        request, "capabilities/capability_list.html", TABLE_PARTIAL, context
    )
    response.headers["Vary"] = "HX-Target"
    return response


# --- one capability -------------------------------------------------------------------


def _page(
    request: Request,
    tryer: TryForm,
    form: Form,
    result: dict[str, Any] | None = None,
    status: int = 200,
) -> Response:
    identity: Identity = request.scope["identity"]
    capability = tryer.capability
    context = {
        "capability": capability,
        "input_schema": pretty(capability.input_schema),
        "output_schema": pretty(capability.output_schema),
        "specs": tryer.specs,
        "raw": tryer.raw,
        "form": form,
        "result": result,
        "allowed": identity.can(capability.permission),
    }
    if request.headers.get("hx-target", "") in TRY_PARTIAL:
        # htmx swaps only 2xx answers; the status is in the component itself.
        return render(request, TRY_PARTIAL["try-it"], context)
    return render(request, "capabilities/capability_view.html", context, status=status)


def capability_view(request: Request) -> Response:
    """Schemas and the "Try it" form."""
    capability = _capability_or_404(request)
    tryer = TryForm.for_capability(capability)
    return _page(request, tryer, tryer.form_class())


def _result(result: InvokeResult) -> dict[str, Any]:
    return {
        "ok": result.ok,
        "kind": result.kind,
        "error": result.error,
        "output": pretty(result.output) if result.ok else "",
        "duration_ms": result.duration_ms,
        "logs": list(result.logs),
    }


STATUS_BY_KIND = {VALIDATION: 400, PERMISSION: 403, NOT_FOUND: 404}


def capability_try(request: Request) -> Response:
    """Invoke the capability once as the signed-in user and show what happened."""
    capability = _capability_or_404(request)
    tryer = TryForm.for_capability(capability)
    form = tryer.form_class(request.state.form)
    if not form.validate():
        return _page(request, tryer, form, status=400)
    params = tryer.params(form)
    if isinstance(params, str):
        form["params"].errors = [*form["params"].errors, params]
        return _page(request, tryer, form, status=400)
    identity: Identity = request.scope["identity"]
    outcome = container(request).libraries.invoke(
        capability.name,
        params,
        permissions=identity.permissions,
        account_id=identity.account_id,
        user_id=identity.user_id,
    )
    result = _result(outcome)
    if outcome.kind == VALIDATION:
        result["unplaced"] = tryer.place_errors(form, outcome.fields)
    status = 200 if outcome.ok else STATUS_BY_KIND.get(outcome.kind, 502)
    return _page(request, tryer, form, result, status)


mount = Mount(
    "/capabilities",
    routes=[
        route("/", capability_list, permission="capabilities.view", name="list"),
        route("/{name:str}", capability_view, permission="capabilities.view", name="detail"),
        route(
            "/{name:str}/try",
            capability_try,
            permission="capabilities.view",
            methods=["POST"],
            name="try",
        ),
    ],
    name="capabilities",
)
