"""Does the router predict the latency and cost the simulated demo backends deliver?

    .venv/bin/python -m scripts.latency_agreement [--requests 300] [--concurrency 32] [--config config.example.toml]
        [--seed 0]

Starts the simulator at measured speed (`--speed 1`) and the proxy with the demo line-up's backends
(scripts/harness.py, free ports), then sends routed calls of mixed prompts: prompts of the data's labelled
sets when ../shared/data is present (the simulator then answers them at their real length), else built-in
examples. Call i names the routing alias with `candidates` = the i-th backend in turn (and no acceptability
floor), so every backend is measured whatever the router would prefer; the prediction is still the router's.
Per backend it reports the median over calls of observed / predicted total latency (the proxy's logged
wall time against `x-router-predicted-latency-s`) and of observed / predicted cost (the logged cost from
usage x prices against `x-router-predicted-cost-usd`), each with a 90% bootstrap interval over its calls, and
whether both medians lie in [--low, --high]. Both sides read the measured tables one way
(`proxy.route.measured`): the simulator draws TTFT and rate from the p10/p50/p90 the router predicts the
median with, and answers at lengths the data measured (its own answer, else other models' answers to the
prompt times its verbosity), counted at the characters per token the length model was trained on. Two more
columns say where a gap comes from: observed / predicted output tokens (the length model against the
answers' real lengths), and observed latency over the latency table's own prediction for the tokens the
answer really had (TTFT + tokens / tokens-per-second with the router's numbers: ~1 when the simulator and
the router read the same measurements), and the factor live speed put on the predicted decode time (prior
tokens/s over live tokens/s; 1 without evidence): at 32 calls in flight, the calls that finish first are the
fast ones. Prints one JSON report; exits 1 when a backend is outside the band.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import random
import sqlite3
import statistics
import sys
import tempfile
import tomllib
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from proxy import config
from proxy.route.scoring import prior_speed
from proxy.training.dataset import find_long_files, iter_rows
from scripts.harness import ROOT, on_simulator, stack

# Used when the data is absent: one of each kind the router tells apart (and the simulator lengthens).
EXAMPLES = (
    "What is the capital of France?",
    "Write a Python function that returns the n-th Fibonacci number, with a docstring and a test.",
    "A shop sells pens at 3 dollars each. Tom buys 7 pens and pays with a 50 dollar note. How much change?",
    "Summarise the plot of Hamlet in two sentences.",
    "Which of these is a mammal?\nA. Shark\nB. Dolphin\nC. Trout\nD. Octopus\nAnswer with the letter.",
    "Translate into French: the weather is lovely today and we are going to the beach.",
    "Write a limerick about trains.",
    "Explain the difference between TCP and UDP to a new engineer, with an example of when to use each.",
)
# Files whose prompts are real user-facing tasks with labels (LLMFAO's 19 prompts add nothing here).
DATA_FILES = ("zeroeval", "mmlu_pro", "llmrouter", "routerbench", "routellm")


@dataclass(frozen=True)
class Sent:
    request_id: str
    backend: str
    predicted_latency_s: float
    predicted_cost_usd: float


def data_prompts(data_dir: Path, n: int) -> list[str]:
    """n prompts spread evenly over the labelled sets, chosen by a hash of their text (deterministic)."""
    files = [p for p in find_long_files(data_dir) if p.parent.name in DATA_FILES]
    per_file = max(1, -(-n // max(1, len(files))))
    picked: list[str] = []
    for path in files:
        unique = {row.prompt for row in iter_rows(path)}
        ranked = sorted(unique, key=lambda p: hashlib.sha256(p.encode("utf-8")).hexdigest())
        picked += ranked[:per_file]
    # Interleave the sets so every backend sees each of them.
    return sorted(picked, key=lambda p: hashlib.sha256(b"order" + p.encode("utf-8")).hexdigest())[:n]


def make_config(lineup: dict[str, Any]) -> Any:
    def build(sim_url: str, db: Path) -> dict[str, Any]:
        backends = [on_simulator(b, sim_url, timeout_s=300.0) for b in lineup["backend"]]
        return {
            "log": {"path": str(db), "bodies": "none"},
            "reliability": {"retry_attempts": 1, "breaker_failures": 1_000_000},
            "backend": backends,
            "alias": [{"name": "router"}],
        }

    return build


async def send_all(proxy_url: str, prompts: list[str], backends: list[str], concurrency: int) -> list[Sent]:
    gate = asyncio.Semaphore(concurrency)
    sent: list[Sent] = []

    async def one(client: httpx.AsyncClient, i: int, prompt: str) -> None:
        backend = backends[i % len(backends)]
        body = {
            "model": "router",
            "messages": [{"role": "user", "content": prompt}],
            "router": {"candidates": [backend], "min_acceptability": 0.0},
        }
        async with gate:
            response = await client.post(f"{proxy_url}/v1/chat/completions", json=body)
        response.raise_for_status()
        h = response.headers
        assert h["x-router-model"] == backend, (h["x-router-model"], backend)
        sent.append(
            Sent(
                h["x-router-request-id"],
                backend,
                float(h["x-router-predicted-latency-s"]),
                float(h["x-router-predicted-cost-usd"]),
            )
        )

    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(timeout=600, limits=limits) as client:
        await asyncio.gather(*(one(client, i, p) for i, p in enumerate(prompts)))
    return sent


@dataclass(frozen=True)
class Seen:
    latency_s: float
    cost_usd: float | None
    output_tokens: int | None
    predicted_output_tokens: float
    table_latency_s: float  # the router's TTFT + the answer's real tokens / the router's tokens-per-second
    live_factor: float  # prior / live tokens per second of the chosen backend when decided (1: no live evidence)


def observed(db: Path, prior_tokens_per_s: dict[str, float]) -> dict[str, Seen]:
    """Request id -> what the log says of every successful call, and what its decision predicted (live speed
    against the backends' prior tokens per second)."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        query = "SELECT id, latency_s, cost_usd, output_tokens, decision_json FROM calls WHERE status = 200"
        rows = conn.execute(query).fetchall()
    finally:
        conn.close()
    seen = {}
    for call_id, latency, cost, out, decision_json in rows:
        decision = json.loads(decision_json)
        chosen = decision["candidates"][0]
        live = (decision.get("live_speed") or {}).get(chosen["name"])
        factor = prior_tokens_per_s[chosen["name"]] / live["tokens_per_s"] if live else 1.0
        decode_s = chosen["latency_s"] - chosen["ttft_s"]
        per_token = decode_s / chosen["output_tokens"] if chosen["output_tokens"] > 0 else 0.0
        table = chosen["ttft_s"] + (out or 0) * per_token
        seen[str(call_id)] = Seen(
            float(latency), None if cost is None else float(cost), out, chosen["output_tokens"], table, factor
        )
    return seen


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 3) if values else None


def _interval(values: list[float], resamples: int = 1000) -> list[float] | None:
    """A 90% bootstrap interval of the median (seeded): with ~27 calls a backend and a wide measured spread, a
    median a little outside the band may be the draws' luck rather than a biased prediction."""
    if len(values) < 2:
        return None
    rand = random.Random(0)
    medians = sorted(statistics.median(rand.choices(values, k=len(values))) for _ in range(resamples))
    return [round(medians[int(0.05 * resamples)], 3), round(medians[int(0.95 * resamples) - 1], 3)]


def report(sent: list[Sent], seen: dict[str, Seen], low: float, high: float) -> dict[str, Any]:
    ratios: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for s in sent:
        call, r = seen[s.request_id], ratios[s.backend]
        r["latency"].append(call.latency_s / s.predicted_latency_s)
        if call.cost_usd is not None and s.predicted_cost_usd > 0:
            r["cost"].append(call.cost_usd / s.predicted_cost_usd)
        if call.output_tokens is not None:
            r["tokens"].append(call.output_tokens / call.predicted_output_tokens)
        r["table"].append(call.latency_s / call.table_latency_s)
        r["live"].append(call.live_factor)
    per_backend: dict[str, dict[str, Any]] = {}
    for name in sorted(ratios):
        lat, cost = _median(ratios[name]["latency"]), _median(ratios[name]["cost"])
        per_backend[name] = {
            "calls": len(ratios[name]["latency"]),
            "latency_observed_over_predicted_p50": lat,
            "cost_observed_over_predicted_p50": cost,
            "latency_p50_interval_90": _interval(ratios[name]["latency"]),
            "cost_p50_interval_90": _interval(ratios[name]["cost"]),
            "within_band": lat is not None and cost is not None and low <= lat <= high and low <= cost <= high,
            "output_tokens_observed_over_predicted_p50": _median(ratios[name]["tokens"]),
            "latency_observed_over_table_at_real_tokens_p50": _median(ratios[name]["table"]),
            "live_decode_factor_p50": _median(ratios[name]["live"]),
        }
    return {
        "band": [low, high],
        "calls": len(sent),
        "all_within_band": all(b["within_band"] for b in per_backend.values()),
        "backends": per_backend,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--config", type=Path, default=ROOT / "config.example.toml", help="the line-up to check")
    parser.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--speed", type=float, default=1.0, help="simulated latency scale (1 = measured)")
    parser.add_argument("--seed", type=int, default=0, help="the simulator's seed: other draws, same tables")
    parser.add_argument("--low", type=float, default=0.75)
    parser.add_argument("--high", type=float, default=1.33)
    args = parser.parse_args(argv)
    lineup = tomllib.loads(args.config.read_text(encoding="utf-8"))
    backends = [b["name"] for b in lineup["backend"]]
    with_data = args.data_dir.is_dir()
    prompts = data_prompts(args.data_dir, args.requests) if with_data else []
    prompts = (prompts or list(EXAMPLES)) * (args.requests // max(1, len(prompts) or len(EXAMPLES)) + 1)
    prompts = prompts[: args.requests]
    sim_args = ["--seed", str(args.seed), *(["--data-dir", str(args.data_dir)] if with_data else [])]
    with tempfile.TemporaryDirectory(prefix="switchyard-agreement-") as tmp:
        with stack(make_config(lineup), sim_speed=args.speed, sim_args=sim_args, workdir=Path(tmp)) as s:
            sent = asyncio.run(send_all(s.proxy_url, prompts, backends, args.concurrency))
        # The proxy has stopped: its log writer drained the queue on the way out.
        priors = {b.name: prior_speed(b.profile)[1] for b in config.parse(lineup).backends}
        result = report(sent, observed(s.db_path, priors), args.low, args.high)
    result["prompts"] = "data" if with_data else "built-in examples"
    result["config"] = str(args.config)
    result["seed"] = args.seed
    json.dump(result, sys.stdout, indent=1)
    sys.stdout.write("\n")
    return 0 if result["all_within_band"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
