"""Operations that span several modules (people + mail, say).

Modules may not depend on each other out of order, so the web layer, which
sees them all, composes them here; handlers stay thin.
"""

from __future__ import annotations

from urllib.parse import urlencode

from modules.logs import get_logger
from webapp.container import Container

log = get_logger("usecases")


def create_owner(
    services: Container, account_name: str, username: str, display_name: str, password: str
) -> int:
    """The platform account and its first Owner, together or not at all."""
    with services.db.transaction():
        account_id = services.tenants.create_account(account_name, platform=True)
        return services.tenants.create_user(
            account_id, username, display_name, password=password, role_names=("Owner",)
        )


def add_platform_owner(services: Container, username: str, display_name: str, password: str) -> int:
    """An Owner in the platform account; creates that account on a new install."""
    with services.db.transaction():
        account_id = services.tenants.platform_account_id()
        if account_id is None:
            account_id = services.tenants.create_account("Operators", platform=True)
        return services.tenants.create_user(
            account_id, username, display_name, password=password, role_names=("Owner",)
        )


def reset_url(services: Container, token: str) -> str:
    """The absolute link a mail carries to the reset page."""
    return f"{services.settings.base_url}/password/reset?{urlencode({'token': token})}"


def send_password_reset(services: Container, username: str) -> bool:
    """Mail a reset link when an active user has this address. The caller
    shows the same message either way."""
    found = services.tenants.create_reset_token(username)
    if found is None:
        log.info("password reset asked for an unknown address")
        return False
    user, token = found
    services.mailer.queue(
        user["username"],
        "password_reset",
        {
            "display_name": user["display_name"],
            "reset_url": reset_url(services, token),
            "expires_minutes": services.tenants.reset_token_minutes,
            "product": "Switchboard",
        },
    )
    return True


def invite_user(services: Container, account_id: int, user_id: int, invited_by: str) -> None:
    """Mail a new user a link to choose their password."""
    user = services.tenants.get_user(account_id, user_id)
    account = services.tenants.get_account(account_id)
    if user is None or account is None:
        return
    found = services.tenants.create_reset_token(user["username"])
    if found is None:
        return
    _, token = found
    services.mailer.queue(
        user["username"],
        "invite",
        {
            "display_name": user["display_name"],
            "account_name": account["name"],
            "invited_by": invited_by,
            "reset_url": reset_url(services, token),
            "expires_minutes": services.tenants.reset_token_minutes,
        },
    )
