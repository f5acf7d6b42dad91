"""The `email_outbox` entity: every mail Switchboard sends, and where it stands."""

from __future__ import annotations

from modules.datastore import Entity, Field, utcnow

OUTBOX = "email_outbox"

QUEUED = "queued"
SENDING = "sending"
SENT = "sent"
FAILED = "failed"
STATUSES = (QUEUED, SENDING, SENT, FAILED)

OUTBOX_ENTITY = Entity(
    OUTBOX,
    (
        Field("to_address", required=True, label="To"),
        Field("subject", required=True),
        Field("body_text", required=True, label="Text body"),
        Field("body_html", label="HTML body"),
        Field("template"),
        Field("status", required=True, default=QUEUED, help="queued, sending, sent or failed"),
        Field("attempts", "integer", default=0, help="failed delivery attempts so far"),
        Field("last_error"),
        Field("next_attempt_at", "datetime", help="not sent before this time (empty: at once)"),
        Field("created_at", "datetime", default=utcnow),
        Field("sent_at", "datetime"),
        # When a sender took the mail; a mail still "sending" long after this
        # was held by a process that died, and goes back to the queue.
        Field("claimed_at", "datetime"),
    ),
    indexes=(("status", "next_attempt_at"),),
    label="Email outbox",
    search_fields=("to_address", "subject"),
)

ENTITIES: tuple[Entity, ...] = (OUTBOX_ENTITY,)
