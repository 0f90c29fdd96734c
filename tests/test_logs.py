"""Structured logs: with `server.log_format = "json"` every line is one JSON object, and each line a call
produces (its access line included, for streams too) carries the call's request id; no secret reaches them."""

from __future__ import annotations

import io
import json
import logging
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from proxy.logconfig import JsonFormatter, request_id
from tests.conftest import SIM_KEY

HI = [{"role": "user", "content": "What is the capital of France?"}]


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """Capture the proxy's log lines as the JSON formatter writes them (the app runs in this process)."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("proxy")
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield out
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)


def parsed(out: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_each_call_has_one_access_line_with_its_request_id(proxy_url: str, json_lines: io.StringIO) -> None:
    plain = httpx.post(f"{proxy_url}/v1/chat/completions", json={"model": "router", "messages": HI}, timeout=30)
    body = {"model": "router", "messages": HI, "stream": True}
    with httpx.stream("POST", f"{proxy_url}/v1/chat/completions", json=body, timeout=30) as streamed:
        streamed.read()
    deadline = time.monotonic() + 5
    while len([x for x in parsed(json_lines) if x["logger"] == "proxy.access"]) < 2:
        assert time.monotonic() < deadline, json_lines.getvalue()
        time.sleep(0.02)
    lines = parsed(json_lines)
    for response, stream in ((plain, False), (streamed, True)):
        rid = response.headers["x-router-request-id"]
        mine = [x for x in lines if x.get("request_id") == rid]
        (access,) = [x for x in mine if x["logger"] == "proxy.access"]
        assert access["backend"] == response.headers["x-router-model"]
        assert (access["alias"], access["status"], access["stream"]) == ("router", 200, stream)
        assert access["level"] == "info" and access["ts"].endswith("Z") and access["reason"]
        assert access["input_tokens"] > 0 and access["cost_usd"] > 0
    assert SIM_KEY not in json_lines.getvalue() and "Bearer" not in json_lines.getvalue()


def test_lines_outside_a_call_have_no_request_id_and_exceptions_are_kept() -> None:
    formatter = JsonFormatter()
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord("proxy.x", logging.ERROR, __file__, 1, "failed %s", ("here",), sys.exc_info())
    line = json.loads(formatter.format(record))
    assert line["message"] == "failed here" and "request_id" not in line
    assert "ValueError: boom" in line["exception"]
    token = request_id.set("01ABC")
    try:
        assert json.loads(formatter.format(record))["request_id"] == "01ABC"
    finally:
        request_id.reset(token)
