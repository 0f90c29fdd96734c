"""Admission to /v1: who is calling, is it within its rate, and is there a slot for it in flight.

A pure ASGI middleware, so a refusal costs microseconds: no body is read, nothing is routed. In order:

1. the caller's key (401 for a missing or wrong one when keys are on; the admin key passes as "admin" where
   it has a role: /v1/feedback);
2. for POST endpoints (the ones that do work), one request charged to the key's rate limit and checked
   against its budget (429), before its body is read, so a key past its rate cannot hold a slot;
3. a slot in flight: the key's own share (`server.max_in_flight_per_key`, else 429) and the global bound
   (`server.max_in_flight`, else 503 with Retry-After). A streamed response holds its slot until its last byte.

Slots used to be taken before anything else: 600 connections trickling their bodies from one key held
every slot, and every other key got 503. Now such a key fills only its own share, and the body read
timeout (`http/body.py`) frees each slot within `server.body_timeout_s`.

The handlers find the caller in `request.state.api_key` (None when keys are off) and `request.state.admin`.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from proxy.errors import ProxyError, RateLimited, ServiceUnavailable, Unauthorized
from proxy.settings import ApiKey

ADMIN = "admin"  # the admin key's bucket of slots
ADMIN_PATHS = frozenset({"/v1/feedback"})  # the /v1 endpoints the admin key may call (a label for any call)
ANONYMOUS = ""  # callers when keys are off: only the global bound applies


class InFlightLimit:
    def __init__(self, app: ASGIApp, limit: int, per_key: int | None = None) -> None:
        self.app = app
        self.limit = limit
        self.per_key = per_key or limit
        self.in_flight = 0
        self.by_key: Counter[str] = Counter()
        self.refused = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/v1/"):
            await self.app(scope, receive, send)
            return
        app: Any = scope["app"]
        try:
            key, admin = _caller(app, Headers(scope=scope), admin_allowed=scope["path"] in ADMIN_PATHS)
            if scope["method"] == "POST" and not admin:
                await app.state.pipeline.meter.admit(key)
            bucket = ADMIN if admin else (key.id if key is not None else ANONYMOUS)
            self._check_slot(key, bucket)
        except ProxyError as exc:
            await _refuse(exc, scope, receive, send)
            return
        state = scope.setdefault("state", {})
        state["api_key"], state["admin"] = key, admin
        self.in_flight += 1
        self.by_key[bucket] += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1
            self.by_key[bucket] -= 1
            if not self.by_key[bucket]:
                del self.by_key[bucket]

    def _check_slot(self, key: ApiKey | None, bucket: str) -> None:
        if bucket != ANONYMOUS and self.by_key[bucket] >= self.per_key:
            self.refused += 1
            who = f"API key '{key.id}'" if key is not None else "This caller"
            raise RateLimited(
                f"{who} is at its limit of {self.per_key} requests in flight; retry shortly.",
                code="too_many_in_flight",
                retry_after_s=1.0,
            )
        if self.in_flight >= self.limit:
            self.refused += 1
            raise ServiceUnavailable(
                "The proxy is at its limit of requests in flight; retry shortly.", code="overloaded", retry_after_s=1.0
            )


def _caller(app: Any, headers: Headers, *, admin_allowed: bool) -> tuple[ApiKey | None, bool]:
    """The caller's key and whether it is the admin key (where the admin may call); 401 for anyone else
    when keys are on."""
    keyring = app.state.keyring
    try:
        return keyring.identify(headers), False
    except Unauthorized:
        if admin_allowed and keyring.is_admin(headers):
            return None, True
        raise


async def _refuse(exc: ProxyError, scope: Scope, receive: Receive, send: Send) -> None:
    response = JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers())
    await response(scope, receive, send)
