"""`Tenants`: accounts, users, sign-in, sessions, reset tokens and API keys."""

from __future__ import annotations

from modules.tenants.accounts import AccountsMixin
from modules.tenants.apikeys import ApiKeysMixin
from modules.tenants.credentials import CredentialsMixin
from modules.tenants.sessions import SessionsMixin
from modules.tenants.users import UsersMixin


class Tenants(AccountsMixin, UsersMixin, CredentialsMixin, SessionsMixin, ApiKeysMixin):
    """Accounts and the people in them.

    Tenants(store, authz, hasher, *, max_failed_logins=5, lockout_minutes=15,
            session_idle_minutes=120, session_max_hours=24,
            reset_token_minutes=60, clock=utcnow)

    `store` must have the tenants ENTITIES (then the authz ones) registered;
    construction adds the cross-account indexes. Every user dict it returns
    lacks "password_hash" and "reset_token_hash" and has "has_password".
    Methods taking an account id never see or change another account's rows:
    readers return None, [] or False, writers raise `NotFoundError`.
    """
