"""The demo behind `make run`: the simulated LLM backends on :9100, then the proxy on :8000.

No API keys and no internet: the simulator stands in for every provider. When the real data
(../shared/data) is present, the simulator answers its prompts as the real models did.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
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
        time.sleep(0.2)


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()


def main() -> int:
    # SIGTERM (from a supervisor or a test) must stop both servers, not orphan them.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    data_dir = Path(os.environ.get("SWITCHYARD_DATA_DIR", ROOT.parent / "shared" / "data"))
    sim_cmd = [sys.executable, "-m", "proxy.simulator", "--port", str(SIM_PORT), "--api-key", SIM_KEY]
    if data_dir.is_dir():
        sim_cmd += ["--data-dir", str(data_dir)]
    config = os.environ.get("SWITCHYARD_CONFIG", str(ROOT / "config.example.toml"))
    env = {**os.environ, "SWITCHYARD_SIM_KEY": SIM_KEY, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    children: list[subprocess.Popen[bytes]] = []
    try:
        children.append(subprocess.Popen(sim_cmd, cwd=ROOT, env=env))
        wait_healthy(f"http://127.0.0.1:{SIM_PORT}/health")
        print(f"simulated backends on http://127.0.0.1:{SIM_PORT}; starting the proxy with {config}", flush=True)
        children.append(subprocess.Popen([sys.executable, "-m", "proxy", "--config", config], cwd=ROOT, env=env))
        return children[-1].wait()
    except KeyboardInterrupt:
        return 0
    finally:
        for child in reversed(children):
            stop(child)


if __name__ == "__main__":
    sys.exit(main())
