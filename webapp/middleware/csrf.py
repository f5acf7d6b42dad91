"""Rejects unsafe requests that do not carry the session's CSRF token.

The token lives in the signed session cookie. Forms send it as the hidden
field `csrf_token`; htmx sends it as `X-CSRF-Token` (set once on <body>).
Paths authenticated by something other than the cookie (Bearer API keys,
signed webhooks) are exempt: a browser cannot forge those credentials.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Awaitable, Callable

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
MAX_FORM_BYTES = 16 * 1024 * 1024
SESSION_KEY = "csrf"


def csrf_token(session: dict) -> str:
    """The session's token, created on first use."""
    token = session.get(SESSION_KEY)
    if not token:
        token = secrets.token_urlsafe(32)
        session[SESSION_KEY] = token
    return token


Rejecter = Callable[[Scope, Receive, Send], Awaitable[None]]


class CSRFMiddleware:
    """Must run inside the session middleware (it reads `scope["session"]`)."""

    def __init__(self, app: ASGIApp, reject: Rejecter, exempt: tuple[str, ...] = ()):
        self.app = app
        self.reject = reject
        self.exempt = exempt

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] in SAFE_METHODS
            or scope["path"].startswith(self.exempt)
        ):
            await self.app(scope, receive, send)
            return
        expected = scope.get("session", {}).get(SESSION_KEY, "")
        headers = Headers(scope=scope)
        sent = headers.get("x-csrf-token", "")
        body: bytes | None = None
        if not sent and headers.get("content-type", "").startswith(FORM_TYPES):
            body = await _read_body(receive)
            if body is None:
                await self.reject(scope, receive, send)
                return
            sent = await _form_token(scope, body)
        if not expected or not hmac.compare_digest(str(sent), expected):
            await self.reject(scope, receive, send)
            return
        await self.app(scope, receive if body is None else _replay(body, receive), send)


async def _read_body(receive: Receive) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_FORM_BYTES:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _form_token(scope: Scope, body: bytes) -> str:
    request = Request(scope, _replay(body))
    try:
        form = await request.form()
    except Exception:  # pylint: disable=broad-exception-caught
        # Whatever the parser objects to, a malformed body carries no token.
        return ""
    token = form.get("csrf_token", "")
    await form.close()
    return token if isinstance(token, str) else ""


def _replay(body: bytes, then: Receive | None = None) -> Receive:
    """A receive that hands out `body` once, then waits on the real one
    (so a later disconnect is still noticed)."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            if then is None:
                return {"type": "http.disconnect"}
            return await then()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive
