"""Users: people who sign in, each belonging to one account.

Usernames are email addresses, stored stripped and lower-cased, unique
across all accounts (sign-in is by username alone).
"""

from __future__ import annotations

from typing import Any, Iterable

from modules.datastore import Page, UniqueError, ValidationError
from modules.logs import get_logger
from modules.tenants._base import (
    USER_SELECT,
    TenantsBase,
    clean_name,
    normalize_username,
    public_user,
    strip_secrets,
    user_from_row,
    username_problem,
)
from modules.tenants.passwords import password_problems

log = get_logger("tenants.users")

USERNAME_TAKEN = "This email address is already in use."
USER_ORDERS = ("username", "display_name", "created_at", "last_login_at", "id")


class UsersMixin(TenantsBase):
    """Creating, reading, changing and listing users."""

    def create_user(  # pylint: disable=too-many-arguments  # the options are the contract
        self,
        account_id: int,
        username: str,
        display_name: str,
        *,
        password: str | None = None,
        role_names: Iterable[str] = ("Member",),
    ) -> int:
        """Add a user to the account with the named roles; returns the id.

        Without a password the user cannot sign in until they use a reset
        link (or someone sets one).
        """
        errors: dict[str, str] = {}
        username = normalize_username(username)
        problem = username_problem(username)
        if problem:
            errors["username"] = problem
        display_name = clean_name(display_name, "a name", errors, "display_name")
        if password is not None:
            problems = password_problems(username, password)
            if problems:
                errors["password"] = " ".join(problems)
        if errors:
            raise ValidationError(errors)
        # Hash before taking the write lock: bcrypt is slow on purpose.
        password_hash = None if password is None else self._hasher.hash(password)
        with self._db.transaction():
            self._require_account(account_id)
            if self._username_taken(username, None):
                raise ValidationError({"username": USERNAME_TAKEN})
            role_ids = self._role_ids(account_id, role_names)
            try:
                user_id = self._t.user.insert(
                    account_id,
                    {
                        "username": username,
                        "display_name": display_name,
                        "password_hash": password_hash,
                    },
                )
            except UniqueError:
                raise ValidationError({"username": USERNAME_TAKEN}) from None
            self._authz.set_user_roles(account_id, user_id, role_ids)
            self._emit(
                account_id,
                "user.created",
                {"user_id": user_id, "username": username, "display_name": display_name},
            )
        log.info("user %s created in account %s", user_id, account_id)
        return user_id

    def get_user(self, account_id: int, user_id: int) -> dict[str, Any] | None:
        """The account's user (without password or token hashes), or None."""
        user = self._t.user.get(account_id, user_id)
        return None if user is None else public_user(user)

    def find_user_by_username(self, username: str) -> dict[str, Any] | None:
        """The user with this username in any account (with "account_id"), or None."""
        row = self._db.execute_one(
            f"SELECT {USER_SELECT} FROM user u WHERE u.username = ?",
            (normalize_username(username),),
        )
        return None if row is None else public_user(user_from_row(row))

    def update_user(
        self,
        account_id: int,
        user_id: int,
        *,
        display_name: str | None = None,
        username: str | None = None,
        active: bool | None = None,
    ) -> None:
        """Change what is given. Deactivating ends the user's sessions; the
        account's last active Owner cannot be deactivated."""
        errors: dict[str, str] = {}
        values: dict[str, Any] = {}
        if display_name is not None:
            values["display_name"] = clean_name(display_name, "a name", errors, "display_name")
        if username is not None:
            values["username"] = normalize_username(username)
            problem = username_problem(values["username"])
            if problem:
                errors["username"] = problem
        if active is not None:
            values["active"] = bool(active)
        with self._db.transaction():
            user = self._require_user(account_id, user_id)
            if "username" in values and "username" not in errors:
                if self._username_taken(values["username"], user_id):
                    errors["username"] = USERNAME_TAKEN
            if errors:
                raise ValidationError(errors)
            if active is not None and not active and user["active"]:
                self._account_owner_guard(account_id, user_id)
                self._delete_sessions(user_id)
            try:
                self._t.user.update(account_id, user_id, values)
            except UniqueError:
                raise ValidationError({"username": USERNAME_TAKEN}) from None
        log.info("user %s of account %s updated (%s)", user_id, account_id, ", ".join(values))

    def delete_user(self, account_id: int, user_id: int) -> bool:
        """Remove the user with their sessions, roles, overrides and API keys;
        False when the account has no such user. The account's last active
        Owner cannot be deleted."""
        with self._db.transaction():
            user = self._t.user.get(account_id, user_id)
            if user is None:
                return False
            if user["active"]:
                self._account_owner_guard(account_id, user_id)
            self._t.user.delete(account_id, user_id)
        log.info("user %s of account %s deleted", user_id, account_id)
        return True

    def page_users(  # pylint: disable=too-many-arguments  # paging options
        self,
        account_id: int,
        *,
        search: str | None = None,
        after: str | None = None,
        limit: int = 50,
        order_by: str = "username",
        descending: bool = False,
    ) -> Page:
        """The account's users one page at a time; `search` matches username
        or display name."""
        if order_by not in USER_ORDERS:
            raise ValidationError({"order_by": "Sort by one of: " + ", ".join(USER_ORDERS) + "."})
        page = self._t.user.page(
            account_id,
            order_by=order_by,
            descending=descending,
            search=search,
            after=after,
            limit=limit,
        )
        return Page([strip_secrets(u) for u in page.items], page.next_cursor)

    def count_users(self, account_id: int) -> int:
        """How many users the account has."""
        return self._t.user.count(account_id)

    def has_users(self) -> bool:
        """Whether any user exists in any account (False on a new install)."""
        return self._db.execute_one("SELECT 1 FROM user LIMIT 1") is not None

    def _username_taken(self, username: str, except_id: int | None) -> bool:
        row = self._db.execute_one(
            "SELECT 1 FROM user WHERE username = ? AND id IS NOT ?", (username, except_id)
        )
        return row is not None

    def _role_ids(self, account_id: int, role_names: Iterable[str]) -> list[int]:
        if isinstance(role_names, str):
            role_names = (role_names,)
        ids, unknown = [], []
        for name in role_names:
            role_id = self._authz.role_id(account_id, name)
            if role_id is None:
                unknown.append(str(name))
            else:
                ids.append(role_id)
        if unknown:
            raise ValidationError({"roles": "Unknown role: " + ", ".join(unknown) + "."})
        return ids
