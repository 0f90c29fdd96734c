"""scripts/bench.py's verdicts: each target is judged from the run's own rows, and can fail."""

from __future__ import annotations

from scripts.bench import Result, verdicts


def _r(target: str, upstream: str, mode: str, c: int, rps: float, p99: float, added: float | None = None) -> Result:
    return Result(target, upstream, mode, False, c, rps, 1.0, p99, 0, None, 100.0, added)


def test_verdicts_compare_side_by_side_rows() -> None:
    rows = [
        _r("switchyard", "plain", "routed", 64, 400.0, 10.0),
        _r("litellm-proxy", "plain", "routed", 64, 100.0, 10.0),
        _r("switchyard", "plain", "routed", 1, 100.0, 5.0, added=2.5),
        _r("direct", "plain50", "-", 64, 1000.0, 60.0),
        _r("switchyard", "plain50", "routed", 64, 900.0, 65.0),
    ]
    lines = verdicts(rows, {"switchyard": [1.2, 3.4], "litellm-proxy": [9.0]})
    assert "NOT MET routed requests/s at c=64 >= 5x litellm's proxy: 400 / 100 = 4.0x" in lines
    assert "NOT MET routed added p50 at c=1 <= 2 ms: 2.50 ms" in lines
    fifty = "MET     routed p99 added with a 50 ms upstream at c=64 <= 10 ms: 5.0 ms"
    assert f"{fifty} (demand: 1000 calls/s direct; capacity: 400/s)" in lines
    assert "MET     resident memory <= 300 MB (largest seen in this run): 100 MB" in lines
    assert "NOT MET ready <= 3 s after process start (slowest start): 3.40 s" in lines


def test_a_target_the_run_did_not_measure_is_not_judged() -> None:
    assert verdicts([_r("switchyard", "plain", "named", 16, 500.0, 3.0)]) == [
        "MET     resident memory <= 300 MB (largest seen in this run): 100 MB"
    ]
