"""Signed inbound webhooks: `POST /hooks/{token}` with
`X-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`.

The timestamp must be within TOLERANCE of now, and each signature is
accepted once (replays are refused), so a captured request cannot be sent
again.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import sqlite3
from datetime import datetime, timedelta
from typing import Any

from modules.datastore import Database
from modules.workflows.runs import to_db

TOLERANCE = timedelta(minutes=5)
MAX_BODY = 1024 * 1024


class WebhookError(Exception):
    """Refused; `status` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str):
        self.status = status
        super().__init__(message)


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The `X-Signature` header value for `body` at `timestamp` (for senders and tests)."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


def _parse_header(header: str | None) -> tuple[int, list[str]]:
    if not header:
        raise WebhookError(401, "the X-Signature header is missing")
    timestamp, signatures = None, []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == "v1" and value:
            signatures.append(value)
    if timestamp is None or not signatures:
        raise WebhookError(401, "X-Signature must look like t=<unix seconds>,v1=<hex>")
    return timestamp, signatures


def check_signature(
    db: Database, secret: str, body: bytes, header: str | None, now: datetime
) -> dict[str, Any]:
    """Verify and record the request; returns the JSON payload (an object)."""
    if len(body) > MAX_BODY:
        raise WebhookError(413, "the body is larger than 1 MiB")
    timestamp, signatures = _parse_header(header)
    # Compared as numbers: a huge `t` must be refused, not overflow a datetime.
    if abs(now.timestamp() - timestamp) > TOLERANCE.total_seconds():
        raise WebhookError(401, "the signature timestamp is too old (or in the future)")
    expected = sign(secret, body, timestamp).split("v1=", 1)[1]
    if not any(hmac.compare_digest(expected, s) for s in signatures):
        raise WebhookError(401, "the signature does not match")
    try:
        payload = json.loads(body.decode("utf-8")) if body.strip() else {}
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise WebhookError(400, "the body must be JSON") from None
    if not isinstance(payload, dict):
        raise WebhookError(400, "the body must be a JSON object")
    seen = hashlib.sha256(f"{timestamp}.{expected}".encode()).hexdigest()
    with db.transaction() as conn:
        conn.execute("DELETE FROM webhook_seen WHERE seen_at < ?", (to_db(now - 2 * TOLERANCE),))
        try:
            conn.execute(
                "INSERT INTO webhook_seen (signature_hash, seen_at) VALUES (?, ?)",
                (seen, to_db(now)),
            )
        except sqlite3.IntegrityError:
            raise WebhookError(409, "this request was already received (replay)") from None
    return payload
