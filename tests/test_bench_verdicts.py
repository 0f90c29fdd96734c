"""scripts/bench.py's verdicts: each target is judged from the run's own rows, and can fail."""

from __future__ import annotations

from scripts.bench import Result, verdicts


def _r(target: str, upstream: str, mode: str, c: int, rps: float, p99: float, added: float | None = None) -> Result:
    return Result(target, upstream, mode, False, c, rps, 1.0, p99, 0, None, 100.0, added)


def test_verdicts_compare_side_by_side_rows() -> None:
    rows = [
        _r("switchyard", "plain", "routed", 64, 1900.0, 10.0),
        _r("litellm-proxy", "plain", "routed", 64, 100.0, 10.0),
        _r("direct", "plain50", "-", 64, 1000.0, 60.0),
        _r("switchyard", "plain50", "routed", 64, 900.0, 65.0),
    ]
    rows[0].cpu_ms_per_request = 0.5
    paired = {"switchyard": {"routed": [0.9, 3.0, 1.1, 0.8, 1.2], "named": [0.4, 0.45, 0.9]}}
    lines = verdicts(rows, {"switchyard": [1.2, 3.4], "litellm-proxy": [9.0]}, paired)
    assert "NOT MET routed requests/s at c=64 >= 20x litellm's proxy: 1900 / 100 = 19.0x" in lines
    assert "MET     routed proxy CPU per call at c=64 <= 0.6 ms: 0.50 ms" in lines
    # The c=1 figures are medians of the alternating rounds: one slow round does not decide them.
    assert "NOT MET routed added p50 at c=1 <= 1 ms (median of 5 alternating rounds): 1.10 ms" in lines
    assert "MET     named added p50 at c=1 <= 0.5 ms (median of 3 alternating rounds): 0.45 ms" in lines
    fifty = "MET     routed p99 added with a 50 ms upstream at c=64 <= 10 ms: 5.0 ms"
    assert f"{fifty} (demand: 1000 calls/s direct; capacity: 1900/s)" in lines
    assert "MET     resident memory <= 300 MB (largest seen in this run): 100 MB" in lines
    assert "NOT MET ready <= 3 s after process start (slowest start): 3.40 s" in lines


def test_a_target_the_run_did_not_measure_is_not_judged() -> None:
    assert verdicts([_r("switchyard", "plain", "named", 16, 500.0, 3.0)]) == [
        "MET     resident memory <= 300 MB (largest seen in this run): 100 MB"
    ]
