"""Time one whole routing decision: features, both trained models and the choice, 10 candidates, on one core.

Usage: .venv/bin/python -m scripts.bench_decision [--models models/] [--iterations 5000] [--candidates 10]
       [--prompt long|short]

`Router.decide` is what serving calls before forwarding: the prompt's features for ten candidates
(the same ~500-word request as scripts/bench_features.py), the correctness and output-length models
(scripts/bench_scoring.py times those alone), cost and latency, and the selection policy. The shipped
models and the knowledge they were trained with are loaded as the proxy loads them. The first 200
decisions are a warm-up. Reported: wall-clock percentiles, and thread CPU time to tell a slow run
from a busy machine. `--candidates N` routes among N backends instead (the ten models in turn), to see how
the decision's cost grows with the candidate list. `--prompt short` routes scripts/bench.py's one-sentence
request instead (no system prompt), the one the proxy benchmark sends.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from proxy import config as config_mod
from proxy.route.features import load_resources
from proxy.route.features.examples import request_from_prompt
from proxy.route.router import DEFAULT_MODELS_DIR, Router, load_models
from scripts.bench import MESSAGES
from scripts.bench_features import ASK, MODELS, SYSTEM, _pin, _q


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=Path, default=DEFAULT_MODELS_DIR)
    parser.add_argument("--iterations", type=int, default=5000)
    parser.add_argument("--candidates", type=int, default=len(MODELS))
    parser.add_argument("--prompt", choices=("long", "short"), default="long")
    args = parser.parse_args(argv)
    pinned = _pin()
    n = args.candidates
    config = config_mod.parse(
        {
            "backend": [{"name": f"c{i}", "model": MODELS[i % len(MODELS)]} for i in range(n)],
            "alias": [{"name": "router", "candidates": [f"c{i}" for i in range(n)]}],
        }
    )
    scorer, knowledge = load_models(config, args.models, load_resources())
    router = Router(config, scorer, knowledge=knowledge)
    if args.prompt == "long":
        request = request_from_prompt(ASK, system=SYSTEM, model="router")
    else:
        request = request_from_prompt(MESSAGES[0]["content"], model="router")
    for _ in range(200):
        router.decide(request)
    times, cpu = [], []
    for _ in range(args.iterations):
        start, start_cpu = time.perf_counter(), time.thread_time()
        router.decide(request)
        cpu.append(time.thread_time() - start_cpu)
        times.append(time.perf_counter() - start)
    ms = sorted(t * 1000 for t in times)
    cpu_ms = sorted(t * 1000 for t in cpu)
    decision = router.decide(request)
    print(f"command: python -m scripts.bench_decision {' '.join(argv or sys.argv[1:])}".rstrip())
    print(f"pinned to one core: {pinned}; models: {scorer.version}; candidates: {n}")
    print(f"chosen: {decision.order[0].name} ({decision.choice.reason if decision.choice else '-'})")
    print(
        f"iterations: {len(ms)}  p50 {_q(ms, 0.50):.3f} ms  p90 {_q(ms, 0.90):.3f} ms  p99 {_q(ms, 0.99):.3f} ms"
        f"  mean {statistics.fmean(ms):.3f} ms  (wall clock)"
    )
    print(f"thread CPU time:  p50 {_q(cpu_ms, 0.50):.3f} ms  p99 {_q(cpu_ms, 0.99):.3f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
