"""The in-process runner: a bounded pool of workers that claim queued runs
from SQLite and execute them, a heartbeat that keeps claims alive (and
carries cancel requests between processes), and APScheduler for cron
schedules and housekeeping.

Several processes may share one database: claiming is atomic, a run whose
process stopped beating is put back in the queue and resumes from its last
completed step, and a schedule firing in two processes makes one run.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from datetime import datetime, timedelta
from typing import Any, Callable, Iterable

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger

from modules.datastore import utcnow
from modules.logs import get_logger
from modules.workflows.definition import Definition
from modules.workflows.engine import CancelScope, Engine, Outcome
from modules.workflows.runs import RunStore

log = get_logger("workflows.runner")

DefinitionLookup = Callable[[int, int, int], Definition | None]
Finished = Callable[[dict[str, Any], Outcome], None]
ScheduleFire = Callable[[int, int, str], None]


class Runner:  # pylint: disable=too-many-instance-attributes  # one process's runner
    """Claims and executes runs; fires schedules."""

    def __init__(  # pylint: disable=too-many-arguments
        self,
        runs: RunStore,
        engine: Engine,
        definitions: DefinitionLookup,
        *,
        workers: int = 4,
        poll_seconds: float = 1.0,
        heartbeat_seconds: float = 2.0,
        stale_seconds: float = 15.0,
        on_finished: Finished | None = None,
        clock: Callable[[], datetime] = utcnow,
    ):
        self.runs = runs
        self.engine = engine
        self.definitions = definitions
        self.workers = workers
        self.poll_seconds = poll_seconds
        self.heartbeat_seconds = heartbeat_seconds
        self.stale_seconds = stale_seconds
        self.on_finished = on_finished
        self.clock = clock
        self.instance = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._wake = threading.Condition()
        self._pending_wakes = 0
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._active: dict[int, CancelScope] = {}
        self._active_lock = threading.Lock()
        self.scheduler = BackgroundScheduler(timezone="UTC")
        self._schedules: dict[str, tuple[str, str]] = {}
        self.fire: ScheduleFire | None = None

    # --- life cycle -------------------------------------------------------------

    def start(self) -> None:
        """Recover what a crash left behind, then start workers, heartbeat, scheduler."""
        self._stop.clear()
        recovered = self.runs.requeue_stale(self.clock() - timedelta(seconds=self.stale_seconds))
        if recovered:
            log.warning("re-queued %d interrupted runs: %s", len(recovered), recovered)
        for number in range(self.workers):
            thread = threading.Thread(
                target=self._work, name=f"workflow-worker-{number}", daemon=True
            )
            thread.start()
            self._threads.append(thread)
        beat = threading.Thread(target=self._heartbeat, name="workflow-heartbeat", daemon=True)
        beat.start()
        self._threads.append(beat)
        if not self.scheduler.running:
            self.scheduler.start()

    def stop(self, grace_seconds: float = 10.0) -> bool:
        """Stop taking runs; in-flight ones stop at their next step boundary
        and go back to the queue. Returns False when some worker is still
        inside a step after `grace_seconds`: its run is handed back once its
        heartbeat goes stale (here after a restart, or in another process)."""
        self._stop.set()
        with self._wake:  # every idle worker, not just one
            self._pending_wakes += len(self._threads)
            self._wake.notify_all()
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        deadline = time.monotonic() + grace_seconds
        for thread in self._threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
        stopped = not any(thread.is_alive() for thread in self._threads)
        self._threads.clear()
        return stopped

    def wake(self) -> None:
        """Tell an idle worker that a run was queued (no polling delay)."""
        with self._wake:
            self._pending_wakes += 1
            self._wake.notify()

    @property
    def active(self) -> list[int]:
        """Ids of the runs this process is executing."""
        with self._active_lock:
            return list(self._active)

    def cancel_local(self, run_id: int) -> bool:
        """Signal a run executing here to stop (the database flag reaches others)."""
        with self._active_lock:
            event = self._active.get(run_id)
        if event is not None:
            event.set()
        return event is not None

    # --- workers ----------------------------------------------------------------

    def _work(self) -> None:
        while not self._stop.is_set():
            try:
                run = self.runs.claim(self.instance, self.clock())
            except Exception:  # pylint: disable=broad-exception-caught
                log.exception("claiming a run failed; trying again")
                run = None
            if run is None:
                self._idle()
                continue
            self._execute(run)

    def _idle(self) -> None:
        timeout = self.poll_seconds
        due = self.runs.next_due()
        if due is not None:
            timeout = max(0.0, min(timeout, (due - self.clock()).total_seconds()))
        with self._wake:
            if self._pending_wakes == 0:
                self._wake.wait(timeout)
            self._pending_wakes = max(0, self._pending_wakes - 1)

    def _execute(self, run: dict[str, Any]) -> None:
        cancel = CancelScope()
        if run["cancel_requested"]:
            cancel.set()
        with self._active_lock:
            self._active[run["id"]] = cancel
        try:
            definition = self.definitions(run["account_id"], run["workflow"], run["version"])
            if definition is None:
                outcome = Outcome("failed", "the workflow or its version no longer exists")
            else:
                outcome = self.engine.execute(run, definition, cancel=cancel, stop=self._stop)
        except Exception as exc:  # pylint: disable=broad-exception-caught
            log.exception("run %s crashed the engine", run["id"])
            outcome = Outcome("failed", f"internal error: {type(exc).__name__}: {exc}")
        finally:
            with self._active_lock:
                self._active.pop(run["id"], None)
        if outcome.requeued:
            self.runs.requeue(run["id"], self.instance)
            return
        finished = self.runs.finish_run(run["id"], outcome.status, outcome.error, self.clock())
        if finished is not None and self.on_finished is not None:
            try:
                self.on_finished(finished, outcome)
            except Exception:  # pylint: disable=broad-exception-caught
                log.exception("after-run hook failed for run %s", run["id"])

    def _heartbeat(self) -> None:
        while not self._stop.wait(self.heartbeat_seconds):
            try:
                now = self.clock()
                for run_id in self.runs.heartbeat(self.active, self.instance, now):
                    self.cancel_local(run_id)
                if self.runs.requeue_stale(now - timedelta(seconds=self.stale_seconds)):
                    self.wake()
            except Exception:  # pylint: disable=broad-exception-caught
                log.exception("heartbeat failed; trying again")

    # --- schedules ---------------------------------------------------------------

    def set_schedules(self, schedules: Iterable[tuple[int, int, str, str]]) -> None:
        """Make the cron jobs match (account id, workflow id, cron, timezone) rows."""
        wanted = {f"wf-{wf}": (account, wf, cron, tz) for account, wf, cron, tz in schedules}
        for job_id in set(self._schedules) - set(wanted):
            self._remove_job(job_id)
        for job_id, (account, wf, cron, tz) in wanted.items():
            if self._schedules.get(job_id) == (cron, tz):
                continue
            try:
                trigger = CronTrigger.from_crontab(cron, timezone=tz)
            except (ValueError, KeyError):
                log.warning("workflow %s has an unusable schedule %r; skipped", wf, cron)
                continue
            self.scheduler.add_job(
                self._fire,
                trigger,
                args=(account, wf),
                id=job_id,
                replace_existing=True,
                coalesce=True,
                misfire_grace_time=60,
            )
            self._schedules[job_id] = (cron, tz)

    def _remove_job(self, job_id: str) -> None:
        self._schedules.pop(job_id, None)
        try:
            self.scheduler.remove_job(job_id)
        except Exception:  # pylint: disable=broad-exception-caught
            pass  # already gone: nothing to remove

    def _fire(self, account_id: int, workflow_id: int) -> None:
        if self.fire is None:
            return
        minute = self.clock().strftime("%Y-%m-%dT%H:%M")
        try:
            self.fire(account_id, workflow_id, minute)
        except Exception:  # pylint: disable=broad-exception-caught
            log.exception("scheduled start of workflow %s failed", workflow_id)
