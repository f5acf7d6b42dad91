"""`accounts.create` and `users.create`."""

from __future__ import annotations

from typing import Literal

from modules.libraries.context import Context
from modules.libraries.contract import LibraryRegistry
from modules.libraries.manager import CoreLibrary
from modules.tenants import Tenants

RoleName = Literal["Owner", "Admin", "Member", "Viewer"]


def people_libraries(tenants: Tenants) -> list[CoreLibrary]:
    """The accounts and users libraries, bound to the app's tenants module."""

    def register_accounts(registry: LibraryRegistry) -> None:
        registry.info(version="1.0", title="Accounts", description="Create customer accounts.")

        @registry.capability(name="create", title="Create an account", permission="accounts.manage")
        def create(name: str) -> dict[str, int | str]:
            """Creates a customer account (with its system roles)."""
            return {"account_id": tenants.create_account(name), "name": name}

    def register_users(registry: LibraryRegistry) -> None:
        registry.info(version="1.0", title="Users", description="Add people to an account.")

        @registry.capability(name="create", title="Create a user", permission="users.manage")
        def create(
            ctx: Context,
            username: str,
            display_name: str,
            role: RoleName = "Member",
            account_id: int | None = None,
        ) -> dict[str, int | str]:
            """Adds a user (no password: they use a reset link) to the calling
            account, or to `account_id` when called from the platform account."""
            target = account_id or ctx.account_id
            if target is None:
                raise ValueError("no account to add the user to")
            if target != ctx.account_id and not tenants.is_platform(ctx.account_id or 0):
                raise PermissionError("only the platform account may add users to another account")
            user_id = tenants.create_user(target, username, display_name, role_names=(role,))
            return {"user_id": user_id, "account_id": target, "username": username}

    return [CoreLibrary("accounts", register_accounts), CoreLibrary("users", register_users)]
