"""Fuzz the chat endpoint with generated request bodies: no 5xx caused by the proxy, no hangs.

Usage: .venv/bin/python -m scripts.fuzz [--requests 100000] [--seed 0]

Bodies come from a hypothesis strategy mixing well-formed and broken OpenAI requests (wrong types,
unknown roles and content parts, odd numbers, deep JSON, unknown fields, non-JSON bytes). Each goes to
a real proxy in front of the simulated backends. A 5xx counts against the proxy when it is a 500, or a
502 that is not an upstream's answer or an unreachable upstream; 503/504 are the configured overload
and timeout answers. A request that takes longer than the proxy's own deadline plus a margin is a hang.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from proxy.request import OPENAI_PARAMS, ROLES
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


def make_config(sim_url: str, db: Path) -> dict[str, Any]:
    return {
        "log": {"path": str(db)},
        "reliability": {"deadline_s": DEADLINE_S, "breaker_failures": 1_000_000},
        "backend": [
            backend("cheap", "mixtral-8x7b", sim_url, accuracy=0.75, input_cost_per_token=6e-7, timeout_s=DEADLINE_S),
            backend("strong", "gpt-4-1106-preview", sim_url, accuracy=0.9, supports_vision=True, timeout_s=DEADLINE_S),
        ],
        "alias": [{"name": "router"}],
    }


def run(url: str, requests: int, seed: int) -> dict[str, Any]:
    statuses: Counter[int] = Counter()
    faults: list[str] = []
    upstream_5xx: list[str] = []
    with httpx.Client(base_url=url, timeout=HANG_S) as http:

        @settings(
            max_examples=requests,
            database=None,
            deadline=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(st.one_of(chat_bodies.map(lambda b: json.dumps(b).encode()), raw_bodies))
        def one(payload: bytes) -> None:
            status, fault, text = send(http, payload)
            statuses[status] += 1
            if fault:
                faults.append(fault)
            elif status >= 500:
                upstream_5xx.append(text)

        one._hypothesis_internal_use_seed = seed  # type: ignore[attr-defined]
        one()
    return {
        "requests": sum(statuses.values()),
        "statuses": dict(sorted(statuses.items())),
        "proxy_faults": len(faults),
        "examples": faults[:10],
        "other_5xx_examples": upstream_5xx[:5],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    with stack(make_config) as s:
        report = run(s.proxy_url, args.requests, args.seed)
    print(json.dumps(report, indent=2))
    return 0 if report["proxy_faults"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
