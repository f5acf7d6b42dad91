"""The outbox sender: queue rendered mail, send what is due, retry with backoff.

Every mail is a row of `email_outbox` before anything talks to a server, so
nothing is lost when SMTP is down or not configured. Senders claim due rows
by flipping them to "sending" in one transaction, which is what keeps two
processes on one database from sending the same mail.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Mapping

from modules.datastore import DAO, Datastore, Page, SchemaError, ValidationError, utcnow
from modules.email._validation import check_address
from modules.email.config import SmtpConfig
from modules.email.outbox import FAILED, OUTBOX, QUEUED, SENDING, SENT, STATUSES
from modules.email.rendering import MailTemplates
from modules.email.transport import build_message, connect, describe_error, is_refusal
from modules.logs import get_logger

log = get_logger("email")

# A mail still "sending" this long after it was claimed belongs to a sender
# that died; it goes back to the queue.
SENDING_TIMEOUT = timedelta(minutes=10)
# However many attempts are allowed, never wait longer than this between two.
MAX_RETRY_DELAY = timedelta(days=1)
BATCH = 20

Row = dict[str, Any]


def _db_time(moment: datetime) -> str:
    """`moment` as the datastore stores datetimes (UTC ISO 8601, microseconds),
    so that SQL can compare stored values with it as text."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).isoformat(timespec="microseconds")


class Mailer:  # pylint: disable=too-many-instance-attributes  # injected parts + thread state
    """Queues templated mail in the outbox and sends it over SMTP.

    `store` must have the `email_outbox` entity registered (`ENTITIES`).
    With `smtp=None` mail is queued but never sent: it waits in the outbox
    where an operator can read it.
    """

    def __init__(  # pylint: disable=too-many-arguments
        self,
        store: Datastore,
        smtp: SmtpConfig | None,
        templates_dir: Path,
        *,
        max_attempts: int = 5,
        retry_base_seconds: float = 30.0,
        clock: Callable[[], datetime] = utcnow,
    ):
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if retry_base_seconds < 0:
            raise ValueError("retry_base_seconds must not be negative")
        outbox = store.dao(OUTBOX)
        if not isinstance(outbox, DAO):
            raise SchemaError(f"entity {OUTBOX!r} must not be tenant-scoped")
        self.outbox = outbox
        self.db = store.db
        self.smtp = smtp
        self.templates = MailTemplates(templates_dir)
        self.max_attempts = max_attempts
        self.retry_base_seconds = retry_base_seconds
        self.clock = clock
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._thread_lock = threading.Lock()

    # --- queueing -------------------------------------------------------------

    def queue(self, to: str, template: str, context: Mapping[str, Any]) -> int:
        """Render `template` for `to`, store it as queued and wake the sender.

        Returns the outbox id. `ValueError` (and nothing stored) when the
        address is not one bare address, the template is missing or needs a
        value `context` lacks, or the subject would not be one line.
        """
        check_address(to)
        mail = self.templates.render(template, context)
        outbox_id = self.outbox.insert(
            {
                "to_address": to,
                "subject": mail.subject,
                "body_text": mail.body_text,
                "body_html": mail.body_html,
                "template": template,
                "status": QUEUED,
                "attempts": 0,
                "created_at": self.clock(),
            }
        )
        log.info("mail %s queued (template %s)", outbox_id, template)
        self._wake.set()
        return outbox_id

    # --- sending --------------------------------------------------------------

    def send_due(self, limit: int = BATCH) -> int:
        """Send up to `limit` due mails now; returns how many the server accepted.

        Does nothing (returns 0) when no SMTP server is configured.
        """
        return self._send_batch(limit)[1]

    def _send_batch(self, limit: int) -> tuple[int, int]:
        """(claimed, sent) for one batch."""
        if self.smtp is None:
            return 0, 0
        if limit < 1:
            raise ValueError("limit must be at least 1")
        rows = self._claim(self.clock(), limit)
        if not rows:
            return 0, 0
        return len(rows), self._deliver(self.smtp, rows)

    def _claim(self, now: datetime, limit: int) -> list[Row]:
        """Flip due rows to "sending" in one transaction and return them.

        BEGIN IMMEDIATE holds the database's write lock from the SELECT to the
        UPDATE, so a row is claimed by exactly one sender in any process.
        """
        with self.db.transaction() as conn:
            stale = conn.execute(
                f"UPDATE {OUTBOX} SET status = ?, claimed_at = NULL, last_error = ? "
                "WHERE status = ? AND (claimed_at IS NULL OR claimed_at < ?)",
                (
                    QUEUED,
                    "sending was interrupted (the sender stopped); queued again",
                    SENDING,
                    _db_time(now - SENDING_TIMEOUT),
                ),
            ).rowcount
            ids = [
                row[0]
                for row in conn.execute(
                    f"SELECT id FROM {OUTBOX} WHERE status = ? "
                    "AND (next_attempt_at IS NULL OR next_attempt_at <= ?) ORDER BY id LIMIT ?",
                    (QUEUED, _db_time(now), limit),
                )
            ]
            for outbox_id in ids:
                self.outbox.update(outbox_id, {"status": SENDING, "claimed_at": now})
        if stale:
            log.warning("%d mail(s) left sending by a stopped sender were queued again", stale)
        return self.outbox.find({"id": ids}) if ids else []

    def _deliver(self, smtp: SmtpConfig, rows: list[Row]) -> int:
        """Send claimed rows over one connection; record each outcome."""
        sent = 0
        pending = list(rows)
        try:
            with connect(smtp) as client:
                while pending:
                    row = pending[0]
                    try:
                        client.send_message(build_message(row, smtp, self.clock()))
                    except (OSError, ValueError) as exc:
                        if not is_refusal(exc):
                            raise  # the connection is gone: handled below
                        self._record_failure(pending.pop(0), describe_error(exc, smtp))
                        continue
                    self._record_sent(pending.pop(0))
                    sent += 1
        except (OSError, ValueError) as exc:
            # Could not connect, log in or go on: every mail not yet sent
            # counts one failed attempt.
            error = describe_error(exc, smtp)
            for row in pending:
                self._record_failure(row, error)
        return sent

    def _record_sent(self, row: Row) -> None:
        self.outbox.update(
            row["id"],
            {"status": SENT, "sent_at": self.clock(), "claimed_at": None, "next_attempt_at": None},
        )
        log.info("mail %s sent (template %s)", row["id"], row["template"])

    def _record_failure(self, row: Row, error: str) -> None:
        attempts = (row["attempts"] or 0) + 1
        values: dict[str, Any] = {"attempts": attempts, "last_error": error, "claimed_at": None}
        if attempts >= self.max_attempts:
            values.update(status=FAILED, next_attempt_at=None)
            log.error("mail %s failed after %d attempts: %s", row["id"], attempts, error)
        else:
            delay = min(
                timedelta(seconds=self.retry_base_seconds * 2 ** (attempts - 1)), MAX_RETRY_DELAY
            )
            values.update(status=QUEUED, next_attempt_at=self.clock() + delay)
            log.warning(
                "mail %s attempt %d failed, next try in %ds: %s",
                row["id"],
                attempts,
                delay.total_seconds(),
                error,
            )
        self.outbox.update(row["id"], values)

    # --- the background sender -----------------------------------------------

    def start(self, poll_seconds: float = 5.0) -> None:
        """Send in a daemon thread: when `queue` wakes it, and every `poll_seconds`.

        Does nothing when already running, or when no SMTP server is configured.
        """
        if poll_seconds <= 0:
            raise ValueError("poll_seconds must be more than 0")
        with self._thread_lock:
            if self._thread is not None and self._thread.is_alive():
                return
            if self.smtp is None:
                log.info("no SMTP server configured: mail stays queued in the outbox")
                return
            self._stopping.clear()
            self._thread = threading.Thread(
                target=self._run, args=(poll_seconds,), name="switchboard-mailer", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        """Stop the background thread and wait for it (a batch in flight finishes).

        Safe to call when it was never started."""
        with self._thread_lock:
            thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stopping.set()
        self._wake.set()
        thread.join()

    def _run(self, poll_seconds: float) -> None:
        smtp = self.smtp
        if smtp is None:  # start() does not start a thread without SMTP
            return
        log.info("mail sender started (%s:%d, %s)", smtp.host, smtp.port, smtp.security)
        while not self._stopping.is_set():
            # Cleared before the batch, so a mail queued while it runs wakes
            # the next round instead of waiting for the poll.
            self._wake.clear()
            try:
                claimed, _ = self._send_batch(BATCH)
            except Exception:  # pylint: disable=broad-exception-caught  # the thread must live on
                log.exception("mail sender: unexpected error; trying again later")
                claimed = 0
            # A full batch means more may be due: go again at once.
            if claimed < BATCH and not self._stopping.is_set():
                self._wake.wait(poll_seconds)
        log.info("mail sender stopped")

    # --- the outbox, for operators -------------------------------------------

    def outbox_page(
        self, status: str | None = None, after: str | None = None, limit: int = 50
    ) -> Page:
        """One page of the outbox, newest first, optionally of one status.

        Pass `next_cursor` back as `after`. `ValidationError` for an unknown
        status or a bad cursor.
        """
        _check_status(status)
        where = {"status": status} if status is not None else None
        return self.outbox.page(where, order_by="id", descending=True, after=after, limit=limit)

    def count(self, status: str | None = None) -> int:
        """How many mails the outbox holds, optionally of one status."""
        _check_status(status)
        return self.outbox.count({"status": status} if status is not None else None)

    def get(self, outbox_id: int) -> Row | None:
        """One outbox row, or None."""
        return self.outbox.get(outbox_id)

    def retry(self, outbox_id: int) -> bool:
        """Queue a failed mail again with its attempts reset.

        False (and nothing changed) when there is no such mail or it has not
        failed. `last_error` keeps the previous error until the next attempt.
        """
        with self.db.transaction():
            row = self.outbox.get(outbox_id)
            if row is None or row["status"] != FAILED:
                return False
            self.outbox.update(
                outbox_id, {"status": QUEUED, "attempts": 0, "next_attempt_at": None}
            )
        log.info("mail %s queued again by an operator", outbox_id)
        self._wake.set()
        return True


def _check_status(status: str | None) -> None:
    if status is not None and status not in STATUSES:
        raise ValidationError({"status": f"must be one of {', '.join(STATUSES)}"})
