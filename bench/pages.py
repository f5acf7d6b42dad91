"""Page benchmark: the authenticated Users page of an account with 1,000 users,
against a bare Starlette route, both under uvicorn on 127.0.0.1 and loaded
from this (second) process at 20 concurrent keep-alive clients.

    uv run python bench/pages.py [--users 1000] [--seconds 10] [--clients 20]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# pylint: disable=wrong-import-position  # the path line above makes these importable
from bench.loadgen import load
from tests.conftest import free_port, make_settings
from webapp import usecases
from webapp.container import Container

PASSWORD = "benchmark password 1"


def seed(data_dir: Path, users: int) -> None:
    """A platform owner, and a customer account with `users` users, one of them Admin."""
    services = Container.build(make_settings(data_dir, BCRYPT_ROUNDS="4"))
    try:
        usecases.create_owner(services, "Operators", "owner@example.com", "Owner", PASSWORD)
        account = services.tenants.create_account("Big Customer")
        services.tenants.create_user(
            account, "admin@big.test", "Admin", password=PASSWORD, role_names=("Admin",)
        )
        for i in range(users - 1):
            services.tenants.create_user(
                account, f"user{i:04d}@big.test", f"User {i:04d}", role_names=("Member",)
            )
    finally:
        services.close()


def start(command: list[str], env: dict[str, str], port: int) -> subprocess.Popen:
    """Start a server process and wait until it answers."""
    process = subprocess.Popen(  # pylint: disable=consider-using-with  # stopped by the caller
        command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
            return process
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"server {command} did not start")


def sign_in(port: int) -> str:
    """Sign in as the account admin; returns the Cookie header value."""
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", follow_redirects=True) as client:
        page = client.get("/login").text
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        response = client.post(
            "/login",
            data={"username": "admin@big.test", "password": PASSWORD, "csrf_token": token},
        )
        assert response.status_code == 200 and "Big Customer" in response.text, response.text
        users = client.get("/users/")
        assert users.status_code == 200 and "user0000@big.test" in users.text
        return "; ".join(f"{k}={v}" for k, v in client.cookies.items())


def main() -> None:
    """Seed, serve both apps, load each, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--workers", type=int, default=1, help="uvicorn workers for both servers")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        seed(data, args.users)
        env = {
            **os.environ,
            "DB_PATH": str(data),
            "LOG_CONSOLE": "false",
            "LOG_FILE": str(Path(tmp) / "app.log"),
            "BCRYPT_ROUNDS": "4",
            "LOGIN_RATE_LIMIT": "1000",
        }
        app_port, bare_port = free_port(), free_port()
        webapp = str(Path(sys.executable).parent / "webapp")
        app = start(
            [webapp, "serve", "--port", str(app_port), "--workers", str(args.workers)],
            env,
            app_port,
        )
        bare = start(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "bench.bare_app:app",
                "--port",
                str(bare_port),
                "--no-access-log",
                "--workers",
                str(args.workers),
                "--log-level",
                "warning",
            ],
            env,
            bare_port,
        )
        try:
            cookie = sign_in(app_port)
            load("127.0.0.1", bare_port, "/", seconds=1)  # warm up
            load("127.0.0.1", app_port, "/users/", headers={"Cookie": cookie}, seconds=1)
            bare_result = load(
                "127.0.0.1", bare_port, "/", clients=args.clients, seconds=args.seconds
            )
            users_result = load(
                "127.0.0.1",
                app_port,
                "/users/",
                headers={"Cookie": cookie},
                clients=args.clients,
                seconds=args.seconds,
            )
        finally:
            for process in (app, bare):
                process.terminate()
                process.wait(timeout=15)
    print(f"{args.clients} concurrent clients, {args.seconds:.0f} s each, {args.users} users")
    print(bare_result.line("bare Starlette route"))
    print(users_result.line("Users page (signed in)"))
    share = users_result.rps / bare_result.rps
    print(f"  Users page p95 {users_result.percentile(95):.2f} ms (target < 25 ms)")
    print(f"  Users page throughput {share:.0%} of the bare route (target >= 25 %)")


if __name__ == "__main__":
    main()
