"""No Docker engine runs here, so check what can be checked: every path the Dockerfile copies exists, and the
command it runs starts the app."""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.conftest import ROOT
from tests.servers import free_port

DOCKERFILE = (ROOT / "Dockerfile").read_text()


def instructions(name: str) -> list[str]:
    lines = DOCKERFILE.replace("\\\n", " ").splitlines()
    return [line.split(None, 1)[1] for line in lines if line.startswith(name + " ")]


def test_every_copied_path_exists() -> None:
    for args in instructions("COPY"):
        parts = [p for p in shlex.split(args) if not p.startswith("--")]
        if "--from=" in args:
            continue
        for source in parts[:-1]:
            assert (ROOT / source).exists(), f"Dockerfile copies {source}, which does not exist"


def test_image_runs_as_non_root_with_a_health_check_and_a_local_cost_map() -> None:
    assert instructions("USER") == ["switchyard"]
    assert "/health" in instructions("HEALTHCHECK")[0]
    assert "LITELLM_LOCAL_MODEL_COST_MAP=True" in DOCKERFILE


def test_the_command_it_runs_starts_the_app(tmp_path: Path) -> None:
    cmd = json.loads(instructions("CMD")[0])
    assert cmd[:3] == ["python", "-m", "proxy"]
    config = Path(cmd[cmd.index("--config") + 1])
    sources = {Path(shlex.split(a)[-1]): shlex.split(a)[-2] for a in instructions("COPY") if "--from=" not in a}
    assert config in sources, "the config the command reads is not copied into the image"
    local_config = tmp_path / config.name
    shutil.copy(ROOT / sources[config], local_config)
    args = [a if a != str(config) else str(local_config) for a in cmd[1:]]
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, *args, "--host", "127.0.0.1", "--port", str(port)],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.2)
            assert proc.poll() is None, "the image's command exited"
        raise AssertionError("the image's command did not serve /health within 60 s")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
