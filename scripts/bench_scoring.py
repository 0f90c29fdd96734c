"""Time `OnnxScorer.score` (both models, 10 candidates, one onnxruntime call each) on one core.

Usage: .venv/bin/python -m scripts.bench_scoring [--models models/] [--iterations 20000]

Features are computed once (scripts/bench_features.py times that stage) for the same ~500-word prompt
and ten catalog models; the process is pinned to one CPU where the OS allows it; the first 500 calls are
a warm-up. Reported: wall-clock percentiles of the whole `score()` (two session runs, calibration,
latency arithmetic, the Scores object) and of the two onnxruntime runs alone, plus thread CPU time.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from proxy.route.catalog import load_catalog
from proxy.route.features import History, compute_features, load_resources
from proxy.route.features.examples import request_from_prompt
from proxy.route.scoring import OnnxScorer
from proxy.settings import Backend
from scripts.bench_features import ASK, MODELS, SYSTEM, _pin, _q

ROOT = Path(__file__).resolve().parents[1]


def timed(fn: Callable[[], object], iterations: int) -> tuple[list[float], list[float]]:
    for _ in range(500):
        fn()
    wall, cpu = [], []
    for _ in range(iterations):
        start, start_cpu = time.perf_counter(), time.thread_time()
        fn()
        cpu.append((time.thread_time() - start_cpu) * 1000)
        wall.append((time.perf_counter() - start) * 1000)
    return sorted(wall), sorted(cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default=str(ROOT / "models"))
    parser.add_argument("--iterations", type=int, default=20000)
    args = parser.parse_args()
    pinned = _pin()
    catalog = load_catalog()
    profiles = [catalog.profile(Backend(name=m, model=m)) for m in MODELS]
    resources = load_resources()
    features = compute_features(
        request_from_prompt(ASK, system=SYSTEM), profiles, History.from_catalog(catalog), resources=resources
    )
    scorer = OnnxScorer.load(Path(args.models), resources.names)
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    print(f"pinned to one core: {pinned}; python {sys.version.split()[0]}; models {scorer.version}")
    print(f"candidates: {len(profiles)}; features per candidate: {len(features.names)}")
    for label, fn in (
        ("score()", lambda: scorer.score(features, profiles, None)),
        ("onnxruntime runs only", lambda: scorer.predict_raw(features.rows)),
    ):
        wall, cpu = timed(fn, args.iterations)
        print(
            f"{label:22s} p50 {_q(wall, 0.50):.4f} ms  p90 {_q(wall, 0.90):.4f} ms  p99 {_q(wall, 0.99):.4f} ms"
            f"  mean {statistics.fmean(wall):.4f} ms  (wall clock, {len(wall)} calls)"
            f"; thread CPU p50 {_q(cpu, 0.50):.4f} ms"
        )


if __name__ == "__main__":
    main()
