"""Roles: seeded system roles with computed grants, custom role CRUD and its
validation, immutable system roles, assignments and ACL entries."""

from __future__ import annotations

from typing import Any

import pytest

from modules.authz import SYSTEM_ROLES, Authz
from modules.datastore import Database, NotFoundError, ValidationError

World = Any  # the conftest's World: accounts a, b (platform) and users by role


def role_named(authz: Authz, account_id: int, name: str) -> dict[str, Any]:
    """The role of the account with this name, as list_roles shows it."""
    [role] = [r for r in authz.list_roles(account_id) if r["name"] == name]
    return role


def test_seeding_is_idempotent(authz: Authz, world: World, db: Database) -> None:
    again = authz.seed_system_roles(world.a)
    assert list(again) == list(SYSTEM_ROLES)
    assert again["Owner"] == authz.role_id(world.a, "Owner")
    count = db.execute_one("SELECT count(*) FROM role WHERE account_id = ?", (world.a,))[0]
    assert count == len(SYSTEM_ROLES)
    with pytest.raises(NotFoundError):
        authz.seed_system_roles(9999)


def test_system_roles_list_computed_permissions(authz: Authz, world: World) -> None:
    roles = authz.list_roles(world.a)
    assert [r["name"] for r in roles] == list(SYSTEM_ROLES)
    by_name = {r["name"]: r for r in roles}
    # Sorted lists; no platform permissions outside the platform account.
    expected = {
        "Owner": "apikeys.manage crm.edit crm.export crm.view roles.manage roles.view "
        "users.manage users.view",
        "Admin": "apikeys.manage crm.view roles.manage roles.view users.manage users.view",
        "Member": "crm.edit crm.view users.view",
        "Viewer": "crm.view users.view",
    }
    for name, keys in expected.items():
        assert by_name[name]["permissions"] == keys.split(), name
    assert all(r["user_count"] == 1 for r in roles)
    platform_owner = role_named(authz, world.b, "Owner")
    assert {"accounts.view", "accounts.manage"} <= set(platform_owner["permissions"])


def test_custom_role_crud(authz: Authz, world: World) -> None:
    role_id = authz.create_role(
        world.a, "  Support ", "Answers tickets.", ["crm.view", "users.view"]
    )
    role = authz.get_role(world.a, role_id)
    assert role is not None
    assert (role["name"], role["description"], role["system"]) == (
        "Support",
        "Answers tickets.",
        False,
    )
    assert role["permissions"] == ["crm.view", "users.view"]
    assert role["user_count"] == 0
    assert authz.list_roles(world.a)[-1]["name"] == "Support"
    assert authz.role_id(world.a, "Support") == role_id

    authz.update_role(world.a, role_id, permissions=["crm.edit"])
    role = authz.get_role(world.a, role_id)
    assert (role["name"], role["permissions"]) == ("Support", ["crm.edit"])
    authz.update_role(world.a, role_id, name="Helpdesk", description="")
    role = authz.get_role(world.a, role_id)
    assert (role["name"], role["description"], role["permissions"]) == (
        "Helpdesk",
        "",
        ["crm.edit"],
    )

    authz.set_user_roles(world.a, world.nobody, [role_id])
    assert authz.get_role(world.a, role_id)["user_count"] == 1
    authz.delete_role(world.a, role_id)
    assert authz.get_role(world.a, role_id) is None
    assert authz.user_roles(world.a, world.nobody) == []


def test_role_validation(authz: Authz, world: World, db: Database) -> None:
    authz.create_role(world.a, "Support", "", [])
    cases = [
        ("", {"name"}),
        ("support", {"name"}),
        ("owner", {"name"}),
        ("x" * 61, {"name"}),
    ]
    for name, fields in cases:
        with pytest.raises(ValidationError) as info:
            authz.create_role(world.a, name, "", [])
        assert set(info.value.fields) == fields, name
    with pytest.raises(ValidationError) as info:
        authz.create_role(world.a, "Sales", "d" * 501, ["crm.view", "crm.fly"])
    assert set(info.value.fields) == {"description", "permissions"}
    assert "crm.fly" in info.value.fields["permissions"]
    with pytest.raises(ValidationError) as info:
        authz.create_role(world.a, "Sales", "", ["accounts.manage"])
    assert "platform" in info.value.fields["permissions"]
    assert db.execute_one("SELECT count(*) FROM role WHERE name = 'Sales'")[0] == 0
    # The same name in another account is fine; platform keys there too.
    assert authz.create_role(world.b, "Support", "", ["accounts.view"])


def test_failed_update_changes_nothing(authz: Authz, world: World) -> None:
    role_id = authz.create_role(world.a, "Support", "Tickets.", ["crm.view"])
    with pytest.raises(ValidationError):
        authz.update_role(world.a, role_id, name="Helpdesk", permissions=["crm.fly"])
    role = authz.get_role(world.a, role_id)
    assert (role["name"], role["permissions"]) == ("Support", ["crm.view"])


def test_stale_grants_can_be_sent_back(authz: Authz, world: World, registry: Any) -> None:
    role_id = authz.create_role(world.a, "Support", "", ["crm.view", "crm.export"])
    registry.unregister(["crm.export"])  # its library was removed
    authz.update_role(world.a, role_id, permissions=["crm.view", "crm.export"])
    with pytest.raises(ValidationError):
        authz.create_role(world.a, "Other", "", ["crm.export"])


def test_system_roles_are_immutable(authz: Authz, world: World) -> None:
    owner = authz.role_id(world.a, "Owner")
    for change in ({"name": "Boss"}, {"description": "x"}, {"permissions": []}):
        with pytest.raises(ValidationError) as info:
            authz.update_role(world.a, owner, **change)
        assert set(info.value.fields) == {"role"}
    with pytest.raises(ValidationError):
        authz.delete_role(world.a, owner)
    assert role_named(authz, world.a, "Owner")["name"] == "Owner"


def test_unknown_role_ids(authz: Authz, world: World) -> None:
    with pytest.raises(NotFoundError):
        authz.update_role(world.a, 9999, name="X")
    with pytest.raises(NotFoundError):
        authz.delete_role(world.a, 9999)
    with pytest.raises(NotFoundError):
        authz.set_user_roles(world.a, world.nobody, [9999])
    with pytest.raises(NotFoundError):
        authz.set_user_roles(world.a, world.nobody, ["not a number"])  # type: ignore[list-item]
    assert authz.get_role(world.a, 9999) is None


def test_set_user_roles_replaces(authz: Authz, world: World) -> None:
    viewer = authz.role_id(world.a, "Viewer")
    member = authz.role_id(world.a, "Member")
    authz.set_user_roles(world.a, world.nobody, [viewer, member, member])
    assert [r["name"] for r in authz.user_roles(world.a, world.nobody)] == ["Member", "Viewer"]
    authz.set_user_roles(world.a, world.nobody, [viewer])
    assert [r["name"] for r in authz.user_roles(world.a, world.nobody)] == ["Viewer"]
    authz.set_user_roles(world.a, world.nobody, [])
    assert authz.user_roles(world.a, world.nobody) == []


def test_another_accounts_role_ids_change_nothing(authz: Authz, world: World) -> None:
    a_viewer = authz.role_id(world.a, "Viewer")
    b_owner = authz.role_id(world.b, "Owner")
    with pytest.raises(NotFoundError):
        authz.set_user_roles(world.a, world.member, [a_viewer, b_owner])
    assert [r["name"] for r in authz.user_roles(world.a, world.member)] == ["Member"]


def test_the_last_owner_keeps_the_role(authz: Authz, world: World) -> None:
    admin = authz.role_id(world.a, "Admin")
    owner = authz.role_id(world.a, "Owner")
    with pytest.raises(ValidationError) as info:
        authz.set_user_roles(world.a, world.owner, [admin])
    assert "Owner" in info.value.fields["roles"]
    authz.set_user_roles(world.a, world.admin, [owner, admin])
    authz.set_user_roles(world.a, world.owner, [admin])
    assert [r["name"] for r in authz.user_roles(world.a, world.owner)] == ["Admin"]


def test_acl_entries(authz: Authz, world: World) -> None:
    authz.set_user_acl(world.a, world.member, {"crm.export": "allow", "crm.edit": "deny"})
    assert authz.user_acl(world.a, world.member) == {"crm.edit": "deny", "crm.export": "allow"}
    authz.set_user_acl(world.a, world.member, {"users.view": "deny"})
    assert authz.user_acl(world.a, world.member) == {"users.view": "deny"}
    authz.set_user_acl(world.a, world.member, {})
    assert authz.user_acl(world.a, world.member) == {}


def test_acl_validation(authz: Authz, world: World) -> None:
    authz.set_user_acl(world.a, world.member, {"crm.export": "allow"})
    with pytest.raises(ValidationError) as info:
        authz.set_user_acl(world.a, world.member, {"crm.fly": "allow", "crm.view": "maybe"})
    assert set(info.value.fields) == {"permissions", "effects"}
    with pytest.raises(ValidationError) as info:
        authz.set_user_acl(world.a, world.member, {"accounts.manage": "allow"})
    assert "platform" in info.value.fields["permissions"]
    with pytest.raises(NotFoundError):
        authz.set_user_acl(world.a, 9999, {"crm.view": "allow"})
    assert authz.user_acl(world.a, world.member) == {"crm.export": "allow"}
