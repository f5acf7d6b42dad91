"""`util.*`: small building blocks for workflows and tests."""

from __future__ import annotations

import time
from typing import Any

from modules.libraries.context import Context
from modules.libraries.contract import LibraryRegistry

SET_SCHEMA = {"type": "object", "properties": {}, "additionalProperties": True}


class StepFailed(Exception):
    """Raised by util.fail: a deliberate, descriptive failure."""


class StepCancelled(Exception):
    """Raised by util.delay when its call is cancelled before the time is up."""


def register(registry: LibraryRegistry) -> None:
    """Declare util.noop, util.set, util.delay and util.fail."""
    registry.info(
        version="1.0",
        title="Utilities",
        description="No-op, set values, wait, and fail on purpose.",
    )

    @registry.capability(title="Do nothing", timeout=5, inline=True)
    def noop() -> None:
        """Does nothing and returns nothing; useful as a placeholder step."""

    @registry.capability(
        name="set",
        title="Set values",
        input_schema=SET_SCHEMA,
        output_schema={"type": "object"},
        inline=True,
    )
    def set_values(**values: Any) -> dict[str, Any]:
        """Returns the values it is given, so later steps can refer to them."""
        return values

    @registry.capability(title="Wait", timeout=3600)
    def delay(ctx: Context, seconds: float) -> dict[str, float]:
        """Waits for the given number of seconds (stops early when cancelled)."""
        if seconds < 0:
            raise ValueError("seconds must not be negative")
        start = time.monotonic()
        if ctx.cancelled.wait(seconds):
            raise StepCancelled(f"cancelled after {time.monotonic() - start:.3f} s")
        return {"waited": round(time.monotonic() - start, 3)}

    @registry.capability(title="Fail", timeout=5)
    def fail(message: str = "Stopped on purpose") -> None:
        """Fails with the given message (to test error paths and fallbacks)."""
        raise StepFailed(message)
