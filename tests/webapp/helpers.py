"""Helpers for web tests: CSRF tokens from pages, signing in."""

from __future__ import annotations

import re

from starlette.testclient import TestClient

_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"|"X-CSRF-Token": "([^"]+)"')


def csrf_from(html: str) -> str:
    """The CSRF token a rendered page carries."""
    match = _TOKEN.search(html)
    assert match, "the page carries no CSRF token"
    return match.group(1) or match.group(2)


def csrf(client: TestClient, path: str = "/login") -> str:
    """Load `path` and return its CSRF token."""
    return csrf_from(client.get(path).text)


def sign_in(client: TestClient, username: str, password: str, next_path: str = ""):
    """POST the sign-in form the way a browser would; returns the response."""
    token = csrf(client)
    return client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": token, "next": next_path},
        follow_redirects=False,
    )
