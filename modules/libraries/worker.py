"""The child side of a subprocess library: `python -m modules.libraries.worker`.

One process serves one library. It talks to its parent
(`modules.libraries.isolation.SubprocessWorker`) over its stdin and stdout in
length-prefixed pickle frames (`modules.libraries._frames`):

1. start  {"source": (kind, ref, name), "db_path": str, "deriver": "module:function"}
   answer {"ok": True, "capabilities": [full names], "version": str,
           "registration": Registration (every capability's func None, coercers {})}
          or {"ok": False, "error": "<Type>: <message>"} (then the child exits)
   The app learns a subprocess library's declarations only from this answer:
   the library's code is never imported in the app process. The registration
   may not refer to anything defined in the library's own modules (unpickling
   it would import them in the app).
2. call   {"id", "capability", "params", "account_id", "user_id", "config"}
   answer {"id", "ok", "output" | "error", "logs": [(level, message)],
           "events": [(name, payload)], "duration_ms"}
3. "stop" (the string) or end of input: exit cleanly.

Before anything else the child moves the protocol off fds 0 and 1: fd 0
becomes /dev/null and fd 1 (and `sys.stdout`) goes to stderr, so a library's
`print()`, `input()` or a C extension writing to stdout cannot corrupt the
protocol. Everything the child writes to stderr, its log records included,
is relayed line by line to the parent's log.
"""

from __future__ import annotations

import asyncio
import dataclasses
import faulthandler
import io
import importlib
import inspect
import logging
import os
import pickle
import signal
import sys
import threading
import time
from typing import Any, Mapping

from modules.datastore import Database, Datastore
from modules.libraries._frames import FrameReader, UndecodableFrame, encode, write_all
from modules.libraries.coercion import coerce
from modules.libraries.context import Context
from modules.libraries.contract import Capability, Registration, SchemaDeriver
from modules.libraries.loader import LibrarySource, folder_module_name, load

STOP = "stop"
# Log records reach stderr as "LEVEL:logger:message"; the continuation lines
# of a multi-line record start with a tab (see isolation._StderrRelay).
LOG_FORMAT = "%(levelname)s:%(name)s:%(message)s"


def describe(exc: BaseException) -> str:
    """`<Type>: <message>`, the one error format of the protocol."""
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def import_deriver(dotted: str) -> SchemaDeriver:
    """The function named by "package.module:function"."""
    module_name, _, attribute = dotted.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"deriver {dotted!r} must look like 'package.module:function'")
    func = getattr(importlib.import_module(module_name), attribute, None)
    if not callable(func):
        raise ValueError(f"deriver {dotted!r} is not a function")
    return func


class _TabbedFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return super().format(record).replace("\n", "\n\t")


def _isolate_stdio() -> tuple[int, int]:
    """Take fds 0 and 1 for the protocol; give library code harmless ones."""
    proto_in = os.dup(0)  # os.dup makes non-inheritable copies: grandchildren
    proto_out = os.dup(1)  # a library spawns never see the protocol pipes
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(2, 1)
    sys.stdout = sys.stderr  # line-buffered, so prints reach the log promptly
    return proto_in, proto_out


def _setup_process() -> None:
    # Ctrl-C in a terminal reaches the whole process group; the parent decides
    # when this process ends (a "stop" message, end of input or a kill).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    faulthandler.enable(file=sys.stderr)  # a segfault leaves a traceback in the log
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_TabbedFormatter(LOG_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    # An exception escaping a thread a library started is an error record,
    # not a bare traceback on stderr.
    threading.excepthook = _log_thread_exception


def _log_thread_exception(args: threading.ExceptHookArgs) -> None:
    if issubclass(args.exc_type, SystemExit):
        return  # as the default hook: a thread calling sys.exit() just ends
    name = args.thread.name if args.thread is not None else "?"
    logging.getLogger("switchboard.worker").error(
        "uncaught exception in thread %s",
        name,
        exc_info=(args.exc_type, args.exc_value, args.exc_traceback),
    )


class LibraryHost:
    """One loaded library and what its calls need: the datastore, an event loop."""

    def __init__(
        self, registration: Registration, store: Datastore, source: LibrarySource | None = None
    ):
        self.registration = registration
        self.source = source
        self.store = store
        self.entities = tuple(entity.name for entity in registration.entities)
        self.capabilities = {cap.name: cap for cap in registration.capabilities}
        self._loop: asyncio.AbstractEventLoop | None = None

    @classmethod
    def start(cls, message: Mapping[str, Any]) -> "LibraryHost":
        """Load the library named in a start message and register its entities."""
        kind, ref, name = message["source"]
        registration = load(LibrarySource(kind, ref, name), import_deriver(message["deriver"]))
        store = Datastore(Database(message["db_path"]))
        for entity in registration.entities:
            store.register(entity)  # idempotent: creates or adds only what is new
        return cls(registration, store, LibrarySource(kind, ref, name))

    def start_answer(self) -> dict[str, Any]:
        """The answer to the start message: the capabilities, the version and
        the declarations (without the functions and coercers, which stay here).

        Declarations that cannot be sent to the app (a lambda default, a class
        defined in the library) make it an error answer.
        """
        registration = declarations(self.registration)
        try:
            _check_sendable(registration, self._own_modules())
        except Exception as exc:  # pylint: disable=broad-exception-caught
            # pickle raises PicklingError, TypeError, AttributeError...
            return {
                "ok": False,
                "error": f"RegistrationError: the declarations of library "
                f"{self.registration.name} cannot be sent to the app: {describe(exc)}; "
                "use thread mode",
            }
        return {
            "ok": True,
            "capabilities": list(self.capabilities),
            "version": self.registration.version,
            "registration": registration,
        }

    def _own_modules(self) -> tuple[str, ...]:
        """Module names of the library's own code (the app must not import them)."""
        source = self.source
        if source is None:
            return ()
        if source.kind == "folder":
            return (folder_module_name(source),)
        if source.kind == "package":
            return (source.ref,)
        return ()

    def find(self, name: str) -> Capability:
        """A capability by full (`lib.cap`) or short (`cap`) name."""
        cap = self.capabilities.get(name) or self.capabilities.get(
            f"{self.registration.name}.{name}"
        )
        if cap is None:
            raise LookupError(f"library {self.registration.name!r} has no capability {name!r}")
        return cap

    def call(self, message: Mapping[str, Any]) -> dict[str, Any]:
        """Run one call message; never raises for what the library does."""
        logs: list[tuple[str, str]] = []
        events: list[tuple[str, dict[str, Any]]] = []
        answer: dict[str, Any] = {"id": message.get("id"), "logs": logs, "events": events}
        started = time.perf_counter()
        try:
            answer["output"] = self._invoke(message, logs, events)
            answer["ok"] = True
        except (Exception, SystemExit) as exc:  # pylint: disable=broad-exception-caught
            # Anything library code raises fails this call only; the message
            # carries the type and text, never the params or config.
            answer["ok"] = False
            answer["error"] = describe(exc)
        answer["duration_ms"] = (time.perf_counter() - started) * 1000
        return answer

    def _invoke(
        self,
        message: Mapping[str, Any],
        logs: list[tuple[str, str]],
        events: list[tuple[str, dict[str, Any]]],
    ) -> Any:
        cap = self.find(message["capability"])
        params = dict(message.get("params") or {})
        wrong = coerce(params, dict(cap.coercers)) if cap.coercers else None
        if wrong:
            raise ValueError(
                "some parameters are not valid: "
                + ", ".join(f"{name} {problem}" for name, problem in sorted(wrong.items()))
            )
        if not cap.takes_context:
            return self._settle(cap.func(**params))
        ctx = Context(
            library=self.registration.name,
            store=self.store,
            entities=self.entities,
            account_id=message.get("account_id"),
            user_id=message.get("user_id"),
            config=dict(message.get("config") or {}),
            log_sink=lambda level, text: logs.append((level, text)),
            event_sink=lambda name, payload: events.append((name, payload)),
        )
        try:
            return self._settle(cap.func(ctx, **params))
        finally:
            ctx.close()

    def _settle(self, result: Any) -> Any:
        """Await a coroutine (async capability) on this process's event loop."""
        if not inspect.isawaitable(result):
            return result
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
        return self._loop.run_until_complete(result)


def declarations(registration: Registration) -> Registration:
    """The registration as data only: no capability functions or coercers."""
    return dataclasses.replace(
        registration,
        capabilities=[
            dataclasses.replace(cap, func=None, coercers={}) for cap in registration.capabilities
        ],
    )


class _DeclarationPickler(pickle.Pickler):
    """Pickles into nothing, refusing references into the library's own modules."""

    def __init__(self, own: tuple[str, ...]):
        super().__init__(io.BytesIO(), pickle.HIGHEST_PROTOCOL)
        self._own = own

    def reducer_override(self, obj: Any) -> Any:
        """Refuse an object, class or function of the library; pickle the rest as usual."""
        target = obj if isinstance(obj, type) or callable(obj) else type(obj)
        module = getattr(target, "__module__", None) or ""
        if any(module == own or module.startswith(own + ".") for own in self._own):
            what = getattr(target, "__qualname__", repr(target))
            raise TypeError(f"{module}.{what} is defined in the library itself")
        return NotImplemented


def _check_sendable(registration: Registration, own: tuple[str, ...]) -> None:
    """Raise when the registration cannot be pickled for the app."""
    _DeclarationPickler(own).dump(registration)


def encode_answer(answer: dict[str, Any]) -> bytes:
    """The answer's frame; an output or event that cannot be pickled becomes an
    error answer instead of a crash."""
    try:
        return encode(answer)
    except Exception as exc:  # pylint: disable=broad-exception-caught
        # pickle raises PicklingError, TypeError, AttributeError, RecursionError...
        problem = describe(exc)
    failed = {key: answer[key] for key in ("id", "logs", "events", "duration_ms")}
    failed.update(ok=False, error=f"the result cannot be sent back: {problem}")
    try:
        return encode(failed)
    except Exception:  # pylint: disable=broad-exception-caught
        # Then an event payload is the culprit: drop the events.
        failed["events"] = []
        failed["error"] += " (events dropped)"
        return encode(failed)


def serve(proto_in: int, proto_out: int) -> int:
    """Answer the start message, then calls until "stop" or end of input."""
    reader = FrameReader(proto_in)
    try:
        start = reader.read()
    except EOFError:
        return 0
    try:
        host = LibraryHost.start(start)
    except BaseException as exc:  # pylint: disable=broad-exception-caught
        # Whatever loading raised (even SystemExit from a library's import)
        # is the answer to the start message.
        write_all(proto_out, encode({"ok": False, "error": describe(exc)}))
        return 1
    answer = host.start_answer()
    write_all(proto_out, encode(answer))
    if not answer["ok"]:
        return 1
    while True:
        try:
            message = reader.read()
        except EOFError:
            return 0
        except UndecodableFrame as exc:
            # Params of a class this process cannot import: fail the call.
            failed = {"id": None, "ok": False, "error": f"the call cannot be read: {exc}"}
            write_all(proto_out, encode(failed | {"logs": [], "events": [], "duration_ms": 0.0}))
            continue
        if message == STOP:
            return 0
        write_all(proto_out, encode_answer(host.call(message)))


def main() -> None:
    """Entry point of the worker process."""
    proto_in, proto_out = _isolate_stdio()
    _setup_process()
    try:
        code = serve(proto_in, proto_out)
    except BrokenPipeError:
        code = 0  # the parent went away while we answered: nothing left to do
    sys.stderr.flush()
    # Skip interpreter teardown: library threads or atexit hooks must not keep
    # a finished worker alive.
    os._exit(code)  # pylint: disable=protected-access


if __name__ == "__main__":
    main()
