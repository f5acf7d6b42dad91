"""Text and JSON-lines formatters that include the bound context."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone

from modules.logs.context import current_context

# Attributes every LogRecord has; anything else came in through `extra=`.
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__.keys()) | {
    "message",
    "asctime",
    "context",
    "color_message",  # uvicorn's copy of the message with terminal colours
}


class ContextFilter(logging.Filter):
    """Copies the bound context onto the record when it is created."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "context"):
            record.context = current_context()
        return True


def _timestamp(record: logging.LogRecord) -> str:
    moment = datetime.fromtimestamp(record.created, tz=timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _extras(record: logging.LogRecord) -> dict[str, object]:
    extras = dict(getattr(record, "context", {}))
    extras.update((k, v) for k, v in record.__dict__.items() if k not in _STANDARD and k[0] != "_")
    return extras


class TextFormatter(logging.Formatter):
    """`2026-01-01T00:00:00.000Z INFO name message key=value ...`"""

    def format(self, record: logging.LogRecord) -> str:
        line = f"{_timestamp(record)} {record.levelname:<8} {record.name} {record.getMessage()}"
        extras = _extras(record)
        if extras:
            line += " " + " ".join(f"{k}={v}" for k, v in extras.items())
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, context, extras."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, object] = {
            "time": _timestamp(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        data.update(_extras(record))
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, default=str, ensure_ascii=False)
