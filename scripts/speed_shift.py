"""Does routed traffic leave a backend that slows down, and come back when it recovers?

Usage:
  .venv/bin/python -m scripts.speed_shift [--config config.example.toml] [--latency-weight 1.0]
      [--before 40] [--slow 90] [--after 150] [--slowdown 5] [--concurrency 8] [--sim-speed 0.1] [--json OUT]

Starts the simulated backends and the proxy (scripts/harness.py) with the config's backends and routing
alias, pointed at the simulator, with the alias's latency weight set to `--latency-weight` (the acceptance
asks for any weight > 0). Routed calls of mixed everyday and benchmark-like prompts run at a fixed
concurrency for `--before` seconds; then the backend that took most of them is slowed down `--slowdown`
times in the simulator for `--slow` seconds; then the slowdown is lifted for `--after` seconds. It prints
that backend's share of routed calls per 10-second window and judges the targets of issue #18: within 60 s
of the slowdown its share falls by at least half, and within 120 s after it ends it is back to at least half
of its share before. Bounded in time; loopback only.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
import tomllib
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from scripts import harness
from scripts.everyday import load_prompts

ROOT = Path(__file__).resolve().parents[1]
WINDOW_S = 10.0


def make_config(source: Path, latency_weight: float) -> Any:
    raw = tomllib.loads(source.read_text(encoding="utf-8"))

    def build(sim_url: str, db_path: Path) -> dict[str, Any]:
        backends = [harness.on_simulator(b, sim_url) for b in raw["backend"]]
        aliases = raw.get("alias") or [{"name": "router", "candidates": [b["name"] for b in backends]}]
        router = {**aliases[0], "latency_weight": latency_weight, "exploration_rate": 0.0}
        return {"log": {"path": str(db_path)}, "backend": backends, "alias": [router]}

    return build


def drive(url: str, prompts: list[str], seconds: float, concurrency: int, alias: str) -> list[tuple[float, str]]:
    """Routed calls for `seconds`: (finish time, backend) of each that succeeded."""
    done: list[tuple[float, str]] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def worker(i: int) -> None:
        with httpx.Client(timeout=120) as client:
            n = i
            while time.monotonic() < stop_at:
                prompt = prompts[n % len(prompts)]
                n += concurrency
                body = {"model": alias, "stream": n % 2 == 0, "messages": [{"role": "user", "content": prompt}]}
                response = client.post(f"{url}/v1/chat/completions", json=body)
                if response.status_code == 200:
                    with lock:
                        done.append((time.monotonic(), response.headers["x-router-model"]))

    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(worker, range(concurrency)))
    return done


def shares(calls: list[tuple[float, str]], backend: str, start: float, end: float) -> list[float | None]:
    out: list[float | None] = []
    t = start
    while t < end:
        window = [b for at, b in calls if t <= at < t + WINDOW_S]
        out.append(sum(b == backend for b in window) / len(window) if window else None)
        t += WINDOW_S
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path, default=ROOT / "config.example.toml")
    parser.add_argument("--latency-weight", type=float, default=1.0)
    parser.add_argument("--before", type=float, default=40.0)
    parser.add_argument("--slow", type=float, default=90.0)
    parser.add_argument("--after", type=float, default=150.0)
    parser.add_argument("--slowdown", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--sim-speed", type=float, default=0.1, help="simulated latency scale (1 = measured)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    everyday = load_prompts()
    prompts = [p for pair in zip(everyday["easy"], everyday["hard"], strict=False) for p in pair]
    with harness.stack(make_config(args.config, args.latency_weight), sim_speed=args.sim_speed) as stack:
        alias = "router"
        calls = drive(stack.proxy_url, prompts, args.before, args.concurrency, alias)
        counts = Counter(b for _, b in calls)
        slowed, _ = counts.most_common(1)[0]
        model = next(b["model"] for b in tomllib.loads(stack.config_path.read_text())["backend"] if b["name"] == slowed)
        t_slow = time.monotonic()
        harness.sim_fault(stack.sim_url, model.removeprefix("openai/"), {"slowdown": args.slowdown}, rate=1.0)
        calls += drive(stack.proxy_url, prompts, args.slow, args.concurrency, alias)
        httpx.delete(f"{stack.sim_url}/_sim/faults").raise_for_status()
        t_back = time.monotonic()
        calls += drive(stack.proxy_url, prompts, args.after, args.concurrency, alias)
        t_end = time.monotonic()
    before = sum(b == slowed for at, b in calls if at < t_slow) / max(1, sum(1 for at, _ in calls if at < t_slow))
    during = shares(calls, slowed, t_slow, t_back)
    after = shares(calls, slowed, t_back, t_end)
    print(f"slowed backend: {slowed} ({args.slowdown:g}x), share before: {before:.0%} of {len(calls)} calls in all")
    print("share per 10 s while slow: " + " ".join("-" if s is None else f"{s:.0%}" for s in during))
    print("share per 10 s after:      " + " ".join("-" if s is None else f"{s:.0%}" for s in after))
    fell = next((i for i, s in enumerate(during) if s is not None and s <= before / 2), None)
    back = next((i for i, s in enumerate(after) if s is not None and s >= before / 2), None)
    fell_s = None if fell is None else (fell + 1) * WINDOW_S
    back_s = None if back is None else (back + 1) * WINDOW_S
    fell_ok, back_ok = fell_s is not None and fell_s <= 60, back_s is not None and back_s <= 120
    print(f"share fell by half within {fell_s} s (target <= 60 s): {'met' if fell_ok else 'NOT met'}")
    print(f"back to half its share within {back_s} s (target <= 120 s): {'met' if back_ok else 'NOT met'}")
    if args.json:
        args.json.write_text(json.dumps({"backend": slowed, "before": before, "during": during, "after": after}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
