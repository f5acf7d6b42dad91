"""The platform's accounts screens: list and search, create, rename, suspend.

Platform staff only: `accounts.*` permissions work inside the platform
account alone, so the gate refuses everyone else.
"""

from __future__ import annotations

from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount

from modules.datastore import NotFoundError, ValidationError
from webapp import usecases
from webapp.container import Container
from webapp.flash import flash
from webapp.forms.accounts import AccountForm, NewAccountForm
from webapp.gate import route
from webapp.rendering import container, redirect, render, render_for_target

VIEW = "accounts.view"
MANAGE = "accounts.manage"
PAGE_SIZE = 50
STALE_CURSOR = "That page link is no longer valid; here is the first page."
# create_user names its fields after the user; the form names them after the owner.
OWNER_FIELDS = {"username": "owner_email", "display_name": "owner_name"}


def _account_or_404(services: Container, account_id: int) -> dict[str, Any]:
    account = services.tenants.get_account(account_id)
    if account is None:
        raise HTTPException(404)
    return account


def account_list(request: Request) -> Response:
    """Accounts by name, with active search; only the table for htmx."""
    query = request.query_params.get("q", "").strip()
    after = request.query_params.get("after") or None
    tenants = container(request).tenants
    notice = None
    try:
        page = tenants.page_accounts(search=query or None, after=after, limit=PAGE_SIZE)
    except ValidationError:
        notice, after = STALE_CURSOR, None
        page = tenants.page_accounts(search=query or None, limit=PAGE_SIZE)
    response = render_for_target(
        request,
        "accounts/account_list.html",
        {"account-table": "accounts/_account_table.html"},
        {"page": page, "q": query, "paged": after is not None, "notice": notice},
    )
    # The same address answers a page or a fragment: caches must tell them apart.
    response.headers["Vary"] = "HX-Target"
    return response


def _create_account(services: Container, form: NewAccountForm, invited_by: str) -> int:
    """The account, its first Owner and their invitation: all or nothing."""
    with services.db.transaction():
        account_id = services.tenants.create_account(form.name.data)
        if form.owner is None:
            return account_id
        email, name = form.owner
        try:
            user_id = services.tenants.create_user(
                account_id, email, name, password=None, role_names=("Owner",)
            )
            usecases.invite_user(services, account_id, user_id, invited_by=invited_by)
        except ValidationError as exc:
            fields = {OWNER_FIELDS.get(k, k): v for k, v in exc.fields.items()}
            raise ValidationError(fields) from exc
        except ValueError as exc:  # the mailer refused the address
            raise ValidationError({"owner_email": f"No invitation can go there: {exc}."}) from exc
    return account_id


def account_new(request: Request) -> Response:
    """GET: the form. POST: create the account (and invite its first owner)."""
    form = NewAccountForm(request.state.form)
    if request.method == "POST" and form.validate():
        services = container(request)
        try:
            account_id = _create_account(services, form, request.scope["identity"].display_name)
        except ValidationError as exc:
            form.bind_errors(exc.fields)
        else:
            flash(request, f"Account {services.tenants.get_account(account_id)['name']} created.")
            if form.owner:
                flash(request, f"An invitation is on its way to {form.owner[0]}.", "info")
            return redirect(request, "accounts:edit", account_id=account_id)
    status = 400 if request.method == "POST" else 200
    return render(request, "accounts/account_new.html", {"form": form}, status=status)


def _edit_page(
    request: Request, account: dict[str, Any], form: AccountForm | None = None, status: int = 200
) -> Response:
    context = {
        "account": account,
        "form": form or AccountForm(name=account["name"]),
        "user_count": container(request).tenants.count_users(account["id"]),
    }
    return render(request, "accounts/account_edit.html", context, status=status)


def account_edit(request: Request) -> Response:
    """The account's details; its name form for those who may manage accounts."""
    account = _account_or_404(container(request), request.path_params["account_id"])
    return _edit_page(request, account)


def account_update(request: Request) -> Response:
    """Rename the account."""
    services = container(request)
    account = _account_or_404(services, request.path_params["account_id"])
    form = AccountForm(request.state.form)
    if form.validate():
        try:
            services.tenants.update_account(account["id"], name=form.name.data)
        except NotFoundError as exc:
            raise HTTPException(404) from exc
        except ValidationError as exc:
            form.bind_errors(exc.fields)
        else:
            flash(request, "The account's name is saved.")
            return redirect(request, "accounts:edit", account_id=account["id"])
    return _edit_page(request, account, form, status=400)


def _set_status(request: Request, status: str, done: str) -> Response:
    account_id = request.path_params["account_id"]
    try:
        container(request).tenants.set_account_status(account_id, status)
    except NotFoundError as exc:
        raise HTTPException(404) from exc
    except ValidationError as exc:
        for message in exc.fields.values():
            flash(request, message, "error")
    else:
        flash(request, done)
    return redirect(request, "accounts:edit", account_id=account_id)


def suspend(request: Request) -> Response:
    """Suspend the account: its users are signed out and cannot sign in."""
    return _set_status(
        request, "suspended", "The account is suspended. Its users can no longer sign in."
    )


def activate(request: Request) -> Response:
    """Make a suspended account active again."""
    return _set_status(request, "active", "The account is active again.")


mount = Mount(
    "/accounts",
    routes=[
        route("/", account_list, permission=VIEW, name="list"),
        route("/new", account_new, permission=MANAGE, methods=["GET", "POST"], name="new"),
        # One page, two permissions: the gate takes one per route, so reading and
        # saving are two routes under one name (url_for finds the GET first).
        route("/{account_id:int}", account_edit, permission=VIEW, name="edit"),
        route(
            "/{account_id:int}", account_update, permission=MANAGE, methods=["POST"], name="edit"
        ),
        route(
            "/{account_id:int}/suspend",
            suspend,
            permission=MANAGE,
            methods=["POST"],
            name="suspend",
        ),
        route(
            "/{account_id:int}/activate",
            activate,
            permission=MANAGE,
            methods=["POST"],
            name="activate",
        ),
    ],
    name="accounts",
)
