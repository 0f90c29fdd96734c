"""POST /v1/responses and GET /v1/responses/{id}: OpenAI's Responses API, served as chat completions
(proxy/dialects/responses_api.py) or, to a backend that speaks it, passed through as sent (except a request
continuing a stored response: proxy/upstream/native.py), its responses kept for `previous_response_id`
(response_store.py).
A response's id is the gateway's request id behind `resp_`, so it leads to the call's log row."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from proxy.dialects import responses_api, responses_stream
from proxy.dialects.response_store import ResponseStore, Stored
from proxy.errors import BadRequest, NotFound
from proxy.http.v1 import chat_request, new_call, read_json, serve_chat
from proxy.pipeline import Answer
from proxy.request import NativeBody
from proxy.settings import ApiKey


async def create(request: Request) -> Response:
    ctx = new_call(request, "responses")
    key: ApiKey | None = request.state.api_key  # identified by admission (limits/inflight.py)
    owner = key.id if key else None
    store: ResponseStore = request.app.state.response_store
    body = await read_json(request)
    previous = None
    if isinstance(body, dict) and body.get("previous_response_id") is not None:
        wanted = str(body["previous_response_id"])
        stored = store.get(wanted, owner)
        if stored is None:
            raise BadRequest(
                f"Previous response '{wanted}' is not stored here: this gateway keeps the last {store.capacity} "
                "responses created with store=true, in memory, for the key that created them.",
                param="previous_response_id",
                code="previous_response_not_found",
            )
        previous = stored.conversation
    translated = responses_api.to_chat(body, previous)
    chat = chat_request(request, translated.chat)
    if previous is None:  # the gateway's stored conversation exists only as chat messages: translated then
        chat = replace(chat, native=NativeBody("responses", body, {}))
    response_id = "resp_" + ctx.request_id
    created_at = int(ctx.started_at)

    def keep(response: dict[str, Any]) -> None:
        if translated.store:
            conversation = translated.history + responses_api.output_messages(response)
            store.put(Stored(response, conversation, owner))

    def render(answer: Answer) -> dict[str, Any]:
        if answer.native:  # the upstream's own Response, under the gateway's id
            response = {**answer.body, "id": response_id}
        else:
            response = responses_api.from_chat(answer.body, translated, response_id, created_at)
        keep(response)
        return response

    writer = responses_stream.ResponsesWriter(translated, response_id, created_at, on_done=keep)
    return await serve_chat(request, ctx, chat, writer=writer, render=render)


async def retrieve(request: Request) -> Response:
    key: ApiKey | None = request.state.api_key
    store: ResponseStore = request.app.state.response_store
    wanted = request.path_params["response_id"]
    stored = store.get(wanted, key.id if key else None)
    if stored is None:
        raise NotFound(
            f"No stored response has id '{wanted}' (this gateway keeps the last {store.capacity}, in memory).",
            param="response_id",
            code="response_not_found",
        )
    return JSONResponse(stored.response)
