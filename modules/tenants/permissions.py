"""The permissions of accounts, users and API keys.

Every signed-in user may see and change their own profile, password and API
keys without any of these; they are about other people's.
"""

from __future__ import annotations

from modules.authz import Permission

GROUP = "Accounts and users"

PERMISSIONS: tuple[Permission, ...] = (
    Permission(
        "accounts.view",
        "See every customer account and its status (platform staff only).",
        GROUP,
        platform=True,
    ),
    Permission(
        "accounts.manage",
        "Create, rename, suspend and reactivate customer accounts (platform staff only).",
        GROUP,
        platform=True,
    ),
    Permission(
        "users.view",
        "See the people in this account and their roles.",
        GROUP,
    ),
    Permission(
        "users.manage",
        "Add, edit and deactivate people in this account, and set their roles and "
        "individual permissions.",
        GROUP,
        roles=("Admin",),
    ),
    Permission(
        "apikeys.manage",
        "See and revoke other people's API keys in this account.",
        GROUP,
        roles=("Admin",),
    ),
)


# Events these modules announce (workflows can start from them).
EVENTS: tuple[tuple[str, str], ...] = (
    ("account.created", "A customer account was created."),
    ("user.created", "A user was added to an account."),
)
