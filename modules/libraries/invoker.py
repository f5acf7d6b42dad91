"""One path for every capability call: look up, check permission, validate,
run with a timeout, contain failures, measure.

In-process ("thread") libraries run on a thread pool of their own, so a
library that hangs exhausts only its own pool; async capabilities run on an
event loop of their own and are cancelled at the timeout. Subprocess
libraries run in a worker process (modules.libraries.isolation) that is
killed on a timeout and restarted after a crash.
"""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from modules.datastore import Datastore
from modules.libraries._pool import DaemonPool
from modules.libraries.context import Context, EventSink, LogSink
from modules.libraries.contract import Capability
from modules.logs import get_logger

log = get_logger("libraries.invoke")

# Failure kinds; the first three are the caller's fault and never retried.
NOT_FOUND, PERMISSION, VALIDATION = "not_found", "permission", "validation"
TIMEOUT, ERROR, CRASHED, UNAVAILABLE = "timeout", "error", "crashed", "unavailable"
RETRYABLE = frozenset({TIMEOUT, ERROR, CRASHED, UNAVAILABLE})


@dataclass(frozen=True)
class InvokeResult:  # pylint: disable=too-many-instance-attributes  # one call's outcome
    """What a call produced. `kind` classifies failures (empty when ok)."""

    ok: bool
    output: Any = None
    error: str = ""
    kind: str = ""
    fields: Mapping[str, str] = field(default_factory=dict)
    duration_ms: float = 0.0
    logs: tuple[tuple[str, str], ...] = ()
    events: tuple[tuple[str, dict[str, Any]], ...] = ()

    @property
    def retryable(self) -> bool:
        """Whether trying again could succeed (not a bad request)."""
        return not self.ok and self.kind in RETRYABLE


def failure(kind: str, error: str, fields: Mapping[str, str] | None = None) -> InvokeResult:
    """A failed result that never ran."""
    return InvokeResult(ok=False, error=error, kind=kind, fields=dict(fields or {}))


class _LoopThread:
    """An asyncio loop in a daemon thread, for one library's async capabilities."""

    def __init__(self, name: str):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        """Stop the loop (pending tasks are abandoned)."""
        self.loop.call_soon_threadsafe(self.loop.stop)


class InProcessRunner:
    """Runs one library's capabilities on its own threads."""

    def __init__(self, library: str, max_workers: int = 8):
        self.library = library
        self.pool = DaemonPool(max_workers, f"lib-{library}")
        self._loop: _LoopThread | None = None
        self._lock = threading.Lock()

    def _async_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                self._loop = _LoopThread(f"lib-{self.library}-async")
            return self._loop.loop

    def run(
        self, capability: Capability, ctx: Context, params: dict[str, Any], timeout: float
    ) -> tuple[bool, Any, str, str]:
        """(ok, output, error, kind)."""
        args = (ctx,) if capability.takes_context else ()
        if capability.inline:
            try:
                return True, capability.func(*args, **params), "", ""
            except (Exception, SystemExit) as exc:  # pylint: disable=broad-exception-caught
                return False, None, f"{type(exc).__name__}: {exc}", ERROR
        future: Future[Any]
        if capability.is_async:
            future = asyncio.run_coroutine_threadsafe(
                capability.func(*args, **params), self._async_loop()
            )
        else:
            future = self.pool.submit(capability.func, *args, **params)
        try:
            return True, future.result(timeout), "", ""
        except FutureTimeout:
            ctx.cancelled.set()
            future.cancel()
            return False, None, f"{capability.name} timed out after {timeout:g} s", TIMEOUT
        except (Exception, SystemExit) as exc:  # pylint: disable=broad-exception-caught
            # Library code may raise anything (sys.exit included); it fails this call only.
            return False, None, f"{type(exc).__name__}: {exc}", ERROR

    def stop(self) -> None:
        """Release the threads (a hung call keeps its thread until it returns)."""
        self.pool.shutdown()
        if self._loop is not None:
            self._loop.stop()


def run_in_process(  # pylint: disable=too-many-arguments,too-many-locals
    runner: InProcessRunner,
    capability: Capability,
    params: dict[str, Any],
    *,
    store: Datastore,
    entities: tuple[str, ...],
    config: Mapping[str, Any],
    account_id: int | None,
    user_id: int | None,
    timeout: float,
    log_sink: LogSink | None,
    event_sink: EventSink | None,
    cancel: threading.Event | None = None,
    events: frozenset[str] = frozenset(),
) -> InvokeResult:
    """Build the context, run, and time the call."""
    logs: list[tuple[str, str]] = []
    emitted: list[tuple[str, dict[str, Any]]] = []

    def keep_log(level: str, message: str) -> None:
        logs.append((level, message))
        if log_sink is not None:
            log_sink(level, message)

    def keep_event(name: str, payload: dict[str, Any]) -> None:
        if name not in events:
            raise LookupError(
                f"{capability.library} emitted {name!r}, which it did not declare "
                "(registry.event)"
            )
        emitted.append((name, payload))

    ctx = Context(
        library=capability.library,
        store=store,
        entities=entities,
        account_id=account_id,
        user_id=user_id,
        config=config,
        log_sink=keep_log,
        event_sink=keep_event,
        cancelled=cancel or threading.Event(),
    )
    start = time.perf_counter()
    try:
        ok, output, error, kind = runner.run(capability, ctx, params, timeout)
    finally:
        ctx.close()
    duration = (time.perf_counter() - start) * 1000
    if ok and event_sink is not None:
        for name, payload in emitted:
            event_sink(name, payload)
    if not ok:
        log.warning("%s failed: %s", capability.name, error, extra={"kind": kind})
    return InvokeResult(
        ok=ok,
        output=output,
        error=error,
        kind=kind,
        duration_ms=duration,
        logs=tuple(logs),
        events=tuple(emitted),
    )


Validator = Callable[[Any], dict[str, str]]
