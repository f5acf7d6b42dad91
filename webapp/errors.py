"""Error responses: an HTML page in the layout, or JSON for the API.

API errors always have the shape {"error": {"code", "message", "fields"}}.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from modules.logs import get_logger

log = get_logger("errors")

MESSAGES = {
    400: "The request could not be understood.",
    401: "Please sign in to continue.",
    403: "You do not have permission to do that.",
    404: "There is nothing here. The address may be mistyped, or the page was removed.",
    405: "That method is not allowed here.",
    409: "That conflicts with the current state.",
    422: "Some values are not valid.",
    500: "Something went wrong on our side. It has been logged; please try again.",
}


def wants_json(request: Request) -> bool:
    """API paths and clients that ask for JSON get JSON errors."""
    if request.url.path.startswith("/api/"):
        return True
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def error_code(status: int) -> str:
    """`not_found`, `forbidden`, ... from the status code."""
    try:
        return HTTPStatus(status).phrase.lower().replace(" ", "_").replace("-", "_")
    except ValueError:
        return "error"


def json_error(
    status: int, message: str | None = None, fields: dict[str, Any] | None = None
) -> JSONResponse:
    """The API's error body."""
    return JSONResponse(
        {
            "error": {
                "code": error_code(status),
                "message": message or MESSAGES.get(status, _phrase(status)),
                "fields": fields or {},
            }
        },
        status_code=status,
    )


def error_page(request: Request, status: int, message: str | None = None) -> Response:
    """The HTML error page in the site layout (or JSON, see `wants_json`)."""
    if wants_json(request):
        return json_error(status, message)
    templates = request.app.state.templates
    return templates.TemplateResponse(
        request,
        "errors/error.html",
        {
            "status": status,
            "title": _phrase(status),
            "message": message or MESSAGES.get(status, ""),
        },
        status_code=status,
    )


async def http_exception(request: Request, exc: Exception) -> Response:
    """Handler for `HTTPException` (404s from routing included)."""
    assert isinstance(exc, HTTPException)
    detail = exc.detail if exc.detail != HTTPStatus(exc.status_code).phrase else None
    response = error_page(request, exc.status_code, detail)
    if exc.headers:
        response.headers.update(exc.headers)
    return response


async def server_error(request: Request, exc: Exception) -> Response:
    """Handler for anything unhandled: log it with the request id, show 500."""
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_page(request, 500)
