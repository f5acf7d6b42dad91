"""`GET /healthz`: liveness and database reachability, for probes and operators."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse

from webapp import __version__
from webapp.gate import PUBLIC, route


def healthz(request: Request) -> JSONResponse:
    """200 with status ok, or 503 when the database does not answer."""
    database = request.app.state.container.db.ping()
    return JSONResponse(
        {
            "status": "ok" if database else "degraded",
            "version": __version__,
            "database": "ok" if database else "unreachable",
        },
        status_code=200 if database else 503,
        headers={"Cache-Control": "no-store"},
    )


routes = [route("/healthz", healthz, permission=PUBLIC, name="healthz")]
