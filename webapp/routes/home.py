"""The start page: a short overview of the signed-in user's account."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from webapp.gate import SIGNED_IN, route
from webapp.rendering import container, render


def home(request: Request) -> Response:
    """The dashboard."""
    me = request.scope["identity"]
    services = container(request)
    context = {
        "account": services.tenants.get_account(me.account_id),
        "user_count": services.tenants.count_users(me.account_id) if me.can("users.view") else None,
        "role_count": (
            len(services.authz.list_roles(me.account_id)) if me.can("roles.view") else None
        ),
        "outbox_queued": services.mailer.count("queued") if me.can("outbox.view") else None,
    }
    return render(request, "home/index.html", context)


routes = [route("/", home, permission=SIGNED_IN, name="home")]
