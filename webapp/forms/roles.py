"""The custom role form, and permissions grouped under their headings."""

from __future__ import annotations

from typing import Iterable, NamedTuple

from wtforms import StringField, TextAreaField
from wtforms.validators import DataRequired, Length

from modules.authz import Permission
from webapp.forms import Form, MultiCheckboxField

UNAVAILABLE_GROUP = "No longer available"
UNAVAILABLE_DESCRIPTION = "Granted earlier; no installed library declares it any more."


def too_much(keys: Iterable[str]) -> str:
    """The message for an attempt to hand out permissions one does not hold."""
    return (
        "You cannot hand out permissions you do not hold yourself: " + ", ".join(sorted(keys)) + "."
    )


class PermissionRow(NamedTuple):
    """One permission as a screen lists it."""

    key: str
    description: str
    group: str


def permission_groups(
    grantable: Iterable[Permission], held: Iterable[str] = ()
) -> list[tuple[str, list[PermissionRow]]]:
    """`(heading, rows)` in the registry's order (group, then key). Keys in
    `held` that are no longer grantable come last under their own heading, so
    a form that shows them can send them back (or drop them)."""
    groups: dict[str, list[PermissionRow]] = {}
    known: set[str] = set()
    for perm in grantable:
        groups.setdefault(perm.group, []).append(
            PermissionRow(perm.key, perm.description, perm.group)
        )
        known.add(perm.key)
    stale = sorted(set(held) - known)
    if stale:
        groups[UNAVAILABLE_GROUP] = [
            PermissionRow(key, UNAVAILABLE_DESCRIPTION, UNAVAILABLE_GROUP) for key in stale
        ]
    return list(groups.items())


class RoleForm(Form):
    """Name, description and the permissions of a custom role. The template
    renders `permissions` grouped (see `permission_groups`); the module checks
    that every key may be granted in the account."""

    name = StringField("Name", [DataRequired("Give the role a name."), Length(max=60)])
    description = TextAreaField(
        "Description",
        [Length(max=500)],
        description="What people with this role do, in a sentence.",
    )
    permissions = MultiCheckboxField("Permissions", choices=[])
