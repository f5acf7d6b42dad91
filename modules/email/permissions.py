"""The permissions of the outbox screen.

Mail bodies hold live password-reset and invitation links: whoever reads them
can take over the recipient's account. So reading bodies is not a "*.view"
permission (those reach every Admin, Member and Viewer by themselves); it
goes with `outbox.manage`, which only the Owner has unless granted.
"""

from __future__ import annotations

from modules.authz import Permission

GROUP = "Email"

PERMISSIONS: tuple[Permission, ...] = (
    Permission(
        "outbox.view",
        "See the outbox list: recipients, subjects, statuses and delivery errors, "
        "but not the mail itself (platform staff only).",
        GROUP,
        platform=True,
        roles=("Admin",),
    ),
    Permission(
        "outbox.manage",
        "Read outgoing mail, including password reset and invitation links, and "
        "send failed mail again (platform staff only).",
        GROUP,
        platform=True,
    ),
)
