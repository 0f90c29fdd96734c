"""Derive the catalog's measured aggregates from ../shared/data into proxy/catalog_measured.json.

- latency per catalog model: median (and p10/p90) TTFT and decode tokens/s over every request-level
  measurement of that model in data/latency, pooled across providers and per provider (`providers`), with
  the sample count, as proxy/training/latency.py reads them (the simulator's profiles read them the same way);
- success counts per catalog model and History bucket (all, predicted task type, top domain,
  semantic bucket) over the labelled long-format rows, prompts deduplicated by normalised text.

Only aggregates are written (no prompt text). Deterministic: sorted keys, fixed rounding.
Usage: .venv/bin/python -m scripts.build_catalog [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

from proxy.route.catalog import CATALOG_FILE, Catalog, load_catalog
from proxy.route.features import compute_features, load_resources
from proxy.route.features.examples import group_rows, request_from_prompt
from proxy.training.dataset import find_long_files, iter_rows
from proxy.training.latency import measure

ROOT = Path(__file__).resolve().parents[1]

OUT = CATALOG_FILE.with_name("catalog_measured.json")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    args = parser.parse_args()
    catalog = load_catalog(measured=Path("/nonexistent"))  # measure from scratch, not from the old file
    measured, unmatched_latency = measure(catalog, args.data / "latency")
    latency = {cid: m.as_json() for cid, m in measured.items()}
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
        "(pooled over providers, and per provider, 2023-12..2024-08) and success counts [sum of labels, n] per "
        "History bucket.",
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
