"""Context values (request id, run id, step id) attached to every log record."""

from __future__ import annotations

import contextlib
import contextvars
from typing import Iterator

_CONTEXT: contextvars.ContextVar[dict[str, object]] = contextvars.ContextVar(
    "switchboard_log_context", default={}
)


def current_context() -> dict[str, object]:
    """The values bound in the current task or thread."""
    return _CONTEXT.get()


@contextlib.contextmanager
def bind(**values: object) -> Iterator[None]:
    """Attach `values` to every record logged inside the block (async-safe)."""
    token = _CONTEXT.set({**_CONTEXT.get(), **values})
    try:
        yield
    finally:
        _CONTEXT.reset(token)
