"""Does this code decide exactly as another revision does? Features, predictions and choice, prompt by prompt.

Usage: .venv/bin/python -m scripts.decision_agreement [--against main] [--prompts 3000] [--data-dir ../shared/data]
       [--models models/] [--tolerance 1e-6]

A change meant to make the decision cheaper must not change what it decides. This runs `Router.decide` on
the same requests twice, once with this checkout's `proxy/` and once with `--against`'s (extracted with
`git archive` into a temporary directory and run in a subprocess, so both sides load the same shipped
models and knowledge), and compares every number: each candidate's feature row, P(acceptable), TTFT,
latency and output-token predictions, and the choice (serving order, reason, each candidate's cost and
utility). The requests are the everyday prompts of tests/fixtures plus `--prompts` prompts of the data's
labelled sets (when ../shared/data is present), each sent in one of four shapes (plain, with a system
prompt, asking for JSON with max_tokens, with tools), every fifth after two earlier turns, to eleven backends
(ten catalog models and one the catalog does not know) or to one of two `router.candidates` lists. Prints the
largest differences and how many requests' feature rows differ in any bit; exits 1 when a number differs by
more than `--tolerance`, a feature bit or a choice differs.
"""

from __future__ import annotations

import argparse
import json
import pickle
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from proxy import config as config_mod
from proxy.errors import ProxyError
from proxy.request import parse_chat
from proxy.route.features import load_resources
from proxy.route.router import DEFAULT_MODELS_DIR, Router, load_models
from scripts.bench_features import MODELS
from scripts.latency_agreement import data_prompts

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "everyday_prompts.json"
UNKNOWN_MODEL = "acme/mystery-chat-1"  # not in the catalog: its features take the neutral values
SYSTEM = "You are a helpful assistant for an online shop. Answer briefly and politely."
TOOLS = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}}}]
NUMBERS = ("p_acceptable", "ttft_s", "latency_s", "output_tokens")
EARLIER_TURNS = [
    {"role": "user", "content": "I am planning a trip to Lisbon in May and need some help with the details."},
    {"role": "assistant", "content": "Happy to help! Tell me your dates, your budget and what you enjoy doing."},
]
# The alias's eleven backends, then two `router.candidates` lists of another size and order.
LINEUPS: tuple[tuple[str, ...], ...] = ((), ("c1", "c4", "unknown"), ("c9", "c0", "c5", "c2", "c7", "c3"))


def prompts(data_dir: Path, n: int) -> list[str]:
    fixture = json.loads(FIXTURE.read_text(encoding="utf-8"))
    everyday = [p for key in ("easy", "hard") for p in fixture[key]]
    return everyday + (data_prompts(data_dir, n) if data_dir.is_dir() and n > 0 else [])


def body(i: int, prompt: str) -> dict[str, Any]:
    """The i-th request: one of four shapes, so the capability and length features vary too; every fifth a
    follow-up turn (its earlier turns are the context), and one of three candidate lists."""
    shape = i % 4
    messages = [{"role": "system", "content": SYSTEM}] if shape == 1 else []
    if i % 5 == 4:
        messages += EARLIER_TURNS
    out: dict[str, Any] = {"model": "router", "messages": [*messages, {"role": "user", "content": prompt}]}
    if shape == 2:
        out |= {"response_format": {"type": "json_object"}, "max_tokens": 50 + i % 700}
    if shape == 3:
        out["tools"] = TOOLS
    if LINEUPS[i % len(LINEUPS)]:
        out["router"] = {"candidates": list(LINEUPS[i % len(LINEUPS)])}
    return out


def decisions(texts: list[str], models_dir: Path) -> list[dict[str, Any]]:
    """What this process's `proxy` decides for each request: plain arrays and strings, to compare across code."""
    backends = [{"name": f"c{i}", "model": m} for i, m in enumerate(MODELS)]
    backends.append({"name": "unknown", "model": UNKNOWN_MODEL})
    config = config_mod.parse({"backend": backends, "alias": [{"name": "router"}]})
    scorer, knowledge = load_models(config, models_dir, load_resources())
    router = Router(config, scorer, knowledge=knowledge)
    out: list[dict[str, Any]] = []
    for i, text in enumerate(texts):
        try:
            decision = router.decide(parse_chat(body(i, text)))
        except ProxyError as exc:
            out.append({"error": f"{type(exc).__name__}: {exc}"})
            continue
        assert decision.features is not None and decision.scores is not None and decision.choice is not None
        s, choice = decision.scores, decision.choice
        ranked = choice.ranked + choice.dropped
        out.append(
            {
                "rows": np.asarray(decision.features.rows, dtype=np.float64),
                **{k: np.asarray(getattr(s, k), dtype=np.float64) for k in NUMBERS},
                "order": [c.name for c in ranked],
                "reason": choice.reason,
                "dropped": [c.dropped for c in ranked],
                "cost_usd": np.array([c.cost_usd for c in ranked]),
                "utility": np.array([np.nan if c.utility is None else c.utility for c in ranked]),
            }
        )
    return out


def decisions_at(ref: str, texts: list[str], models_dir: Path) -> list[dict[str, Any]]:
    """`decisions` run with `ref`'s `proxy/` (this checkout's scripts and models)."""
    with tempfile.TemporaryDirectory(prefix="switchyard-agreement-") as tmp:
        work = Path(tmp)
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref, "proxy"], check=True, capture_output=True)
        subprocess.run(["tar", "-x", "-C", str(work)], input=archive.stdout, check=True)
        shutil.copytree(ROOT / "scripts", work / "scripts")
        (work / "prompts.json").write_text(json.dumps(texts), encoding="utf-8")
        cmd = [sys.executable, "-m", "scripts.decision_agreement", "--dump", str(work / "out.pkl")]
        cmd += ["--models", str(models_dir.resolve()), "--prompt-file", str(work / "prompts.json")]
        subprocess.run(cmd, cwd=work, check=True)  # the working directory comes first on sys.path: ref's proxy
        with (work / "out.pkl").open("rb") as f:
            result: list[dict[str, Any]] = pickle.load(f)
        return result


def compare(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> dict[str, Any]:
    """The largest absolute difference of each number, and how many requests differ in anything else."""
    worst = {k: 0.0 for k in ("rows", *NUMBERS, "cost_usd", "utility")}
    other = {"error": 0, "order": 0, "reason": 0, "dropped": 0, "shape": 0, "feature_bits": 0}
    for a, b in zip(old, new, strict=True):
        if "error" in a or "error" in b:
            other["error"] += a.get("error") != b.get("error")
            continue
        other["feature_bits"] += a["rows"].tobytes() != b["rows"].tobytes()  # a refactor must not move one bit
        for key in ("order", "reason", "dropped"):
            other[key] += a[key] != b[key]
        for key in worst:
            if a[key].shape != b[key].shape:
                other["shape"] += 1
                continue
            both_nan = np.isnan(a[key]) & np.isnan(b[key])
            diff = np.where(both_nan, 0.0, np.abs(a[key] - b[key]))
            worst[key] = max(worst[key], float(np.nan_to_num(diff, nan=np.inf).max(initial=0.0)))
    return {"max_abs_diff": worst, "requests_differing": other}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--against", default="main", help="the git revision to compare with")
    parser.add_argument("--prompts", type=int, default=3000, help="data prompts besides the fixture's")
    parser.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--models", type=Path, default=DEFAULT_MODELS_DIR)
    parser.add_argument("--tolerance", type=float, default=1e-6)
    parser.add_argument("--dump", type=Path, help=argparse.SUPPRESS)  # the subprocess side
    parser.add_argument("--prompt-file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.dump:
        texts = json.loads(args.prompt_file.read_text(encoding="utf-8"))
        with args.dump.open("wb") as f:
            pickle.dump(decisions(texts, args.models), f)
        return 0
    texts = prompts(args.data_dir, args.prompts)
    report = compare(decisions_at(args.against, texts, args.models), decisions(texts, args.models))
    report = {"against": args.against, "requests": len(texts), "tolerance": args.tolerance, **report}
    print(json.dumps(report, indent=1))
    numbers_ok = all(v <= args.tolerance for v in report["max_abs_diff"].values())
    return 0 if numbers_ok and not any(report["requests_differing"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
