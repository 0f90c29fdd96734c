"""Property-based fuzzing of the chat body: whatever arrives, the proxy answers without a 5xx of its own.

A few hundred examples here; `python -m scripts.fuzz --requests 100000` is the long run.
"""

from __future__ import annotations

import json

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scripts.fuzz import chat_bodies, raw_bodies, send


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(payload=st.one_of(chat_bodies.map(lambda b: json.dumps(b).encode()), raw_bodies))
def test_no_request_body_makes_the_proxy_fail(proxy_url: str, payload: bytes) -> None:
    with httpx.Client(base_url=proxy_url, timeout=30) as http:
        status, fault, text = send(http, payload)
    assert fault is None, f"{fault} for body {payload[:300]!r}"
    assert status in (200, 400, 404, 413, 422) or status >= 500, text
