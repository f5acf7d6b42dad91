"""The engine: runs one workflow run from where it stands to its end.

A whole run executes inside one call (one job of the runner), step after
step (sequential) or branch by branch (DAG, bounded concurrency), writing
each step run as it starts and ends. Because completed steps are on disk,
the same `execute` resumes a run after a crash or a shutdown: completed
steps are never run twice.

Retries: a failed attempt that can succeed on a second try (an error, a
timeout, a crash; not bad parameters, a missing permission or an unknown
capability) waits `initial * coefficient**(n-1)` seconds (capped) and runs
again, up to `max_attempts`. `on_error` then decides: stop (the rest is
skipped, the run fails), continue, or run a fallback step whose output
stands in for the failed step's.
"""

from __future__ import annotations

import contextvars
import re
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Callable, Mapping

from modules.datastore import utcnow
from modules.libraries.invoker import InvokeResult
from modules.libraries.manager import LibraryManager
from modules.logs import bind, get_logger
from modules.workflows.conditions import evaluate
from modules.workflows.definition import Definition, Step
from modules.workflows.references import ReferenceMissing, resolve
from modules.workflows.runs import RunGone, RunStore

log = get_logger("workflows.engine")
SECRET_KEY = re.compile(r"pass(word)?|secret|token|api_?key|authorization|credential", re.I)
REDACTED = "[redacted]"
DEFAULT_STEP_TIMEOUT = 300.0

EventSink = Callable[[int, str, dict[str, Any]], None]
# How deep in a chain of event-started runs the step being executed is: events
# that core modules announce from inside a step (users.create -> user.created)
# inherit it, so workflows that start each other through events stop.
EVENT_DEPTH: contextvars.ContextVar[int] = contextvars.ContextVar("event_depth", default=0)


def redact(value: Any) -> Any:
    """A copy with text under secret-looking keys replaced (for the run log:
    step inputs and outputs). Outputs reused after a resume or a retry from
    the failed step come from the log, so a secret a later step needs must
    not travel under such a key."""
    if isinstance(value, Mapping):
        # Secrets are text; a flag such as {"token_given": true} stays readable.
        return {
            k: (
                REDACTED
                if isinstance(k, str) and isinstance(v, str) and SECRET_KEY.search(k)
                else redact(v)
            )
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


def _first_execution(run: Mapping[str, Any]) -> bool:
    """A run claimed for the first time has no step runs to resume from: the
    claim stamps started_at and heartbeat_at alike only then."""
    started, beat = run.get("started_at"), run.get("heartbeat_at")
    return started is not None and started == beat and not run.get("reuse_outputs")


class CancelScope(threading.Event):
    """A run's cancel flag that also stops the attempts running under it.

    Each attempt gets a child event as its `ctx.cancelled`: setting the child
    (a step timeout) leaves the run alone; setting the scope (a cancel of
    the run) sets every child.
    """

    def __init__(self) -> None:
        super().__init__()
        self._children: set[threading.Event] = set()
        self._children_lock = threading.Lock()

    def set(self) -> None:
        with self._children_lock:
            super().set()
            for child in self._children:
                child.set()

    def child(self) -> threading.Event:
        """A new event that is set when this scope is (at once if it already is)."""
        event = threading.Event()
        with self._children_lock:
            self._children.add(event)
            if self.is_set():
                event.set()
        return event

    def release(self, child: threading.Event) -> None:
        """Forget a finished attempt's event."""
        with self._children_lock:
            self._children.discard(child)


@dataclass(frozen=True)
class Outcome:
    """How a run ended; `requeued` means it was interrupted and goes back to the queue."""

    status: str
    error: str | None = None
    requeued: bool = False


@dataclass
class _StepResult:
    status: str  # completed, failed, skipped, cancelled, interrupted
    output: Any = None
    error: str | None = None
    final: bool = True  # False: failed but on_error=continue/fallback handled it
    whole: bool = False  # the error already says where (a run timeout, a failed fallback)

    def run_error(self, step_id: str) -> str | None:
        """The error as the run reports it: prefixed with the step unless whole."""
        return self.error if self.whole else f"{step_id}: {self.error}"


class _Run:  # pylint: disable=too-many-instance-attributes  # one execution's state
    """The state of one execution of a run."""

    def __init__(  # pylint: disable=too-many-arguments,too-many-positional-arguments
        self,
        run: dict[str, Any],
        definition: Definition,
        account: Mapping[str, Any],
        cancel: CancelScope,
        stop: threading.Event,
        now: datetime,
    ):
        self.run = run
        self.id: int = run["id"]
        self.account_id: int = run["account_id"]
        self.definition = definition
        self.cancel = cancel
        self.stop = stop
        self.scope: dict[str, Any] = {
            "trigger": run.get("trigger_payload") or {},
            "account": dict(account),
            "steps": {},
        }
        started = run.get("started_at") or now
        self.deadline = (
            started + timedelta(seconds=definition.timeout_seconds)
            if definition.timeout_seconds
            else None
        )
        self.lock = threading.Lock()
        self.attempts: dict[str, int] = {}

    def remaining(self, now: datetime) -> float | None:
        """Seconds left before the run timeout (None: no run timeout)."""
        if self.deadline is None:
            return None
        return (self.deadline - now).total_seconds()


class Engine:
    """Executes runs; stateless between runs."""

    def __init__(  # pylint: disable=too-many-arguments
        self,
        runs: RunStore,
        libraries: LibraryManager,
        *,
        permissions_for: Callable[[int], frozenset[str]],
        account_info: Callable[[int], Mapping[str, Any]],
        event_sink: EventSink | None = None,
        clock: Callable[[], datetime] = utcnow,
        max_parallel: int = 4,
    ):
        self.runs = runs
        self.libraries = libraries
        self.permissions_for = permissions_for
        self.account_info = account_info
        self.event_sink = event_sink
        self.clock = clock
        self.max_parallel = max_parallel

    # --- the run ------------------------------------------------------------

    def execute(
        self,
        run: dict[str, Any],
        definition: Definition,
        *,
        cancel: CancelScope | None = None,
        stop: threading.Event | None = None,
    ) -> Outcome:
        """Run (or resume) `run` to its end, or until `stop` asks to hand it back."""
        now = self.clock()
        state = _Run(
            run,
            definition,
            self.account_info(run["account_id"]),
            cancel or CancelScope(),
            stop or threading.Event(),
            now,
        )
        with bind(run_id=state.id):
            try:
                done: set[str] = set()
                if not _first_execution(run):
                    self.runs.interrupted_steps(state.id, now)
                    done = self._restore(state)
                if definition.mode == "dag":
                    outcome = self._dag(state, done)
                else:
                    outcome = self._sequential(state, done)
            except RunGone:
                state.cancel.set()
                return Outcome("cancelled", "the workflow was deleted")
            log.info("run %s %s", state.id, outcome.status, extra={"error": outcome.error})
            return outcome

    def _restore(self, state: _Run) -> set[str]:
        """Completed and skipped steps of earlier executions (resume, retry)."""
        done: set[str] = set()
        for step_id, entry in self.runs.step_history(state.id).items():
            state.attempts[step_id] = entry["attempts"]
            if entry["status"] == "completed":
                state.scope["steps"][step_id] = {"output": entry["output"], "status": "completed"}
                done.add(step_id)
            elif entry["status"] == "skipped":
                state.scope["steps"][step_id] = {"output": None, "status": "skipped"}
                done.add(step_id)
        return done

    def _fallback_only(self, definition: Definition) -> set[str]:
        return {s.fallback for s in definition.steps if s.fallback}

    def _sequential(self, state: _Run, done: set[str]) -> Outcome:
        order = [
            s for s in state.definition.steps if s.id not in self._fallback_only(state.definition)
        ]
        for index, step in enumerate(order):
            if step.id in done:
                continue
            if state.stop.is_set() and not state.cancel.is_set():
                return Outcome("running", requeued=True)  # shutting down: resume later
            result = self._step(state, step)
            if result.status == "interrupted":
                return Outcome("running", requeued=True)
            if result.status == "cancelled" or state.cancel.is_set():
                self._leave(state, order[index + 1 :], done, "cancelled", "the run was cancelled")
                return Outcome("cancelled", "cancelled")
            if result.status == "failed" and result.final:
                self._leave(state, order[index + 1 :], done, "skipped", "an earlier step failed")
                return Outcome("failed", result.run_error(step.id))
        return Outcome("completed")

    def _dag(  # pylint: disable=too-many-branches,too-many-locals  # the scheduling loop
        self, state: _Run, done: set[str]
    ) -> Outcome:
        steps = {
            s.id: s
            for s in state.definition.steps
            if s.id not in self._fallback_only(state.definition)
        }
        status = {sid: state.scope["steps"][sid]["status"] for sid in done if sid in steps}
        failure: str | None = None
        interrupted = False
        running: dict[Future[_StepResult], str] = {}
        with ThreadPoolExecutor(self.max_parallel, thread_name_prefix=f"run-{state.id}") as pool:
            while True:
                if state.stop.is_set():
                    interrupted = True
                if not failure and not state.cancel.is_set() and not interrupted:
                    for sid, step in steps.items():
                        if sid in status or sid in running.values():
                            continue
                        deps = [status.get(d) for d in step.depends_on]
                        if any(d is None or d == "running" for d in deps):
                            continue
                        if any(d in ("skipped", "cancelled") for d in deps):
                            status[sid] = "skipped"
                            self._leave(
                                state, [step], set(), "skipped", "a step it depends on did not run"
                            )
                            continue
                        if len(running) >= self.max_parallel:
                            break
                        running[pool.submit(self._step, state, step)] = sid
                if not running:
                    break
                finished, _ = wait(list(running), return_when=FIRST_COMPLETED)
                for future in finished:
                    sid = running.pop(future)
                    result = future.result()
                    status[sid] = (
                        result.status if result.final or result.status != "failed" else "completed"
                    )
                    if result.status == "interrupted":
                        interrupted = True
                    elif result.status == "failed" and result.final and failure is None:
                        failure = result.run_error(sid)
        if interrupted and not failure and not state.cancel.is_set():
            return Outcome("running", requeued=True)
        left = [s for sid, s in steps.items() if sid not in status]
        if state.cancel.is_set():
            self._leave(state, left, set(), "cancelled", "the run was cancelled")
            return Outcome("cancelled", "cancelled")
        if failure is not None:
            self._leave(state, left, set(), "skipped", "an earlier step failed")
            return Outcome("failed", failure)
        return Outcome("completed")

    def _leave(
        self, state: _Run, steps: list[Step], done: set[str], status: str, reason: str
    ) -> None:
        pending = [(s.id, s.capability) for s in steps if s.id not in done]
        self.runs.mark_steps(
            state.account_id, state.id, pending, status=status, reason=reason, now=self.clock()
        )

    # --- one step -------------------------------------------------------------

    def _step(  # pylint: disable=too-many-return-statements  # one per way a step ends
        self, state: _Run, step: Step
    ) -> _StepResult:
        now = self.clock()
        if state.cancel.is_set():
            return _StepResult("cancelled")
        with state.lock:
            scope = {**state.scope, "steps": dict(state.scope["steps"])}
        if step.condition is not None and not evaluate(step.condition, scope):
            self.runs.mark_steps(
                state.account_id,
                state.id,
                [(step.id, step.capability)],
                status="skipped",
                reason="its condition was false",
                now=now,
            )
            with state.lock:
                state.scope["steps"][step.id] = {"output": None, "status": "skipped"}
            return _StepResult("skipped")
        result = self._attempts(state, step, scope)
        if result.status == "failed" and step.fallback:
            self._log(
                state, step.id, "WARNING", f"failed ({result.error}); running {step.fallback}"
            )
            fallback = self._attempts(state, state.definition.step(step.fallback), scope)
            if fallback.status == "completed":
                with state.lock:
                    state.scope["steps"][step.fallback] = {
                        "output": fallback.output,
                        "status": "completed",
                    }
                    state.scope["steps"][step.id] = {"output": fallback.output, "status": "failed"}
                return _StepResult("failed", fallback.output, result.error, final=False)
            if fallback.status != "failed":
                return fallback
            return _StepResult(
                "failed",
                error=f"{step.id} failed ({result.error}); its fallback "
                f"{step.fallback} failed too ({fallback.error})",
                whole=True,
            )
        if result.status == "failed" and step.on_error == "continue":
            self._log(state, step.id, "WARNING", f"failed; the run goes on ({result.error})")
            return _StepResult("failed", error=result.error, final=False)
        if result.status == "completed":
            with state.lock:
                state.scope["steps"][step.id] = {"output": result.output, "status": "completed"}
        return result

    def _attempts(  # pylint: disable=too-many-locals,too-many-return-statements
        self, state: _Run, step: Step, scope: Mapping[str, Any]
    ) -> _StepResult:
        try:
            params = resolve(dict(step.params), scope)
        except ReferenceMissing as exc:
            now = self.clock()
            step_run = self._start(state, step, 1, {}, now)
            message = str(exc)
            self.runs.finish_step(step_run, "failed", error=message, now=now)
            return _StepResult("failed", error=message)
        policy = step.retry
        previous = state.attempts.get(step.id, 0)
        permissions = self.permissions_for(state.account_id)
        # Attempts made before a crash or a shutdown count against the budget;
        # the one that was interrupted gets its try back (at least one more).
        last = max(previous + 1, policy.max_attempts)
        for attempt in range(previous + 1, last + 1):
            now = self.clock()
            remaining = state.remaining(now)
            if remaining is not None and remaining <= 0:
                return _StepResult("failed", error=self._timeout_message(state), whole=True)
            limit = step.timeout_seconds or DEFAULT_STEP_TIMEOUT
            if remaining is not None:
                limit = min(limit, remaining)
            step_run = self._start(state, step, attempt, redact(params), now)
            result = self._invoke(state, step, params, permissions, limit)
            finished = self.clock()
            error = result.error
            if result.fields:
                error += ": " + "; ".join(f"{k} {v}" for k, v in result.fields.items())
            if state.cancel.is_set():
                # Asked to stop: not done, even if it returned early (a retry runs it again).
                self.runs.finish_step(
                    step_run, "cancelled", output=result.output,
                    error=error or "the run was cancelled",
                    duration_ms=result.duration_ms, now=finished,
                )  # fmt: skip
                return _StepResult("cancelled", error=error)
            if result.ok:
                self.runs.finish_step(
                    step_run, "completed", output=redact(result.output),
                    duration_ms=result.duration_ms, now=finished,
                )  # fmt: skip
                return _StepResult("completed", result.output)
            self.runs.finish_step(
                step_run, "failed", error=error, duration_ms=result.duration_ms, now=finished
            )
            if state.deadline is not None and state.remaining(finished) <= 0:
                return _StepResult("failed", error=self._timeout_message(state), whole=True)
            if not result.retryable or attempt == last:
                return _StepResult("failed", error=error)
            delay = self._retry_delay(state, policy.delay(attempt))
            self._log(
                state, step.id, "WARNING",
                f"attempt {attempt} of {last} failed ({error}); "
                f"trying again in {delay:g} s",
            )  # fmt: skip
            if self._wait(state, delay):
                if state.cancel.is_set():
                    return _StepResult("cancelled")
                return _StepResult("interrupted")
        return _StepResult("failed", error="gave up")

    def _invoke(  # pylint: disable=too-many-arguments,too-many-positional-arguments
        self,
        state: _Run,
        step: Step,
        params: dict[str, Any],
        permissions: frozenset[str],
        limit: float,
    ) -> InvokeResult:
        """One attempt, with its own stop signal as `ctx.cancelled`: the
        invoker sets it on a timeout (which must not cancel the run), and a
        cancel of the run reaches it through the scope."""
        signal = state.cancel.child()
        trigger = state.scope["trigger"]
        depth = trigger.get("_event_depth", 0) if isinstance(trigger, Mapping) else 0
        token = EVENT_DEPTH.set(depth)
        try:
            return self.libraries.invoke(
                step.capability,
                params,
                permissions=permissions,
                account_id=state.account_id,
                user_id=state.run.get("created_by"),
                timeout=limit,
                log_sink=lambda level, message, sid=step.id: self._log(state, sid, level, message),
                event_sink=self._events(state.account_id, state.scope["trigger"]),
                cancel=signal,
            )
        finally:
            EVENT_DEPTH.reset(token)
            state.cancel.release(signal)

    def _retry_delay(self, state: _Run, delay: float) -> float:
        """The backoff delay, cut short where the run would time out first."""
        left = state.remaining(self.clock())
        return delay if left is None else min(delay, max(left, 0.0))

    def _timeout_message(self, state: _Run) -> str:
        return f"the run timed out after {state.definition.timeout_seconds:g} s"

    def _wait(self, state: _Run, seconds: float) -> bool:
        """Sleep for a retry; True when cancelled or asked to stop meanwhile."""
        deadline = time.monotonic() + seconds
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            if state.cancel.wait(min(left, 0.05)) or state.stop.is_set():
                return True

    def _log(self, state: _Run, step_id: str | None, level: str, message: str) -> None:
        self.runs.log(
            state.account_id, state.id, step_id=step_id, level=level, message=message,
            now=self.clock(),
        )  # fmt: skip

    def _start(  # pylint: disable=too-many-arguments,too-many-positional-arguments
        self, state: _Run, step: Step, attempt: int, resolved: Any, now: datetime
    ) -> int:
        return self.runs.start_step(
            state.account_id,
            state.id,
            step_id=step.id,
            capability=step.capability,
            attempt=attempt,
            resolved_input=resolved,
            now=now,
        )

    def _events(
        self, account_id: int, trigger: Mapping[str, Any]
    ) -> Callable[[str, dict[str, Any]], None] | None:
        sink = self.event_sink
        if sink is None:
            return None
        # Events a run emits carry how deep in an event chain the run is, so
        # workflows that start each other through events stop (see `emit`).
        depth = trigger.get("_event_depth", 0) if isinstance(trigger, Mapping) else 0
        return lambda name, payload: sink(account_id, name, {**payload, "_event_depth": depth})
