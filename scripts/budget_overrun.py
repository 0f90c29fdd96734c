"""Budget overrun under concurrency: 40 calls at once against a small budget, whole and streamed.

Usage: .venv/bin/python -m scripts.budget_overrun [--calls 40] [--budget 0.0001] [--max-tokens 40]

Two keys with the same budget, one sending whole calls and one streamed calls, all at once. Without holds
at admission every call was let in before any had spent (once 9.3x the budget whole, 394x streamed); with
them a call is admitted while spend plus the worst cases held for calls in flight stays under the budget.
Prints what each key spent (from the log) against its budget and against one call's worst case.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from scripts.harness import backend, stack

KEYS = {"whole": "sk-budget-whole-0123456789", "streamed": "sk-budget-stream-0123456789"}
PRICE = 6e-7  # USD per token, input and output


def make_config(budget: float) -> Any:
    def config(sim_url: str, db: Path) -> dict[str, Any]:
        return {
            "log": {"path": str(db)},
            "key": [{"id": kind, "key_env": f"KEY_{kind.upper()}", "budget_usd": budget} for kind in KEYS],
            "backend": [
                backend("cheap", "mixtral-8x7b", sim_url, input_cost_per_token=PRICE, output_cost_per_token=PRICE)
            ],
            "alias": [{"name": "router"}],
        }

    return config


async def burst(url: str, key: str, calls: int, stream: bool, max_tokens: int) -> list[int]:
    body = {
        "model": "cheap",
        "messages": [{"role": "user", "content": "Tell me a story."}],
        "max_tokens": max_tokens,
        "stream": stream,
    }
    async with httpx.AsyncClient(base_url=url, headers={"authorization": f"Bearer {key}"}, timeout=60) as http:

        async def one() -> int:
            async with http.stream("POST", "/v1/chat/completions", json=body) as response:
                await response.aread()
                return response.status_code

        return list(await asyncio.gather(*(one() for _ in range(calls))))


def spent(db: Path, key_id: str) -> float:
    with sqlite3.connect(db) as conn:
        return float(
            conn.execute("SELECT COALESCE(SUM(cost_usd), 0) FROM calls WHERE api_key_id = ?", (key_id,)).fetchone()[0]
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=40)
    parser.add_argument("--budget", type=float, default=1e-4)
    parser.add_argument("--max-tokens", type=int, default=40)
    args = parser.parse_args(argv)
    env = {f"KEY_{kind.upper()}": key for kind, key in KEYS.items()}
    # The worst case the proxy holds (limits/budget.py): the prompt (a token per 3 characters, +8 per message)
    # and max_tokens.
    worst = (6 + 8 + args.max_tokens) * PRICE
    report: dict[str, Any] = {"budget_usd": args.budget, "one_call_worst_case_usd": worst}
    with stack(make_config(args.budget), env=env) as s:
        for kind, key in KEYS.items():
            statuses = asyncio.run(burst(s.proxy_url, key, args.calls, kind == "streamed", args.max_tokens))
            time.sleep(1.0)  # the log writer lingers before each batch
            used = spent(s.db_path, kind)
            report[kind] = {
                "served": statuses.count(200),
                "refused_429": statuses.count(429),
                "spent_usd": used,
                "spent_over_budget": round(used / args.budget, 3),
                "overrun_in_worst_cases": round(max(0.0, used - args.budget) / worst, 3),
            }
    print(json.dumps(report, indent=2))
    ok = all(report[k]["spent_usd"] <= args.budget + worst for k in KEYS)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
