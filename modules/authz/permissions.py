"""Permissions as data: what modules and libraries declare, and the registry.

A module (or plug-in library) returns `Permission` objects; the container
registers them. System roles get their grants computed from these
declarations, so a permission registered later reaches them by itself.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import Iterable, Mapping

KEY_PATTERN = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")

SYSTEM_ROLES = ("Owner", "Admin", "Member", "Viewer")
# Roles that get a "*.view" permission when it does not name its roles.
VIEW_ROLES = ("Admin", "Member", "Viewer")


@dataclass(frozen=True)
class Permission:
    """One thing a user may be allowed to do, such as "users.view".

    `group` is the heading it is listed under (its module or library);
    `platform` permissions are only ever effective inside the platform
    account; `roles` names the system roles besides Owner that get it.
    Left out (None), a "*.view" permission goes to Admin, Member and Viewer
    and any other to nobody but Owner; `roles=()` keeps a view Owner-only.
    """

    key: str
    description: str
    group: str
    platform: bool = False
    roles: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.key, str) or not KEY_PATTERN.fullmatch(self.key):
            raise ValueError(
                f"permission key {self.key!r} is not allowed: use dotted lower-case "
                "words such as 'users.view'"
            )
        if not str(self.description).strip():
            raise ValueError(f"permission {self.key!r} needs a description")
        if not str(self.group).strip():
            raise ValueError(f"permission {self.key!r} needs a group")
        if isinstance(self.roles, str):
            raise ValueError(f"permission {self.key!r}: roles must be a tuple of role names")
        if self.roles is None:
            default = VIEW_ROLES if self.key.endswith(".view") else ()
            object.__setattr__(self, "roles", default)
        object.__setattr__(self, "roles", tuple(self.roles))
        unknown = [r for r in self.roles if r not in SYSTEM_ROLES]
        if unknown:
            raise ValueError(
                f"permission {self.key!r} names unknown system roles {unknown}; "
                f"expected some of {SYSTEM_ROLES}"
            )

    @property
    def is_view(self) -> bool:
        """Whether the key ends in ".view" (read-only permissions)."""
        return self.key.endswith(".view")


class PermissionRegistry:
    """Every permission the running app knows about, by key.

    Thread-safe; readers get immutable snapshots. `version` changes whenever
    the set of permissions does, so callers can cache what they derive.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._perms: Mapping[str, Permission] = {}
        self.version = 0

    def register(self, perms: Iterable[Permission]) -> None:
        """Add permissions. Registering an identical one again is a no-op;
        the same key with a different definition is a `ValueError` (and then
        nothing of this batch is registered)."""
        batch = list(perms)
        with self._lock:
            new = dict(self._perms)
            for perm in batch:
                if not isinstance(perm, Permission):
                    raise ValueError(f"not a Permission: {perm!r}")
                known = new.get(perm.key)
                if known is not None and known != perm:
                    raise ValueError(
                        f"permission {perm.key!r} is already registered with a "
                        f"different definition ({known!r})"
                    )
                new[perm.key] = perm
            if len(new) != len(self._perms):
                self._perms = new
                self.version += 1

    def unregister(self, keys: Iterable[str]) -> None:
        """Forget permissions (a library being removed). Unknown keys are ignored."""
        drop = set(keys)
        with self._lock:
            new = {k: p for k, p in self._perms.items() if k not in drop}
            if len(new) != len(self._perms):
                self._perms = new
                self.version += 1

    def get(self, key: str) -> Permission | None:
        """The permission with this key, or None."""
        return self._perms.get(key)

    def __contains__(self, key: object) -> bool:
        return key in self._perms

    def __len__(self) -> int:
        return len(self._perms)

    def keys(self) -> frozenset[str]:
        """Every registered key."""
        return frozenset(self._perms)

    def all(self) -> list[Permission]:
        """Every permission, sorted by group then key."""
        return sorted(self._perms.values(), key=lambda p: (p.group, p.key))

    def grouped(self) -> dict[str, list[Permission]]:
        """Permissions by group (groups sorted, keys sorted inside each)."""
        groups: dict[str, list[Permission]] = {}
        for perm in self.all():
            groups.setdefault(perm.group, []).append(perm)
        return groups


def system_role_grants(perms: Iterable[Permission]) -> dict[str, frozenset[str]]:
    """What each system role grants, computed from the declarations.

    Owner: everything. Admin, Member, Viewer: the permissions whose `roles`
    name them (view permissions name all three unless they say otherwise).
    """
    perms = list(perms)
    grants = {"Owner": frozenset(p.key for p in perms)}
    for role in VIEW_ROLES:
        grants[role] = frozenset(p.key for p in perms if role in p.roles)
    return grants


PERMISSIONS: tuple[Permission, ...] = (
    Permission(
        "roles.view",
        "See the roles of the account and what each one allows.",
        "Access control",
        roles=("Admin",),
    ),
    Permission(
        "roles.manage",
        "Create, change and delete custom roles and choose what they allow.",
        "Access control",
        roles=("Admin",),
    ),
)
