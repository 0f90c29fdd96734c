"""One turn of the learning loop, end to end, on the simulated backends, with before/after numbers.

Usage: .venv/bin/python -m scripts.learning_loop [--prompts 300] [--json var/learning_loop.json]

The router starts knowing nothing about one backend: `newcomer` is a model name no catalog knows
(the simulator serves Yi-34B-Chat under the name `acme-nova`), priced cheaply in the config. The
router starts on the prior rule, which gives an unknown model a neutral P(acceptable) of 0.6, below
the alias's threshold of 0.65, so every request goes to the expensive `strong` backend. Then:

1. traffic: `--prompts` requests to the alias (phase "before"), logged;
2. outcomes for the others: `switchyard replay --online` re-sends the logged prompts to the
   candidates that were not chosen (bounded by count and budget);
3. labels: the simulated LLM judge (`switchyard label`) scores every call, and a "user" sends
   `/v1/feedback` thumbs for every fifth call (the user knows the truth; the judge is right 90% of the time);
4. retrain: `switchyard train --log DB --config CONFIG` writes a model directory with its knowledge;
5. reload: `POST /admin/reload` swaps it in without a restart;
6. traffic again: `--prompts` new prompts of the same kinds (phase "after").

Each phase reports the share of requests per backend, the realised quality (the simulator's hidden
truth of each answer, read from the logged response, and the judge's mean score where judged), the
mean cost per request, and acceptable answers per dollar. Prompts are generated from templates of
nine task kinds with a fixed seed; the two phases use different prompts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from proxy import config as config_mod
from proxy.training.inputs import export_labelled
from proxy.training.label import judge_calls
from proxy.training.log_replay import online
from proxy.training.train import train
from scripts import harness

ADMIN_KEY = "sk-loop-admin-0123456789"
CLIENT_KEY = "sk-loop-client-0123456789"
ALIAS = "auto"
NEWCOMER_MODEL = "acme-nova"
NEWCOMER_IS = "zero-one-ai/Yi-34B-Chat"
_TEMPLATES = (
    "What is {a} * {b} - {c}? Show your work step by step.",
    "A shop sells {a} apples on Monday and {b} on Tuesday, then {c} are returned. How many were sold?",
    "Write a Python function that returns the {a}th Fibonacci number modulo {b}.",
    "Fix this code so it sums a list of {a} numbers: def total(xs): return sum(x for x in xs if x > {b})",
    "Summarize in two sentences: the committee met {a} times this year and approved {b} of {c} proposals.",
    "Translate into French: 'The train leaves at {a} o'clock and arrives {b} minutes late.'",
    "Which of the following is a prime number? A) {a}0 B) {b}7 C) {c}4 D) {a}8",
    "Write a short poem about a lighthouse that has been dark for {a} years.",
    "Who was the first person to walk on the moon, and in which year? (question {a})",
    "Extract every number from this sentence: 'Order {a} shipped {b} boxes to {c} stores.'",
    "Hello! Can you tell me something interesting about the number {a}?",
    "Explain why the sky looks blue, for a {a}-year-old.",
)


def prompts(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [
        rng.choice(_TEMPLATES).format(a=rng.randint(2, 99), b=rng.randint(2, 99), c=rng.randint(2, 99))
        for _ in range(n)
    ]


def make_config(sim_url: str, db_path: Path) -> dict[str, Any]:
    """Three backends, one alias over them, a judge; the prior rule at first (no models directory)."""
    return {
        "models_dir": str(db_path.parent / "no-models"),
        "log": {"path": str(db_path)},
        "auth": {"admin_key_env": "LOOP_ADMIN"},
        "key": [{"id": "loop-client", "key_env": "LOOP_CLIENT"}],
        "backend": [
            harness.backend(
                "strong", "gpt-4-1106-preview", sim_url, input_cost_per_token=1e-5, output_cost_per_token=3e-5
            ),
            harness.backend(
                "weak", "mistral-7b-instruct-v0.3", sim_url, input_cost_per_token=2e-7, output_cost_per_token=2e-7
            ),
            harness.backend("newcomer", NEWCOMER_MODEL, sim_url, input_cost_per_token=6e-7, output_cost_per_token=6e-7),
            harness.backend("judge", "sim-judge", sim_url),
        ],
        "alias": [
            {
                "name": ALIAS,
                "candidates": ["strong", "weak", "newcomer"],
                "min_acceptability": 0.65,
                "exploration_rate": 0.0,
            }
        ],
    }


def send(proxy_url: str, texts: Sequence[str], concurrency: int = 1) -> list[str]:
    """Each prompt to the alias; the request ids of the answered ones. One at a time by default, so the log,
    and so the retrained models and every number of the report, come out the same on every run."""
    headers = {"authorization": f"Bearer {CLIENT_KEY}"}
    with httpx.Client(base_url=proxy_url, timeout=120, headers=headers) as http:

        def one(text: str) -> str | None:
            r = http.post(
                "/v1/chat/completions", json={"model": ALIAS, "messages": [{"role": "user", "content": text}]}
            )
            return r.headers.get("x-router-request-id") if r.status_code == 200 else None

        with ThreadPoolExecutor(concurrency) as pool:
            return [i for i in pool.map(one, texts) if i is not None]


def wait_logged(db: Path, ids: Sequence[str]) -> None:
    """The writer task logs off the request path: wait until every id has its row."""
    _wait_for(db, lambda conn: sum(1 for _ in _rows(conn, ids)), len(ids))


def wait_all_logged(db: Path, expected: int) -> None:
    """Wait until the log holds `expected` calls in all: the replayed calls have no ids here, and the judge
    must see every one of them (it reads the log once, when it starts)."""
    _wait_for(db, lambda conn: int(conn.execute("SELECT COUNT(*) FROM calls").fetchone()[0]), expected)


def _wait_for(db: Path, count: Callable[[sqlite3.Connection], int], expected: int, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        with sqlite3.connect(db) as conn:
            found = count(conn)
        if found >= expected:
            return
        if time.monotonic() >= deadline:
            raise SystemExit(f"only {found} of {expected} calls were logged within {timeout_s} s")
        time.sleep(0.1)


def _rows(conn: sqlite3.Connection, ids: Sequence[str]) -> Iterator[tuple[Any, ...]]:
    for start in range(0, len(ids), 500):
        part = list(ids[start : start + 500])
        marks = ",".join("?" * len(part))
        yield from conn.execute(
            f"SELECT c.id, c.backend, c.cost_usd, c.response_json, "
            f"(SELECT AVG(score) FROM labels l WHERE l.call_id = c.id AND l.source LIKE 'judge:%') "
            f"FROM calls c WHERE c.id IN ({marks})",
            part,
        )


def phase_report(db: Path, ids: Sequence[str]) -> dict[str, Any]:
    with sqlite3.connect(db) as conn:
        rows = list(_rows(conn, ids))
    n = len(rows)
    share = Counter(r[1] for r in rows)
    truth = [bool(json.loads(r[3])["sim"]["acceptable"]) for r in rows]
    judged = [r[4] for r in rows if r[4] is not None]
    cost = sum(r[2] or 0.0 for r in rows)
    return {
        "requests": n,
        "share": {b: round(c / n, 3) for b, c in sorted(share.items())},
        "quality_truth": round(sum(truth) / n, 3),
        "quality_judge": round(sum(judged) / len(judged), 3) if judged else None,
        "mean_cost_usd": cost / n,
        "acceptable_per_usd": round(sum(truth) / cost, 1) if cost else None,
    }


def give_feedback(proxy_url: str, db: Path, every: int = 5) -> int:
    """A user who knows the truth gives thumbs to every `every`-th call."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT id, response_json FROM calls WHERE status = 200 ORDER BY id").fetchall()
    sent = 0
    headers = {"authorization": f"Bearer {CLIENT_KEY}"}
    with httpx.Client(base_url=proxy_url, timeout=30, headers=headers) as http:
        for call_id, response in rows[::every]:
            ok = bool(json.loads(response)["sim"]["acceptable"])
            r = http.post("/v1/feedback", json={"request_id": call_id, "thumbs": "up" if ok else "down"})
            sent += r.status_code == 201
    deadline = time.monotonic() + 30  # labels, too, are written by the log's writer task
    while time.monotonic() < deadline:
        with sqlite3.connect(db) as conn:
            if conn.execute("SELECT COUNT(*) FROM labels WHERE source = 'human'").fetchone()[0] >= sent:
                return sent
        time.sleep(0.1)
    raise SystemExit(f"{sent} feedback labels were accepted but not all were logged within 30 s")


def reload_models(proxy_url: str, models_dir: Path) -> dict[str, Any]:
    r = httpx.post(
        f"{proxy_url}/admin/reload",
        json={"models_dir": str(models_dir)},
        headers={"authorization": f"Bearer {ADMIN_KEY}"},
        timeout=120,
    )
    if r.status_code != 200:
        raise SystemExit(f"reload refused: {r.status_code} {r.text}")
    return dict(r.json())


def run(n_prompts: int, workdir: Path, seed: int = 7) -> dict[str, Any]:
    env = {"LOOP_ADMIN": ADMIN_KEY, "LOOP_CLIENT": CLIENT_KEY}
    with harness.stack(
        make_config, workdir=workdir, sim_args=("--rename", f"{NEWCOMER_MODEL}={NEWCOMER_IS}"), env=env
    ) as s:
        config = config_mod.load(s.config_path, {**env, "SIM_KEY": harness.SIM_KEY})
        before_ids = send(s.proxy_url, prompts(n_prompts, seed))
        wait_logged(s.db_path, before_ids)

        replayed = online(s.db_path, config, s.proxy_url, limit=4 * n_prompts, budget=10.0, key=CLIENT_KEY)
        wait_all_logged(s.db_path, len(before_ids) + replayed["sent"])
        env_keys = {"SIM_KEY": harness.SIM_KEY}
        judged = asyncio.run(judge_calls(s.db_path, config, "judge", limit=100_000, environ=env_keys))
        feedback = give_feedback(s.proxy_url, s.db_path)
        before = phase_report(s.db_path, before_ids)

        models_dir = workdir / "models-loop1"
        train([export_labelled(str(s.db_path))], models_dir, folds=3, backends={b.name: b for b in config.backends})
        reloaded = reload_models(s.proxy_url, models_dir)

        after_ids = send(s.proxy_url, prompts(n_prompts, seed + 1))
        wait_logged(s.db_path, after_ids)
        asyncio.run(judge_calls(s.db_path, config, "judge", limit=100_000, environ=env_keys))
        after = phase_report(s.db_path, after_ids)
    return {
        "command": " ".join(["python -m scripts.learning_loop", "--prompts", str(n_prompts)]),
        "newcomer": f"{NEWCOMER_MODEL} (the simulator's {NEWCOMER_IS}), unknown to the catalog",
        "replayed": replayed,
        "labels": {"judge": judged, "feedback": feedback},
        "models": reloaded,
        "before": before,
        "after": after,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prompts", type=int, default=300, help="requests per phase")
    parser.add_argument("--workdir", type=Path, default=None, help="where the log, config and models go")
    parser.add_argument("--json", type=Path, help="also write the report here")
    args = parser.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="switchyard-loop-"))
    workdir.mkdir(parents=True, exist_ok=True)
    report = run(args.prompts, workdir)
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
