"""Time `compute_features` for a ~500-word prompt and 10 candidates on one core.

Usage: .venv/bin/python -m scripts.bench_features [--iterations 5000] [--history]

The prompt is a fixed hand-written request (a pasted incident report plus instructions, ~500 words);
candidates are ten catalog models. The process is pinned to one CPU with os.sched_setaffinity where the
OS allows it. Resources (vocabularies, tokenizer) are loaded once before timing, as the proxy does at
start-up; the first 200 calls are a warm-up and not counted. Wall-clock percentiles are the measure;
thread CPU time is printed too, to tell a slow run from a busy machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

from proxy.route.catalog import load_catalog
from proxy.route.features import History, compute_features, load_resources
from proxy.route.features.examples import request_from_prompt
from proxy.settings import Backend

ROOT = Path(__file__).resolve().parents[1]

MODELS = (
    "gpt-4o",
    "gpt-4o-mini",
    "claude-3-5-haiku-20241022",
    "claude-sonnet-4-20250514",
    "llama-3.1-8b-instruct",
    "llama-3.3-70b-instruct",
    "mixtral-8x7b-instruct",
    "qwen2.5-72b-instruct",
    "deepseek-chat",
    "gemini-2.5-flash",
)

SYSTEM = "You are a careful site-reliability assistant. Answer in English and cite the lines you rely on."
REPORT = """Incident report, payments API, Tuesday.

At 09:12 UTC the error rate of the payments API rose from 0.2% to 14% within four minutes. The on-call
engineer was paged at 09:15 and acknowledged at 09:17. Initial dashboards showed that the database
connection pool on the primary cluster was saturated: all 200 connections were in use and the queue of
waiting requests grew to roughly 3,000. Latency at the 99th percentile climbed from 180 ms to 9.5 seconds.

The team first suspected the deployment that had gone out at 08:55, which changed the retry policy of the
card-authorisation client. That change increased the maximum number of retries from two to five and
removed the jitter between attempts. Rolling it back took eleven minutes because the canary stage had to
be skipped by hand. After the rollback the error rate fell to 6% but did not return to normal.

A second look at the database showed a long-running migration that had been started at 09:05 by a
scheduled job. It was adding an index to the transactions table (about 1.2 billion rows) without the
concurrent option, so it held a lock that blocked writes to that table. Requests that needed to insert a
transaction waited for the lock, held their connections, and starved the pool for everything else,
including read-only endpoints such as balance checks.

The migration was cancelled at 09:41. The pool drained within ninety seconds and the error rate was back
under 0.5% by 09:44. In total about 38,000 payment attempts failed; 31,000 of them were retried
successfully by clients, and 7,000 customers saw an error message. No data was lost, but 212 payments
were captured twice because of the aggressive retries and had to be refunded manually.

Contributing factors listed by the team:
1. The migration job was not registered in the change calendar, so nobody expected it.
2. The retry change removed jitter, which turned a slowdown into a thundering herd.
   - Five retries without backoff multiplied the load on the pool.
   - Idempotency keys were not sent on retries, which caused the double captures.
3. Alerts fired on error rate only; there was no alert on pool saturation or lock wait time.
4. The runbook for the payments API did not mention long-running migrations at all.

Open questions from the review meeting: should schema migrations run only in a maintenance window, or
is it enough to require the concurrent option and a lock timeout? Should the client library enforce
idempotency keys, or should the API reject retries without them? Who owns the scheduled jobs that touch
production databases?
"""
ASK = (
    REPORT + "\nUsing only the report above, please do three things. First, write a short timeline of the incident as"
    " a bulleted list with times in UTC. Second, explain in no more than 150 words what the root cause was and"
    " why the rollback alone did not fix it. Third, propose concrete action items for each contributing factor,"
    " with an owner role and a priority, formatted as a markdown table. Be concise and do not speculate beyond"
    " what the report says. Which of the open questions would you answer first, and why?"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iterations", type=int, default=5000)
    parser.add_argument("--history", action="store_true", help="pass a History built from the catalog's counts")
    args = parser.parse_args()
    pinned = _pin()
    catalog = load_catalog()
    profiles = [catalog.profile(Backend(name=m, model=m)) for m in MODELS]
    history = History.from_catalog(catalog) if args.history else None
    resources = load_resources()
    request = request_from_prompt(ASK, system=SYSTEM)
    words = sum(len(m.text.split()) for m in request.messages)
    for _ in range(200):
        compute_features(request, profiles, history, resources=resources)
    times, cpu = [], []
    for _ in range(args.iterations):
        start, start_cpu = time.perf_counter(), time.thread_time()
        compute_features(request, profiles, history, resources=resources)
        cpu.append(time.thread_time() - start_cpu)
        times.append(time.perf_counter() - start)
    ms = sorted(t * 1000 for t in times)
    cpu_ms = sorted(t * 1000 for t in cpu)
    features = compute_features(request, profiles, history, resources=resources)
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    print(f"pinned to one core: {pinned}; python {sys.version.split()[0]}; tokenizer exact: {resources.tokens.exact}")
    print(f"prompt: {words} words, {features.prompt.tokens} tokens; candidates: {len(profiles)}")
    print(f"features: {len(features.names)} per candidate; history: {'catalog counts' if history else 'none'}")
    print(
        f"iterations: {len(ms)}  p50 {_q(ms, 0.50):.3f} ms  p90 {_q(ms, 0.90):.3f} ms  p99 {_q(ms, 0.99):.3f} ms"
        f"  mean {statistics.fmean(ms):.3f} ms  max {ms[-1]:.3f} ms  (wall clock)"
    )
    # Thread CPU time excludes time the core spent on other processes, which wall time includes.
    print(f"thread CPU time:  p50 {_q(cpu_ms, 0.50):.3f} ms  p99 {_q(cpu_ms, 0.99):.3f} ms")


def _pin() -> str:
    if not hasattr(os, "sched_setaffinity"):
        return "no (os.sched_setaffinity unavailable)"
    cpu = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    return f"yes (cpu {cpu})"


def _q(sorted_ms: list[float], q: float) -> float:
    return sorted_ms[min(len(sorted_ms) - 1, int(q * len(sorted_ms)))]


if __name__ == "__main__":
    main()
