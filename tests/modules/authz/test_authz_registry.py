"""Permissions as data: validation, the registry, computed system-role grants,
and the evaluation formula."""

from __future__ import annotations

import pytest

from modules.authz import (
    PERMISSIONS,
    SYSTEM_ROLES,
    Permission,
    PermissionRegistry,
    evaluate,
    system_role_grants,
)


def test_evaluate_deny_wins() -> None:
    everything = {"a.view", "a.edit", "b.view"}
    assert evaluate({"a.view", "a.edit"}, set(), {"a.edit"}, everything) == {"a.view"}
    assert evaluate(set(), {"b.view"}, {"b.view"}, everything) == frozenset()


def test_evaluate_allow_adds() -> None:
    assert evaluate({"a.view"}, {"b.view"}, set(), {"a.view", "b.view"}) == {"a.view", "b.view"}


def test_evaluate_entitled_is_a_ceiling() -> None:
    # The tier allows a.view only: grants and allows beyond it are not effective.
    assert evaluate({"a.view", "a.edit"}, {"b.view"}, set(), {"a.view"}) == {"a.view"}


def test_evaluate_default_deny() -> None:
    assert evaluate(set(), set(), set(), {"a.view"}) == frozenset()
    assert isinstance(evaluate(set(), set(), set(), set()), frozenset)


@pytest.mark.parametrize(
    "key", ["users", "Users.view", "users.", ".view", "users..view", "users.view-all", "1a.b", ""]
)
def test_permission_keys_are_checked(key: str) -> None:
    with pytest.raises(ValueError):
        Permission(key, "Something.", "Group")


def test_permission_roles_are_checked_and_frozen() -> None:
    with pytest.raises(ValueError):
        Permission("a.b", "Something.", "Group", roles=("Wizard",))
    with pytest.raises(ValueError):
        Permission("a.b", "Something.", "Group", roles="Admin")  # type: ignore[arg-type]
    perm = Permission("a.b_c.d2", "Something.", "Group", roles=["Admin"])  # type: ignore[arg-type]
    assert perm.roles == ("Admin",)
    assert hash(perm)


def test_registry_register_and_read() -> None:
    registry = PermissionRegistry()
    registry.register(PERMISSIONS)
    registry.register(PERMISSIONS)  # identical: fine
    registry.register([Permission("alpha.view", "See alpha.", "Alpha")])
    assert registry.keys() == {"roles.view", "roles.manage", "alpha.view"}
    assert registry.get("roles.view") == PERMISSIONS[0]
    assert registry.get("nope.view") is None
    assert "alpha.view" in registry and len(registry) == 3
    assert [(p.group, p.key) for p in registry.all()] == [
        ("Access control", "roles.manage"),
        ("Access control", "roles.view"),
        ("Alpha", "alpha.view"),
    ]
    assert list(registry.grouped()) == ["Access control", "Alpha"]
    assert [p.key for p in registry.grouped()["Access control"]] == ["roles.manage", "roles.view"]


def test_registry_refuses_a_conflicting_definition_whole() -> None:
    registry = PermissionRegistry()
    registry.register(PERMISSIONS)
    version = registry.version
    with pytest.raises(ValueError):
        registry.register(
            [
                Permission("beta.view", "See beta.", "Beta"),
                Permission("roles.view", "Something else.", "Access control"),
            ]
        )
    assert "beta.view" not in registry
    assert registry.version == version


def test_registry_unregister() -> None:
    registry = PermissionRegistry()
    registry.register(PERMISSIONS)
    registry.unregister(iter(["roles.manage", "unknown.key"]))
    assert registry.keys() == {"roles.view"}


def test_system_role_grants_are_computed() -> None:
    perms = [
        Permission("crm.view", "See.", "CRM"),
        Permission("crm.edit", "Edit.", "CRM", roles=("Member",)),
        Permission("crm.admin", "Administer.", "CRM", roles=("Admin",)),
        Permission("crm.audit", "Audit.", "CRM", roles=("Viewer",)),
        Permission("crm.purge", "Purge.", "CRM"),
    ]
    grants = system_role_grants(perms)
    assert set(grants) == set(SYSTEM_ROLES)
    assert grants["Owner"] == {p.key for p in perms}
    assert grants["Admin"] == {"crm.view", "crm.admin"}
    assert grants["Member"] == {"crm.view", "crm.edit"}
    assert grants["Viewer"] == {"crm.view", "crm.audit"}
