"""Access control: a permission registry, roles, per-user ACL entries.

Effective permissions = ((role grants | ACL allows) - ACL denies) & entitled.
Deny wins, the account's tier is a ceiling, and what is not granted is denied.

registry = PermissionRegistry()
registry.register(authz.PERMISSIONS + tenants.PERMISSIONS)
for entity in (*tenants.ENTITIES, *authz.ENTITIES):
    store.register(entity)
access = Authz(store, registry, is_platform=..., entitlement=None)
access.effective_permissions(account_id, user_id)
"""

from modules.authz.entities import ENTITIES
from modules.authz.permissions import (
    KEY_PATTERN,
    PERMISSIONS,
    SYSTEM_ROLES,
    Permission,
    PermissionRegistry,
    system_role_grants,
)
from modules.authz.policy import evaluate
from modules.authz.service import Authz

__all__ = [
    "ENTITIES",
    "KEY_PATTERN",
    "PERMISSIONS",
    "SYSTEM_ROLES",
    "Authz",
    "Permission",
    "PermissionRegistry",
    "evaluate",
    "system_role_grants",
]
