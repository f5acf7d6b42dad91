"""Helpers for the subprocess isolation tests: a stand-in schema deriver
(worker processes import it by its dotted name) and a sample library."""

from __future__ import annotations

import inspect
import textwrap
from pathlib import Path
from typing import Any, Callable

DERIVER = "tests.modules.libraries.isolation_helpers:derive"


def derive(func: Callable[..., Any]) -> tuple[dict[str, Any], dict[str, Any], bool]:
    """No schemas; the context goes to functions whose first parameter is `ctx`."""
    params = list(inspect.signature(func).parameters)
    return {}, {}, bool(params) and params[0] == "ctx"


SAMPLE = '''
"""A library whose capabilities misbehave in every way the worker must survive."""

import asyncio
import ctypes
import os
import sys
import time

from modules.datastore import Entity, Field

VERSION = "1.0"


def register(registry):
    registry.info(version=VERSION, title="Sample")
    registry.entity(Entity("sample_note", (Field("text", required=True),), tenant_scoped=True))
    registry.event("sample.done")

    @registry.capability
    def noop():
        return None

    @registry.capability
    def echo(text: str) -> str:
        return text

    @registry.capability
    def add(a: int, b: int) -> int:
        return a + b

    @registry.capability
    def version() -> str:
        return VERSION

    @registry.capability
    def boom():
        raise ValueError("boom went the library")

    @registry.capability
    def sleepy(seconds: float) -> float:
        time.sleep(seconds)
        return seconds

    @registry.capability
    def nap(ctx, seconds: float) -> float:
        ctx.logger.info("napping for %s s", seconds)
        time.sleep(seconds)
        return seconds

    @registry.capability
    def die():
        os._exit(1)

    @registry.capability
    def segv():
        ctypes.string_at(0)

    @registry.capability
    def printer() -> str:
        print("hello from print")
        print("a second line, with no newline at the end", end="")
        os.write(1, b"straight to fd 1\\n")
        return "printed"

    @registry.capability
    def uses_dao(ctx, text: str) -> dict:
        notes = ctx.dao("sample_note")
        note_id = notes.insert({"text": text})
        return {"id": note_id, "row": notes.get(note_id), "count": notes.count()}

    @registry.capability
    async def async_add(a: int, b: int) -> int:
        await asyncio.sleep(0)
        return a + b

    @registry.capability
    def logs(ctx, text: str) -> None:
        ctx.logger.info("info: %s", text)
        ctx.logger.warning("careful")

    @registry.capability
    def emits(ctx, value: int) -> int:
        ctx.emit("sample.done", {"value": value})
        return value

    @registry.capability
    def whoami(ctx) -> dict:
        return {"account": ctx.account_id, "user": ctx.user_id, "config": dict(ctx.config)}

    @registry.capability
    def unpicklable():
        return lambda: None

    @registry.capability
    def leaky(ctx, api_key: str):
        raise RuntimeError("the service said no")

    @registry.capability
    def reads_stdin() -> str:
        return sys.stdin.read()

    @registry.capability
    def exits():
        sys.exit(3)
'''

BROKEN = """
def register(registry):
    raise RuntimeError("register exploded on purpose")
"""


def write_library(libraries_dir: Path, name: str, source: str) -> Path:
    """Write `<libraries_dir>/<name>/__init__.py` and return the folder."""
    folder = libraries_dir / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "__init__.py").write_text(textwrap.dedent(source), encoding="utf-8")
    return folder
