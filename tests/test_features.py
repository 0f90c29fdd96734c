"""compute_features: the same rows for training and serving, and features that mean what they say."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from proxy.request import ChatRequest, parse_chat
from proxy.route.catalog import load_catalog
from proxy.route.features import TASKS, VERSION, Features, compute_features, feature_names, rows_from_log
from proxy.route.features.examples import request_from_prompt
from proxy.settings import Backend

ROOT = Path(__file__).resolve().parents[1]
MODELS = ("gpt-4o", "llama-3.1-8b-instruct", "codestral-2405")
PROMPT = (
    "Here is a function:\n```python\ndef add(a, b):\n    return a - b\n```\n"
    "1. Find the bug.\n2. Fix it and add a unit test.\nAnswer in at most 80 words."
)


@pytest.fixture(scope="module")
def profiles() -> list:
    catalog = load_catalog()
    return [catalog.profile(Backend(name=m, model=m)) for m in MODELS]


def chat(*messages: dict, **params: object) -> ChatRequest:
    return parse_chat({"model": "router", "messages": list(messages), **params})


def user(text: str) -> dict:
    return {"role": "user", "content": text}


def value(f: Features, name: str, row: int = 0) -> float:
    return float(f.column(name)[row])


def features(request: ChatRequest | str) -> Features:
    """Features with one plain candidate, for reading the prompt columns."""
    req = request_from_prompt(request) if isinstance(request, str) else request
    return compute_features(req, [Backend(name="any", model="any")])


def test_training_and_serving_rows_are_byte_identical(profiles: list) -> None:
    # Training wraps a data-set prompt; serving parses the client's JSON body. Same request, same bytes.
    training = compute_features(request_from_prompt(PROMPT), profiles)
    body = json.loads(json.dumps({"model": "router", "messages": [{"role": "user", "content": PROMPT}]}))
    serving = compute_features(parse_chat(body), profiles)
    assert training.names == serving.names
    assert training.rows.tobytes() == serving.rows.tobytes()


def test_logged_rows_decode_to_the_same_bytes(profiles: list) -> None:
    f = compute_features(request_from_prompt(PROMPT), profiles)
    logged = json.loads(json.dumps(f.for_log()))  # as stored in calls.features_json
    assert rows_from_log(logged).tobytes() == f.rows.tobytes()
    assert logged["candidates"] == list(MODELS)
    other = compute_features(request_from_prompt(PROMPT), profiles[:1])
    assert other.for_log()["names_sha256"] == logged["names_sha256"]  # the names, not the rows


def test_rows_do_not_depend_on_the_process_hash_seed(profiles: list) -> None:
    # Word sets and dicts iterate in hash order; the rows must not (training and serving are different processes).
    script = (
        "import sys;"
        "from proxy.route.catalog import load_catalog; from proxy.settings import Backend;"
        "from proxy.route.features import compute_features;"
        "from proxy.route.features.examples import request_from_prompt;"
        f"c = load_catalog(); ps = [c.profile(Backend(name=m, model=m)) for m in {MODELS!r}];"
        f"sys.stdout.write(compute_features(request_from_prompt({PROMPT!r}), ps).rows.tobytes().hex())"
    )
    outputs = set()
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        outputs.add(done.stdout)
    here = compute_features(request_from_prompt(PROMPT), profiles).rows.tobytes().hex()
    assert outputs == {here}


def test_shape_names_and_version(profiles: list) -> None:
    f = compute_features(request_from_prompt(PROMPT), profiles)
    assert f.version == VERSION
    assert f.candidates == MODELS
    assert f.rows.dtype == np.float32 and f.rows.shape == (3, len(f.names))
    assert f.names == feature_names()
    assert len(set(f.names)) == len(f.names)
    assert np.isfinite(f.rows).all()
    groups = {n.split("_", 1)[0] for n in f.names}
    assert groups == {"p", "l", "x"}


def test_prompt_columns_equal_on_every_row_and_llm_columns_differ(profiles: list) -> None:
    f = compute_features(request_from_prompt(PROMPT), profiles)
    prompt_cols = [i for i, n in enumerate(f.names) if n.startswith("p_")]
    assert (f.rows[:, prompt_cols] == f.rows[0, prompt_cols]).all()
    assert value(f, "l_params_known", 0) == 0.0  # gpt-4o: size not published
    assert value(f, "l_params_known", 1) == 1.0
    assert value(f, "l_trained_code", 2) == 1.0 and value(f, "l_trained_code", 0) == 0.0
    assert value(f, "l_maker_openai", 0) == 1.0 and value(f, "l_maker_meta", 1) == 1.0


@pytest.mark.parametrize(
    ("text", "task"),
    [
        ("Write a Python function that checks whether a string is a palindrome.", "code"),
        ("Natalia sold 48 clips in April and half as many in May. How many clips did she sell in total?", "math"),
        ("Which planet is largest?\nA) Mars\nB) Jupiter\nC) Venus\nD) Earth\nAnswer:", "multiple_choice"),
        ("Summarize the following article in three sentences: The city council met on Monday ...", "summarization"),
        ("Translate into French: the weather is lovely today.", "translation"),
        ("Write a short poem about the sea at night.", "creative"),
        ("Extract all person names and dates from this text: Ada met Bob on 3 May.", "extraction"),
        ("Who wrote the novel Middlemarch?", "qa"),
        ("hey, how's it going? any tips for staying motivated?", "open_chat"),
    ],
)
def test_task_type(text: str, task: str) -> None:
    f = features(text)
    assert f.prompt.task == task
    assert f.prompt.task_probs[TASKS.index(task)] == max(f.prompt.task_probs)
    assert sum(f.prompt.task_probs) == pytest.approx(1.0)


def test_latest_user_request_is_the_ask_not_earlier_turns_or_tool_output() -> None:
    request = chat(
        {"role": "system", "content": "You are a helpful assistant."},
        user("Write a Python function that parses dates."),
        {"role": "assistant", "content": "def parse(s): ..."},
        user("Translate 'good morning' into Spanish."),
        {"role": "assistant", "content": None, "tool_calls": [{"id": "1", "type": "function"}]},
        {"role": "tool", "tool_call_id": "1", "content": "def parse(s): import re; return re.match(s)"},
    )
    f = features(request)
    assert f.prompt.task == "translation"
    assert value(f, "p_user_turns_log") == pytest.approx(np.log1p(2), rel=1e-6)
    assert value(f, "p_tool_results_log") == pytest.approx(np.log1p(1), rel=1e-6)
    assert value(f, "p_has_system") == 1.0
    assert 0.0 < value(f, "p_ask_share") < 1.0


def test_domain_scores_follow_the_vocabulary() -> None:
    medical = features("The patient has chronic kidney disease; what dose of insulin?")
    legal = features("Is the defendant liable for negligence under this contract?")
    assert medical.prompt.domain == "medical" and legal.prompt.domain == "legal"
    assert value(medical, "p_domain_medical") > value(medical, "p_domain_legal")
    assert features("hello there").prompt.domain == "general"


def test_structure_and_complexity_features() -> None:
    f = features(PROMPT)
    assert value(f, "p_code_blocks") == 1.0
    assert value(f, "p_numbered_items_log") == pytest.approx(np.log1p(2), rel=1e-6)
    assert value(f, "p_length_constraint") == 1.0
    assert f.prompt.expected_output_tokens == round(80 * 1.3)
    nested = features("Compute f(g(h[x]{y})) and explain.")
    assert value(nested, "p_bracket_depth") == 3.0
    lists = features("- fruit\n  - apple\n    - green\n- veg")
    assert value(lists, "p_list_depth") == 3.0


def test_request_parameters_reach_the_features() -> None:
    tools = [{"type": "function", "function": {"name": "search", "parameters": {"type": "object"}}}]
    request = chat(user("Find flights to Rome."), tools=tools, response_format={"type": "json_object"}, max_tokens=50)
    f = compute_features(request, [Backend(name="old", model="claude-v1")])
    assert value(f, "p_has_tools") == 1.0 and value(f, "p_needs_json") == 1.0
    assert value(f, "p_max_tokens_log") == pytest.approx(np.log1p(50), rel=1e-6)
    assert f.prompt.expected_output_tokens <= 50


def test_tone_features() -> None:
    happy = features("Thanks so much, this is great and I love it!")
    angry = features("This is terrible, broken and useless. I hate it.")
    assert value(happy, "p_polarity") > 0 > value(angry, "p_polarity")
    assert value(happy, "p_politeness") == 1.0
    formal = features("Kindly provide the analysis; furthermore, ensure it is thorough.")
    casual = features("hey lol gonna need this stuff asap, thx")
    assert value(formal, "p_formality") > 0 > value(casual, "p_formality")


def test_semantic_vector_separates_topics() -> None:
    def vec(text: str) -> np.ndarray:
        f = features(text)
        return np.array([value(f, n) for n in f.names if n.startswith("p_sem_")])

    code_a = vec("Write a python function that returns the sum of a list of integers.")
    code_b = vec("Write a function in python to sort a list of strings by length.")
    law = vec("The defendant was convicted of burglary; can the court admit the hearsay evidence?")

    def cos(a: np.ndarray, b: np.ndarray) -> float:
        return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))

    assert cos(code_a, code_b) > cos(code_a, law)


def test_backends_without_catalog_are_profiled_from_their_own_fields() -> None:
    backend = Backend(name="mine", model="acme/unknown-9b", parameters_b=9.0, ttft_s=0.2, tokens_per_s=80.0)
    f = compute_features(request_from_prompt("hi"), [backend])
    assert f.candidates == ("mine",)
    assert value(f, "l_in_catalog") == 0.0
    assert value(f, "l_params_log") == pytest.approx(np.log1p(9.0), rel=1e-6)
    assert value(f, "l_latency_known") == 1.0
