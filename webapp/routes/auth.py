"""Sign in, sign out, first-run setup, forgotten and reset passwords."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from modules.datastore import ValidationError
from modules.logs import get_logger
from webapp.flash import flash
from webapp.forms.auth import ForgotForm, LoginForm, ResetForm, SetupForm
from webapp.gate import PUBLIC, SIGNED_IN, route, safe_next
from webapp.identity import SESSION_TOKEN_KEY
from webapp import usecases
from webapp.rendering import client_ip, container, redirect, render

log = get_logger("auth")
GENERIC_LOGIN_ERROR = "That email and password do not match an active account."
FORGOT_SENT = (
    "If an account uses that address, a link to choose a new password is on its way. "
    "It works once, for one hour."
)


def start_session(request: Request, user_id: int) -> None:
    """Sign the user in: a fresh server-side session and a fresh cookie
    (new CSRF token too), so nothing from before sign-in carries over."""
    token = container(request).tenants.start_session(
        user_id, ip=client_ip(request), user_agent=request.headers.get("user-agent", "")[:200]
    )
    request.session.clear()
    request.session[SESSION_TOKEN_KEY] = token


def login(request: Request) -> Response:
    """GET: the form. POST: check the password, start a session, go on."""
    if request.method == "GET":
        if request.scope.get("identity"):
            return RedirectResponse(safe_next(request.query_params.get("next")), status_code=303)
        if not container(request).tenants.has_users():
            return redirect(request, "setup")
    form = LoginForm(request.state.form, next=request.query_params.get("next", ""))
    if request.method == "POST" and form.validate():
        services = container(request)
        if not services.login_limiter.hit(client_ip(request)):
            form.form_errors.append("Too many sign-in attempts. Wait a minute and try again.")
            return render(request, "auth/login.html", {"form": form}, status=429)
        result = services.tenants.authenticate(form.username.data, form.password.data)
        if result.ok:
            start_session(request, result.user["id"])
            log.info("sign-in", extra={"user_id": result.user["id"]})
            return RedirectResponse(safe_next(form.next.data), status_code=303)
        log.info("sign-in refused", extra={"reason": result.reason, "ip": client_ip(request)})
        form.form_errors.append(GENERIC_LOGIN_ERROR)
        return render(request, "auth/login.html", {"form": form}, status=400)
    status = 400 if request.method == "POST" else 200
    return render(request, "auth/login.html", {"form": form}, status=status)


def logout(request: Request) -> Response:
    """End the session on the server and forget the cookie."""
    token = request.session.get(SESSION_TOKEN_KEY)
    if token:
        container(request).tenants.end_session(token)
    request.session.clear()
    flash(request, "You are signed out.", "info")
    return redirect(request, "login")


def setup(request: Request) -> Response:
    """First run only: create the platform account and its owner."""
    services = container(request)
    if services.tenants.has_users():
        raise HTTPException(404)
    form = SetupForm(request.state.form)
    if request.method == "POST" and form.validate():
        try:
            user_id = usecases.create_owner(
                services,
                form.account_name.data,
                form.username.data,
                form.display_name.data,
                form.password.data,
            )
        except ValidationError as exc:
            form.bind_errors(exc.fields)
        else:
            start_session(request, user_id)
            flash(request, "Welcome to Switchboard. Your operator account is ready.")
            return redirect(request, "home")
    status = 400 if request.method == "POST" else 200
    return render(request, "auth/setup.html", {"form": form}, status=status)


def forgot(request: Request) -> Response:
    """Mail a reset link; the same answer whether or not the address exists."""
    form = ForgotForm(request.state.form)
    if request.method == "POST" and form.validate():
        services = container(request)
        if services.login_limiter.hit("forgot:" + client_ip(request)):
            usecases.send_password_reset(services, form.username.data)
        flash(request, FORGOT_SENT, "info")
        return redirect(request, "login")
    status = 400 if request.method == "POST" else 200
    return render(request, "auth/password_forgot.html", {"form": form}, status=status)


def reset(request: Request) -> Response:
    """Choose a new password with the token from the mail."""
    token = request.query_params.get("token", "")
    form = ResetForm(request.state.form, token=token)
    if request.method == "POST" and form.validate():
        try:
            container(request).tenants.reset_password(form.token.data, form.password.data)
        except ValidationError as exc:
            form.bind_errors(exc.fields)
        else:
            request.session.clear()
            flash(request, "Your password is changed. Sign in with the new one.")
            return redirect(request, "login")
    status = 400 if request.method == "POST" else 200
    response = render(request, "auth/password_reset.html", {"form": form}, status=status)
    # The token is in this page's address: keep it out of Referer headers.
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


routes = [
    route("/login", login, permission=PUBLIC, methods=["GET", "POST"], name="login"),
    route("/logout", logout, permission=SIGNED_IN, methods=["POST"], name="logout"),
    route("/setup", setup, permission=PUBLIC, methods=["GET", "POST"], name="setup"),
    route(
        "/password/forgot",
        forgot,
        permission=PUBLIC,
        methods=["GET", "POST"],
        name="password_forgot",
    ),
    route(
        "/password/reset", reset, permission=PUBLIC, methods=["GET", "POST"], name="password_reset"
    ),
]
