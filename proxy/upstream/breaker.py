"""Per-backend circuit breakers: stop sending traffic to a backend that keeps failing.

closed --(N consecutive failures)--> open --(cool-down elapsed)--> half-open --(probe succeeds)--> closed
                                       ^                                |
                                       +--------(probe fails)-----------+

While open, the backend is dropped from routing candidates (and `/v1/route` says so); requests naming
it directly get a fast 503. In half-open, exactly one probe request is let through.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _State:
    failures: int = 0
    opened_at: float | None = None
    probing: bool = False


class CircuitBreakers:
    def __init__(self, failures: int, cooldown_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.threshold = failures
        self.cooldown_s = cooldown_s
        self.clock = clock
        self._states: dict[str, _State] = {}

    def state(self, name: str) -> str:
        s = self._states.get(name)
        if s is None or s.opened_at is None:
            return "closed"
        if s.probing or self.clock() - s.opened_at >= self.cooldown_s:
            return "half-open"
        return "open"

    def blocked(self, name: str) -> float | None:
        """Seconds until `name` may be tried again, or None if a request may go to it now."""
        s = self._states.get(name)
        if s is None or s.opened_at is None:
            return None
        left = self.cooldown_s - (self.clock() - s.opened_at)
        if left > 0:
            return left
        return self.cooldown_s if s.probing else None

    def acquire(self, name: str) -> bool:
        """Call before sending to `name`: False if its circuit is open; in half-open, only one caller wins."""
        if self.blocked(name) is not None:
            return False
        s = self._states.get(name)
        if s is not None and s.opened_at is not None:
            s.probing = True
        return True

    def success(self, name: str) -> None:
        self._states.pop(name, None)

    def failure(self, name: str) -> None:
        s = self._states.setdefault(name, _State())
        s.failures += 1
        if s.probing or s.failures >= self.threshold:
            s.opened_at = self.clock()
            s.probing = False

    def release(self, name: str) -> None:
        """The call to `name` ended without saying anything about its health (e.g. a client error)."""
        s = self._states.get(name)
        if s is not None:
            s.probing = False

    def snapshot(self) -> dict[str, str]:
        return {name: self.state(name) for name in self._states}
