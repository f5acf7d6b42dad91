"""Configuring handlers once, and handing out loggers."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from modules.logs.formatters import ContextFilter, JsonFormatter, TextFormatter

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
ROOT = "switchboard"
_MARK = "_switchboard_handler"


def get_logger(name: str) -> logging.Logger:
    """The logger for `name`, under the `switchboard` hierarchy."""
    if name == ROOT or name.startswith(ROOT + "."):
        return logging.getLogger(name)
    return logging.getLogger(f"{ROOT}.{name}")


def configure(
    level: str = "INFO",
    fmt: str = "text",
    file: str | Path | None = None,
    console: bool = True,
) -> None:
    """(Re)place Switchboard's handlers on the root logger.

    Idempotent: calling it again swaps the handlers it installed before and
    leaves handlers it did not install (pytest's capture, say) alone.
    """
    if level not in LEVELS:
        raise ValueError(f"unknown log level {level!r}; expected one of {LEVELS}")
    if fmt not in ("text", "json"):
        raise ValueError(f"unknown log format {fmt!r}; expected text or json")
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, _MARK, False)]:
        root.removeHandler(handler)
        handler.close()
    formatter = JsonFormatter() if fmt == "json" else TextFormatter()
    handlers: list[logging.Handler] = []
    if console:
        handlers.append(logging.StreamHandler(sys.stderr))
    if file:
        Path(file).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(file, encoding="utf-8"))
    for handler in handlers:
        setattr(handler, _MARK, True)
        handler.setFormatter(formatter)
        handler.addFilter(ContextFilter())
        root.addHandler(handler)
    root.setLevel(level)
    for noisy in ("uvicorn.access",):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
