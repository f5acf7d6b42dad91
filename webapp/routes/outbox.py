"""The outbox screens: every mail Switchboard sends, and where it stands.

The list shows envelopes only (`outbox.view`). Bodies carry live reset and
invitation links, so reading one, and retrying, need `outbox.manage`.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount

from modules.datastore import ValidationError
from modules.email import FAILED, STATUSES
from webapp.flash import flash
from webapp.gate import route
from webapp.rendering import container, redirect, render

PAGE_SIZE = 50
STALE_CURSOR = "That page link is no longer valid; here is the first page."


def outbox_list(request: Request) -> Response:
    """The outbox, newest first, optionally of one status."""
    mailer = container(request).mailer
    status = request.query_params.get("status") or None
    if status not in STATUSES:
        status = None
    after = request.query_params.get("after") or None
    notice = None
    try:
        page = mailer.outbox_page(status=status, after=after, limit=PAGE_SIZE)
    except ValidationError:
        notice, after = STALE_CURSOR, None
        page = mailer.outbox_page(status=status, limit=PAGE_SIZE)
    context = {
        "page": page,
        "status": status,
        "statuses": STATUSES,
        "counts": {s: mailer.count(s) for s in STATUSES},
        "total": mailer.count(),
        "paged": after is not None,
        "notice": notice,
        "smtp_configured": bool(container(request).settings.smtp_host),
    }
    return render(request, "outbox/mail_list.html", context)


def outbox_view(request: Request) -> Response:
    """One mail with its text body (which may hold a reset link)."""
    mail = container(request).mailer.get(request.path_params["mail_id"])
    if mail is None:
        raise HTTPException(404)
    response = render(request, "outbox/mail_view.html", {"mail": mail, "failed": FAILED})
    # The body may be a live password-reset link: keep it out of every cache.
    response.headers["Cache-Control"] = "no-store"
    return response


def outbox_retry(request: Request) -> Response:
    """Queue a failed mail again."""
    mailer = container(request).mailer
    mail_id = request.path_params["mail_id"]
    if mailer.get(mail_id) is None:
        raise HTTPException(404)
    if mailer.retry(mail_id):
        flash(request, "The mail is queued again.")
    else:
        flash(request, "Only failed mail can be retried; this one has not failed.", "warning")
    return redirect(request, "outbox:view", mail_id=mail_id)


mount = Mount(
    "/outbox",
    routes=[
        route("/", outbox_list, permission="outbox.view", name="list"),
        route("/{mail_id:int}", outbox_view, permission="outbox.manage", name="view"),
        route(
            "/{mail_id:int}/retry",
            outbox_retry,
            permission="outbox.manage",
            methods=["POST"],
            name="retry",
        ),
    ],
    name="outbox",
)
