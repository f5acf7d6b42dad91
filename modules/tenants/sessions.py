"""Server-side sessions: a random token in the cookie, its hash in the table.

A session ends when it has been idle for `session_idle_minutes`, when it is
older than `session_max_hours`, when the user signs out, changes or resets
their password, or is deactivated.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from modules.datastore import NotFoundError
from modules.logs import get_logger
from modules.tenants._base import (
    TOUCH_INTERVAL,
    USER_COLUMNS,
    USER_SELECT,
    TenantsBase,
    iso,
    public_user,
    token_hash,
    user_from_row,
)

log = get_logger("tenants.sessions")

MAX_IP = 64
MAX_USER_AGENT = 512
_RESOLVE = (
    f"SELECT {USER_SELECT}, s.id, s.created_at, s.last_seen_at, a.status "
    "FROM user_session s JOIN user u ON u.id = s.user JOIN account a ON a.id = u.account_id "
    "WHERE s.token_hash = ?"
)


class SessionsMixin(TenantsBase):
    """Starting, resolving and ending sessions."""

    def start_session(self, user_id: int, *, ip: str = "", user_agent: str = "") -> str:
        """A new session for the user; returns the raw token (for the cookie).
        Start a new one at sign-in rather than reusing an old one."""
        if self._user_record(user_id) is None:
            raise NotFoundError(f"no user {user_id}")
        raw = secrets.token_urlsafe(32)
        now = self._now()
        self._t.session.insert(
            {
                "token_hash": token_hash(raw),
                "user": user_id,
                "created_at": now,
                "last_seen_at": now,
                "ip": str(ip or "")[:MAX_IP],
                "user_agent": str(user_agent or "")[:MAX_USER_AGENT],
            }
        )
        return raw

    def resolve_session(self, token: str, *, write: bool = True) -> dict[str, Any] | None:
        """The signed-in user (with "account_id") for a session token, or None
        when the session is unknown or expired, the user inactive or the
        account suspended. Expired sessions met here are deleted, and
        last_seen_at is refreshed once a minute.

        With `write=False` it only reads (for callers that must not wait on
        the write lock): the user then carries "session_touch_due" when
        `touch_session(token)` should be called."""
        if not isinstance(token, str) or not token:
            return None
        row = self._db.execute_one(_RESOLVE, (token_hash(token),))
        if row is None:
            return None
        session_id, created_raw, seen_raw, status = tuple(row)[len(USER_COLUMNS) :]
        now = self._now()
        created = datetime.fromisoformat(created_raw) if created_raw else None
        seen = datetime.fromisoformat(seen_raw) if seen_raw else created
        if created is None or seen is None or self._expired(created, seen, now):
            if write:
                self._t.session.delete(session_id)
            return None
        user = user_from_row(row)
        if not user["active"] or status != "active":
            return None
        due = now - seen >= TOUCH_INTERVAL
        if due and write:
            self._t.session.update(session_id, {"last_seen_at": now})
        public = public_user(user)
        if due and not write:
            public["session_touch_due"] = True
        return public

    def touch_session(self, token: str) -> None:
        """Record that the session of `token` was used just now."""
        self._db.execute_write(
            "UPDATE user_session SET last_seen_at = ? WHERE token_hash = ?",
            (iso(self._now()), token_hash(token)),
        )

    def _expired(self, created: datetime, seen: datetime, now: datetime) -> bool:
        return now - created >= self._limits.session_max or now - seen >= self._limits.session_idle

    def end_session(self, token: str) -> bool:
        """Sign out: delete the session of this token; False when there was none."""
        if not isinstance(token, str) or not token:
            return False
        return (
            self._db.execute_write(
                "DELETE FROM user_session WHERE token_hash = ?", (token_hash(token),)
            ).rowcount
            > 0
        )

    def end_user_sessions(self, user_id: int, *, except_token: str | None = None) -> int:
        """End every session of the user (except the one of `except_token`);
        returns how many ended."""
        ended = self._delete_sessions(user_id, except_token)
        log.info("%d sessions of user %s ended", ended, user_id)
        return ended

    def purge_expired_sessions(self) -> int:
        """Delete every idle or too-old session; returns how many."""
        now = self._now()
        removed = self._db.execute_write(
            "DELETE FROM user_session WHERE created_at IS NULL OR created_at <= ? "
            "OR coalesce(last_seen_at, created_at) <= ?",
            (iso(now - self._limits.session_max), iso(now - self._limits.session_idle)),
        ).rowcount
        if removed:
            log.info("%d expired sessions purged", removed)
        return removed
