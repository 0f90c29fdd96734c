"""`switchyard demo` (what `make run` starts): the simulated LLM backends on :9100, then the proxy on :8000.

No API keys and no internet: the simulator stands in for every provider. When the real data
(`../shared/data` by default) is present, the simulator answers its prompts as the real models did.
Both servers are child processes; stopping the demo (Ctrl-C or SIGTERM) stops both.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

log = logging.getLogger(__name__)
SIM_PORT = 9100
SIM_KEY = "sim-demo-key"  # not a secret: it only guards the local simulator


def wait_healthy(url: str, timeout_s: float = 240.0) -> None:
    # With the data present the simulator indexes every labelled row before it answers (tens of seconds).
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"{url} did not become healthy in {timeout_s}s")
        time.sleep(0.2)  # polling another process's port: there is no event to wait on


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()


def run_demo(config: Path, data_dir: Path) -> int:
    """Start the simulator, wait for it, then serve `config` until the proxy exits; its exit status."""
    # SIGTERM (from a supervisor or a test) must stop both servers, not orphan them.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    sim_cmd = [sys.executable, "-m", "proxy.simulator", "--port", str(SIM_PORT), "--api-key", SIM_KEY]
    if data_dir.is_dir():
        sim_cmd += ["--data-dir", str(data_dir)]
    env = {**os.environ, "SWITCHYARD_SIM_KEY": SIM_KEY, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    children: list[subprocess.Popen[bytes]] = []
    try:
        children.append(subprocess.Popen(sim_cmd, env=env))
        wait_healthy(f"http://127.0.0.1:{SIM_PORT}/health")
        log.info("simulated backends on http://127.0.0.1:%d; starting the proxy with %s", SIM_PORT, config)
        children.append(subprocess.Popen([sys.executable, "-m", "proxy", "--config", str(config)], env=env))
        return children[-1].wait()
    except KeyboardInterrupt:
        return 0
    finally:
        for child in reversed(children):
            stop(child)
