"""`http.request`: call an HTTP API."""

from __future__ import annotations

from typing import Any, Literal

import httpx

from modules.libraries.contract import LibraryRegistry

MAX_BODY = 1024 * 1024
Method = Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"]


def register(registry: LibraryRegistry) -> None:
    """Declare http.request."""
    registry.info(version="1.0", title="HTTP", description="Call web APIs.")

    @registry.capability(title="HTTP request", timeout=120)
    def request(  # pylint: disable=too-many-arguments,too-many-positional-arguments
        # the parameters are the capability's inputs, passed by name
        url: str,
        method: Method = "GET",
        headers: dict[str, str] | None = None,
        json: Any = None,
        body: str | None = None,
        timeout: float = 30.0,
    ) -> dict[str, Any]:
        """Sends one request and returns status, headers and body (JSON when
        the answer is JSON, else text, at most 1 MiB)."""
        if not url.startswith(("http://", "https://")):
            raise ValueError("url must start with http:// or https://")
        if json is not None and body is not None:
            raise ValueError("give either json or body, not both")
        with httpx.Client(timeout=timeout, follow_redirects=False) as client:
            response = client.request(method, url, headers=headers or {}, json=json, content=body)
        text = response.text[:MAX_BODY]
        parsed: Any = text
        if response.headers.get("content-type", "").startswith("application/json"):
            try:
                parsed = response.json()
            except ValueError:
                parsed = text
        return {
            "status": response.status_code,
            "headers": dict(response.headers),
            "body": parsed,
            "ok": response.is_success,
        }
