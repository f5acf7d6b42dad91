"""Small helpers every handler uses: render a page, pick a partial, redirect."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from webapp.container import Container
from webapp.identity import Identity


def container(request: Request) -> Container:
    """The module graph of the running app."""
    return request.app.state.container


def signed_in(request: Request) -> Identity:
    """The caller of a gated route (the gate has made sure there is one)."""
    return request.scope["identity"]


def render(
    request: Request, template: str, context: dict[str, Any] | None = None, status: int = 200
) -> Response:
    """A full page (or a partial, when `template` is one)."""
    return request.app.state.templates.TemplateResponse(
        request, template, context or {}, status_code=status
    )


def render_for_target(
    request: Request, page: str, partials: dict[str, str], context: dict[str, Any]
) -> Response:
    """The page, or only the partial that the htmx request targets.

    Branches on HX-Target rather than HX-Request: a boosted link is an htmx
    request too, and wants the whole page.
    """
    target = request.headers.get("hx-target", "")
    return render(request, partials.get(target, page), context)


def redirect(request: Request, name: str, **params: Any) -> Response:
    """303 to a named route (after a successful POST)."""
    return RedirectResponse(request.app.url_path_for(name, **params), status_code=303)


def client_ip(request: Request) -> str:
    """The client address (uvicorn applies trusted proxy headers)."""
    return request.client.host if request.client else ""
