"""`/api/v1/runs`: the key's account's workflow runs: list with filters,
read one with its step runs and log lines, cancel, retry.

Cancelling a queued run cancels it at once; a running one is asked to stop
and finishes as `cancelled` within moments (poll the run). Retrying needs a
finished run and queues a new one.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Mapping

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse

from modules.datastore import NotFoundError, ValidationError
from modules.workflows.service import WorkflowConflict
from webapp.api._json import BadBody, json_object, jsonable
from webapp.api.workflows import (
    MAX_ID,
    accepted,
    invalid,
    page_params,
    path_id,
    sentence,
)
from webapp.errors import json_error
from webapp.gate import route
from webapp.rendering import container, signed_in

NO_RUN = "There is no such run."
RETRY_FROM = ("failed", "start")
RETRY_VERSION = ("pinned", "latest")


# --- shapes -------------------------------------------------------------------------


def run_json(run: Mapping[str, Any]) -> dict[str, Any]:
    """One run as the API shows it (with "steps" and "logs" when loaded)."""
    data: dict[str, Any] = {
        "id": run["id"],
        "workflow_id": run["workflow"],
        "version": run["version"],
        "status": run["status"],
        "trigger_type": run["trigger_type"],
        "trigger_payload": jsonable(run["trigger_payload"]),
        "error": run["error"],
        "created_by": run["created_by"],
        "created_at": jsonable(run["created_at"]),
        "not_before": jsonable(run["not_before"]),
        "started_at": jsonable(run["started_at"]),
        "finished_at": jsonable(run["finished_at"]),
        "duration_ms": run["duration_ms"],
        "cancel_requested": bool(run["cancel_requested"]),
        "retry_of": run["retry_of"],
        "reuse_outputs": bool(run["reuse_outputs"]),
    }
    if "steps" in run:
        data["steps"] = [step_json(step) for step in run["steps"]]
    if "logs" in run:
        data["logs"] = [log_json(line) for line in run["logs"]]
    return data


def step_json(step: Mapping[str, Any]) -> dict[str, Any]:
    """One step run (one attempt of a step, or a step that did not run)."""
    return {
        "id": step["id"],
        "step_id": step["step_id"],
        "capability": step["capability"],
        "attempt": step["attempt"],
        "status": step["status"],
        "input": jsonable(step["input"]),
        "output": jsonable(step["output"]),
        "error": step["error"],
        "started_at": jsonable(step["started_at"]),
        "finished_at": jsonable(step["finished_at"]),
        "duration_ms": step["duration_ms"],
    }


def log_json(line: Mapping[str, Any]) -> dict[str, Any]:
    """One line of the run log."""
    return {
        "id": line["id"],
        "step_id": line["step_id"],
        "level": line["level"],
        "message": line["message"],
        "created_at": jsonable(line["created_at"]),
    }


# --- query parameters --------------------------------------------------------------


def parse_since(raw: str) -> datetime:
    """An ISO 8601 date or date and time; without an offset it is UTC.

    A "+" in a query string arrives as a space unless it was encoded, so a
    space before the offset is read as "+".
    """
    text = raw.strip()
    if "T" in text:
        text = text.replace(" ", "+")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValidationError(
            {"since": "must be an ISO 8601 date and time, like 2024-05-01T09:00:00Z"}
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def run_filters(request: Request) -> dict[str, Any]:
    """`workflow`, `status` and `since` from the query, checked."""
    query = request.query_params
    filters: dict[str, Any] = {"status": query.get("status") or None}
    raw_workflow = query.get("workflow", "").strip()
    if raw_workflow:
        try:
            filters["workflow_id"] = int(raw_workflow)
        except ValueError:
            raise ValidationError({"workflow": "must be a workflow id"}) from None
        if not 0 < filters["workflow_id"] <= MAX_ID:
            raise ValidationError({"workflow": "must be a workflow id"})
    if query.get("since", "").strip():
        filters["since"] = parse_since(query["since"])
    return filters


# --- handlers ----------------------------------------------------------------------


def run_list(request: Request) -> JSONResponse:
    """The account's runs, newest first, filtered by workflow, status and since."""
    try:
        after, limit = page_params(request)
        page = container(request).workflows.runs.page_runs(
            signed_in(request).account_id, after=after, limit=limit, **run_filters(request)
        )
    except ValidationError as exc:
        return invalid(exc)
    return JSONResponse(
        {"items": [run_json(run) for run in page.items], "next_cursor": page.next_cursor}
    )


def run_get(request: Request) -> JSONResponse:
    """One run with its step runs and its log lines."""
    run_id = path_id(request)
    run = run_id and container(request).workflows.get_run(signed_in(request).account_id, run_id)
    if not run:
        return json_error(404, NO_RUN)
    return JSONResponse(run_json(run))


def run_cancel(request: Request) -> JSONResponse:
    """-> 202 `{"run_id", "status"}`: "cancelled" for a run that had not
    started, "running" for one that was asked to stop. 409 when it has
    finished already."""
    run_id = path_id(request)
    if run_id is None:
        return json_error(404, NO_RUN)
    try:
        status = container(request).workflows.cancel_run(signed_in(request).account_id, run_id)
    except NotFoundError:
        return json_error(404, NO_RUN)
    if status in ("completed", "failed"):
        return json_error(409, f"The run has {status} already; there is nothing to cancel.")
    return JSONResponse({"run_id": run_id, "status": status}, status_code=202)


async def run_retry(request: Request) -> JSONResponse:
    """`{"from": "failed"|"start", "version": "pinned"|"latest"}` (both
    optional) -> 202 `{"run_id", "status": "queued"}` for the new run."""
    try:
        body = await json_object(request)
    except BadBody as exc:
        return exc.response
    problems = {key: "is not a retry setting" for key in body if key not in ("from", "version")}
    start = body.get("from", "failed")
    if start not in RETRY_FROM:
        problems["from"] = 'must be "failed" or "start"'
    version = body.get("version", "pinned")
    if version not in RETRY_VERSION:
        problems["version"] = 'must be "pinned" or "latest"'
    if problems:
        return json_error(422, None, problems)
    run_id = path_id(request)
    if run_id is None:
        return json_error(404, NO_RUN)
    identity = signed_in(request)
    workflows = container(request).workflows

    def retry() -> int:
        return workflows.retry_run(
            identity.account_id,
            run_id,
            from_failed=start == "failed",
            latest=version == "latest",
            user_id=identity.user_id,
        )

    try:
        new_id = await run_in_threadpool(retry)
    except NotFoundError:
        return json_error(404, NO_RUN)
    except WorkflowConflict as exc:
        return json_error(409, sentence(exc))
    return accepted(request, new_id, "queued")


routes = [
    route("/api/v1/runs", run_list, permission="workflows.view", name="api_runs"),
    route("/api/v1/runs/{id:int}", run_get, permission="workflows.view", name="api_run"),
    route(
        "/api/v1/runs/{id:int}/cancel",
        run_cancel,
        permission="workflows.execute",
        methods=["POST"],
        name="api_run_cancel",
    ),
    route(
        "/api/v1/runs/{id:int}/retry",
        run_retry,
        permission="workflows.execute",
        methods=["POST"],
        name="api_run_retry",
    ),
]
