"""A real uvicorn server on 127.0.0.1 in a background thread, for browser
tests and benchmarks."""

from __future__ import annotations

import threading
import time

import uvicorn
from starlette.types import ASGIApp

from tests.conftest import free_port


class LiveServer:
    """Serves `app` until `stop()`; `url` is its base address."""

    def __init__(self, app: ASGIApp):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_config=None, access_log=False, lifespan="on"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> "LiveServer":
        """Start serving and wait until the socket accepts connections."""
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the live server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        """Ask uvicorn to finish and wait for it."""
        self.server.should_exit = True
        self.thread.join(timeout=15)
