"""Logging: configure(), context binding, text and JSON lines, levels."""

# pylint: disable=redefined-outer-name  # pytest fixtures name their dependencies

from __future__ import annotations

import asyncio
import json
import logging
import re
from pathlib import Path
from typing import Iterator

import pytest

from modules.logs import LEVELS, bind, configure, current_context, get_logger

MARK = "_switchboard_handler"


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """Put the root logger back as it was: no Switchboard handlers, same levels."""
    root = logging.getLogger()
    access = logging.getLogger("uvicorn.access")
    saved = (root.level, access.level, list(root.handlers))
    yield
    configure(console=False)  # removes (and closes) the handlers configure installed
    root.setLevel(saved[0])
    access.setLevel(saved[1])
    assert not [h for h in root.handlers if getattr(h, MARK, False)]
    assert [h for h in root.handlers if h not in saved[2]] == []


@pytest.fixture
def log_file(tmp_path: Path) -> Path:
    """Where configure() writes; the folder is created by configure itself."""
    return tmp_path / "logs" / "app.log"


def lines(path: Path) -> list[str]:
    """The lines written so far."""
    return path.read_text(encoding="utf-8").splitlines() if path.exists() else []


def records(path: Path) -> list[dict]:
    """The JSON objects written so far, one per line."""
    return [json.loads(line) for line in lines(path)]


def test_json_line_carries_the_bound_request_id(log_file: Path) -> None:
    """Inside bind(request_id=...), every record carries it; the line is one JSON object."""
    configure("INFO", fmt="json", file=log_file, console=False)
    log = get_logger("tests")
    with bind(request_id="abc"):
        log.info("hello %s", "world")
    [record] = records(log_file)
    assert record["request_id"] == "abc"
    assert record["message"] == "hello world"
    assert record["level"] == "INFO"
    assert record["logger"] == "switchboard.tests"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", record["time"])


def test_record_outside_bind_has_no_request_id(log_file: Path) -> None:
    """The context ends with the block."""
    configure("INFO", fmt="json", file=log_file, console=False)
    log = get_logger("tests")
    with bind(request_id="abc"):
        log.info("inside")
    log.info("outside")
    inside, outside = records(log_file)
    assert inside["request_id"] == "abc"
    assert "request_id" not in outside
    assert outside["message"] == "outside"
    assert current_context() == {}


def test_nested_bind_merges_and_unwinds(log_file: Path) -> None:
    """An inner bind adds to (and may override) the outer values, then restores them."""
    configure("INFO", fmt="json", file=log_file, console=False)
    log = get_logger("tests")
    with bind(request_id="r1"):
        with bind(run_id=7, request_id="r2"):
            assert current_context() == {"request_id": "r2", "run_id": 7}
            log.info("inner")
        log.info("outer")
    inner, outer = records(log_file)
    assert (inner["request_id"], inner["run_id"]) == ("r2", 7)
    assert outer["request_id"] == "r1" and "run_id" not in outer


def test_text_format_has_key_value_pairs(log_file: Path) -> None:
    """Text lines: time, level, logger, message, then key=value for context and extras."""
    configure("INFO", fmt="text", file=log_file, console=False)
    with bind(request_id="abc", run_id=42):
        get_logger("web").warning("slow request", extra={"ms": 1500})
    [line] = lines(log_file)
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z WARNING  switchboard\.web ", line)
    assert "slow request" in line
    assert line.endswith(" request_id=abc run_id=42 ms=1500")


def test_level_filtering(log_file: Path) -> None:
    """DEBUG is hidden at INFO and shown at DEBUG; ERROR is shown at WARNING."""
    configure("INFO", fmt="json", file=log_file, console=False)
    log = get_logger("tests")
    log.debug("hidden")
    log.info("shown")
    configure("DEBUG", fmt="json", file=log_file, console=False)
    log.debug("now shown")
    configure("WARNING", fmt="json", file=log_file, console=False)
    log.info("hidden again")
    log.error("error")
    assert [r["message"] for r in records(log_file)] == ["shown", "now shown", "error"]
    assert [r["level"] for r in records(log_file)] == ["INFO", "DEBUG", "ERROR"]


def test_configure_twice_does_not_duplicate_lines(log_file: Path, tmp_path: Path) -> None:
    """Reconfiguring replaces the previous handlers instead of adding more."""
    configure("INFO", fmt="json", file=log_file, console=False)
    configure("INFO", fmt="json", file=log_file, console=False)
    get_logger("tests").info("once")
    assert [r["message"] for r in records(log_file)] == ["once"]
    marked = [h for h in logging.getLogger().handlers if getattr(h, MARK, False)]
    assert len(marked) == 1
    moved = tmp_path / "other.log"
    configure("INFO", fmt="json", file=moved, console=False)
    get_logger("tests").info("elsewhere")
    assert [r["message"] for r in records(log_file)] == ["once"]
    assert [r["message"] for r in records(moved)] == ["elsewhere"]


def test_configure_leaves_foreign_handlers_alone(log_file: Path) -> None:
    """A handler someone else installed survives configure() and still gets records."""
    seen: list[str] = []

    class Collect(logging.Handler):
        """Keeps messages in a list."""

        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record.getMessage())

    foreign = Collect()
    root = logging.getLogger()
    root.addHandler(foreign)
    try:
        configure("INFO", fmt="json", file=log_file, console=False)
        configure("INFO", fmt="json", file=log_file, console=False)
        assert foreign in root.handlers
        get_logger("tests").info("both")
        assert seen == ["both"]
        assert len(records(log_file)) == 1
    finally:
        root.removeHandler(foreign)


def test_extra_fields_appear(log_file: Path) -> None:
    """extra= values become JSON keys next to the context; odd values are stringified."""
    configure("INFO", fmt="json", file=log_file, console=False)
    with bind(run_id=5):
        get_logger("tests").info(
            "step done", extra={"step_id": "send", "attempt": 2, "path": Path("/x")}
        )
    [record] = records(log_file)
    assert record["step_id"] == "send"
    assert record["attempt"] == 2
    assert record["path"] == "/x"
    assert record["run_id"] == 5


def test_exceptions_are_included(log_file: Path) -> None:
    """log.exception adds the traceback under "exception", still one JSON line."""
    configure("INFO", fmt="json", file=log_file, console=False)
    try:
        raise RuntimeError("kaput")
    except RuntimeError:
        get_logger("tests").exception("failed")
    [record] = records(log_file)
    assert record["level"] == "ERROR"
    assert "RuntimeError: kaput" in record["exception"]
    assert "Traceback" in record["exception"]


def test_third_party_records_flow_through_the_same_handlers(log_file: Path) -> None:
    """Records of libraries that use plain logging get the context too."""
    configure("INFO", fmt="json", file=log_file, console=False)
    with bind(request_id="lib"):
        logging.getLogger("someone.else").warning("from a library")
    [record] = records(log_file)
    assert (record["logger"], record["request_id"]) == ("someone.else", "lib")


def test_console_handler_writes_to_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    """console=True writes text lines to standard error, not standard output."""
    configure("INFO", fmt="text", console=True)
    get_logger("tests").info("to the console")
    captured = capsys.readouterr()
    assert "to the console" in captured.err
    assert "to the console" not in captured.out


def test_bind_is_per_task() -> None:
    """Concurrent asyncio tasks keep their own context."""

    async def handle(request_id: str) -> object:
        with bind(request_id=request_id):
            await asyncio.sleep(0)
            await asyncio.sleep(0)
            return current_context()["request_id"]

    async def main() -> list[object]:
        return list(await asyncio.gather(*(handle(f"r{i}") for i in range(5))))

    assert asyncio.run(main()) == [f"r{i}" for i in range(5)]
    assert current_context() == {}


def test_bad_arguments_are_refused() -> None:
    """Unknown levels and formats raise ValueError naming the choices."""
    assert LEVELS == ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
    with pytest.raises(ValueError, match="unknown log level 'VERBOSE'"):
        configure("VERBOSE", console=False)
    with pytest.raises(ValueError, match="unknown log format 'xml'"):
        configure("INFO", fmt="xml", console=False)


def test_get_logger_names_live_under_switchboard() -> None:
    """Names are prefixed once."""
    assert get_logger("datastore").name == "switchboard.datastore"
    assert get_logger("switchboard.datastore").name == "switchboard.datastore"
    assert get_logger("switchboard").name == "switchboard"
    assert get_logger("switchboardish").name == "switchboard.switchboardish"


def test_uvicorns_coloured_copy_of_the_message_is_left_out(log_file: Path) -> None:
    configure("INFO", fmt="text", file=log_file, console=False)
    logging.getLogger("uvicorn.error").info(
        "Started server process [%d]", 7, extra={"color_message": "Started \x1b[36m%d\x1b[0m"}
    )
    [line] = lines(log_file)
    assert line.endswith("uvicorn.error Started server process [7]")
