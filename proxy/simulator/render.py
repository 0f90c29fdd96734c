"""OpenAI wire shapes: the chat.completion body and the chat.completion.chunk sequence of a stream."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from proxy.simulator.answers import ChoiceResult, TokenLogprob
from proxy.simulator.words import tokens

FINGERPRINT = "fp_switchyard_sim"


@dataclass(frozen=True)
class Envelope:
    id: str
    created: int
    model: str  # echoed as the client spelled it


def usage(prompt_tokens: int, choices: Sequence[ChoiceResult]) -> dict[str, int]:
    completion = sum(c.completion_tokens for c in choices)
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion, "total_tokens": prompt_tokens + completion}


def completion_body(
    env: Envelope, choices: Sequence[ChoiceResult], prompt_tokens: int, sim: dict[str, Any]
) -> dict[str, Any]:
    return {
        "id": env.id,
        "object": "chat.completion",
        "created": env.created,
        "model": env.model,
        "system_fingerprint": FINGERPRINT,
        "choices": [_choice(c) for c in choices],
        "usage": usage(prompt_tokens, choices),
        "sim": sim,
    }


def _choice(choice: ChoiceResult) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": choice.content, "refusal": None}
    if choice.tool_calls:
        message["tool_calls"] = [
            {"id": t.id, "type": "function", "function": {"name": t.name, "arguments": t.arguments}}
            for t in choice.tool_calls
        ]
    logprobs = None if choice.logprobs is None else {"content": _logprobs(choice.logprobs), "refusal": None}
    return {"index": choice.index, "message": message, "logprobs": logprobs, "finish_reason": choice.finish_reason}


def _logprobs(entries: Sequence[TokenLogprob]) -> list[dict[str, Any]]:
    return [
        {
            "token": e.token,
            "logprob": e.logprob,
            "bytes": list(e.token.encode("utf-8")),
            "top_logprobs": [{"token": t, "logprob": p, "bytes": list(t.encode("utf-8"))} for t, p in e.top],
        }
        for e in entries
    ]


@dataclass(frozen=True)
class Frame:
    tokens: int  # tokens generated for this frame: the pacing of the stream
    chunk: dict[str, Any]


def stream_frames(
    env: Envelope, choices: Sequence[ChoiceResult], prompt_tokens: int, include_usage: bool
) -> list[Frame]:
    """Every chunk of the stream in order. Choices advance together, one token-sized piece per step,
    as a server batching the n samples would send them."""
    per_choice = [_choice_deltas(c) for c in choices]
    frames = [
        Frame(0, _chunk(env, [_delta(c.index, d)], include_usage))
        for c, (d, _) in zip(choices, per_choice, strict=True)
    ]
    steps = max((len(rest) for _, rest in per_choice), default=0)
    for step in range(steps):
        for choice, (_, rest) in zip(choices, per_choice, strict=True):
            if step < len(rest):
                delta, logprobs = rest[step]
                frames.append(Frame(1, _chunk(env, [_delta(choice.index, delta, logprobs)], include_usage)))
    for choice in choices:
        frames.append(Frame(0, _chunk(env, [_delta(choice.index, {}, finish=choice.finish_reason)], include_usage)))
    if include_usage:
        final = _chunk(env, [], include_usage)
        final["usage"] = usage(prompt_tokens, choices)
        frames.append(Frame(0, final))
    return frames


def _choice_deltas(choice: ChoiceResult) -> tuple[dict[str, Any], list[tuple[dict[str, Any], Any]]]:
    """The opening delta (role) and the following (delta, logprobs) pieces of one choice."""
    if choice.tool_calls:
        first: dict[str, Any] = {"role": "assistant", "content": None, "tool_calls": []}
        rest: list[tuple[dict[str, Any], Any]] = []
        for i, call in enumerate(choice.tool_calls):
            opening = {"index": i, "id": call.id, "type": "function", "function": {"name": call.name, "arguments": ""}}
            if i == 0:
                first["tool_calls"].append(opening)
            else:
                rest.append(({"tool_calls": [opening]}, None))
            pieces = tokens(call.arguments)
            step = max(1, len(pieces) // 8)  # arguments arrive in a handful of fragments
            for start in range(0, len(pieces), step):
                fragment = "".join(pieces[start : start + step])
                rest.append(({"tool_calls": [{"index": i, "function": {"arguments": fragment}}]}, None))
        return first, rest
    pieces = tokens(choice.content or "")
    lp = choice.logprobs
    rest = [
        ({"content": piece}, None if lp is None else {"content": _logprobs([lp[i]]), "refusal": None})
        for i, piece in enumerate(pieces)
    ]
    return {"role": "assistant", "content": "", "refusal": None}, rest


def _delta(index: int, delta: dict[str, Any], logprobs: Any = None, finish: str | None = None) -> dict[str, Any]:
    return {"index": index, "delta": delta, "logprobs": logprobs, "finish_reason": finish}


def _chunk(env: Envelope, choices: list[dict[str, Any]], include_usage: bool) -> dict[str, Any]:
    chunk: dict[str, Any] = {
        "id": env.id,
        "object": "chat.completion.chunk",
        "created": env.created,
        "model": env.model,
        "system_fingerprint": FINGERPRINT,
        "choices": choices,
    }
    if include_usage:
        chunk["usage"] = None
    return chunk
