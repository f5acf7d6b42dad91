"""`Authz`: roles, role assignments, per-user ACL entries and the effective set.

Effective permissions = ((role grants | ACL allows) - ACL denies) & entitled,
where entitled is every registered permission, minus platform permissions
outside the platform account, capped by the account's entitlement (its
subscription tier) when one is given.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Callable, Iterable, Mapping, NamedTuple

from modules.authz.permissions import (
    SYSTEM_ROLES,
    Permission,
    PermissionRegistry,
    system_role_grants,
)
from modules.authz.policy import evaluate
from modules.datastore import Datastore, NotFoundError, ScopedDAO, UniqueError, ValidationError
from modules.logs import get_logger

log = get_logger("authz")

MAX_ROLE_NAME = 60
MAX_ROLE_DESCRIPTION = 500
EFFECTS = ("allow", "deny")
SYSTEM_ROLE_DESCRIPTIONS = {
    "Owner": "Can do everything in the account.",
    "Admin": "Manages users, roles and settings; sees everything.",
    "Member": "Does the day-to-day work; sees everything.",
    "Viewer": "Sees everything and changes nothing.",
}
SYSTEM_ROLE_REFUSED = "Built-in roles cannot be renamed, edited or deleted."

# One statement for everything evaluation needs from the database: the
# user's roles (with the stored grants of custom ones) and their ACL entries.
_EFFECTIVE_SQL = """
SELECT 'role' AS kind, r.name AS name, r.system AS system, rp.permission AS permission
FROM user_role ur
JOIN role r ON r.id = ur.role AND r.account_id = ur.account_id
LEFT JOIN role_permission rp ON rp.role = r.id AND r.system = 0
WHERE ur.account_id = ? AND ur.user = ?
UNION ALL
SELECT 'acl', effect, 0, permission FROM user_acl WHERE account_id = ? AND user = ?
"""


class _Tables(NamedTuple):
    role: ScopedDAO
    role_permission: ScopedDAO
    user_role: ScopedDAO
    user_acl: ScopedDAO


class _Derived(NamedTuple):
    """What follows from the registry at one version."""

    version: int
    system_grants: dict[str, frozenset[str]]
    keys: frozenset[str]
    platform_keys: frozenset[str]


def _scoped(store: Datastore, name: str) -> ScopedDAO:
    dao = store.dao(name)
    if not isinstance(dao, ScopedDAO):
        raise TypeError(f"entity {name!r} should be tenant-scoped")
    return dao


def _role_sort_key(role: Mapping[str, Any]) -> tuple[int, str]:
    if role["system"] and role["name"] in SYSTEM_ROLES:
        return (SYSTEM_ROLES.index(role["name"]), "")
    return (len(SYSTEM_ROLES), role["name"].casefold())


class Authz:
    """Roles, assignments and ACL entries of every account, and evaluation.

    `is_platform(account_id)` says whether an account is the platform
    account; `entitlement(account_id)` returns the permission keys the
    account's tier allows, or None for no ceiling.
    """

    def __init__(
        self,
        store: Datastore,
        registry: PermissionRegistry,
        *,
        is_platform: Callable[[int], bool],
        entitlement: Callable[[int], Iterable[str] | None] | None = None,
    ):
        self._db = store.db
        self._t = _Tables(
            _scoped(store, "role"),
            _scoped(store, "role_permission"),
            _scoped(store, "user_role"),
            _scoped(store, "user_acl"),
        )
        self._registry = registry
        self._is_platform = is_platform
        self._entitlement = entitlement
        self._derived_cache: _Derived | None = None

    # --- evaluation ----------------------------------------------------------

    def _derived(self) -> _Derived:
        cached = self._derived_cache
        version = self._registry.version
        if cached is None or cached.version != version:
            perms = self._registry.all()
            cached = _Derived(
                version,
                system_role_grants(perms),
                frozenset(p.key for p in perms),
                frozenset(p.key for p in perms if p.platform),
            )
            self._derived_cache = cached
        return cached

    def _grantable_keys(self, account_id: int) -> frozenset[str]:
        derived = self._derived()
        if self._is_platform(account_id):
            return derived.keys
        return derived.keys - derived.platform_keys

    def entitled_permissions(self, account_id: int) -> frozenset[str]:
        """The ceiling: registered keys, minus platform ones outside the platform
        account, intersected with the account's entitlement when it has one."""
        keys = self._grantable_keys(account_id)
        if self._entitlement is not None:
            allowed = self._entitlement(account_id)
            if allowed is not None:
                keys = keys & frozenset(allowed)
        return keys

    def grantable_permissions(self, account_id: int) -> list[Permission]:
        """Permissions a role or ACL entry of this account may name (sorted by
        group, key): every registered one, minus platform ones outside the
        platform account. The tier ceiling is not applied here: a grant beyond
        it is kept and takes effect when the account's tier allows it."""
        keys = self._grantable_keys(account_id)
        return [p for p in self._registry.all() if p.key in keys]

    def effective_permissions(self, account_id: int, user_id: int) -> frozenset[str]:
        """What the user may do in the account (one query, plus the hooks)."""
        system_grants = self._derived().system_grants
        grants: set[str] = set()
        allows: set[str] = set()
        denies: set[str] = set()
        for row in self._db.execute(_EFFECTIVE_SQL, (account_id, user_id, account_id, user_id)):
            kind, name, system, permission = row
            if kind == "role":
                if system and name in system_grants:
                    grants |= system_grants[name]
                elif permission is not None:
                    grants.add(permission)
            elif name == "allow":
                allows.add(permission)
            elif name == "deny":
                denies.add(permission)
        return evaluate(grants, allows, denies, self.entitled_permissions(account_id))

    def has_permission(self, account_id: int, user_id: int, key: str) -> bool:
        """Whether `key` is among the user's effective permissions."""
        return key in self.effective_permissions(account_id, user_id)

    def exceeds_own(
        self,
        account_id: int,
        actor_id: int,
        *,
        role_ids: Iterable[int] = (),
        permissions: Iterable[str] = (),
    ) -> frozenset[str]:
        """The permissions that `role_ids` and `permissions` would hand out but
        the acting user does not hold themselves (within the account's
        ceiling). Empty means the actor grants nothing beyond their own power;
        use it to stop an Admin from making themselves or others Owner."""
        wanted = set(permissions)
        ids = [int(i) for i in role_ids]
        if ids:
            marks = ", ".join("?" for _ in ids)
            system_grants = self._derived().system_grants
            rows = self._db.execute(
                "SELECT r.name, r.system, rp.permission FROM role r "
                "LEFT JOIN role_permission rp ON rp.role = r.id AND r.system = 0 "
                f"WHERE r.account_id = ? AND r.id IN ({marks})",
                (account_id, *ids),
            )
            for name, system, permission in rows:
                if system and name in system_grants:
                    wanted |= system_grants[name]
                elif permission is not None:
                    wanted.add(permission)
        wanted &= self.entitled_permissions(account_id)
        return frozenset(wanted - self.effective_permissions(account_id, actor_id))

    # --- roles -----------------------------------------------------------------

    def seed_system_roles(self, account_id: int) -> dict[str, int]:
        """Create whichever of the four system roles the account lacks;
        returns every system role's id by name. Safe to call again."""
        with self._db.transaction():
            self._require_account(account_id)
            found = {
                r["name"]: r["id"]
                for r in self._t.role.find(account_id, {"name": list(SYSTEM_ROLES)})
            }
            for name in SYSTEM_ROLES:
                if name not in found:
                    found[name] = self._t.role.insert(
                        account_id,
                        {
                            "name": name,
                            "description": SYSTEM_ROLE_DESCRIPTIONS[name],
                            "system": True,
                        },
                    )
        return {name: found[name] for name in SYSTEM_ROLES}

    def _role_dict(
        self,
        account_id: int,
        role: dict[str, Any],
        stored: Iterable[str],
        user_count: int,
    ) -> dict[str, Any]:
        if role["system"] and role["name"] in SYSTEM_ROLES:
            grants = self._derived().system_grants[role["name"]]
            permissions = sorted(grants & self._grantable_keys(account_id))
        else:
            permissions = sorted(stored)
        return {**role, "permissions": permissions, "user_count": user_count}

    def list_roles(self, account_id: int) -> list[dict[str, Any]]:
        """The account's roles, system ones first, each with its sorted
        "permissions" (computed for system roles) and "user_count"."""
        roles = self._t.role.find(account_id)
        stored: dict[int, list[str]] = defaultdict(list)
        for role, permission in self._db.execute(
            "SELECT role, permission FROM role_permission WHERE account_id = ?", (account_id,)
        ):
            stored[role].append(permission)
        counts = dict(
            self._db.execute(
                "SELECT role, count(*) FROM user_role WHERE account_id = ? GROUP BY role",
                (account_id,),
            )
        )
        result = [
            self._role_dict(account_id, r, stored[r["id"]], counts.get(r["id"], 0)) for r in roles
        ]
        return sorted(result, key=_role_sort_key)

    def get_role(self, account_id: int, role_id: int) -> dict[str, Any] | None:
        """One role of the account (as in `list_roles`), or None."""
        role = self._t.role.get(account_id, role_id)
        if role is None:
            return None
        stored = [
            r["permission"] for r in self._t.role_permission.find(account_id, {"role": role_id})
        ]
        count = self._t.user_role.count(account_id, {"role": role_id})
        return self._role_dict(account_id, role, stored, count)

    def role_id(self, account_id: int, name: str) -> int | None:
        """The id of the account's role with exactly this name, or None."""
        role = self._t.role.find_one(account_id, {"name": name})
        return None if role is None else role["id"]

    def create_role(
        self, account_id: int, name: str, description: str, permissions: Iterable[str]
    ) -> int:
        """Add a custom role granting `permissions`; returns its id."""
        errors: dict[str, str] = {}
        with self._db.transaction():
            self._require_account(account_id)
            name = self._check_name(account_id, name, None, errors)
            description = _check_description(description, errors)
            keys = self._check_permissions(account_id, permissions, frozenset(), errors)
            if errors:
                raise ValidationError(errors)
            try:
                role_id = self._t.role.insert(
                    account_id, {"name": name, "description": description, "system": False}
                )
            except UniqueError:
                raise ValidationError({"name": "A role with this name already exists."}) from None
            self._t.role_permission.insert_many(
                account_id, ({"role": role_id, "permission": k} for k in sorted(keys))
            )
        log.info(
            "role %s created in account %s with %d permissions", role_id, account_id, len(keys)
        )
        return role_id

    def update_role(
        self,
        account_id: int,
        role_id: int,
        *,
        name: str | None = None,
        description: str | None = None,
        permissions: Iterable[str] | None = None,
    ) -> None:
        """Change a custom role; arguments left as None stay as they are.
        `permissions` replaces the whole set."""
        errors: dict[str, str] = {}
        with self._db.transaction():
            role = self._custom_role(account_id, role_id)
            values: dict[str, Any] = {}
            if name is not None:
                values["name"] = self._check_name(account_id, name, role_id, errors)
            if description is not None:
                values["description"] = _check_description(description, errors)
            keys: set[str] | None = None
            if permissions is not None:
                current = frozenset(
                    r["permission"]
                    for r in self._t.role_permission.find(account_id, {"role": role_id})
                )
                keys = self._check_permissions(account_id, permissions, current, errors)
            if errors:
                raise ValidationError(errors)
            try:
                self._t.role.update(account_id, role_id, values)
            except UniqueError:
                raise ValidationError({"name": "A role with this name already exists."}) from None
            if keys is not None:
                self._db.conn.execute(
                    "DELETE FROM role_permission WHERE account_id = ? AND role = ?",
                    (account_id, role_id),
                )
                self._t.role_permission.insert_many(
                    account_id, ({"role": role_id, "permission": k} for k in sorted(keys))
                )
        log.info("role %s (%s) of account %s updated", role_id, role["name"], account_id)

    def delete_role(self, account_id: int, role_id: int) -> None:
        """Remove a custom role (its assignments go with it)."""
        with self._db.transaction():
            role = self._custom_role(account_id, role_id)
            self._t.role.delete(account_id, role_id)
        log.info("role %s (%s) of account %s deleted", role_id, role["name"], account_id)

    # --- assignments ---------------------------------------------------------------

    def user_roles(self, account_id: int, user_id: int) -> list[dict[str, Any]]:
        """The roles the user holds in the account (system ones first)."""
        rows = self._db.execute(
            "SELECT r.id, r.account_id, r.name, r.description, r.system FROM user_role ur "
            "JOIN role r ON r.id = ur.role AND r.account_id = ur.account_id "
            "WHERE ur.account_id = ? AND ur.user = ?",
            (account_id, user_id),
        )
        roles = [{**dict(r), "system": bool(r["system"])} for r in rows]
        return sorted(roles, key=_role_sort_key)

    def set_user_roles(self, account_id: int, user_id: int, role_ids: Iterable[int]) -> None:
        """Make `role_ids` the user's roles (replacing the previous ones).

        Every id must be a role of the account and the user a user of it
        (`NotFoundError` otherwise). Refuses to take the Owner role from the
        account's last Owner.
        """
        try:
            ids = sorted({int(i) for i in role_ids})
        except (TypeError, ValueError):
            raise NotFoundError("role ids must be whole numbers") from None
        with self._db.transaction():
            self._require_user(account_id, user_id)
            found = {r["id"]: r for r in self._t.role.find(account_id, {"id": ids})}
            missing = [i for i in ids if i not in found]
            if missing:
                raise NotFoundError(f"no role {missing} in account {account_id}")
            self._keep_an_owner(account_id, user_id, ids)
            self._db.conn.execute(
                "DELETE FROM user_role WHERE account_id = ? AND user = ?", (account_id, user_id)
            )
            self._t.user_role.insert_many(account_id, ({"user": user_id, "role": i} for i in ids))
        log.info(
            "user %s of account %s now has roles %s",
            user_id,
            account_id,
            [found[i]["name"] for i in ids],
        )

    def _keep_an_owner(self, account_id: int, user_id: int, new_ids: list[int]) -> None:
        owner = self._t.role.find_one(account_id, {"name": "Owner", "system": True})
        if owner is None or owner["id"] in new_ids:
            return
        holders = {r["user"] for r in self._t.user_role.find(account_id, {"role": owner["id"]})}
        if holders == {user_id}:
            raise ValidationError(
                {
                    "roles": "Every account needs at least one Owner. "
                    "Make someone else an Owner first."
                }
            )

    # --- ACL -----------------------------------------------------------------------

    def user_acl(self, account_id: int, user_id: int) -> dict[str, str]:
        """The user's individual overrides: permission key -> "allow" or "deny"."""
        rows = self._t.user_acl.find(account_id, {"user": user_id}, order_by="permission")
        return {r["permission"]: r["effect"] for r in rows}

    def set_user_acl(self, account_id: int, user_id: int, entries: Mapping[str, str]) -> None:
        """Replace all of the user's overrides with `entries`."""
        errors: dict[str, str] = {}
        with self._db.transaction():
            self._require_user(account_id, user_id)
            current = frozenset(self.user_acl(account_id, user_id))
            self._check_permissions(account_id, entries.keys(), current, errors)
            bad = sorted(str(k) for k, v in entries.items() if v not in EFFECTS)
            if bad:
                errors["effects"] = "Choose allow or deny for: " + ", ".join(bad) + "."
            if errors:
                raise ValidationError(errors)
            self._db.conn.execute(
                "DELETE FROM user_acl WHERE account_id = ? AND user = ?", (account_id, user_id)
            )
            self._t.user_acl.insert_many(
                account_id,
                ({"user": user_id, "permission": k, "effect": entries[k]} for k in sorted(entries)),
            )
        log.info(
            "user %s of account %s now has %d permission overrides",
            user_id,
            account_id,
            len(entries),
        )

    # --- checks ----------------------------------------------------------------------

    def _require_account(self, account_id: int) -> None:
        if self._db.execute_one("SELECT 1 FROM account WHERE id = ?", (account_id,)) is None:
            raise NotFoundError(f"no account {account_id}")

    def _require_user(self, account_id: int, user_id: int) -> None:
        row = self._db.execute_one(
            "SELECT 1 FROM user WHERE id = ? AND account_id = ?", (user_id, account_id)
        )
        if row is None:
            raise NotFoundError(f"no user {user_id} in account {account_id}")

    def _custom_role(self, account_id: int, role_id: int) -> dict[str, Any]:
        role = self._t.role.get(account_id, role_id)
        if role is None:
            raise NotFoundError(f"no role {role_id} in account {account_id}")
        if role["system"]:
            raise ValidationError({"role": SYSTEM_ROLE_REFUSED})
        return role

    def _check_name(
        self, account_id: int, name: Any, role_id: int | None, errors: dict[str, str]
    ) -> str:
        name = " ".join(str(name or "").split())
        if not name:
            errors["name"] = "Give the role a name."
        elif len(name) > MAX_ROLE_NAME:
            errors["name"] = f"Keep the name to {MAX_ROLE_NAME} characters or fewer."
        elif name.casefold() in (s.casefold() for s in SYSTEM_ROLES):
            errors["name"] = f"“{name}” is the name of a built-in role; choose another."
        else:
            row = self._db.execute_one(
                "SELECT id FROM role WHERE account_id = ? AND lower(name) = lower(?) "
                "AND id IS NOT ?",
                (account_id, name, role_id),
            )
            if row is not None:
                errors["name"] = "A role with this name already exists."
        return name

    def _check_permissions(
        self,
        account_id: int,
        keys: Iterable[Any],
        current: frozenset[str],
        errors: dict[str, str],
    ) -> set[str]:
        """The keys as a set; records a message when one cannot be granted here.
        Keys already held (`current`) pass even when no longer registered, so
        a form that sends back what it was shown does not fail."""
        wanted = set(keys)
        grantable = self._grantable_keys(account_id)
        derived = self._derived()
        bad = sorted(str(k) for k in wanted if k not in grantable and k not in current)
        if bad:
            platform = [k for k in bad if k in derived.platform_keys]
            unknown = [k for k in bad if k not in derived.platform_keys]
            parts = []
            if unknown:
                parts.append("Unknown permission: " + ", ".join(unknown) + ".")
            if platform:
                parts.append("Only the platform account can grant: " + ", ".join(platform) + ".")
            errors["permissions"] = " ".join(parts)
        return wanted


def _check_description(description: Any, errors: dict[str, str]) -> str:
    description = str(description or "").strip()
    if len(description) > MAX_ROLE_DESCRIPTION:
        errors["description"] = (
            f"Keep the description to {MAX_ROLE_DESCRIPTION} characters or fewer."
        )
    return description
