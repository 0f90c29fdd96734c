"""How an upstream stream chunk becomes the client's SSE event."""

from __future__ import annotations

import json

from proxy.dialects.chat_stream import event_for_client
from proxy.upstream.transport import StreamChunk

RAW = b'{"id":"c1", "choices":[{"index":0,"delta":{"content":"Hi"}}]}'  # spacing as the upstream wrote it


def test_an_unchanged_chunk_goes_out_as_the_upstreams_bytes() -> None:
    chunk = StreamChunk(json.loads(RAW), RAW)
    assert event_for_client(chunk, include_usage=False) == b"data: " + RAW + b"\n\n"


def test_usage_is_taken_out_unless_the_client_asked_for_it() -> None:
    raw = b'{"id":"c1","choices":[{"index":0,"delta":{}}],"usage":null}'
    chunk = StreamChunk(json.loads(raw), raw)
    event = event_for_client(chunk, include_usage=False)
    assert event is not None and json.loads(event.removeprefix(b"data: ")) == {
        "id": "c1",
        "choices": [{"index": 0, "delta": {}}],
    }
    assert event_for_client(chunk, include_usage=True) == b"data: " + raw + b"\n\n"


def test_a_trailing_null_usage_is_cut_from_the_bytes_and_only_there() -> None:
    raw = b'{"id":"c1","choices":[{"index":0,"delta":{"content":",\\"usage\\":null}"}}],"usage":null}'
    event = event_for_client(StreamChunk(json.loads(raw), raw), include_usage=False)
    assert event == b'data: {"id":"c1","choices":[{"index":0,"delta":{"content":",\\"usage\\":null}"}}]}\n\n'
    assert json.loads(event.removeprefix(b"data: "))["choices"][0]["delta"]["content"] == ',"usage":null}'
    spaced = b'{"id": "c1", "choices": [], "usage": null}'
    event = event_for_client(StreamChunk(json.loads(spaced), spaced), include_usage=False)
    assert event == b'data: {"id":"c1","choices":[]}\n\n'


def test_the_usage_only_chunk_is_dropped_unless_asked_for() -> None:
    raw = b'{"id":"c1","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}'
    chunk = StreamChunk(json.loads(raw), raw)
    assert event_for_client(chunk, include_usage=False) is None
    assert event_for_client(chunk, include_usage=True) == b"data: " + raw + b"\n\n"


def test_a_chunk_without_upstream_bytes_is_written() -> None:
    chunk = StreamChunk({"id": "c1", "choices": []})
    assert event_for_client(chunk, include_usage=False) == b'data: {"id":"c1","choices":[]}\n\n'
