"""`/api/v1/workflows`: list, create, read, change, delete, enable, disable
and trigger the key's account's workflows.

Every call is scoped by the key's account: another account's workflow is a
404, exactly like one that does not exist. A definition with problems
answers 422 with one entry per problem in `fields`, keyed by where it is
("steps.welcome.capability"). Triggering answers 202 with the queued run's
id and a Location header pointing at the run.
"""

from __future__ import annotations

import functools
from typing import Any, Mapping

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from modules.datastore import NotFoundError, ValidationError
from modules.workflows.definition import DefinitionError
from modules.workflows.service import WorkflowConflict
from webapp.api._json import BadBody, json_object, jsonable
from webapp.errors import json_error
from webapp.gate import route
from webapp.rendering import container, signed_in

MAX_LIMIT = 200
DEFAULT_LIMIT = 50
MAX_ID = 2**63 - 1  # larger ids cannot be SQLite integers: nothing has them
NO_WORKFLOW = "There is no such workflow."
BAD_DEFINITION = "The workflow definition is not valid."


# --- shared by the workflow and run endpoints -------------------------------------


def path_id(request: Request) -> int | None:
    """The `{id}` of the path, or None when no row can have it."""
    value: int = request.path_params["id"]
    return value if 0 < value <= MAX_ID else None


def page_params(request: Request) -> tuple[str | None, int]:
    """`after` and `limit` from the query; `ValidationError` names the bad one."""
    after = request.query_params.get("after") or None
    raw = request.query_params.get("limit", "").strip()
    if not raw:
        return after, DEFAULT_LIMIT
    try:
        limit = int(raw)
    except ValueError:
        limit = 0
    if not 0 < limit <= MAX_LIMIT:
        raise ValidationError({"limit": f"must be a whole number from 1 to {MAX_LIMIT}"})
    return after, limit


def invalid(exc: ValidationError) -> JSONResponse:
    """422 for a `ValidationError`; the datastore's "cursor" is our `after`."""
    fields = {("after" if key == "cursor" else key): value for key, value in exc.fields.items()}
    return json_error(422, None, fields)


def sentence(exc: Exception) -> str:
    """A module's lower-case message as a sentence for the API."""
    text = str(exc).rstrip(".")
    return text[:1].upper() + text[1:] + "."


def accepted(request: Request, run_id: int, status: str) -> JSONResponse:
    """202 for a run that was queued (or asked to stop), with its Location."""
    response = JSONResponse({"run_id": run_id, "status": status}, status_code=202)
    response.headers["Location"] = str(request.app.url_path_for("api_run", id=run_id))
    return response


# --- shapes -------------------------------------------------------------------------


def workflow_json(workflow: Mapping[str, Any]) -> dict[str, Any]:
    """One workflow as the API shows it (its definition when it was loaded)."""
    data: dict[str, Any] = {
        "id": workflow["id"],
        "name": workflow["name"],
        "description": workflow["description"] or "",
        "enabled": bool(workflow["enabled"]),
        "version": workflow["version"],
        "trigger": {
            "type": workflow["trigger_type"],
            "cron": workflow["cron"],
            "timezone": workflow["timezone"] or "UTC",
            "event": workflow["event"],
        },
        "owner_user": workflow["owner_user"],
        "has_webhook": bool(workflow["has_webhook"]),
        "created_at": jsonable(workflow["created_at"]),
        "updated_at": jsonable(workflow["updated_at"]),
    }
    if "definition" in workflow:
        data["definition"] = jsonable(workflow["definition"])
    return data


# --- handlers ----------------------------------------------------------------------


def workflow_list(request: Request) -> JSONResponse:
    """The account's workflows by name; `?q=` searches name and description."""
    search = request.query_params.get("q", "").strip() or None
    try:
        after, limit = page_params(request)
        page = container(request).workflows.page(
            signed_in(request).account_id, search=search, after=after, limit=limit
        )
    except ValidationError as exc:
        return invalid(exc)
    return JSONResponse(
        {"items": [workflow_json(w) for w in page.items], "next_cursor": page.next_cursor}
    )


def workflow_get(request: Request) -> JSONResponse:
    """One workflow with its current definition."""
    workflow_id = path_id(request)
    workflows = container(request).workflows
    found = workflow_id and workflows.get(signed_in(request).account_id, workflow_id)
    if not found:
        return json_error(404, NO_WORKFLOW)
    return JSONResponse(workflow_json(found))


async def workflow_create(request: Request) -> JSONResponse:
    """The body is a workflow definition -> 201 with the workflow (version 1)."""
    try:
        body = await json_object(request)
    except BadBody as exc:
        return exc.response
    identity = signed_in(request)
    create = functools.partial(
        container(request).workflows.create, identity.account_id, body, user_id=identity.user_id
    )
    try:
        workflow = await run_in_threadpool(create)
    except DefinitionError as exc:
        return json_error(422, BAD_DEFINITION, exc.problems)
    except ValidationError as exc:
        return invalid(exc)
    response = JSONResponse(workflow_json(workflow), status_code=201)
    response.headers["Location"] = str(request.app.url_path_for("api_workflow", id=workflow["id"]))
    return response


async def workflow_update(request: Request) -> JSONResponse:
    """The body is the whole new definition -> the workflow at its new version."""
    try:
        body = await json_object(request)
    except BadBody as exc:
        return exc.response
    workflow_id = path_id(request)
    if workflow_id is None:
        return json_error(404, NO_WORKFLOW)
    identity = signed_in(request)
    workflows = container(request).workflows

    def update() -> dict[str, Any]:
        # An unknown id answers 404 before the body is judged.
        if workflows.get(identity.account_id, workflow_id) is None:
            raise NotFoundError(NO_WORKFLOW)
        return workflows.update(identity.account_id, workflow_id, body, user_id=identity.user_id)

    try:
        workflow = await run_in_threadpool(update)
    except NotFoundError:
        return json_error(404, NO_WORKFLOW)
    except DefinitionError as exc:
        return json_error(422, BAD_DEFINITION, exc.problems)
    except ValidationError as exc:
        return invalid(exc)
    return JSONResponse(workflow_json(workflow))


def workflow_delete(request: Request) -> Response:
    """Remove the workflow with its versions and runs -> 204. Queued or
    running runs make it a 409, unless `?force=true`, which cancels them."""
    workflow_id = path_id(request)
    raw = request.query_params.get("force", "false").strip().lower()
    if raw not in ("true", "false", "1", "0"):
        return json_error(422, None, {"force": "must be true or false"})
    if workflow_id is None:
        return json_error(404, NO_WORKFLOW)
    try:
        container(request).workflows.delete(
            signed_in(request).account_id, workflow_id, force=raw in ("true", "1")
        )
    except NotFoundError:
        return json_error(404, NO_WORKFLOW)
    except WorkflowConflict as exc:
        return json_error(409, sentence(exc))
    return Response(status_code=204)


def _set_enabled(request: Request, enabled: bool) -> JSONResponse:
    workflow_id = path_id(request)
    if workflow_id is None:
        return json_error(404, NO_WORKFLOW)
    try:
        workflow = container(request).workflows.set_enabled(
            signed_in(request).account_id, workflow_id, enabled
        )
    except NotFoundError:
        return json_error(404, NO_WORKFLOW)
    except DefinitionError as exc:
        # An older definition that no longer validates (say, a capability
        # whose library was removed) cannot be saved again as it is.
        return json_error(422, BAD_DEFINITION, exc.problems)
    return JSONResponse(workflow_json(workflow))


def workflow_enable(request: Request) -> JSONResponse:
    """Enable: schedules, events and webhooks start runs again (a new version)."""
    return _set_enabled(request, True)


def workflow_disable(request: Request) -> JSONResponse:
    """Disable: schedules, events and webhooks no longer start runs (a new version)."""
    return _set_enabled(request, False)


async def workflow_trigger(request: Request) -> JSONResponse:
    """`{"payload": {...}}` (optional) -> 202 `{"run_id", "status": "queued"}`."""
    try:
        body = await json_object(request)
    except BadBody as exc:
        return exc.response
    unknown = {key: "is not a trigger setting (send the data under payload)" for key in body}
    unknown.pop("payload", None)
    payload = body.get("payload")
    if payload is not None and not isinstance(payload, dict):
        unknown["payload"] = "must be an object"
    if unknown:
        return json_error(422, None, unknown)
    workflow_id = path_id(request)
    if workflow_id is None:
        return json_error(404, NO_WORKFLOW)
    identity = signed_in(request)
    trigger = functools.partial(
        container(request).workflows.trigger,
        identity.account_id,
        workflow_id,
        payload or {},
        trigger_type="api",
        user_id=identity.user_id,
    )
    try:
        run_id = await run_in_threadpool(trigger)
    except NotFoundError:
        return json_error(404, NO_WORKFLOW)
    except ValidationError as exc:
        return invalid(exc)
    assert run_id is not None  # only a dedupe key can make it None
    return accepted(request, run_id, "queued")


routes = [
    route("/api/v1/workflows", workflow_list, permission="workflows.view", name="api_workflows"),
    route(
        "/api/v1/workflows",
        workflow_create,
        permission="workflows.manage",
        methods=["POST"],
        name="api_workflow_create",
    ),
    route(
        "/api/v1/workflows/{id:int}",
        workflow_get,
        permission="workflows.view",
        name="api_workflow",
    ),
    route(
        "/api/v1/workflows/{id:int}",
        workflow_update,
        permission="workflows.manage",
        methods=["PUT"],
        name="api_workflow_update",
    ),
    route(
        "/api/v1/workflows/{id:int}",
        workflow_delete,
        permission="workflows.manage",
        methods=["DELETE"],
        name="api_workflow_delete",
    ),
    route(
        "/api/v1/workflows/{id:int}/enable",
        workflow_enable,
        permission="workflows.manage",
        methods=["POST"],
        name="api_workflow_enable",
    ),
    route(
        "/api/v1/workflows/{id:int}/disable",
        workflow_disable,
        permission="workflows.manage",
        methods=["POST"],
        name="api_workflow_disable",
    ),
    route(
        "/api/v1/workflows/{id:int}/trigger",
        workflow_trigger,
        permission="workflows.execute",
        methods=["POST"],
        name="api_workflow_trigger",
    ),
]
