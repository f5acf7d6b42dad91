"""`webapp demo`, run as a real process: it copies and adds the sample
libraries, is safe to run twice, and fails clearly when a library does."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import make_settings
from webapp.container import Container

WEBAPP = str(Path(sys.executable).parent / "webapp")


def run_demo(tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """`webapp demo` with its database and libraries folder under tmp_path."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DB_", "LOG_", "SECRET", "LIBRAR", "BCRYPT"))
    }
    env.update(
        DB_PATH=str(tmp_path / "data"),
        LIBRARIES_DIR=str(tmp_path / "libs"),
        BCRYPT_ROUNDS="4",
        LOG_CONSOLE="false",
    )
    return subprocess.run(
        [WEBAPP, "demo"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,  # no .env of the checkout
        timeout=120,
        check=False,
    )


def test_demo_adds_both_libraries_and_can_run_again(tmp_path: Path) -> None:
    first = run_demo(tmp_path)
    assert first.returncode == 0, first.stderr
    lines = first.stdout.splitlines()
    assert lines[0] == f"made the libraries folder {tmp_path / 'libs'}"
    assert any(line.startswith("copied ") and line.endswith("libs/crm") for line in lines)
    assert "added library crm 1.0.0 (3 capabilities)" in lines
    assert "added library texttools 1.0.0 (3 capabilities)" in lines
    assert any(line.startswith("configured crm with a random api_token") for line in lines)
    assert lines[-1].startswith("Next: uv run webapp serve")
    assert (tmp_path / "libs" / "crm" / "contacts.py").is_file()
    assert (tmp_path / "libs" / "texttools" / "__init__.py").is_file()

    second = run_demo(tmp_path)
    assert second.returncode == 0, second.stderr
    lines = second.stdout.splitlines()
    assert f"kept {tmp_path / 'libs' / 'crm'} (already there, not overwritten)" in lines
    assert "already added library crm 1.0.0 (3 capabilities)" in lines
    assert "already added library texttools 1.0.0 (3 capabilities)" in lines
    assert "kept the api_token crm already has" in lines

    settings = make_settings(tmp_path / "data", LIBRARIES_DIR=str(tmp_path / "libs"))
    services = Container.build(settings)
    try:
        services.libraries.start()
        for name in ("crm", "texttools"):
            view = services.libraries.library(name)
            assert view is not None and (view["status"], view["loaded"]) == ("loaded", True)
        assert len(services.libraries.state.all()) == 2
        assert services.libraries.config_values("crm")["api_token"] is True
    finally:
        services.close()


def test_demo_keeps_an_existing_folder_and_reports_a_failed_load(tmp_path: Path) -> None:
    broken = tmp_path / "libs" / "crm"
    broken.mkdir(parents=True)
    (broken / "__init__.py").write_text("raise RuntimeError('broken on purpose')\n")
    result = run_demo(tmp_path)
    assert result.returncode == 1
    assert "webapp: demo: library crm failed to load: RuntimeError: broken on purpose" in (
        result.stderr.splitlines()
    )
    assert (broken / "__init__.py").read_text() == "raise RuntimeError('broken on purpose')\n"
    assert not (broken / "contacts.py").exists()
    # The other sample library is still added.
    assert "added library texttools 1.0.0 (3 capabilities)" in result.stdout.splitlines()
