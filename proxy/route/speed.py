"""Live speed: each backend's recent time to first token and output speed, from the proxy's own calls.

The router's latency prediction (`scoring.py`) is the prior: the model's measured median TTFT and tokens
per second (catalog, from public latency data). Providers slow down and recover by the hour, so every
call that succeeded at its first try adds evidence, as log-ratios of what was observed to what the prior
says:

- a streamed call gives both parts: TTFT against the prior TTFT, and the time after the first token
  against the prior time for the tokens it really produced;
- a non-streamed call gives only its total time, which is charged to both parts alike.

Evidence decays with a half-life (`HALF_LIFE_S`), and the estimate is the prior shifted by the decayed
mean log-ratio, shrunk towards no shift by `PRIOR_WEIGHT` pseudo-observations:

    factor = exp(sum(w_i * log r_i) / (sum(w_i) + PRIOR_WEIGHT))

so a backend with little recent traffic keeps (or returns to) its prior, and a backend that slowed down
fivefold shows it after a handful of calls.

Finished calls alone are biased evidence: of the calls in flight, the fast ones finish first, so at any moment
the evidence leans fast (most where calls are many and their times spread wide), and a backend that has just
slowed down shows nothing until its slow calls end. So a call still in flight past the prior's time for it
(`begin` ... `end`) counts as a call of the time it has taken so far, a lower bound of its own, until it ends
and its real time replaces it. A slowed backend loses traffic where latency matters, and
since old evidence fades it is tried again and wins its traffic back once it recovers.

Each process keeps its own estimate (replicas learn from their own calls); the state is tiny and lives
in memory only.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

HALF_LIFE_S = 20.0
PRIOR_WEIGHT = 2.0
MIN_TOKENS = 8  # fewer output tokens say too little about decoding speed
_LN2 = math.log(2.0)


@dataclass(frozen=True)
class Speed:
    """A backend's current estimate: what the prior said, and the factors live evidence puts on it."""

    ttft_factor: float = 1.0  # observed / prior time to first token
    decode_factor: float = 1.0  # observed / prior time per output token
    evidence: float = 0.0  # decayed number of calls behind the factors

    def ttft_s(self, prior_ttft_s: float) -> float:
        return prior_ttft_s * self.ttft_factor

    def tokens_per_s(self, prior_tokens_per_s: float) -> float:
        return prior_tokens_per_s / self.decode_factor


class _Evidence:
    __slots__ = ("ttft", "ttft_weight", "decode", "decode_weight", "at")

    def __init__(self, at: float) -> None:
        self.ttft = self.ttft_weight = self.decode = self.decode_weight = 0.0
        self.at = at

    def decay(self, now: float) -> None:
        keep = math.exp(-_LN2 * max(0.0, now - self.at) / HALF_LIFE_S)
        self.ttft, self.ttft_weight = self.ttft * keep, self.ttft_weight * keep
        self.decode, self.decode_weight = self.decode * keep, self.decode_weight * keep
        self.at = now

    def speed(self, overdue: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)) -> Speed:
        """The factors, with `overdue` calls still in flight: (TTFT log-ratios, their count, decode ...)."""
        ttft, ttft_weight = self.ttft + overdue[0], self.ttft_weight + overdue[1]
        decode, decode_weight = self.decode + overdue[2], self.decode_weight + overdue[3]
        return Speed(
            ttft_factor=math.exp(ttft / (ttft_weight + PRIOR_WEIGHT)),
            decode_factor=math.exp(decode / (decode_weight + PRIOR_WEIGHT)),
            evidence=max(ttft_weight, decode_weight),
        )


@dataclass(frozen=True)
class _InFlight:
    backend: str
    since: float
    prior_s: float  # what the prior predicted for the part being waited for
    ttft_only: bool  # a stream waiting for its first token (else the whole call: both parts)


class LiveSpeed:
    """Per-backend live speed factors; `observe` after each call, `adjust` the predictions of each decision."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._evidence: dict[str, _Evidence] = {}
        self._speeds: dict[str, Speed] = {}
        self._computed_at = -math.inf
        self._in_flight: dict[int, _InFlight] = {}
        self._tokens = itertools.count()

    def begin(self, backend: str, prior_s: float, *, ttft_only: bool = False) -> int:
        """A call to `backend` is sent, predicted by the prior to take `prior_s` (to its first token when
        `ttft_only`); the token to `end` it with, once it has answered or failed."""
        token = next(self._tokens)
        if prior_s > 0:
            self._in_flight[token] = _InFlight(backend, self._clock(), prior_s, ttft_only)
        return token

    def end(self, token: int) -> None:
        self._in_flight.pop(token, None)

    def _overdue(self, now: float, backend: str | None = None) -> dict[str, tuple[float, float, float, float]]:
        """Per backend (only `backend`, when given), its calls in flight past their prior's time, as evidence (see
        the module's docstring)."""
        out: dict[str, tuple[float, float, float, float]] = {}
        for call in self._in_flight.values():
            if backend is not None and call.backend != backend:
                continue
            waited = now - call.since
            if waited <= call.prior_s:
                continue
            shift = math.log(waited / call.prior_s)
            t, tw, d, dw = out.get(call.backend, (0.0, 0.0, 0.0, 0.0))
            out[call.backend] = (
                (t + shift, tw + 1.0, d, dw) if call.ttft_only else (t + shift, tw + 1, d + shift, dw + 1)
            )
        return out

    def observe(
        self,
        backend: str,
        *,
        prior_ttft_s: float,
        prior_tokens_per_s: float,
        total_s: float,
        output_tokens: int,
        ttft_s: float | None = None,
        prior_total: Callable[[], float] | None = None,
    ) -> None:
        """One call that succeeded at its first try: its upstream time, its TTFT when streamed, its tokens.
        `prior_total`: what the prior predicts for the whole call (default: TTFT + tokens at the prior rate), asked
        only of a call without a TTFT (the prediction costs a named call's share of the proxy's CPU)."""
        if total_s <= 0 or prior_ttft_s <= 0 or prior_tokens_per_s <= 0:
            return
        now = self._clock()
        ev = self._evidence.get(backend)
        if ev is None:
            ev = self._evidence[backend] = _Evidence(now)
        ev.decay(now)
        prior_decode_s = output_tokens / prior_tokens_per_s
        if ttft_s is not None and ttft_s > 0:
            ev.ttft += math.log(ttft_s / prior_ttft_s)
            ev.ttft_weight += 1.0
            if output_tokens >= MIN_TOKENS and total_s > ttft_s:
                ev.decode += math.log((total_s - ttft_s) / prior_decode_s)
                ev.decode_weight += 1.0
        else:
            shift = math.log(total_s / ((prior_total and prior_total()) or prior_ttft_s + prior_decode_s))
            ev.ttft += shift
            ev.ttft_weight += 1.0
            if output_tokens >= MIN_TOKENS:
                ev.decode += shift
                ev.decode_weight += 1.0
        self._speeds[backend] = ev.speed(self._overdue(now, backend).get(backend, (0.0, 0.0, 0.0, 0.0)))

    def speeds(self) -> Mapping[str, Speed]:
        """Every backend with evidence; decayed to now at most once a second (the factors move slowly)."""
        now = self._clock()
        if now - self._computed_at >= 1.0:
            overdue = self._overdue(now)
            for name in overdue.keys() - self._evidence.keys():
                self._evidence[name] = _Evidence(now)
            for name, ev in self._evidence.items():
                ev.decay(now)
                self._speeds[name] = ev.speed(overdue.get(name, (0.0, 0.0, 0.0, 0.0)))
            self._computed_at = now
        return self._speeds

    def adjust(
        self, names: tuple[str, ...], ttft_s: np.ndarray, latency_s: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Predicted (TTFT, total latency) of `names` with their live factors applied; the inputs when none has any."""
        speeds = self.speeds()
        if not speeds or not any(n in speeds for n in names):
            return ttft_s, latency_s
        neutral = Speed()
        ttft_f = np.array([speeds.get(n, neutral).ttft_factor for n in names])
        decode_f = np.array([speeds.get(n, neutral).decode_factor for n in names])
        ttft = ttft_s * ttft_f
        return ttft, ttft + (latency_s - ttft_s) * decode_f
