"""The tables of roles, role grants, role assignments and per-user ACL entries.

All tenant-scoped. They reference `user`, so the tenants entities
(`account`, `user`) must be registered first.
"""

from __future__ import annotations

from modules.datastore import Entity, Field

ROLE = Entity(
    "role",
    (
        Field("name", required=True, unique=True),
        Field("description"),
        Field("system", "boolean", default=False),
    ),
    tenant_scoped=True,
    label="Role",
)

ROLE_PERMISSION = Entity(
    "role_permission",
    (
        Field("role", "reference", required=True, references="role", on_delete="cascade"),
        Field("permission", required=True),
    ),
    tenant_scoped=True,
    uniques=(("role", "permission"),),
    label="Role permission",
)

USER_ROLE = Entity(
    "user_role",
    (
        Field("user", "reference", required=True, references="user", on_delete="cascade"),
        Field("role", "reference", required=True, references="role", on_delete="cascade"),
    ),
    tenant_scoped=True,
    uniques=(("user", "role"),),
    label="Role assignment",
)

USER_ACL = Entity(
    "user_acl",
    (
        Field("user", "reference", required=True, references="user", on_delete="cascade"),
        Field("permission", required=True),
        Field("effect", required=True, help="allow or deny"),
    ),
    tenant_scoped=True,
    uniques=(("user", "permission"),),
    label="Permission override",
)

ENTITIES: tuple[Entity, ...] = (ROLE, ROLE_PERMISSION, USER_ROLE, USER_ACL)
