"""Who may see, change and run workflows.

Seeing workflows and their runs goes to every role (a "*.view" default);
changing definitions is for Admins; starting, cancelling and retrying runs
is for Admins and Members.
"""

from __future__ import annotations

from modules.authz import Permission

GROUP = "Workflows"

PERMISSIONS: tuple[Permission, ...] = (
    Permission(
        "workflows.view",
        "See the account's workflows, their definitions and their runs with step logs.",
        GROUP,
    ),
    Permission(
        "workflows.manage",
        "Create, change, enable, disable and delete workflows.",
        GROUP,
        roles=("Admin",),
    ),
    Permission(
        "workflows.execute",
        "Start workflows, and cancel or retry their runs.",
        GROUP,
        roles=("Admin", "Member"),
    ),
)
