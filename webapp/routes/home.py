"""The start page."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


def home(request: Request) -> Response:
    """The dashboard."""
    return request.app.state.templates.TemplateResponse(request, "home/index.html", {})


routes = [Route("/", home, methods=["GET"], name="home")]
