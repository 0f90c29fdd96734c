"""POST /v1/chat/completions: plan the model's behaviour, then answer whole or as a paced SSE stream.

The plan (`Reply`) and the pacing (`paced`) serve the other wire formats too (messages.py, responses.py)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from proxy.simulator.answers import ChoiceResult, make_choice, prompt_tokens
from proxy.simulator.behaviour import Plan, plan
from proxy.simulator.chat_request import SimChatRequest, parse_chat
from proxy.simulator.faults import Fault
from proxy.simulator.judge import JUDGE_MODEL, judge_reply
from proxy.simulator.recorder import StreamOutcome
from proxy.simulator.render import Envelope, Frame, completion_body, stream_frames
from proxy.simulator.state import SimState, received_json, sim_state
from proxy.simulator.streaming import CutShortResponse, DropConnection, EventStream
from proxy.simulator.words import count_tokens

# What a broken upstream writes instead of a JSON object: the start of one, never closed.
MALFORMED = b'{"id": "chatcmpl-malformed", "choices": [{"delta": {"content": "'

# Sleeps shorter than this are batched with the next one: asyncio timers are not that precise.
_MIN_SLEEP_S = 0.005


@dataclass(frozen=True)
class Reply:
    """A planned answer, whatever the wire format it goes out in: its choices, how fast, which fault."""

    chat: SimChatRequest
    env: Envelope
    choices: list[ChoiceResult]
    prompt_tokens: int
    behaviour: Plan
    fault: Fault
    ttft_s: float  # wall seconds before the first token
    seconds_per_token: float
    speed_source: str  # the measured model whose speed was played (`ModelProfile.latency.measured_as`)

    @property
    def headers(self) -> dict[str, str]:
        return {
            "x-sim-speed-source": self.speed_source,
            "x-sim-acceptable": "1" if self.behaviour.acceptable else "0",
            "x-sim-label-source": self.behaviour.label_source,
            "x-sim-task-family": self.behaviour.family,
            "x-sim-length-source": self.behaviour.length_source,
        }

    @property
    def seconds(self) -> float:
        """The whole answer's wall time, for a non-streamed response."""
        return self.ttft_s + max(c.completion_tokens for c in self.choices) * self.seconds_per_token

    def on_end(self, sim: SimState) -> Callable[[str], None]:
        started = time.time()

        def record(outcome: str) -> None:
            sim.streams.add(StreamOutcome(self.chat.model, started, time.time(), outcome))

        return record


async def plan_reply(sim: SimState, chat: SimChatRequest) -> Reply:
    """Plan the answer to a chat request (whatever wire format it came in: faults queued for "chat" apply to
    all), after the fault's delay; the fault's error status is raised here."""
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
    ttft_wall = fault.ttft_s if fault.ttft_s is not None else behaviour.ttft_s * speed * fault.slowdown
    seconds_per_token = speed * fault.slowdown / behaviour.tokens_per_s
    return Reply(
        chat, env, choices, n_prompt, behaviour, fault, ttft_wall, seconds_per_token, profile.latency.measured_as
    )


async def chat_completions(request: Request) -> Response:
    sim = sim_state(request)
    chat = parse_chat(await received_json(request, sim))
    if chat.model == JUDGE_MODEL:
        return _judge(chat, sim.settings.seed)
    reply = await plan_reply(sim, chat)
    fault, headers = reply.fault, reply.headers
    if chat.stream:
        frames = stream_frames(reply.env, reply.choices, reply.prompt_tokens, chat.include_usage)
        body = paced(_chat_events(frames), reply.ttft_s, reply.seconds_per_token / len(reply.choices), fault)
        return EventStream(body, headers, on_end=reply.on_end(sim))
    await asyncio.sleep(reply.seconds)
    sim_field = {
        "acceptable": reply.behaviour.acceptable,
        "label_source": reply.behaviour.label_source,
        "task_family": reply.behaviour.family,
        "length_source": reply.behaviour.length_source,
        "speed_source": reply.speed_source,
    }
    payload = completion_body(reply.env, reply.choices, reply.prompt_tokens, sim_field)
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
        return EventStream(paced(_chat_events(frames), 0.0, 0.0, Fault()), {})
    return JSONResponse(completion_body(env, [choice], n_prompt, {"judge": True}))


def _chat_events(frames: Sequence[Frame]) -> list[tuple[int, bytes]]:
    events = [
        (f.tokens, b"data: " + json.dumps(f.chunk, separators=(",", ":")).encode("utf-8") + b"\n\n") for f in frames
    ]
    return [*events, (0, b"data: [DONE]\n\n")]


async def paced(
    events: Sequence[tuple[int, bytes]], ttft_s: float, seconds_per_token: float, fault: Fault
) -> AsyncIterator[bytes]:
    """Write (tokens, event bytes) pairs as a model would produce them: each event once its tokens are due."""
    loop = asyncio.get_running_loop()
    if ttft_s > 0:
        await asyncio.sleep(ttft_s)
    start, due = loop.time(), 0.0
    for sent, (tokens, event) in enumerate(events):
        if fault.disconnect_after_chunks is not None and sent >= fault.disconnect_after_chunks:
            raise DropConnection
        if sent == fault.stall_after_chunks:
            await asyncio.sleep(fault.stall_s)
            start += fault.stall_s
        due += tokens * seconds_per_token
        wait = start + due - loop.time()
        if wait > _MIN_SLEEP_S:
            await asyncio.sleep(wait)
        if sent == fault.malformed_after_chunks:
            yield b"data: " + MALFORMED + b"\n\n"
        yield event
