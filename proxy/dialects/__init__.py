"""The other API dialects clients speak, each translated to an OpenAI chat-completions body and back.

    completions.py     POST /v1/completions   OpenAI's legacy text completions (prompt in, text out)
    anthropic.py       POST /v1/messages      Anthropic's Messages API
    responses_api.py   POST /v1/responses     OpenAI's Responses API (responses_stream.py: its event stream)
    response_store.py                         the Responses API's stored responses (previous_response_id)

Each module is pure: a request body in, a chat body out (or a 400 naming the field); a chat completion in,
the dialect's response out; and a stream writer that turns chat chunks into the dialect's events
(`proxy.dialects.chat_stream.StreamWriter`). The chat body then takes the chat path unchanged (routing, retries,
fallbacks, limits, budgets, the log row), so every dialect behaves as chat does.
"""
