"""The side navigation: each entry shows only to users holding its permission."""

from __future__ import annotations

import functools
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
    NavItem("Records", "records:index", SIGNED_IN, "Your account"),
    NavItem("Workflows", "workflows:list", "workflows.view", "Automation"),
    NavItem("Runs", "runs:list", "workflows.view", "Automation"),
    NavItem("Capabilities", "capabilities:list", "capabilities.view", "Automation"),
    NavItem("Accounts", "accounts:list", "accounts.view", "Platform"),
    NavItem("Outbox", "outbox:list", "outbox.view", "Platform"),
    NavItem("Libraries", "libraries:list", "libraries.view", "Platform"),
)


def visible(identity: Identity | None) -> list[tuple[str, list[NavItem]]]:
    """The groups and items this identity may use, in order."""
    if identity is None:
        return []
    return _visible(identity.permissions)


@functools.lru_cache(maxsize=256)
def _visible(permissions: frozenset[str]) -> list[tuple[str, list[NavItem]]]:
    # Few distinct permission sets exist (one per role mix), and the layout
    # asks on every page: compute each once.
    groups: dict[str, list[NavItem]] = {}
    for item in NAV:
        if item.permission == SIGNED_IN or item.permission in permissions:
            groups.setdefault(item.group, []).append(item)
    return list(groups.items())


def is_current(path: str, href: str) -> bool:
    """Whether `href` is the page at `path` or a section containing it."""
    return path == href or (href != "/" and path.startswith(href.rstrip("/") + "/"))
