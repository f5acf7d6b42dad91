"""Accounts, users, passwords, sessions, reset tokens and API keys.

Registers nothing on import: the container registers ENTITIES (before the
authz ones) and PERMISSIONS, then builds `Tenants(store, authz, hasher)`.
"""

from modules.tenants.accounts import ACCOUNT_STATUSES
from modules.tenants.credentials import AuthResult
from modules.tenants.entities import ENTITIES, create_global_indexes
from modules.tenants.passwords import PasswordHasher, password_problems
from modules.tenants.permissions import EVENTS, PERMISSIONS
from modules.tenants.service import Tenants

__all__ = [
    "ACCOUNT_STATUSES",
    "ENTITIES",
    "EVENTS",
    "PERMISSIONS",
    "AuthResult",
    "PasswordHasher",
    "Tenants",
    "create_global_indexes",
    "password_problems",
]
