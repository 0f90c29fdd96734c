"""Build proxy/simulator/profiles.json: per-model aggregates of the real routing and latency data.

    python -m scripts.build_sim_profiles [--data-dir ../shared/data] [--out proxy/simulator/profiles.json]

Only aggregates leave the data directory (accuracy, counts, medians, latency percentiles), so the
result may be committed and the simulator works from a fresh clone. The output is deterministic:
sorted keys, rounded floats, no timestamps.

One simulated model per catalog model (proxy/route/catalog.toml): every upstream spelling of it pools into
one profile (Llama-3.1-70B's ZeroEval and MMLU-Pro runs, say) and becomes an alias. Its facts and list
prices come from the catalog. Latency is measured per provider endpoint, not per prompt, and not for every
model: a measured model plays the catalog's pooled rows (proxy/training/latency.py, the numbers the router
predicts with); an unmeasured one plays a stand-in's (FALLBACK, else by size), named in `measured_as`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from proxy.route.catalog import LLMProfile, load_catalog
from proxy.simulator.tasks import FAMILIES, guess_family
from proxy.training.dataset import find_long_files, iter_rows
from proxy.training.latency import Measured, find, measure

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

# Labels of these files are not correctness: LLMFAO's are GPT-4 pairwise win rates against the other
# models on the same prompt (relative to the field), so they do not say how often a model is acceptable.
NOT_CORRECTNESS = ("llmfao_long.csv.gz",)

# Short names used in the data README (and the 2023 demo config), resolved through the catalog.
README_NAMES = {
    "mixtral-8x7b": "mistralai/mixtral-8x7b-chat",
    "llama-2-70b-chat": "meta/llama-2-70b-chat",
    "code-llama-34b": "meta/code-llama-instruct-34b-chat",
    "mistral-7b": "mistralai/mistral-7b-chat",
    "Yi-34B-Chat": "zero-one-ai/Yi-34B-Chat",
    "WizardLM-13B": "WizardLM/WizardLM-13B-V1.2",
}

# Latency for a model the latency files never measured: the catalog model whose measurements stand in,
# and why. The router's catalog has no latency for these models; a backend that plays one in a demo
# names the same stand-in in its config (`speed_as`, as config.example.toml does), so both predict and play it.
FALLBACK: dict[str, tuple[str, str]] = {
    "claude-v1": ("claude-2.1", "claude-1 not measured: Anthropic claude-2.1"),
    "claude-v2": ("claude-2.1", "claude-2.0 not measured: its successor claude-2.1"),
    "code-llama-34b-instruct": ("llama-2-70b-chat", "no 34B measured: Llama-2-70B-chat, same era"),
    "Yi-34B-Chat": ("llama-2-70b-chat", "no 34B measured: Llama-2-70B-chat, same era"),
    "WizardLM-13B-V1.2": ("llama-2-13b-chat", "Llama-2-13B fine-tune: Llama-2-13B-chat"),
    "mistral-7b-instruct-v0.3": ("mistral-7b-instruct-v0.1", "v0.3 not measured: Mistral-7B (open-mistral-7b)"),
    "gpt-4o-2024-05-13": ("gpt-4o", "the May snapshot of gpt-4o: gpt-4o (Jul/Aug 2024 runs)"),
    "chatgpt-4o-latest": ("gpt-4o", "ChatGPT's gpt-4o: gpt-4o"),
    "gpt-4-0314": ("gpt-4", "the March snapshot of gpt-4: gpt-4"),
    "o1-preview": ("gpt-4o", "no o1 measured: gpt-4o; hidden reasoning time is not simulated"),
    "o1-mini": ("gpt-4o-mini", "no o1 measured: gpt-4o-mini; hidden reasoning time is not simulated"),
    "claude-3-5-sonnet-20240620": ("claude-3-sonnet-20240229", "Claude 3.5 not measured: claude-3-sonnet"),
    "claude-3-5-sonnet-20241022": ("claude-3-sonnet-20240229", "Claude 3.5 not measured: claude-3-sonnet"),
    "claude-3-5-haiku-20241022": ("claude-3-haiku-20240307", "Claude 3.5 not measured: claude-3-haiku"),
    "gemini-1.5-pro-exp-0801": ("gemini-1.5-pro", "experimental gemini-1.5-pro: gemini-1.5-pro"),
    "gemini-1.5-pro-exp-0827": ("gemini-1.5-pro", "experimental gemini-1.5-pro: gemini-1.5-pro"),
    "gemini-1.5-flash-exp-0827": ("gemini-1.5-flash", "experimental gemini-1.5-flash: gemini-1.5-flash"),
    # One provider's measurements (`model@provider`), not the pooled ones: pooled, Llama-3-70B's rate spans
    # 15 to 357 tokens/s over providers, a spread no one backend shows. Together serves both in the demo.
    "llama-3.1-405b-instruct": ("llama-3-70b-instruct@together", "no 405B measured: Llama-3-70B at Together"),
    "qwen2.5-72b-instruct": ("llama-3-70b-instruct@together", "not measured: Llama-3-70B at Together"),
}
# Everything else unmeasured goes by size: open models up to this many (active) billion parameters play
# Llama-3-8B's measured speed, larger ones Llama-3-70B's, undisclosed sizes gpt-4o's (a 2024 frontier API).
SMALL_B = 15.0
_SMALL = ("llama-3-8b-instruct", "not measured, <= 15B parameters: Llama-3-8B, pooled providers")
_LARGE = ("llama-3-70b-instruct", "not measured, > 15B parameters: Llama-3-70B, pooled providers")
_CLOSED = ("gpt-4o", "not measured, size undisclosed: gpt-4o, a 2024 frontier API")


def stand_in(entry: LLMProfile) -> tuple[str, str]:
    if entry.catalog_id in FALLBACK:
        return FALLBACK[entry.catalog_id]
    size = entry.active_parameters_b or entry.parameters_b
    if size is None:
        return _CLOSED
    return _SMALL if size <= SMALL_B else _LARGE


@dataclass
class Tally:
    n: int = 0
    correct_sum: float = 0.0

    def add(self, correct: float) -> None:
        self.n += 1
        self.correct_sum += correct


def latency_profile(cid: str, entry: LLMProfile, measured: dict[str, Measured]) -> dict[str, object]:
    """The model's own measurements when there are any (the catalog's numbers), else its stand-in's."""
    if cid in measured:
        source, why = cid, "measured: the catalog's pooled latency rows of this model"
    else:
        source, why = stand_in(entry)
    m = find(measured, source)
    if m is None:
        raise SystemExit(f"{cid}: stand-in {source!r} has no latency measurement")
    return {
        "measured_as": why,
        "stand_in": source if source != cid else None,
        "n": m.n,
        "ttft_s_p10": round(m.ttft_s[0], 4),
        "ttft_s_p50": round(m.ttft_s[1], 4),
        "ttft_s_p90": round(m.ttft_s[2], 4),
        "tokens_per_s_p10": round(m.tokens_per_s[0], 2),
        "tokens_per_s_p50": round(m.tokens_per_s[1], 2),
        "tokens_per_s_p90": round(m.tokens_per_s[2], 2),
    }


def _per_mtok(per_token: float | None) -> float | None:
    return None if per_token is None else round(per_token * 1e6, 4)


def _median_chars(chars: list[int]) -> int | None:
    return int(statistics.median(chars)) if len(chars) >= MIN_CHAR_SAMPLES else None


def _stats(tally: Tally, chars: list[int]) -> dict[str, object]:
    return {
        "n": tally.n,
        "accuracy": round(tally.correct_sum / tally.n, 4) if tally.n else None,
        "response_chars_p50": _median_chars(chars),
    }


def build(data_dir: Path) -> dict[str, object]:
    files = [p for p in find_long_files(data_dir) if p.name not in NOT_CORRECTNESS]
    if not files:
        raise SystemExit(f"no *_long.csv.gz under {data_dir}")
    catalog = load_catalog()
    tallies: dict[str, dict[str, dict[str, Tally]]] = defaultdict(lambda: defaultdict(lambda: defaultdict(Tally)))
    chars: dict[str, dict[str, dict[str, list[int]]]] = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    family_chars: dict[str, list[int]] = defaultdict(list)
    sources: dict[str, set[str]] = defaultdict(set)
    spellings: dict[str, set[str]] = defaultdict(set)
    family_cache: dict[str, str] = {}
    unknown: set[str] = set()
    for path in files:
        for row in iter_rows(path):
            entry = catalog.find(row.model)
            if entry is None or entry.catalog_id is None:
                unknown.add(row.model)
                continue
            cid = entry.catalog_id
            family = family_cache.get(row.prompt)
            if family is None:
                family = family_cache[row.prompt] = guess_family(row.prompt)
            task = row.task.split(":")[0] or f"{row.source.split('(')[0].lower()}_mixed"
            sources[cid].add(row.source)
            spellings[cid].add(row.model)
            groups = {"all": "all", "by_family": family, "by_task": task}
            for kind, key in groups.items():
                if row.correct is not None:
                    tallies[cid][kind][key].add(row.correct)
                if row.response_chars is not None:
                    chars[cid][kind][key].append(row.response_chars)
            if row.response_chars is not None:
                family_chars[family].append(row.response_chars)
    if unknown:
        raise SystemExit(f"models the catalog does not know: {sorted(unknown)}: add them to proxy/route/catalog.toml")
    measured, _ = measure(catalog, data_dir / "latency")
    models: dict[str, object] = {}
    for cid in sorted(tallies):
        entry = catalog.entries[cid]
        overall = _stats(tallies[cid]["all"]["all"], chars[cid]["all"]["all"])
        models[cid] = {
            "sources": sorted(sources[cid]),
            "spellings": sorted(spellings[cid]),
            "provider": entry.maker,
            "family": entry.family or "unknown",
            "params_b": entry.parameters_b,
            "input_usd_per_mtok": _per_mtok(entry.input_per_token),
            "output_usd_per_mtok": _per_mtok(entry.output_per_token),
            "n": overall["n"],
            "accuracy": overall["accuracy"],
            "response_chars_p50": overall["response_chars_p50"],
            "by_family": {k: _stats(v, chars[cid]["by_family"][k]) for k, v in tallies[cid]["by_family"].items()},
            "by_task": {k: _stats(v, chars[cid]["by_task"][k]) for k, v in tallies[cid]["by_task"].items()},
            "latency": latency_profile(cid, entry, measured),
        }
    aliases = {s: cid for cid in models for s in spellings[cid] if s != cid}
    for short, spelling in README_NAMES.items():
        entry = catalog.find(spelling)
        if entry is not None and entry.catalog_id in models and short not in models:
            aliases[short] = entry.catalog_id
    measured_chars = {f: m for f, v in family_chars.items() if (m := _median_chars(v)) is not None}
    return {
        "format": 2,
        "built_by": "scripts/build_sim_profiles.py",
        "inputs": {p.relative_to(data_dir).as_posix(): _sha256(p)[:16] for p in files},
        "aliases": dict(sorted(aliases.items())),
        "family_chars_p50": {f: measured_chars.get(f, ASSUMED_CHARS[f]) for f in FAMILIES},
        "family_chars_assumed": sorted(f for f in FAMILIES if f not in measured_chars),
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
