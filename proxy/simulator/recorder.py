"""The last requests the simulator received, so tests can assert exactly what reached the upstream."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class ReceivedRequest:
    method: str
    path: str
    headers: dict[str, str]  # lowercase names
    body: Any  # the parsed JSON body, or the raw text when it was not JSON
    received_at: float


class RequestLog:
    def __init__(self, size: int) -> None:
        self._requests: deque[ReceivedRequest] = deque(maxlen=size)

    def add(self, method: str, path: str, headers: dict[str, str], body: Any) -> None:
        self._requests.append(ReceivedRequest(method, path, headers, body, time.time()))

    def clear(self) -> int:
        count = len(self._requests)
        self._requests.clear()
        return count

    def as_json(self) -> list[dict[str, Any]]:
        """Oldest first."""
        return [asdict(r) for r in self._requests]


@dataclass
class StreamOutcome:
    model: str
    started_at: float
    ended_at: float
    outcome: str  # "completed", "dropped" (a fault) or "client_disconnected"


class StreamLog:
    """How each stream ended and when: lets tests see how fast a client's hang-up reached the upstream."""

    def __init__(self, size: int) -> None:
        self._streams: deque[StreamOutcome] = deque(maxlen=size)

    def add(self, outcome: StreamOutcome) -> None:
        self._streams.append(outcome)

    def clear(self) -> int:
        count = len(self._streams)
        self._streams.clear()
        return count

    def as_json(self) -> list[dict[str, Any]]:
        return [asdict(s) for s in self._streams]
