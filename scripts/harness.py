"""Run the simulated backends and the proxy as real processes, for benchmarks, chaos, fuzz and soak runs.

Everything listens on 127.0.0.1 only. `Stack` writes a TOML config, starts `python -m proxy.simulator`
and `python -m proxy` (optionally pinned to one CPU), waits until both are ready, and stops both on exit.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

ROOT = Path(__file__).resolve().parents[1]
SIM_KEY = "sim-harness-key"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def to_toml(raw: dict[str, Any]) -> str:
    """Enough TOML for proxy configs: top-level scalars, tables, arrays of tables; values are JSON-compatible."""

    def value(v: Any) -> str:
        return str(v).lower() if isinstance(v, bool) else json.dumps(v)

    lines = [f"{k} = {value(v)}" for k, v in raw.items() if not isinstance(v, dict | list)]
    for key, v in raw.items():
        if isinstance(v, dict):
            lines += [f"[{key}]", *(f"{k} = {value(x)}" for k, x in v.items())]
        elif isinstance(v, list):
            for item in v:
                lines += [f"[[{key}]]", *(f"{k} = {value(x)}" for k, x in item.items())]
    return "\n".join(lines) + "\n"


def backend(name: str, model: str, sim_url: str, **fields: Any) -> dict[str, Any]:
    """A [[backend]] entry served by the simulator."""
    return {"name": name, "model": f"openai/{model}", "api_base": f"{sim_url}/v1", "api_key_env": "SIM_KEY", **fields}


def on_simulator(entry: dict[str, Any], sim_url: str, **fields: Any) -> dict[str, Any]:
    """A config's [[backend]] entry moved onto the simulator at `sim_url`: its api_base keeps its own path
    (an OpenAI base ends in /v1, an Anthropic one is the bare host), with the simulator's key."""
    path = urlsplit(entry.get("api_base", "")).path.rstrip("/") if "api_base" in entry else "/v1"
    return {**entry, "api_base": f"{sim_url}{path}", "api_key_env": "SIM_KEY", **fields}


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode} before {url} was ready")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.02)  # fine enough to time a start-up (scripts/bench.py)
    raise TimeoutError(f"{url} not ready after {timeout_s}s")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@dataclass
class Stack:
    proxy_url: str
    sim_url: str
    proxy_pid: int
    config_path: Path
    db_path: Path


@contextmanager
def stack(
    make_config: Any,
    *,
    sim_speed: float = 0.0,
    proxy_cpu: int | None = None,
    workdir: Path | None = None,
    log_level: str = "warning",
    sim_args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
) -> Iterator[Stack]:
    """Start the simulator (with extra `sim_args`), then the proxy with `make_config(sim_url, db_path) -> dict`;
    yield their URLs. `env`: extra environment for both (keys the config names)."""
    tmp = Path(workdir or tempfile.mkdtemp(prefix="switchyard-"))
    env = {**os.environ, **(env or {}), "SIM_KEY": SIM_KEY, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    sim_port, proxy_port = free_port(), free_port()
    sim_url, proxy_url = f"http://127.0.0.1:{sim_port}", f"http://127.0.0.1:{proxy_port}"
    sim_log = open(tmp / "simulator.log", "wb")
    proxy_log = open(tmp / "proxy.log", "wb")
    sim = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "proxy.simulator",
            "--port",
            str(sim_port),
            "--speed",
            str(sim_speed),
            "--api-key",
            SIM_KEY,
            "--log-level",
            "warning",
            *sim_args,
        ],
        cwd=ROOT,
        env=env,
        stdout=sim_log,
        stderr=subprocess.STDOUT,
    )
    procs = [sim]
    try:
        wait_ready(f"{sim_url}/health", sim)
        db_path = tmp / "calls.db"
        raw = make_config(sim_url, db_path)
        raw.setdefault("server", {})["port"] = proxy_port
        config_path = tmp / "config.toml"
        config_path.write_text(to_toml(raw))
        cmd = [sys.executable, "-m", "proxy", "--config", str(config_path), "--log-level", log_level]
        if proxy_cpu is not None:
            cmd = ["taskset", "-c", str(proxy_cpu), *cmd]
        proxy = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=proxy_log, stderr=subprocess.STDOUT)
        procs.append(proxy)
        wait_ready(f"{proxy_url}/ready", proxy)
        yield Stack(proxy_url, sim_url, proxy.pid, config_path, db_path)
    finally:
        for proc in reversed(procs):
            stop(proc)
        sim_log.close()
        proxy_log.close()


def sim_fault(sim_url: str, model: str, fault: dict[str, Any], *, rate: float | None = None, count: int = 1) -> None:
    body: dict[str, Any] = {"model": model, "fault": fault}
    body.update({"rate": rate} if rate is not None else {"count": count})
    httpx.post(f"{sim_url}/_sim/faults", json=body).raise_for_status()


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))
