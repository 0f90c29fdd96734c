"""The model catalog: matching, the config's keys over it, cold start, coverage of the data's models, bad files."""

from __future__ import annotations

from pathlib import Path

import pytest

from proxy import config as config_mod
from proxy.route.catalog import Catalog, CatalogError, load_catalog
from proxy.route.profile import LLMProfile
from proxy.settings import Backend
from tests.test_dataset import DATA_DIR

# Every model name of the long-format data, as upstream spells it (data README and files).
DATA_MODELS = (
    "gpt-4-1106-preview",
    "gpt-3.5-turbo-1106",
    "claude-v1",
    "claude-v2",
    "claude-instant-v1",
    "meta/llama-2-70b-chat",
    "meta/code-llama-instruct-34b-chat",
    "mistralai/mixtral-8x7b-chat",
    "mistralai/mistral-7b-chat",
    "zero-one-ai/Yi-34B-Chat",
    "WizardLM/WizardLM-13B-V1.2",
    "mistralai/Mixtral-8x7B-Instruct-v0.1",
    "qwen2.5-7b-instruct",
    "llama-3.1-8b-instruct",
    "llama-3.1-nemotron-51b-instruct",
    "llama-3.3-nemotron-super-49b-v1",
    "gemma-2-9b-it",
    "mistral-7b-instruct-v0.3",
    "codegemma-7b",
    "llama3-chatqa-1.5-8b",
    "llama3-chatqa-1.5-70b",
)


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def test_every_data_model_is_in_the_catalog(catalog: Catalog) -> None:
    missing = [m for m in DATA_MODELS if catalog.find(m) is None]
    assert missing == []


@pytest.mark.data
def test_every_model_in_the_data_files_is_in_the_catalog(catalog: Catalog) -> None:
    if not DATA_DIR.is_dir():
        pytest.skip(f"../shared/data not present: {DATA_DIR} holds the real long-format files")
    from proxy.training.dataset import find_long_files, iter_rows

    models = {row.model for path in find_long_files(DATA_DIR) for row in iter_rows(path)}
    assert sorted(m for m in models if catalog.find(m) is None) == []


def test_matching_by_prefix_alias_and_case(catalog: Catalog) -> None:
    assert catalog.find("openai/gpt-4o").catalog_id == "gpt-4o"
    assert catalog.find("GPT-4O-2024-08-06").catalog_id == "gpt-4o"
    assert catalog.find("groq/llama-3.1-8b-instant").catalog_id == "llama-3.1-8b-instruct"
    assert catalog.find("no-such-model") is None


def test_catalog_entries_carry_prices_latency_and_accuracy(catalog: Catalog) -> None:
    gpt4 = catalog.find("gpt-4-1106-preview")
    assert gpt4.input_per_token == pytest.approx(10e-6) and gpt4.output_per_token == pytest.approx(30e-6)
    assert gpt4.ttft_s is not None and gpt4.tokens_per_s is not None  # measured in data/latency
    assert gpt4.accuracy is not None and 0.5 < gpt4.accuracy < 1.0
    assert gpt4.measured["all"][1] > 1000
    assert catalog.find("llama-3.1-405b-instruct").parameters_b == 405.0


def configured(**keys: object) -> Backend:
    return config_mod.parse({"backend": [keys]}).backends[0]


def test_config_fields_win_over_the_catalog(catalog: Catalog) -> None:
    backend = configured(
        name="fast-4o",
        model="azure/gpt-4o",
        input_cost_per_token=1e-6,
        output_cost_per_token=2e-6,
        ttft_s=0.05,
        specializations=["summarization"],
        training_domain="financial",
        context_window=4096,
    )
    p = backend.profile
    assert (p.name, p.model, p.catalog_id) == ("fast-4o", "azure/gpt-4o", "gpt-4o")
    assert p.input_per_token == 1e-6 and p.output_per_token == 2e-6
    assert p.ttft_s == 0.05 and p.tokens_per_s == catalog.find("gpt-4o").tokens_per_s
    assert p.specializations == ("summarization",) and p.training_domain == "financial"
    assert p.context_window == 4096
    assert p.supports_vision  # from the catalog: a key the config leaves out never overrides it
    assert p.maker == "openai" and p.release_date == "2024-05-13"


def test_capability_keys_the_config_sets_win_either_way(catalog: Catalog) -> None:
    assert catalog.find("claude-v2").supports_tools is False and catalog.find("gpt-4o").supports_vision is True
    assert configured(name="a", model="claude-v2", supports_tools=True).profile.supports_tools is True
    assert configured(name="b", model="gpt-4o", supports_vision=False).profile.supports_vision is False


def test_unknown_model_gets_a_cold_start_profile(catalog: Catalog) -> None:
    p = configured(name="new", model="acme/brand-new-7b", parameters_b=7.0).profile
    assert p == LLMProfile(name="new", model="acme/brand-new-7b", parameters_b=7.0)
    assert p.catalog_id is None and p.maker == "other" and p.parameters_b == 7.0
    assert p.history_key == "acme/brand-new-7b"


def test_bad_catalog_files_name_the_model_and_key(tmp_path: Path) -> None:
    bad_key = tmp_path / "a.toml"
    bad_key.write_text('[models."m"]\nmaker = "openai"\nparams = 7\n', encoding="utf-8")
    with pytest.raises(CatalogError, match=r"models\.m\.params"):
        load_catalog(bad_key)
    bad_maker = tmp_path / "b.toml"
    bad_maker.write_text('[models."m"]\nmaker = "acme"\n', encoding="utf-8")
    with pytest.raises(CatalogError, match=r"models\.m\.maker"):
        load_catalog(bad_maker)
    dup = tmp_path / "c.toml"
    dup.write_text('[models."m"]\naliases = ["x"]\n[models."n"]\naliases = ["X"]\n', encoding="utf-8")
    with pytest.raises(CatalogError, match="already names"):
        load_catalog(dup)
