"""Run an ASGI app under a real uvicorn server on a free loopback port, in a background thread.

Tests talk to the proxy and the simulated backends over real HTTP, as clients do.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import uvicorn


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serve_app(app: Any, *, startup_timeout_s: float = 30.0) -> Iterator[str]:
    """Serve `app` on 127.0.0.1 and yield its base URL (no trailing slash); stop it on exit."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout_s
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("server thread exited during start-up")
        if time.monotonic() > deadline:
            server.should_exit = True
            raise TimeoutError(f"server on port {port} did not start in {startup_timeout_s}s")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)


def await_ready(url: str, timeout_s: float = 60.0) -> httpx.Response:
    """GET `url`/ready until it answers 200 (or `timeout_s` passes), as a readiness probe would: a proxy with
    litellm backends is not ready until litellm's import, begun at start, is done. The last answer."""
    deadline = time.monotonic() + timeout_s
    ready = httpx.get(f"{url}/ready")
    while ready.status_code == 503 and time.monotonic() < deadline:
        time.sleep(0.05)
        ready = httpx.get(f"{url}/ready")
    return ready
