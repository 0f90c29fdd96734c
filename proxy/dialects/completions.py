"""OpenAI's legacy text completions (`POST /v1/completions`) as a chat completion: the prompt becomes one
user message, the answer's text the completion's `text`.

What has no chat equivalent is refused with a 400 naming the field (`suffix`, `best_of` > 1, several
prompts or token-id prompts in one request) rather than silently ignored. `echo` and `logprobs` (an
integer: that many alternatives per token) are rebuilt from the chat answer. Unlike OpenAI's, `max_tokens`
has no default of 16: the backend's own limit applies unless the client sets one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from proxy.dialects import sse
from proxy.errors import BadRequest, ProxyError
from proxy.upstream.forward import StreamChunk

# The legacy fields translated here; every other field goes to the chat body as it came (and is
# validated there, like any chat request's).
_OWN = frozenset({"prompt", "suffix", "echo", "logprobs", "best_of"})


@dataclass(frozen=True)
class LegacyRequest:
    chat: dict[str, Any]  # the chat-completions body to serve
    prompt: str
    echo: bool
    logprobs: int | None


def to_chat(body: Any) -> LegacyRequest:
    if not isinstance(body, dict):
        raise BadRequest("Request body must be a JSON object.")
    prompt = _prompt(body.get("prompt"))
    if body.get("suffix") not in (None, ""):
        raise BadRequest("'suffix' (insertion) is not supported: no chat backend takes it.", param="suffix")
    best_of = body.get("best_of")
    if best_of not in (None, 1):
        raise BadRequest("'best_of' is not supported; use 'n' for several completions.", param="best_of")
    echo = body.get("echo", False)
    if not isinstance(echo, bool):
        raise BadRequest("'echo' must be a boolean.", param="echo")
    logprobs = body.get("logprobs")
    if logprobs is not None and (isinstance(logprobs, bool) or not isinstance(logprobs, int) or not 0 <= logprobs <= 5):
        raise BadRequest("'logprobs' must be an integer from 0 to 5.", param="logprobs")
    chat = {k: v for k, v in body.items() if k not in _OWN}
    chat["messages"] = [{"role": "user", "content": prompt}]
    if logprobs is not None:
        chat["logprobs"] = True
        chat["top_logprobs"] = logprobs
    return LegacyRequest(chat, prompt, echo, logprobs)


def _prompt(value: Any) -> str:
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if isinstance(value, str):
        return value
    if value is None:
        raise BadRequest("'prompt' is required.", param="prompt")
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        raise BadRequest("Send one prompt per request: several prompts in one are not supported.", param="prompt")
    raise BadRequest("'prompt' must be a string (token-id prompts are not supported).", param="prompt")


def from_chat(completion: dict[str, Any], request: LegacyRequest) -> dict[str, Any]:
    """The chat completion as a `text_completion`."""
    choices = []
    for c in completion.get("choices") or ():
        message = c.get("message") or {}
        text = message.get("content") or ""
        choices.append(
            {
                "text": (request.prompt + text) if request.echo else text,
                "index": c.get("index", 0),
                "logprobs": _logprobs(c.get("logprobs"), len(request.prompt) if request.echo else 0)
                if request.logprobs is not None
                else None,
                "finish_reason": c.get("finish_reason"),
            }
        )
    out = _text_completion(completion, choices)
    if completion.get("usage") is not None:
        out["usage"] = completion["usage"]
    if completion.get("system_fingerprint") is not None:
        out["system_fingerprint"] = completion["system_fingerprint"]
    return out


def _text_completion(chat: Mapping[str, Any], choices: list[dict[str, Any]]) -> dict[str, Any]:
    """A legacy completion (or one of its stream chunks) around `choices`, with the chat answer's id, time and model."""
    return {
        "id": _completion_id(chat.get("id")),
        "object": "text_completion",
        "created": chat.get("created", 0),
        "model": chat.get("model"),
        "choices": choices,
    }


def _completion_id(chat_id: Any) -> str:
    text = str(chat_id or "")
    return "cmpl-" + text.removeprefix("chatcmpl-")


def _logprobs(chat: Any, offset: int) -> dict[str, Any] | None:
    """Chat's per-token logprobs in the legacy shape: parallel lists, alternatives as token -> logprob."""
    if not isinstance(chat, dict) or not isinstance(chat.get("content"), list):
        return None
    tokens, logprobs, top, offsets = [], [], [], []
    for t in chat["content"]:
        offsets.append(offset)
        token = str(t.get("token", ""))
        tokens.append(token)
        logprobs.append(t.get("logprob"))
        top.append({str(a.get("token", "")): a.get("logprob") for a in t.get("top_logprobs") or ()})
        offset += len(token)
    return {"tokens": tokens, "token_logprobs": logprobs, "top_logprobs": top, "text_offset": offsets}


class CompletionsWriter:
    """Chat chunks as `text_completion` chunks; the usage chunk only if the client asked for it."""

    def __init__(self, request: LegacyRequest, include_usage: bool) -> None:
        self.request = request
        self.include_usage = include_usage
        self._offsets: dict[int, int] = {}  # per choice: characters written so far (for text_offset)

    def chunk(self, chunk: StreamChunk) -> bytes | None:
        data = chunk.data
        choices = []
        for c in data.get("choices") or ():
            index = c.get("index", 0)
            delta = c.get("delta") or {}
            text = delta.get("content") or ""
            if index not in self._offsets:
                self._offsets[index] = len(self.request.prompt) if self.request.echo else 0
                if self.request.echo:
                    text = self.request.prompt + text  # OpenAI echoes the prompt in the first chunk
            if not text and not c.get("finish_reason"):
                continue  # the role-only opening delta has nothing to say in this dialect
            logprobs = None
            if self.request.logprobs is not None:
                logprobs = _logprobs(c.get("logprobs"), self._offsets[index])
            self._offsets[index] += len(delta.get("content") or "")
            finish = c.get("finish_reason")
            choices.append({"text": text, "index": index, "logprobs": logprobs, "finish_reason": finish})
        usage = data.get("usage") if self.include_usage else None
        if not choices and usage is None:
            return None
        out = _text_completion(data, choices)
        if usage is not None:
            out["usage"] = usage
        return sse.data(out)

    def done(self) -> bytes:
        return b"data: [DONE]\n\n"

    def failed(self, error: ProxyError) -> bytes:
        return sse.data(error.body())
