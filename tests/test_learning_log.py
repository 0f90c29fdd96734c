"""The learning loop's raw material: labels from feedback, exploration picks with their probabilities."""

from __future__ import annotations

import sqlite3
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from proxy import config as config_mod
from proxy.http.app import create_app
from proxy.route.choice import Choice, choose, explore
from tests.conftest import ENVIRON, logged_row, make_config_dict
from tests.servers import serve_app
from tests.test_choice import ALIAS, BACKENDS, request, scores

HI = [{"role": "user", "content": "What is the boiling point of water?"}]


def labels_of(db: Path, call_id: str, expected: int) -> list[tuple[float, str, str | None]]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        rows = (
            sqlite3.connect(db)
            .execute("SELECT score, source, comment FROM labels WHERE call_id = ? ORDER BY id", (call_id,))
            .fetchall()
        )
        if len(rows) >= expected:
            return rows
        time.sleep(0.05)
    raise AssertionError(f"labels for {call_id} not written")


def test_feedback_is_stored_as_labels_with_their_source(client: openai.OpenAI, proxy_url: str, db_path: Path) -> None:
    raw = client.chat.completions.with_raw_response.create(model="router", messages=HI)
    call_id = raw.headers["x-router-request-id"]
    first = httpx.post(f"{proxy_url}/v1/feedback", json={"request_id": call_id, "thumbs": "up"})
    assert first.status_code == 201 and first.json()["score"] == 1.0
    second = httpx.post(
        f"{proxy_url}/v1/feedback",
        json={"request_id": call_id, "score": 0.25, "comment": "too short", "source": "reviewer-7"},
    )
    assert second.status_code == 201
    assert labels_of(db_path, call_id, 2) == [(1.0, "human", None), (0.25, "reviewer-7", "too short")]


@pytest.mark.parametrize(
    "body,param",
    [
        ({"score": 1}, "request_id"),
        ({"request_id": "x"}, "score"),
        ({"request_id": "x", "score": 1.5}, "score"),
        ({"request_id": "x", "score": True}, "score"),
        ({"request_id": "x", "thumbs": "sideways"}, "thumbs"),
        ({"request_id": "x", "score": 1, "thumbs": "up"}, "score"),
        ({"request_id": "x", "score": 1, "mood": "happy"}, "mood"),
    ],
)
def test_bad_feedback_is_400(proxy_url: str, body: dict[str, object], param: str) -> None:
    response = httpx.post(f"{proxy_url}/v1/feedback", json=body)
    assert response.status_code == 400 and response.json()["error"]["param"] == param


def test_feedback_for_an_unknown_call_is_404(proxy_url: str) -> None:
    response = httpx.post(f"{proxy_url}/v1/feedback", json={"request_id": "01NOSUCHCALL", "score": 1})
    assert response.status_code == 404 and response.json()["error"]["code"] == "call_not_found"


def test_explore_picks_acceptable_alternatives_with_their_probability() -> None:
    choice = ranked([0.9, 0.8, 0.75])
    kept, explored, p = explore(choice, 0.3, draw=0.5, pick=0.0)
    assert not explored and kept is choice and p == pytest.approx(0.7)
    served, explored, p = explore(choice, 0.3, draw=0.1, pick=0.99)
    assert explored and served.reason == "exploration"
    assert served.chosen.name == choice.ranked[2].name and p == pytest.approx(0.15)
    assert sorted(c.name for c in served.ranked) == sorted(c.name for c in choice.ranked)


def test_explore_never_picks_an_unacceptable_candidate() -> None:
    choice = ranked([0.9, 0.5, 0.4])  # only one acceptable
    assert explore(choice, 1.0, draw=0.0, pick=0.5) == (choice, False, 1.0)


def ranked(p: list[float]) -> Choice:
    return choose(request(), BACKENDS, scores(p), ALIAS, input_tokens=10)


@pytest.fixture
def exploring(sim_url: str, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    raw = make_config_dict(sim_url, tmp_path / "calls.db")
    raw["alias"] = [{"name": "router", "candidates": ["strong", "cheap", "weak"], "exploration_rate": 0.5}]
    with serve_app(create_app(config_mod.parse(raw), environ=ENVIRON)) as url:
        yield url, tmp_path / "calls.db"


def test_exploration_is_logged_with_the_selection_probability(exploring: tuple[str, Path]) -> None:
    url, db = exploring
    ids = []
    with httpx.Client(base_url=url, timeout=30) as http:
        for _ in range(40):
            r = http.post("/v1/chat/completions", json={"model": "router", "messages": HI})
            ids.append((r.headers["x-router-request-id"], r.headers["x-router-model"]))
    rows = [logged_row(db, i, "backend, exploration, selection_probability") for i, _ in ids]
    assert [r[0] for r in rows] == [m for _, m in ids]
    picks = Counter((backend, explored, round(p, 3)) for backend, explored, p in rows)
    # cheap is the best of the two acceptable ones; strong is the only alternative: p = 0.5 each way.
    assert set(picks) <= {("cheap", 0, 0.5), ("strong", 1, 0.5)}
    assert picks[("strong", 1, 0.5)] > 0 and picks[("cheap", 0, 0.5)] > 0
