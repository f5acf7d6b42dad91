"""State and helpers shared by the parts of `Tenants`.

`Tenants` is one object with one flat API; its methods live in one file per
concern (accounts, users, login, sessions, API keys) as mixins of this base,
which holds the shared state and the few primitives several concerns use.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, NamedTuple

from modules.authz import Authz
from modules.datastore import DAO, Datastore, NotFoundError, ScopedDAO, ValidationError, utcnow
from modules.tenants.entities import USER, create_global_indexes
from modules.tenants.passwords import PasswordHasher, password_problems

# Never leave the module in a user dict.
SECRET_FIELDS = ("password_hash", "reset_token_hash")
# The user columns, in order, for hand-written joins: "u.id, u.account_id, ...".
USER_COLUMNS = ("id", "account_id", *USER.field_names)
USER_SELECT = ", ".join("u." + c for c in USER_COLUMNS)
_USER_TYPES = {f.name: f.type for f in USER.fields}

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
MAX_EMAIL = 254
MAX_NAME = 100
# Write "last seen" / "last used" at most this often (not on every request).
TOUCH_INTERVAL = timedelta(seconds=60)


class Limits(NamedTuple):
    """The time and count limits `Tenants` enforces."""

    max_failed_logins: int
    lockout: timedelta
    session_idle: timedelta
    session_max: timedelta
    reset_token: timedelta


@dataclass(frozen=True)
class Tables:
    """The DAOs of the tenants entities."""

    account: DAO
    user: ScopedDAO
    session: DAO
    api_key: ScopedDAO

    @classmethod
    def of(cls, store: Datastore) -> "Tables":
        """Look the DAOs up in a store where ENTITIES are registered."""
        daos = [store.dao(n) for n in ("account", "user", "user_session", "api_key")]
        kinds = (DAO, ScopedDAO, DAO, ScopedDAO)
        for dao, kind in zip(daos, kinds):
            if not isinstance(dao, kind):
                raise TypeError(f"entity {dao.name!r} is registered with the wrong scope")
        return cls(*daos)  # type: ignore[arg-type]


def token_hash(raw: str) -> str:
    """What is stored for a random token: its SHA-256, hex. Tokens carry 256
    bits of randomness, so a fast hash is enough (unlike passwords)."""
    return hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()


def iso(moment: datetime) -> str:
    """A datetime as the datastore stores it (UTC, microseconds), for SQL
    comparisons: text in this one format sorts in time order."""
    return moment.astimezone(timezone.utc).isoformat(timespec="microseconds")


def public_user(record: dict[str, Any]) -> dict[str, Any]:
    """A user dict fit to hand out: no password or reset-token hash."""
    user = dict(record)  # a C-level copy; list pages call this per row
    user["has_password"] = bool(user.get("password_hash"))
    for name in SECRET_FIELDS:
        user.pop(name, None)
    return user


def strip_secrets(record: dict[str, Any]) -> dict[str, Any]:
    """`public_user` in place, for fresh dicts nobody else holds (list pages)."""
    record["has_password"] = bool(record.get("password_hash"))
    for name in SECRET_FIELDS:
        record.pop(name, None)
    return record


def user_from_row(row: sqlite3.Row) -> dict[str, Any]:
    """Convert the first len(USER_COLUMNS) columns of a joined row (selected
    with USER_SELECT) into a user record, as the DAO would."""
    record: dict[str, Any] = {}
    for i, name in enumerate(USER_COLUMNS):
        value = row[i]
        kind = _USER_TYPES.get(name)
        if value is not None and kind == "boolean":
            value = bool(value)
        elif value is not None and kind == "datetime":
            value = datetime.fromisoformat(value)
        record[name] = value
    return record


def normalize_username(username: Any) -> str:
    """Usernames are email addresses, compared stripped and lower-cased."""
    return str(username or "").strip().lower()


def username_problem(username: str) -> str | None:
    """A message when `username` (normalized) is not an acceptable email address."""
    if not username:
        return "Enter an email address."
    if len(username) > MAX_EMAIL or not EMAIL.fullmatch(username):
        return "Enter a valid email address, such as ada@example.com."
    return None


def clean_name(value: Any, what: str, errors: dict[str, str], field: str) -> str:
    """A required short name, whitespace collapsed; records a message when bad."""
    name = " ".join(str(value or "").split())
    if not name:
        errors[field] = f"Enter {what}."
    elif len(name) > MAX_NAME:
        errors[field] = f"Keep {what} to {MAX_NAME} characters or fewer."
    return name


class TenantsBase:  # pylint: disable=too-many-instance-attributes  # shared state of the mixins
    """Shared state of `Tenants`; see `modules.tenants.service.Tenants`."""

    def __init__(  # pylint: disable=too-many-arguments  # the options are the contract
        self,
        store: Datastore,
        authz: Authz,
        hasher: PasswordHasher,
        *,
        max_failed_logins: int = 5,
        lockout_minutes: int = 15,
        session_idle_minutes: int = 120,
        session_max_hours: int = 24,
        reset_token_minutes: int = 60,
        clock: Callable[[], datetime] = utcnow,
        on_event: Callable[[int, str, dict[str, Any]], None] | None = None,
    ):
        self._db = store.db
        self._on_event = on_event
        self._t = Tables.of(store)
        self._authz = authz
        self._hasher = hasher
        self._limits = Limits(
            max_failed_logins=max_failed_logins,
            lockout=timedelta(minutes=lockout_minutes),
            session_idle=timedelta(minutes=session_idle_minutes),
            session_max=timedelta(hours=session_max_hours),
            reset_token=timedelta(minutes=reset_token_minutes),
        )
        self._clock = clock
        # account id -> platform flag; the flag never changes once created.
        self._platform: dict[int, bool] = {}
        create_global_indexes(self._db)

    @property
    def max_failed_logins(self) -> int:
        """Wrong passwords in a row that lock a user out."""
        return self._limits.max_failed_logins

    @property
    def lockout_minutes(self) -> int:
        """How long a lockout lasts."""
        return int(self._limits.lockout.total_seconds() // 60)

    @property
    def session_idle_minutes(self) -> int:
        """A session unused this long ends."""
        return int(self._limits.session_idle.total_seconds() // 60)

    @property
    def session_max_hours(self) -> int:
        """A session this old ends, however active."""
        return int(self._limits.session_max.total_seconds() // 3600)

    @property
    def reset_token_minutes(self) -> int:
        """How long a password-reset link works (for the mail that carries it)."""
        return int(self._limits.reset_token.total_seconds() // 60)

    def _emit(self, account_id: int, event: str, payload: dict[str, Any]) -> None:
        """Announce `event` once the current transaction commits (workflows
        with an event trigger start from it)."""
        if self._on_event is not None:
            hook = self._on_event
            self._db.after_commit(lambda: hook(account_id, event, payload))

    def _now(self) -> datetime:
        now = self._clock()
        if now.tzinfo is None:
            return now.replace(tzinfo=timezone.utc)
        return now.astimezone(timezone.utc)

    def _user_record(self, user_id: int) -> dict[str, Any] | None:
        """The full user row (secrets included) by id alone, any account."""
        row = self._db.execute_one(f"SELECT {USER_SELECT} FROM user u WHERE u.id = ?", (user_id,))
        return None if row is None else user_from_row(row)

    def _require_account(self, account_id: int) -> dict[str, Any]:
        account = self._t.account.get(account_id)
        if account is None:
            raise NotFoundError(f"no account {account_id}")
        return account

    def _require_user(self, account_id: int, user_id: int) -> dict[str, Any]:
        user = self._t.user.get(account_id, user_id)
        if user is None:
            raise NotFoundError(f"no user {user_id} in account {account_id}")
        return user

    def _check_password(self, username: str, password: str) -> None:
        problems = password_problems(username, password)
        if problems:
            raise ValidationError({"password": " ".join(problems)})

    def _delete_sessions(self, user_id: int, except_token: str | None = None) -> int:
        """End the user's sessions (all, or all but one); how many ended."""
        keep = token_hash(except_token) if except_token else None
        return self._db.execute_write(
            "DELETE FROM user_session WHERE user = ? AND token_hash IS NOT ?",
            (user_id, keep),
        ).rowcount

    def _store_password(
        self, user_id: int, password_hash: str, keep_session_token: str | None = None
    ) -> int:
        """Set a new password hash, clear reset token and lockout, end the
        user's other sessions; returns how many sessions ended."""
        with self._db.transaction():
            self._db.conn.execute(
                "UPDATE user SET password_hash = ?, reset_token_hash = NULL, "
                "reset_token_created_at = NULL, failed_logins = 0, locked_until = NULL "
                "WHERE id = ?",
                (password_hash, user_id),
            )
            return self._delete_sessions(user_id, keep_session_token)

    def _account_owner_guard(self, account_id: int, user_id: int) -> None:
        """Refuse to deactivate or delete the account's last active Owner."""
        rows = self._db.execute(
            "SELECT ur.user FROM user_role ur "
            "JOIN role r ON r.id = ur.role AND r.account_id = ur.account_id "
            "JOIN user u ON u.id = ur.user AND u.account_id = ur.account_id "
            "WHERE ur.account_id = ? AND r.system = 1 AND r.name = ? AND u.active = 1",
            (account_id, "Owner"),
        )
        owners = {r[0] for r in rows}
        if owners == {user_id}:
            raise ValidationError(
                {
                    "active": "This is the account's only active Owner. "
                    "Make someone else an Owner first."
                }
            )
