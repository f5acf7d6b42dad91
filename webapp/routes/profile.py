"""The profile page: own name, own password, own API keys."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from modules.datastore import ValidationError
from webapp.flash import flash
from webapp.forms.auth import ChangePasswordForm
from webapp.forms.profile import ApiKeyForm, ProfileForm
from webapp.gate import SIGNED_IN, route
from webapp.rendering import container, redirect, render


def _page(request: Request, status: int = 200, **forms) -> Response:
    me = request.scope["identity"]
    services = container(request)
    user = services.tenants.get_user(me.account_id, me.user_id)
    context = {
        "user": user,
        "account": services.tenants.get_account(me.account_id),
        "profile_form": forms.get("profile_form") or ProfileForm(display_name=user["display_name"]),
        "password_form": forms.get("password_form") or ChangePasswordForm(),
        "key_form": forms.get("key_form") or ApiKeyForm(),
        "keys": services.tenants.list_api_keys(me.account_id, me.user_id),
        "new_key": forms.get("new_key"),
        "roles": services.authz.user_roles(me.account_id, me.user_id),
    }
    return render(request, "profile/profile_view.html", context, status=status)


def profile(request: Request) -> Response:
    """Show the profile."""
    return _page(request)


def update_profile(request: Request) -> Response:
    """Change the display name."""
    me = request.scope["identity"]
    form = ProfileForm(request.state.form)
    if not form.validate():
        return _page(request, 400, profile_form=form)
    container(request).tenants.update_user(
        me.account_id, me.user_id, display_name=form.display_name.data
    )
    flash(request, "Your name is saved.")
    return redirect(request, "profile")


def change_password(request: Request) -> Response:
    """Change the password (the current one is asked again); other sessions end."""
    me = request.scope["identity"]
    tenants = container(request).tenants
    form = ChangePasswordForm(request.state.form)
    if form.validate():
        if not tenants.authenticate(me.username, form.current_password.data).ok:
            form.current_password.errors = ["That is not your current password."]
        else:
            try:
                tenants.set_password(
                    me.user_id, form.password.data, keep_session_token=me.session_token
                )
            except ValidationError as exc:
                form.bind_errors(exc.fields)
            else:
                flash(request, "Your password is changed. Your other sessions were signed out.")
                return redirect(request, "profile")
    return _page(request, 400, password_form=form)


def create_key(request: Request) -> Response:
    """Create an API key; its value is shown on this response only."""
    me = request.scope["identity"]
    form = ApiKeyForm(request.state.form)
    if not form.validate():
        return _page(request, 400, key_form=form)
    _, raw = container(request).tenants.create_api_key(me.account_id, me.user_id, form.name.data)
    response = _page(request, 201, new_key={"name": form.name.data, "value": raw})
    response.headers["Cache-Control"] = "no-store"
    return response


def revoke_key(request: Request) -> Response:
    """Revoke one of one's own keys."""
    me = request.scope["identity"]
    key_id = request.path_params["key_id"]
    if container(request).tenants.revoke_api_key(me.account_id, me.user_id, key_id):
        flash(request, "The key is revoked; anything using it is now refused.")
    else:
        flash(request, "No such key.", "error")
    return redirect(request, "profile")


routes = [
    route("/profile", profile, permission=SIGNED_IN, name="profile"),
    route(
        "/profile", update_profile, permission=SIGNED_IN, methods=["POST"], name="profile_update"
    ),
    route(
        "/profile/password",
        change_password,
        permission=SIGNED_IN,
        methods=["POST"],
        name="profile_password",
    ),
    route(
        "/profile/keys",
        create_key,
        permission=SIGNED_IN,
        methods=["POST"],
        name="profile_key_create",
    ),
    route(
        "/profile/keys/{key_id:int}/revoke",
        revoke_key,
        permission=SIGNED_IN,
        methods=["POST"],
        name="profile_key_revoke",
    ),
]
