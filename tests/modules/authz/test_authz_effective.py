"""Effective permissions: roles, ACL, platform-only permissions, the tier
ceiling, late registration, and what it costs."""

from __future__ import annotations

from typing import Any

from modules.authz import Authz, Permission, PermissionRegistry
from modules.datastore import Database, Datastore, ScopedDAO

World = Any  # the conftest's World: accounts a, b (platform) and users by role
Hooks = Any  # the conftest's Hooks: .platform and .ceilings, steered by tests


def test_system_roles(authz: Authz, world: World) -> None:
    owner = authz.effective_permissions(world.a, world.owner)
    assert owner == {
        "apikeys.manage",
        "crm.edit",
        "crm.export",
        "crm.view",
        "roles.manage",
        "roles.view",
        "users.manage",
        "users.view",
    }
    assert authz.effective_permissions(world.a, world.viewer) == {"crm.view", "users.view"}
    assert "crm.edit" in authz.effective_permissions(world.a, world.member)
    assert "users.manage" in authz.effective_permissions(world.a, world.admin)
    assert authz.effective_permissions(world.a, world.nobody) == frozenset()  # default deny
    assert authz.has_permission(world.a, world.member, "crm.edit")
    assert not authz.has_permission(world.a, world.viewer, "crm.edit")


def test_a_permission_registered_later_reaches_system_roles(
    authz: Authz, world: World, registry: PermissionRegistry
) -> None:
    registry.register(
        [
            Permission("billing.view", "See invoices.", "Billing"),
            Permission("billing.refund", "Refund.", "Billing", roles=("Admin",)),
        ]
    )
    assert {"billing.view", "billing.refund"} <= authz.effective_permissions(world.a, world.owner)
    assert "billing.view" in authz.effective_permissions(world.a, world.viewer)
    assert "billing.refund" in authz.effective_permissions(world.a, world.admin)
    assert "billing.refund" not in authz.effective_permissions(world.a, world.member)


def test_custom_roles_and_acl(authz: Authz, world: World) -> None:
    support = authz.create_role(world.a, "Support", "", ["crm.view", "crm.export"])
    authz.set_user_roles(world.a, world.nobody, [support])
    assert authz.effective_permissions(world.a, world.nobody) == {"crm.view", "crm.export"}
    authz.set_user_acl(world.a, world.nobody, {"users.view": "allow", "crm.export": "deny"})
    assert authz.effective_permissions(world.a, world.nobody) == {"crm.view", "users.view"}


def test_deny_beats_even_the_owner(authz: Authz, world: World) -> None:
    authz.set_user_acl(world.a, world.owner, {"users.manage": "deny"})
    assert "users.manage" not in authz.effective_permissions(world.a, world.owner)


def test_platform_permissions_only_in_the_platform_account(
    authz: Authz, world: World, store: Datastore
) -> None:
    platform_keys = {"accounts.view", "accounts.manage"}
    assert platform_keys <= authz.effective_permissions(world.b, world.b_user)
    assert not platform_keys & authz.effective_permissions(world.a, world.owner)
    # Even an ACL allow written behind the API's back does not make them effective.
    acl = store.dao("user_acl")
    assert isinstance(acl, ScopedDAO)
    for key in platform_keys:
        acl.insert(world.a, {"user": world.owner, "permission": key, "effect": "allow"})
    assert not platform_keys & authz.effective_permissions(world.a, world.owner)
    assert {p.key for p in authz.grantable_permissions(world.a)}.isdisjoint(platform_keys)
    assert platform_keys <= {p.key for p in authz.grantable_permissions(world.b)}


def test_the_tier_ceiling_caps_everything(authz: Authz, world: World, hooks: Hooks) -> None:
    hooks.ceilings[world.a] = {"crm.view", "users.view", "users.manage"}
    assert authz.effective_permissions(world.a, world.owner) == {
        "crm.view",
        "users.view",
        "users.manage",
    }
    authz.set_user_acl(world.a, world.viewer, {"crm.export": "allow"})
    assert authz.effective_permissions(world.a, world.viewer) == {"crm.view", "users.view"}
    # A grant beyond the ceiling can still be stored; it takes effect on upgrade.
    beyond = authz.create_role(world.a, "Exporter", "", ["crm.export"])
    authz.set_user_roles(world.a, world.nobody, [beyond])
    assert authz.effective_permissions(world.a, world.nobody) == frozenset()
    hooks.ceilings[world.a] = {"crm.export"}
    assert authz.effective_permissions(world.a, world.nobody) == {"crm.export"}
    del hooks.ceilings[world.a]  # the hook answers None: no ceiling
    assert "crm.export" in authz.effective_permissions(world.a, world.viewer)


def test_unregistered_grants_are_not_effective(
    authz: Authz, world: World, registry: PermissionRegistry
) -> None:
    role = authz.create_role(world.a, "Exporter", "", ["crm.export"])
    authz.set_user_roles(world.a, world.nobody, [role])
    registry.unregister(["crm.export"])
    assert authz.effective_permissions(world.a, world.nobody) == frozenset()
    assert "crm.export" not in authz.effective_permissions(world.a, world.owner)


def test_effective_permissions_costs_one_query(authz: Authz, world: World, db: Database) -> None:
    roles = [
        authz.create_role(world.a, f"Custom {i}", "", ["crm.view", "crm.export"]) for i in range(3)
    ]
    authz.set_user_roles(world.a, world.member, [authz.role_id(world.a, "Member"), *roles])
    authz.set_user_acl(world.a, world.member, {"users.view": "deny", "roles.manage": "allow"})
    statements: list[str] = []
    db.conn.set_trace_callback(statements.append)
    try:
        effective = authz.effective_permissions(world.a, world.member)
    finally:
        db.conn.set_trace_callback(None)
    assert effective == {"crm.edit", "crm.export", "crm.view", "roles.manage"}
    assert len(statements) <= 3
    assert len(statements) == 1  # roles, custom grants and ACL in one statement


def test_exceeds_own_stops_escalation(authz: Authz, world: World) -> None:
    owner_role = authz.role_id(world.a, "Owner")
    admin_role = authz.role_id(world.a, "Admin")
    assert "crm.edit" in authz.exceeds_own(world.a, world.admin, role_ids=[owner_role])
    assert authz.exceeds_own(world.a, world.admin, role_ids=[admin_role]) == frozenset()
    assert authz.exceeds_own(world.a, world.owner, role_ids=[owner_role]) == frozenset()
    assert authz.exceeds_own(world.a, world.admin, permissions=["crm.export"]) == {"crm.export"}
