"""What a simulated model says: content of a planned length, tool calls, JSON, stop and max_tokens."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass

from proxy.simulator.chat_request import SimChatRequest
from proxy.simulator.draws import normal, rng, unit
from proxy.simulator.judge import signature
from proxy.simulator.schema_values import value_for
from proxy.simulator.words import WORDS, count_tokens, filler, tokens


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: str  # JSON text


@dataclass(frozen=True)
class TokenLogprob:
    token: str
    logprob: float
    top: tuple[tuple[str, float], ...]


@dataclass(frozen=True)
class ChoiceResult:
    index: int
    content: str | None
    tool_calls: tuple[ToolCall, ...]
    finish_reason: str
    completion_tokens: int
    logprobs: tuple[TokenLogprob, ...] | None


def make_choice(
    request: SimChatRequest, index: int, target_chars: int, family: str, seed: int, acceptable: bool = True
) -> ChoiceResult:
    identity = (seed, request.model, request.prompt_key, request.seed, index)
    rand = rng("content", *identity)
    tool = _tool_to_call(request, seed)
    if tool is not None:
        name, parameters = tool
        arguments = json.dumps(value_for(parameters, rand), ensure_ascii=False)
        call = ToolCall(f"call_{rand.getrandbits(96):024x}", name, arguments)
        return ChoiceResult(index, None, (call,), "tool_calls", count_tokens(name + arguments), None)
    if request.response_format == "json_schema":
        text = json.dumps(value_for(request.response_schema or {}, rand), ensure_ascii=False)
    elif request.response_format == "json_object":
        text = json.dumps({"answer": filler(rand, max(8, target_chars)), "confidence": round(rand.random(), 2)})
    else:
        # Draw until the text's signature carries the verdict, for the simulated judge (see judge.py).
        for _ in range(32):
            text = _text(rand, target_chars, family)
            if signature(text) == acceptable:
                break
    text, finish = _apply_stop(text, request.stop)
    pieces = tokens(text)
    if request.max_tokens is not None and len(pieces) > request.max_tokens:
        pieces = pieces[: request.max_tokens]
        text, finish = "".join(pieces), "length"
    logprobs = _logprobs(pieces, request.top_logprobs, identity) if request.logprobs else None
    return ChoiceResult(index, text, (), finish, len(pieces), logprobs)


def _tool_to_call(request: SimChatRequest, seed: int) -> tuple[str, dict[str, object]] | None:
    """The tool a model would call, or None. With tool_choice "auto" it calls one unless the last message is
    already a tool result, so an agent loop ends with a text answer."""
    if not request.tools or request.tool_choice == "none":
        return None
    if request.tool_choice == "auto" and request.last_role == "tool":
        return None
    if request.tool_choice_name is not None:
        chosen = next(t for t in request.tools if t.name == request.tool_choice_name)
    else:
        pick = int(unit("tool", seed, request.model, request.prompt_key) * len(request.tools))
        chosen = request.tools[pick]
    return chosen.name, dict(chosen.parameters)


def _text(rand: random.Random, chars: int, family: str) -> str:
    if chars <= 3:
        return rand.choice("ABCD")  # multiple choice answered with a letter, as the data shows
    if family == "code" and chars > 60:
        # Fence and signature take about 50 characters, each comment line 57.
        body = "\n".join(f"    # {filler(rand, 50)}" for _ in range(max(1, round((chars - 50) / 57))))
        return f"```python\ndef solve(data):\n{body}\n    return data\n```"
    return filler(rand, chars)


def _apply_stop(text: str, stop: tuple[str, ...]) -> tuple[str, str]:
    cuts = [i for i in (text.find(s) for s in stop if s) if i >= 0]
    return (text[: min(cuts)], "stop") if cuts else (text, "stop")


def _logprobs(pieces: list[str], top_n: int, identity: tuple[object, ...]) -> tuple[TokenLogprob, ...]:
    result = []
    for position, piece in enumerate(pieces):
        chosen = -abs(normal("logprob", *identity, position)) * 0.4
        alternatives = []
        for rank in range(1, top_n):
            word = WORDS[int(unit("alt", *identity, position, rank) * len(WORDS))]
            alternatives.append((" " + word, chosen - rank * (1.0 + unit("gap", *identity, position, rank))))
        top = ((piece, chosen), *alternatives) if top_n else ()
        result.append(TokenLogprob(piece, round(chosen, 5), tuple((t, round(p, 5)) for t, p in top)))
    return tuple(result)


def prompt_tokens(request: SimChatRequest) -> int:
    # Chat formats add a few tokens per message for role markers.
    return count_tokens(request.all_text) + 4 * len(request.messages) + 3


def decode_seconds(choice: ChoiceResult, tokens_per_s: float) -> float:
    return choice.completion_tokens / max(1.0, tokens_per_s)
