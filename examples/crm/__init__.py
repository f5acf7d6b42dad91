"""CRM: a small contact store, as a sample Switchboard library.

It lives outside the app and loads like any other library: copy (or
symlink) this folder into LIBRARIES_DIR and add it by its folder name, or
run `webapp demo`. The capabilities are in `contacts.py`; this module only
declares what the library offers. `register` has no effect of its own: the
library manager checks everything it declared and applies it in one step.
"""

from __future__ import annotations

from modules.libraries.contract import LibraryRegistry

from .contacts import CONTACT, DEFAULT_PAGE_SIZE, create_contact, export_contacts, find_contacts

VERSION = "1.0.0"


def register(registry: LibraryRegistry) -> None:
    """Declare the CRM's settings, table, permission, event and capabilities."""
    # info() first: permissions are listed under the title it sets.
    registry.info(
        version=VERSION,
        title="CRM",
        description="A small contact store: add, find and export the contacts of each account.",
    )
    registry.config(
        "api_token",
        "secret",
        required=True,
        help="Signs CSV exports (HMAC-SHA256), so whoever holds the token can check them. "
        "Stored encrypted and never shown again.",
    )
    registry.config(
        "default_owner",
        "email",
        help="Who looks after new contacts; sent along with every crm.contact_created event.",
    )
    registry.config(
        "page_size",
        "integer",
        default=DEFAULT_PAGE_SIZE,
        help="How many contacts an export reads from the database at a time.",
    )
    registry.entity(CONTACT)
    registry.permission(
        "crm.export", "Export every contact of the account as CSV.", roles=("Admin",)
    )
    registry.event(
        "crm.contact_created",
        "A contact was added; the payload is the contact plus `owner` (the default owner).",
    )
    registry.capability(create_contact, title="Create a contact")
    registry.capability(find_contacts, title="Find contacts")
    registry.capability(
        export_contacts, title="Export contacts", permission="crm.export", timeout=120
    )
