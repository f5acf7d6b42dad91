"""Generated admin screens for the entities that live libraries declare:
an index, a list (search, sort, keyset pages), create, edit and delete.

Which entity a request is about is only known from its path, so the gate's
one static permission per route cannot express `<entity>.view` and
`<entity>.manage`: the routes declare SIGNED_IN and every handler checks
the generated permission itself (`_entity_for`), answering 403 without it.
Tenant-scoped entities are always read and written through the ScopedDAO
with `identity.account_id`, so another account's record id is a 404;
global entities exist only for the platform account.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Callable

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount

from modules.datastore import DAO, Entity, Page, SchemaError, ScopedDAO, ValidationError
from webapp.errors import error_page
from webapp.flash import flash
from webapp.forms.records import (
    RecordFields,
    RecordForm,
    changed_values,
    display,
    entity_label,
    field_label,
    pretty_json,
    record_title,
)
from webapp.gate import SIGNED_IN, route
from webapp.identity import Identity
from webapp.rendering import signed_in, container, redirect, render, render_for_target

PAGE_SIZE = 50
TABLE_PARTIAL = {"record-table": "records/_record_table.html"}
DIRECTIONS = ("asc", "desc")
# Sorting JSON by its text says nothing useful; every other column sorts.
UNSORTABLE = ("json",)


class Forbidden(Exception):
    """The signed-in user lacks the entity's generated permission."""


@dataclass(frozen=True)
class Target:
    """The entity a request is about, its DAO and the account it is scoped to."""

    library: str
    entity: Entity
    dao: DAO | ScopedDAO
    me: Identity

    @property
    def name(self) -> str:
        """The entity's name (as in the path)."""
        return self.entity.name

    @property
    def can_manage(self) -> bool:
        """Whether the user may create, change and delete records."""
        return self.me.can(f"{self.name}.manage")

    def get(self, record_id: int) -> dict[str, Any] | None:
        """A record of the user's account (any record for a global entity)."""
        if isinstance(self.dao, ScopedDAO):
            return self.dao.get(self.me.account_id, record_id)
        return self.dao.get(record_id)

    def insert(self, values: dict[str, Any]) -> int:
        """Add a record; returns its id."""
        if isinstance(self.dao, ScopedDAO):
            return self.dao.insert(self.me.account_id, values)
        return self.dao.insert(values)

    def update(self, record_id: int, values: dict[str, Any]) -> bool:
        """Change a record; False when it is gone."""
        if isinstance(self.dao, ScopedDAO):
            return self.dao.update(self.me.account_id, record_id, values)
        return self.dao.update(record_id, values)

    def delete(self, record_id: int) -> bool:
        """Remove a record; False when it is gone."""
        if isinstance(self.dao, ScopedDAO):
            return self.dao.delete(self.me.account_id, record_id)
        return self.dao.delete(record_id)

    def count(self) -> int:
        """How many records the user's account holds."""
        if isinstance(self.dao, ScopedDAO):
            return self.dao.count(self.me.account_id)
        return self.dao.count()

    def page(self, **options: Any) -> Page:
        """One page of records (`DAO.page` options)."""
        if isinstance(self.dao, ScopedDAO):
            return self.dao.page(self.me.account_id, **options)
        return self.dao.page(**options)


def _visible(me: Identity, entity: Entity) -> bool:
    """Global entities are platform data: other accounts never see them."""
    return entity.tenant_scoped or me.platform


def _target(request: Request, need: str) -> Target:
    """The entity named in the path, if the user may `need` ("view" or "manage") it.

    404 for an entity no live library declares (or a global one outside the
    platform account); `Forbidden` without the generated permission. Changes
    need `.view` as well as `.manage`.
    """
    me = signed_in(request)
    services = container(request)
    found = services.libraries.entity(request.path_params["entity"])
    if found is None or not _visible(me, found[1]):
        raise HTTPException(404)
    library, entity = found
    needed = [f"{entity.name}.view"] + ([f"{entity.name}.manage"] if need == "manage" else [])
    if not all(me.can(key) for key in needed):
        raise Forbidden
    try:
        dao = services.store.dao(entity.name)
    except SchemaError:
        # The library was disabled between the two look-ups.
        raise HTTPException(404) from None
    return Target(library, entity, dao, me)


def _record_or_404(target: Target, request: Request) -> dict[str, Any]:
    record = target.get(request.path_params["record_id"])
    if record is None:
        raise HTTPException(404)
    return record


Handler = Callable[[Request, Target], Response]


def _guarded(need: str) -> Callable[[Handler], Callable[[Request], Response]]:
    """Decorator: resolve the target (checking `need`) and answer 403 without it."""

    def wrap(handler: Handler) -> Callable[[Request], Response]:
        @functools.wraps(handler)
        def guarded(request: Request) -> Response:
            try:
                target = _target(request, need)
            except Forbidden:
                return error_page(request, 403)
            return handler(request, target)

        return guarded

    return wrap


# --- index ---------------------------------------------------------------------------


def records_index(request: Request) -> Response:
    """The entities the user may view, grouped by library, with counts."""
    me = signed_in(request)
    services = container(request)
    groups: dict[str, dict[str, Any]] = {}
    for library, entity in services.libraries.entities():
        if not _visible(me, entity) or not me.can(f"{entity.name}.view"):
            continue
        try:
            target = Target(library, entity, services.store.dao(entity.name), me)
        except SchemaError:
            continue
        if library not in groups:
            info = services.libraries.library(library) or {}
            groups[library] = {"name": library, "title": info.get("title") or library, "rows": []}
        groups[library]["rows"].append(
            {
                "name": entity.name,
                "label": entity_label(entity),
                "count": target.count(),
                "tenant_scoped": entity.tenant_scoped,
                "can_manage": target.can_manage,
            }
        )
    ordered = sorted(groups.values(), key=lambda g: g["title"].casefold())
    return render(request, "records/record_index.html", {"groups": ordered})


# --- list ----------------------------------------------------------------------------


def _columns(entity: Entity) -> list[dict[str, Any]]:
    return [
        {
            "name": f.name,
            "label": field_label(f),
            "type": f.type,
            "sortable": f.type not in UNSORTABLE,
        }
        for f in entity.fields
    ]


def _sort(request: Request, entity: Entity) -> tuple[str, str]:
    """(order_by, dir) from the query; unknown values fall back to id, asc."""
    order_by = request.query_params.get("order_by", "id")
    sortable = {"id"} | {f.name for f in entity.fields if f.type not in UNSORTABLE}
    if order_by not in sortable:
        order_by = "id"
    direction = request.query_params.get("dir", "asc")
    return order_by, direction if direction in DIRECTIONS else "asc"


@_guarded("view")
def record_list(request: Request, target: Target) -> Response:
    """The records, searched, sorted and paged; the table alone for htmx."""
    search = request.query_params.get("q", "").strip()
    after = request.query_params.get("after") or None
    order_by, direction = _sort(request, target.entity)
    options = {
        "order_by": order_by,
        "descending": direction == "desc",
        "limit": PAGE_SIZE,
        "search": search or None,
    }
    try:
        page = target.page(after=after, **options)
    except ValidationError:
        # A mangled cursor: start again from the first page.
        after = None
        page = target.page(**options)
    fields = target.entity.fields
    rows = [
        {
            "id": item["id"],
            "cells": [(f.type, display(f, item.get(f.name))) for f in fields],
        }
        for item in page.items
    ]
    context = {
        "entity": target.entity,
        "label": entity_label(target.entity),
        "columns": _columns(target.entity),
        "rows": rows,
        "next_cursor": page.next_cursor,
        "q": search,
        "after": after,
        "order_by": order_by,
        "dir": direction,
        "searchable": any(f.type == "text" for f in fields) or bool(target.entity.search_fields),
        "can_manage": target.can_manage,
    }
    response = render_for_target(request, "records/record_list.html", TABLE_PARTIAL, context)
    response.headers["Vary"] = "HX-Target"
    return response


# --- create --------------------------------------------------------------------------


def _check_references(request: Request, target: Target, form: RecordForm) -> bool:
    """Each referenced id must name a record the user's account can reach.

    The foreign key alone would accept another account's record, and its
    error does not say which field is wrong.
    """
    services = container(request)
    values = form.values()
    ok = True
    for field in target.entity.fields:
        value = values[field.name]
        if field.type != "reference" or value is None:
            continue
        try:
            dao = services.store.dao(field.references or "")
        except SchemaError:
            continue  # not registered here (its library is off): the foreign key decides
        if isinstance(dao, ScopedDAO):
            found = dao.get(target.me.account_id, value)
        else:
            found = dao.get(value)
        if found is None:
            form.add_error(field.name, f"There is no {field.references} record with id {value}.")
            ok = False
    return ok


def _form_page(
    request: Request,
    target: Target,
    form: RecordForm,
    record: dict[str, Any] | None = None,
    status: int = 200,
) -> Response:
    context = {
        "entity": target.entity,
        "label": entity_label(target.entity),
        "form": form,
        "record": record,
        "title": record_title(target.entity, record) if record else None,
    }
    page = "records/record_edit.html" if record else "records/record_new.html"
    return render(request, page, context, status=status)


@_guarded("manage")
def record_new(request: Request, target: Target) -> Response:
    """GET: a blank form with the defaults. POST: add the record, or show why not."""
    fields = RecordFields.of(target.entity)
    if request.method == "GET":
        return _form_page(request, target, fields.blank_form())
    form = fields.posted_form(request.state.form)
    if not form.validate() or not _check_references(request, target, form):
        return _form_page(request, target, form, status=400)
    try:
        record_id = target.insert(form.values())
    except ValidationError as exc:
        form.bind_errors(exc.fields)
        return _form_page(request, target, form, status=400)
    flash(request, f"The {entity_label(target.entity)} record is added.")
    return redirect(request, "records:edit", entity=target.name, record_id=record_id)


# --- view and edit -------------------------------------------------------------------


@_guarded("view")
def record_view(request: Request, target: Target) -> Response:
    """One record: the edit form with `.manage`, a read-only page otherwise."""
    record = _record_or_404(target, request)
    if target.can_manage:
        form = RecordFields.of(target.entity).record_form(record)
        return _form_page(request, target, form, record)
    facts = [
        {
            "label": field_label(f),
            "type": f.type,
            "text": display(f, record.get(f.name), limit=None),
            "json": (
                pretty_json(record[f.name])
                if f.type == "json" and record.get(f.name) is not None
                else None
            ),
        }
        for f in target.entity.fields
    ]
    context = {
        "entity": target.entity,
        "label": entity_label(target.entity),
        "record": record,
        "title": record_title(target.entity, record),
        "facts": facts,
    }
    return render(request, "records/record_view.html", context)


@_guarded("manage")
def record_update(request: Request, target: Target) -> Response:
    """Save the changed fields together (or nothing)."""
    record = _record_or_404(target, request)
    form = RecordFields.of(target.entity).posted_form(request.state.form)
    if not form.validate() or not _check_references(request, target, form):
        return _form_page(request, target, form, record, 400)
    changes = changed_values(target.entity.fields, record, form.values())
    try:
        if changes and not target.update(record["id"], changes):
            raise HTTPException(404)
    except ValidationError as exc:
        form.bind_errors(exc.fields)
        return _form_page(request, target, form, record, 400)
    flash(request, "The changes are saved." if changes else "Nothing was changed.")
    return redirect(request, "records:edit", entity=target.name, record_id=record["id"])


# --- delete --------------------------------------------------------------------------


@_guarded("manage")
def record_delete(request: Request, target: Target) -> Response:
    """Remove the record (after the confirmation the page asks for)."""
    record = _record_or_404(target, request)
    title = record_title(target.entity, record)
    try:
        deleted = target.delete(record["id"])
    except ValidationError:
        # Only a foreign key can refuse a delete: other records point here.
        flash(request, f"{title} is still referred to by other records and stays.", "error")
        return redirect(request, "records:edit", entity=target.name, record_id=record["id"])
    if not deleted:
        raise HTTPException(404)
    flash(request, f"{title} is deleted.")
    return redirect(request, "records:list", entity=target.name)


# Every route is SIGNED_IN: the per-entity permissions are checked by the
# handlers (see the module docstring), never left to the route table.
mount = Mount(
    "/records",
    routes=[
        route("/", records_index, permission=SIGNED_IN, name="index"),
        route("/{entity}/", record_list, permission=SIGNED_IN, name="list"),
        route(
            "/{entity}/new",
            record_new,
            permission=SIGNED_IN,
            methods=["GET", "POST"],
            name="new",
        ),
        route("/{entity}/{record_id:int}", record_view, permission=SIGNED_IN, name="edit"),
        route(
            "/{entity}/{record_id:int}",
            record_update,
            permission=SIGNED_IN,
            methods=["POST"],
            name="edit",
        ),
        route(
            "/{entity}/{record_id:int}/delete",
            record_delete,
            permission=SIGNED_IN,
            methods=["POST"],
            name="delete",
        ),
    ],
    name="records",
)
