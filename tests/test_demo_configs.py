"""The demo line-ups: every backend is a model the simulator plays and the catalog describes, and the 2024
config states only what the catalog cannot (prices litellm lacks under the demo's names, unmeasured speed)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from proxy import config
from proxy.route.catalog import load_catalog
from proxy.simulator.profiles import load_profiles
from tests.conftest import ROOT

LINEUP_2024 = ROOT / "config.example.toml"
LINEUP_2023 = ROOT / "config.2023.toml"
# Keys whose value the catalog holds; the 2024 line-up leaves them to it.
CATALOG_KEYS = set(config.DESCRIPTIVE_KEYS) - {"ttft_s", "tokens_per_s"}


@pytest.mark.parametrize("path", [LINEUP_2024, LINEUP_2023], ids=["2024", "2023"])
def test_every_demo_backend_is_simulated_and_catalogued(path: Path) -> None:
    cfg = config.load(path)
    profiles, catalog = load_profiles(), load_catalog()
    for backend in cfg.backends:
        served = backend.model.split("/", 1)[-1]  # the name the simulator is asked for, after the provider
        assert profiles.get(served) is not None, backend.name
        assert catalog.find(served) is not None, backend.name
        assert backend.prices.source != "none" and backend.prices.output_per_token > 0, backend.name


def test_2024_lineup_spans_the_price_range_under_catalog_names() -> None:
    cfg = config.load(LINEUP_2024)
    catalog = load_catalog()
    assert len(cfg.backends) >= 10
    for backend in cfg.backends:
        entry = catalog.find(backend.name)
        assert entry is not None and entry.catalog_id == backend.name  # the catalog's own spelling
        assert entry.release_date is not None and entry.release_date.startswith("2024")
    output_prices = sorted(b.prices.output_per_token for b in cfg.backends)
    assert output_prices[-1] / output_prices[0] > 30


def test_2024_lineup_repeats_nothing_the_catalog_holds() -> None:
    raw = tomllib.loads(LINEUP_2024.read_text(encoding="utf-8"))
    cfg = config.load(LINEUP_2024)
    catalog, profiles = load_catalog(), load_profiles()
    for spec in raw["backend"]:
        assert not CATALOG_KEYS & set(spec), spec["name"]
        entry, played = catalog.find(spec["name"]), profiles.get(spec["name"])
        assert entry is not None and played is not None
        backend = next(b for b in cfg.backends if b.name == spec["name"])
        if "speed_as" in spec:
            # Only for a model nobody measured, and then the stand-in the simulator plays, named on both sides.
            assert entry.ttft_s is None and entry.tokens_per_s is None, spec["name"]
            assert spec["speed_as"] == played.latency.stand_in, spec["name"]
            assert (backend.profile.ttft_s, backend.profile.tokens_per_s) == (
                played.latency.ttft_s_p50,
                played.latency.tokens_per_s_p50,
            ), spec["name"]
            assert backend.profile.speed_source.startswith(f"stand-in: {spec['speed_as']}'s"), spec["name"]
        else:
            assert entry.ttft_s is not None, f"{spec['name']}: unmeasured, the config must name its stand-in"
            assert backend.profile.speed_source.startswith("measured:"), spec["name"]
            assert played.latency.stand_in is None, spec["name"]
