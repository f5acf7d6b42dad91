"""The runs of the signed-in user's account: the filtered list, and a run's
page with its step timeline and log, which refreshes itself (htmx polling)
while the run is queued or running, plus cancel and retry.

Polling stops when the server says so: the live partial of a finished run
comes back without its `hx-trigger`, so htmx has nothing left to repeat.
Every handler works inside `identity.account_id`: another account's run id
is a 404.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount

from modules.datastore import NotFoundError, ValidationError
from modules.workflows.entities import FINISHED
from modules.workflows.service import WorkflowConflict
from webapp.flash import flash
from webapp.forms.workflows import RetryForm, RunFilterForm, pretty
from webapp.gate import route
from webapp.rendering import signed_in, container, redirect, render, render_for_target

PAGE_SIZE = 50
TABLE_PARTIAL = {"run-table": "runs/_run_table.html"}
LIVE_PARTIAL = "runs/_run_live.html"
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


def duration(ms: float | None) -> str:
    """A duration for people: 850 ms, 1.2 s, 3 min 4 s, 2 h 5 min."""
    if ms is None:
        return ""
    if ms < 1000:
        return f"{ms:.0f} ms"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, seconds = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def moment(value: datetime | None) -> str:
    """A timestamp in UTC, to the second."""
    return value.astimezone(timezone.utc).strftime(TIME_FORMAT) if value else ""


def run_duration(run: dict[str, Any]) -> str:
    """The recorded duration, or the time so far while the run goes on."""
    if run.get("duration_ms") is not None:
        return duration(run["duration_ms"])
    if run.get("started_at") and run["status"] == "running":
        elapsed = datetime.now(timezone.utc) - run["started_at"]
        return duration(elapsed.total_seconds() * 1000) + " so far"
    return ""


HELPERS = {"duration": duration, "moment": moment, "run_duration": run_duration, "pretty": pretty}


# --- list ------------------------------------------------------------------------


def run_list(request: Request) -> Response:
    """Runs newest first, filtered by workflow, status and date; keyset pages."""
    account_id = signed_in(request).account_id
    flows = container(request).workflows
    workflows = flows.workflows.find(account_id, order_by="name")
    form = RunFilterForm(request.query_params)
    form.set_workflow_choices(workflows)
    filters = form.filters()
    after = request.query_params.get("after") or None
    try:
        page = flows.runs.page_runs(account_id, **filters, after=after, limit=PAGE_SIZE)
    except ValidationError:
        # A mangled cursor: start again from the first page.
        after = None
        page = flows.runs.page_runs(account_id, **filters, limit=PAGE_SIZE)
    context = {
        "form": form,
        "runs": page.items,
        "names": {w["id"]: w["name"] for w in workflows},
        "query": form.query(),
        "filtered": any(v is not None for v in filters.values()),
        "next_cursor": page.next_cursor,
        "after": after,
        **HELPERS,
    }
    response = render_for_target(request, "runs/run_list.html", TABLE_PARTIAL, context)
    response.headers["Vary"] = "HX-Target"
    return response


# --- one run --------------------------------------------------------------------------


def _run_or_404(request: Request) -> dict[str, Any]:
    run = container(request).workflows.get_run(
        signed_in(request).account_id, request.path_params["run_id"]
    )
    if run is None:
        raise HTTPException(404)
    return run


def run_view(request: Request) -> Response:
    """The run page; the live part alone for its own polling (HX-Target: run-live)."""
    me = signed_in(request)
    run = _run_or_404(request)
    polled = request.headers.get("hx-target") == "run-live"
    workflow = container(request).workflows.get(me.account_id, run["workflow"])
    context = {
        "run": run,
        "workflow": workflow,
        "finished": run["status"] in FINISHED,
        # A poll that sees the run finish also swaps in the actions for a
        # finished run (Retry instead of Cancel), out of band.
        "swap_actions": polled and run["status"] in FINISHED,
        "retry_form": RetryForm(start="failed" if run["status"] != "completed" else "start"),
        **HELPERS,
    }
    if polled:
        response = render(request, LIVE_PARTIAL, context)
    else:
        response = render(request, "runs/run_view.html", context)
    response.headers["Vary"] = "HX-Target"
    response.headers["Cache-Control"] = "no-store"
    return response


def run_cancel(request: Request) -> Response:
    """Cancel a queued run at once, or ask a running one to stop."""
    me = signed_in(request)
    run_id = request.path_params["run_id"]
    flows = container(request).workflows
    before = flows.runs.get_run(me.account_id, run_id)
    if before is None:
        raise HTTPException(404)
    if before["status"] in FINISHED:
        flash(request, f"Run #{run_id} had already finished ({before['status']}).", "info")
        return redirect(request, "runs:view", run_id=run_id)
    try:
        status = flows.cancel_run(me.account_id, run_id)
    except NotFoundError:
        raise HTTPException(404) from None
    if status == "cancelled":
        flash(request, f"Run #{run_id} is cancelled.")
    elif status == "running":
        flash(request, f"Run #{run_id} is asked to stop; it stops after its current step.", "info")
    else:
        flash(request, f"Run #{run_id} had already finished ({status}).", "info")
    return redirect(request, "runs:view", run_id=run_id)


def run_retry(request: Request) -> Response:
    """Run a finished run again: from the failed step or the start, on its
    version or the latest; then go to the new run."""
    me = signed_in(request)
    run_id = request.path_params["run_id"]
    form = RetryForm(request.state.form)
    if not form.validate():
        flash(request, "Choose where to start and which version to run.", "error")
        return redirect(request, "runs:view", run_id=run_id)
    try:
        new_id = container(request).workflows.retry_run(
            me.account_id,
            run_id,
            from_failed=form.start.data == "failed",
            latest=form.version.data == "latest",
            user_id=me.user_id,
        )
    except NotFoundError:
        raise HTTPException(404) from None
    except WorkflowConflict as exc:
        flash(request, f"Run #{run_id} cannot be retried: {exc}.", "error")
        return redirect(request, "runs:view", run_id=run_id)
    flash(request, f"Run #{new_id} retries run #{run_id}.")
    return redirect(request, "runs:view", run_id=new_id)


mount = Mount(
    "/runs",
    routes=[
        route("/", run_list, permission="workflows.view", name="list"),
        route("/{run_id:int}", run_view, permission="workflows.view", name="view"),
        route(
            "/{run_id:int}/cancel",
            run_cancel,
            permission="workflows.execute",
            methods=["POST"],
            name="cancel",
        ),
        route(
            "/{run_id:int}/retry",
            run_retry,
            permission="workflows.execute",
            methods=["POST"],
            name="retry",
        ),
    ],
    name="runs",
)
