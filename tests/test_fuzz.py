"""Property-based fuzzing of the chat body: whatever arrives, the proxy answers without a 5xx of its own.

A few hundred examples here; `python -m scripts.fuzz --requests 100000` is the long run.
"""

from __future__ import annotations

import json

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scripts.fuzz import chat_bodies, raw_bodies, run_mutations, send


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(payload=st.one_of(chat_bodies.map(lambda b: json.dumps(b).encode()), raw_bodies))
def test_no_request_body_makes_the_proxy_fail(proxy_url: str, payload: bytes) -> None:
    with httpx.Client(base_url=proxy_url, timeout=30) as http:
        status, fault, text = send(http, payload)
    assert fault is None, f"{fault} for body {payload[:300]!r}"
    assert status in (200, 400, 404, 413, 422) or status >= 500, text


async def test_mutated_requests_over_every_endpoint_get_no_5xx_and_keep_their_connections(proxy_url: str) -> None:
    # A few hundred of the mutations `python -m scripts.fuzz` sends 20,000 of.
    report = await run_mutations(proxy_url, 300, seed=1, concurrency=8, time_limit_s=60, max_body_bytes=200_000)
    assert report["proxy_5xx"] == 0, report["proxy_5xx_examples"]
    assert report["dropped_keepalive_connections"] == 0, report["dropped_examples"]
    assert report["transport_errors"] == 0, report["transport_error_examples"]
    assert report["requests_on_reused_connections"] > 200
