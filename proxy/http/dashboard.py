"""The dashboard over HTTP: the page at /ui and the JSON it draws, under /ui/api (HTTP only; `insights.py` computes).

    GET /ui/                    the page: HTML, CSS and JavaScript shipped in proxy/http/ui (no build step, no network)
    GET /ui/api/overview        the router model version in use, aliases, backends and their live speed
    GET /ui/api/traffic         calls per backend, over time and per task type      ?since&until&bucket_s
    GET /ui/api/savings         realised cost vs always-strongest / always-cheapest   ?since&until
    GET /ui/api/accuracy        predicted vs observed latency and cost                ?since&until
    GET /ui/api/calibration     predicted P(acceptable) vs labels                     ?since&until&bins
    GET /ui/api/calls           the latest calls                                      ?since&until&limit
    GET /ui/api/calls/{id}      one call in full (bodies with secrets redacted)

The page itself holds no data, so anyone may load it; every /ui/api endpoint needs the admin key as soon
as the proxy has client keys or an admin key (the page asks for it and sends it as a bearer token). An
open proxy (the demo) has an open dashboard. `since` and `until` are unix seconds.
"""

from __future__ import annotations

import asyncio
import math
import os
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from proxy import __version__
from proxy.errors import BadRequest, NotFound
from proxy.http.auth import KeyRing
from proxy.log import insights
from proxy.log.records import LoggedCall, LogStore
from proxy.pipeline import Pipeline
from proxy.route.features import VERSION as FEATURE_VERSION

UI_DIR = Path(__file__).resolve().parent / "ui"
WINDOW_CALLS = 50_000  # aggregates read at most this many of the window's latest calls
# The page may talk to this server only: no CDN, no third-party request, no inline script.
UI_HEADERS = {
    "content-security-policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-cache",
}


def routes() -> list[BaseRoute]:
    window = ("since", "until")
    return [
        Route("/ui/api/overview", overview, methods=["GET"]),
        Route("/ui/api/traffic", _aggregate(_traffic, (*window, "bucket_s")), methods=["GET"]),
        Route("/ui/api/savings", _aggregate(lambda calls, q: insights.savings(calls), window), methods=["GET"]),
        Route("/ui/api/accuracy", _aggregate(lambda calls, q: insights.accuracy(calls), window), methods=["GET"]),
        Route("/ui/api/calibration", _aggregate(_calibration, (*window, "bins")), methods=["GET"]),
        Route("/ui/api/calls", latest_calls, methods=["GET"]),
        Route("/ui/api/calls/{call_id}", one_call, methods=["GET"]),
        Route("/ui", to_page, methods=["GET"]),
        Mount("/ui", app=UiFiles(directory=UI_DIR, html=True), name="ui"),
    ]


class UiFiles(StaticFiles):
    """The page's files, each sent with headers that keep it offline and un-framed."""

    def file_response(
        self, full_path: str | os.PathLike[str], stat_result: os.stat_result, scope: Scope, status_code: int = 200
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers.update(UI_HEADERS)
        return response


async def to_page(request: Request) -> Response:
    return RedirectResponse("/ui/")


def require_viewer(request: Request) -> None:
    """The admin key, unless the proxy is open (no client keys and no admin key: the demo)."""
    ring: KeyRing = request.app.state.keyring
    if ring.enabled or ring.settings.admin_sha256 is not None:
        ring.require_admin(request.headers)


async def overview(request: Request) -> Response:
    require_viewer(request)
    _query(request, ())
    pipeline: Pipeline = request.app.state.pipeline
    config = pipeline.config
    return JSONResponse(
        {
            "object": "dashboard.overview",
            "version": __version__,
            "model_version": pipeline.router.scorer.version,
            "feature_version": FEATURE_VERSION,
            "aliases": [{"name": a.name, "candidates": list(a.candidates)} for a in config.aliases],
            "backends": [b.name for b in config.backends],
            "live_speed": pipeline.router.live_speeds(),
            "auth": {"keys": request.app.state.keyring.enabled, "admin": config.auth.admin_sha256 is not None},
        }
    )


Compute = Callable[[list[LoggedCall], dict[str, Any]], dict[str, Any]]


def _traffic(calls: list[LoggedCall], q: dict[str, Any]) -> dict[str, Any]:
    return insights.traffic(calls, q.get("bucket_s"))


def _calibration(calls: list[LoggedCall], q: dict[str, Any]) -> dict[str, Any]:
    return insights.calibration(calls, q.get("bins", 10))


def _aggregate(compute: Compute, params: Sequence[str]) -> Callable[[Request], Awaitable[Response]]:
    """An endpoint computing one aggregate over the calls of the window the query names."""

    async def endpoint(request: Request) -> Response:
        require_viewer(request)
        q = _query(request, params)
        store: LogStore = request.app.state.store
        calls = await store.read_calls(since=q.get("since"), until=q.get("until"), limit=WINDOW_CALLS)
        window = {"since": q.get("since"), "until": q.get("until"), "truncated": len(calls) >= WINDOW_CALLS}
        result = await asyncio.to_thread(compute, calls, q)  # CPU work over many calls: off the event loop
        return JSONResponse({**result, "window": window})

    return endpoint


async def latest_calls(request: Request) -> Response:
    require_viewer(request)
    q = _query(request, ("since", "until", "limit"))
    store: LogStore = request.app.state.store
    calls = await store.read_calls(since=q.get("since"), until=q.get("until"), limit=q.get("limit") or 50)
    return JSONResponse({"object": "list", "data": [insights.call_summary(c) for c in calls]})


async def one_call(request: Request) -> Response:
    require_viewer(request)
    _query(request, ())
    call_id = request.path_params["call_id"]
    store: LogStore = request.app.state.store
    found = await store.read_calls(call_id=call_id, limit=1)
    if not found:
        raise NotFound(f"No logged call has request id '{call_id}'.", param="call_id", code="call_not_found")
    return JSONResponse(insights.call_detail(found[0], request.app.state.redactor))


# name -> (parse, low, high): every query parameter the endpoints take, and its bounds.
_PARAMS: dict[str, tuple[Callable[[str], Any], float, float]] = {
    "since": (float, 0, 1e11),
    "until": (float, 0, 1e11),
    "bucket_s": (int, 1, 366 * 86400),
    "bins": (int, 2, 50),
    "limit": (int, 1, 500),
}


def _query(request: Request, allowed: Sequence[str]) -> dict[str, Any]:
    """The query parameters, each one of `allowed`, parsed and bounded; 400 naming the first bad one."""
    out: dict[str, Any] = {}
    for name, raw in request.query_params.multi_items():
        if name not in allowed:
            raise BadRequest(f"Unknown query parameter '{name}'.", param=name)
        if name in out:
            raise BadRequest(f"Query parameter '{name}' is given twice.", param=name)
        parse, low, high = _PARAMS[name]
        try:
            value = parse(raw)
        except ValueError:
            kind = "an integer" if parse is int else "a number"
            raise BadRequest(f"'{name}' must be {kind}, not {raw[:40]!r}.", param=name) from None
        if not math.isfinite(value) or not low <= value <= high:
            raise BadRequest(f"'{name}' must be a finite number from {low:g} to {high:g}.", param=name)
        out[name] = value
    if "since" in out and "until" in out and out["until"] <= out["since"]:
        raise BadRequest("'until' must be later than 'since'.", param="until")
    return out
