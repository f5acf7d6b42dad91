"""Who may manage libraries and see the capability catalogue.

Library code runs for every account of the installation, so adding,
configuring and removing libraries is for platform operators only.
"""

from __future__ import annotations

from modules.authz import Permission

GROUP = "Libraries"

PERMISSIONS: tuple[Permission, ...] = (
    Permission(
        "libraries.view",
        "See the installed libraries, their status, settings and load errors "
        "(platform staff only).",
        GROUP,
        platform=True,
        roles=("Admin",),
    ),
    Permission(
        "libraries.manage",
        "Add, configure, enable, disable, reload and remove libraries (platform staff only).",
        GROUP,
        platform=True,
        roles=(),
    ),
    Permission(
        "capabilities.view",
        "Browse the capability catalogue and what each capability takes and returns.",
        GROUP,
    ),
)
