"""The side navigation: each entry shows only to users holding its permission."""

from __future__ import annotations

from dataclasses import dataclass

from webapp.gate import SIGNED_IN
from webapp.identity import Identity


@dataclass(frozen=True)
class NavItem:
    """One link: its label, route name, permission and heading."""

    label: str
    route: str
    permission: str
    group: str


NAV: tuple[NavItem, ...] = (
    NavItem("Home", "home", SIGNED_IN, "Overview"),
    NavItem("Users", "users:list", "users.view", "Your account"),
    NavItem("Roles", "roles:list", "roles.view", "Your account"),
    NavItem("Accounts", "accounts:list", "accounts.view", "Platform"),
    NavItem("Outbox", "outbox:list", "outbox.view", "Platform"),
)


def visible(identity: Identity | None) -> list[tuple[str, list[NavItem]]]:
    """The groups and items this identity may use, in order."""
    if identity is None:
        return []
    groups: dict[str, list[NavItem]] = {}
    for item in NAV:
        if item.permission == SIGNED_IN or identity.can(item.permission):
            groups.setdefault(item.group, []).append(item)
    return list(groups.items())
