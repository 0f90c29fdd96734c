"""Bad input gets finite features, not a crash: empty, images only, huge, non-English, binary-looking."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from proxy.request import ChatRequest, parse_chat
from proxy.route.catalog import load_catalog
from proxy.route.features import Features, compute_features

_CATALOG = load_catalog()
CANDIDATES = [_CATALOG.profile(m, name=n) for n, m in (("a", "gpt-4o-mini"), ("b", "nobody/knows-1b"))]


def run(*messages: dict) -> Features:
    f = compute_features(parse_chat({"model": "router", "messages": list(messages)}), CANDIDATES)
    assert f.rows.shape == (2, len(f.names))
    assert np.isfinite(f.rows).all()
    return f


def col(f: Features, name: str) -> float:
    return float(f.column(name)[0])


def test_empty_message() -> None:
    f = run({"role": "user", "content": ""})
    assert f.prompt.tokens == 0 and f.prompt.words == 0
    assert f.prompt.task == "open_chat"


def test_only_images() -> None:
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
    f = run({"role": "user", "content": [image, image]})
    assert col(f, "p_has_image") == 1.0
    assert f.prompt.tokens == 0
    assert col(f, "x_missing_vision") == 0.0  # gpt-4o-mini reads images
    assert float(f.column("x_missing_vision")[1]) == 1.0  # an unknown model is assumed not to


def test_only_a_system_prompt_and_tool_output() -> None:
    f = run(
        {"role": "system", "content": "You are terse."},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "t", "type": "function"}]},
        {"role": "tool", "tool_call_id": "t", "content": "x" * 4000},
    )
    assert col(f, "p_ask_tokens_log") == 0.0
    assert f.prompt.tokens >= 1000  # tool output is sized even though it is not the ask


def test_a_200k_token_prompt_is_truncated_not_crashed() -> None:
    rng = random.Random(7)
    words = ["alpha", "beta", "gamma", "delta", "theorem", "patient", "court", "function", "(", ")", "1.", "?"]
    text = " ".join(rng.choice(words) for _ in range(200_000)) + "\nWhat is the summary?"
    f = run({"role": "user", "content": text})
    assert col(f, "p_truncated") == 1.0
    assert col(f, "p_exact_tokens") == 0.0
    assert 150_000 < f.prompt.tokens < 400_000  # extrapolated from the analysed head and tail
    assert f.prompt.words > 150_000
    assert float(f.column("x_context_overflow")[0]) == 1.0  # gpt-4o-mini: 128k context


@pytest.mark.parametrize(
    "text",
    [
        "請用三句話總結這篇文章的主要內容，並翻譯成英文。",
        "ما هي عاصمة فرنسا؟ أجب بكلمة واحدة.",
        "Объясни, пожалуйста, теорему Пифагора простыми словами.",
        "नमस्ते, आप कैसे हैं?",
    ],
)
def test_non_english_text(text: str) -> None:
    f = run({"role": "user", "content": text})
    assert f.prompt.tokens > 0 and f.prompt.words > 0
    assert col(f, "p_non_ascii_share") > 0.5


def test_binary_looking_strings() -> None:
    rng = random.Random(3)
    noise = bytes(rng.randrange(256) for _ in range(5000)).decode("latin-1")
    f = run({"role": "user", "content": noise + "\x00\x01\x02" + "\ufffd" * 10})
    assert col(f, "p_symbol_share") > 0.2
    # Lone surrogates are valid in JSON strings but not in UTF-8: they must not reach the tokenizer raw.
    body = json.loads('{"model": "m", "messages": [{"role": "user", "content": "bad \\ud800 half \\udfff pair"}]}')
    g = compute_features(parse_chat(body), CANDIDATES)
    assert np.isfinite(g.rows).all() and g.prompt.tokens > 0


def test_no_candidates() -> None:
    request: ChatRequest = parse_chat({"model": "m", "messages": [{"role": "user", "content": "hi"}]})
    f = compute_features(request, [])
    assert f.rows.shape == (0, len(f.names)) and f.candidates == ()
    assert f.prompt.task == "open_chat"
