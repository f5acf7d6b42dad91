"""The run log in SQLite: runs, step runs and log lines, written as they
happen, and the queue verbs the runner uses (claim, heartbeat, requeue).

Hot-path statements are plain SQL built once; every value is a `?`
parameter, and every read an account makes is filtered by its account id.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timezone
from typing import Any, Iterable, Mapping

from modules.datastore import Database, Page, ValidationError
from modules.datastore.dao import decode_cursor, encode_cursor
from modules.workflows.entities import FINISHED, RUN_STATUSES


def to_db(moment: datetime) -> str:
    """A datetime in the datastore's stored form (UTC, microseconds)."""
    return moment.astimezone(timezone.utc).isoformat(timespec="microseconds")


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), default=str)


RUN_COLUMNS = (
    "id, account_id, workflow, version, trigger_type, trigger_payload, status, error, "
    "created_by, created_at, not_before, started_at, finished_at, duration_ms, claimed_by, "
    "heartbeat_at, cancel_requested, retry_of, reuse_outputs"
)
_DATETIMES = ("created_at", "not_before", "started_at", "finished_at", "heartbeat_at")


def run_dict(row: sqlite3.Row) -> dict[str, Any]:
    """A run row as a dict with Python values."""
    run = dict(row)
    run["trigger_payload"] = json.loads(run["trigger_payload"] or "{}")
    for key in _DATETIMES:
        if run.get(key):
            run[key] = datetime.fromisoformat(run[key])
    run["cancel_requested"] = bool(run["cancel_requested"])
    run["reuse_outputs"] = bool(run["reuse_outputs"])
    return run


def step_dict(row: sqlite3.Row) -> dict[str, Any]:
    """A step-run row as a dict with Python values."""
    step = dict(row)
    for key in ("input", "output"):
        step[key] = None if step[key] is None else json.loads(step[key])
    for key in ("started_at", "finished_at"):
        if step.get(key):
            step[key] = datetime.fromisoformat(step[key])
    return step


class RunGone(LookupError):
    """The run was deleted (its workflow was deleted with force) while running."""


class RunStore:  # pylint: disable=too-many-public-methods  # the run log's verbs
    """Runs, step runs and run logs."""

    def __init__(self, db: Database):
        self.db = db

    # --- runs ------------------------------------------------------------

    def create_run(  # pylint: disable=too-many-arguments
        self,
        account_id: int,
        workflow_id: int,
        version: int,
        trigger_type: str,
        payload: Mapping[str, Any],
        *,
        now: datetime,
        created_by: int | None = None,
        not_before: datetime | None = None,
        dedupe_key: str | None = None,
        retry_of: int | None = None,
        reuse_outputs: bool = False,
    ) -> int | None:
        """Queue a run; None when `dedupe_key` was used already (a schedule
        firing in two processes makes one run)."""
        try:
            cursor = self.db.execute_write(
                "INSERT INTO workflow_run (account_id, workflow, version, trigger_type, "
                "trigger_payload, status, created_by, created_at, not_before, dedupe_key, "
                "retry_of, reuse_outputs, cancel_requested) "
                "VALUES (?, ?, ?, ?, ?, 'queued', ?, ?, ?, ?, ?, ?, 0)",
                (
                    account_id,
                    workflow_id,
                    version,
                    trigger_type,
                    _dumps(dict(payload)),
                    created_by,
                    to_db(now),
                    to_db(not_before) if not_before else None,
                    dedupe_key,
                    retry_of,
                    int(reuse_outputs),
                ),
            )
        except sqlite3.IntegrityError:
            if dedupe_key is not None:
                return None
            raise
        return cursor.lastrowid

    def claim(self, worker: str, now: datetime) -> dict[str, Any] | None:
        """Take the oldest due queued run, atomically: of two processes
        asking at once, exactly one gets it."""
        stamp = to_db(now)
        with self.db.transaction() as conn:
            row = conn.execute(
                f"UPDATE workflow_run SET status = 'running', claimed_by = ?, heartbeat_at = ?, "
                f"started_at = coalesce(started_at, ?) WHERE id = ("
                f"SELECT id FROM workflow_run WHERE status = 'queued' "
                f"AND (not_before IS NULL OR not_before <= ?) ORDER BY id LIMIT 1) "
                f"RETURNING {RUN_COLUMNS}",
                (worker, stamp, stamp, stamp),
            ).fetchone()
        return None if row is None else run_dict(row)

    def next_due(self) -> datetime | None:
        """When the earliest delayed run becomes due (None: none waiting)."""
        row = self.db.execute_one(
            "SELECT min(not_before) FROM workflow_run WHERE status = 'queued'"
        )
        return datetime.fromisoformat(row[0]) if row and row[0] else None

    def heartbeat(self, run_ids: Iterable[int], worker: str, now: datetime) -> set[int]:
        """Mark runs alive; returns the ids whose cancel was requested."""
        ids = list(run_ids)
        if not ids:
            return set()
        marks = ", ".join("?" for _ in ids)
        with self.db.transaction() as conn:
            conn.execute(
                f"UPDATE workflow_run SET heartbeat_at = ? WHERE claimed_by = ? "
                f"AND id IN ({marks})",
                (to_db(now), worker, *ids),
            )
            rows = conn.execute(
                f"SELECT id FROM workflow_run WHERE cancel_requested = 1 AND id IN ({marks})",
                ids,
            ).fetchall()
        return {r[0] for r in rows}

    def requeue_stale(self, stale_before: datetime) -> list[int]:
        """Runs left `running` by a process that stopped beating: back to the
        queue, to resume from their last completed step."""
        with self.db.transaction() as conn:
            rows = conn.execute(
                "UPDATE workflow_run SET status = 'queued', claimed_by = NULL "
                "WHERE status = 'running' AND (heartbeat_at IS NULL OR heartbeat_at < ?) "
                "RETURNING id",
                (to_db(stale_before),),
            ).fetchall()
        return [r[0] for r in rows]

    def requeue(self, run_id: int, worker: str, not_before: datetime | None = None) -> None:
        """Give a run this worker holds back to the queue (shutdown, retry later)."""
        self.db.execute_write(
            "UPDATE workflow_run SET status = 'queued', claimed_by = NULL, not_before = ? "
            "WHERE id = ? AND claimed_by = ? AND status = 'running'",
            (to_db(not_before) if not_before else None, run_id, worker),
        )

    def finish_run(
        self, run_id: int, status: str, error: str | None, now: datetime
    ) -> dict[str, Any] | None:
        """Record the outcome and duration; returns the run (None if gone)."""
        with self.db.transaction() as conn:
            row = conn.execute(
                f"UPDATE workflow_run SET status = ?, error = ?, finished_at = ?, "
                f"claimed_by = NULL, duration_ms = "
                f"(julianday(?) - julianday(coalesce(started_at, created_at))) * 86400000.0 "
                f"WHERE id = ? RETURNING {RUN_COLUMNS}",
                (status, error, to_db(now), to_db(now), run_id),
            ).fetchone()
        return None if row is None else run_dict(row)

    def request_cancel(self, account_id: int, run_id: int, now: datetime) -> str | None:
        """Ask a run to stop. A queued run is cancelled at once; a running one
        is told (its runner notices within a heartbeat). Returns the status
        after the call, or None when there is no such run."""
        with self.db.transaction() as conn:
            row = conn.execute(
                "SELECT status FROM workflow_run WHERE id = ? AND account_id = ?",
                (run_id, account_id),
            ).fetchone()
            if row is None:
                return None
            status = row[0]
            if status == "queued":
                conn.execute(
                    "UPDATE workflow_run SET status = 'cancelled', finished_at = ?, "
                    "error = 'cancelled before it started', cancel_requested = 1 WHERE id = ?",
                    (to_db(now), run_id),
                )
                return "cancelled"
            if status == "running":
                conn.execute("UPDATE workflow_run SET cancel_requested = 1 WHERE id = ?", (run_id,))
            return status

    def get_run(self, account_id: int, run_id: int) -> dict[str, Any] | None:
        """One run of the account."""
        row = self.db.execute_one(
            f"SELECT {RUN_COLUMNS} FROM workflow_run WHERE id = ? AND account_id = ?",
            (run_id, account_id),
        )
        return None if row is None else run_dict(row)

    def run_by_id(self, run_id: int) -> dict[str, Any] | None:
        """A run by id alone (for the runner, which serves every account)."""
        row = self.db.execute_one(f"SELECT {RUN_COLUMNS} FROM workflow_run WHERE id = ?", (run_id,))
        return None if row is None else run_dict(row)

    def page_runs(  # pylint: disable=too-many-arguments
        self,
        account_id: int,
        *,
        workflow_id: int | None = None,
        status: str | None = None,
        since: datetime | None = None,
        after: str | None = None,
        limit: int = 50,
    ) -> Page:
        """Newest first, filtered; keyset cursor on the id."""
        if status is not None and status not in RUN_STATUSES:
            raise ValidationError({"status": "must be one of: " + ", ".join(RUN_STATUSES)})
        if not 0 < limit <= 200:
            raise ValidationError({"limit": "must be between 1 and 200"})
        clauses, params = ["account_id = ?"], [account_id]
        if workflow_id is not None:
            clauses.append("workflow = ?")
            params.append(workflow_id)
        if status is not None:
            clauses.append("status = ?")
            params.append(status)
        if since is not None:
            clauses.append("created_at >= ?")
            params.append(to_db(since))
        if after:
            _, last_id = decode_cursor(after)
            clauses.append("id < ?")
            params.append(last_id)
        rows = self.db.execute(
            f"SELECT {RUN_COLUMNS} FROM workflow_run WHERE {' AND '.join(clauses)} "
            f"ORDER BY id DESC LIMIT ?",
            (*params, limit + 1),
        )
        items = [run_dict(r) for r in rows[:limit]]
        cursor = encode_cursor(None, items[-1]["id"]) if len(rows) > limit else None
        return Page(items, cursor)

    def active_runs(self, account_id: int, workflow_id: int) -> list[int]:
        """Ids of the workflow's queued or running runs."""
        rows = self.db.execute(
            "SELECT id FROM workflow_run WHERE account_id = ? AND workflow = ? "
            "AND status IN ('queued', 'running')",
            (account_id, workflow_id),
        )
        return [r[0] for r in rows]

    # --- steps and logs -----------------------------------------------------

    def start_step(  # pylint: disable=too-many-arguments
        self,
        account_id: int,
        run_id: int,
        *,
        step_id: str,
        capability: str,
        attempt: int,
        resolved_input: Any,
        now: datetime,
    ) -> int:
        """A step run in status `running`; returns its id."""
        try:
            cursor = self.db.execute_write(
                "INSERT INTO step_run (account_id, run, step_id, capability, attempt, status, "
                "input, started_at) VALUES (?, ?, ?, ?, ?, 'running', ?, ?)",
                (
                    account_id,
                    run_id,
                    step_id,
                    capability,
                    attempt,
                    _dumps(resolved_input),
                    to_db(now),
                ),
            )
        except sqlite3.IntegrityError:
            raise RunGone(run_id) from None
        return cursor.lastrowid

    def finish_step(  # pylint: disable=too-many-arguments
        self,
        step_run_id: int,
        status: str,
        *,
        output: Any = None,
        error: str | None = None,
        duration_ms: float | None = None,
        now: datetime,
    ) -> None:
        """Record a step run's outcome."""
        self.db.execute_write(
            "UPDATE step_run SET status = ?, output = ?, error = ?, finished_at = ?, "
            "duration_ms = ? WHERE id = ?",
            (
                status,
                None if output is None else _dumps(output),
                error,
                to_db(now),
                duration_ms,
                step_run_id,
            ),
        )

    def mark_steps(  # pylint: disable=too-many-arguments
        self,
        account_id: int,
        run_id: int,
        steps: Iterable[tuple[str, str]],
        *,
        status: str,
        reason: str | None,
        now: datetime,
    ) -> None:
        """Record steps that did not run (skipped or cancelled), with why."""
        rows = [
            (account_id, run_id, step_id, capability, status, reason, to_db(now), to_db(now))
            for step_id, capability in steps
        ]
        if rows:
            self.db.executemany(
                "INSERT INTO step_run (account_id, run, step_id, capability, attempt, status, "
                "error, started_at, finished_at) VALUES (?, ?, ?, ?, 0, ?, ?, ?, ?)",
                rows,
            )

    def interrupted_steps(self, run_id: int, now: datetime) -> None:
        """Step runs left `running` by a crash become failed (they are tried again)."""
        self.db.execute_write(
            "UPDATE step_run SET status = 'failed', error = 'interrupted (the process stopped)', "
            "finished_at = ? WHERE run = ? AND status = 'running'",
            (to_db(now), run_id),
        )

    def step_history(self, run_id: int) -> dict[str, dict[str, Any]]:
        """Per step id: the last attempt's status and output, and attempts used."""
        rows = self.db.execute(
            "SELECT step_id, status, output, attempt FROM step_run WHERE run = ? ORDER BY id",
            (run_id,),
        )
        history: dict[str, dict[str, Any]] = {}
        for step_id, status, output, attempt in rows:
            entry = history.setdefault(step_id, {"attempts": 0})
            entry["status"] = status
            entry["output"] = None if output is None else json.loads(output)
            entry["attempts"] = max(entry["attempts"], attempt)
        return history

    def copy_completed(self, account_id: int, from_run: int, to_run: int, now: datetime) -> int:
        """For a retry from the failed step: carry the completed steps'
        outputs over (recorded as completed in the new run, not run again)."""
        cursor = self.db.execute_write(
            "INSERT INTO step_run (account_id, run, step_id, capability, attempt, status, input, "
            "output, error, started_at, finished_at, duration_ms) "
            "SELECT account_id, ?, step_id, capability, 0, 'completed', input, output, "
            "'reused from run ' || ?, ?, ?, 0 FROM step_run "
            "WHERE run = ? AND account_id = ? AND status = 'completed'",
            (to_run, from_run, to_db(now), to_db(now), from_run, account_id),
        )
        return cursor.rowcount

    def log(  # pylint: disable=too-many-arguments
        self,
        account_id: int,
        run_id: int,
        *,
        step_id: str | None,
        level: str,
        message: str,
        now: datetime,
    ) -> None:
        """One line in the run log."""
        try:
            self.db.execute_write(
                "INSERT INTO run_log (account_id, run, step_id, level, message, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (account_id, run_id, step_id, level, message[:10_000], to_db(now)),
            )
        except sqlite3.IntegrityError:
            raise RunGone(run_id) from None

    def steps_of(self, account_id: int, run_id: int) -> list[dict[str, Any]]:
        """The run's step runs, in order."""
        rows = self.db.execute(
            "SELECT id, step_id, capability, attempt, status, input, output, error, started_at, "
            "finished_at, duration_ms FROM step_run WHERE run = ? AND account_id = ? ORDER BY id",
            (run_id, account_id),
        )
        return [step_dict(r) for r in rows]

    def logs_of(
        self, account_id: int, run_id: int, after_id: int = 0, limit: int = 1000
    ) -> list[dict[str, Any]]:
        """The run's log lines, oldest first (after `after_id`, for polling)."""
        rows = self.db.execute(
            "SELECT id, step_id, level, message, created_at FROM run_log "
            "WHERE run = ? AND account_id = ? AND id > ? ORDER BY id LIMIT ?",
            (run_id, account_id, after_id, limit),
        )
        return [{**dict(r), "created_at": datetime.fromisoformat(r["created_at"])} for r in rows]

    # --- retention -----------------------------------------------------------

    def prune(self, finished_before: datetime, batch: int = 500) -> int:
        """Delete finished runs (with their steps and logs) older than the
        cutoff, in batches so writers are never held up for long."""
        total = 0
        marks = ", ".join("?" for _ in FINISHED)
        while True:
            with self.db.transaction() as conn:
                ids = [
                    r[0]
                    for r in conn.execute(
                        f"SELECT id FROM workflow_run WHERE finished_at < ? "
                        f"AND status IN ({marks}) LIMIT ?",
                        (to_db(finished_before), *FINISHED, batch),
                    )
                ]
                if not ids:
                    break
                id_marks = ", ".join("?" for _ in ids)
                conn.execute(f"DELETE FROM workflow_run WHERE id IN ({id_marks})", ids)
            total += len(ids)
        if total:
            self.db.checkpoint()
        return total
