"""Small runs of the routing checks (everyday prompts, speed shift); their full runs are commands of their own."""

from __future__ import annotations

import json
from pathlib import Path

from tests.test_scripts_smoke import run_script


def test_everyday_reports_both_shares() -> None:
    out = run_script("scripts.everyday")
    assert out.returncode == 0, out.stderr
    assert "easy prompts routed cheap" in out.stdout and "hard prompts routed dearer" in out.stdout


def test_speed_shift_smoke(tmp_path: Path) -> None:
    report = tmp_path / "shift.json"
    args = ("--before", "3", "--slow", "4", "--after", "4", "--concurrency", "4", "--sim-speed", "0.02")
    out = run_script("scripts.speed_shift", *args, "--json", str(report))
    assert out.returncode == 0, out.stdout + out.stderr
    got = json.loads(report.read_text())
    assert 0 < got["before"] <= 1 and got["during"] and got["after"]
    assert "share fell by half within" in out.stdout
