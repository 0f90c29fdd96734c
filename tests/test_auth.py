"""Keys for teams: 401 without or with a wrong key, 403 for a model not allowed, 429 past a rate or budget;
nothing refused reaches an upstream."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest

from proxy import config as config_mod
from proxy.http.app import create_app
from tests.conftest import ENVIRON, Sim, make_config_dict
from tests.servers import serve_app
from tests.test_errors import logged_row

TEAM_KEY = "sk-team-a-0123456789abcdef"
LIMITED_KEY = "sk-limited-0123456789abcdef"
ADMIN_KEY = "sk-admin-0123456789abcdef"
TINY_DIALECTS_KEY = "sk-tiny-dialects-0123456789"
RPM_KEY = "sk-rpm-0123456789abcdef"
HI = [{"role": "user", "content": "Hello"}]


@pytest.fixture(scope="module")
def gateway(sim_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    db = tmp_path_factory.mktemp("auth") / "calls.db"
    raw: dict[str, Any] = make_config_dict(sim_url, db)
    raw["auth"] = {"admin_key_env": "ADMIN_KEY"}
    raw["key"] = [
        {"id": "team-a", "key_env": "TEAM_KEY"},
        {
            "id": "limited",
            "sha256": hashlib.sha256(LIMITED_KEY.encode()).hexdigest(),
            "models": ["cheap", "embed"],
            "rpm": 3,
        },
        {"id": "tiny-budget", "key_env": "TINY_KEY", "budget_usd": 1e-9},
        {"id": "tiny-dialects", "key_env": "TINY_DIALECTS_KEY", "budget_usd": 1e-9},
        {
            "id": "thrifty",
            "key_env": "THRIFTY_KEY",
            "budget_usd": 100.0,
            "low_budget_fraction": 1.0,
            "on_budget_low": "cheaper",
        },
        {"id": "few-tokens", "key_env": "FEW_TOKENS_KEY", "tpm": 1},
        # Its own key: every request a key sends is charged to its rate, refused ones (403, 400) included.
        {"id": "three-a-minute", "key_env": "RPM_KEY", "models": ["cheap", "embed"], "rpm": 3},
    ]
    environ = {
        **ENVIRON,
        "TEAM_KEY": TEAM_KEY,
        "ADMIN_KEY": ADMIN_KEY,
        "TINY_KEY": "sk-tiny-0123456789",
        "TINY_DIALECTS_KEY": TINY_DIALECTS_KEY,
        "THRIFTY_KEY": "sk-thrifty-0123456789",
        "FEW_TOKENS_KEY": "sk-few-0123456789",
        "RPM_KEY": RPM_KEY,
    }
    config = config_mod.parse(raw, environ=environ)
    with serve_app(create_app(config, environ=environ)) as url:
        yield url, db


@pytest.fixture
def client(sdk: Callable[..., openai.OpenAI]) -> Callable[[str, str], openai.OpenAI]:
    return lambda url, key: sdk(url, key)


def test_no_key_is_401_and_reaches_no_upstream(gateway: tuple[str, Path], sim: Sim) -> None:
    response = httpx.post(f"{gateway[0]}/v1/chat/completions", json={"model": "cheap", "messages": HI})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "missing_api_key"
    assert sim.requests() == []


def test_wrong_key_is_401(gateway: tuple[str, Path], sim: Sim, client: Callable[[str, str], openai.OpenAI]) -> None:
    with pytest.raises(openai.AuthenticationError):
        client(gateway[0], "sk-nope").chat.completions.create(model="cheap", messages=HI)
    assert sim.requests() == []


def test_a_valid_key_works_and_its_id_not_the_key_is_logged(
    gateway: tuple[str, Path], client: Callable[[str, str], openai.OpenAI]
) -> None:
    raw = client(gateway[0], TEAM_KEY).chat.completions.with_raw_response.create(model="router", messages=HI)
    request_id = raw.headers["x-router-request-id"]
    assert logged_row(gateway[1], request_id, "api_key_id") == ("team-a",)
    assert TEAM_KEY not in "\n".join(sqlite3.connect(gateway[1]).iterdump())


def test_x_api_key_header_is_accepted(gateway: tuple[str, Path]) -> None:
    response = httpx.post(
        f"{gateway[0]}/v1/chat/completions", json={"model": "cheap", "messages": HI}, headers={"x-api-key": TEAM_KEY}
    )
    assert response.status_code == 200


def test_a_model_the_key_may_not_use_is_403(
    gateway: tuple[str, Path], sim: Sim, client: Callable[[str, str], openai.OpenAI]
) -> None:
    with pytest.raises(openai.PermissionDeniedError) as info:
        client(gateway[0], LIMITED_KEY).chat.completions.create(model="strong", messages=HI)
    assert info.value.body["code"] == "model_not_allowed"  # type: ignore[index]
    with pytest.raises(openai.PermissionDeniedError):
        client(gateway[0], LIMITED_KEY).chat.completions.create(model="router", messages=HI)
    assert sim.requests() == []


def test_models_lists_only_what_the_key_may_use(
    gateway: tuple[str, Path], client: Callable[[str, str], openai.OpenAI]
) -> None:
    assert {m.id for m in client(gateway[0], LIMITED_KEY).models.list()} == {"cheap", "embed"}
    assert httpx.get(f"{gateway[0]}/v1/models").status_code == 401


def test_models_retrieve_honours_the_keys_model_list(
    gateway: tuple[str, Path], client: Callable[[str, str], openai.OpenAI]
) -> None:
    limited = client(gateway[0], LIMITED_KEY)
    assert limited.models.retrieve("cheap").id == "cheap"
    with pytest.raises(openai.NotFoundError):
        limited.models.retrieve("strong")  # exists, but not for this key: as absent as in models.list()
    assert client(gateway[0], TEAM_KEY).models.retrieve("strong").id == "strong"
    assert httpx.get(f"{gateway[0]}/v1/models/cheap").status_code == 401


def test_requests_per_minute(gateway: tuple[str, Path], sim: Sim, client: Callable[[str, str], openai.OpenAI]) -> None:
    c = client(gateway[0], RPM_KEY)
    c.embeddings.create(model="embed", input="one")  # embeddings count too
    for _ in range(2):
        c.chat.completions.create(model="cheap", messages=HI)
    seen = len(sim.requests())
    with pytest.raises(openai.RateLimitError) as info:
        c.chat.completions.create(model="cheap", messages=HI)
    assert int(info.value.response.headers["retry-after"]) >= 1
    assert len(sim.requests()) == seen


def test_tokens_per_minute(gateway: tuple[str, Path], client: Callable[[str, str], openai.OpenAI]) -> None:
    c = client(gateway[0], "sk-few-0123456789")
    c.chat.completions.create(model="cheap", messages=HI)  # admitted: nothing used yet this minute
    with pytest.raises(openai.RateLimitError) as info:
        c.chat.completions.create(model="cheap", messages=HI)
    assert "tokens per minute" in info.value.body["message"]  # type: ignore[index]


def test_a_spent_budget_is_429_insufficient_quota(
    gateway: tuple[str, Path], sim: Sim, client: Callable[[str, str], openai.OpenAI]
) -> None:
    c = client(gateway[0], "sk-tiny-0123456789")
    c.chat.completions.create(model="cheap", messages=HI)  # spends more than 1e-9 USD
    seen = len(sim.requests())
    with pytest.raises(openai.RateLimitError) as info:
        c.chat.completions.create(model="cheap", messages=HI)
    assert info.value.body["code"] == "insufficient_quota"  # type: ignore[index]
    assert len(sim.requests()) == seen


def test_a_low_budget_can_route_to_cheaper_candidates(
    gateway: tuple[str, Path], client: Callable[[str, str], openai.OpenAI]
) -> None:
    normal = client(gateway[0], TEAM_KEY).chat.completions.with_raw_response.create(model="router", messages=HI)
    thrifty = client(gateway[0], "sk-thrifty-0123456789").chat.completions.with_raw_response.create(
        model="router", messages=HI
    )
    assert normal.headers["x-router-model"] == "cheap"
    assert thrifty.headers["x-router-model"] == "weak"  # the cheapest candidate, acceptable or not


def test_admin_status_needs_the_admin_key(gateway: tuple[str, Path]) -> None:
    url = f"{gateway[0]}/admin/status"
    assert httpx.get(url).status_code == 401
    assert httpx.get(url, headers={"authorization": f"Bearer {TEAM_KEY}"}).status_code == 403
    status = httpx.get(url, headers={"authorization": f"Bearer {ADMIN_KEY}"})
    assert status.status_code == 200
    body = status.json()
    keys = {"team-a", "limited", "tiny-budget", "tiny-dialects", "thrifty", "few-tokens", "three-a-minute"}
    assert set(body["keys"]) == keys
    assert ADMIN_KEY not in json.dumps(body) and TEAM_KEY not in json.dumps(body)


def test_health_needs_no_key(gateway: tuple[str, Path]) -> None:
    assert httpx.get(f"{gateway[0]}/health").status_code == 200


def test_missing_key_env_is_a_config_error() -> None:
    raw = {"backend": [{"name": "a", "model": "m"}], "key": [{"id": "k", "key_env": "NOT_SET_ANYWHERE"}]}
    with pytest.raises(config_mod.ConfigError, match="key\\[0\\].key_env: environment variable 'NOT_SET_ANYWHERE'"):
        config_mod.parse(raw, environ={})


def test_anthropic_clients_key_arrives_as_x_api_key(gateway: tuple[str, Path], sim: Sim) -> None:
    hi: Any = [{"role": "user", "content": "Hello"}]
    with anthropic.Anthropic(base_url=gateway[0], api_key=TEAM_KEY, max_retries=0) as claude:
        assert claude.messages.create(model="cheap", max_tokens=20, messages=hi).content
    with anthropic.Anthropic(base_url=gateway[0], api_key="sk-nope", max_retries=0) as claude:
        with pytest.raises(anthropic.AuthenticationError):
            claude.messages.create(model="cheap", max_tokens=20, messages=hi)
    with anthropic.Anthropic(base_url=gateway[0], api_key=LIMITED_KEY, max_retries=0) as claude:
        with pytest.raises(anthropic.PermissionDeniedError):
            claude.messages.create(model="router", max_tokens=20, messages=hi)


def test_every_dialect_spends_from_and_is_held_to_the_keys_budget(
    gateway: tuple[str, Path], sim: Sim, client: Callable[[str, str], openai.OpenAI]
) -> None:
    hi: Any = [{"role": "user", "content": "Hello"}]
    with anthropic.Anthropic(base_url=gateway[0], api_key=TINY_DIALECTS_KEY, max_retries=0) as claude:
        with claude.messages.stream(model="cheap", max_tokens=20, messages=hi) as stream:
            stream.get_final_message()  # a streamed Messages call spends more than the 1e-9 USD budget
        seen = len(sim.requests())
        with pytest.raises(anthropic.RateLimitError):
            claude.messages.create(model="cheap", max_tokens=20, messages=hi)
    c = client(gateway[0], TINY_DIALECTS_KEY)
    with pytest.raises(openai.RateLimitError):
        c.responses.create(model="cheap", input="Hello")
    with pytest.raises(openai.RateLimitError):
        c.completions.create(model="cheap", prompt="Hello")
    assert len(sim.requests()) == seen
