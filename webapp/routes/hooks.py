"""`POST /hooks/{token}`: a signed inbound webhook starts a workflow run.

Public and CSRF-exempt: the token in the path picks the workflow and the
`X-Signature` header (HMAC-SHA256 of "<t>.<body>" with the workflow's
signing secret) proves the sender. The raw body is what was signed, so the
handler reads it itself (async), with a size cap, and hands the checks to
`Workflows.receive_webhook` in the thread pool (they write: replay record,
new run). Answers 202 {"run_id": N}, or the refusal's status as a JSON error.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from modules.workflows.webhooks import MAX_BODY, WebhookError
from webapp import errors
from webapp.gate import FORM_TYPES, PUBLIC, route
from webapp.rendering import container

TOO_LARGE = "the body is larger than 1 MiB"


async def _capped_body(request: Request) -> bytes | None:
    """The raw body, or None once it grows past MAX_BODY (not kept in memory)."""
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > MAX_BODY:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


async def webhook(request: Request) -> Response:
    """Verify the signature, refuse replays, queue a run of the workflow."""
    if request.headers.get("content-type", "").startswith(FORM_TYPES):
        # The gate has parsed (and consumed) form bodies; the signature
        # covers the raw JSON text anyway.
        return errors.json_error(415, "Send the payload as JSON (Content-Type: application/json).")
    body = await _capped_body(request)
    if body is None:
        return errors.json_error(413, TOO_LARGE)
    try:
        run_id = await run_in_threadpool(
            container(request).workflows.receive_webhook,
            request.path_params["token"],
            body,
            request.headers.get("x-signature"),
        )
    except WebhookError as exc:
        return errors.json_error(exc.status, str(exc))
    return JSONResponse({"run_id": run_id}, status_code=202)


routes = [route("/hooks/{token}", webhook, permission=PUBLIC, methods=["POST"], name="webhook")]
