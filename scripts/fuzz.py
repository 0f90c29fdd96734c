"""Fuzz every endpoint with mutated requests: no 5xx caused by the proxy, no dropped keep-alive connection, no hangs.

Usage: .venv/bin/python -m scripts.fuzz [--requests 20000] [--seed 0] [--concurrency 16] [--time-limit 600]

A real proxy (keys on) in front of the simulated backends, on loopback. Each request is a valid seed for
its endpoint (chat, route, embeddings, feedback naming real calls, models, the rest) with one to three
hostile changes (`fuzz_mutate.py`: nesting past every parser's limit, integers of thousands of digits,
1e400, lone surrogates, duplicate keys, wrong types, long strings and lists, control characters, missing
fields), or a broken whole (empty, truncated, not UTF-8, past the size limit, 5,000 messages); 2% are
malformed HTTP on connections of their own. Requests go over kept-alive connections through a raw HTTP/1.1
client (`fuzz_wire.py`) that counts every connection the server dropped without `connection: close`.
A 5xx counts against the proxy when it is a 500, or a 502 that is not an upstream's answer or an
unreachable upstream; 503/504 are the configured overload and timeout answers. The report gives both
counts; the exit status is 0 when both are 0.

`chat_bodies` and `raw_bodies` (hypothesis strategies of chat bodies) drive the property test in
tests/test_fuzz.py.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from hypothesis import strategies as st

from proxy.request import OPENAI_PARAMS, ROLES
from scripts.fuzz_mutate import MALFORMED_HTTP, Mutator
from scripts.fuzz_wire import Connection, Dropped, http_request
from scripts.harness import backend, stack

DEADLINE_S = 10.0  # the proxy's reliability.deadline_s in the fuzz config
HANG_S = DEADLINE_S + 5.0

scalars = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=30)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
part = st.fixed_dictionaries(
    {"type": st.sampled_from(["text", "image_url", "input_audio", "file", "refusal", "video"]) | json_values},
    optional={
        "text": st.text(max_size=80) | json_values,
        "image_url": st.fixed_dictionaries({"url": st.text(max_size=40)}) | json_values,
    },
)
content = st.text(max_size=300) | st.lists(part, max_size=3) | json_values
message = st.fixed_dictionaries(
    {"role": st.sampled_from(sorted(ROLES) + ["wizard", ""]) | json_values},
    optional={"content": content, "tool_calls": json_values, "tool_call_id": st.text(max_size=8) | json_values},
)
tool = st.fixed_dictionaries(
    {
        "type": st.just("function") | json_values,
        "function": st.fixed_dictionaries(
            {"name": st.text(min_size=1, max_size=10)},
            optional={"parameters": json_values, "description": st.text(max_size=20)},
        )
        | json_values,
    },
)
valid_params: dict[str, st.SearchStrategy[Any]] = {
    "temperature": st.floats(0, 2),
    "top_p": st.floats(0, 1),
    "max_tokens": st.integers(1, 40),
    "n": st.integers(1, 2),
    "stop": st.text(min_size=1, max_size=3) | st.lists(st.text(min_size=1, max_size=3), max_size=4),
    "seed": st.integers(-(2**31), 2**31),
    "tools": st.lists(
        st.fixed_dictionaries(
            {
                "type": st.just("function"),
                "function": st.fixed_dictionaries(
                    {"name": st.from_regex(r"[a-z_]{1,12}", fullmatch=True)},
                    optional={
                        "parameters": st.just(
                            {"type": "object", "properties": {"q": {"type": "string"}, "n": {"type": "integer"}}}
                        )
                    },
                ),
            }
        ),
        min_size=1,
        max_size=2,
        unique_by=lambda t: t["function"]["name"],
    ),
    "response_format": st.sampled_from([{"type": "json_object"}, {"type": "text"}]),
    "logprobs": st.booleans(),
    "user": st.text(max_size=10),
    "presence_penalty": st.floats(-2, 2),
}
valid_message = st.fixed_dictionaries(
    {
        "role": st.sampled_from(["user", "system", "developer", "assistant"]),
        "content": st.text(min_size=1, max_size=300)
        | st.lists(
            st.fixed_dictionaries({"type": st.just("text"), "text": st.text(max_size=80)}), min_size=1, max_size=3
        ),
    },
)
valid_bodies = st.fixed_dictionaries(
    {
        "model": st.sampled_from(["router", "cheap", "strong"]),
        "messages": st.lists(valid_message, min_size=1, max_size=3),
    },
    optional={
        **valid_params,
        "stream": st.booleans(),
        "router": st.fixed_dictionaries(
            {}, optional={"min_acceptability": st.floats(0, 1), "fallbacks": st.booleans()}
        ),
        "vendor_option": json_values,
    },
).map(lambda b: {k: v for k, v in b.items() if not (k == "stream" and v is False)})
# A valid body with one field replaced by anything at all.
one_bad_field = st.tuples(
    valid_bodies,
    st.sampled_from(["model", "messages", "stream", "stream_options", "router", *sorted(OPENAI_PARAMS)]),
    json_values,
).map(lambda t: {**t[0], t[1]: t[2]})
hostile_bodies = st.fixed_dictionaries(
    {},
    optional={
        "model": st.sampled_from(["router", "cheap", "strong", "nope", ""]) | json_values,
        "messages": st.lists(message, max_size=4) | json_values,
        "stream": st.booleans() | json_values,
        "stream_options": json_values,
        "router": json_values,
        **{p: json_values for p in sorted(OPENAI_PARAMS)},
    },
)
chat_bodies = valid_bodies | one_bad_field | hostile_bodies
raw_bodies = st.binary(max_size=200) | st.sampled_from([b"", b"{", b"[]", b"null", b'{"model": "router"', b"\xff\xfe"])


def proxy_fault(response: httpx.Response) -> str | None:
    """Why a response counts as a 5xx caused by the proxy itself, or None."""
    if response.status_code < 500:
        return None
    try:
        message = str(response.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return f"{response.status_code} without an OpenAI-shaped error body"
    if response.status_code == 500:
        return f"500: {message}"
    if response.status_code == 502 and not (
        (message.startswith("Upstream ") and (" answered " in message or " mid-stream" in message))
        or message.startswith("Could not reach")
        or "rejected the gateway's credentials" in message
    ):
        return f"502: {message}"
    return None


def send(http: httpx.Client, payload: bytes) -> tuple[int, str | None, str]:
    """Send one body; return its status, why the proxy is at fault if it is (hangs included), and the body."""
    started = time.monotonic()
    try:
        with http.stream(
            "POST", "/v1/chat/completions", content=payload, headers={"content-type": "application/json"}
        ) as response:
            response.read()
    except httpx.TimeoutException:
        return 0, f"hang: no complete answer within {HANG_S}s", ""
    if time.monotonic() - started > HANG_S:
        return response.status_code, f"hang: took {time.monotonic() - started:.1f}s", response.text[:300]
    return response.status_code, proxy_fault(response), response.text[:300]


KEYS = {"FUZZ_KEY_A": "sk-fuzz-a-0123456789abcdef", "FUZZ_KEY_B": "sk-fuzz-b-0123456789abcdef"}
ADMIN_KEY = "sk-fuzz-admin-0123456789abcdef"
MAX_BODY = 1_000_000


def make_config(sim_url: str, db: Path) -> dict[str, Any]:
    return {
        "log": {"path": str(db)},
        "server": {"max_body_bytes": MAX_BODY},
        "reliability": {"deadline_s": DEADLINE_S, "breaker_failures": 1_000_000},
        "auth": {"admin_key_env": "FUZZ_ADMIN_KEY"},
        "key": [
            {"id": "a", "key_env": "FUZZ_KEY_A"},
            {"id": "b", "key_env": "FUZZ_KEY_B", "models": ["router", "cheap", "embed"]},
        ],
        "backend": [
            backend("cheap", "mixtral-8x7b", sim_url, accuracy=0.75, input_cost_per_token=6e-7, timeout_s=DEADLINE_S),
            backend("strong", "gpt-4-1106-preview", sim_url, accuracy=0.9, supports_vision=True, timeout_s=DEADLINE_S),
        ],
        "alias": [{"name": "router"}],
        "embedding": [backend("embed", "text-embedding-3-small", sim_url)],
    }


@dataclass
class Tally:
    statuses: Counter[int] = field(default_factory=Counter)
    kinds: Counter[str] = field(default_factory=Counter)
    proxy_5xx: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    transport_errors: list[str] = field(default_factory=list)
    malformed: Counter[str] = field(default_factory=Counter)
    reused: int = 0
    slowest: list[tuple[float, str]] = field(default_factory=list)

    def report(self, seconds: float) -> dict[str, Any]:
        return {
            "requests": sum(self.statuses.values())
            + len(self.transport_errors)
            + len(self.dropped)
            + sum(self.malformed.values()),
            "seconds": round(seconds, 1),
            "statuses": dict(sorted(self.statuses.items())),
            "proxy_5xx": len(self.proxy_5xx),
            "proxy_5xx_examples": self.proxy_5xx[:10],
            "dropped_keepalive_connections": len(self.dropped),
            "dropped_examples": self.dropped[:10],
            "requests_on_reused_connections": self.reused,
            "transport_errors": len(self.transport_errors),
            "transport_error_examples": self.transport_errors[:10],
            "malformed_http": dict(sorted(self.malformed.items())),
            "kinds": len(self.kinds),
            "slowest": [f"{t:.2f}s {kind}" for t, kind in sorted(self.slowest, reverse=True)[:5]],
        }


def wire_fault(status: int, body: bytes) -> str | None:
    """Why a raw reply counts as a 5xx caused by the proxy itself, or None (see `proxy_fault`)."""
    if status < 500:
        return None
    return proxy_fault(httpx.Response(status, content=body)) or None


async def _worker(
    host: str, port: int, mutator: Mutator, tally: Tally, stop_at: float, budget: list[int], lock: asyncio.Lock
) -> None:
    conn = Connection(host, port, timeout_s=HANG_S)
    try:
        while time.monotonic() < stop_at:
            async with lock:
                if budget[0] <= 0:
                    return
                budget[0] -= 1
                request = mutator.next()
            raw = http_request(request.method, request.path, request.body, request.headers)
            tally.kinds[request.kind] += 1
            try:
                reply = await conn.request(raw)
            except Dropped as exc:
                tally.dropped.append(f"{request.kind}: {exc}")
                continue
            except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError) as exc:
                tally.transport_errors.append(f"{request.kind}: {type(exc).__name__}: {exc}"[:300])
                continue
            tally.statuses[reply.status] += 1
            tally.slowest.append((reply.seconds, request.kind))
            if len(tally.slowest) > 100:
                tally.slowest = sorted(tally.slowest, reverse=True)[:10]
            if (fault := wire_fault(reply.status, reply.body)) is not None:
                tally.proxy_5xx.append(f"{request.kind}: {fault}"[:300])
            elif reply.seconds > HANG_S:
                tally.proxy_5xx.append(f"{request.kind}: hang of {reply.seconds:.1f}s")
            if reply.status == 200 and request.path == "/v1/chat/completions":
                request_id = reply.headers.get("x-router-request-id")
                if request_id:
                    mutator.request_ids.append(request_id)
                    del mutator.request_ids[:-1000]
    finally:
        tally.reused += conn.reused
        await conn.close()


async def _malformed(host: str, port: int, tally: Tally, rng: random.Random) -> None:
    """One malformed HTTP request on a connection of its own (the server may close it: it cannot be parsed)."""
    raw = rng.choice(MALFORMED_HTTP)
    conn = Connection(host, port, timeout_s=2.0)  # some promise more bytes than they send: the server waits
    try:
        reply = await conn.request(raw)
    except TimeoutError:
        tally.malformed["waiting for more"] += 1
        return
    except (OSError, asyncio.IncompleteReadError, ValueError, Dropped):
        tally.malformed["closed"] += 1
        return
    finally:
        await conn.close()
    tally.malformed[str(reply.status)] += 1
    if reply.status >= 500:
        tally.proxy_5xx.append(f"malformed http {raw[:60]!r}: {reply.status}")


async def run_mutations(
    url: str, requests: int, *, seed: int = 0, concurrency: int = 16, time_limit_s: float = 600.0,
    keys: list[str | None] | None = None, max_body_bytes: int = MAX_BODY, malformed_share: float = 0.02,
) -> dict[str, Any]:  # fmt: skip
    """Send `requests` mutated requests over every endpoint on kept-alive connections (and a share of malformed
    HTTP on connections of their own), `concurrency` at a time, for at most `time_limit_s`."""
    rng = random.Random(seed)
    parsed = httpx.URL(url)
    host, port = parsed.host, parsed.port or 80
    mutator = Mutator(rng, keys or [None], max_body_bytes)
    tally = Tally()
    malformed = int(requests * malformed_share)
    budget, lock = [requests - malformed], asyncio.Lock()
    started = time.monotonic()
    stop_at = started + time_limit_s
    workers = [
        asyncio.create_task(_worker(host, port, mutator, tally, stop_at, budget, lock)) for _ in range(concurrency)
    ]
    for first in range(0, malformed, 16):
        if time.monotonic() >= stop_at:
            break
        await asyncio.gather(*(_malformed(host, port, tally, rng) for _ in range(min(16, malformed - first))))
    await asyncio.gather(*workers)
    return tally.report(time.monotonic() - started)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--time-limit", type=float, default=600.0, help="seconds; stop sending after this")
    args = parser.parse_args(argv)
    env = {**KEYS, "FUZZ_ADMIN_KEY": ADMIN_KEY}
    keys: list[str | None] = [*(f"Bearer {k}" for k in KEYS.values())] * 4
    keys += [f"Bearer {ADMIN_KEY}", None, "Bearer sk-wrong", "Basic abc", "Bearer "]
    with stack(make_config, env=env) as s:
        report = asyncio.run(
            run_mutations(
                s.proxy_url,
                args.requests,
                seed=args.seed,
                concurrency=args.concurrency,
                time_limit_s=args.time_limit,
                keys=keys,
            )
        )
    print(json.dumps(report, indent=2))
    return 0 if report["proxy_5xx"] == 0 and report["dropped_keepalive_connections"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
