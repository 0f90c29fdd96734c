"""Train on your own data: train on one half of a data set's prompts, evaluate on the other half.

Usage:
  .venv/bin/python -m scripts.own_data [--data-dir ../shared/data] [--file FILE ...] [--source NAME ...]
      [--max-prompts N] [--seed 0] [--folds 5] [--threads 1] [--json OUT]

For each source (of the long files under --data-dir, or of the --file files; only the --source ones when
given) the distinct questions (`question_key`, so one question is never on both sides) are shuffled with
--seed and cut in half (--max-prompts caps the questions first, for a quick run). `switchyard train` runs on
one half with the options of `make models` (it holds its own ~20% out of that half, as it always does), and
`switchyard evaluate --test` replays every prompt of the other half, its knowledge and baselines learning
from every prompt of the first half (`--train`). Prints, per source, the AIQ of the router under each
policy, of the TF-IDF + logistic-regression baseline, of a random mix of the models and of the best single
model, each with its 90% bootstrap interval. A single model is one point of the quality-cost plane, which
AIQ's hull keeps flat across the cost range: its AIQ is its quality, a bar a router clears only by beating
the best model's quality on average over every budget. So the router's quality at the best model's cost
is printed too. The acceptance check of issue 15 wants the router above the random mix and the best single
model on every source.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from proxy.cli import main as switchyard
from proxy.training.dataset import LongRow, find_long_files, iter_rows, question_key
from proxy.training.export_log import write_csv

POLICIES = ("switchyard", "switchyard/qw", "switchyard/v")
ROUTERS = (*POLICIES, "tfidf_logistic", "random_mix")


def halves(rows: Sequence[LongRow], seed: int, max_prompts: int | None) -> tuple[list[LongRow], list[LongRow]]:
    """The rows of a shuffled half of the questions, and of the other half."""
    keys = sorted({question_key(r.prompt) for r in rows})
    random.Random(seed).shuffle(keys)
    if max_prompts is not None:
        keys = keys[:max_prompts]
    first = set(keys[: len(keys) // 2])
    rest = set(keys[len(keys) // 2 :])
    train = [r for r in rows if question_key(r.prompt) in first]
    test = [r for r in rows if question_key(r.prompt) in rest]
    return train, test


def run_source(source: str, rows: Sequence[LongRow], args: argparse.Namespace) -> dict[str, Any]:
    """Train on one half, evaluate on the other; the evaluation's numbers for `source`."""
    train_rows, test_rows = halves(rows, args.seed, args.max_prompts)
    with tempfile.TemporaryDirectory(prefix="switchyard-own-data-") as tmp:
        train, test, models, report = (Path(tmp) / n for n in ("train.csv.gz", "test.csv.gz", "models", "e.json"))
        write_csv((asdict(r) for r in train_rows), train)
        write_csv((asdict(r) for r in test_rows), test)
        options = ["--folds", str(args.folds), "--threads", str(args.threads)]
        with contextlib.redirect_stdout(sys.stderr):  # their tables go to stderr; the summary to stdout
            if switchyard(["train", "--data", str(train), "--out", str(models), *options]) != 0:
                raise SystemExit(f"{source}: switchyard train failed")
            evaluate = ["evaluate", "--test", str(test), "--train", str(train), "--models", str(models)]
            if switchyard([*evaluate, "--json", str(report)]) != 0:
                raise SystemExit(f"{source}: switchyard evaluate failed")
        result = json.loads(report.read_text(encoding="utf-8"))["sources"].get(source)
    if result is None:
        return {"source": source, "note": "too few prompts or candidates to evaluate"}
    best = result["best_model"]
    aiq = {
        name: {"aiq": m["aiq"], "interval_90": m["interval_90"]["aiq"]}
        for name, m in result["routers"].items()
        if name in ROUTERS
    }
    single = result["models"][best]
    aiq["best_single_model"] = {"aiq": single["quality"], "interval_90": single["interval_90"]["quality"]}
    at_best_cost = {
        name: {"quality": m["quality_at_best_cost"], "interval_90": m["interval_90"]["quality_at_best_cost"]}
        for name, m in result["routers"].items()
        if name in POLICIES
    }
    return {
        "source": source,
        "train_questions": len({question_key(r.prompt) for r in train_rows}),
        "test_prompts": result["prompts"],
        "candidates": result["candidates"],
        "best_model": best,
        "aiq": aiq,
        "quality_at_best_cost": at_best_cost,
    }


def rows_by_source(files: Sequence[Path]) -> dict[str, list[LongRow]]:
    out: dict[str, list[LongRow]] = {}
    for f in files:
        for r in iter_rows(f):
            out.setdefault(r.source, []).append(r)
    return out


def line(result: dict[str, Any]) -> str:
    if "aiq" not in result:
        return f"{result['source']}: {result['note']}"
    head = (
        f"{result['source']}: trained on {result['train_questions']} questions, evaluated on "
        f"{result['test_prompts']} prompts, {len(result['candidates'])} candidates (best: {result['best_model']})"
    )
    rows = [head]
    for name, a in result["aiq"].items():
        lo, hi = (f"{x:.4f}" if x is not None else "inf" for x in a["interval_90"])
        rows.append(f"  {name:20s} AIQ {a['aiq']:.4f}  90% [{lo}, {hi}]")
    ours = max(POLICIES, key=lambda n: result["aiq"][n]["aiq"])
    aiq, mix, single = (result["aiq"][n]["aiq"] for n in (ours, "random_mix", "best_single_model"))
    q = result["quality_at_best_cost"][ours]["quality"]
    rows.append(
        f"  {ours} (the best policy): AIQ {'above' if aiq > mix else 'NOT above'} the random mix's, "
        f"{'above' if aiq > single else 'NOT above'} the best single model's; at the best model's cost its "
        f"quality is {q:.4f} against the best model's {single:.4f}"
    )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    parser.add_argument("--file", type=Path, action="append", help="a long-format file (repeatable)")
    parser.add_argument("--source", action="append", help="only this source (repeatable)")
    parser.add_argument("--max-prompts", type=int, help="at most this many questions per source, before halving")
    parser.add_argument("--seed", type=int, default=0, help="the shuffle of the questions")
    parser.add_argument("--folds", type=int, default=5, help="switchyard train --folds (make models: 5)")
    parser.add_argument("--threads", type=int, default=1, help="switchyard train --threads")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args(argv)
    files = args.file or find_long_files(args.data_dir)
    if not files:
        parser.error(f"no *_long.csv.gz under {args.data_dir}; pass --file FILE")
    by_source = rows_by_source(files)
    wanted = args.source or sorted(by_source)
    missing = [s for s in wanted if s not in by_source]
    if missing:
        parser.error(f"no source {', '.join(missing)} in the data (it has: {', '.join(sorted(by_source))})")
    results = []
    for source in wanted:
        results.append(run_source(source, by_source[source], args))
        print(line(results[-1]), flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
