"""Print every feature of a prompt and a few candidate models, for debugging and the README.

Usage:
  .venv/bin/python -m scripts.explain_features --prompt "Write a haiku about rain" --models gpt-4o,llama-3.1-8b-instruct
  echo "What is 17 * 23?" | .venv/bin/python -m scripts.explain_features
Options: --system TEXT (a system prompt), --history (prior success from the catalog's measured counts).
Models are catalog ids, aliases or litellm model strings; an unknown one is shown with cold-start values.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from proxy.route.catalog import load_catalog
from proxy.route.features import TASKS, VERSION, History, compute_features
from proxy.route.features.examples import request_from_prompt

ROOT = Path(__file__).resolve().parents[1]

DEFAULT_MODELS = "gpt-4o,gpt-4o-mini,llama-3.1-8b-instruct"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prompt", help="the user message (default: read stdin)")
    parser.add_argument("--system", help="an optional system prompt")
    parser.add_argument("--models", default=DEFAULT_MODELS, help=f"comma-separated (default {DEFAULT_MODELS})")
    parser.add_argument("--history", action="store_true", help="use the catalog's measured success counts")
    args = parser.parse_args()
    text = args.prompt if args.prompt is not None else sys.stdin.read()
    catalog = load_catalog()
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    profiles = [catalog.profile(m) for m in models]
    history = History.from_catalog(catalog) if args.history else None
    features = compute_features(request_from_prompt(text, system=args.system), profiles, history)
    info = features.prompt
    print(f"feature set {VERSION}: {len(features.names)} features x {len(features.candidates)} candidates")
    print(
        f"tokens {info.tokens}, words {info.words}, task {info.task}, domain {info.domain}, "
        f"expected output tokens {info.expected_output_tokens}, buckets {', '.join(info.buckets)}, "
        f"demanding {info.demanding}"
    )
    print("task probabilities: " + ", ".join(f"{t} {p:.2f}" for t, p in zip(TASKS, info.task_probs, strict=True)))
    for p in profiles:
        print(f"  {p.name}: catalog {p.catalog_id or '(unknown: cold start)'}")
    width = max(len(n) for n in features.names)
    print(f"\n{'feature':{width}s}  " + "  ".join(f"{c[:14]:>14s}" for c in features.candidates))
    for j, name in enumerate(features.names):
        values = features.rows[:, j]
        if name.startswith("p_"):
            print(f"{name:{width}s}  {values[0]:14.4f}" if len(values) else f"{name:{width}s}")
        else:
            print(f"{name:{width}s}  " + "  ".join(f"{v:14.4f}" for v in values))


if __name__ == "__main__":
    main()
