"""Anthropic Messages <-> chat completions, both ways, without a server."""

from __future__ import annotations

from typing import Any

import pytest

from proxy import jsonio
from proxy.dialects import anthropic
from proxy.errors import BadRequest, RateLimited
from proxy.upstream.forward import StreamChunk

OSLO_CALL = {"name": "weather", "arguments": '{"city":"Oslo"}'}
WEATHER = {"name": "weather", "description": "Weather in a city", "input_schema": {"type": "object"}}


def test_a_conversation_with_system_images_and_a_tool_round_trip() -> None:
    body = {
        "model": "router",
        "max_tokens": 100,
        "system": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Weather here?"},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "AAAA"}},
                ],
            },
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "hm", "signature": "s"},
                    {"type": "text", "text": "Checking."},
                    {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {"city": "Oslo"}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": [{"type": "text", "text": "-3C"}]},
                    {"type": "text", "text": "And tomorrow?"},
                ],
            },
        ],
        "tools": [WEATHER],
        "tool_choice": {"type": "any", "disable_parallel_tool_use": True},
        "stop_sequences": ["END"],
        "top_k": 5,
        "metadata": {"user_id": "u1"},
        "stream": True,
    }
    assert anthropic.to_chat(body) == {
        "model": "router",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Weather here?"},
                    {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,AAAA"}},
                ],
            },
            {
                "role": "assistant",
                "content": "Checking.",
                "tool_calls": [{"id": "toolu_1", "type": "function", "function": OSLO_CALL}],
            },
            {"role": "tool", "tool_call_id": "toolu_1", "content": "-3C"},
            {"role": "user", "content": [{"type": "text", "text": "And tomorrow?"}]},
        ],
        "max_tokens": 100,
        "stream": True,
        "stop": ["END"],
        "user": "u1",
        "tools": [
            {
                "type": "function",
                "function": {"name": "weather", "parameters": {"type": "object"}, "description": "Weather in a city"},
            }
        ],
        "tool_choice": "required",
        "parallel_tool_calls": False,
    }


@pytest.mark.parametrize(
    "change,param",
    [
        ({"tools": [{"type": "web_search_20250305", "name": "web_search"}]}, "tools[0]"),
        ({"messages": [{"role": "user", "content": [{"type": "document", "source": {}}]}]}, "messages[0].content[0]"),
        ({"messages": [{"role": "system", "content": "x"}]}, "messages[0]"),
        ({"messages": []}, "messages"),
        ({"tool_choice": {"type": "sometimes"}}, "tool_choice"),
    ],
)
def test_what_cannot_be_served_is_a_400_naming_the_field(change: dict[str, Any], param: str) -> None:
    body = {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}], **change}
    with pytest.raises(BadRequest) as info:
        anthropic.to_chat(body)
    assert info.value.param == param


def test_the_answer_comes_back_as_a_message_with_blocks_and_stop_reason() -> None:
    completion = {
        "id": "chatcmpl-9",
        "model": "cheap",
        "choices": [
            {
                "index": 0,
                "finish_reason": "tool_calls",
                "message": {
                    "role": "assistant",
                    "content": "Let me look.",
                    "tool_calls": [
                        {"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": '{"a":1}'}}
                    ],
                },
            }
        ],
        "usage": {"prompt_tokens": 11, "completion_tokens": 4},
    }
    assert anthropic.from_chat(completion) == {
        "id": "msg_9",
        "type": "message",
        "role": "assistant",
        "model": "cheap",
        "content": [
            {"type": "text", "text": "Let me look."},
            {"type": "tool_use", "id": "call_1", "name": "weather", "input": {"a": 1}},
        ],
        "stop_reason": "tool_use",
        "stop_sequence": None,
        "usage": {"input_tokens": 11, "output_tokens": 4},
    }


def events(raw: bytes) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for block in raw.decode().strip().split("\n\n"):
        name, data = block.split("\n")
        out.append((name.removeprefix("event: "), jsonio.loads(data.removeprefix("data: "))))
    return out


def test_the_stream_is_anthropics_event_sequence_with_usage_at_the_end() -> None:
    writer = anthropic.MessagesWriter()
    chunks: list[dict[str, Any]] = [
        {"id": "chatcmpl-1", "model": "cheap", "choices": [{"index": 0, "delta": {"role": "assistant"}}]},
        {"id": "chatcmpl-1", "choices": [{"index": 0, "delta": {"content": "Hi"}}]},
        {"id": "chatcmpl-1", "choices": [{"index": 0, "delta": {"content": "!"}}]},
        {
            "choices": [
                {
                    "index": 0,
                    "delta": {"tool_calls": [{"index": 0, "id": "c1", "function": {"name": "f", "arguments": ""}}]},
                }
            ]
        },
        {"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": '{"x":'}}]}}]},
        {"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": "2}"}}]}}]},
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]},
        {"choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 5}},
    ]
    raw = b"".join(e for c in chunks if (e := writer.chunk(StreamChunk(c))) is not None) + writer.done()
    got = events(raw)
    assert [name for name, _ in got] == [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert all(data["type"] == name for name, data in got)
    assert got[0][1]["message"]["id"] == "msg_1" and got[0][1]["message"]["model"] == "cheap"
    assert got[5][1] == {
        "type": "content_block_start",
        "index": 1,
        "content_block": {"type": "tool_use", "id": "c1", "name": "f", "input": {}},
    }
    assert got[7][1]["delta"] == {"type": "input_json_delta", "partial_json": "2}"}
    assert got[3][1] == {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "!"}}
    assert got[9][1] == {
        "type": "message_delta",
        "delta": {"stop_reason": "tool_use", "stop_sequence": None},
        "usage": {"input_tokens": 9, "output_tokens": 5},
    }


def test_errors_take_anthropics_shape() -> None:
    assert anthropic.error_body(RateLimited("slow down")) == {
        "type": "error",
        "error": {"type": "rate_limit_error", "message": "slow down"},
    }
    writer = anthropic.MessagesWriter()
    assert events(writer.failed(BadRequest("no")))[0][0] == "error"
