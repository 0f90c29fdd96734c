"""Responses API <-> chat completions, both ways, without a server."""

from __future__ import annotations

from typing import Any

import pytest

from proxy import jsonio
from proxy.dialects import responses_api, responses_stream
from proxy.dialects.response_store import ResponseStore, Stored
from proxy.errors import BadGateway, BadRequest
from proxy.upstream.forward import StreamChunk

TOOL = {"type": "function", "name": "f", "parameters": {"type": "object"}, "strict": True}


def test_items_instructions_tools_and_format_become_a_chat_body() -> None:
    body = {
        "model": "router",
        "instructions": "Be brief.",
        "input": [
            {"role": "developer", "content": "Use metric units."},
            {"role": "user", "content": [{"type": "input_text", "text": "Weather?"}]},
            {"type": "reasoning", "id": "rs_1", "summary": []},
            {"type": "function_call", "call_id": "call_1", "name": "f", "arguments": '{"a":1}'},
            {"type": "function_call", "call_id": "call_2", "name": "f", "arguments": '{"a":2}'},
            {"type": "function_call_output", "call_id": "call_1", "output": "one"},
            {"type": "function_call_output", "call_id": "call_2", "output": [{"type": "input_text", "text": "two"}]},
        ],
        "tools": [TOOL],
        "tool_choice": {"type": "function", "name": "f"},
        "text": {"format": {"type": "json_schema", "name": "out", "schema": {"type": "object"}, "strict": True}},
        "max_output_tokens": 50,
        "reasoning": {"effort": "low"},
        "metadata": {"k": "v"},
        "stream": True,
    }
    request = responses_api.to_chat(body)
    assert request.chat == {
        "model": "router",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "system", "content": "Use metric units."},
            {"role": "user", "content": [{"type": "text", "text": "Weather?"}]},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": '{"a":1}'}},
                    {"id": "call_2", "type": "function", "function": {"name": "f", "arguments": '{"a":2}'}},
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "one"},
            {"role": "tool", "tool_call_id": "call_2", "content": "two"},
        ],
        "stream": True,
        "max_tokens": 50,
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}, "strict": True}}],
        "tool_choice": {"type": "function", "function": {"name": "f"}},
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "out", "schema": {"type": "object"}, "strict": True},
        },
        "reasoning_effort": "low",
    }
    assert request.history == request.chat["messages"][1:]  # the instructions are not part of the conversation
    assert request.echo["metadata"] == {"k": "v"} and request.store


@pytest.mark.parametrize(
    "change,param",
    [
        ({"tools": [{"type": "file_search"}]}, "tools[0]"),
        ({"input": [{"type": "item_reference", "id": "x"}]}, "input[0]"),
        ({"input": [{"role": "user", "content": [{"type": "input_file", "file_id": "f"}]}]}, "input[0].content[0]"),
        ({"input": 3}, "input"),
        ({"background": True}, "background"),
        ({"text": {"format": {"type": "yaml"}}}, "text.format"),
    ],
)
def test_what_cannot_be_served_is_a_400_naming_the_field(change: dict[str, Any], param: str) -> None:
    with pytest.raises(BadRequest) as info:
        responses_api.to_chat({"model": "m", "input": "hi", **change})
    assert info.value.param == param


def test_the_answer_comes_back_as_a_response_and_continues_as_chat() -> None:
    request = responses_api.to_chat({"model": "cheap", "input": "hi", "store": False})
    completion = {
        "model": "cheap",
        "choices": [
            {
                "index": 0,
                "finish_reason": "tool_calls",
                "message": {
                    "content": "Calling.",
                    "tool_calls": [{"id": "call_9", "function": {"name": "f", "arguments": "{}"}}],
                },
            }
        ],
        "usage": {"prompt_tokens": 4, "completion_tokens": 3, "prompt_tokens_details": {"cached_tokens": 2}},
    }
    response = responses_api.from_chat(completion, request, "resp_X", 100)
    assert response["id"] == "resp_X" and response["status"] == "completed" and response["store"] is False
    assert response["output"] == [
        {
            "type": "message",
            "id": "msg_X",
            "status": "completed",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "Calling.", "annotations": [], "logprobs": []}],
        },
        {
            "type": "function_call",
            "id": "fc_9",
            "call_id": "call_9",
            "name": "f",
            "arguments": "{}",
            "status": "completed",
        },
    ]
    assert response["usage"] == {
        "input_tokens": 4,
        "input_tokens_details": {"cached_tokens": 2},
        "output_tokens": 3,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 7,
    }
    assert responses_api.output_messages(response) == [
        {
            "role": "assistant",
            "content": "Calling.",
            "tool_calls": [{"id": "call_9", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
        }
    ]


def events(raw: bytes) -> list[dict[str, Any]]:
    out = []
    for block in raw.decode().strip().split("\n\n"):
        name, data = block.split("\n")
        payload = jsonio.loads(data.removeprefix("data: "))
        assert payload["type"] == name.removeprefix("event: ")
        out.append(payload)
    return out


def test_the_stream_is_the_responses_event_sequence() -> None:
    request = responses_api.to_chat({"model": "cheap", "input": "hi"})
    finals: list[dict[str, Any]] = []
    writer = responses_stream.ResponsesWriter(request, "resp_S", 1, on_done=finals.append)
    chunks: list[dict[str, Any]] = [
        {"model": "cheap", "choices": [{"index": 0, "delta": {"role": "assistant", "content": "He"}}]},
        {"choices": [{"index": 0, "delta": {"content": "y"}}]},
        {"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "id": "call_1", "function": {"name": "f"}}]}}]},
        {"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": "{}"}}]}}]},
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]},
        {"choices": [], "usage": {"prompt_tokens": 2, "completion_tokens": 3}},
    ]
    raw = b"".join(e for c in chunks if (e := writer.chunk(StreamChunk(c))) is not None) + writer.done()
    got = events(raw)
    assert [e["type"] for e in got] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [e["sequence_number"] for e in got] == list(range(len(got)))
    assert got[0]["response"]["status"] == "in_progress" and got[0]["response"]["output"] == []
    assert got[2]["item"]["content"] == [] and got[9]["item"]["arguments"] == ""  # as they stood then
    assert got[6]["text"] == "Hey" and got[11]["arguments"] == "{}" and got[9]["output_index"] == 1
    assert got[5] == {
        "type": "response.output_text.delta",
        "sequence_number": 5,
        "item_id": "msg_S",
        "output_index": 0,
        "content_index": 0,
        "delta": "y",
        "logprobs": [],
    }
    final = got[-1]["response"]
    assert final == finals[0] and final["usage"]["total_tokens"] == 5
    assert [item["type"] for item in final["output"]] == ["message", "function_call"]


def test_a_failure_mid_stream_is_an_error_event_the_sdks_raise() -> None:
    writer = responses_stream.ResponsesWriter(responses_api.to_chat({"model": "m", "input": "hi"}), "resp_E", 1)
    (event,) = events(writer.failed(BadGateway("upstream went away", code="upstream_error")))
    assert event["message"] == "upstream went away" and event["error"]["code"] == "upstream_error"


def test_the_store_keeps_the_latest_and_each_for_its_own_key() -> None:
    store = ResponseStore(capacity=2)
    for n in range(3):
        store.put(Stored({"id": f"resp_{n}"}, [], "team"))
    assert store.get("resp_0", "team") is None and store.get("resp_2", "team") is not None
    assert store.get("resp_2", "other") is None
