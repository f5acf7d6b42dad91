"""The outbox permissions: platform only, and mail bodies not handed to every viewer."""

from __future__ import annotations

from modules.authz import PermissionRegistry, system_role_grants
from modules.email import PERMISSIONS


def test_outbox_permissions_register_and_are_platform_only() -> None:
    """Both keys register cleanly and only ever apply inside the platform account."""
    registry = PermissionRegistry()
    registry.register(PERMISSIONS)
    assert {p.key for p in registry.all()} == {"outbox.view", "outbox.manage"}
    assert all(p.platform for p in PERMISSIONS)


def test_reading_mail_bodies_is_owner_only_by_default() -> None:
    """Bodies carry reset links: outbox.manage reaches no role but Owner by itself."""
    grants = system_role_grants(PERMISSIONS)
    assert "outbox.manage" in grants["Owner"]
    for role in ("Admin", "Member", "Viewer"):
        assert "outbox.manage" not in grants[role]
