"""Who is making the request: resolved once per request, used by the gate,
the handlers and the templates."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from modules.authz import Authz
from modules.tenants import Tenants

SESSION_TOKEN_KEY = "sid"


@dataclass(frozen=True)
class Identity:  # pylint: disable=too-many-instance-attributes  # one request's facts
    """A signed-in user (through the session cookie or an API key)."""

    user_id: int
    account_id: int
    username: str
    display_name: str
    permissions: frozenset[str]
    platform: bool
    via: str
    session_token: str | None = None

    def can(self, permission: str) -> bool:
        """Whether the effective permissions include `permission`."""
        return permission in self.permissions


def build_identity(
    tenants: Tenants, authz: Authz, user: dict[str, Any], via: str, token: str | None
) -> Identity:
    """Identity for a user dict returned by `Tenants` (computes permissions)."""
    account_id = user["account_id"]
    return Identity(
        user_id=user["id"],
        account_id=account_id,
        username=user["username"],
        display_name=user["display_name"],
        permissions=authz.effective_permissions(account_id, user["id"]),
        platform=tenants.is_platform(account_id),
        via=via,
        session_token=token,
    )


class IdentityMiddleware:
    """Sets `scope["identity"]` (or None). Bearer API keys count on `/api/`
    only; everywhere else the session cookie does. Runs inside the session
    middleware."""

    def __init__(self, app: ASGIApp, tenants: Tenants, authz: Authz, skip: tuple[str, ...] = ()):
        self.app = app
        self.tenants = tenants
        self.authz = authz
        self.skip = skip

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(self.skip):
            await self.app(scope, receive, send)
            return
        scope["identity"] = None
        if scope["path"].startswith("/api/"):
            auth = Headers(scope=scope).get("authorization", "")
            scheme, _, key = auth.partition(" ")
            if scheme.lower() == "bearer" and key.strip():
                scope["identity"] = await run_in_threadpool(self._from_key, key.strip())
        else:
            token = scope.get("session", {}).get(SESSION_TOKEN_KEY)
            if token:
                # Reads only, on the event loop (sub-millisecond); the rare
                # write (last-seen, once a minute) goes to a thread so the
                # loop never waits on the write lock.
                user = self.tenants.resolve_session(token, write=False)
                if user is None:
                    scope["session"].pop(SESSION_TOKEN_KEY, None)
                else:
                    if user.get("session_touch_due"):
                        await run_in_threadpool(self.tenants.touch_session, token)
                    scope["identity"] = build_identity(
                        self.tenants, self.authz, user, "session", token
                    )
        await self.app(scope, receive, send)

    def _from_key(self, key: str) -> Identity | None:
        user = self.tenants.resolve_api_key(key)
        return (
            None
            if user is None
            else build_identity(self.tenants, self.authz, user, "api_key", None)
        )
