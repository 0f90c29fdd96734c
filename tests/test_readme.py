"""The README's examples run against the real demo (`make run` = `switchyard demo`), so they cannot drift."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")
# The installed command (`pip install -e .` puts it beside the interpreter), as `make run` starts it.
SWITCHYARD = str(Path(sys.executable).with_name("switchyard"))


def code_blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.DOTALL)


def port_busy(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if port_busy(8000) or port_busy(9100):
        pytest.skip("ports 8000/9100 are in use (is `make run` running?): the README examples need them")
    log_path = tmp_path_factory.mktemp("demo") / "demo.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen([SWITCHYARD, "demo"], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 300  # the simulator first indexes the data's ~360,000 labelled rows
        while True:
            try:
                if httpx.get("http://127.0.0.1:8000/ready", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the demo did not become ready:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.2)
        yield "http://127.0.0.1:8000"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_readme_python_example_runs_against_the_demo(demo: str) -> None:
    (example,) = [block for block in code_blocks("python") if "OpenAI(" in block and OTHER_APIS not in block]
    out = subprocess.run([sys.executable, "-c", example], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    routed_model, p_acceptable, cost = lines[0].split()
    assert routed_model in httpx.get(f"{demo}/v1/models").text
    assert 0 <= float(p_acceptable) <= 1 and float(cost) > 0
    assert "tokens:" in out.stdout


OTHER_APIS = "# Other APIs"


def test_readme_other_apis_example_runs_against_the_demo(demo: str) -> None:
    (example,) = [block for block in code_blocks("python") if block.startswith(OTHER_APIS)]
    out = subprocess.run([sys.executable, "-c", example], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    lines = dict(line.split(":", 1) for line in out.stdout.splitlines())
    assert lines["responses"].split()[0] == "completed" and len(lines["responses"].split()) > 1
    assert lines["completions"].split()[0] in ("stop", "length")
    assert lines["messages"].split()[0] == "end_turn"


def test_readme_curl_example_runs_against_the_demo(demo: str) -> None:
    (example,) = [block for block in code_blocks("bash") if block.startswith("curl")]
    out = subprocess.run(["bash", "-c", example], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "x-router-model:" in out.stdout.lower()
    assert '"content"' in out.stdout


def test_readme_dashboard_url_serves_the_page_and_its_data(demo: str) -> None:
    (url,) = re.findall(r"<(http://127\.0\.0\.1:8000/ui/)>", README)
    page = httpx.get(url)
    assert page.status_code == 200 and "Try a prompt" in page.text
    assert httpx.get(f"{url}api/traffic").json()["object"] == "dashboard.traffic"
