"""No Docker engine runs here, so check what can be checked: every path the Dockerfile copies exists, and the
command it runs starts the app."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import httpx

from proxy import config as config_mod
from proxy.settings import Config
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
    (user,) = instructions("USER")
    assert user.isdigit() and int(user) != 0, "a numeric non-root uid (Kubernetes' runAsNonRoot checks it)"
    assert f"--uid {user} " in " ".join(instructions("RUN")), "the uid is the user the image creates"
    assert "/health" in instructions("HEALTHCHECK")[0]
    assert "LITELLM_LOCAL_MODEL_COST_MAP=True" in DOCKERFILE


def test_multi_stage_slim_and_no_secrets_baked_in() -> None:
    stages = instructions("FROM")
    assert len(stages) >= 2 and "--from=" in DOCKERFILE, "build in one stage, run from a clean one"
    assert all(s.split()[0].endswith("-slim") for s in stages)
    python = re.search(r"python:(\d+)\.(\d+)", stages[-1])
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert python is not None and requires.startswith(">=")
    assert tuple(map(int, python.groups())) >= tuple(map(int, requires[2:].split("."))), "image Python too old"
    env = " ".join(instructions("ENV"))
    assert not re.search(r"(KEY|TOKEN|PASSWORD|SECRET)\w*=", env), "secrets come from the runtime environment"


def test_the_image_serves_the_port_it_exposes_and_checks() -> None:
    config = image_config()
    assert instructions("EXPOSE") == [str(config.server.port)]  # CMD passes no --port
    assert f"127.0.0.1:{config.server.port}/health" in instructions("HEALTHCHECK")[0]


def test_the_image_config_points_at_the_baked_in_models() -> None:
    models_copy = next(shlex.split(a) for a in instructions("COPY") if shlex.split(a)[0] == "models")
    assert image_config().models_dir == Path(models_copy[-1])
    assert (ROOT / "models" / "manifest.json").is_file(), "the shipped models are what the image bakes in"


def test_the_build_context_keeps_what_the_image_copies() -> None:
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    assert "*" in ignore, "the context is an allow-list: no .venv, var/ or .git in it"
    for args in instructions("COPY"):
        if "--from=" in args:
            continue
        for source in [p for p in shlex.split(args) if not p.startswith("--")][:-1]:
            assert f"!{source.rstrip('/')}/" in ignore or f"!{source}" in ignore, f"{source} is not in the context"


def image_config() -> Config:
    """The config the image runs with: the copied file, with the line the Dockerfile's sed puts first."""
    (cmd,) = [json.loads(c) for c in instructions("CMD")]
    target = cmd[cmd.index("--config") + 1]
    (source,) = [shlex.split(a)[-2] for a in instructions("COPY") if shlex.split(a)[-1] == target]
    (inserted,) = re.findall(rf"sed -i '1i (.+)' {re.escape(target)}", " ".join(instructions("RUN")))
    text = inserted + "\n" + (ROOT / source).read_text()
    return config_mod.parse(tomllib.loads(text), base_dir=Path(target).parent)


def test_the_command_it_runs_starts_the_app_and_logs_json_as_deployed(tmp_path: Path) -> None:
    """The image's command, with `log_format = "json"` as deploy/configmap.yaml sets it: every line on stderr,
    uvicorn's included, is a JSON object, and health probes leave no access lines."""
    cmd = json.loads(instructions("CMD")[0])
    assert cmd[:3] == ["python", "-m", "proxy"]
    config = Path(cmd[cmd.index("--config") + 1])
    sources = {Path(shlex.split(a)[-1]): shlex.split(a)[-2] for a in instructions("COPY") if "--from=" not in a}
    assert config in sources, "the config the command reads is not copied into the image"
    local_config = tmp_path / config.name
    text = (ROOT / sources[config]).read_text()
    assert text.count('log_format = "text"') == 1
    local_config.write_text(text.replace('log_format = "text"', 'log_format = "json"'))
    args = [a if a != str(config) else str(local_config) for a in cmd[1:]]
    port = free_port()
    stderr = tmp_path / "stderr.log"
    with open(stderr, "w") as err:
        proc = subprocess.Popen(
            [sys.executable, *args, "--host", "127.0.0.1", "--port", str(port)],
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, "the image's command exited"
            assert time.monotonic() < deadline, "the image's command did not serve /health within 60 s"
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    lines = [json.loads(line) for line in stderr.read_text().splitlines() if line.strip()]
    loggers = {x["logger"] for x in lines}
    assert "uvicorn.error" in loggers and "uvicorn.access" not in loggers, loggers
