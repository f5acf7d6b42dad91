"""Signing in, lockout, password changes and password-reset tokens."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from modules.datastore import NotFoundError, ValidationError
from modules.logs import get_logger
from modules.tenants._base import (
    USER_COLUMNS,
    USER_SELECT,
    TenantsBase,
    normalize_username,
    public_user,
    token_hash,
    user_from_row,
)

log = get_logger("tenants.credentials")

INVALID_RESET = "This reset link is invalid or has expired."
_USER_AND_ACCOUNT_STATUS = (
    f"SELECT {USER_SELECT}, a.status FROM user u JOIN account a ON a.id = u.account_id "
)


@dataclass(frozen=True)
class AuthResult:
    """The outcome of `authenticate`.

    `reason` is "ok", "invalid", "locked" or "inactive"; it is for logs, not
    for the person signing in (tell them one generic message). `user` is set
    only when `ok`.
    """

    ok: bool
    user: dict[str, Any] | None
    reason: str


class CredentialsMixin(TenantsBase):
    """Passwords: checking, locking out, changing and resetting them."""

    def authenticate(self, username: str, password: str) -> AuthResult:
        """Check a username and password.

        A wrong password counts towards the lockout; at `max_failed_logins`
        the user is locked for `lockout_minutes`, during which even the right
        password gives "locked". Users who are deactivated, or whose account
        is suspended, get "inactive" (only once the password is right).
        """
        row = self._db.execute_one(
            _USER_AND_ACCOUNT_STATUS + "WHERE u.username = ?", (normalize_username(username),)
        )
        if row is None or row["password_hash"] is None or not isinstance(password, str):
            # Spend the time a real check takes, so timing says nothing.
            self._hasher.dummy_verify()
            log.info("sign-in refused: unknown username or no password set")
            return AuthResult(False, None, "invalid")
        user = user_from_row(row)
        account_active = row[len(USER_COLUMNS)] == "active"
        matches = self._hasher.verify(password, user["password_hash"])
        now = self._now()
        with self._db.transaction():
            # Read the counters again under the write lock: another worker may
            # have counted a failure since.
            current = self._t.user.get(user["account_id"], user["id"])
            if current is None:
                return AuthResult(False, None, "invalid")
            reason = self._login_outcome(current, matches, account_active, now)
        if reason == "ok":
            log.info("user %s signed in", user["id"])
            signed_in = {**current, "failed_logins": 0, "locked_until": None, "last_login_at": now}
            return AuthResult(True, public_user(signed_in), "ok")
        log.warning("sign-in refused for user %s: %s", user["id"], reason)
        return AuthResult(False, None, reason)

    def _login_outcome(
        self, user: dict[str, Any], matches: bool, account_active: bool, now: datetime
    ) -> str:
        """Decide, and write the counters, inside the caller's transaction."""
        account_id, user_id = user["account_id"], user["id"]
        locked_until = user["locked_until"]
        if locked_until is not None and locked_until > now:
            return "locked"
        if not matches:
            # A lockout that has run out starts the count afresh.
            failed = (0 if locked_until is not None else user["failed_logins"] or 0) + 1
            lock = None
            if failed >= self._limits.max_failed_logins:
                lock = now + self._limits.lockout
                log.warning("user %s locked out until %s", user_id, lock.isoformat())
            self._t.user.update(
                account_id, user_id, {"failed_logins": failed, "locked_until": lock}
            )
            return "locked" if lock else "invalid"
        if not user["active"] or not account_active:
            return "inactive"
        self._t.user.update(
            account_id, user_id, {"failed_logins": 0, "locked_until": None, "last_login_at": now}
        )
        return "ok"

    def set_password(
        self, user_id: int, password: str, *, keep_session_token: str | None = None
    ) -> None:
        """Give the user a new password (policy-checked). Ends all their
        sessions except the one whose token is given, and clears any reset
        token and lockout."""
        user = self._user_record(user_id)
        if user is None:
            raise NotFoundError(f"no user {user_id}")
        self._check_password(user["username"], password)
        ended = self._store_password(user_id, self._hasher.hash(password), keep_session_token)
        log.info("user %s changed password; %d other sessions ended", user_id, ended)

    def create_reset_token(self, username: str) -> tuple[dict[str, Any], str] | None:
        """A new password-reset token for an active user of an active account
        (replacing any earlier one): (user, raw token). None when there is no
        such user. Only the token's hash is stored; send the raw token."""
        row = self._db.execute_one(
            _USER_AND_ACCOUNT_STATUS + "WHERE u.username = ?", (normalize_username(username),)
        )
        if row is None:
            return None
        user = user_from_row(row)
        if not user["active"] or row[len(USER_COLUMNS)] != "active":
            return None
        raw = secrets.token_urlsafe(32)
        now = self._now()
        values = {"reset_token_hash": token_hash(raw), "reset_token_created_at": now}
        self._t.user.update(user["account_id"], user["id"], values)
        log.info("password reset token issued for user %s", user["id"])
        return public_user({**user, **values}), raw

    def reset_password(self, token: str, password: str) -> int:
        """Set a new password with a reset token; returns the user's id.

        The token works once, for `reset_token_minutes`. Success ends all the
        user's sessions and clears the lockout.
        """
        if not isinstance(token, str) or not token:
            raise ValidationError({"token": INVALID_RESET})
        hashed = token_hash(token)
        row = self._db.execute_one(
            _USER_AND_ACCOUNT_STATUS + "WHERE u.reset_token_hash = ?", (hashed,)
        )
        if row is None:
            raise ValidationError({"token": INVALID_RESET})
        user = user_from_row(row)
        created = user["reset_token_created_at"]
        usable = user["active"] and row[len(USER_COLUMNS)] == "active"
        if not usable or created is None or self._now() >= created + self._limits.reset_token:
            self._db.execute_write(
                "UPDATE user SET reset_token_hash = NULL, reset_token_created_at = NULL "
                "WHERE id = ? AND reset_token_hash = ?",
                (user["id"], hashed),
            )
            raise ValidationError({"token": INVALID_RESET})
        self._check_password(user["username"], password)
        password_hash = self._hasher.hash(password)
        with self._db.transaction() as conn:
            # Claim the token: only one of two concurrent uses gets a row.
            claimed = conn.execute(
                "UPDATE user SET reset_token_hash = NULL WHERE id = ? AND reset_token_hash = ?",
                (user["id"], hashed),
            ).rowcount
            if not claimed:
                raise ValidationError({"token": INVALID_RESET})
            ended = self._store_password(user["id"], password_hash)
        log.info("user %s reset their password; %d sessions ended", user["id"], ended)
        return user["id"]
