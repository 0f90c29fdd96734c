"""call_with_retries: the bare first try, then tenacity's schedule, within attempts and the deadline."""

from __future__ import annotations

import time

import pytest

from proxy.errors import BadGateway, BadRequest, ProxyError, RateLimited
from proxy.upstream.retry import call_with_retries


class Flaky:
    """Fails with the given errors in turn, then answers "ok"."""

    def __init__(self, *errors: ProxyError) -> None:
        self.errors = list(errors)
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


async def _run(call: Flaky, attempts: int = 3, deadline_s: float = 5.0) -> str:
    deadline = time.monotonic() + deadline_s
    return await call_with_retries(call, attempts=attempts, base_s=0.001, max_s=0.002, deadline=deadline)


async def test_first_success_is_one_call() -> None:
    call = Flaky()
    assert await _run(call) == "ok" and call.calls == 1


async def test_retryable_failures_are_retried_until_success() -> None:
    call = Flaky(BadGateway("down"), BadGateway("still down"))
    assert await _run(call, attempts=3) == "ok" and call.calls == 3


async def test_attempts_bound_the_tries_and_the_last_error_is_raised() -> None:
    call = Flaky(BadGateway("one"), BadGateway("two"), BadGateway("three"))
    with pytest.raises(BadGateway, match="two"):
        await _run(call, attempts=2)
    assert call.calls == 2


async def test_one_attempt_means_no_retry() -> None:
    call = Flaky(BadGateway("down"))
    with pytest.raises(BadGateway):
        await _run(call, attempts=1)
    assert call.calls == 1


async def test_client_errors_are_not_retried() -> None:
    call = Flaky(BadRequest("bad"))
    with pytest.raises(BadRequest):
        await _run(call)
    assert call.calls == 1


async def test_a_long_retry_after_goes_elsewhere_at_once() -> None:
    call = Flaky(RateLimited("slow down", retry_after_s=30))
    with pytest.raises(RateLimited):
        await _run(call)
    assert call.calls == 1


async def test_a_passed_deadline_stops_the_retries() -> None:
    call = Flaky(BadGateway("down"), BadGateway("down"))
    with pytest.raises(BadGateway):
        await _run(call, attempts=5, deadline_s=0.0)
    assert call.calls == 1
