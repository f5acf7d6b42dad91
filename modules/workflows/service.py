"""`Workflows`: the one object the web layer and the API talk to.

Definitions (versioned, validated), triggers (manual, API, schedule, event,
webhook), runs (list, get, cancel, retry), notifications on failure.
"""

from __future__ import annotations

import functools
import hashlib
import json
import secrets
import time
from datetime import datetime, timedelta
from typing import Any, Callable, Mapping

from modules.datastore import Datastore, NotFoundError, Page, ScopedDAO, ValidationError
from modules.email import Mailer
from modules.libraries.manager import LibraryManager
from modules.libraries.secretbox import SecretBox
from modules.logs import get_logger
from modules.tenants import Tenants
from modules.workflows.definition import Definition, DefinitionError, parse
from modules.workflows.engine import EVENT_DEPTH, Engine, Outcome
from modules.workflows.entities import RUN, VERSION, WORKFLOW, create_global_indexes
from modules.workflows.runner import Runner
from modules.workflows.runs import RunStore
from modules.workflows.validation import validate
from modules.workflows.webhooks import WebhookError, check_signature

log = get_logger("workflows")
MAX_EVENT_DEPTH = 5


class WorkflowConflict(Exception):
    """The change conflicts with the current state (say, runs still going)."""


class Workflows:  # pylint: disable=too-many-instance-attributes,too-many-public-methods
    """Workflow definitions, triggers and runs of every account."""

    def __init__(  # pylint: disable=too-many-arguments
        self,
        store: Datastore,
        libraries: LibraryManager,
        tenants: Tenants,
        mailer: Mailer,
        secrets_box: SecretBox,
        *,
        permissions_for: Callable[[int], frozenset[str]],
        base_url: str = "http://127.0.0.1:8000",
        workers: int = 4,
        retention_days: int = 30,
        stale_seconds: float = 15.0,
        clock: Callable[[], datetime] | None = None,
    ):
        self.store = store
        self.db = store.db
        self.libraries = libraries
        self.tenants = tenants
        self.mailer = mailer
        self.secrets = secrets_box
        self.base_url = base_url.rstrip("/")
        self.retention_days = retention_days
        self.clock = clock or (lambda: datetime.now().astimezone())
        create_global_indexes(self.db)
        self.workflows: ScopedDAO = store.dao(WORKFLOW.name)  # type: ignore[assignment]
        self.versions: ScopedDAO = store.dao(VERSION.name)  # type: ignore[assignment]
        self.run_dao: ScopedDAO = store.dao(RUN.name)  # type: ignore[assignment]
        self.runs = RunStore(self.db)
        self.engine = Engine(
            self.runs,
            libraries,
            permissions_for=permissions_for,
            account_info=self._account_info,
            event_sink=self.emit,
            clock=self.clock,
        )
        self.runner = Runner(
            self.runs,
            self.engine,
            self.definition_of,
            workers=workers,
            # Beats well inside the stale limit, so a live run is never taken as stale.
            heartbeat_seconds=min(2.0, stale_seconds / 3),
            stale_seconds=stale_seconds,
            on_finished=self._finished,
            clock=self.clock,
        )
        self.runner.fire = self.fire_schedule

    # --- life cycle -------------------------------------------------------------

    def start(self) -> None:
        """Start the runner, load schedules, plan housekeeping."""
        self.runner.start()
        self.sync_schedules()
        self.runner.scheduler.add_job(
            self.sync_schedules, "interval", seconds=30, id="sync-schedules", replace_existing=True
        )
        self.runner.scheduler.add_job(
            self.prune, "interval", hours=6, id="prune-runs", replace_existing=True
        )

    def stop(self, grace_seconds: float = 10.0) -> bool:
        """Stop the runner (in-flight runs finish or go back to the queue);
        False when a step was still running after the grace period."""
        return self.runner.stop(grace_seconds)

    # --- definitions -----------------------------------------------------------

    def check(self, data: Any) -> Definition:
        """Parse and validate a definition; `DefinitionError` lists the problems."""
        definition = parse(data)
        validate(definition, self.libraries.validator)
        return definition

    def create(self, account_id: int, data: Any, *, user_id: int | None = None) -> dict[str, Any]:
        """Save a new workflow (version 1)."""
        definition = self.check(data)
        self._check_error_workflow(account_id, definition, None)
        now = self.clock()
        with self.db.transaction():
            workflow_id = self.workflows.insert(
                account_id,
                {
                    **self._columns(definition),
                    "current_version": 1,
                    "owner_user": user_id,
                    "created_at": now,
                    "updated_at": now,
                },
            )
            self.versions.insert(
                account_id,
                {
                    "workflow": workflow_id,
                    "version": 1,
                    "definition": definition.to_json(),
                    "created_by": user_id,
                    "created_at": now,
                },
            )
        self.db.after_commit(self.sync_schedules)
        return self.get(account_id, workflow_id) or {}

    def update(
        self, account_id: int, workflow_id: int, data: Any, *, user_id: int | None = None
    ) -> dict[str, Any]:
        """Save a new version; runs already started keep theirs."""
        definition = self.check(data)
        self._check_error_workflow(account_id, definition, workflow_id)
        with self.db.transaction():
            current = self._require(account_id, workflow_id)
            version = current["current_version"] + 1
            self.versions.insert(
                account_id,
                {
                    "workflow": workflow_id,
                    "version": version,
                    "definition": definition.to_json(),
                    "created_by": user_id,
                    "created_at": self.clock(),
                },
            )
            self.workflows.update(
                account_id,
                workflow_id,
                {
                    **self._columns(definition),
                    "current_version": version,
                    "updated_at": self.clock(),
                },
            )
        self.sync_schedules()
        return self.get(account_id, workflow_id) or {}

    def set_enabled(
        self, account_id: int, workflow_id: int, enabled: bool, *, user_id: int | None = None
    ) -> dict[str, Any]:
        """Enable or disable: a new version with only `enabled` changed. Not
        checked again, so a workflow whose capability went away can still be
        switched off."""
        with self.db.transaction():
            row = self._require(account_id, workflow_id)
            if bool(row["enabled"]) != enabled:
                current = self.versions.find_one(
                    account_id, {"workflow": workflow_id, "version": row["current_version"]}
                )
                definition = {**(current["definition"] if current else {}), "enabled": enabled}
                version = row["current_version"] + 1
                self.versions.insert(
                    account_id,
                    {
                        "workflow": workflow_id,
                        "version": version,
                        "definition": definition,
                        "created_by": user_id,
                        "created_at": self.clock(),
                    },
                )
                self.workflows.update(
                    account_id,
                    workflow_id,
                    {"enabled": enabled, "current_version": version, "updated_at": self.clock()},
                )
        self.sync_schedules()
        return self.get(account_id, workflow_id) or {}

    def get(self, account_id: int, workflow_id: int) -> dict[str, Any] | None:
        """The workflow with its current definition, or None."""
        row = self.workflows.get(account_id, workflow_id)
        if row is None:
            return None
        version = self.versions.find_one(
            account_id, {"workflow": workflow_id, "version": row["current_version"]}
        )
        return self._public(row, version["definition"] if version else {})

    def version(self, account_id: int, workflow_id: int, version: int) -> dict[str, Any] | None:
        """A past version's definition, or None."""
        row = self.versions.find_one(account_id, {"workflow": workflow_id, "version": version})
        return None if row is None else row["definition"]

    def page(
        self,
        account_id: int,
        *,
        search: str | None = None,
        after: str | None = None,
        limit: int = 50,
    ) -> Page:
        """The account's workflows by name."""
        page = self.workflows.page(
            account_id, search=search, after=after, limit=limit, order_by="name"
        )
        return Page([self._public(r, None) for r in page.items], page.next_cursor)

    def delete(self, account_id: int, workflow_id: int, *, force: bool = False) -> None:
        """Remove a workflow with its versions and runs. With queued or running
        runs this is a `WorkflowConflict`, unless `force`, which cancels them
        (an engine still busy with one stops at its next write)."""
        with self.db.transaction():
            self._require(account_id, workflow_id)
            active = self.runs.active_runs(account_id, workflow_id)
            if active and not force:
                raise WorkflowConflict(
                    f"the workflow has {len(active)} queued or running runs; "
                    "cancel them or delete with force"
                )
            for run_id in active:
                self.runs.request_cancel(account_id, run_id, self.clock())
            self.workflows.delete(account_id, workflow_id)
        for run_id in active:
            self.runner.cancel_local(run_id)
        self._await_local(active, timeout=5.0)
        self.sync_schedules()

    def _await_local(self, run_ids: list[int], timeout: float) -> None:
        """Give this process's engines a moment to let go of cancelled runs
        (those in other processes stop at their next heartbeat or write)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and set(run_ids) & set(self.runner.active):
            time.sleep(0.01)

    # --- triggers ----------------------------------------------------------------

    def trigger(  # pylint: disable=too-many-arguments
        self,
        account_id: int,
        workflow_id: int,
        payload: Mapping[str, Any] | None = None,
        *,
        trigger_type: str = "manual",
        user_id: int | None = None,
        dedupe_key: str | None = None,
    ) -> int | None:
        """Queue a run of the current version; returns its id (None when the
        dedupe key was used already)."""
        workflow = self.workflows.get(account_id, workflow_id)
        if workflow is None:
            raise NotFoundError(f"no workflow {workflow_id}")
        if payload is not None and not isinstance(payload, Mapping):
            raise ValidationError({"payload": "must be an object"})
        run_id = self.runs.create_run(
            account_id,
            workflow_id,
            workflow["current_version"],
            trigger_type,
            dict(payload or {}),
            now=self.clock(),
            created_by=user_id or workflow["owner_user"],
            dedupe_key=dedupe_key,
        )
        if run_id is not None:
            self.db.after_commit(self.runner.wake)
        return run_id

    def fire_schedule(self, account_id: int, workflow_id: int, minute: str) -> None:
        """A cron tick: one run per workflow and minute, whichever process fires."""
        workflow = self.workflows.get(account_id, workflow_id)
        if workflow is None or not workflow["enabled"] or workflow["trigger_type"] != "schedule":
            return
        self.trigger(
            account_id,
            workflow_id,
            {"scheduled_for": minute},
            trigger_type="schedule",
            dedupe_key=f"schedule:{workflow_id}:{minute}",
        )

    def emit(self, account_id: int, event: str, payload: Mapping[str, Any]) -> list[int]:
        """An event happened in an account: start its enabled workflows that
        listen for it. Returns the run ids."""
        depth = int(payload.get("_event_depth", 0)) if isinstance(payload, Mapping) else 0
        depth = max(depth, EVENT_DEPTH.get())
        if depth >= MAX_EVENT_DEPTH:
            log.warning("event %s dropped: events triggering events %d deep", event, depth)
            return []
        started = []
        for workflow in self.workflows.find(account_id, {"event": event, "enabled": True}):
            if workflow["trigger_type"] != "event":
                continue
            data = {**dict(payload), "event": event, "_event_depth": depth + 1}
            run_id = self.trigger(account_id, workflow["id"], data, trigger_type="event")
            if run_id is not None:
                started.append(run_id)
        return started

    def webhook_secret(self, account_id: int, workflow_id: int) -> tuple[str, str]:
        """Make (or replace) the workflow's webhook: returns (url token, signing
        secret). Both are shown once; only a hash of the token and the
        encrypted secret are kept."""
        self._require(account_id, workflow_id)
        token = secrets.token_urlsafe(24)
        secret = "whsec_" + secrets.token_urlsafe(32)
        self.workflows.update(
            account_id,
            workflow_id,
            {
                "webhook_token_hash": hashlib.sha256(token.encode()).hexdigest(),
                "webhook_secret": self.secrets.encrypt(secret),
            },
        )
        return token, secret

    def receive_webhook(self, token: str, body: bytes, signature: str | None) -> int:
        """A signed POST to /hooks/{token}: verify, refuse replays, start a run."""
        digest = hashlib.sha256(token.encode()).hexdigest()
        row = self.db.execute_one(
            "SELECT id, account_id, webhook_secret, enabled FROM workflow "
            "WHERE webhook_token_hash = ?",
            (digest,),
        )
        if row is None or not row["webhook_secret"]:
            raise WebhookError(404, "no such webhook")
        secret = self.secrets.decrypt(row["webhook_secret"])
        payload = check_signature(self.db, secret, body, signature, self.clock())
        if not row["enabled"]:
            raise WebhookError(409, "the workflow is disabled")
        run_id = self.trigger(row["account_id"], row["id"], payload, trigger_type="webhook")
        assert run_id is not None
        return run_id

    # --- runs ---------------------------------------------------------------------

    def get_run(self, account_id: int, run_id: int) -> dict[str, Any] | None:
        """A run with its step runs and log lines."""
        run = self.runs.get_run(account_id, run_id)
        if run is None:
            return None
        run["steps"] = self.runs.steps_of(account_id, run_id)
        run["logs"] = self.runs.logs_of(account_id, run_id)
        return run

    def cancel_run(self, account_id: int, run_id: int) -> str:
        """Cancel a queued run, or ask a running one to stop. Returns the status."""
        status = self.runs.request_cancel(account_id, run_id, self.clock())
        if status is None:
            raise NotFoundError(f"no run {run_id}")
        self.runner.cancel_local(run_id)
        return status

    def retry_run(
        self,
        account_id: int,
        run_id: int,
        *,
        from_failed: bool = True,
        latest: bool = False,
        user_id: int | None = None,
    ) -> int:
        """Run a finished run again: from the failed step (completed outputs
        reused) or from the start, on its version or on the latest one."""
        old = self.runs.get_run(account_id, run_id)
        if old is None:
            raise NotFoundError(f"no run {run_id}")
        if old["status"] not in ("failed", "cancelled", "completed"):
            raise WorkflowConflict("only a finished run can be retried")
        workflow = self._require(account_id, old["workflow"])
        version = workflow["current_version"] if latest else old["version"]
        with self.db.transaction():
            new_id = self.runs.create_run(
                account_id,
                old["workflow"],
                version,
                "retry",
                old["trigger_payload"],
                now=self.clock(),
                created_by=user_id or old["created_by"],
                retry_of=run_id,
                reuse_outputs=from_failed,
            )
            assert new_id is not None
            if from_failed:
                self.runs.copy_completed(account_id, run_id, new_id, self.clock())
        self.runner.wake()
        return new_id

    def definition_of(self, account_id: int, workflow_id: int, version: int) -> Definition | None:
        """The parsed definition a run executes (versions never change: cached)."""
        return _cached_definition(self, account_id, workflow_id, version)

    # --- schedules, notifications, retention ------------------------------------

    def sync_schedules(self) -> None:
        """Point the cron jobs at the enabled schedule workflows of every account."""
        rows = self.db.execute(
            "SELECT account_id, id, cron, timezone FROM workflow "
            "WHERE enabled = 1 AND trigger_type = 'schedule' AND cron IS NOT NULL"
        )
        self.runner.set_schedules((r[0], r[1], r[2], r[3] or "UTC") for r in rows)

    def prune(self) -> int:
        """Delete runs finished more than `retention_days` ago."""
        removed = self.runs.prune(self.clock() - timedelta(days=self.retention_days))
        if removed:
            log.info("pruned %d old runs", removed)
        return removed

    def _finished(self, run: dict[str, Any], outcome: Outcome) -> None:
        if outcome.status != "failed":
            return
        workflow = self.get(run["account_id"], run["workflow"])
        if workflow is None:
            return
        # Who to tell is part of the version the run executed.
        definition = (
            self.version(run["account_id"], run["workflow"], run["version"])
            or workflow["definition"]
        )
        recipients = set(definition.get("notify") or [])
        owner = workflow.get("owner_user")
        if owner:
            user = self.tenants.get_user(run["account_id"], owner)
            if user and user["active"]:
                recipients.add(user["username"])
        for address in sorted(recipients):
            try:
                self.mailer.queue(
                    address,
                    "run_failed",
                    {
                        "workflow_name": workflow["name"],
                        "run_id": run["id"],
                        "error": outcome.error or "unknown error",
                        "run_url": f"{self.base_url}/runs/{run['id']}",
                    },
                )
            except ValueError:
                log.warning("could not mail %s about run %s", address, run["id"])
        error_workflow = definition.get("error_workflow")
        # A failed error workflow starts no other: two that name each other would loop.
        if error_workflow and error_workflow != run["workflow"] and run["trigger_type"] != "error":
            try:
                self.trigger(
                    run["account_id"],
                    error_workflow,
                    {
                        "failed_run_id": run["id"],
                        "workflow_id": run["workflow"],
                        "workflow_name": workflow["name"],
                        "error": outcome.error,
                    },
                    trigger_type="error",
                )
            except NotFoundError:
                log.warning("error workflow %s of run %s is gone", error_workflow, run["id"])

    # --- helpers ----------------------------------------------------------------------

    def _account_info(self, account_id: int) -> dict[str, Any]:
        account = self.tenants.get_account(account_id) or {}
        return {"id": account_id, "name": account.get("name"), "status": account.get("status")}

    def _require(self, account_id: int, workflow_id: int) -> dict[str, Any]:
        row = self.workflows.get(account_id, workflow_id)
        if row is None:
            raise NotFoundError(f"no workflow {workflow_id}")
        return row

    def _check_error_workflow(
        self, account_id: int, definition: Definition, workflow_id: int | None
    ) -> None:
        target = definition.error_workflow
        if target is None:
            return
        if target == workflow_id or self.workflows.get(account_id, target) is None:
            raise DefinitionError({"error_workflow": f"there is no other workflow {target}"})

    @staticmethod
    def _columns(definition: Definition) -> dict[str, Any]:
        return {
            "name": definition.name,
            "description": definition.description,
            "enabled": definition.enabled,
            "trigger_type": definition.trigger.type,
            "cron": definition.trigger.cron,
            "timezone": definition.trigger.timezone,
            "event": definition.trigger.event,
        }

    @staticmethod
    def _public(row: Mapping[str, Any], definition: Mapping[str, Any] | None) -> dict[str, Any]:
        data = {k: v for k, v in row.items() if k not in ("webhook_token_hash", "webhook_secret")}
        data["has_webhook"] = bool(row.get("webhook_token_hash"))
        data["version"] = row["current_version"]
        if definition is not None:
            data["definition"] = dict(definition)
        return data


@functools.lru_cache(maxsize=1024)
def _parsed(definition_json: str) -> Definition:
    return parse(json.loads(definition_json))


def _cached_definition(
    service: Workflows, account_id: int, workflow_id: int, version: int
) -> Definition | None:
    row = service.db.execute_one(
        "SELECT definition FROM workflow_version WHERE account_id = ? AND workflow = ? "
        "AND version = ?",
        (account_id, workflow_id, version),
    )
    if row is None:
        return None
    return _parsed(row[0])
