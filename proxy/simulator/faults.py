"""Faults on demand, for testing a client's retries, timeouts and fallbacks.

A fault is a JSON object with any of these keys (all optional, all wall-clock seconds, never scaled by --speed):
  status, message, type, code   answer with this HTTP status and an OpenAI-shaped error
  retry_after                   seconds for the retry-after header (default 1 with status 429)
  delay_s                       sleep before answering (or before the error)
  ttft_s                        time to the first token instead of the simulated one
  disconnect_after_chunks       drop the connection after this many SSE chunks (non-stream: mid-body)
  stall_after_chunks, stall_s   stream: go silent for stall_s seconds after this many chunks
  malformed_after_chunks        stream: send an event that is not JSON after this many chunks, then carry on
                                (non-stream: a complete 200 whose body is not JSON)
  slowdown                      multiply the simulated time to first token and time per token (5 = five times slower)

It arrives either in the request body as `sim_fault`, or queued with POST /_sim/faults for the next
`count` requests to a model ("*" = any), or, with `rate` instead of `count`, for a random share of all
requests to it until cleared (for chaos runs); a queued fault wins over the body's.
"""

from __future__ import annotations

import math
import random
from dataclasses import asdict, dataclass
from typing import Any

from proxy.simulator.errors import SimError, bad_request

ENDPOINTS = ("chat", "embeddings", "*")


@dataclass(frozen=True)
class Fault:
    status: int | None = None
    message: str | None = None
    type: str | None = None
    code: str | None = None
    retry_after: float | None = None
    delay_s: float = 0.0
    ttft_s: float | None = None
    disconnect_after_chunks: int | None = None
    stall_after_chunks: int | None = None
    stall_s: float = 0.0
    malformed_after_chunks: int | None = None
    slowdown: float = 1.0

    def error(self) -> SimError | None:
        if self.status is None:
            return None
        headers: dict[str, str] = {}
        retry_after = self.retry_after if self.retry_after is not None else (1.0 if self.status == 429 else None)
        if retry_after is not None:
            headers["retry-after"] = str(math.ceil(retry_after))
            headers["retry-after-ms"] = str(round(retry_after * 1000))
        message = self.message or f"Simulated upstream error (HTTP {self.status})."
        code = self.code or ("rate_limit_exceeded" if self.status == 429 else None)
        return SimError(self.status, message, type=self.type, code=code, headers=headers)


def parse_fault(raw: object, param: str) -> Fault:
    """Validate a fault object; a bad one is the client's error (400) naming the key."""
    if not isinstance(raw, dict):
        raise bad_request(f"{param} must be an object", param)
    unknown = sorted(set(raw) - set(Fault.__dataclass_fields__))
    if unknown:
        raise bad_request(f"{param} has unknown key(s): {', '.join(unknown)}", param)
    status = raw.get("status")
    if status is not None and (not _is_int(status) or not 400 <= status <= 599):
        raise bad_request(f"{param}.status must be an HTTP error status (400-599)", f"{param}.status")
    for key in ("message", "type", "code"):
        if raw.get(key) is not None and not isinstance(raw[key], str):
            raise bad_request(f"{param}.{key} must be a string", f"{param}.{key}")
    for key in ("retry_after", "delay_s", "ttft_s", "stall_s"):
        value = raw.get(key)
        if value is not None and (not _is_number(value) or value < 0):
            raise bad_request(f"{param}.{key} must be a number >= 0", f"{param}.{key}")
    slowdown = raw.get("slowdown", 1.0)
    if not _is_number(slowdown) or slowdown <= 0:
        raise bad_request(f"{param}.slowdown must be a number > 0", f"{param}.slowdown")
    for key in ("disconnect_after_chunks", "stall_after_chunks", "malformed_after_chunks"):
        value = raw.get(key)
        if value is not None and (not _is_int(value) or value < 0):
            raise bad_request(f"{param}.{key} must be an integer >= 0", f"{param}.{key}")
    return Fault(
        status=status,
        message=raw.get("message"),
        type=raw.get("type"),
        code=raw.get("code"),
        retry_after=raw.get("retry_after"),
        delay_s=float(raw.get("delay_s") or 0.0),
        ttft_s=raw.get("ttft_s"),
        disconnect_after_chunks=raw.get("disconnect_after_chunks"),
        stall_after_chunks=raw.get("stall_after_chunks"),
        stall_s=float(raw.get("stall_s") or 0.0),
        malformed_after_chunks=raw.get("malformed_after_chunks"),
        slowdown=float(slowdown),
    )


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


@dataclass
class _Queued:
    model: str
    endpoint: str
    remaining: int | None  # None: a standing fault that fires at `rate`
    fault: Fault
    rate: float = 1.0


class FaultQueue:
    """Faults waiting for the next requests; first queued, first used. Used from one event loop only."""

    def __init__(self, seed: int = 0) -> None:
        self._entries: list[_Queued] = []
        self._rng = random.Random(seed)

    def add(self, raw: object) -> None:
        if not isinstance(raw, dict):
            raise bad_request("body must be an object: {model, count, fault, endpoint?}")
        model, count, endpoint = raw.get("model"), raw.get("count", 1), raw.get("endpoint", "chat")
        if not isinstance(model, str) or not model:
            raise bad_request('model must be a model name or "*"', "model")
        if not _is_int(count) or count < 1:
            raise bad_request("count must be an integer >= 1", "count")
        if endpoint not in ENDPOINTS:
            raise bad_request(f"endpoint must be one of {', '.join(ENDPOINTS)}", "endpoint")
        rate = raw.get("rate")
        if rate is not None and (not _is_number(rate) or not 0 <= rate <= 1):
            raise bad_request("rate must be a number in [0, 1]", "rate")
        fault = parse_fault(raw.get("fault"), "fault")
        if rate is None:
            self._entries.append(_Queued(model, endpoint, count, fault))
        else:
            self._entries.append(_Queued(model, endpoint, None, fault, float(rate)))

    def take(self, models: tuple[str, ...], endpoint: str) -> Fault | None:
        """The next queued fault for a request to any of `models` (the name as sent, the profile's name)."""
        for entry in self._entries:
            if (entry.model == "*" or entry.model in models) and entry.endpoint in ("*", endpoint):
                if entry.remaining is None:
                    if self._rng.random() < entry.rate:
                        return entry.fault
                    continue
                entry.remaining -= 1
                if entry.remaining == 0:
                    self._entries.remove(entry)
                return entry.fault
        return None

    def clear(self) -> int:
        count = len(self._entries)
        self._entries.clear()
        return count

    def snapshot(self) -> list[dict[str, Any]]:
        return [
            {
                "model": e.model,
                "endpoint": e.endpoint,
                "remaining": e.remaining,
                "rate": e.rate,
                "fault": asdict(e.fault),
            }
            for e in self._entries
        ]
