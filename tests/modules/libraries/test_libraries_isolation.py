"""Libraries in worker processes: real processes, real SQLite files."""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterator

import pytest

from modules.datastore import Database, Datastore, Entity, Field
from modules.libraries.isolation import CallResult, SubprocessWorker, WorkerError
from modules.libraries.loader import LibrarySource
from tests.modules.libraries.isolation_helpers import BROKEN, DERIVER, SAMPLE, write_library

TIMEOUT = 10.0


class Sample:
    """A running worker for the sample library and the database it uses."""

    def __init__(self, root: Path):
        self.libraries = root / "libs"
        self.db_path = root / "data" / "app.db"
        write_library(self.libraries, "sample", SAMPLE)
        self.store = Datastore(Database(self.db_path))
        accounts = self.store.register(Entity("account", (Field("name", required=True),)))
        self.account_a = accounts.insert({"name": "a"})
        self.account_b = accounts.insert({"name": "b"})
        self.worker = self.new_worker("sample")

    def new_worker(self, name: str, **options: object) -> SubprocessWorker:
        """A worker for the library folder `name` (options for SubprocessWorker)."""
        options.setdefault("deriver", DERIVER)
        source = LibrarySource.folder(self.libraries, name)
        return SubprocessWorker(source, self.db_path, **options)  # type: ignore[arg-type]


@pytest.fixture(name="sample", scope="module")
def fixture_sample(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sample]:
    """One sample worker shared by the module's tests (they restart it at will)."""
    built = Sample(tmp_path_factory.mktemp("isolation"))
    yield built
    built.worker.stop()
    built.store.db.close()


@pytest.fixture(name="worker")
def fixture_worker(sample: Sample) -> SubprocessWorker:
    """The shared sample worker."""
    return sample.worker


def gone(pid: int) -> bool:
    """Whether no process has this id (a reaped child is gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


class Collect(logging.Handler):
    """Collects log messages; `wait_for(text)` blocks until one contains it."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self._changed = threading.Condition()

    def emit(self, record: logging.LogRecord) -> None:
        with self._changed:
            self.records.append(record)
            self._changed.notify_all()

    def wait_for(self, text: str, timeout: float = 5.0) -> logging.LogRecord | None:
        """The first record containing `text`, waiting up to `timeout` for it."""

        def find() -> logging.LogRecord | None:
            return next((r for r in self.records if text in r.getMessage()), None)

        with self._changed:
            self._changed.wait_for(lambda: find() is not None, timeout)
            return find()


@pytest.fixture(name="library_log")
def fixture_library_log(caplog: pytest.LogCaptureFixture) -> Iterator[Collect]:
    """What the sample library's worker logs in the parent."""
    caplog.set_level(logging.DEBUG, logger="switchboard.library.sample")
    handler = Collect()
    logger = logging.getLogger("switchboard.library.sample")
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)


def test_start_answers_the_capabilities_and_version(worker: SubprocessWorker) -> None:
    answer = worker.start()
    assert answer["ok"] is True
    assert answer["version"] == "1.0"
    assert {"sample.noop", "sample.echo", "sample.add", "sample.async_add"} <= set(
        answer["capabilities"]
    )
    assert worker.alive and worker.pid
    assert worker.start() == answer  # already running: same process, same answer


def test_calls_return_outputs(worker: SubprocessWorker) -> None:
    noop = worker.call("sample.noop", timeout=TIMEOUT)
    assert (noop.ok, noop.output, noop.error, noop.logs, noop.events) == (True, None, None, (), ())
    assert noop.duration_ms >= 0
    assert worker.call("sample.echo", {"text": "hé"}, timeout=TIMEOUT).output == "hé"
    assert worker.call("add", {"a": 2, "b": 3}, timeout=TIMEOUT).output == 5
    assert worker.call("sample.async_add", {"a": 4, "b": 5}, timeout=TIMEOUT).output == 9
    assert worker.call("async_add", {"a": 1, "b": 1}, timeout=TIMEOUT).output == 2


def test_the_context_carries_account_user_and_config(worker: SubprocessWorker) -> None:
    result = worker.call(
        "sample.whoami", account_id=7, user_id=8, config={"region": "eu"}, timeout=TIMEOUT
    )
    assert result.output == {"account": 7, "user": 8, "config": {"region": "eu"}}


def test_an_exception_fails_the_call_and_the_worker_lives_on(worker: SubprocessWorker) -> None:
    pid = worker.call("noop", timeout=TIMEOUT) and worker.pid
    result = worker.call("sample.boom", timeout=TIMEOUT)
    assert not result.ok
    assert result.error == "ValueError: boom went the library"
    assert result.output is None
    assert worker.call("echo", {"text": "still here"}, timeout=TIMEOUT).output == "still here"
    assert worker.pid == pid


def test_sys_exit_in_a_capability_is_an_error_not_an_exit(worker: SubprocessWorker) -> None:
    pid = worker.call("noop", timeout=TIMEOUT) and worker.pid
    result = worker.call("sample.exits", timeout=TIMEOUT)
    assert (result.ok, result.error) == (False, "SystemExit: 3")
    assert worker.call("noop", timeout=TIMEOUT).ok and worker.pid == pid


def test_errors_never_carry_params_or_config(worker: SubprocessWorker) -> None:
    result = worker.call(
        "sample.leaky", {"api_key": "sk-live-123"}, config={"token": "tok-456"}, timeout=TIMEOUT
    )
    assert result.error == "RuntimeError: the service said no"
    wrong = worker.call("sample.leaky", {"api_kye": "sk-live-123"}, timeout=TIMEOUT)
    assert wrong.error is not None and wrong.error.startswith("TypeError: ")
    assert "sk-live-123" not in wrong.error


def test_an_unknown_capability_is_a_clear_error(worker: SubprocessWorker) -> None:
    result = worker.call("sample.nope", timeout=TIMEOUT)
    assert result.error == "LookupError: library 'sample' has no capability 'sample.nope'"


def test_a_timeout_kills_the_process_and_the_next_call_gets_a_new_one(
    worker: SubprocessWorker,
) -> None:
    pid = worker.call("noop", timeout=TIMEOUT) and worker.pid
    assert pid is not None
    started = time.monotonic()
    result = worker.call("sample.sleepy", {"seconds": 30}, timeout=0.3)
    assert time.monotonic() - started < 5
    assert not result.ok
    assert result.error == (
        "sample.sleepy timed out after 0.3 s; the worker process of library sample was killed"
    )
    assert gone(pid) and not worker.alive
    assert worker.call("add", {"a": 1, "b": 2}, timeout=TIMEOUT).output == 3
    assert worker.pid not in (None, pid)


@pytest.mark.parametrize(
    "capability, how",
    [("sample.die", "exit code 1"), ("sample.segv", "killed by signal SIGSEGV")],
)
def test_a_hard_crash_fails_the_call_and_the_next_call_gets_a_new_process(
    worker: SubprocessWorker, capability: str, how: str
) -> None:
    pid = worker.call("noop", timeout=TIMEOUT) and worker.pid
    result = worker.call(capability, timeout=TIMEOUT)
    assert not result.ok
    assert result.error == f"the worker process of library sample died ({how})"
    assert gone(pid) and not worker.alive
    assert worker.call("echo", {"text": "back"}, timeout=TIMEOUT).output == "back"
    assert worker.pid not in (None, pid)


def test_a_process_that_died_between_calls_is_replaced_quietly(worker: SubprocessWorker) -> None:
    pid = worker.call("noop", timeout=TIMEOUT) and worker.pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)  # dead, not yet reaped
    assert worker.call("echo", {"text": "fresh"}, timeout=TIMEOUT).output == "fresh"
    assert worker.pid != pid


def test_print_and_stdin_cannot_break_the_protocol(
    worker: SubprocessWorker, library_log: Collect
) -> None:
    assert worker.call("sample.printer", timeout=TIMEOUT).output == "printed"
    assert worker.call("sample.reads_stdin", timeout=TIMEOUT).output == ""
    assert worker.call("add", {"a": 20, "b": 22}, timeout=TIMEOUT).output == 42
    record = library_log.wait_for("hello from print")
    assert record is not None and record.levelname == "INFO"
    assert library_log.wait_for("straight to fd 1") is not None


def test_logs_and_events_come_back(worker: SubprocessWorker, library_log: Collect) -> None:
    logged = worker.call("sample.logs", {"text": "hi"}, timeout=TIMEOUT)
    assert logged.ok
    assert logged.logs == (("INFO", "info: hi"), ("WARNING", "careful"))
    emitted = worker.call("sample.emits", {"value": 5}, timeout=TIMEOUT)
    assert (emitted.output, emitted.events) == (5, (("sample.done", {"value": 5}),))
    # The lines also reach the app's log, at their level.
    record = library_log.wait_for("careful")
    assert record is not None and record.levelname == "WARNING"


def test_the_dao_is_scoped_to_the_calling_account(sample: Sample) -> None:
    worker = sample.worker
    first = worker.call(
        "sample.uses_dao", {"text": "note a"}, account_id=sample.account_a, timeout=TIMEOUT
    )
    assert first.ok, first.error
    assert first.output["row"] == {"id": first.output["id"], "text": "note a"} | {
        "account_id": sample.account_a
    }
    other = worker.call(
        "sample.uses_dao", {"text": "note b"}, account_id=sample.account_b, timeout=TIMEOUT
    )
    assert other.output["count"] == 1  # account b does not see account a's note
    # The rows are in the app's database file.
    rows = sample.store.db.execute("SELECT account_id, text FROM sample_note ORDER BY id")
    assert [tuple(row) for row in rows][-2:] == [
        (sample.account_a, "note a"),
        (sample.account_b, "note b"),
    ]
    no_account = worker.call("sample.uses_dao", {"text": "x"}, timeout=TIMEOUT)
    assert (
        no_account.error
        == "LookupError: 'sample_note' is per account, and this call has no account"
    )


def test_an_output_that_cannot_be_pickled_is_an_error(worker: SubprocessWorker) -> None:
    pid = worker.call("noop", timeout=TIMEOUT) and worker.pid
    result = worker.call("sample.unpicklable", timeout=TIMEOUT)
    assert not result.ok
    assert result.error is not None
    assert result.error.startswith("the result cannot be sent back: ")
    assert worker.call("noop", timeout=TIMEOUT).ok and worker.pid == pid


def test_params_that_cannot_be_pickled_are_an_error(worker: SubprocessWorker) -> None:
    result = worker.call("sample.echo", {"text": lambda: None}, timeout=TIMEOUT)
    assert not result.ok
    assert result.error is not None
    assert result.error.startswith("the params of sample.echo cannot be sent to a worker process")
    assert worker.call("echo", {"text": "ok"}, timeout=TIMEOUT).output == "ok"


def test_concurrent_calls_from_four_threads_all_succeed(worker: SubprocessWorker) -> None:
    def work(n: int) -> tuple[int, CallResult]:
        return n, worker.call("sample.add", {"a": n, "b": 1000}, timeout=TIMEOUT)

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(work, range(200)))
    assert all(result.ok and result.output == n + 1000 for n, result in results)


def test_a_library_whose_register_raises_fails_to_start(sample: Sample) -> None:
    write_library(sample.libraries, "broken", BROKEN)
    worker = sample.new_worker("broken")
    with pytest.raises(WorkerError) as caught:
        worker.start()
    assert str(caught.value) == (
        "library broken failed to load: RuntimeError: register exploded on purpose"
    )
    assert not worker.alive and worker.pid is None
    result = worker.call("broken.anything", timeout=TIMEOUT)
    assert (result.ok, result.error) == (False, f"WorkerError: {caught.value}")


def test_a_library_that_exits_on_import_fails_to_start(sample: Sample) -> None:
    write_library(sample.libraries, "quitter", "import os\nos._exit(5)\n")
    with pytest.raises(WorkerError) as caught:
        sample.new_worker("quitter").start()
    assert str(caught.value) == (
        "the worker process of library quitter died while starting (exit code 5)"
    )


def test_a_library_that_hangs_on_import_fails_to_start(sample: Sample) -> None:
    write_library(sample.libraries, "hangs", "import time\ntime.sleep(60)\n")
    worker = sample.new_worker("hangs", start_timeout=0.5)
    with pytest.raises(WorkerError, match="^library hangs did not start within 0.5 s$"):
        worker.start()
    assert not worker.alive


def test_the_default_deriver_is_the_schema_module(sample: Sample) -> None:
    with SubprocessWorker(
        LibrarySource.folder(sample.libraries, "sample"), sample.db_path
    ) as worker:
        assert worker.deriver == "modules.libraries.schema:derive"
        assert "sample.logs" in worker.start()["capabilities"]
        assert worker.call("logs", {"text": "x"}, timeout=TIMEOUT).logs[0] == ("INFO", "info: x")


def test_a_deriver_that_cannot_be_imported_fails_to_start(sample: Sample) -> None:
    worker = sample.new_worker("sample", deriver="tests.modules.libraries.isolation_helpers:nope")
    with pytest.raises(WorkerError, match="is not a function"):
        worker.start()


def test_restart_picks_up_changed_code(sample: Sample) -> None:
    code = "def register(registry):\n    registry.capability(lambda: {!r}, name='version')\n"
    write_library(sample.libraries, "changing", code.format("one"))
    with sample.new_worker("changing") as worker:
        assert worker.call("changing.version", timeout=TIMEOUT).output == "one"
        first_pid = worker.pid
        write_library(sample.libraries, "changing", code.format("two"))
        assert worker.call("changing.version", timeout=TIMEOUT).output == "one"
        answer = worker.restart()
        assert answer["capabilities"] == ["changing.version"]
        assert worker.call("changing.version", timeout=TIMEOUT).output == "two"
        assert worker.pid != first_pid and first_pid is not None and gone(first_pid)


def test_stop_leaves_no_process_behind(sample: Sample) -> None:
    worker = sample.new_worker("sample")
    worker.start()
    pid = worker.pid
    assert pid is not None and not gone(pid)
    worker.stop()
    assert gone(pid)
    assert not worker.alive and worker.pid is None
    worker.stop()  # stopping twice is fine
    # A call racing an unload must not bring the process back...
    stray = worker.call("noop", timeout=TIMEOUT)
    assert stray.error == "WorkerError: the worker of library sample is stopped"
    assert worker.pid is None
    worker.start()  # ...but starting it again does
    assert worker.call("noop", timeout=TIMEOUT).ok
    worker.stop()


def test_stop_ends_a_call_that_does_not_finish(sample: Sample, library_log: Collect) -> None:
    worker = sample.new_worker("sample")
    worker.start()
    pid = worker.pid
    assert pid is not None
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(worker.call, "sample.nap", {"seconds": 60}, timeout=60)
        assert library_log.wait_for("napping for 60 s") is not None  # the call is under way
        worker.stop()
        result = pending.result(timeout=10)
    assert result.error == "the worker process of library sample was stopped"
    assert gone(pid)


def test_no_op_round_trip(worker: SubprocessWorker, capsys: pytest.CaptureFixture[str]) -> None:
    worker.call("noop", timeout=TIMEOUT)
    calls = 2000
    started = time.perf_counter()
    for _ in range(calls):
        worker.call("sample.noop", timeout=TIMEOUT)
    per_call_us = (time.perf_counter() - started) / calls * 1e6
    with capsys.disabled():
        print(f"\nsubprocess no-op round trip: {per_call_us:.0f} µs per call ({calls} calls)")
