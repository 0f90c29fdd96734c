"""The Responses API's event stream, written from chat chunks: response.created and response.in_progress;
per output item (the text message, each function call) output_item.added, its deltas, its .done events and
output_item.done; then response.completed (or response.incomplete) with usage. A failure mid-stream is an
`error` event."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from proxy import jsonio
from proxy.dialects import sse
from proxy.dialects.responses_api import ResponsesRequest, call_item, message_item, response_object
from proxy.errors import ProxyError
from proxy.upstream.forward import StreamChunk


def error_event(error: ProxyError, sequence_number: int) -> bytes:
    """A failure mid-stream: Responses' `error` event, carrying the OpenAI error object too, so the OpenAI
    SDKs raise it as an APIError as they do for a failed chat stream."""
    payload = {
        "type": "error",
        "code": error.code,
        "message": error.message,
        "param": error.param,
        "sequence_number": sequence_number,
        **error.body(),
    }
    return sse.named("error", payload)


class ResponsesWriter:
    """Chat chunks as the Responses event stream: response.created and response.in_progress; per output
    item (the text message, each function call) output_item.added, its deltas, its .done events and
    output_item.done; then response.completed (or response.incomplete) with usage. `on_done` is given the
    final Response, for the store."""

    def __init__(
        self,
        request: ResponsesRequest,
        response_id: str,
        created_at: int,
        on_done: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.request = request
        self.response_id = response_id
        self.created_at = created_at
        self.on_done = on_done
        self._seq = 0
        self._model: Any = None
        self._started = False
        self._output: list[dict[str, Any]] = []  # finished items
        self._open: dict[str, Any] | None = None  # the item being written: a message or a function call
        self._finish: str | None = None
        self._usage: Any = None

    def chunk(self, chunk: StreamChunk) -> bytes | None:
        data = chunk.data
        out: list[bytes] = []
        if not self._started:
            out += self._start(data)
        if isinstance(data.get("usage"), dict):
            self._usage = data["usage"]
        for c in data.get("choices") or ():
            if c.get("index", 0) != 0:
                continue  # a Response has one answer
            delta = c.get("delta") or {}
            if delta.get("content"):
                out += self._text(delta["content"])
            for call in delta.get("tool_calls") or ():
                function = call.get("function") or {}
                if call.get("id"):
                    out += self._close()
                    self._open = call_item(call["id"], function.get("name"), "", "in_progress")
                    out.append(self._added())
                if function.get("arguments") and self._open is not None and self._open["type"] == "function_call":
                    self._open["arguments"] += function["arguments"]
                    out.append(
                        self._event(
                            "response.function_call_arguments.delta",
                            item_id=self._open["id"],
                            output_index=len(self._output),
                            delta=function["arguments"],
                        )
                    )
            if c.get("finish_reason"):
                self._finish = c["finish_reason"]
        return b"".join(out) or None

    def done(self) -> bytes:
        out = [] if self._started else self._start({})
        out += self._close()
        final = response_object(
            self.request, self.response_id, self.created_at, self._model, self._output, self._finish, self._usage
        )
        name = "response.completed" if final["status"] == "completed" else "response.incomplete"
        out.append(self._event(name, response=final))
        if self.on_done is not None:
            self.on_done(final)
        return b"".join(out)

    def failed(self, error: ProxyError) -> bytes:
        self._seq += 1
        return error_event(error, self._seq - 1)

    def relay(self) -> sse.Relay:
        """The writer of a passed-through stream: the upstream's own events, its Response under the gateway's
        id (as a translated one is), the final one handed to `on_done`."""

        def edit(event: dict[str, Any]) -> bool:
            response = event.get("response")
            if not isinstance(response, dict):
                return False
            response["id"] = self.response_id
            if self.on_done is not None and event.get("type") in ("response.completed", "response.incomplete"):
                self.on_done(response)
            return True

        return sse.Relay(self.failed, edit)

    def _start(self, data: dict[str, Any]) -> list[bytes]:
        self._started = True
        self._model = data.get("model")
        empty = response_object(
            self.request, self.response_id, self.created_at, self._model, [], None, None, status="in_progress"
        )
        return [self._event("response.created", response=empty), self._event("response.in_progress", response=empty)]

    def _text(self, text: str) -> list[bytes]:
        out: list[bytes] = []
        if self._open is None or self._open["type"] != "message":
            out += self._close()
            self._open = message_item(self.response_id, "", "in_progress")
            self._open["content"] = []
            out.append(self._added())
            part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
            self._open["content"].append(part)
            out.append(self._event("response.content_part.added", **self._at(), content_index=0, part=part))
        self._open["content"][0]["text"] += text
        # The per-token event, the one a long answer repeats hundreds of times: written from a template
        # (the same bytes `_event` would write), not built as a dict and serialised each time.
        out.append(
            b'event: response.output_text.delta\ndata: {"type":"response.output_text.delta","sequence_number":%d,'
            b'"item_id":"%s","output_index":%d,"content_index":0,"delta":%s,"logprobs":[]}\n\n'
            % (self._seq, self._open["id"].encode(), len(self._output), jsonio.dumps(text))
        )
        self._seq += 1
        return out

    def _close(self) -> list[bytes]:
        item, self._open = self._open, None
        if item is None:
            return []
        at = {"item_id": item["id"], "output_index": len(self._output)}
        item["status"] = "completed"
        if item["type"] == "message":
            part = item["content"][0]
            out = [
                self._event("response.output_text.done", **at, content_index=0, text=part["text"], logprobs=[]),
                self._event("response.content_part.done", **at, content_index=0, part=part),
            ]
        else:
            out = [
                self._event(
                    "response.function_call_arguments.done", **at, name=item["name"], arguments=item["arguments"]
                )
            ]
        out.append(self._event("response.output_item.done", output_index=at["output_index"], item=item))
        self._output.append(item)
        return out

    def _added(self) -> bytes:
        assert self._open is not None
        return self._event("response.output_item.added", output_index=len(self._output), item=dict(self._open))

    def _at(self) -> dict[str, Any]:
        assert self._open is not None
        return {"item_id": self._open["id"], "output_index": len(self._output)}

    def _event(self, kind: str, /, **payload: Any) -> bytes:
        # Serialised at once: the item dicts go on changing with later deltas.
        event = sse.named(kind, {"type": kind, "sequence_number": self._seq, **payload})
        self._seq += 1
        return event
