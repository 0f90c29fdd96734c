"""What the benchmarks run and measure: the proxies under test as processes (Switchyard, and litellm's own
proxy in a venv of its own), their configs over the same ten backends, and a process's CPU time.

Each proxy is started pinned to CPU 1 (`process(cpu=1)`), away from the upstreams and the load generator.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from scripts.harness import ROOT, free_port, stop, to_toml, wait_ready

LITELLM_VERSION = "1.110.2"
CANDIDATES = [f"b{i}" for i in range(10)]


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its children (litellm's proxy may fork a worker)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for p in [pid, *children(pid)]:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks
        except (FileNotFoundError, IndexError):
            pass
    return total


def scheduled_seconds(pid: int) -> tuple[float, float]:
    """Seconds every thread of a process and of its children ran on a CPU, and spent ready to run but waiting
    for one (/proc/PID/task/TID/schedstat, in ns: fine enough for a half-second step, unlike `cpu_seconds`'
    10 ms ticks). The wait is time the core gave to other processes while this one had work."""
    ran = waited = 0.0
    for p in [pid, *children(pid)]:
        for stat in Path(f"/proc/{p}/task").glob("*/schedstat"):
            try:
                fields = stat.read_text().split()
            except FileNotFoundError:  # a thread that has just ended
                continue
            ran += int(fields[0]) / 1e9
            waited += int(fields[1]) / 1e9
    return ran, waited


def children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True)
    kids = [int(x) for x in out.stdout.split()]
    return kids + [g for k in kids for g in children(k)]


@contextmanager
def process(
    cmd: list[str],
    ready_url: str,
    log: Path,
    cpu: int | None = None,
    env: dict[str, str] | None = None,
    timeout_s: float = 180,
) -> Iterator[subprocess.Popen[bytes]]:
    if cpu is not None:
        cmd = ["taskset", "-c", str(cpu), *cmd]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", **(env or {})},
        )
    try:
        wait_ready(ready_url, proc, timeout_s)
        yield proc
    finally:
        stop(proc)


def switchyard_config(upstream_url: str, db: Path, port: int) -> dict[str, Any]:
    backends = [
        {
            "name": n,
            "model": "openai/plain",
            "api_base": f"{upstream_url}/v1",
            "accuracy": 0.7 + i / 100,
            "input_cost_per_token": 1e-7 * (i + 1),
            "output_cost_per_token": 1e-7 * (i + 1),
        }
        for i, n in enumerate(CANDIDATES)
    ]
    return {
        "server": {"port": port, "max_in_flight": 10_000},
        "log": {"path": str(db)},
        "backend": backends,
        "alias": [{"name": "router", "candidates": CANDIDATES}],
    }


def litellm_config(upstream_url: str) -> str:
    deployment = {"model": "openai/plain", "api_base": f"{upstream_url}/v1", "api_key": "none"}
    entries = [{"model_name": n, "litellm_params": deployment} for n in CANDIDATES]
    entries += [{"model_name": "router", "litellm_params": deployment} for _ in CANDIDATES]
    return json.dumps({"model_list": entries})  # JSON is YAML


# litellm[proxy] pins `litellm-proxy` (and proxy-extras) releases that a registry mirror may not carry yet:
# then litellm itself and the proxy server's own imports are installed instead.
_PROXY_DEPS = (
    "fastapi uvicorn gunicorn orjson backoff pyyaml rq apscheduler fastapi-sso pyjwt python-multipart cryptography "
    "pynacl websockets boto3 mcp>=2.3.0,<3 litellm-proxy-extras litellm-enterprise uvloop semver expression soundfile"
).split()


def litellm_venv(base: Path) -> Path:
    venv = base / "litellm-venv"
    exe = venv / "bin" / "litellm"
    if not exe.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        pip = [str(venv / "bin" / "pip"), "install", "-q"]
        if subprocess.run([*pip, f"litellm[proxy]=={LITELLM_VERSION}"]).returncode != 0:
            subprocess.run([*pip, f"litellm=={LITELLM_VERSION}", *_PROXY_DEPS], check=True)
    return exe


@contextmanager
def start_switchyard(
    up_url: str, work: Path, upstream: str, sim: bool, api: str | None = None
) -> Iterator[tuple[str, int, float]]:
    """`api`: the API every backend says it speaks besides chat ("anthropic", "responses"), for pass-through."""
    port = free_port()
    raw = switchyard_config(up_url, work / f"{upstream}-calls.db", port)
    for b in raw["backend"]:
        if sim:
            b["model"] = "openai/mixtral-8x7b"
        if api is not None:
            b["api"] = api
    config = work / f"{upstream}-switchyard.toml"
    config.write_text(to_toml(raw))
    cmd = [sys.executable, "-m", "proxy", "--config", str(config), "--log-level", "warning"]
    started = time.perf_counter()
    with process(cmd, f"http://127.0.0.1:{port}/ready", work / f"{upstream}-switchyard.log", cpu=1) as proc:
        yield f"http://127.0.0.1:{port}", proc.pid, time.perf_counter() - started


@contextmanager
def start_plain_proxy(up_url: str, work: Path) -> Iterator[str]:
    """The no-op forwarder (scripts/plain_proxy.py), on the proxies' core: the floor of one more hop."""
    port = free_port()
    cmd = [sys.executable, "-m", "scripts.plain_proxy", "--port", str(port), "--upstream", up_url]
    with process(cmd, f"http://127.0.0.1:{port}/health", work / "plain-proxy.log", cpu=1):
        yield f"http://127.0.0.1:{port}"


@contextmanager
def start_litellm(up_url: str, work: Path, upstream: str, sim: bool) -> Iterator[tuple[str, int, float]]:
    exe = litellm_venv(ROOT / "var" / "bench")
    port = free_port()
    config = work / f"{upstream}-litellm.yaml"
    text = litellm_config(up_url)
    config.write_text(text.replace("openai/plain", "openai/mixtral-8x7b") if sim else text)
    cmd = [str(exe), "--config", str(config), "--port", str(port), "--num_workers", "1"]
    # No master key, like the Switchyard proxy under test (no client keys): litellm must be told that is meant.
    env = {"LITELLM_DANGEROUSLY_PERMIT_WEAK_OR_UNSET_MASTER_KEY": "true"}
    log = work / f"{upstream}-litellm.log"
    started = time.perf_counter()
    with process(cmd, f"http://127.0.0.1:{port}/health/liveliness", log, cpu=1, env=env) as p:
        yield f"http://127.0.0.1:{port}", p.pid, time.perf_counter() - started
