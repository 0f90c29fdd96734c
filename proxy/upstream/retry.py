"""Retries of one upstream call, before the first byte reaches the client.

Connection errors, timeouts, 429 and 5xx are retried with jittered exponential back-off ("full
jitter") until the attempts run out or the request's deadline would pass; then the pipeline falls
back to the next candidate. A 429 whose Retry-After is longer than the longest back-off is not
waited for: another candidate is the faster way to an answer.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from tenacity import (
    AsyncRetrying,
    retry_if_exception,
    stop_after_attempt,
    stop_before_delay,
    wait_random_exponential,
)

from proxy.errors import BadGateway, GatewayTimeout, RateLimited, ServiceUnavailable, UpstreamAuthFailed

T = TypeVar("T")

RETRYABLE = (BadGateway, GatewayTimeout, RateLimited, ServiceUnavailable)


def is_retryable(exc: BaseException) -> bool:
    """An upstream failure worth another try, which also counts against the backend's circuit."""
    return isinstance(exc, RETRYABLE) and not isinstance(exc, UpstreamAuthFailed)


def falls_back(exc: BaseException) -> bool:
    """A failure another backend may not have: retryable ones, and an upstream refusing the gateway's key
    (which the same key would meet again, so it is not retried)."""
    return isinstance(exc, RETRYABLE)


async def call_with_retries(
    call: Callable[[], Awaitable[T]],
    *,
    attempts: int,
    base_s: float,
    max_s: float,
    deadline: float,
) -> T:
    """Run `call` until it succeeds, a non-retryable error, `attempts` tries, or `deadline` (monotonic).

    The last error is raised as it is.
    """

    def worth_retrying(exc: BaseException) -> bool:
        if not is_retryable(exc):
            return False
        retry_after = getattr(exc, "retry_after_s", None)
        return not (isinstance(exc, RateLimited) and retry_after is not None and retry_after > max_s)

    # The first try runs bare: almost every call succeeds on it, and only a failure worth retrying pays
    # for tenacity's per-call machinery. The rest is the schedule tenacity would have followed from here.
    try:
        return await call()
    except RETRYABLE as exc:
        first_wait = random.uniform(0, min(max_s, base_s))
        if attempts <= 1 or not worth_retrying(exc) or time.monotonic() + first_wait >= deadline:
            raise
    await asyncio.sleep(first_wait)
    retrying = AsyncRetrying(
        stop=stop_after_attempt(attempts - 1) | stop_before_delay(max(0.0, deadline - time.monotonic())),
        # Attempt n of these is attempt n + 1 of the call: the back-off ceiling starts one doubling up.
        wait=wait_random_exponential(multiplier=2 * base_s, max=max_s),
        retry=retry_if_exception(worth_retrying),
        reraise=True,
    )
    return await retrying(call)
