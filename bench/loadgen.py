"""A lean keep-alive HTTP/1.1 load generator (asyncio streams), so the client
costs little next to the server it measures. Used by the page benchmarks."""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import dataclass


@dataclass
class Result:
    """Figures of one load run."""

    requests: int
    seconds: float
    latencies_ms: list[float]
    errors: int

    @property
    def rps(self) -> float:
        """Requests per second."""
        return self.requests / self.seconds

    def percentile(self, pct: float) -> float:
        """Latency at `pct` (0-100) in milliseconds."""
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(len(ordered) * pct / 100))]

    def line(self, label: str) -> str:
        """One printable row."""
        mean = statistics.fmean(self.latencies_ms)
        return (
            f"  {label:<28} {self.rps:>9,.0f} req/s   p50 {self.percentile(50):6.2f} ms   "
            f"p95 {self.percentile(95):6.2f} ms   mean {mean:6.2f} ms   errors {self.errors}"
        )


@dataclass
class _Shared:
    """What every client of one run shares: where, what, until when, and the tallies."""

    host: str
    port: int
    request: bytes
    deadline: float
    latencies: list[float]
    errors: list[int]


async def _worker(run: _Shared) -> None:
    reader, writer = await asyncio.open_connection(run.host, run.port)
    request, deadline, out, errors = run.request, run.deadline, run.latencies, run.errors
    try:
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            out.append((time.perf_counter() - start) * 1000)
            if status != 200:
                errors.append(status)
    finally:
        writer.close()


async def _run(  # pylint: disable=too-many-arguments,too-many-positional-arguments
    host: str, port: int, path: str, headers: dict[str, str], clients: int, seconds: float
) -> Result:
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}:{port}", "Connection: keep-alive"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode()
    start = time.perf_counter()
    run = _Shared(host, port, request, start + seconds, [], [])
    await asyncio.gather(*(_worker(run) for _ in range(clients)))
    return Result(len(run.latencies), time.perf_counter() - start, run.latencies, len(run.errors))


def load(  # pylint: disable=too-many-arguments
    host: str,
    port: int,
    path: str,
    *,
    headers: dict[str, str] | None = None,
    clients: int = 20,
    seconds: float = 10.0,
) -> Result:
    """Hammer `path` with `clients` concurrent keep-alive connections."""
    return asyncio.run(_run(host, port, path, headers or {}, clients, seconds))
