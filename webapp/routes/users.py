"""The users of the signed-in user's account: list, create, edit, (de)activate,
reset mails, and the per-user access editor (allow/deny overrides).

Every handler works inside `identity.account_id` only: another account's
user id is a 404, whatever the method.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Iterable

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount

from modules.authz import SYSTEM_ROLES
from modules.datastore import NotFoundError, ValidationError, utcnow
from webapp import usecases
from webapp.container import Container
from webapp.flash import flash
from webapp.forms.roles import permission_groups, too_much
from webapp.forms.users import AccessForm, EditUserForm, NewUserForm, UserForm
from webapp.gate import route
from webapp.rendering import signed_in, container, redirect, render, render_for_target

PAGE_SIZE = 50
TABLE_PARTIAL = {"user-table": "users/_user_table.html"}


def _user_or_404(request: Request) -> dict[str, Any]:
    user = container(request).tenants.get_user(
        signed_in(request).account_id, request.path_params["user_id"]
    )
    if user is None:
        raise HTTPException(404)
    return user


def _role_sort_key(role: dict[str, Any]) -> tuple[int, str]:
    if role["system"] and role["name"] in SYSTEM_ROLES:
        return (SYSTEM_ROLES.index(role["name"]), "")
    return (len(SYSTEM_ROLES), role["name"].casefold())


def roles_of_users(
    services: Container, account_id: int, user_ids: list[int]
) -> dict[int, list[dict[str, Any]]]:
    """The roles of many users in one query (the list page shows 50 at once)."""
    found: dict[int, list[dict[str, Any]]] = defaultdict(list)
    if not user_ids:
        return found
    marks = ", ".join("?" for _ in user_ids)
    rows = services.db.execute(
        "SELECT ur.user, r.id, r.name, r.system FROM user_role ur "
        "JOIN role r ON r.id = ur.role AND r.account_id = ur.account_id "
        f"WHERE ur.account_id = ? AND ur.user IN ({marks})",
        (account_id, *user_ids),
    )
    for user_id, role_id, name, system in rows:
        found[user_id].append({"id": role_id, "name": name, "system": bool(system)})
    for roles in found.values():
        roles.sort(key=_role_sort_key)
    return found


# --- list ------------------------------------------------------------------------


def user_list(request: Request) -> Response:
    """The account's users, searched and paged; the table alone for htmx."""
    me = signed_in(request)
    services = container(request)
    search = request.query_params.get("q", "").strip()
    after = request.query_params.get("after") or None
    try:
        page = services.tenants.page_users(
            me.account_id, search=search or None, after=after, limit=PAGE_SIZE
        )
    except ValidationError:
        # A mangled cursor: start again from the first page.
        after = None
        page = services.tenants.page_users(me.account_id, search=search or None, limit=PAGE_SIZE)
    context = {
        "users": page.items,
        "roles": roles_of_users(services, me.account_id, [u["id"] for u in page.items]),
        "next_cursor": page.next_cursor,
        "q": search,
        "after": after,
        "now": utcnow(),
    }
    response = render_for_target(request, "users/user_list.html", TABLE_PARTIAL, context)
    response.headers["Vary"] = "HX-Target"
    return response


# --- create ----------------------------------------------------------------------


def _new_page(request: Request, form: NewUserForm, status: int = 200) -> Response:
    return render(request, "users/user_new.html", {"form": form}, status=status)


def _check_roles(request: Request, form: UserForm, current: Iterable[int] = ()) -> bool:
    """Refuse roles that would hand out more than the actor holds. Only roles
    being added count, so editing someone with more power than oneself (an
    Owner's name, say) still works."""
    me = signed_in(request)
    added = set(form.roles.data or ()) - set(current)
    if not added:
        return True
    excess = container(request).authz.exceeds_own(me.account_id, me.user_id, role_ids=added)
    if excess:
        form.roles.errors = [*form.roles.errors, too_much(excess)]
        return False
    return True


def user_new(request: Request) -> Response:
    """GET: the form. POST: create the user, then invite them or not."""
    me = signed_in(request)
    services = container(request)
    roles = services.authz.list_roles(me.account_id)
    if request.method == "GET":
        form = NewUserForm(roles=[r["id"] for r in roles if r["name"] == "Member" and r["system"]])
        form.set_role_choices(roles)
        return _new_page(request, form)
    form = NewUserForm(request.state.form)
    form.set_role_choices(roles)
    if not form.validate() or not _check_roles(request, form):
        return _new_page(request, form, 400)
    names = {r["id"]: r["name"] for r in roles}
    try:
        user_id = services.tenants.create_user(
            me.account_id,
            form.username.data,
            form.display_name.data,
            password=form.password.data if form.wants_password else None,
            role_names=[names[i] for i in form.roles.data],
        )
    except ValidationError as exc:
        form.bind_errors(exc.fields)
        return _new_page(request, form, 400)
    user = services.tenants.get_user(me.account_id, user_id)
    if form.wants_password:
        flash(request, f"{user['display_name']} can sign in now with the password you set.")
    else:
        usecases.invite_user(services, me.account_id, user_id, invited_by=me.display_name)
        flash(request, f"{user['display_name']} is added; an invitation is on its way.")
    return redirect(request, "users:edit", user_id=user_id)


# --- view and edit -------------------------------------------------------------------


def _user_page(
    request: Request, user: dict[str, Any], form: EditUserForm | None = None, status: int = 200
) -> Response:
    me = signed_in(request)
    services = container(request)
    held = services.authz.user_roles(me.account_id, user["id"])
    context = {"user": user, "user_roles": held, "now": utcnow(), "is_me": user["id"] == me.user_id}
    if not me.can("users.manage"):
        return render(request, "users/user_view.html", context, status=status)
    if form is None:
        form = EditUserForm(
            username=user["username"],
            display_name=user["display_name"],
            roles=[r["id"] for r in held],
        )
        form.set_role_choices(services.authz.list_roles(me.account_id))
    return render(request, "users/user_edit.html", {**context, "form": form}, status=status)


def user_view(request: Request) -> Response:
    """One user: the edit form for managers, a read-only page otherwise."""
    return _user_page(request, _user_or_404(request))


def user_update(request: Request) -> Response:
    """Save email, name and roles together (or nothing)."""
    me = signed_in(request)
    services = container(request)
    user = _user_or_404(request)
    form = EditUserForm(request.state.form)
    form.set_role_choices(services.authz.list_roles(me.account_id))
    current = [r["id"] for r in services.authz.user_roles(me.account_id, user["id"])]
    if not form.validate() or not _check_roles(request, form, current):
        return _user_page(request, user, form, 400)
    try:
        with services.db.transaction():
            services.tenants.update_user(
                me.account_id,
                user["id"],
                username=form.username.data,
                display_name=form.display_name.data,
            )
            services.authz.set_user_roles(me.account_id, user["id"], form.roles.data)
    except ValidationError as exc:
        form.bind_errors(exc.fields)
        return _user_page(request, user, form, 400)
    except NotFoundError:
        raise HTTPException(404) from None
    flash(request, "The changes are saved.")
    return redirect(request, "users:edit", user_id=user["id"])


def _set_active(request: Request, active: bool) -> Response:
    me = signed_in(request)
    user = _user_or_404(request)
    if not active and user["id"] == me.user_id:
        flash(request, "You cannot deactivate yourself.", "error")
        return redirect(request, "users:edit", user_id=user["id"])
    try:
        container(request).tenants.update_user(me.account_id, user["id"], active=active)
    except ValidationError as exc:
        for message in exc.fields.values():
            flash(request, message, "error")
    else:
        if active:
            flash(request, f"{user['display_name']} can sign in again.")
        else:
            flash(request, f"{user['display_name']} is deactivated and signed out everywhere.")
    return redirect(request, "users:edit", user_id=user["id"])


def user_deactivate(request: Request) -> Response:
    """No more sign-ins; their sessions end."""
    return _set_active(request, False)


def user_activate(request: Request) -> Response:
    """Allow sign-ins again."""
    return _set_active(request, True)


def user_send_reset(request: Request) -> Response:
    """Mail the user a link to choose a new password."""
    user = _user_or_404(request)
    if usecases.send_password_reset(container(request), user["username"]):
        flash(request, f"A password reset link is on its way to {user['username']}.")
    else:
        flash(request, "Inactive users, and users of suspended accounts, get no link.", "error")
    return redirect(request, "users:edit", user_id=user["id"])


# --- access editor ------------------------------------------------------------------


def _role_grants(services: Container, account_id: int, user_id: int) -> set[str]:
    held = {r["id"] for r in services.authz.user_roles(account_id, user_id)}
    grants: set[str] = set()
    for role in services.authz.list_roles(account_id):
        if role["id"] in held:
            grants.update(role["permissions"])
    return grants


def _check_access(
    request: Request, form: AccessForm, acl: dict[str, str], role_grants: set[str]
) -> bool:
    """Refuse overrides that hand out what the actor does not hold: a new
    allow, or a deny lifted from something the user's roles grant."""
    me = signed_in(request)
    granting = set()
    for key, choice in form.choices.items():
        before = acl.get(key)
        if choice == "allow" and before != "allow":
            granting.add(key)
        elif choice != "deny" and before == "deny" and key in role_grants:
            granting.add(key)
    if not granting:
        return True
    excess = container(request).authz.exceeds_own(me.account_id, me.user_id, permissions=granting)
    for key in excess:
        form.add_error(key, "You do not hold this permission yourself.")
    if excess:
        form.form_errors.append(too_much(excess))
    return not excess


def user_access(request: Request) -> Response:
    """Per-permission inherit / allow / deny for one user."""
    me = signed_in(request)
    services = container(request)
    user = _user_or_404(request)
    acl = services.authz.user_acl(me.account_id, user["id"])
    groups = permission_groups(services.authz.grantable_permissions(me.account_id), acl)
    keys = [row.key for _, rows in groups for row in rows]
    role_grants = _role_grants(services, me.account_id, user["id"])
    status = 200
    if request.method == "GET":
        form = AccessForm.from_acl(keys, acl)
    else:
        form = AccessForm.from_formdata(keys, request.state.form)
        if form.validate() and _check_access(request, form, acl, role_grants):
            try:
                services.authz.set_user_acl(me.account_id, user["id"], form.entries())
            except ValidationError as exc:
                form.bind_errors(exc.fields)
            except NotFoundError:
                raise HTTPException(404) from None
            else:
                flash(request, f"The individual permissions of {user['display_name']} are saved.")
                return redirect(request, "users:access", user_id=user["id"])
        status = 400
    context = {
        "user": user,
        "form": form,
        "groups": groups,
        "role_grants": role_grants,
        "effective": services.authz.effective_permissions(me.account_id, user["id"]),
    }
    return render(request, "users/user_access.html", context, status=status)


mount = Mount(
    "/users",
    routes=[
        route("/", user_list, permission="users.view", name="list"),
        route("/new", user_new, permission="users.manage", methods=["GET", "POST"], name="new"),
        route("/{user_id:int}", user_view, permission="users.view", name="edit"),
        route(
            "/{user_id:int}",
            user_update,
            permission="users.manage",
            methods=["POST"],
            name="edit",
        ),
        route(
            "/{user_id:int}/deactivate",
            user_deactivate,
            permission="users.manage",
            methods=["POST"],
            name="deactivate",
        ),
        route(
            "/{user_id:int}/activate",
            user_activate,
            permission="users.manage",
            methods=["POST"],
            name="activate",
        ),
        route(
            "/{user_id:int}/reset",
            user_send_reset,
            permission="users.manage",
            methods=["POST"],
            name="send_reset",
        ),
        route(
            "/{user_id:int}/access",
            user_access,
            permission="roles.manage",
            methods=["GET", "POST"],
            name="access",
        ),
    ],
    name="users",
)
