"""The Jinja2 environment: autoescaping on, helpers every page needs."""

from __future__ import annotations

from typing import Any

from jinja2 import pass_context
from markupsafe import Markup
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


@pass_context
def _nav(context: Any) -> Markup:
    """The side navigation, rendered once per permission set and section.

    It is on every page and depends only on what the user may use and which
    section is current, so it is cached (the layout asked for it ~60 times
    a request otherwise, measurably slowing every page)."""
    request: Request = context["request"]
    identity = request.scope.get("identity")
    if identity is None:
        return Markup("")
    app = request.app
    groups = [
        (group, [(item.label, app.state.urls.path(app, item.route, {})) for item in items])
        for group, items in visible(identity)
    ]
    path = request.scope["path"]
    current = next(
        (href for _, links in groups for _, href in links if is_current(path, href)), None
    )
    key = (identity.permissions, current)
    cache: dict[Any, Markup] = app.state.nav_cache
    html = cache.get(key)
    if html is None:
        template = context.environment.get_template("_partials/_nav.html")
        html = Markup(template.render(groups=groups, current=current))
        if len(cache) > 1024:
            cache.clear()
        cache[key] = html
    return html


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
        nav=_nav,
    )
    return templates
