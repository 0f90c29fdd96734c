"""Demanding requests (`features/demand.py`) and each model's prior weighed into their P(acceptable) (`hard_prior`)."""

from __future__ import annotations

import asyncio

import httpx
import numpy as np
import pytest

from proxy import config as config_mod
from proxy.http.app import create_app
from proxy.route.catalog import load_catalog
from proxy.route.features import compute_features
from proxy.route.features.examples import request_from_prompt
from proxy.route.scoring import PriorScorer
from tests.conftest import ROOT

# Not prompts of the everyday fixtures: those measure the routing, these only the rules.
DEMANDING = (
    "Prove that the product of two odd integers is odd.",
    "Let G be a finite group. Show that the number of elements of order 2 is odd if |G| is even.",
    "Design the backend of a ride-hailing service matching 100k drivers per city in under a second.",
    "Find why this C code crashes with a data race when two threads update the counter, and fix it.",
    "Implement a thread-safe ring buffer in Go and explain what happens when the reader is slower.",
    "Write a function that finds the k-th smallest element of two sorted arrays in O(log n).",
    "Our service's p99 latency doubles every hour in production; what is the root cause and how do we find it?",
    "Compute the expected value of the maximum of three dice, then show the full derivation.",
    # Three kinds of work at once, whatever the subject: a multi-part analysis.
    "Profile our checkout flow, find where the extra database round trips come from, and estimate how much "
    "batching them would save.",
)
PLAIN = (
    "Hello, how are you?",
    "What is the capital of Italy?",
    "Design a logo for my bakery called Sunrise.",
    "Convert 12 inches to centimetres.",
    "To pass, the student needs to show that he read the book. How many pages did he read if he read 20 a day?",
    "Write a short email inviting the team to Friday's lunch.",
    "Which of the following must the plaintiff prove?\nA) intent\nB) damage\nC) both\nD) neither",
)
# Short questions that name a hard topic but ask for no work: a definition, a yes or no, a list of names.
TOPIC_ONLY = (
    "What does linearizability mean?",
    "Is ConcurrentHashMap thread-safe?",
    "What is the time complexity of quicksort?",
    "Is DELETE idempotent in REST?",
    "Define a network partition.",
    "Name two lock-free data structures.",
    "Is e irrational?",
    "What is a livelock, and how is it different from a deadlock?",
)


@pytest.mark.parametrize("prompt", DEMANDING)
def test_demanding_requests_are_found(prompt: str) -> None:
    assert compute_features(request_from_prompt(prompt), []).prompt.demanding


@pytest.mark.parametrize("prompt", PLAIN)
def test_plain_requests_and_multiple_choice_are_not_demanding(prompt: str) -> None:
    assert not compute_features(request_from_prompt(prompt), []).prompt.demanding


@pytest.mark.parametrize("prompt", TOPIC_ONLY)
def test_a_short_question_naming_a_hard_topic_is_not_demanding(prompt: str) -> None:
    assert not compute_features(request_from_prompt(prompt), []).prompt.demanding


def test_a_demanding_request_costs_weak_models_more_acceptability_than_strong_ones() -> None:
    catalog = load_catalog()
    profiles = [catalog.profile(m) for m in ("o1-mini", "gemini-1.5-flash", "llama-3.1-8b-instruct")]
    scorer = PriorScorer()
    plain = scorer.score(compute_features(request_from_prompt("What is 7 times 8?"), profiles), profiles, None)
    hard = scorer.score(compute_features(request_from_prompt(DEMANDING[0]), profiles), profiles, None)
    assert np.allclose(plain.p_acceptable, [p.accuracy for p in profiles])  # the prior rule, untouched
    drop = plain.p_acceptable - hard.p_acceptable
    assert (drop > 0).all()
    assert drop[0] < drop[1] and drop[0] < drop[2]  # the strong model keeps the most
    assert np.argmax(hard.p_acceptable) == 0


def test_v1_route_says_whether_a_request_is_demanding() -> None:
    async def route(prompt: str) -> dict:
        app = create_app(config_mod.load(ROOT / "config.example.toml"), environ={})
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://switchyard") as client:
                body = {"model": "router", "messages": [{"role": "user", "content": prompt}]}
                response = await client.post("/v1/route", json=body)
                response.raise_for_status()
                return response.json()

    assert asyncio.run(route(DEMANDING[2]))["demanding"] is True
    assert asyncio.run(route(PLAIN[0]))["demanding"] is False
