"""Workflow engine benchmark, in one run:

1. a 50-step workflow of `util.noop` steps, everything persisted (run,
   step runs), executed by the engine; and a plain loop doing the same
   SQLite writes with nothing else (the floor);
2. 3-step workflows triggered through the HTTP API of a real server:
   runs per second end to end when clients trigger as fast as they can
   (the queue fills: this measures throughput), then trigger-to-start
   latency at a steady rate the server keeps up with (`--rate` per second;
   under overload the latency is just the queue's length).

    uv run python bench/engine.py [--runs 20] [--api-runs 600] [--clients 8] [--rate 100]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# pylint: disable=wrong-import-position  # the path line above makes these importable
from modules.workflows.builder import WorkflowBuilder
from modules.workflows.runs import RunStore
from tests.conftest import free_port, make_settings
from webapp import usecases
from webapp.container import Container

STEPS = 50


def noop_chain(steps: int, name: str) -> dict:
    """A sequential workflow of `steps` util.noop steps."""
    builder = WorkflowBuilder(name)
    for i in range(steps):
        builder.add_step(f"s{i}", "util.noop")
    return builder.build()


def _time_engine(services: Container, account: int, workflow_id: int, runs: int) -> list[float]:
    flows = services.workflows
    times = []
    for _ in range(runs):
        run_id = flows.trigger(account, workflow_id)
        run = flows.runs.claim("bench", flows.clock())
        assert run is not None and run["id"] == run_id
        definition = flows.definition_of(account, workflow_id, run["version"])
        start = time.perf_counter()
        outcome = flows.engine.execute(run, definition)
        flows.runs.finish_run(run_id, outcome.status, outcome.error, flows.clock())
        times.append(time.perf_counter() - start)
        assert outcome.status == "completed", outcome
    return times


def _time_floor(services: Container, account: int, workflow_id: int, runs: int) -> list[float]:
    flows = services.workflows
    store: RunStore = flows.runs
    times = []
    for _ in range(runs):
        run_id = flows.trigger(account, workflow_id)
        store.claim("bench", flows.clock())
        start = time.perf_counter()
        for i in range(STEPS):
            now = datetime.now().astimezone()
            step_run = store.start_step(
                account,
                run_id,
                step_id=f"s{i}",
                capability="util.noop",
                attempt=1,
                resolved_input={},
                now=now,
            )
            store.finish_step(step_run, "completed", output=None, duration_ms=0.0, now=now)
        store.finish_run(run_id, "completed", None, flows.clock())
        times.append(time.perf_counter() - start)
    return times


def engine_per_step(services: Container, account: int, runs: int) -> tuple[float, float]:
    """(µs per step through the engine, µs per step for the bare writes)."""
    workflow = services.workflows.create(account, noop_chain(STEPS, "Fifty no-ops"))
    engine = _time_engine(services, account, workflow["id"], runs)
    floor = _time_floor(services, account, workflow["id"], runs)
    return (
        statistics.median(engine) / STEPS * 1e6,
        statistics.median(floor) / STEPS * 1e6,
    )


def seed(data_dir: Path) -> str:
    """An owner, an API key and a 3-step workflow; returns 'key workflow_id'."""
    services = Container.build(make_settings(data_dir, BCRYPT_ROUNDS="4"))
    try:
        services.libraries.start()
        owner = usecases.create_owner(services, "Operators", "o@example.com", "O", "bench pass 123")
        _, key = services.tenants.create_api_key(1, owner, "bench")
        three = (
            WorkflowBuilder("Three steps")
            .add_step("a", "util.set", value="${trigger.n}")
            .add_step("b", "util.set", value="${steps.a.output.value}")
            .add_step("c", "util.noop")
            .build()
        )
        workflow = services.workflows.create(1, three, user_id=owner)
        return f"{key} {workflow['id']}"
    finally:
        services.libraries.stop()
        services.close()


async def fire_paced(
    base: str, key: str, workflow_id: int, rate: float, seconds: float
) -> list[int]:
    """Trigger at a steady `rate` per second for `seconds`; run ids."""
    headers = {"Authorization": f"Bearer {key}"}
    run_ids: list[int] = []
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as http:
        start = time.perf_counter()
        for n in range(int(rate * seconds)):
            delay = start + n / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            response = await http.post(
                f"/api/v1/workflows/{workflow_id}/trigger", json={"payload": {"n": n}}
            )
            assert response.status_code == 202, response.text
            run_ids.append(response.json()["run_id"])
    return run_ids


async def fire(base: str, key: str, workflow_id: int, total: int, clients: int) -> list[int]:
    """POST `total` triggers from `clients` concurrent connections; run ids."""
    headers = {"Authorization": f"Bearer {key}"}
    run_ids: list[int] = []
    counter = iter(range(total))

    async def client() -> None:
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as http:
            for n in counter:
                response = await http.post(
                    f"/api/v1/workflows/{workflow_id}/trigger", json={"payload": {"n": n}}
                )
                assert response.status_code == 202, response.text
                run_ids.append(response.json()["run_id"])

    await asyncio.gather(*(client() for _ in range(clients)))
    return run_ids


def _serve(data: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "DB_PATH": str(data), "LOG_CONSOLE": "false", "LOG_LEVEL": "WARNING"}
    server = subprocess.Popen(  # pylint: disable=consider-using-with  # the caller stops it
        [str(Path(sys.executable).parent / "webapp"), "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            httpx.get(base + "/healthz", timeout=1)
            break
        except httpx.TransportError:
            time.sleep(0.1)
    return server, base


def _finished_rows(data: Path, run_ids: list[int]) -> list:
    """Wait until every run has finished; their (created, started, status) rows."""
    services = Container.build(make_settings(data))
    marks = ",".join("?" for _ in run_ids)
    try:
        while True:
            row = services.db.execute_one(
                f"SELECT count(*) FROM workflow_run WHERE id IN ({marks}) "
                f"AND status IN ('completed', 'failed', 'cancelled')",
                run_ids,
            )
            if row[0] == len(run_ids):
                break
            time.sleep(0.01)
        return services.db.execute(
            f"SELECT created_at, started_at, status FROM workflow_run WHERE id IN ({marks})",
            run_ids,
        )
    finally:
        services.close()


def api_figures(total: int, clients: int, rate: float) -> tuple[float, float, float, int]:
    """(runs/s end to end, trigger-to-start p50 ms, p95 ms, failures)."""
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        key, workflow = seed(data).split()
        server, base = _serve(data)
        try:
            start = time.perf_counter()
            burst = _finished_rows(
                data, asyncio.run(fire(base, key, int(workflow), total, clients))
            )
            elapsed = time.perf_counter() - start
            paced = _finished_rows(data, asyncio.run(fire_paced(base, key, int(workflow), rate, 3)))
        finally:
            server.terminate()
            server.wait(timeout=20)
    p50, p95 = _start_latency(paced)
    return total / elapsed, p50, p95, sum(1 for r in [*burst, *paced] if r[2] != "completed")


def _start_latency(rows: list) -> tuple[float, float]:
    """p50 and p95 of started_at - created_at, in ms."""
    latencies = sorted(
        (datetime.fromisoformat(r[1]) - datetime.fromisoformat(r[0])).total_seconds() * 1000
        for r in rows
    )
    return (
        latencies[len(latencies) // 2],
        latencies[min(len(latencies) - 1, int(len(latencies) * 0.95))],
    )


def main() -> None:  # pylint: disable=too-many-locals  # one figure per local
    """Print the figures and the targets."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="50-step runs to time")
    parser.add_argument("--api-runs", type=int, default=600, help="3-step runs via the API")
    parser.add_argument("--clients", type=int, default=8, help="concurrent API clients")
    parser.add_argument("--rate", type=float, default=100, help="steady triggers per second")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        services = Container.build(make_settings(Path(tmp) / "data", BCRYPT_ROUNDS="4"))
        try:
            services.libraries.start()
            account = services.tenants.create_account("Bench")
            per_step, floor = engine_per_step(services, account, args.runs)
        finally:
            services.libraries.stop()
            services.close()
    throughput, p50, p95, failures = api_figures(args.api_runs, args.clients, args.rate)
    print(f"{STEPS}-step util.noop workflow, median of {args.runs} runs, everything persisted")
    print(f"  engine                    {per_step:8.1f} µs per step")
    print(f"  same writes, plain loop   {floor:8.1f} µs per step (the floor)")
    print(f"  per-step overhead         {per_step - floor:8.1f} µs (target <= 150 µs)")
    print(f"3-step workflows through the API: {args.api_runs} runs, {args.clients} clients")
    print(f"  end to end                {throughput:8.0f} runs/s (target >= 300)")
    print(
        f"  trigger-to-start at {args.rate:g}/s  p50 {p50:.1f} ms, p95 {p95:.1f} ms "
        "(target p95 < 20 ms)"
    )
    print(f"  runs not completed        {failures}")


if __name__ == "__main__":
    main()
