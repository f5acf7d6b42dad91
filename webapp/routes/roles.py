"""The roles of the signed-in user's account: list, create, edit and delete
custom roles; system roles are shown read-only.

Every handler works inside `identity.account_id` only: another account's
role id is a 404, whatever the method.
"""

from __future__ import annotations

from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount

from modules.authz.service import SYSTEM_ROLE_REFUSED
from modules.datastore import NotFoundError, ValidationError
from webapp.flash import flash
from webapp.forms.roles import RoleForm, permission_groups, too_much
from webapp.gate import route
from webapp.rendering import signed_in, container, redirect, render


def _role_or_404(request: Request) -> dict[str, Any]:
    role = container(request).authz.get_role(
        signed_in(request).account_id, request.path_params["role_id"]
    )
    if role is None:
        raise HTTPException(404)
    return role


def _groups(request: Request, held: list[str]) -> list:
    authz = container(request).authz
    return permission_groups(authz.grantable_permissions(signed_in(request).account_id), held)


def _check_permissions(request: Request, form: RoleForm, current: list[str]) -> bool:
    """Refuse to add permissions the actor does not hold: whoever holds the
    role (the actor included) would get them."""
    me = signed_in(request)
    added = set(form.permissions.data or ()) - set(current)
    if not added:
        return True
    excess = container(request).authz.exceeds_own(me.account_id, me.user_id, permissions=added)
    if excess:
        form.permissions.errors = [*form.permissions.errors, too_much(excess)]
    return not excess


def role_list(request: Request) -> Response:
    """System roles first, then custom ones, with permission and user counts."""
    roles = container(request).authz.list_roles(signed_in(request).account_id)
    return render(request, "roles/role_list.html", {"roles": roles})


def _form_page(
    request: Request, form: RoleForm, role: dict[str, Any] | None, status: int = 200
) -> Response:
    held = (role or {}).get("permissions", [])
    context = {"form": form, "role": role, "groups": _groups(request, held)}
    return render(request, "roles/role_form.html", context, status=status)


def role_new(request: Request) -> Response:
    """GET: an empty form. POST: create the custom role."""
    me = signed_in(request)
    if request.method == "GET":
        return _form_page(request, RoleForm(), None)
    form = RoleForm(request.state.form)
    if not form.validate() or not _check_permissions(request, form, []):
        return _form_page(request, form, None, 400)
    try:
        role_id = container(request).authz.create_role(
            me.account_id, form.name.data, form.description.data, form.permissions.data
        )
    except ValidationError as exc:
        form.bind_errors(exc.fields)
        return _form_page(request, form, None, 400)
    flash(request, f"The role {form.name.data} is created.")
    return redirect(request, "roles:edit", role_id=role_id)


def _view_page(
    request: Request, role: dict[str, Any], status: int = 200, error: str = ""
) -> Response:
    context = {"role": role, "groups": _groups(request, role["permissions"]), "error": error}
    return render(request, "roles/role_view.html", context, status=status)


def role_view(request: Request) -> Response:
    """A custom role's form for managers; otherwise (and for system roles) read-only."""
    role = _role_or_404(request)
    if role["system"] or not signed_in(request).can("roles.manage"):
        return _view_page(request, role)
    form = RoleForm(
        name=role["name"], description=role["description"], permissions=role["permissions"]
    )
    return _form_page(request, form, role)


def role_update(request: Request) -> Response:
    """Save a custom role (name, description, the whole set of permissions)."""
    me = signed_in(request)
    role = _role_or_404(request)
    if role["system"]:
        return _view_page(request, role, 400, SYSTEM_ROLE_REFUSED)
    form = RoleForm(request.state.form)
    if not form.validate() or not _check_permissions(request, form, role["permissions"]):
        return _form_page(request, form, role, 400)
    try:
        container(request).authz.update_role(
            me.account_id,
            role["id"],
            name=form.name.data,
            description=form.description.data,
            permissions=form.permissions.data,
        )
    except ValidationError as exc:
        form.bind_errors(exc.fields)
        return _form_page(request, form, role, 400)
    except NotFoundError:
        raise HTTPException(404) from None
    flash(request, f"The role {form.name.data} is saved.")
    return redirect(request, "roles:edit", role_id=role["id"])


def role_delete(request: Request) -> Response:
    """Remove a custom role; the people holding it lose what it granted."""
    me = signed_in(request)
    role = _role_or_404(request)
    try:
        container(request).authz.delete_role(me.account_id, role["id"])
    except ValidationError as exc:  # a system role
        for message in exc.fields.values():
            flash(request, message, "error")
        return redirect(request, "roles:edit", role_id=role["id"])
    except NotFoundError:
        raise HTTPException(404) from None
    flash(request, f"The role {role['name']} is deleted.")
    return redirect(request, "roles:list")


mount = Mount(
    "/roles",
    routes=[
        route("/", role_list, permission="roles.view", name="list"),
        route("/new", role_new, permission="roles.manage", methods=["GET", "POST"], name="new"),
        route("/{role_id:int}", role_view, permission="roles.view", name="edit"),
        route(
            "/{role_id:int}",
            role_update,
            permission="roles.manage",
            methods=["POST"],
            name="edit",
        ),
        route(
            "/{role_id:int}/delete",
            role_delete,
            permission="roles.manage",
            methods=["POST"],
            name="delete",
        ),
    ],
    name="roles",
)
