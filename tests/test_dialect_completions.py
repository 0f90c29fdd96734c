"""Legacy text completions <-> chat completions, both ways, without a server."""

from __future__ import annotations

import json
from typing import Any

import pytest

from proxy.dialects import completions
from proxy.errors import BadRequest
from proxy.upstream.forward import StreamChunk

CHAT_ANSWER: dict[str, Any] = {
    "id": "chatcmpl-abc",
    "object": "chat.completion",
    "created": 7,
    "model": "cheap",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": " world"},
            "finish_reason": "stop",
            "logprobs": {
                "content": [
                    {"token": " wor", "logprob": -0.1, "top_logprobs": [{"token": " wor", "logprob": -0.1}]},
                    {"token": "ld", "logprob": -0.2, "top_logprobs": [{"token": "ld", "logprob": -0.2}]},
                ]
            },
        }
    ],
    "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
}


def test_the_prompt_becomes_one_user_message_and_the_rest_passes() -> None:
    legacy = completions.to_chat({"model": "router", "prompt": "Hello", "max_tokens": 5, "stop": ["\n"], "seed": 1})
    assert legacy.chat == {
        "model": "router",
        "max_tokens": 5,
        "stop": ["\n"],
        "seed": 1,
        "messages": [{"role": "user", "content": "Hello"}],
    }
    assert completions.to_chat({"model": "m", "prompt": ["one"]}).prompt == "one"


@pytest.mark.parametrize(
    "body,param",
    [
        ({"model": "m"}, "prompt"),
        ({"model": "m", "prompt": ["a", "b"]}, "prompt"),
        ({"model": "m", "prompt": [1, 2, 3]}, "prompt"),
        ({"model": "m", "prompt": "a", "suffix": "z"}, "suffix"),
        ({"model": "m", "prompt": "a", "best_of": 3}, "best_of"),
        ({"model": "m", "prompt": "a", "logprobs": 9}, "logprobs"),
        ({"model": "m", "prompt": "a", "echo": "yes"}, "echo"),
    ],
)
def test_what_chat_cannot_do_is_refused_naming_the_field(body: dict[str, Any], param: str) -> None:
    with pytest.raises(BadRequest) as info:
        completions.to_chat(body)
    assert info.value.param == param


def test_the_answer_comes_back_as_text_with_echo_and_legacy_logprobs() -> None:
    legacy = completions.to_chat({"model": "cheap", "prompt": "Hello", "echo": True, "logprobs": 1})
    assert legacy.chat["logprobs"] is True and legacy.chat["top_logprobs"] == 1
    out = completions.from_chat(CHAT_ANSWER, legacy)
    assert out["id"] == "cmpl-abc" and out["object"] == "text_completion" and out["model"] == "cheap"
    choice = out["choices"][0]
    assert choice["text"] == "Hello world" and choice["finish_reason"] == "stop"
    assert choice["logprobs"] == {
        "tokens": [" wor", "ld"],
        "token_logprobs": [-0.1, -0.2],
        "top_logprobs": [{" wor": -0.1}, {"ld": -0.2}],
        "text_offset": [5, 9],
    }
    assert out["usage"] == CHAT_ANSWER["usage"]


def test_stream_chunks_become_text_chunks_and_usage_only_when_asked() -> None:
    legacy = completions.to_chat({"model": "cheap", "prompt": "Hi"})
    chunks = [
        {"id": "chatcmpl-1", "model": "cheap", "choices": [{"index": 0, "delta": {"role": "assistant"}}]},
        {"id": "chatcmpl-1", "model": "cheap", "choices": [{"index": 0, "delta": {"content": "Yo"}}]},
        {"id": "chatcmpl-1", "model": "cheap", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
        {"id": "chatcmpl-1", "model": "cheap", "choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": 1}},
    ]

    def events(include_usage: bool) -> list[dict[str, Any]]:
        writer = completions.CompletionsWriter(legacy, include_usage)
        out = [writer.chunk(StreamChunk(c)) for c in chunks]
        return [json.loads(e.removeprefix(b"data: ")) for e in out if e is not None]

    quiet = events(include_usage=False)
    assert [c["choices"][0]["text"] for c in quiet] == ["Yo", ""]
    assert quiet[-1]["choices"][0]["finish_reason"] == "stop" and quiet[0]["object"] == "text_completion"
    assert events(include_usage=True)[-1] == {
        "id": "cmpl-1",
        "object": "text_completion",
        "created": 0,
        "model": "cheap",
        "choices": [],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1},
    }
