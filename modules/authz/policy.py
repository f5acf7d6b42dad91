"""The evaluation rule, as a pure function."""

from __future__ import annotations

from typing import AbstractSet


def evaluate(
    grants: AbstractSet[str],
    allows: AbstractSet[str],
    denies: AbstractSet[str],
    entitled: AbstractSet[str],
) -> frozenset[str]:
    """Effective permissions: ((grants | allows) - denies) & entitled.

    Deny wins over any grant or allow; nothing outside `entitled` (the
    registered permissions the account may use) is ever effective; what is
    not granted is denied.
    """
    return frozenset((set(grants) | set(allows)) - set(denies)) & frozenset(entitled)
