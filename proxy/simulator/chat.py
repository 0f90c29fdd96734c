"""POST /v1/chat/completions: plan the model's behaviour, then answer whole or as a paced SSE stream."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Sequence

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from proxy.simulator.answers import ChoiceResult, make_choice, prompt_tokens
from proxy.simulator.behaviour import Plan, plan
from proxy.simulator.chat_request import SimChatRequest, parse_chat
from proxy.simulator.faults import Fault
from proxy.simulator.judge import JUDGE_MODEL, judge_reply
from proxy.simulator.profiles import ModelProfile
from proxy.simulator.recorder import StreamOutcome
from proxy.simulator.render import Envelope, Frame, completion_body, stream_frames
from proxy.simulator.state import received_json, sim_state
from proxy.simulator.streaming import CutShortResponse, DropConnection, EventStream
from proxy.simulator.words import count_tokens

# What a broken upstream writes instead of a JSON object: the start of one, never closed.
MALFORMED = b'{"id": "chatcmpl-malformed", "choices": [{"delta": {"content": "'

# Sleeps shorter than this are batched with the next one: asyncio timers are not that precise.
_MIN_SLEEP_S = 0.005


async def chat_completions(request: Request) -> Response:
    sim = sim_state(request)
    chat = parse_chat(await received_json(request, sim))
    if chat.model == JUDGE_MODEL:
        return _judge(chat, sim.settings.seed)
    profile = sim.profile(chat.model)
    fault = sim.faults.take((chat.model, profile.name), "chat") or chat.fault or Fault()
    if fault.delay_s:
        await asyncio.sleep(fault.delay_s)
    error = fault.error()
    if error is not None:
        raise error
    seed, speed = sim.settings.seed, sim.settings.speed
    n_prompt = prompt_tokens(chat)
    behaviour = plan(chat, profile, sim.profiles, sim.known, seed, n_prompt)
    choices = [
        make_choice(chat, i, behaviour.target_chars, behaviour.family, seed, behaviour.acceptable)
        for i in range(chat.n)
    ]
    env = Envelope(f"chatcmpl-{uuid.uuid4().hex[:24]}", int(time.time()), chat.model)
    headers = _sim_headers(behaviour, profile)
    ttft_wall = fault.ttft_s if fault.ttft_s is not None else behaviour.ttft_s * speed * fault.slowdown
    seconds_per_token = speed * fault.slowdown / behaviour.tokens_per_s
    if chat.stream:
        frames = stream_frames(env, choices, n_prompt, chat.include_usage)
        body = _paced(frames, ttft_wall, seconds_per_token / len(choices), fault)
        started = time.time()

        def record(outcome: str) -> None:
            sim.streams.add(StreamOutcome(chat.model, started, time.time(), outcome))

        return EventStream(body, headers, on_end=record)
    await asyncio.sleep(ttft_wall + max(c.completion_tokens for c in choices) * seconds_per_token)
    sim_field = {
        "acceptable": behaviour.acceptable,
        "label_source": behaviour.label_source,
        "task_family": behaviour.family,
        "length_source": behaviour.length_source,
        "speed_source": profile.latency.measured_as,
    }
    payload = completion_body(env, choices, n_prompt, sim_field)
    if fault.disconnect_after_chunks is not None:
        return CutShortResponse(json.dumps(payload).encode("utf-8"), 200, headers)
    if fault.malformed_after_chunks is not None:
        return Response(MALFORMED, 200, headers, media_type="application/json")
    return JSONResponse(payload, headers=headers)


def _judge(chat: SimChatRequest, seed: int) -> Response:
    """The simulated judge answers at once, whole or streamed."""
    reply = judge_reply(chat.all_text, seed)
    choice = ChoiceResult(0, reply, (), "stop", count_tokens(reply), None)
    env = Envelope(f"chatcmpl-{uuid.uuid4().hex[:24]}", int(time.time()), chat.model)
    n_prompt = prompt_tokens(chat)
    if chat.stream:
        frames = stream_frames(env, [choice], n_prompt, chat.include_usage)
        return EventStream(_paced(frames, 0.0, 0.0, Fault()), {})
    return JSONResponse(completion_body(env, [choice], n_prompt, {"judge": True}))


def _sim_headers(behaviour: Plan, profile: ModelProfile) -> dict[str, str]:
    return {
        "x-sim-speed-source": profile.latency.measured_as,
        "x-sim-acceptable": "1" if behaviour.acceptable else "0",
        "x-sim-label-source": behaviour.label_source,
        "x-sim-task-family": behaviour.family,
        "x-sim-length-source": behaviour.length_source,
    }


async def _paced(
    frames: Sequence[Frame], ttft_s: float, seconds_per_token: float, fault: Fault
) -> AsyncIterator[bytes]:
    loop = asyncio.get_running_loop()
    if ttft_s > 0:
        await asyncio.sleep(ttft_s)
    start, due = loop.time(), 0.0
    for sent, frame in enumerate(frames):
        if fault.disconnect_after_chunks is not None and sent >= fault.disconnect_after_chunks:
            raise DropConnection
        if sent == fault.stall_after_chunks:
            await asyncio.sleep(fault.stall_s)
            start += fault.stall_s
        due += frame.tokens * seconds_per_token
        wait = start + due - loop.time()
        if wait > _MIN_SLEEP_S:
            await asyncio.sleep(wait)
        if sent == fault.malformed_after_chunks:
            yield b"data: " + MALFORMED + b"\n\n"
        yield b"data: " + json.dumps(frame.chunk, separators=(",", ":")).encode("utf-8") + b"\n\n"
    yield b"data: [DONE]\n\n"
