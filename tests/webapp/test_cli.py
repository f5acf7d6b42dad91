"""The `webapp` command, run as a real process."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.conftest import free_port

WEBAPP = str(Path(sys.executable).parent / "webapp")


def _clean_env() -> dict[str, str]:
    """The environment without any Switchboard variable, as on a fresh machine."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DB_", "LOG_", "SECRET"))}
    env["LOG_CONSOLE"] = "false"
    return env


def test_help_lists_the_commands() -> None:
    result = subprocess.run([WEBAPP, "--help"], capture_output=True, text=True, check=True)
    assert "serve" in result.stdout


def test_bad_setting_stops_start_up_with_one_line(tmp_path: Path) -> None:
    env = {**_clean_env(), "DB_PORT": "abc"}
    result = subprocess.run(
        [WEBAPP, "serve"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "DB_PORT" in lines[0] and "port number" in lines[0]


def test_serve_on_a_fresh_folder_answers_healthz(tmp_path: Path) -> None:
    port = free_port()
    process = subprocess.Popen(  # pylint: disable=consider-using-with  # stopped in finally
        [WEBAPP, "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=tmp_path,
        env=_clean_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        body = _wait_for_health(f"http://127.0.0.1:{port}/healthz", process)
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=15)
    assert body["status"] == "ok"
    secret = tmp_path / "data" / "secret_key"
    assert (tmp_path / "data" / "switchboard.db").is_file()
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert len(secret.read_text().strip()) >= 32


def _wait_for_health(url: str, process: subprocess.Popen) -> dict:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited: {process.stderr.read().decode()}")
        try:
            return httpx.get(url, timeout=1).json()
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError("server did not answer /healthz within 30 s")


def test_create_admin_and_create_api_key(tmp_path: Path) -> None:
    env = {**_clean_env(), "DB_PATH": str(tmp_path / "data"), "BCRYPT_ROUNDS": "4"}
    created = subprocess.run(
        [WEBAPP, "create-admin", "--username", "ops@example.com", "--password", "long enough pw 1"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=60,
    )
    assert created.returncode == 0, created.stderr
    assert "ops@example.com" in created.stdout
    weak = subprocess.run(
        [WEBAPP, "create-admin", "--username", "two@example.com", "--password", "short"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=60,
    )
    assert weak.returncode == 1 and "password" in weak.stderr
    keyed = subprocess.run(
        [WEBAPP, "create-api-key", "--username", "ops@example.com"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=60,
    )
    key = keyed.stdout.strip()
    assert key.startswith("sb_")

    from webapp.container import Container  # pylint: disable=import-outside-toplevel
    from tests.conftest import make_settings  # pylint: disable=import-outside-toplevel

    services = Container.build(make_settings(tmp_path / "data"))
    try:
        user = services.tenants.resolve_api_key(key)
        assert user is not None and user["username"] == "ops@example.com"
        assert services.tenants.is_platform(user["account_id"])
    finally:
        services.close()
