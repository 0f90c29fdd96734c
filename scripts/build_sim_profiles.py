"""Build proxy/simulator/profiles.json: per-model aggregates of the real routing and latency data.

    python -m scripts.build_sim_profiles [--data-dir ../shared/data] [--out proxy/simulator/profiles.json]

Only aggregates leave the data directory (accuracy, counts, medians, latency percentiles), so the
result may be committed and the simulator works from a fresh clone. The output is deterministic:
sorted keys, rounded floats, no timestamps.

Latency is measured per provider endpoint, not per prompt, and not for every model in the quality data.
LATENCY_MAP below says which measured rows stand in for each simulated model; "nearest comparable" means
same vendor and tier, else same parameter class and era.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import math
import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from proxy.simulator.tasks import FAMILIES, guess_family
from proxy.training.dataset import find_long_files, iter_rows

REPO_ROOT = Path(__file__).resolve().parents[1]

# Output length assumed where no source stored response lengths for a family (characters, not tokens).
# These are guesses, flagged as such in the output; every other number there is measured.
ASSUMED_CHARS = {
    "code": 900,
    "multiple_choice": 300,
    "math": 500,
    "logic_puzzle": 700,
    "long_context": 800,
    "open_qa": 1200,
}

# A median of fewer response lengths than this is noise (e.g. the 2 MBPP prompts the guesser calls open_qa).
MIN_CHAR_SAMPLES = 30

# provider, family, parameters in billions (None when undisclosed). Public facts or obvious from the name.
MODEL_INFO: dict[str, tuple[str, str, float | None]] = {
    "gpt-4-1106-preview": ("openai", "gpt-4", None),
    "gpt-3.5-turbo-1106": ("openai", "gpt-3.5", None),
    "claude-v1": ("anthropic", "claude-1", None),
    "claude-v2": ("anthropic", "claude-2", None),
    "claude-instant-v1": ("anthropic", "claude-instant", None),
    "meta/llama-2-70b-chat": ("meta", "llama-2", 70),
    "meta/code-llama-instruct-34b-chat": ("meta", "code-llama", 34),
    "mistralai/mixtral-8x7b-chat": ("mistralai", "mixtral", 46.7),
    "mistralai/Mixtral-8x7B-Instruct-v0.1": ("mistralai", "mixtral", 46.7),
    "mistralai/mistral-7b-chat": ("mistralai", "mistral", 7.3),
    "zero-one-ai/Yi-34B-Chat": ("01-ai", "yi", 34),
    "WizardLM/WizardLM-13B-V1.2": ("wizardlm", "llama-2", 13),
    "qwen2.5-7b-instruct": ("alibaba", "qwen-2.5", 7.6),
    "llama-3.1-8b-instruct": ("meta", "llama-3.1", 8),
    "llama-3.1-nemotron-51b-instruct": ("nvidia", "nemotron", 51),
    "llama-3.3-nemotron-super-49b-v1": ("nvidia", "nemotron", 49),
    "gemma-2-9b-it": ("google", "gemma-2", 9),
    "mistral-7b-instruct-v0.3": ("mistralai", "mistral", 7.3),
    "codegemma-7b": ("google", "codegemma", 7),
    "llama3-chatqa-1.5-8b": ("nvidia", "chatqa", 8),
    "llama3-chatqa-1.5-70b": ("nvidia", "chatqa", 70),
}

# Short names used in the data README, resolved to the names the data files spell.
ALIASES = {
    "mixtral-8x7b": "mistralai/mixtral-8x7b-chat",
    "llama-2-70b-chat": "meta/llama-2-70b-chat",
    "code-llama-34b": "meta/code-llama-instruct-34b-chat",
    "mistral-7b": "mistralai/mistral-7b-chat",
    "Yi-34B-Chat": "zero-one-ai/Yi-34B-Chat",
    "WizardLM-13B": "WizardLM/WizardLM-13B-V1.2",
}


@dataclass(frozen=True)
class LatencySource:
    """Which measured rows stand in for a model: thefastest.ai (provider, model) pairs, llmperf
    (provider, size) pairs, coder543 model names. The early thefastest.ai runs left `model` blank and
    put the model in `provider`; those appear here as ("", model)."""

    why: str
    fastest: tuple[tuple[str, str], ...] = ()
    llmperf: tuple[tuple[str, str], ...] = ()
    coder543: tuple[str, ...] = ()


def _fastest(*models: str, providers: Iterable[str]) -> tuple[tuple[str, str], ...]:
    return tuple((p, m) for m in models for p in providers)


_NON_GROQ = (
    "anyscale.com",
    "api.fireworks.ai",
    "fireworks.ai",
    "octo.ai",
    "text.octoai.run",
    "octoai.run",
    "perplexity.ai",
    "databricks.com",
    "azuredatabricks.net",
    "together.ai",
    "together.xyz",
)
_LLAMA3_8B = _fastest(
    "llama-3-8b-chat", "llama-v3-8b-instruct", "Llama-3-8b-chat-hf", "llama-3-8b-instruct", providers=_NON_GROQ
)
_LLAMA3_70B = _fastest(
    "llama-3-70b-chat", "llama-v3-70b-instruct", "Llama-3-70b-chat-hf", "llama-3-70b-instruct", providers=_NON_GROQ
)
_MIXTRAL = _fastest("mixtral-8x7b-instruct", "Mixtral-8x7B-Instruct-v0.1", providers=_NON_GROQ)
_SMALL_NIM = LatencySource("7-9B model: thefastest.ai Llama-3-8B rows, GPU providers (Groq excluded)", _LLAMA3_8B)
_LARGE_NIM = LatencySource("49-70B model: thefastest.ai Llama-3-70B rows, GPU providers (Groq excluded)", _LLAMA3_70B)
_34B = LatencySource(
    "no 34B measured: LLMPerf Together Llama-2 13B and 70B pooled", llmperf=(("together", "13b"), ("together", "70b"))
)

LATENCY_MAP: dict[str, LatencySource] = {
    "gpt-4-1106-preview": LatencySource(
        "same model: thefastest.ai OpenAI gpt-4-1106-preview", _fastest("gpt-4-1106-preview", providers=("openai", ""))
    ),
    "gpt-3.5-turbo-1106": LatencySource(
        "same model: thefastest.ai OpenAI gpt-3.5-turbo-1106", _fastest("gpt-3.5-turbo-1106", providers=("openai", ""))
    ),
    "claude-v2": LatencySource(
        "nearest: thefastest.ai Anthropic claude-2.1", _fastest("claude-2.1", providers=("anthropic", ""))
    ),
    "claude-v1": LatencySource(
        "claude-1 not measured: thefastest.ai Anthropic claude-2.1", _fastest("claude-2.1", providers=("anthropic", ""))
    ),
    "claude-instant-v1": LatencySource(
        "nearest: thefastest.ai Anthropic claude-instant-1.2",
        _fastest("claude-instant-1.2", providers=("anthropic", "")),
    ),
    "meta/llama-2-70b-chat": LatencySource("same model: LLMPerf Together Llama-2-70B", llmperf=(("together", "70b"),)),
    "meta/code-llama-instruct-34b-chat": _34B,
    "zero-one-ai/Yi-34B-Chat": _34B,
    "WizardLM/WizardLM-13B-V1.2": LatencySource(
        "Llama-2-13B fine-tune: LLMPerf Together Llama-2-13B", llmperf=(("together", "13b"),)
    ),
    "mistralai/mistral-7b-chat": LatencySource(
        "7B, same era and provider as RouterBench: LLMPerf Together Llama-2-7B", llmperf=(("together", "7b"),)
    ),
    "mistralai/mixtral-8x7b-chat": LatencySource("same model: thefastest.ai Mixtral-8x7B, Groq excluded", _MIXTRAL),
    "mistralai/Mixtral-8x7B-Instruct-v0.1": LatencySource(
        "same model: thefastest.ai Mixtral-8x7B, Groq excluded", _MIXTRAL
    ),
    "mistral-7b-instruct-v0.3": LatencySource(
        "same model family: coder543 open-mistral-7b (Mistral API)", coder543=("open-mistral-7b",)
    ),
    "qwen2.5-7b-instruct": _SMALL_NIM,
    "llama-3.1-8b-instruct": _SMALL_NIM,
    "gemma-2-9b-it": _SMALL_NIM,
    "codegemma-7b": _SMALL_NIM,
    "llama3-chatqa-1.5-8b": _SMALL_NIM,
    "llama3-chatqa-1.5-70b": _LARGE_NIM,
    "llama-3.1-nemotron-51b-instruct": _LARGE_NIM,
    "llama-3.3-nemotron-super-49b-v1": _LARGE_NIM,
}


@dataclass
class Tally:
    n: int = 0
    correct_sum: float = 0.0

    def add(self, correct: float) -> None:
        self.n += 1
        self.correct_sum += correct


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _float(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def read_latency(latency_dir: Path) -> dict[str, list[tuple[float, float]]]:
    """(ttft_s, decode tokens/s) samples keyed by "fastest|provider|model", "llmperf|provider|size",
    "coder543|model"."""
    samples: dict[str, list[tuple[float, float]]] = defaultdict(list)
    with open(latency_dir / "thefastest_ai_runs.csv", encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            provider, model = row["provider"], row["model"]
            if not model:
                provider, model = "", provider
            ttft, tps = _float(row["ttft_s"]), _float(row["tokens_per_s"])
            if row["mode"] == "text" and ttft and tps and tps < 999:  # 999 = everything in one chunk
                samples[f"fastest|{provider}|{model}"].append((ttft, tps))
    with open(latency_dir / "llmperf_leaderboard_requests.csv", encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            ttft, e2e, tokens = _float(row["ttft_s"]), _float(row["end_to_end_latency_s"]), _float(row["output_tokens"])
            if not row["error_code"] and ttft and e2e and tokens and e2e > ttft:
                samples[f"llmperf|{row['provider']}|{row['model_size']}"].append((ttft, tokens / (e2e - ttft)))
    with open(latency_dir / "coder543_llm_speed_runs.csv", encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            ttft, tps = _float(row["Time To First Token"]), _float(row["Response Tok/s"])
            if ttft and tps:
                samples[f"coder543|{row['model']}"].append((ttft, tps))
    return samples


def latency_profile(source: LatencySource, samples: dict[str, list[tuple[float, float]]]) -> dict[str, object]:
    keys = [f"fastest|{p}|{m}" for p, m in source.fastest]
    keys += [f"llmperf|{p}|{s}" for p, s in source.llmperf]
    keys += [f"coder543|{m}" for m in source.coder543]
    used = sorted(k for k in keys if samples.get(k))
    pooled = [s for k in used for s in samples[k]]
    if len(pooled) < 5:
        raise SystemExit(f"too few latency samples ({len(pooled)}) for {source.why}")
    ttft = [t for t, _ in pooled]
    tps = [s for _, s in pooled]
    return {
        "measured_as": source.why,
        "rows": used,
        "n": len(pooled),
        "ttft_s_p10": round(quantile(ttft, 0.1), 4),
        "ttft_s_p50": round(quantile(ttft, 0.5), 4),
        "ttft_s_p90": round(quantile(ttft, 0.9), 4),
        "tokens_per_s_p10": round(quantile(tps, 0.1), 2),
        "tokens_per_s_p50": round(quantile(tps, 0.5), 2),
        "tokens_per_s_p90": round(quantile(tps, 0.9), 2),
    }


def _median_chars(chars: list[int]) -> int | None:
    return int(statistics.median(chars)) if len(chars) >= MIN_CHAR_SAMPLES else None


def _stats(tally: Tally, chars: list[int]) -> dict[str, object]:
    return {
        "n": tally.n,
        "accuracy": round(tally.correct_sum / tally.n, 4) if tally.n else None,
        "response_chars_p50": _median_chars(chars),
    }


def build(data_dir: Path) -> dict[str, object]:
    files = find_long_files(data_dir)
    if not files:
        raise SystemExit(f"no *_long.csv.gz under {data_dir}")
    tallies: dict[str, dict[str, dict[str, Tally]]] = defaultdict(lambda: defaultdict(lambda: defaultdict(Tally)))
    chars: dict[str, dict[str, dict[str, list[int]]]] = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    family_chars: dict[str, list[int]] = defaultdict(list)
    sources: dict[str, set[str]] = defaultdict(set)
    family_cache: dict[str, str] = {}
    for path in files:
        for row in iter_rows(path):
            family = family_cache.get(row.prompt)
            if family is None:
                family = family_cache[row.prompt] = guess_family(row.prompt)
            task = row.task.split(":")[0] or f"{row.source.split('(')[0].lower()}_mixed"
            sources[row.model].add(row.source)
            groups = {"all": "all", "by_family": family, "by_task": task}
            for kind, key in groups.items():
                if row.correct is not None:
                    tallies[row.model][kind][key].add(row.correct)
                if row.response_chars is not None:
                    chars[row.model][kind][key].append(row.response_chars)
            if row.response_chars is not None:
                family_chars[family].append(row.response_chars)
    samples = read_latency(data_dir / "latency")
    models: dict[str, object] = {}
    for model in sorted(tallies):
        if model not in LATENCY_MAP or model not in MODEL_INFO:
            raise SystemExit(f"model {model!r} has no entry in LATENCY_MAP / MODEL_INFO: add one")
        provider, family, params_b = MODEL_INFO[model]
        overall = _stats(tallies[model]["all"]["all"], chars[model]["all"]["all"])
        models[model] = {
            "sources": sorted(sources[model]),
            "provider": provider,
            "family": family,
            "params_b": params_b,
            "n": overall["n"],
            "accuracy": overall["accuracy"],
            "response_chars_p50": overall["response_chars_p50"],
            "by_family": {k: _stats(v, chars[model]["by_family"][k]) for k, v in tallies[model]["by_family"].items()},
            "by_task": {k: _stats(v, chars[model]["by_task"][k]) for k, v in tallies[model]["by_task"].items()},
            "latency": latency_profile(LATENCY_MAP[model], samples),
        }
    measured = {f: m for f, v in family_chars.items() if (m := _median_chars(v)) is not None}
    return {
        "format": 1,
        "built_by": "scripts/build_sim_profiles.py",
        "inputs": {p.relative_to(data_dir).as_posix(): _sha256(p)[:16] for p in files},
        "aliases": ALIASES,
        "family_chars_p50": {f: measured.get(f, ASSUMED_CHARS[f]) for f in FAMILIES},
        "family_chars_assumed": sorted(f for f in FAMILIES if f not in measured),
        "models": models,
    }


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--data-dir", type=Path, default=REPO_ROOT.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "proxy" / "simulator" / "profiles.json")
    args = parser.parse_args(argv)
    profiles = build(args.data_dir)
    args.out.write_text(json.dumps(profiles, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
