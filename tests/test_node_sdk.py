"""The official `openai` npm package, from Node, against the proxy: the drop-in promise for JavaScript clients."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.conftest import ROOT

NODE_DIR = ROOT / "tests" / "node"


@pytest.mark.parametrize(
    ("script", "package", "says"),
    [
        ("sdk_check.mjs", "openai", "ok"),  # the official openai npm package: chat, streams, tools, Responses
        ("ai_sdk_check.mjs", "ai", "ai sdk ok"),  # the Vercel AI SDK's default openai(...) provider (Responses)
    ],
)
def test_node_sdk_talks_to_the_proxy(proxy_url: str, script: str, package: str, says: str) -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the JavaScript SDK check needs Node.js")
    if not (NODE_DIR / "node_modules" / package).is_dir():
        pytest.skip("tests/node/node_modules is missing: run `npm ci --prefix tests/node` (make test does)")
    out = subprocess.run([node, script, f"{proxy_url}/v1"], cwd=NODE_DIR, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == says
