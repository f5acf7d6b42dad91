"""`/api/v1/libraries`: list, add, reload, enable, disable and remove libraries.

Platform operators only (libraries.view / libraries.manage). A library's JSON
never carries a secret config value, only whether each secret is set.
"""

from __future__ import annotations

from typing import Callable

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from modules.datastore import ValidationError
from modules.libraries.manager import LibraryManager
from webapp.api._json import BadBody, json_object, library_body
from webapp.errors import json_error
from webapp.gate import route
from webapp.rendering import container


def library_list(request: Request) -> JSONResponse:
    """Every library, built-in ones first."""
    libraries = container(request).libraries
    return JSONResponse(
        {"libraries": [library_body(libraries, view["name"]) for view in libraries.libraries()]}
    )


def library_get(request: Request) -> JSONResponse:
    """One library."""
    body = library_body(container(request).libraries, request.path_params["name"])
    if body is None:
        return json_error(404, "There is no such library.")
    return JSONResponse(body)


async def library_add(request: Request) -> JSONResponse:
    """`{"ref": "<folder name or import name>"}` -> 201 with the library
    (which may have failed to load: see its status and error)."""
    try:
        body = await json_object(request)
    except BadBody as exc:
        return exc.response
    ref = body.get("ref")
    if not isinstance(ref, str) or not ref.strip():
        return json_error(422, None, {"ref": "give a folder name or an import name"})
    libraries = container(request).libraries
    try:
        row = await run_in_threadpool(libraries.add, ref)
    except ValidationError as exc:
        return json_error(422, None, exc.fields)
    return JSONResponse(library_body(libraries, row["name"]), status_code=201)


def _change(request: Request, action: Callable[[LibraryManager, str], None]) -> Response | None:
    """Run `action` on the named library; an error response, or None when done."""
    libraries = container(request).libraries
    name = request.path_params["name"]
    view = libraries.library(name)
    if view is None:
        return json_error(404, "There is no such library.")
    if view["kind"] == "core":
        return json_error(409, f"{name} is built in and cannot be changed.")
    try:
        action(libraries, name)
    except ValidationError as exc:
        return json_error(409, "; ".join(exc.fields.values()), exc.fields)
    return None


def _changed(request: Request, action: Callable[[LibraryManager, str], None]) -> Response:
    problem = _change(request, action)
    if problem is not None:
        return problem
    return JSONResponse(library_body(container(request).libraries, request.path_params["name"]))


def library_reload(request: Request) -> Response:
    """Import the library's code afresh, in every process."""
    return _changed(request, LibraryManager.reload)


def library_enable(request: Request) -> Response:
    """Load the library again."""
    return _changed(request, LibraryManager.enable)


def library_disable(request: Request) -> Response:
    """Unload the library (data and config stay)."""
    return _changed(request, LibraryManager.disable)


def library_remove(request: Request) -> Response:
    """Forget the library (its tables and rows stay) -> 204."""
    problem = _change(request, LibraryManager.remove)
    return problem if problem is not None else Response(status_code=204)


routes = [
    route("/api/v1/libraries", library_list, permission="libraries.view", name="api_libraries"),
    route(
        "/api/v1/libraries",
        library_add,
        permission="libraries.manage",
        methods=["POST"],
        name="api_library_add",
    ),
    route(
        "/api/v1/libraries/{name}",
        library_get,
        permission="libraries.view",
        name="api_library",
    ),
    route(
        "/api/v1/libraries/{name}",
        library_remove,
        permission="libraries.manage",
        methods=["DELETE"],
        name="api_library_remove",
    ),
    route(
        "/api/v1/libraries/{name}/reload",
        library_reload,
        permission="libraries.manage",
        methods=["POST"],
        name="api_library_reload",
    ),
    route(
        "/api/v1/libraries/{name}/enable",
        library_enable,
        permission="libraries.manage",
        methods=["POST"],
        name="api_library_enable",
    ),
    route(
        "/api/v1/libraries/{name}/disable",
        library_disable,
        permission="libraries.manage",
        methods=["POST"],
        name="api_library_disable",
    ),
]
