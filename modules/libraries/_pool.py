"""A small thread pool of daemon threads for library code.

`concurrent.futures.ThreadPoolExecutor` joins its threads when the
interpreter exits, so one library function that never returns would keep
`webapp serve` from ever stopping. Library threads here are daemons: a hung
call is abandoned at exit, like any other in-flight work.
"""

from __future__ import annotations

import contextvars
import functools
import queue
import threading
from concurrent.futures import Future
from typing import Any, Callable


class DaemonPool:
    """At most `max_workers` daemon threads, started as work arrives."""

    def __init__(self, max_workers: int, name: str):
        self.max_workers = max_workers
        self.name = name
        self._queue: queue.SimpleQueue[tuple[Future[Any], Callable[..., Any], tuple, dict] | None]
        self._queue = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._idle = 0
        self._lock = threading.Lock()
        self._closed = False

    def submit(self, func: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        """Run `func(*args, **kwargs)` on a pool thread, in a copy of the
        caller's context (its log bindings, the run it serves); its Future."""
        future: Future[Any] = Future()
        func = functools.partial(contextvars.copy_context().run, func)
        with self._lock:
            if self._closed:
                raise RuntimeError(f"the thread pool of {self.name} is shut down")
            if self._idle == 0 and len(self._threads) < self.max_workers:
                thread = threading.Thread(
                    target=self._work, name=f"{self.name}-{len(self._threads)}", daemon=True
                )
                self._threads.append(thread)
                thread.start()
            else:
                self._idle = max(0, self._idle - 1)
        self._queue.put((future, func, args, kwargs))
        return future

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            future, func, args, kwargs = item
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(func(*args, **kwargs))
                except BaseException as exc:  # pylint: disable=broad-exception-caught
                    # Whatever library code raises belongs to its caller.
                    future.set_exception(exc)
            with self._lock:
                self._idle += 1

    def shutdown(self) -> None:
        """Stop the idle threads; busy ones end when their call returns."""
        with self._lock:
            self._closed = True
            count = len(self._threads)
        for _ in range(count):
            self._queue.put(None)
