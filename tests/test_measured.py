"""The router and the simulator read the measured tables one way (`proxy.route.measured`): the same token
count for a text, the same TTFT (prefill included) and rate for a model, and answer lengths taken from the
data's measured lengths, with the stand-in named on both sides where a model was never measured."""

from __future__ import annotations

import csv
import gzip
import statistics
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from proxy import config
from proxy.request import parse_chat as router_chat
from proxy.route import measured
from proxy.route.catalog import default_catalog
from proxy.route.features import compute_features
from proxy.route.features.history import History
from proxy.route.profile import LLMProfile
from proxy.route.scoring import PriorScorer
from proxy.simulator.answers import prompt_tokens
from proxy.simulator.behaviour import plan
from proxy.simulator.chat_request import parse_chat as sim_chat
from proxy.simulator.labels import load_known_prompts
from proxy.simulator.profiles import LatencyProfile, Profiles, load_profiles
from proxy.simulator.words import count_tokens, tokens
from proxy.training.dataset import COLUMNS

# A prompt long enough that its prefill shows in the TTFT.
LONG = "Read the passage and answer the question at the end. " * 120 + "What is the passage about?"


def test_a_token_is_four_characters_everywhere() -> None:
    assert [measured.tokens_for_chars(n) for n in (0, 1, 4, 5, 400)] == [0, 1, 1, 2, 100]
    text = "The model answer follows from the given data, step by step."
    pieces = tokens(text)
    assert "".join(pieces) == text and all(1 <= len(p) <= measured.CHARS_PER_TOKEN for p in pieces)
    assert count_tokens(text) == len(pieces) == measured.tokens_for_chars(len(text))


def _fixed_speed(ttft_s: float, tokens_per_s: float) -> LatencyProfile:
    """A measurement without spread, so the simulator's draw is the median."""
    return LatencyProfile("measured", None, 10, ttft_s, ttft_s, ttft_s, tokens_per_s, tokens_per_s, tokens_per_s)


def test_router_and_simulator_read_ttft_and_rate_the_same_way() -> None:
    profiles = load_profiles()
    played = profiles.get("gpt-4o")
    assert played is not None
    played = replace(played, latency=_fixed_speed(0.5, 80.0))
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": LONG}]}
    chat = sim_chat(body)
    sim = plan(chat, played, profiles, None, 0, prompt_tokens(chat))

    routed = router_chat({**body, "model": "router"})
    profile = LLMProfile(name="gpt-4o", model="gpt-4o", ttft_s=0.5, tokens_per_s=80.0)
    features = compute_features(routed, [profile], History.from_catalog(default_catalog()))
    scores = PriorScorer().score(features, [profile], None)

    # Both add the same prefill to the same measured TTFT; the prompt's token counts differ only by the
    # tokenizers (the router's BPE, the simulator's four characters) and the chat format's few tokens.
    assert sim.ttft_s == pytest.approx(measured.ttft_s(0.5, prompt_tokens(chat)))
    assert scores.ttft_s[0] == pytest.approx(measured.ttft_s(0.5, features.prompt.tokens))
    assert scores.ttft_s[0] == pytest.approx(sim.ttft_s, rel=0.1) and scores.ttft_s[0] > 0.5 + 0.1
    assert sim.tokens_per_s == 80.0
    out = scores.output_tokens[0]
    assert scores.latency_s[0] == pytest.approx(float(measured.latency_s(scores.ttft_s, np.array([out]), 80.0)[0]))


def test_the_predicted_latency_is_the_median_of_the_simulated_calls() -> None:
    # Llama-3-70B's pooled measurements (15 to 357 tokens/s) stand in for ChatQA-70B: a wide, skewed spread.
    profiles = load_profiles()
    played = profiles.get("llama3-chatqa-1.5-70b")
    assert played is not None
    lat, out = played.latency, 100
    totals = []
    for i in range(3000):
        chat = sim_chat({"model": played.name, "messages": [{"role": "user", "content": f"Question {i}?"}]})
        p = plan(chat, played, profiles, None, 0, 0)
        totals.append(p.ttft_s + out / p.tokens_per_s)
    ttft = (lat.ttft_s_p10, lat.ttft_s_p50, lat.ttft_s_p90)
    rate = (lat.tokens_per_s_p10, lat.tokens_per_s_p50, lat.tokens_per_s_p90)
    predicted = float(measured.median_latency_s([ttft], [rate], 0, np.array([float(out)]))[0])
    assert statistics.median(totals) == pytest.approx(predicted, rel=0.05)
    # Not the sum of the medians, which the simulated calls exceed more often than not.
    assert predicted > 1.1 * (lat.ttft_s_p50 + out / lat.tokens_per_s_p50)
    flat = measured.median_latency_s([(0.5, 0.5, 0.5)], [(80.0, 80.0, 80.0)], 400, np.array([160.0]))
    assert float(flat[0]) == pytest.approx(measured.latency_s(measured.ttft_s(0.5, 400), 160.0, 80.0))


def _write_long(path: Path, rows: list[tuple[str, str, int]]) -> None:
    with gzip.open(path, "wt", encoding="utf-8", newline="") as handle:
        w = csv.DictWriter(handle, fieldnames=COLUMNS)
        w.writeheader()
        for prompt, model, chars in rows:
            w.writerow(
                {
                    **{c: "" for c in COLUMNS},
                    "source": "synthetic",
                    "prompt_id": prompt[:20],
                    "prompt": prompt,
                    "model": model,
                    "correct": 1.0,
                    "response_chars": chars,
                }
            )


def test_an_unanswered_prompt_gets_the_others_length_times_the_models_verbosity(tmp_path: Path) -> None:
    # Three terse models and one that writes twice as much, on 40 prompts; then a prompt the verbose one
    # never answered, and one nobody did.
    terse, verbose = ("gpt-4o", "gpt-4o-mini", "claude-3-5-haiku-20241022"), "llama-3.1-8b-instruct"
    rows = []
    for i in range(40):
        prompt = f"Question {i}: explain item {i} briefly."
        rows += [(prompt, m, 100 + 10 * i) for m in terse] + [(prompt, verbose, 2 * (100 + 10 * i))]
    unanswered = "Name the three largest moons of Jupiter."
    rows += [(unanswered, m, c) for m, c in zip(terse, (300, 400, 500), strict=True)]
    _write_long(tmp_path / "synthetic_long.csv.gz", rows)
    profiles: Profiles = load_profiles()
    known = load_known_prompts(tmp_path, {m: m for m in (*terse, verbose)})

    assert known.verbosity(verbose).factor == pytest.approx(2.0) and known.verbosity(verbose).n == 40
    assert known.verbosity("gpt-4o").factor == pytest.approx(1.0)
    assert known.verbosity("o1-mini").n == 0  # no lengths in the data: factor 1, said by n

    def planned(model: str, prompt: str) -> tuple[int, str]:
        chat = sim_chat({"model": model, "messages": [{"role": "user", "content": prompt}]})
        profile = profiles.get(model)
        assert profile is not None
        p = plan(chat, profile, profiles, known, 0, prompt_tokens(chat))
        return p.target_chars, p.length_source

    assert planned("gpt-4o", unanswered) == (300, "data")  # its own answer
    assert planned(verbose, unanswered) == (800, "prompt")  # the others' median 400, twice over, no spread
    chars, source = planned(verbose, "Something nobody in the data was asked.")
    assert source == "profile" and chars > 0


def test_a_stand_in_speed_is_the_catalog_models_and_says_so() -> None:
    catalog = default_catalog()
    gpt4o_mini = catalog.find("gpt-4o-mini")
    assert gpt4o_mini is not None and gpt4o_mini.speed_source.startswith("measured: ")
    backends = [
        {"name": "o1-mini", "model": "openai/o1-mini", "speed_as": "gpt-4o-mini"},
        {"name": "acme", "model": "acme/unknown-7b"},
    ]
    cfg = config.parse({"backend": backends, "alias": [{"name": "router"}]})
    o1, acme = (b.profile for b in cfg.backends)
    assert (o1.ttft_s, o1.tokens_per_s) == (gpt4o_mini.ttft_s, gpt4o_mini.tokens_per_s)
    assert o1.speed_source == "stand-in: gpt-4o-mini's measured speed (this model was not measured)"
    assert o1.ttft_s_p10_p90 == gpt4o_mini.ttft_s_p10_p90 is not None
    assert acme.ttft_s is None and acme.speed_source == "default: not measured"
    # The simulator plays o1-mini with the same stand-in.
    played = load_profiles().get("o1-mini")
    assert played is not None and played.latency.stand_in == "gpt-4o-mini"
    assert o1.ttft_s_p10_p90 == (played.latency.ttft_s_p10, played.latency.ttft_s_p90)
    assert o1.tokens_per_s_p10_p90 == (played.latency.tokens_per_s_p10, played.latency.tokens_per_s_p90)


def test_a_stand_in_may_name_the_provider_whose_speed_it_plays() -> None:
    """Pooled over providers, Llama-3-70B's rate spans 15 to 357 tokens/s: no one backend varies that much, and a
    27-call median drawn from it misses its prediction by a third one time in five. One provider's is narrower."""
    catalog = default_catalog()
    pooled = catalog.measured_speed("llama-3-70b-instruct")
    together = catalog.measured_speed("Llama-3-70B-Chat@Together")
    assert pooled is not None and together is not None and together.name == "llama-3-70b-instruct@together"
    assert pooled.tokens_per_s_p10_p90 is not None and together.tokens_per_s_p10_p90 is not None
    low, high = together.tokens_per_s_p10_p90
    assert high / low < 0.25 * (pooled.tokens_per_s_p10_p90[1] / pooled.tokens_per_s_p10_p90[0])
    backends = [{"name": "big", "model": "openai/llama-3.1-405b-instruct", "speed_as": "llama-3-70b-instruct@together"}]
    (big,) = (b.profile for b in config.parse({"backend": backends, "alias": [{"name": "router"}]}).backends)
    assert (big.ttft_s, big.tokens_per_s, big.tokens_per_s_p10_p90) == (
        together.ttft_s,
        together.tokens_per_s,
        together.tokens_per_s_p10_p90,
    )
    assert big.speed_source == "stand-in: llama-3-70b-instruct@together's measured speed (this model was not measured)"
    # The simulator plays Llama-3.1-405B with the same provider's numbers.
    played = load_profiles().get("llama-3.1-405b-instruct")
    assert played is not None and played.latency.stand_in == "llama-3-70b-instruct@together"
    assert (played.latency.tokens_per_s_p10, played.latency.tokens_per_s_p50, played.latency.tokens_per_s_p90) == (
        low,
        together.tokens_per_s,
        high,
    )
    unserved = [{"name": "big", "model": "openai/llama-3.1-405b-instruct", "speed_as": "llama-3-70b-instruct@acme"}]
    with pytest.raises(config.ConfigError, match=r"'llama-3-70b-instruct@acme' is no catalog model \(or provider\)"):
        config.parse({"backend": unserved, "alias": [{"name": "router"}]})


def test_a_stand_in_without_a_measurement_is_refused() -> None:
    backends = [{"name": "o1-mini", "model": "openai/o1-mini", "speed_as": "o1-preview"}]
    with pytest.raises(config.ConfigError, match=r"backend\[0\]\.speed_as: 'o1-preview' is no catalog model"):
        config.parse({"backend": backends, "alias": [{"name": "router"}]})


@pytest.mark.parametrize("width", [1, 2, 255, 256])
def test_row_medians_are_numpys_medians(width: int) -> None:
    rows = np.random.default_rng(width).lognormal(size=(7, width))
    assert np.array_equal(measured._row_medians(rows), np.median(rows, axis=1))


@pytest.mark.parametrize("seed", range(5))
def test_one_candidates_median_latency_is_the_general_cases(seed: int) -> None:
    rng = np.random.default_rng(seed)
    p50 = rng.uniform(0.1, 2.0)
    rate = rng.uniform(20.0, 200.0)
    grid = measured.SpeedGrid.of([(p50 * 0.6, p50, p50 * 1.9)], [(rate * 0.5, rate, rate * 1.4)])
    prompt, out = float(rng.integers(0, 5000)), float(rng.integers(1, 2000))
    general = grid.median_latency_s(prompt, np.array([out]))[0]
    assert grid.one_median_latency_s(prompt, out) == general  # the same number, not a close one
