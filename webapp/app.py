"""`create_app(settings)`: the Starlette application."""

from __future__ import annotations

import contextlib
import gc
from typing import AsyncIterator

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

from modules.logs import configure as configure_logging
from modules.logs import get_logger
from webapp import errors
from webapp.container import Container
from webapp.middleware.csrf import CSRFMiddleware
from webapp.api import capabilities as api_capabilities
from webapp.api import libraries as api_libraries
from webapp.api import me, openapi
from webapp.api import runs as api_runs
from webapp.api import workflows as api_workflows
from webapp.identity import IdentityMiddleware
from webapp.middleware.request_id import RequestIdMiddleware
from webapp.middleware.security_headers import SecurityHeadersMiddleware
from webapp.paths import STATIC
from webapp.routes import (
    accounts,
    auth,
    capabilities,
    health,
    home,
    hooks,
    libraries,
    outbox,
    profile,
    records,
    roles,
    runs,
    users,
    workflows,
)
from webapp.settings import Settings
from webapp.templating import build_templates
from webapp.urls import UrlIndex

log = get_logger("app")
SESSION_COOKIE = "sb_session"
# Authenticated by something other than the session cookie.
CSRF_EXEMPT = ("/api/", "/webhooks/", "/hooks/")


async def _csrf_rejected(scope: Scope, receive: Receive, send: Send) -> None:
    request = Request(scope, receive)
    response = errors.error_page(
        request,
        403,
        "This form has expired or did not come from this site. Reload the page and try again.",
    )
    await response(scope, receive, send)


def create_app(settings: Settings | None = None, container: Container | None = None) -> Starlette:
    """Build the app. Without arguments, settings come from the environment."""
    settings = settings or (container.settings if container else Settings.load())
    configure_logging(
        settings.log_level, settings.log_format, settings.log_file or None, settings.log_console
    )
    container = container or Container.build(settings)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        container.mailer.start()
        container.libraries.start()
        container.workflows.start()
        # Everything built so far lives as long as the process: move it out of
        # the garbage collector's sight, so full collections (which pause every
        # request) only walk what requests allocate.
        gc.collect()
        gc.freeze()
        log.info("Switchboard started", extra={"database": str(settings.database_file)})
        try:
            yield
        finally:
            container.close()
            log.info("Switchboard stopped")

    app = Starlette(
        routes=[
            *home.routes,
            *health.routes,
            *auth.routes,
            *profile.routes,
            # Routes are matched in order: the screens people use most first.
            users.mount,
            workflows.mount,
            runs.mount,
            records.mount,
            roles.mount,
            capabilities.mount,
            accounts.mount,
            outbox.mount,
            libraries.mount,
            *me.routes,
            *api_workflows.routes,
            *api_runs.routes,
            *api_capabilities.routes,
            *api_libraries.routes,
            *openapi.routes,
            *hooks.routes,
            Mount("/static", StaticFiles(directory=STATIC), name="static"),
        ],
        middleware=[
            Middleware(RequestIdMiddleware),
            Middleware(SecurityHeadersMiddleware),
            Middleware(
                SessionMiddleware,
                secret_key=container.secret_key,
                session_cookie=SESSION_COOKIE,
                same_site="lax",
                https_only=settings.secure_cookies,
                max_age=None,
            ),
            Middleware(CSRFMiddleware, reject=_csrf_rejected, exempt=CSRF_EXEMPT),
            Middleware(
                IdentityMiddleware,
                tenants=container.tenants,
                authz=container.authz,
                skip=("/static/", "/healthz"),
            ),
        ],
        exception_handlers={
            HTTPException: errors.http_exception,
            Exception: errors.server_error,
        },
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.container = container
    app.state.templates = build_templates()
    app.state.urls = UrlIndex(app.routes)
    app.state.nav_cache = {}
    return app


def app_from_env() -> Starlette:
    """Factory for uvicorn (`webapp serve` and multi-worker runs)."""
    return create_app(Settings.load())
