"""Small runs of the long scripts (chaos, soak), so they keep working; their full runs are not part of make test."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT


def run_script(module: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_chaos_smoke() -> None:
    out = run_script("scripts.chaos", "--requests", "200", "--concurrency", "16", "--target", "0.99")
    report = json.loads(out.stdout)
    assert out.returncode == 0, out.stdout + out.stderr
    assert report["log"]["rows"] == report["requests"] == 200
    assert report["log"]["ids_missing_from_log"] == 0 and report["log"]["ids_logged_more_than_once"] == 0
    assert report["log"]["rows_recording_fallbacks"] > 0  # the dead backend was passed over
    assert "dead" not in report["log"]["answered_by"]
    assert "dead 502" in report["log"]["failed_or_skipped_attempts"]  # its connections were refused
    # Whatever failed before the first byte was fallen back from; only streams can be cut after it.
    assert report["avoidable_failures"] == 0 and report["non_streamed"] == {"calls": 140, "success_rate": 1.0}
    assert report["unavoidable_failures"] == report["streamed"]["cut_after_first_byte"]
    assert len(report["faults"]["kinds"]) == 7


def test_soak_smoke() -> None:
    out = run_script(
        "scripts.soak",
        "--minutes",
        "0.1",
        "--warmup-s",
        "2",
        "--rate",
        "20",
        "--sample-s",
        "1",
        "--max-rss-growth",
        "1.0",
    )
    assert out.returncode == 0, out.stdout + out.stderr
    report = json.loads(out.stdout)
    assert report["requests"] > 50 and set(report["statuses"]) == {"200"}
    assert report["rss_mb_at_end"] > 0 and report["fds_at_end"] > 0


def test_bench_smoke(tmp_path: Path) -> None:
    out = run_script(
        "scripts.bench",
        "--seconds",
        "0.5",
        "--concurrency",
        "1",
        "--upstreams",
        "plain",
        "--c1-runs",
        "2",
        "--json",
        str(tmp_path / "bench.json"),
    )
    assert out.returncode == 0, out.stdout + out.stderr
    report = json.loads((tmp_path / "bench.json").read_text())
    rows = report["rows"]
    seen = {(r["target"], r["mode"], r["stream"]) for r in rows}
    assert seen == {
        ("direct", "-", False),
        ("direct", "-", True),
        ("switchyard", "routed", False),
        ("switchyard", "routed", True),
        ("switchyard", "named", False),
        ("switchyard", "named", True),
    }
    assert all(r["errors"] == 0 and r["rps"] > 0 for r in rows)
    assert all(r["cpu_ms_per_request"] > 0 and r["rss_mb"] > 0 for r in rows if r["target"] == "switchyard")
    # The c=1 figure: one added p50 per alternating round, per mode, judged by their median; beside them the
    # no-op forwarder's (the floor of one more hop).
    assert {mode: len(runs) for mode, runs in report["c1_added_p50_ms"]["switchyard"].items()} == {
        "routed": 2,
        "named": 2,
        "floor": 2,
    }
    assert "switchyard floor added p50 at c=1: median" in out.stdout
    assert "routed added p50 at c=1 <= 1 ms (median of 2 alternating rounds)" in out.stdout
    assert "resident memory" in out.stdout
    (ready_s,) = report["ready_s"]["switchyard"]  # one start: one upstream
    assert 0 < ready_s < 60 and "ready <= 3 s after process start" in out.stdout


def test_bench_capacity_smoke(tmp_path: Path) -> None:
    """Capacity stepped open-loop at tiny rates: each step measured against going direct at the same rate, in
    turns with it and with a no-op forwarder (the floor of one more hop)."""
    report_path = tmp_path / "capacity.json"
    out = run_script(
        "scripts.bench",
        "--capacity",
        "--rates",
        "10,20",
        "--step-seconds",
        "0.5",
        "--min-requests",
        "5",
        "--json",
        str(report_path),
    )
    assert out.returncode == 0, out.stdout + out.stderr
    found = json.loads(report_path.read_text())["capacity"]
    assert set(found) == {"switchyard routed", "switchyard named"}
    for result in found.values():
        assert [s["offered_rps"] for s in result["steps"]][:1] == [10]
        first = result["steps"][0]
        assert first["errors"] == 0 and first["achieved_rps"] > 0 and first["busy_cores"] > 0
        assert first["direct_p50_ms"] >= 50  # the upstream's own 50 ms, which the added latency leaves out
        assert first["requests"] > 0 and first["waited_cores"] >= 0
        assert first["floor_added_p99_ms"] is not None
        assert result["capacity_rps"] in (0, 10, 20)
    assert "routed capacity >= 1200 req/s per core" in out.stdout


def test_time_split_smoke(tmp_path: Path) -> None:
    """The split of a named call's CPU by stage, sampled with py-spy from a proxy under load."""
    report_path = tmp_path / "split.json"
    out = run_script("scripts.time_split", "--seconds", "1", "--modes", "named", "--json", str(report_path))
    if out.returncode != 0 and "py-spy could not sample" in out.stderr:
        pytest.skip(f"py-spy may not attach to processes here: {out.stderr.strip().splitlines()[-1]}")
    assert out.returncode == 0, out.stdout + out.stderr
    (named,) = json.loads(report_path.read_text())["modes"]
    assert named["calls"] > 0 and named["errors"] == 0 and named["samples"] > 0
    stages = named["us_per_call"]
    assert stages["forward"] > 0 and stages["http server"] > 0 and stages["features"] == 0  # named: no decision
    assert abs(sum(stages.values()) - named["cpu_us_per_call"]) < 1e-6 * named["cpu_us_per_call"] + 1e-9


def test_log_load_rows_smoke() -> None:
    out = run_script("scripts.log_load", "rows", "--requests", "80", "--concurrency", "8")
    assert out.returncode == 0, out.stdout + out.stderr
    report = json.loads(out.stdout)
    assert report["rows"] == report["requests"] == 80 and report["exactly_one_row_per_request"]
    assert report["logged_status"] == {"200": 64, "499": 8, "502": 8}  # the cancelled calls are rows too


def test_log_load_throughput_smoke() -> None:
    out = run_script("scripts.log_load", "throughput", "--seconds", "0.5", "--rounds", "1", "--concurrency", "4")
    assert out.returncode == 0, out.stdout + out.stderr
    report = json.loads(out.stdout)
    assert report["median_on"] > 0 and report["median_off"] > 0 and report["on_over_off"] > 0


def test_bench_dialects_smoke(tmp_path: Path) -> None:
    """Every dialect, streamed and not, answered through a real proxy process; the verdict itself needs a
    full run on a quiet machine, so a short run may go either way."""
    report_path = tmp_path / "dialects.json"
    out = run_script("scripts.bench_dialects", "--seconds", "0.3", "--rounds", "1", "--json", str(report_path))
    assert out.returncode in (0, 1), out.stdout + out.stderr
    rows = json.loads(report_path.read_text())["rows"]
    assert {(r["dialect"], r["stream"]) for r in rows} == {
        (d, s) for d in ("chat", "completions", "messages", "responses") for s in (False, True)
    }
    assert all(r["cpu_ms_per_request"] > 0 for r in rows)
    assert "within 0.5 ms of chat's CPU" in out.stdout


def test_bench_dialects_native_smoke(tmp_path: Path) -> None:
    """Messages and Responses passed through to backends that speak them (the plain upstream answers both in
    their own shapes), each beside chat calls to the same proxy."""
    report_path = tmp_path / "native.json"
    out = run_script(
        "scripts.bench_dialects", "--native", "--seconds", "0.3", "--rounds", "1", "--json", str(report_path)
    )
    assert out.returncode in (0, 1), out.stdout + out.stderr
    rows = json.loads(report_path.read_text())["rows"]
    assert {(r["dialect"], r["stream"]) for r in rows} == {
        (d, s)
        for d in (
            "chat [api=anthropic]",
            "messages [api=anthropic]",
            "chat [api=responses]",
            "responses [api=responses]",
        )
        for s in (False, True)
    }
    assert all(r["cpu_ms_per_request"] > 0 for r in rows)


def test_latency_agreement_smoke() -> None:
    # Built-in prompts, simulated latency at a tenth: enough calls to give every backend of the line-up two.
    out = run_script(
        "scripts.latency_agreement", "--requests", "22", "--speed", "0.1", "--seed", "3", "--data-dir", "/nonexistent"
    )
    report = json.loads(out.stdout)
    assert out.returncode in (0, 1), out.stderr  # 1 = a backend outside the band; the report still stands
    assert report["calls"] == 22 and report["prompts"] == "built-in examples" and report["seed"] == 3
    assert len(report["backends"]) == 11 and all(b["calls"] == 2 for b in report["backends"].values())
    for backend in report["backends"].values():
        assert backend["latency_observed_over_predicted_p50"] > 0
        assert backend["cost_observed_over_predicted_p50"] > 0 and backend["live_decode_factor_p50"] > 0
        low, high = backend["latency_p50_interval_90"]
        assert low <= high and backend["cost_p50_interval_90"][0] <= backend["cost_p50_interval_90"][1]
