"""One-time messages shown on the next page (kept in the session cookie)."""

from __future__ import annotations

from starlette.requests import Request

KEY = "_flash"
CATEGORIES = ("success", "info", "warning", "error")


def flash(request: Request, message: str, category: str = "success") -> None:
    """Queue `message` for the next rendered page."""
    if category not in CATEGORIES:
        raise ValueError(f"unknown flash category {category!r}")
    request.session.setdefault(KEY, []).append([category, message])
    # The session middleware saves on assignment, not on in-place mutation.
    request.session[KEY] = request.session[KEY]


def pop_flashes(request: Request) -> list[tuple[str, str]]:
    """Messages queued for this request, removed from the session."""
    if "session" not in request.scope:
        return []
    return [tuple(item) for item in request.session.pop(KEY, [])]
