"""`/api/v1/capabilities`: the catalogue with schemas, and invoking one.

Reaching the endpoints needs capabilities.view; invoking a capability also
needs the capability's own permission, which `invoke` checks. A capability
that fails, times out or crashes answers 502 with the code
`capability_failed`; the caller's mistakes answer 403, 404 and 422.
"""

from __future__ import annotations

import functools
from typing import Any, Mapping

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse

from modules.libraries.invoker import NOT_FOUND, PERMISSION, VALIDATION, InvokeResult
from webapp.api._json import (
    BadBody,
    capability_json,
    error_response,
    json_object,
    jsonable,
)
from webapp.errors import json_error
from webapp.gate import route
from webapp.identity import Identity
from webapp.rendering import container


def capability_list(request: Request) -> JSONResponse:
    """Every live capability; `?q=` searches name, title and description."""
    search = request.query_params.get("q", "").strip() or None
    capabilities = container(request).libraries.capabilities(search)
    return JSONResponse({"capabilities": [capability_json(cap) for cap in capabilities]})


def capability_get(request: Request) -> JSONResponse:
    """One capability with its schemas."""
    capability = container(request).libraries.capability(request.path_params["name"])
    if capability is None:
        return json_error(404, "There is no such capability (is its library enabled?).")
    return JSONResponse(capability_json(capability))


def result_response(result: InvokeResult) -> JSONResponse:
    """The HTTP answer for one call's result."""
    logs = [{"level": level, "message": message} for level, message in result.logs]
    if result.ok:
        return JSONResponse(
            {
                "ok": True,
                "output": jsonable(result.output),
                "duration_ms": round(result.duration_ms, 3),
                "logs": logs,
            }
        )
    if result.kind == VALIDATION:
        return json_error(422, result.error, dict(result.fields))
    if result.kind == PERMISSION:
        return json_error(403, result.error)
    if result.kind == NOT_FOUND:
        return json_error(404, result.error)
    return error_response(
        502,
        "capability_failed",
        result.error,
        kind=result.kind,
        duration_ms=round(result.duration_ms, 3),
        logs=logs,
    )


async def capability_invoke(request: Request) -> JSONResponse:
    """`{"params": {...}}` -> the capability's output, run as the key's user."""
    try:
        body = await json_object(request)
    except BadBody as exc:
        return exc.response
    params: Any = body.get("params", {})
    if params is None:
        params = {}
    if not isinstance(params, Mapping):
        return json_error(422, "params must be a JSON object.", {"params": "must be an object"})
    identity: Identity = request.scope["identity"]
    libraries = container(request).libraries
    result = await run_in_threadpool(
        functools.partial(
            libraries.invoke,
            request.path_params["name"],
            params,
            permissions=identity.permissions,
            account_id=identity.account_id,
            user_id=identity.user_id,
        )
    )
    return result_response(result)


routes = [
    route(
        "/api/v1/capabilities",
        capability_list,
        permission="capabilities.view",
        name="api_capabilities",
    ),
    route(
        "/api/v1/capabilities/{name:str}",
        capability_get,
        permission="capabilities.view",
        name="api_capability",
    ),
    route(
        "/api/v1/capabilities/{name:str}/invoke",
        capability_invoke,
        permission="capabilities.view",
        methods=["POST"],
        name="api_capability_invoke",
    ),
]
