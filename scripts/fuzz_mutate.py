"""Mutated requests for every endpoint, written as raw bytes so they can hold what `json.dumps` never writes:
nesting past any parser's limit, integers of thousands of digits, 1e400, lone surrogate escapes, duplicate
keys, bodies past the size limit, truncated or non-UTF-8 bodies, and malformed HTTP itself.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


class Raw(str):
    """JSON text written into a body as it is."""


class Members(Raw):
    """Members written into the enclosing object as they are (`"k":1,"k":2`: duplicate keys)."""


def to_text(value: Any) -> str:
    if isinstance(value, Raw):
        return str(value)
    if isinstance(value, dict):
        members = (str(v) if isinstance(v, Members) else f"{json.dumps(str(k))}:{to_text(v)}" for k, v in value.items())
        return "{" + ",".join(members) + "}"
    if isinstance(value, list):
        return "[" + ",".join(to_text(v) for v in value) + "]"
    return json.dumps(value)


@dataclass
class Request:
    method: str
    path: str
    body: bytes | None
    headers: dict[str, str]
    kind: str  # what the mutation was, for the report


def _nest(rng: random.Random) -> Raw:
    depth = rng.choice([10, 63, 64, 65, 200, 255, 500, 980, 999, 1023, 1024, 1030, 3000, 20_000])
    if rng.random() < 0.5:
        return Raw("[" * depth + "]" * depth)
    return Raw('{"a":' * depth + "1" + "}" * depth)


HOSTILE: list[tuple[str, Callable[[random.Random], Any]]] = [
    ("deep", _nest),
    ("huge_int", lambda r: Raw(r.choice(["", "-"]) + "9" * r.choice([19, 20, 21, 40, 400, 4300, 5000]))),
    ("huge_float", lambda r: Raw(r.choice(["1e400", "-1e400", "1e-400", "1.7976931348623157e309", "0e99999"]))),
    ("surrogate", lambda r: Raw(r.choice(['"\\ud800"', '"a\\udfff b"', '"\\udc00\\ud800"', '"\\ud83d\\ude00"']))),
    ("wrong_type", lambda r: r.choice([None, True, False, 0, -1, 1.5, "", "x", [], {}, [1, "a"], {"a": None}])),
    ("long_string", lambda r: "x" * r.choice([10_000, 300_000])),
    ("long_list", lambda r: [r.choice([1, "a", {}, []]) for _ in range(r.choice([100, 5000]))]),
    ("control_chars", lambda r: "\u0000\u001f\u2028\ufeff\U0010ffff" * r.randint(1, 50)),
]

CHAT_FIELDS = [
    "model",
    "messages",
    "stream",
    "stream_options",
    "max_tokens",
    "max_completion_tokens",
    "temperature",
    "n",
    "stop",
    "tools",
    "tool_choice",
    "response_format",
    "logit_bias",
    "seed",
    "user",
    "router",
    "vendor_extra",
    "api_base",
]


class Mutator:
    """Requests for every endpoint: a valid seed with one to three hostile changes, or a broken whole."""

    def __init__(self, rng: random.Random, keys: list[str | None], max_body_bytes: int) -> None:
        self.rng = rng
        self.keys = keys
        self.max_body_bytes = max_body_bytes
        self.request_ids: list[str] = []  # from answered calls, so feedback can name real ones

    def next(self) -> Request:
        r = self.rng
        endpoint = r.choices(
            ["chat", "route", "embeddings", "feedback", "models", "other"], weights=[45, 15, 10, 15, 10, 5]
        )[0]
        headers = {"content-type": r.choice(["application/json"] * 8 + ["text/plain", "application/json; x=1"])}
        key = r.choice(self.keys)
        if key is not None:
            headers["authorization"] = key
        if endpoint == "models":
            return Request("GET", "/v1/models", None, headers, "models")
        if endpoint == "other":
            path = r.choice(["/health", "/ready", "/v1/nope", "/ui/api/calls?limit=5", "/admin/status"])
            method = r.choice(["GET", "POST", "DELETE"])
            return Request(method, path, b"{}" if method == "POST" else None, headers, "other")
        seed = self._seed(endpoint)
        path = {"chat": "/v1/chat/completions", "route": "/v1/route"}.get(endpoint, f"/v1/{endpoint}")
        whole = r.random()
        if whole < 0.08:
            body, kind = self._broken_whole(seed)
        else:
            kinds = []
            for _ in range(r.choice([1, 1, 2, 3])):
                kinds.append(self._mutate(seed, endpoint))
            body, kind = to_text(seed).encode("utf-8", "surrogatepass"), "+".join(kinds)
        return Request("POST", path, body, headers, f"{endpoint}:{kind}")

    def _seed(self, endpoint: str) -> Any:
        r = self.rng
        if endpoint == "embeddings":
            return {"model": "embed", "input": r.choice(["hello", ["a", "b"]])}
        if endpoint == "feedback":
            request_id = r.choice(self.request_ids) if self.request_ids and r.random() < 0.7 else "01NOPE"
            return {"request_id": request_id, **r.choice([{"thumbs": "up"}, {"score": 0.5}])}
        body: dict[str, Any] = {
            "model": r.choice(["router", "cheap", "strong"]) if endpoint == "chat" else "router",
            "messages": [{"role": "user", "content": r.choice(["Hi", "Write a haiku.", "2+2?"])}],
            "max_tokens": r.choice([1, 5, 16]),
        }
        if endpoint == "chat" and r.random() < 0.3:
            body["stream"] = True
        if r.random() < 0.2:
            body["tools"] = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
        if r.random() < 0.2:
            body["router"] = {"candidates": ["cheap", "strong"]}
        return body

    def _mutate(self, body: dict[str, Any], endpoint: str) -> str:
        r = self.rng
        name, make = r.choice(HOSTILE)
        fields = CHAT_FIELDS if endpoint in ("chat", "route") else list(body) + ["extra"]
        where = r.random()
        if where < 0.5:
            body[r.choice(fields)] = make(r)
        elif where < 0.7 and isinstance(body.get("messages"), list) and body["messages"]:
            message = body["messages"][0]
            if isinstance(message, dict):
                message[r.choice(["content", "role", "name", "tool_calls"])] = make(r)
        elif where < 0.8:
            body.pop(r.choice(list(body) or ["model"]), None)
            return "missing_field"
        elif where < 0.9:
            key = r.choice(list(body) or ["model"])
            value = body.pop(key, None)
            body["_dup"] = Members(f"{json.dumps(key)}:{to_text(value)},{json.dumps(key)}:{to_text(make(r))}")
            return "duplicate_key"
        else:
            body[r.choice(["router", "stream_options", "response_format"])] = {"x": make(r)}
        return name

    def _broken_whole(self, seed: Any) -> tuple[bytes, str]:
        r = self.rng
        text = to_text(seed).encode()
        choice = r.randrange(9)
        if choice == 0:
            return b"", "empty"
        if choice == 1:
            return text[: r.randrange(max(1, len(text)))], "truncated"
        if choice == 2:
            return b"\xff\xfe" + text, "not_utf8"
        if choice == 3:
            return r.choice([b"[]", b"null", b"1", b'"s"', b"true", b"NaN", b"Infinity"]), "not_an_object"
        if choice == 4:
            return b" " * (self.max_body_bytes + 1) + text, "too_large"
        if choice == 5:
            return text + b"garbage", "trailing_garbage"
        if choice == 6:
            return bytes(r.randrange(256) for _ in range(r.randrange(1, 300))), "random_bytes"
        if choice == 7:
            many = {"model": "cheap", "messages": [{"role": "user", "content": "x"}] * 5000}
            return json.dumps(many).encode(), "many_messages"
        return text.replace(b"{", b"{" * 3, 1), "unbalanced"


MALFORMED_HTTP: list[bytes] = [
    b"GARBAGE\r\n\r\n",
    b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-length: abc\r\n\r\n{}",
    b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-length: -5\r\n\r\n{}",
    b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
    b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\ntransfer-encoding: chunked\r\n\r\n{}",
    b"POST /v1/chat/completions HTTP/9.9\r\nhost: x\r\ncontent-length: 2\r\n\r\n{}",
    b"POST /v1/chat/completions HTTP/1.1\r\nbad header line\r\n\r\n",
    b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nx-bad: a\x00b\r\ncontent-length: 2\r\n\r\n{}",
    b"P\xffST /v1/chat/completions HTTP/1.1\r\nhost: x\r\n\r\n",
    b"POST /v1/%ZZ HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\n\r\n{}",
    b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nx-long: " + b"a" * 200_000 + b"\r\n\r\n",
    b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nauthorization: Bearer \xe9\xff\r\ncontent-length: 2\r\n\r\n{}",
    b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\ncontent-length: 7\r\n\r\n{}",
    b"\r\n\r\n\r\n",
]
