"""Accuracy of the task-type rules (proxy/route/features/task.py) on prompts labelled from the data's `task` column.

Labels: mbpp -> code; gsm8k -> math; mmlu:*, arc-challenge, winogrande -> multiple_choice; MT-Bench
writing/roleplay -> creative, reasoning/math -> math, coding -> code, extraction -> extraction,
stem/humanities -> qa. Sources without a task column (llmrouter) are skipped. Prompts are
deduplicated by normalised text. Prints accuracy, per-label recall, macro recall and a confusion table.
Usage: .venv/bin/python -m scripts.eval_task_classifier [--data ../shared/data]
"""

from __future__ import annotations

import argparse
from collections import Counter, defaultdict
from pathlib import Path

from proxy.route.features import TASKS, compute_features, load_resources
from proxy.route.features.examples import request_from_prompt
from proxy.training.dataset import find_long_files, iter_rows, prompt_key

ROOT = Path(__file__).resolve().parents[1]

MT_BENCH = {
    "writing": "creative",
    "roleplay": "creative",
    "reasoning": "math",
    "math": "math",
    "coding": "code",
    "extraction": "extraction",
    "stem": "qa",
    "humanities": "qa",
}


def label(task: str) -> str | None:
    if task == "mbpp":
        return "code"
    if task == "gsm8k":
        return "math"
    if task.startswith("mmlu:") or task in ("arc-challenge", "winogrande"):
        return "multiple_choice"
    if task.startswith("mt_bench:"):
        return MT_BENCH.get(task.split(":", 1)[1])
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    args = parser.parse_args()
    prompts: dict[str, tuple[str, str, str]] = {}  # key -> (prompt, label, benchmark)
    for path in find_long_files(args.data):
        for row in iter_rows(path):
            gold = label(row.task)
            if gold is not None:
                prompts.setdefault(prompt_key(row.prompt), (row.prompt, gold, row.task.split(":")[0]))
    resources = load_resources()
    confusion: dict[str, Counter[str]] = defaultdict(Counter)
    by_bench: dict[str, Counter[bool]] = defaultdict(Counter)
    for key in sorted(prompts):
        prompt, gold, bench = prompts[key]
        predicted = compute_features(request_from_prompt(prompt), [], resources=resources).prompt.task
        confusion[gold][predicted] += 1
        by_bench[bench][predicted == gold] += 1
    total = sum(sum(c.values()) for c in confusion.values())
    correct = sum(confusion[g][g] for g in confusion)
    recalls = {g: confusion[g][g] / sum(confusion[g].values()) for g in sorted(confusion)}
    macro = sum(recalls.values()) / len(recalls)
    print(f"labelled prompts: {total}; accuracy {correct / total:.3f}; macro recall {macro:.3f}")
    print("recall by label:")
    for g, r in recalls.items():
        print(f"  {g:16s} {r:.3f}  (n={sum(confusion[g].values())})")
    print("accuracy by benchmark:")
    for bench in sorted(by_bench):
        c = by_bench[bench]
        print(f"  {bench:16s} {c[True] / (c[True] + c[False]):.3f}  (n={c[True] + c[False]})")
    cols = [t for t in TASKS if any(confusion[g][t] for g in confusion)]
    print("confusion (rows: label, columns: predicted):")
    print(" " * 18 + "".join(f"{c[:10]:>11s}" for c in cols))
    for g in sorted(confusion):
        print(f"  {g:16s}" + "".join(f"{confusion[g][c]:11d}" for c in cols))


if __name__ == "__main__":
    main()
