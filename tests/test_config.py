from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from proxy import config
from proxy.config import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def minimal(**backend: Any) -> dict[str, Any]:
    return {"backend": [{"name": "a", "model": "openai/gpt-4o", **backend}]}


def test_example_config_loads_and_documents_every_key() -> None:
    cfg = config.load(ROOT / "config.example.toml")
    assert len(cfg.backends) == 11
    assert cfg.alias("router") is not None and set(cfg.alias("router").candidates) == {b.name for b in cfg.backends}
    assert cfg.log.path == ROOT / "var" / "switchyard.db"
    text = (ROOT / "config.example.toml").read_text()
    # Every key the loader reads, taken from its source, so a new key cannot go undocumented.
    source = (ROOT / "proxy" / "config.py").read_text()
    documented = set(
        re.findall(r"\.(?:string|integer|number|flag|choice|optional_\w+|str_list|table|array)\(\"(\w+)\"", source)
    )
    assert len(documented) > 50
    missing = {key for key in documented if not re.search(rf"\b{key}\b", text)}
    assert not missing


def test_prices_default_to_litellms_local_cost_map() -> None:
    backend = config.parse(minimal()).backends[0]
    assert backend.prices.source == "litellm"
    assert backend.prices.input_per_token > 0 and backend.prices.output_per_token > 0
    assert backend.context_window == 128000


def test_configured_prices_win() -> None:
    backend = config.parse(minimal(input_cost_per_token=1e-6)).backends[0]
    assert backend.prices.source == "config"
    assert backend.prices.input_per_token == 1e-6 and backend.prices.output_per_token == 0.0


def test_unknown_model_has_no_prices_but_loads() -> None:
    backend = config.parse({"backend": [{"name": "x", "model": "openai/my-own-model"}]}).backends[0]
    assert backend.prices.source == "none"


def test_default_alias_routes_among_every_backend() -> None:
    cfg = config.parse({"backend": [{"name": "a", "model": "m1"}, {"name": "b", "model": "m2"}]})
    assert [(a.name, a.candidates) for a in cfg.aliases] == [("router", ("a", "b"))]


@pytest.mark.parametrize(
    "raw,message",
    [
        ({}, "backend: at least one"),
        ({"backend": [{"model": "m"}]}, "backend[0].name: required key is missing"),
        (minimal(input_cost_per_token="cheap"), "backend[0].input_cost_per_token: expected a number, got 'cheap'"),
        (minimal(input_cost_per_token=-1), "backend[0].input_cost_per_token: expected a value >= 0.0, got -1"),
        (minimal(supports_tools="yes"), "backend[0].supports_tools: expected true or false, got 'yes'"),
        (minimal(temprature=1), "backend[0].temprature: unknown key (value 1)"),
        ({"backend": [{"name": "a", "model": "m"}, {"name": "a", "model": "n"}]}, "'a' is used twice"),
        ({**minimal(), "alias": [{"name": "r", "candidates": ["zzz"]}]}, "'zzz' is not a configured backend"),
        ({**minimal(), "alias": [{"name": "a"}]}, "alias.name: 'a' is also a backend name"),
        ({**minimal(), "alias": [{"name": "r", "min_acceptability": 1.5}]}, "alias[0].min_acceptability"),
        ({**minimal(), "server": {"port": 70000}}, "server.port: expected a value >= 0 and <= 65535, got 70000"),
        ({**minimal(), "log": {"bodies": "some"}}, "log.bodies: expected one of ['full', 'hash', 'none'], got 'some'"),
        ({**minimal(), "server": []}, "server: expected a table"),
    ],
)
def test_errors_name_the_key_and_the_value(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        config.parse(raw)
    assert message in str(info.value)


def test_bad_toml_and_missing_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[server\nport = 1")
    with pytest.raises(ConfigError, match="invalid TOML"):
        config.load(bad)
    with pytest.raises(ConfigError, match="cannot read config file"):
        config.load(tmp_path / "missing.toml")


def test_relative_paths_resolve_against_the_config_file(tmp_path: Path) -> None:
    path = tmp_path / "conf" / "c.toml"
    path.parent.mkdir()
    path.write_text('models_dir = "m"\n[log]\npath = "db/x.db"\n[[backend]]\nname = "a"\nmodel = "m"\n')
    cfg = config.load(path)
    assert cfg.log.path == path.parent / "db" / "x.db"
    assert cfg.models_dir == path.parent / "m"


def test_api_keys_come_from_the_named_environment_variables() -> None:
    cfg = config.parse(
        {
            "backend": [
                {"name": "a", "model": "m", "api_key_env": "KEY_A"},
                {"name": "b", "model": "m", "api_key_env": "UNSET"},
                {"name": "c", "model": "m"},
            ]
        }
    )
    assert config.api_keys(cfg, {"KEY_A": "secret-a"}) == {"a": "secret-a"}
