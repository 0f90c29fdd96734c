"""Fairness under a slow-body attack: one key holding 600 slow connections must not change another key's
success rate or p99 latency by more than 10%.

Usage: .venv/bin/python -m scripts.fairness [--attackers 600] [--seconds 30] [--concurrency 8] [--sim-speed 1]

A real proxy (default limits: 512 in flight, 64 per key, 30 s body timeout) in front of the simulated
backends. First the victim key alone sends chat calls for `--seconds` at `--concurrency`; then the attacker
key opens `--attackers` connections that each send their headers and trickle the promised body one byte
every 5 s whatever the answer (reconnecting when the server closes one), and the victim runs again.
Before admission came after auth with slots per key, the attacker held every slot and the victim got
503 for the whole run. Prints both runs and the changes; exits non-zero past 10%.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from typing import Any

import httpx

from scripts.harness import backend, stack

VICTIM, ATTACKER = "sk-victim-0123456789abcdef", "sk-attacker-0123456789abcdef"
BODY = {"model": "cheap", "messages": [{"role": "user", "content": "Name a prime number."}], "max_tokens": 8}


def make_config(sim_url: str, db: Any) -> dict[str, Any]:
    return {
        "log": {"path": str(db)},
        "key": [{"id": "victim", "key_env": "VICTIM_KEY"}, {"id": "attacker", "key_env": "ATTACKER_KEY"}],
        "backend": [backend("cheap", "mixtral-8x7b", sim_url, accuracy=0.75, input_cost_per_token=6e-7)],
        "alias": [{"name": "router"}],
    }


async def victim(url: str, seconds: float, concurrency: int) -> dict[str, Any]:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    stop_at = time.monotonic() + seconds

    async def one_client(http: httpx.AsyncClient) -> None:
        while time.monotonic() < stop_at:
            started = time.perf_counter()
            try:
                status = (await http.post("/v1/chat/completions", json=BODY)).status_code
            except httpx.TransportError:
                status = 0
            latencies.append(time.perf_counter() - started)
            statuses[status] = statuses.get(status, 0) + 1

    headers = {"authorization": f"Bearer {VICTIM}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60) as http:
        await asyncio.gather(*(one_client(http) for _ in range(concurrency)))
    latencies.sort()
    return {
        "requests": len(latencies),
        "success_rate": round(statuses.get(200, 0) / len(latencies), 5),
        "statuses": statuses,
        "p50_s": round(statistics.median(latencies), 4),
        "p99_s": round(latencies[int(0.99 * (len(latencies) - 1))], 4),
    }


async def slow_body(host: str, port: int, stop: asyncio.Event, held: list[int]) -> None:
    """One attacker connection: its headers, then the promised body one byte every 5 s, whatever the answer;
    a new connection when the server closes this one (after the body timeout's 408)."""
    head = (
        "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
        f"authorization: Bearer {ATTACKER}\r\ncontent-length: 100000\r\n\r\n"
    ).encode()
    while not stop.is_set():
        try:
            reader, writer = await asyncio.open_connection(host, port)
        except OSError:
            await asyncio.sleep(1)
            continue
        held[0] += 1
        try:
            writer.write(head)
            while not stop.is_set() and not reader.at_eof():
                writer.write(b" ")
                await writer.drain()
                try:
                    async with asyncio.timeout(5):
                        await reader.read(4096)  # an answer (429 at once, or 408) is read and ignored
                except TimeoutError:
                    pass
        except OSError:
            pass
        finally:
            held[0] -= 1
            writer.close()
        await asyncio.sleep(1)


async def attacked(url: str, attackers: int, seconds: float, concurrency: int) -> dict[str, Any]:
    parsed = httpx.URL(url)
    stop, held = asyncio.Event(), [0]
    tasks = [asyncio.create_task(slow_body(parsed.host, parsed.port or 80, stop, held)) for _ in range(attackers)]
    await asyncio.sleep(3)  # every attacker connected and holding what it can
    report = await victim(url, seconds, concurrency)
    report["attacker_connections_open"] = held[0]
    stop.set()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--attackers", type=int, default=600)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--sim-speed", type=float, default=1.0)
    args = parser.parse_args(argv)
    env = {"VICTIM_KEY": VICTIM, "ATTACKER_KEY": ATTACKER}
    with stack(make_config, env=env, sim_speed=args.sim_speed) as s:
        alone = asyncio.run(victim(s.proxy_url, args.seconds, args.concurrency))
        under = asyncio.run(attacked(s.proxy_url, args.attackers, args.seconds, args.concurrency))
    success_change = (alone["success_rate"] - under["success_rate"]) / max(alone["success_rate"], 1e-9)
    p99_change = (under["p99_s"] - alone["p99_s"]) / alone["p99_s"]
    report = {
        "victim_alone": alone,
        "victim_under_attack": under,
        "success_rate_drop": round(success_change, 4),
        "p99_increase": round(p99_change, 4),
    }
    print(json.dumps(report, indent=2))
    return 0 if success_change <= 0.10 and p99_change <= 0.10 else 1


if __name__ == "__main__":
    sys.exit(main())
