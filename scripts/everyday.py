"""Where everyday prompts go: the easy ones should go cheap, the hard ones to a dearer candidate.

Usage:
  .venv/bin/python -m scripts.everyday [--config config.example.toml] [--prompts FILE] [--verbose]

Sends each prompt of `tests/fixtures/everyday_prompts.json` (marked easy or hard) through `/v1/route` of an
in-process app (no LLM is called) and compares the chosen candidate's predicted cost with the dearest kept
candidate's. An easy prompt counts as routed well when the chosen one costs under a quarter of the dearest;
a hard one when it costs more than that. Prints both shares and, with --verbose, every decision.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from proxy import config as config_mod
from proxy.http.app import create_app
from proxy.settings import Config

ROOT = Path(__file__).resolve().parents[1]
PROMPTS = ROOT / "tests" / "fixtures" / "everyday_prompts.json"
CHEAP_SHARE = 0.25  # "cheap": predicted cost under this share of the dearest kept candidate's


@dataclass(frozen=True)
class Routed:
    prompt: str
    kind: str  # "easy" or "hard"
    model: str
    reason: str
    cost_share: float  # chosen candidate's predicted cost / the dearest kept candidate's

    @property
    def as_expected(self) -> bool:
        cheap = self.cost_share < CHEAP_SHARE
        return cheap if self.kind == "easy" else not cheap


async def route_all(config: Config, prompts: Mapping[str, Sequence[str]]) -> list[Routed]:
    app = create_app(config, environ={})
    out: list[Routed] = []
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://switchyard") as client:
            for kind in ("easy", "hard"):
                for prompt in prompts[kind]:
                    body = {"model": "router", "messages": [{"role": "user", "content": prompt}]}
                    response = await client.post("/v1/route", json=body)
                    response.raise_for_status()
                    out.append(_routed(prompt, kind, response.json()))
    return out


def _routed(prompt: str, kind: str, decision: dict[str, Any]) -> Routed:
    kept = [c for c in decision["candidates"] if not c.get("dropped")]
    chosen = kept[0]
    dearest = max(c["cost_usd"] for c in kept) or 1.0
    return Routed(prompt, kind, chosen["name"], decision["reason"], chosen["cost_usd"] / dearest)


def shares(routed: Sequence[Routed]) -> dict[str, float]:
    out = {}
    for kind in ("easy", "hard"):
        mine = [r for r in routed if r.kind == kind]
        out[kind] = sum(r.as_expected for r in mine) / len(mine)
    return out


def load_prompts(path: Path = PROMPTS) -> dict[str, list[str]]:
    data = json.loads(path.read_text(encoding="utf-8"))
    return {"easy": list(data["easy"]), "hard": list(data["hard"])}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path, default=ROOT / "config.example.toml")
    parser.add_argument("--prompts", type=Path, default=PROMPTS)
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    config = config_mod.load(args.config)
    routed = asyncio.run(route_all(config, load_prompts(args.prompts)))
    if args.verbose:
        for r in routed:
            mark = "ok " if r.as_expected else "BAD"
            print(f"{mark} {r.kind:4} {r.cost_share:6.3f} {r.model:28} {r.reason:22} {r.prompt[:70]!r}")
    got = shares(routed)
    print(f"easy prompts routed cheap (< {CHEAP_SHARE:.0%} of the dearest's cost): {got['easy']:.0%} (target >= 85%)")
    print(f"hard prompts routed dearer (>= {CHEAP_SHARE:.0%} of the dearest's cost): {got['hard']:.0%} (target >= 70%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
