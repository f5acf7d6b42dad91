"""The Jinja2 environment: autoescaping on, helpers every page needs."""

from __future__ import annotations

from typing import Any

from jinja2 import pass_context
from starlette.requests import Request
from starlette.templating import Jinja2Templates

from webapp import __version__
from webapp.flash import pop_flashes
from webapp.navigation import is_current, visible
from webapp.middleware.csrf import csrf_token
from webapp.paths import TEMPLATES


def _csrf(request: Request) -> str:
    return csrf_token(request.session) if "session" in request.scope else ""


@pass_context
def _url_for(context: dict[str, Any], name: str, /, **path_params: Any) -> str:
    """A path (not an absolute URL), so links work behind any proxy."""
    app = context["request"].app
    return app.state.urls.path(app, name, path_params)


def _nav_groups(request: Request) -> list:
    return visible(request.scope.get("identity"))


def build_templates() -> Jinja2Templates:
    """Templates with the globals used by the layout."""
    templates = Jinja2Templates(directory=str(TEMPLATES))
    env = templates.env
    env.autoescape = True
    # Templates change with a deploy, not while serving: no stat() per render.
    env.auto_reload = False
    env.trim_blocks = True
    env.lstrip_blocks = True
    env.globals.update(
        version=__version__,
        csrf_token=_csrf,
        url_for=_url_for,
        pop_flashes=pop_flashes,
        nav_groups=_nav_groups,
        is_current=is_current,
    )
    return templates
