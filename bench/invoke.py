"""Capability invocation overhead, in one run:

- a direct Python call of a no-op function (the floor);
- `LibraryManager.invoke` of the same function in-process (lookup,
  permission, schema validation, defaults, context, thread hand-off with a
  timeout, timing);
- the same through a subprocess worker (pipe round trip).

    uv run python bench/invoke.py [--calls 20000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# pylint: disable=wrong-import-position  # the path line above makes these importable
from modules.authz import PermissionRegistry
from modules.datastore import Database, Datastore, Entity, Field
from modules.libraries import state
from modules.libraries.isolation import SubprocessWorker
from modules.libraries.manager import LibraryManager
from modules.libraries.secretbox import SecretBox

LIBRARY = '''
def register(registry):
    registry.info(version="1.0", title="Bench")

    @registry.capability
    def noop(a: int = 0, b: str = "") -> None:
        """Does nothing."""
'''


def noop(a: int = 0, b: str = "") -> None:  # pylint: disable=unused-argument
    """The function the direct calls make."""


def per_call_us(calls: int, work: Callable[[], object]) -> float:
    """Microseconds per call, best of three rounds."""
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(calls):
            work()
        best = min(best, (time.perf_counter() - start) / calls * 1e6)
    return best


def main() -> None:
    """Print µs per call for each path and the overheads against the targets."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "libs" / "bench").mkdir(parents=True)
        (root / "libs" / "bench" / "__init__.py").write_text(textwrap.dedent(LIBRARY))
        db = Database(root / "bench.db")
        store = Datastore(db)
        store.register(Entity("account", (Field("name"),)))
        for entity in state.ENTITIES:
            store.register(entity)
        manager = LibraryManager(
            store,
            PermissionRegistry(),
            SecretBox("b" * 40),
            libraries_dir=root / "libs",
            runner_factory=lambda source, _mode: SubprocessWorker(source, db.path),
            poll_seconds=0,
        )
        manager.start()
        manager.add("bench")
        perms = manager.permissions.keys()
        params = {"a": 1, "b": "x"}
        assert manager.invoke("bench.noop", params, permissions=perms).ok

        direct = per_call_us(args.calls, lambda: noop(**params))
        in_process = per_call_us(
            args.calls, lambda: manager.invoke("bench.noop", params, permissions=perms)
        )
        manager.set_mode("bench", "subprocess")
        assert manager.invoke("bench.noop", params, permissions=perms).ok
        subprocess = per_call_us(
            args.calls // 4, lambda: manager.invoke("bench.noop", params, permissions=perms)
        )
        manager.stop()
        db.close()
    print(f"{args.calls} calls per round, best of 3")
    print(f"  direct Python call            {direct:8.2f} µs")
    print(f"  invoke, in-process (thread)   {in_process:8.2f} µs")
    print(f"  invoke, subprocess worker     {subprocess:8.2f} µs")
    print(f"  in-process overhead {in_process - direct:7.2f} µs per call (target <= 100 µs)")
    print(f"  subprocess round trip {subprocess:7.2f} µs per call (target <= 1000 µs)")


if __name__ == "__main__":
    main()
