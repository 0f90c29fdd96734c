from __future__ import annotations

from typing import Any

import pytest

from proxy.errors import BadRequest
from proxy.request import OPENAI_PARAMS, RESERVED, parse_chat, parse_json

HI = [{"role": "user", "content": "hi"}]


def chat(**fields: Any) -> dict[str, Any]:
    return {"model": "router", "messages": HI, **fields}


def test_params_extra_and_proxy_fields_are_separated() -> None:
    req = parse_chat(
        chat(
            temperature=0.3,
            tools=[{"type": "function", "function": {"name": "f"}}],
            vendor_knob={"x": 1},
            router={"min_acceptability": 0.9},
        )
    )
    assert dict(req.params) == {"temperature": 0.3, "tools": [{"type": "function", "function": {"name": "f"}}]}
    assert dict(req.extra) == {"vendor_knob": {"x": 1}}
    assert req.controls.min_acceptability == 0.9
    assert "router" not in req.body and req.body["vendor_knob"] == {"x": 1}
    assert req.needs_tools and not req.needs_json and not req.needs_vision


def test_every_role_and_content_parts() -> None:
    req = parse_chat(
        chat(
            messages=[
                {"role": "developer", "content": "Be brief."},
                {"role": "system", "content": [{"type": "text", "text": "Sys"}]},
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "Look"},
                        {"type": "image_url", "image_url": {"url": "http://x/y.png"}},
                    ],
                },
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
                },
                {"role": "tool", "tool_call_id": "c1", "content": "42"},
            ]
        )
    )
    assert [m.role for m in req.messages] == ["developer", "system", "user", "assistant", "tool"]
    assert req.messages[2].text == "Look" and req.messages[2].has_image and req.needs_vision
    assert req.messages[3].tool_calls == 1


def test_stream_options_and_usage_flag() -> None:
    req = parse_chat(chat(stream=True, stream_options={"include_usage": True}))
    assert req.stream and req.include_usage
    assert not parse_chat(chat(stream=True)).include_usage


def test_max_output_tokens_prefers_max_completion_tokens() -> None:
    assert parse_chat(chat(max_tokens=10, max_completion_tokens=20)).max_output_tokens == 20
    assert parse_chat(chat(max_tokens=10)).max_output_tokens == 10
    assert parse_chat(chat()).max_output_tokens is None


@pytest.mark.parametrize("field", sorted(RESERVED) + ["litellm_call_id", "aws_profile_name", "vertex_ai_x"])
def test_every_litellm_control_argument_is_refused(field: str) -> None:
    with pytest.raises(BadRequest) as info:
        parse_chat(chat(**{field: "x"}))
    assert info.value.param == field


def test_no_openai_parameter_is_reserved() -> None:
    assert not OPENAI_PARAMS & RESERVED


@pytest.mark.parametrize(
    "fields,param",
    [
        ({"top_p": 1.5}, "top_p"),
        ({"presence_penalty": 3}, "presence_penalty"),
        ({"n": True}, "n"),
        ({"seed": 1.5}, "seed"),
        ({"top_logprobs": 21}, "top_logprobs"),
        ({"logprobs": "yes"}, "logprobs"),
        ({"user": 5}, "user"),
        ({"stop": ["a", "b", "c", "d", "e"]}, "stop"),
        ({"logit_bias": {"1": 200}}, "logit_bias"),
        ({"tools": {"type": "function"}}, "tools"),
        (
            {"tools": [{"type": "function", "function": {"name": "f", "parameters": []}}]},
            "tools[0].function.parameters",
        ),
        ({"tools": [{"type": "function", "function": {"name": "f"}}], "tool_choice": "sometimes"}, "tool_choice"),
        (
            {
                "tools": [{"type": "function", "function": {"name": "f"}}],
                "tool_choice": {"type": "function", "function": {"name": "g"}},
            },
            "tool_choice",
        ),
        ({"response_format": {"type": "json_schema"}}, "response_format.json_schema"),
        ({"router": {"candidates": []}}, "router.candidates"),
        ({"router": {"max_cost_usd": -1}}, "router.max_cost_usd"),
        ({"router": {"colour": "red"}}, "router.colour"),
        ({"router": {"fallbacks": "no"}}, "router.fallbacks"),
        ({"messages": [{"role": "tool", "content": "x"}]}, "messages[0].tool_call_id"),
        ({"messages": [{"role": "user", "content": [{"type": "video"}]}]}, "messages[0].content[0]"),
        ({"messages": [{"role": "user", "content": [{"type": "text", "text": 1}]}]}, "messages[0].content[0].text"),
        (
            {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": "x"}]}]},
            "messages[0].content[0].image_url",
        ),
        ({"messages": ["hi"]}, "messages[0]"),
    ],
)
def test_invalid_fields_name_their_param(fields: dict[str, Any], param: str) -> None:
    with pytest.raises(BadRequest) as info:
        parse_chat(chat(**fields))
    assert info.value.param == param
    assert info.value.status == 400


def test_parse_json_errors() -> None:
    for raw in (b"", b"{", b"\xff\xfe", b'{"temperature": NaN}', b'{"x": [Infinity]}', b'{"x": -Infinity}'):
        with pytest.raises(BadRequest):
            parse_json(raw)
    assert parse_json(b'{"a": 1}') == {"a": 1}
