"""Real processes for the scale-out tests: the simulated backends and one or more proxies on one log.

Built on `scripts/harness.py` (free ports, TOML, readiness, stopping); unlike `harness.stack` it starts
several proxy processes, optionally each with several uvicorn workers.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from scripts.harness import ROOT, SIM_KEY, backend, free_port, stop, to_toml, wait_ready

BULK_KEY, LIMITED_KEY = "sk-bulk-0123456789abcdef", "sk-limited-0123456789abcdef"


def config(sim_url: str, tmp: Path, log: dict[str, Any], limited_rpm: int) -> dict[str, Any]:
    """Two simulated backends behind the `router` alias; two client keys, one of them rate limited."""
    return {
        "models_dir": str(tmp / "no-models"),  # the prior rule: no model files to load in each process
        "log": log,
        "backend": [
            backend("strong", "gpt-4-1106-preview", sim_url, accuracy=0.88, input_cost_per_token=1e-5),
            backend("cheap", "mixtral-8x7b", sim_url, accuracy=0.74, input_cost_per_token=6e-7),
        ],
        "key": [
            {"id": "bulk", "key_env": "BULK_KEY"},
            {"id": "limited", "key_env": "LIMITED_KEY", "rpm": limited_rpm},
        ],
    }


@dataclass(frozen=True)
class Replica:
    url: str
    pid: int

    def worker_cpu_s(self) -> dict[int, float]:
        """CPU seconds used so far by each of this proxy's child processes (its uvicorn workers)."""
        tick = os.sysconf("SC_CLK_TCK")
        found = {}
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue  # the process has gone
            if int(fields[1]) == self.pid:  # fields[1]: ppid; [11], [12]: utime, stime in clock ticks
                found[int(stat.parent.name)] = (int(fields[11]) + int(fields[12])) / tick
        return found


@contextmanager
def proxies(
    tmp: Path, make_log: Callable[[], dict[str, Any]], *, count: int, workers: int = 1, limited_rpm: int = 1000,
    env: dict[str, str] | None = None,
) -> Iterator[list[Replica]]:  # fmt: skip
    """Start the simulator and `count` proxy processes sharing one log; yield the proxies."""
    env = {**os.environ, "SIM_KEY": SIM_KEY, "LITELLM_LOCAL_MODEL_COST_MAP": "True", **(env or {})}
    env |= {"BULK_KEY": BULK_KEY, "LIMITED_KEY": LIMITED_KEY}
    logs = open(tmp / "processes.log", "wb")
    sim_port = free_port()
    sim = subprocess.Popen(
        [sys.executable, "-m", "proxy.simulator", "--port", str(sim_port), "--speed", "0", "--api-key", SIM_KEY,
         "--log-level", "warning"],
        cwd=ROOT, env=env, stdout=logs, stderr=subprocess.STDOUT,
    )  # fmt: skip
    procs = [sim]
    try:
        sim_url = f"http://127.0.0.1:{sim_port}"
        config_path = tmp / "config.toml"
        config_path.write_text(to_toml(config(sim_url, tmp, make_log(), limited_rpm)))
        urls = []
        for _ in range(count):
            port = free_port()
            cmd = [sys.executable, "-m", "proxy", "--config", str(config_path), "--port", str(port)]
            cmd += ["--workers", str(workers), "--log-level", "warning"]
            procs.append(subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=logs, stderr=subprocess.STDOUT))
            urls.append(f"http://127.0.0.1:{port}")
        wait_ready(f"{sim_url}/health", sim)
        for url, proc in zip(urls, procs[1:], strict=True):
            wait_ready(f"{url}/ready", proc)
        yield [Replica(url, proc.pid) for url, proc in zip(urls, procs[1:], strict=True)]
    finally:
        for proc in reversed(procs):
            stop(proc)  # SIGTERM: each proxy drains its log queue before it exits
        logs.close()


async def send(
    urls: list[str], n: int, key: str, concurrency: int = 32, model: str = "router", fresh: bool = False
) -> list[tuple[int, str | None]]:
    """`n` chat requests for `model`, alternating between the proxies; each answer's (status, error code)."""
    # Idle connections expire before uvicorn's 5 s keep-alive does, so none is reused as the server closes it;
    # `fresh`: a connection per request, so every uvicorn worker accepts some (a burst of kept-alive
    # connections tends to land on one worker).
    keep = 0 if fresh else concurrency
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=keep, keepalive_expiry=2.0)
    gate = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(timeout=60, limits=limits, headers={"authorization": f"Bearer {key}"}) as http:

        async def one(i: int) -> tuple[int, str | None]:
            body = {"model": model, "messages": [{"role": "user", "content": f"Question {i}: what is {i} + 1?"}]}
            async with gate:
                r = await http.post(f"{urls[i % len(urls)]}/v1/chat/completions", json=body)
            return r.status_code, (r.json().get("error") or {}).get("code") if r.status_code != 200 else None

        return list(await asyncio.gather(*(one(i) for i in range(n))))
