"""Derive the catalog's measured aggregates from ../shared/data into proxy/catalog_measured.json.

- latency per catalog model: median TTFT and median output tokens/s over every request-level
  measurement of that model in data/latency (LLMPerf, thefastest.ai text-mode runs without the
  tps >= 999 sentinel, coder543), pooled across providers, with the sample count;
- success counts per catalog model and History bucket (all, predicted task type, top domain,
  semantic bucket) over the labelled long-format rows, prompts deduplicated by normalised text.

Only aggregates are written (no prompt text). Deterministic: sorted keys, fixed rounding.
Usage: .venv/bin/python -m scripts.build_catalog [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
from collections import defaultdict
from pathlib import Path

from proxy.route.catalog import CATALOG_FILE, Catalog, load_catalog
from proxy.route.features import compute_features, load_resources
from proxy.route.features.examples import group_rows, request_from_prompt
from proxy.training.dataset import find_long_files, iter_rows

ROOT = Path(__file__).resolve().parents[1]

OUT = CATALOG_FILE.with_name("catalog_measured.json")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    args = parser.parse_args()
    catalog = load_catalog(measured=Path("/nonexistent"))  # measure from scratch, not from the old file
    latency, unmatched_latency = measure_latency(catalog, args.data / "latency")
    accuracy, unmatched_models = measure_accuracy(catalog, args.data)
    models: dict[str, dict[str, object]] = {}
    for cid in sorted(set(latency) | set(accuracy)):
        entry: dict[str, object] = {}
        if cid in latency:
            entry["latency"] = latency[cid]
        if cid in accuracy:
            entry["accuracy"] = {b: [round(s, 4), n] for b, (s, n) in sorted(accuracy[cid].items())}
        models[cid] = entry
    out = {
        "about": "Aggregates derived from ../shared/data by scripts/build_catalog.py: latency medians per model "
        "(pooled over providers, 2023-12..2024-08) and success counts [sum of labels, n] per History bucket.",
        "unmatched_latency_names": sorted(unmatched_latency),
        "unmatched_data_models": sorted(unmatched_models),
        "models": models,
    }
    OUT.write_text(json.dumps(out, indent=1, sort_keys=False) + "\n", encoding="utf-8")
    print(f"wrote {OUT.relative_to(ROOT)}: {len(latency)} models with latency, {len(accuracy)} with accuracy")
    for cid in sorted(latency):
        lat = latency[cid]
        print(f"  {cid:34s} ttft {lat['ttft_s']:.3f} s  {lat['tokens_per_s']:7.1f} tok/s  n={lat['n']}")
    if unmatched_latency or unmatched_models:
        print(f"unmatched latency names: {sorted(unmatched_latency)}; data models: {sorted(unmatched_models)}")


def _latency_id(catalog: Catalog, name: str) -> str | None:
    entry = catalog.find(name) or catalog.find(name.split(":")[0].rsplit("/", 1)[-1])
    if entry is not None:
        return entry.catalog_id
    low = name.lower()
    for cid, spec in _latency_names(catalog).items():
        if low in spec:
            return cid
    return None


def _latency_names(catalog: Catalog) -> dict[str, set[str]]:
    import tomllib

    raw = tomllib.loads(CATALOG_FILE.read_text(encoding="utf-8"))
    return {cid: {n.lower() for n in spec.get("latency_names", ())} for cid, spec in raw["models"].items()}


def measure_latency(catalog: Catalog, folder: Path) -> tuple[dict[str, dict[str, float | int]], set[str]]:
    ttft: dict[str, list[float]] = defaultdict(list)
    tps: dict[str, list[float]] = defaultdict(list)
    unmatched: set[str] = set()

    def add(name: str, t: str, s: str) -> None:
        cid = _latency_id(catalog, name)
        if cid is None:
            unmatched.add(name)
            return
        if t:
            ttft[cid].append(float(t))
        if s and float(s) < 999:
            tps[cid].append(float(s))

    with open(folder / "llmperf_leaderboard_requests.csv", encoding="utf-8", newline="") as f:
        for r in csv.DictReader(f):
            if not r["error_code"]:
                add(r["model"], r["ttft_s"], r["output_tokens_per_e2e_s_derived"])
    with open(folder / "thefastest_ai_runs.csv", encoding="utf-8", newline="") as f:
        for r in csv.DictReader(f):
            if r["mode"] == "text":
                add(r["model"] or r["provider"], r["ttft_s"], r["tokens_per_s"])
    with open(folder / "coder543_llm_speed_runs.csv", encoding="utf-8", newline="") as f:
        for r in csv.DictReader(f):
            add(r["model"], r["Time To First Token"], r["Response Tok/s"])
    out: dict[str, dict[str, float | int]] = {}
    for cid in sorted(set(ttft) & set(tps)):
        out[cid] = {
            "ttft_s": round(statistics.median(ttft[cid]), 4),
            "tokens_per_s": round(statistics.median(tps[cid]), 2),
            "n": len(ttft[cid]),
        }
    return out, unmatched


def measure_accuracy(catalog: Catalog, data: Path) -> tuple[dict[str, dict[str, tuple[float, int]]], set[str]]:
    resources = load_resources()
    rows = (row for path in find_long_files(data) for row in iter_rows(path))
    counts: dict[str, dict[str, tuple[float, int]]] = defaultdict(dict)
    unmatched: set[str] = set()
    for item in group_rows(rows):
        buckets = compute_features(request_from_prompt(item.prompt), [], resources=resources).prompt.buckets
        for model, label in item.correct.items():
            entry = catalog.find(model)
            if entry is None or entry.catalog_id is None:
                unmatched.add(model)
                continue
            per_model = counts[entry.catalog_id]
            for b in buckets:
                s, n = per_model.get(b, (0.0, 0))
                per_model[b] = (s + label, n + 1)
    return dict(counts), unmatched


if __name__ == "__main__":
    main()
