"""Accounts: the tenants. One of them may be the platform account, whose
users run the service itself (platform permissions work only there)."""

from __future__ import annotations

from typing import Any

from modules.datastore import Page, UniqueError, ValidationError
from modules.logs import get_logger
from modules.tenants._base import TenantsBase, clean_name

log = get_logger("tenants.accounts")

ACCOUNT_STATUSES = ("active", "suspended")
DUPLICATE_ACCOUNT = "An account with this name already exists."


class AccountsMixin(TenantsBase):
    """Creating, renaming, suspending and listing accounts."""

    def create_account(self, name: str, *, platform: bool = False) -> int:
        """Add an account with its four system roles; returns its id."""
        errors: dict[str, str] = {}
        name = clean_name(name, "a name", errors, "name")
        with self._db.transaction():
            if "name" not in errors and self._account_name_taken(name, None):
                errors["name"] = DUPLICATE_ACCOUNT
            if platform and self.platform_account_id() is not None:
                errors["platform"] = "There is already a platform account."
            if errors:
                raise ValidationError(errors)
            try:
                account_id = self._t.account.insert({"name": name, "platform": bool(platform)})
            except UniqueError:
                raise ValidationError({"name": DUPLICATE_ACCOUNT}) from None
            self._authz.seed_system_roles(account_id)
            self._emit(account_id, "account.created", {"account_id": account_id, "name": name})
        self._platform[account_id] = bool(platform)
        log.info("account %s created%s", account_id, " (platform)" if platform else "")
        return account_id

    def get_account(self, account_id: int) -> dict[str, Any] | None:
        """The account, or None."""
        return self._t.account.get(account_id)

    def update_account(self, account_id: int, *, name: str | None = None) -> None:
        """Rename the account (None leaves the name as it is)."""
        with self._db.transaction():
            self._require_account(account_id)
            if name is None:
                return
            errors: dict[str, str] = {}
            name = clean_name(name, "a name", errors, "name")
            if not errors and self._account_name_taken(name, account_id):
                errors["name"] = DUPLICATE_ACCOUNT
            if errors:
                raise ValidationError(errors)
            try:
                self._t.account.update(account_id, {"name": name})
            except UniqueError:
                raise ValidationError({"name": DUPLICATE_ACCOUNT}) from None
        log.info("account %s renamed", account_id)

    def set_account_status(self, account_id: int, status: str) -> None:
        """Make the account "active" or "suspended". Users of a suspended
        account cannot sign in, and their sessions and API keys stop working."""
        if status not in ACCOUNT_STATUSES:
            raise ValidationError({"status": "Choose active or suspended."})
        with self._db.transaction():
            account = self._require_account(account_id)
            if account["platform"] and status != "active":
                raise ValidationError({"status": "The platform account cannot be suspended."})
            self._t.account.update(account_id, {"status": status})
        log.info("account %s is now %s", account_id, status)

    def page_accounts(
        self, *, search: str | None = None, after: str | None = None, limit: int = 50
    ) -> Page:
        """Accounts by name, one page at a time; each has a "user_count"."""
        page = self._t.account.page(order_by="name", search=search, after=after, limit=limit)
        ids = [a["id"] for a in page.items]
        counts: dict[int, int] = {}
        if ids:
            marks = ", ".join("?" for _ in ids)
            counts = dict(
                self._db.execute(
                    f"SELECT account_id, count(*) FROM user WHERE account_id IN ({marks}) "
                    "GROUP BY account_id",
                    ids,
                )
            )
        items = [{**a, "user_count": counts.get(a["id"], 0)} for a in page.items]
        return Page(items, page.next_cursor)

    def platform_account_id(self) -> int | None:
        """The id of the platform account, or None when there is none yet."""
        for account_id, platform in list(self._platform.items()):
            if platform:
                return account_id
        row = self._db.execute_one("SELECT id FROM account WHERE platform = 1 LIMIT 1")
        if row is None:
            return None
        self._platform[row[0]] = True
        return row[0]

    def is_platform(self, account_id: int) -> bool:
        """Whether the account is the platform account (False when it does not exist)."""
        known = self._platform.get(account_id)
        if known is not None:
            return known
        account = self._t.account.get(account_id)
        if account is None:
            return False
        self._platform[account_id] = bool(account["platform"])
        return bool(account["platform"])

    def _account_name_taken(self, name: str, except_id: int | None) -> bool:
        row = self._db.execute_one(
            "SELECT 1 FROM account WHERE lower(name) = lower(?) AND id IS NOT ?",
            (name, except_id),
        )
        return row is not None
