"""The workflows of the signed-in user's account: list with active search,
enable/disable, "Run now", the JSON definition editor with its problems,
version history, import/export, webhook setup and delete.

Every handler works inside `identity.account_id` only: another account's
workflow id is a 404, whatever the method.
"""

from __future__ import annotations

from typing import Any, Callable

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount

from modules.datastore import NotFoundError, ValidationError
from modules.workflows.definition import DefinitionError
from modules.workflows.service import WorkflowConflict
from webapp.flash import flash
from webapp.forms.workflows import (
    EXAMPLE_DEFINITION,
    DefinitionForm,
    ImportForm,
    RunForm,
    pretty,
    slug,
)
from webapp.gate import GatedRoute, route, safe_next
from webapp.rendering import signed_in, container, redirect, render, render_for_target

PAGE_SIZE = 50
TABLE_PARTIAL = {"workflow-table": "workflows/_workflow_table.html"}
VIEW, MANAGE, EXECUTE = "workflows.view", "workflows.manage", "workflows.execute"


def _workflow_or_404(request: Request) -> dict[str, Any]:
    workflow = container(request).workflows.get(
        signed_in(request).account_id, request.path_params["workflow_id"]
    )
    if workflow is None:
        raise HTTPException(404)
    return workflow


def problem_list(problems: dict[str, str]) -> list[tuple[str, str]]:
    """`DefinitionError.problems` as (location, message), the whole-document
    problem ("_") named for what it is."""
    return [
        ("definition" if where == "_" else where, message) for where, message in problems.items()
    ]


def last_run_status(request: Request, workflow_ids: list[int]) -> dict[int, str]:
    """The status of each workflow's newest run, in one query."""
    if not workflow_ids:
        return {}
    account_id = signed_in(request).account_id
    marks = ", ".join("?" for _ in workflow_ids)
    rows = container(request).db.execute(
        "SELECT workflow, status FROM workflow_run WHERE id IN ("
        "SELECT max(id) FROM workflow_run WHERE account_id = ? "
        f"AND workflow IN ({marks}) GROUP BY workflow)",
        (account_id, *workflow_ids),
    )
    return dict(rows)


# --- list ------------------------------------------------------------------------


def workflow_list(request: Request) -> Response:
    """The account's workflows by name, searched and paged; the table alone for htmx."""
    account_id = signed_in(request).account_id
    flows = container(request).workflows
    search = request.query_params.get("q", "").strip()
    after = request.query_params.get("after") or None
    try:
        page = flows.page(account_id, search=search or None, after=after, limit=PAGE_SIZE)
    except ValidationError:
        # A mangled cursor: start again from the first page.
        after = None
        page = flows.page(account_id, search=search or None, limit=PAGE_SIZE)
    context = {
        "workflows": page.items,
        "last_status": last_run_status(request, [w["id"] for w in page.items]),
        "next_cursor": page.next_cursor,
        "q": search,
        "after": after,
        "run_form": RunForm(),
    }
    response = render_for_target(request, "workflows/workflow_list.html", TABLE_PARTIAL, context)
    response.headers["Vary"] = "HX-Target"
    return response


def _set_enabled(request: Request, enabled: bool) -> Response:
    me = signed_in(request)
    workflow = _workflow_or_404(request)
    try:
        container(request).workflows.set_enabled(me.account_id, workflow["id"], enabled)
    except NotFoundError:
        raise HTTPException(404) from None
    except DefinitionError as exc:
        # The stored definition no longer validates (say, a capability is gone).
        flash(request, f"{workflow['name']} cannot be changed: {exc}", "error")
    else:
        state = "enabled" if enabled else "disabled"
        flash(request, f"{workflow['name']} is {state}.")
    target = safe_next(request.state.form.get("next"))
    if target == "/":
        return redirect(request, "workflows:list")
    return RedirectResponse(target, status_code=303)


def workflow_enable(request: Request) -> Response:
    """Schedules, events and webhooks start runs again."""
    return _set_enabled(request, True)


def workflow_disable(request: Request) -> Response:
    """Schedules, events and webhooks stop starting runs."""
    return _set_enabled(request, False)


# --- run now ------------------------------------------------------------------------


def workflow_run(request: Request) -> Response:
    """GET: the "Run now" form. POST: queue a run, then go to its page."""
    me = signed_in(request)
    workflow = _workflow_or_404(request)
    if request.method == "GET":
        return render(
            request, "workflows/workflow_run.html", {"workflow": workflow, "form": RunForm()}
        )
    form = RunForm(request.state.form)
    payload = form.payload_or_none()
    if payload is None:
        context = {"workflow": workflow, "form": form}
        return render(request, "workflows/workflow_run.html", context, status=400)
    try:
        run_id = container(request).workflows.trigger(
            me.account_id, workflow["id"], payload, user_id=me.user_id
        )
    except NotFoundError:
        raise HTTPException(404) from None
    flash(request, f"Run #{run_id} of {workflow['name']} is queued.")
    return redirect(request, "runs:view", run_id=run_id)


# --- create and edit --------------------------------------------------------------------


def _editor_page(  # pylint: disable=too-many-arguments
    request: Request,
    template: str,
    form: DefinitionForm,
    *,
    workflow: dict[str, Any] | None = None,
    problems: list[tuple[str, str]] | None = None,
    status: int = 200,
    **extra: Any,
) -> Response:
    context: dict[str, Any] = {
        "form": form,
        "problems": problems or [],
        "workflow": workflow,
        "pretty": pretty,
    }
    if workflow is not None:
        context["versions"] = container(request).workflows.versions.find(
            signed_in(request).account_id,
            {"workflow": workflow["id"]},
            order_by="version",
            descending=True,
        )
    context.update(extra)
    return render(request, template, context, status=status)


def _save(
    request: Request, template: str, save: Callable[[Any], dict[str, Any]], **page: Any
) -> Response | dict[str, Any]:
    """Parse the posted JSON and `save` it; the saved workflow, or the editor
    again with the problems next to it and the typed text kept."""
    form = DefinitionForm(request.state.form)
    data = form.data_or_none()
    if data is None:
        return _editor_page(request, template, form, status=400, **page)
    try:
        return save(data)
    except DefinitionError as exc:
        problems = problem_list(exc.problems)
    except ValidationError as exc:
        problems = list(exc.fields.items())
    return _editor_page(request, template, form, problems=problems, status=400, **page)


def workflow_new(request: Request) -> Response:
    """GET: the editor with an example. POST: create the workflow."""
    me = signed_in(request)
    if request.method == "GET":
        form = DefinitionForm(definition=pretty(EXAMPLE_DEFINITION))
        return _editor_page(request, "workflows/workflow_new.html", form)
    saved = _save(
        request,
        "workflows/workflow_new.html",
        lambda data: container(request).workflows.create(me.account_id, data, user_id=me.user_id),
    )
    if isinstance(saved, Response):
        return saved
    flash(request, f"{saved['name']} is saved as version 1.")
    return redirect(request, "workflows:edit", workflow_id=saved["id"])


def _workflow_page(
    request: Request, workflow: dict[str, Any], status: int = 200, **extra: Any
) -> Response:
    if not signed_in(request).can(MANAGE):
        return _editor_page(
            request, "workflows/workflow_view.html", DefinitionForm(), workflow=workflow, **extra
        )
    form = DefinitionForm(definition=pretty(workflow["definition"]))
    return _editor_page(
        request, "workflows/workflow_edit.html", form, workflow=workflow, status=status, **extra
    )


def workflow_view(request: Request) -> Response:
    """One workflow: the editor for managers, the definition read-only otherwise."""
    return _workflow_page(request, _workflow_or_404(request))


def workflow_update(request: Request) -> Response:
    """Save the posted definition as a new version."""
    me = signed_in(request)
    workflow = _workflow_or_404(request)

    def save(data: Any) -> dict[str, Any]:
        try:
            return container(request).workflows.update(
                me.account_id, workflow["id"], data, user_id=me.user_id
            )
        except NotFoundError:
            raise HTTPException(404) from None

    saved = _save(request, "workflows/workflow_edit.html", save, workflow=workflow)
    if isinstance(saved, Response):
        return saved
    flash(request, f"{saved['name']} is saved as version {saved['version']}.")
    return redirect(request, "workflows:edit", workflow_id=workflow["id"])


def workflow_version(request: Request) -> Response:
    """A past version's definition, read-only."""
    me = signed_in(request)
    workflow = _workflow_or_404(request)
    number = request.path_params["version"]
    flows = container(request).workflows
    row = flows.versions.find_one(me.account_id, {"workflow": workflow["id"], "version": number})
    if row is None:
        raise HTTPException(404)
    context = {"workflow": workflow, "version": row, "definition": pretty(row["definition"])}
    return render(request, "workflows/workflow_version.html", context)


# --- delete -------------------------------------------------------------------------


def _delete(request: Request, force: bool) -> Response:
    me = signed_in(request)
    workflow = _workflow_or_404(request)
    try:
        container(request).workflows.delete(me.account_id, workflow["id"], force=force)
    except NotFoundError:
        raise HTTPException(404) from None
    except WorkflowConflict as exc:
        flash(request, f"{workflow['name']} is not deleted: {exc}.", "error")
        return _workflow_page(request, workflow, status=409, offer_force=True)
    flash(request, f"{workflow['name']} is deleted, with its versions and runs.")
    return redirect(request, "workflows:list")


def workflow_delete(request: Request) -> Response:
    """Delete, unless runs are queued or running (409, offering to force)."""
    return _delete(request, force=False)


def workflow_force_delete(request: Request) -> Response:
    """Cancel the workflow's runs, then delete it."""
    return _delete(request, force=True)


# --- import and export -------------------------------------------------------------------


def workflow_export(request: Request) -> Response:
    """The current definition as a JSON file download."""
    workflow = _workflow_or_404(request)
    return Response(
        pretty(workflow["definition"]) + "\n",
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="{slug(workflow["name"])}.json"'},
    )


def workflow_import(request: Request) -> Response:
    """GET: upload or paste. POST: create a new workflow from it."""
    me = signed_in(request)
    template = "workflows/workflow_import.html"
    if request.method == "GET":
        return render(request, template, {"form": ImportForm(), "problems": []})
    form = ImportForm(request.state.form)
    data = form.data_or_none()
    if data is None:
        return render(request, template, {"form": form, "problems": []}, status=400)
    try:
        saved = container(request).workflows.create(me.account_id, data, user_id=me.user_id)
    except DefinitionError as exc:
        problems = problem_list(exc.problems)
    except ValidationError as exc:
        problems = list(exc.fields.items())
    else:
        flash(request, f"{saved['name']} is imported as a new workflow.")
        return redirect(request, "workflows:edit", workflow_id=saved["id"])
    if not form.definition.data and isinstance(data, dict):
        # Show what the file held, so the problems can be fixed right here.
        form.definition.data = pretty(data)
    return render(request, template, {"form": form, "problems": problems}, status=400)


# --- webhook ------------------------------------------------------------------------------


def workflow_webhook(request: Request) -> Response:
    """Create (or replace) the webhook; the URL and the secret are shown this once."""
    me = signed_in(request)
    workflow = _workflow_or_404(request)
    flows = container(request).workflows
    try:
        token, secret = flows.webhook_secret(me.account_id, workflow["id"])
    except NotFoundError:
        raise HTTPException(404) from None
    context = {
        "workflow": workflow,
        "url": f"{flows.base_url}{request.app.url_path_for('webhook', token=token)}",
        "secret": secret,
        "replaced": workflow["has_webhook"],
    }
    response = render(request, "workflows/workflow_webhook.html", context)
    response.headers["Cache-Control"] = "no-store"
    return response


def _post(
    path: str, endpoint: Callable[[Request], Response], permission: str, name: str
) -> GatedRoute:
    return route(path, endpoint, permission=permission, methods=["POST"], name=name)


mount = Mount(
    "/workflows",
    routes=[
        route("/", workflow_list, permission=VIEW, name="list"),
        route("/new", workflow_new, permission=MANAGE, methods=["GET", "POST"], name="new"),
        route(
            "/import", workflow_import, permission=MANAGE, methods=["GET", "POST"], name="import"
        ),
        route("/{workflow_id:int}", workflow_view, permission=VIEW, name="edit"),
        _post("/{workflow_id:int}", workflow_update, MANAGE, "edit"),
        route(
            "/{workflow_id:int}/versions/{version:int}",
            workflow_version,
            permission=VIEW,
            name="version",
        ),
        route("/{workflow_id:int}/export", workflow_export, permission=VIEW, name="export"),
        route(
            "/{workflow_id:int}/run",
            workflow_run,
            permission=EXECUTE,
            methods=["GET", "POST"],
            name="run",
        ),
        _post("/{workflow_id:int}/enable", workflow_enable, MANAGE, "enable"),
        _post("/{workflow_id:int}/disable", workflow_disable, MANAGE, "disable"),
        _post("/{workflow_id:int}/webhook", workflow_webhook, MANAGE, "webhook"),
        _post("/{workflow_id:int}/delete", workflow_delete, MANAGE, "delete"),
        _post("/{workflow_id:int}/force-delete", workflow_force_delete, MANAGE, "force_delete"),
    ],
    name="workflows",
)
