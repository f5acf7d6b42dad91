"""The contact table and the capabilities that use it.

Plain functions with type hints: the library manager derives each
capability's input and output schema from the signature, and its
description from the docstring (parameter help from the `Args:` section).
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import re
from typing import Any, Mapping, TypedDict

from modules.datastore import Entity, Field, UniqueError, utcnow
from modules.libraries.context import Context

DEFAULT_PAGE_SIZE = 25
MAX_PAGE_SIZE = 1000  # the datastore's largest page
MAX_LIMIT = 200
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
EXPORT_COLUMNS = ("id", "name", "email", "company", "vip", "notes", "created_at")
# A spreadsheet runs a cell that starts with one of these as a formula.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

CONTACT = Entity(
    "crm_contact",
    (
        Field("name", required=True, label="Name"),
        Field("email", unique=True, label="Email"),
        Field("company", label="Company"),
        Field("vip", "boolean", default=False, label="VIP"),
        Field("notes", label="Notes"),
        Field("created_at", "datetime", default=utcnow, label="Created"),
    ),
    tenant_scoped=True,
    label="Contact",
    search_fields=("name", "email", "company"),
)


class Contact(TypedDict):
    """One contact, as the capabilities return it (JSON-friendly)."""

    id: int
    name: str
    email: str | None
    company: str | None
    vip: bool
    notes: str | None
    created_at: str | None


class FoundContacts(TypedDict):
    """The answer of crm.find_contacts."""

    contacts: list[Contact]
    count: int
    total: int


class Export(TypedDict):
    """The answer of crm.export_contacts."""

    csv: str
    count: int
    signed: bool
    signature: str


def create_contact(
    ctx: Context, name: str, email: str, company: str = "", vip: bool = False
) -> Contact:
    """Adds a contact to the calling account and announces it with the
    crm.contact_created event.

    Args:
        name: Full name of the person.
        email: Their email address; an account has one contact per address.
        company: Where they work.
        vip: Whether they get special attention.
    """
    name, email = name.strip(), email.strip().lower()
    if not name:
        raise ValueError("name must not be blank")
    if not EMAIL.fullmatch(email):
        raise ValueError(f"{email!r} is not an email address")
    contacts = ctx.dao("crm_contact")
    values = {"name": name, "email": email, "company": company.strip() or None, "vip": vip}
    try:
        contact_id = contacts.insert(values)
    except UniqueError:
        raise ValueError(f"there is already a contact with the email {email}") from None
    contact = _public(contacts.get(contact_id) or {"id": contact_id, **values})
    ctx.emit("crm.contact_created", {**contact, "owner": ctx.config.get("default_owner") or None})
    ctx.logger.info("created contact %s (%s)", contact_id, name)
    return contact


def find_contacts(
    ctx: Context, query: str = "", vip_only: bool = False, limit: int = 20
) -> FoundContacts:
    """Finds the calling account's contacts, by name.

    `count` is how many are returned, `total` how many match.

    Args:
        query: Text to look for in the name, email or company (blank: all contacts).
        vip_only: Only VIP contacts.
        limit: At most this many contacts (1-200).
    """
    if not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit must be between 1 and {MAX_LIMIT}")
    where = {"vip": True} if vip_only else None
    search = query.strip() or None
    contacts = ctx.dao("crm_contact")
    rows = contacts.find(where, order_by="name", limit=limit, search=search)
    return {
        "contacts": [_public(row) for row in rows],
        "count": len(rows),
        "total": contacts.count(where, search=search),
    }


def export_contacts(ctx: Context) -> Export:
    """Returns every contact of the calling account as CSV, signed with the
    api_token setting (HMAC-SHA256 of the CSV), so whoever holds the token can
    check the file came from here. The token itself is never returned."""
    token = ctx.config.get("api_token")
    if not token:
        raise ValueError("the CRM has no api_token yet: set it on the Libraries screen")
    page_size = _page_size(ctx.config)
    contacts = ctx.dao("crm_contact")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(EXPORT_COLUMNS)
    count, cursor = 0, None
    while True:
        if ctx.cancelled.is_set():  # the call timed out or its run was cancelled
            raise RuntimeError(f"export cancelled after {count} contacts")
        page = contacts.page(order_by="id", limit=page_size, after=cursor)
        for row in page.items:
            contact = _public(row)
            writer.writerow([_cell(contact[column]) for column in EXPORT_COLUMNS])
        count += len(page.items)
        cursor = page.next_cursor
        if cursor is None:
            break
    text = buffer.getvalue()
    digest = hmac.new(str(token).encode(), text.encode(), hashlib.sha256).hexdigest()
    ctx.logger.info("exported %d contacts", count)
    return {"csv": text, "count": count, "signed": True, "signature": f"sha256={digest}"}


def _public(row: Mapping[str, Any]) -> Contact:
    """A stored row as plain JSON data (the datetime as ISO 8601 text)."""
    created = row.get("created_at")
    return {
        "id": row["id"],
        "name": row["name"],
        "email": row.get("email"),
        "company": row.get("company"),
        "vip": bool(row.get("vip")),
        "notes": row.get("notes"),
        "created_at": created.isoformat() if created is not None else None,
    }


def _page_size(config: Mapping[str, Any]) -> int:
    """The page_size setting; settings never saved are absent from ctx.config."""
    value = config.get("page_size")
    if value in (None, ""):
        return DEFAULT_PAGE_SIZE
    return max(1, min(int(value), MAX_PAGE_SIZE))


def _cell(value: Any) -> Any:
    """A CSV cell a spreadsheet shows as text, never runs as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value
