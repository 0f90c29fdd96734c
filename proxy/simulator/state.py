"""What one simulator app holds while it runs; lives on `app.state.sim`, built in the lifespan."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from proxy.simulator.errors import SimError, bad_request
from proxy.simulator.faults import FaultQueue
from proxy.simulator.labels import KnownPrompts
from proxy.simulator.profiles import ModelProfile, Profiles
from proxy.simulator.recorder import RequestLog, StreamLog
from proxy.simulator.settings import SimSettings


@dataclass
class SimState:
    settings: SimSettings
    profiles: Profiles
    known: KnownPrompts | None
    faults: FaultQueue
    requests: RequestLog
    streams: StreamLog

    def profile(self, model: str) -> ModelProfile:
        profile = self.profiles.get(model)
        if profile is None:
            raise SimError(
                404,
                f"The model `{model}` does not exist or you do not have access to it.",
                code="model_not_found",
                param="model",
            )
        return profile


def sim_state(request: Request) -> SimState:
    state = request.app.state.sim
    assert isinstance(state, SimState)
    return state


async def received_json(request: Request, sim: SimState) -> Any:
    """Record the request, check the API key, and return the parsed JSON body (400 when it is not JSON)."""
    raw = await request.body()
    try:
        body: Any = json.loads(raw)
        parsed = True
    except ValueError:
        body, parsed = raw.decode("utf-8", errors="replace"), False
    sim.requests.add(request.method, request.url.path, {k.lower(): v for k, v in request.headers.items()}, body)
    check_api_key(request, sim)
    if not parsed:
        raise bad_request("We could not parse the JSON body of your request.")
    return body


def check_api_key(request: Request, sim: SimState) -> None:
    """401 unless the request presents the configured key, as OpenAI's clients send it (a bearer token) or as
    Anthropic's do (`x-api-key`); the presented key is never echoed."""
    key = sim.settings.api_key
    headers = request.headers
    if key is not None and headers.get("authorization") != f"Bearer {key}" and headers.get("x-api-key") != key:
        raise SimError(401, "Incorrect API key provided.", code="invalid_api_key")
