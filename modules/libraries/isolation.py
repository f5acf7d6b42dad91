"""Running one library in a worker process of its own (the parent side).

`SubprocessWorker` starts `python -m modules.libraries.worker` for one
library, loads the library there and sends it calls over pipes (see
`modules.libraries.worker` for the protocol). Whatever library code does in
that process, the app keeps serving:

- an exception fails the call with `<Type>: <message>`; the process lives on;
- a call that runs past its timeout fails, and the process is killed;
- a hard crash (`os._exit`, a segfault) fails the call with the exit code or
  signal, and the next call starts a fresh process.

Calls to one worker are serialised (one at a time, in arrival order): a
library in subprocess mode does one thing at a time. The round trip of a
call that does nothing is a few tens of microseconds (pipes and pickle, no
thread or process per call).

Everything the process writes to stderr (its log records, `print()` output,
a segfault's traceback) is logged through `get_logger("library.<name>")`.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Mapping

from modules.libraries._frames import (
    FrameReader,
    ProtocolError,
    UndecodableFrame,
    encode,
    write_all,
)
from modules.libraries.loader import LibrarySource
from modules.libraries.worker import STOP, describe
from modules.logs import get_logger

DEFAULT_DERIVER = "modules.libraries.schema:derive"
# How long a worker may take to leave after "stop" (or after a failed start)
# before it is killed.
STOP_GRACE = 2.0
# The folder holding the `modules` package; the worker imports this copy.
_PROJECT_ROOT = Path(__file__).resolve().parents[2]
_LOG_LINE = re.compile(r"(DEBUG|INFO|WARNING|ERROR|CRITICAL):([^:\s]*):(.*)")


class WorkerError(RuntimeError):
    """A worker process could not be started or its library failed to load."""


@dataclass(frozen=True)
class CallResult:
    """How one call went.

    `error` is `<Type>: <message>` (or a sentence about the worker process)
    when `ok` is False. `logs` are the (level, message) pairs the capability
    logged through `ctx.logger`, `events` the (name, payload) pairs it
    emitted, `duration_ms` how long it ran.
    """

    ok: bool
    output: Any = None
    error: str | None = None
    # "" when ok; else "error" (the capability failed), "timeout", "crashed"
    # (the process died), "unavailable" (no worker) or "validation" (bad params).
    kind: str = ""
    logs: tuple[tuple[str, str], ...] = ()
    events: tuple[tuple[str, dict[str, Any]], ...] = ()
    duration_ms: float = 0.0


def _exit_description(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"killed by signal {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit code {returncode}"


class _StderrRelay(threading.Thread):
    """Logs what a worker process writes to stderr, one record per line.

    Lines the worker's logging wrote (`LEVEL:logger:message`, continuation
    lines starting with a tab) keep their level; anything else (`print()`,
    tracebacks, C code) is logged at INFO. Owns the pipe and closes it at EOF.
    """

    def __init__(self, stream: IO[bytes], logger: logging.Logger, pid: int):
        super().__init__(name=f"{logger.name} stderr {pid}", daemon=True)
        self._stream = stream
        self._logger = logger
        self._pid = pid
        self.last_line = ""

    def run(self) -> None:
        fd = self._stream.fileno()
        pending = b""
        level = logging.INFO
        try:
            while chunk := os.read(fd, 1 << 16):
                lines = (pending + chunk).split(b"\n")
                pending = lines.pop()
                level = self._emit(lines, level)
            if pending:
                self._emit([pending], level)
        except OSError:
            pass  # the pipe broke: nothing more to relay
        finally:
            self._stream.close()

    def _emit(self, lines: list[bytes], level: int) -> int:
        records: list[list[Any]] = []  # [level, logger name, text]
        for raw in lines:
            text = raw.decode("utf-8", "replace").rstrip("\r")
            if text.startswith("\t"):
                if records:
                    records[-1][2] += "\n" + text[1:]
                else:  # the rest of a record split across two reads
                    records.append([level, "", text[1:]])
                continue
            if not text.strip():
                continue
            match = _LOG_LINE.fullmatch(text)
            if match:
                level = logging.getLevelName(match[1])
                records.append([level, match[2], match[3]])
            else:
                level = logging.INFO
                records.append([level, "", text])
        for record_level, name, text in records:
            self.last_line = text.rsplit("\n", 1)[-1]
            self._logger.log(
                record_level, text, extra={"worker_pid": self._pid, "worker_logger": name}
            )
        return level


class _Child:
    """One running worker process: its pipes and its stderr relay."""

    def __init__(self, proc: subprocess.Popen[bytes], logger: logging.Logger):
        assert proc.stdin and proc.stdout and proc.stderr
        self.proc = proc
        self._stdin = proc.stdin
        self._stdout = proc.stdout
        self._reader = FrameReader(proc.stdout.fileno())
        self.relay = _StderrRelay(proc.stderr, logger, proc.pid)
        self.relay.start()

    @property
    def running(self) -> bool:
        """Whether the process has not exited yet."""
        return self.proc.poll() is None

    def send(self, data: bytes) -> None:
        """Write one encoded frame (BrokenPipeError when the process is gone)."""
        write_all(self._stdin.fileno(), data)

    def receive(self, deadline: float) -> Any:
        """The next message (see FrameReader.read for what it raises)."""
        return self._reader.read(deadline)

    def end(self, grace: float = 0.0) -> str:
        """Wait up to `grace` seconds for the process to exit, kill it if it has
        not, release the pipes; returns how it ended ("exit code 1")."""
        if self.proc.poll() is None and grace > 0:
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                pass
        if self.proc.poll() is None:
            self.proc.kill()
        returncode = self.proc.wait()
        self._reader.close()
        for stream in (self._stdin, self._stdout):  # stderr belongs to the relay
            try:
                stream.close()
            except OSError:
                pass  # closing stdin flushes nothing (unbuffered); EPIPE is moot
        return _exit_description(returncode)


class SubprocessWorker:  # pylint: disable=too-many-instance-attributes  # settings + state
    """One library in a worker process of its own, restarted when it dies.

    Thread-safe; calls are serialised. The process starts on `start()` or on
    the first call, and a process that died is replaced on the next call.
    After `stop()` calls fail until `start()` or `restart()`.
    """

    def __init__(
        self,
        source: LibrarySource,
        db_path: str | Path,
        *,
        deriver: str = DEFAULT_DERIVER,
        start_timeout: float = 30.0,
    ):
        self.source = source
        self.db_path = Path(db_path)
        self.deriver = deriver
        self.start_timeout = start_timeout
        self.logger = get_logger(f"library.{source.name}")
        self._lock = threading.Lock()
        self._child: _Child | None = None
        self._answer: dict[str, Any] = {}
        self._next_id = 0
        self._ending: str | None = None  # why the process is being killed under a call
        self._stopped = False  # by stop(): calls fail until start() or restart()

    @property
    def name(self) -> str:
        """The library's name."""
        return self.source.name

    @property
    def alive(self) -> bool:
        """Whether a worker process is running."""
        child = self._child
        return child is not None and child.running

    @property
    def pid(self) -> int | None:
        """The worker process's id, or None when there is none."""
        child = self._child
        return None if child is None else child.proc.pid

    def start(self) -> dict[str, Any]:
        """Start the process (if it is not running) and load the library.

        Returns the start answer, `{"ok": True, "capabilities": [...],
        "version": ..., "registration": Registration}` (the declarations, with
        no functions or coercers: those stay in the worker); raises
        WorkerError when the library fails to load
        (its error in the message) or the process fails to start.
        """
        with self._lock:
            self._stopped = False
            return self._ensure_started()

    def restart(self) -> dict[str, Any]:
        """Stop the process and start a fresh one (reloading the library's code)."""
        with self._lock:
            self._stopped = False
            self._stop_child()
            return self._start_child()

    def stop(self) -> None:
        """Ask the process to exit; kill it if it has not after STOP_GRACE seconds.

        A call in progress that does not finish within STOP_GRACE fails with
        "was stopped". Later calls fail too (a call racing an unload must not
        bring the process back) until `start()` or `restart()`.
        """
        # `with` cannot wait with a timeout; the lock is released in `finally`.
        # pylint: disable-next=consider-using-with
        if not self._lock.acquire(timeout=STOP_GRACE):
            child = self._child  # the call holding the lock is using it
            if child is not None:
                self._ending = "was stopped"
                child.proc.kill()
            self._lock.acquire()  # pylint: disable=consider-using-with  # as above
        try:
            self._stopped = True
            self._stop_child()
        finally:
            self._lock.release()

    def call(  # pylint: disable=too-many-arguments  # the protocol's call message
        self,
        capability: str,
        params: Mapping[str, Any] | None = None,
        *,
        account_id: int | None = None,
        user_id: int | None = None,
        config: Mapping[str, Any] | None = None,
        timeout: float,
    ) -> CallResult:
        """Run one capability (`lib.cap` or `cap`) in the worker process.

        Never raises for what the library does: a failure, a timeout (the
        process is killed), a crash or a library that fails to load comes
        back as `CallResult(ok=False, error=...)`; a process that cannot be
        started gives "WorkerError: <why>". Starting the process, when needed,
        is bounded by `start_timeout`, not by `timeout`.
        """
        if not timeout > 0:
            raise ValueError(f"timeout must be positive, not {timeout!r}")
        with self._lock:
            if self._stopped:
                return CallResult(
                    ok=False,
                    error=f"WorkerError: the worker of library {self.name} is stopped",
                    kind="unavailable",
                )
            try:
                child = self._ensure_running()
            except WorkerError as exc:
                return CallResult(ok=False, error=describe(exc), kind="unavailable")
            self._next_id += 1
            message = {
                "id": self._next_id,
                "capability": capability,
                "params": dict(params or {}),
                "account_id": account_id,
                "user_id": user_id,
                "config": dict(config or {}),
            }
            try:
                data = encode(message)
            except Exception as exc:  # pylint: disable=broad-exception-caught
                # pickle raises PicklingError, TypeError, AttributeError...
                return CallResult(
                    ok=False,
                    error=f"the params of {capability} cannot be sent to a worker process: "
                    f"{describe(exc)}",
                    kind="validation",
                )
            started = time.monotonic()
            answer = self._exchange(child, capability, data, timeout)
            if isinstance(answer, tuple):
                kind, message = answer
                return CallResult(
                    ok=False,
                    error=message,
                    kind=kind,
                    duration_ms=(time.monotonic() - started) * 1000,
                )
            if answer.get("id") not in (message["id"], None):
                self._discard(child)
                return CallResult(
                    ok=False, error=self._problem("answered out of turn"), kind="crashed"
                )
            return CallResult(
                ok=bool(answer["ok"]),
                output=answer.get("output"),
                error=answer.get("error"),
                kind="" if answer["ok"] else "error",
                logs=tuple((level, text) for level, text in answer["logs"]),
                events=tuple((name, payload) for name, payload in answer["events"]),
                duration_ms=answer["duration_ms"],
            )

    def __enter__(self) -> "SubprocessWorker":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- with the lock held ------------------------------------------------

    def _exchange(
        self, child: _Child, capability: str, data: bytes, timeout: float
    ) -> dict[str, Any] | tuple[str, str]:
        """Send a call and read its answer; (kind, message) when the call failed."""
        try:
            child.send(data)
            return child.receive(time.monotonic() + timeout)
        except TimeoutError:
            self._discard(child)
            self.logger.warning("%s timed out after %g s; killed its worker", capability, timeout)
            return (
                "timeout",
                f"{capability} timed out after {timeout:g} s; "
                f"the worker process of library {self.name} was killed",
            )
        except UndecodableFrame as exc:
            return "error", f"the result of {capability} cannot be read: {exc}"
        except (EOFError, OSError):  # OSError: BrokenPipeError writing to a dead process
            how = self._discard(child)
            ending, self._ending = self._ending, None
            if ending:
                return "unavailable", f"the worker process of library {self.name} {ending}"
            self.logger.error("the worker process died (%s) running %s", how, capability)
            return "crashed", f"the worker process of library {self.name} died ({how})"
        except ProtocolError as exc:
            self._discard(child)
            return "crashed", self._problem(str(exc))

    def _ensure_started(self) -> dict[str, Any]:
        if self._child is not None and self._child.running:
            return dict(self._answer)
        return self._start_child()

    def _ensure_running(self) -> _Child:
        child = self._child
        if child is not None and not child.running:
            how = self._discard(child)
            self.logger.warning("the worker process had exited (%s); starting a new one", how)
            child = None
        if child is None:
            self._start_child()
            child = self._child
            assert child is not None
        return child

    def _start_child(self) -> dict[str, Any]:
        self._stop_child()
        child = self._spawn()
        source = self.source
        start = {
            "source": (source.kind, source.ref, source.name),
            "db_path": str(self.db_path),
            "deriver": self.deriver,
        }
        try:
            child.send(encode(start))
            answer = child.receive(time.monotonic() + self.start_timeout)
        except TimeoutError:
            child.end()
            raise WorkerError(
                f"library {self.name} did not start within {self.start_timeout:g} s"
            ) from None
        except (EOFError, OSError):
            how = child.end(STOP_GRACE)
            child.relay.join(1.0)  # for the last thing it said
            said = f": {child.relay.last_line}" if child.relay.last_line else ""
            raise WorkerError(
                f"the worker process of library {self.name} died while starting ({how}){said}"
            ) from None
        except (ProtocolError, UndecodableFrame) as exc:
            child.end()
            raise WorkerError(f"library {self.name}: unreadable start answer: {exc}") from None
        if not answer.get("ok"):
            child.end(STOP_GRACE)  # it exits by itself after a failed start
            raise WorkerError(f"library {self.name} failed to load: {answer.get('error')}")
        self._child = child
        self._answer = answer
        self.logger.info("worker process %s started", child.proc.pid)
        return dict(answer)

    def _spawn(self) -> _Child:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            part for part in (str(_PROJECT_ROOT), env.get("PYTHONPATH", "")) if part
        )
        try:
            # -P: the working directory is not put on sys.path, so a folder
            # there cannot shadow `modules` or a library's imports.
            proc = subprocess.Popen(  # pylint: disable=consider-using-with  # lives on
                [sys.executable, "-P", "-m", "modules.libraries.worker"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                bufsize=0,
                env=env,
            )
        except OSError as exc:
            raise WorkerError(
                f"cannot start a worker process for library {self.name}: {describe(exc)}"
            ) from None
        return _Child(proc, self.logger)

    def _stop_child(self) -> None:
        child, self._child = self._child, None
        self._ending = None
        if child is None:
            return
        if child.running:
            try:
                child.send(encode(STOP))
            except OSError:
                pass  # already gone
        how = child.end(STOP_GRACE)
        self.logger.info("worker process %s stopped (%s)", child.proc.pid, how)

    def _discard(self, child: _Child) -> str:
        """Kill (if needed) and forget the process; how it ended."""
        if self._child is child:
            self._child = None
        return child.end()

    def _problem(self, what: str) -> str:
        self.logger.error("protocol error: %s", what)
        return f"the worker process of library {self.name} broke the protocol ({what})"
