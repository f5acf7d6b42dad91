"""Tables of the workflow system (DDL as data, like every module)."""

from __future__ import annotations

from modules.datastore import Database, Entity, Field, utcnow

RUN_STATUSES = ("queued", "running", "completed", "failed", "cancelled")
STEP_STATUSES = ("pending", "running", "completed", "failed", "skipped", "cancelled")
FINISHED = ("completed", "failed", "cancelled")

WORKFLOW = Entity(
    "workflow",
    (
        Field("name", required=True),
        Field("description", default=""),
        Field("enabled", "boolean", required=True, default=True),
        Field("trigger_type", required=True, default="manual"),
        Field("cron"),
        Field("timezone", default="UTC"),
        Field("event"),
        Field("current_version", "integer", required=True, default=1),
        Field("owner_user", "integer"),
        Field("webhook_token_hash"),
        Field("webhook_secret"),
        Field("created_at", "datetime", default=utcnow),
        Field("updated_at", "datetime", default=utcnow),
    ),
    tenant_scoped=True,
    label="Workflow",
    indexes=(("name",), ("event",)),
    search_fields=("name", "description"),
)

VERSION = Entity(
    "workflow_version",
    (
        Field("workflow", "reference", required=True, references="workflow", on_delete="cascade"),
        Field("version", "integer", required=True),
        Field("definition", "json", required=True),
        Field("created_by", "integer"),
        Field("created_at", "datetime", default=utcnow),
    ),
    tenant_scoped=True,
    uniques=(("workflow", "version"),),
)

RUN = Entity(
    "workflow_run",
    (
        Field("workflow", "reference", required=True, references="workflow", on_delete="cascade"),
        Field("version", "integer", required=True),
        Field("trigger_type", required=True),
        Field("trigger_payload", "json", default={}),
        Field("status", required=True, default="queued"),
        Field("error"),
        Field("created_by", "integer"),
        Field("created_at", "datetime", default=utcnow),
        Field("not_before", "datetime"),
        Field("started_at", "datetime"),
        Field("finished_at", "datetime"),
        Field("duration_ms", "real"),
        Field("claimed_by"),
        Field("heartbeat_at", "datetime"),
        Field("cancel_requested", "boolean", required=True, default=False),
        Field("retry_of", "integer"),
        Field("reuse_outputs", "boolean", required=True, default=False),
        Field("dedupe_key"),
    ),
    tenant_scoped=True,
    indexes=(("workflow", "created_at"), ("status",), ("created_at",)),
)

STEP_RUN = Entity(
    "step_run",
    (
        Field("run", "reference", required=True, references="workflow_run", on_delete="cascade"),
        Field("step_id", required=True),
        Field("capability", required=True),
        Field("attempt", "integer", required=True, default=1),
        Field("status", required=True),
        Field("input", "json"),
        Field("output", "json"),
        Field("error"),
        Field("started_at", "datetime"),
        Field("finished_at", "datetime"),
        Field("duration_ms", "real"),
    ),
    tenant_scoped=True,
)

RUN_LOG = Entity(
    "run_log",
    (
        Field("run", "reference", required=True, references="workflow_run", on_delete="cascade"),
        Field("step_id"),
        Field("level", required=True, default="INFO"),
        Field("message", required=True),
        Field("created_at", "datetime", default=utcnow),
    ),
    tenant_scoped=True,
)

WEBHOOK_SEEN = Entity(
    "webhook_seen",
    (
        Field("signature_hash", required=True, unique=True),
        Field("seen_at", "datetime", required=True, default=utcnow),
    ),
    indexes=(("seen_at",),),
)

ENTITIES = (WORKFLOW, VERSION, RUN, STEP_RUN, RUN_LOG, WEBHOOK_SEEN)

# Across accounts: the runner claims the oldest due run of any account, and
# a schedule firing in two processes must create one run.
GLOBAL_INDEXES = (
    "CREATE INDEX IF NOT EXISTS ix_workflow_run_queue ON workflow_run (status, not_before, id)",
    "CREATE UNIQUE INDEX IF NOT EXISTS ux_workflow_run_dedupe ON workflow_run (dedupe_key) "
    "WHERE dedupe_key IS NOT NULL",
    "CREATE UNIQUE INDEX IF NOT EXISTS ux_workflow_webhook ON workflow (webhook_token_hash) "
    "WHERE webhook_token_hash IS NOT NULL",
    "CREATE INDEX IF NOT EXISTS ix_step_run_run ON step_run (run, id)",
    "CREATE INDEX IF NOT EXISTS ix_run_log_run ON run_log (run, id)",
    "CREATE INDEX IF NOT EXISTS ix_workflow_run_finished ON workflow_run (finished_at) "
    "WHERE finished_at IS NOT NULL",
)


def create_global_indexes(db: Database) -> None:
    """Add the cross-account indexes (idempotent; run after registering ENTITIES)."""
    db.apply(GLOBAL_INDEXES)
