"""`GET /api/v1/me`: who the key belongs to and what it may do."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse

from webapp.gate import SIGNED_IN, route
from webapp.rendering import container


def me(request: Request) -> JSONResponse:
    """The user, the account and the effective permissions."""
    identity = request.scope["identity"]
    account = container(request).tenants.get_account(identity.account_id)
    return JSONResponse(
        {
            "user": {
                "id": identity.user_id,
                "username": identity.username,
                "display_name": identity.display_name,
            },
            "account": {
                "id": account["id"],
                "name": account["name"],
                "status": account["status"],
                "platform": bool(account["platform"]),
            },
            "permissions": sorted(identity.permissions),
        }
    )


routes = [route("/api/v1/me", me, permission=SIGNED_IN, name="api_me")]
