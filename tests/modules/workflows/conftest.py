"""Fixtures of the workflow tests: the real module graph on a temp folder."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from tests.modules.workflows.workflows_helpers import Rig, rig_on


@pytest.fixture(name="rig")
def fixture_rig(tmp_path: Path) -> Iterator[Rig]:
    """Libraries and the runner started; accounts Acme (with an owner) and Beta."""
    with rig_on(tmp_path) as started:
        yield started


@pytest.fixture(name="cold")
def fixture_cold(tmp_path: Path) -> Iterator[Rig]:
    """Libraries started, the runner not: runs stay queued until a test starts it."""
    with rig_on(tmp_path, runner=False) as built:
        yield built
