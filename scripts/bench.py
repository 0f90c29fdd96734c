"""Benchmark the proxy against going direct (and, with --litellm, against litellm's own proxy), side by side.

Usage: .venv/bin/python -m scripts.bench [--seconds 10] [--concurrency 1,16,64] [--upstreams plain,plain50,sim]
       [--c1-runs 5] [--litellm] [--json FILE]
       .venv/bin/python -m scripts.bench --capacity [--rates 200,400,800] [--step-seconds 5] [--min-requests 200]
       [--litellm] [--json FILE]

Upstreams: a zero-latency plain responder (`scripts.plain_upstream`), the same with 50 ms of latency, and
the simulated backends at speed 0. The proxy under test is pinned to CPU 1; upstreams and the load
generator (aiohttp, in this process) share CPU 0. For each upstream it measures routed calls (alias over
10 candidates, logging on) and named-backend calls, non-streaming and streaming, at each concurrency,
and prints requests/s, p50/p99 latency, p50 added over going direct, proxy CPU per request, resident
memory, and the seconds from each proxy's process start to its first ready answer. `--litellm`
installs litellm's proxy into var/bench/litellm-venv (first run only) and measures it the same way,
named and routed (10 deployments under one model name), so ratios come from one run.

The c=1 added p50 (plain upstream) is the median over `--c1-runs` rounds that alternate going direct and
the proxy (direct, routed, direct, named, ...): one run's difference moves with whatever else the machine
is doing, a median of adjacent pairs much less.

`--capacity` measures capacity instead (scripts/capacity.py): with the 50 ms upstream, the highest rate per
core at which routed and named p99 added latency stays <= 10 ms, offered open-loop (scripts/openloop.py)
at `--rates` or, without them, doubled from 50/s and then bisected; a step lasts `--step-seconds`, or
long enough for `--min-requests` (200) at a low rate. "Per core": each proxy runs as one
process pinned to CPU 1, so what it sustains there is what one core sustains; each step prints the CPU it
used (busy cores), so a step that failed below one busy core shows a limit other than CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from scripts.capacity import Capacity, Step, search
from scripts.harness import ROOT, free_port, rss_bytes, stop, to_toml, wait_ready
from scripts.openloop import OpenLoopRun, offer

LITELLM_VERSION = "1.110.2"
MESSAGES = [{"role": "user", "content": "Give me one short sentence about the sea."}]
CANDIDATES = [f"b{i}" for i in range(10)]


@dataclass
class Result:
    target: str
    upstream: str
    mode: str
    stream: bool
    concurrency: int
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    cpu_ms_per_request: float | None = None
    rss_mb: float | None = None
    added_p50_ms: float | None = None


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its children (litellm's proxy may fork a worker)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for p in [pid, *_children(pid)]:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks
        except (FileNotFoundError, IndexError):
            pass
    return total


def _children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True)
    kids = [int(x) for x in out.stdout.split()]
    return kids + [g for k in kids for g in _children(k)]


async def load(url: str, model: str, stream: bool, concurrency: int, seconds: float) -> tuple[int, list[float], int]:
    """Closed-loop load: `concurrency` workers send back-to-back requests for `seconds`."""
    latencies: list[float] = []
    errors = 0
    body = {"model": model, "messages": MESSAGES, "max_tokens": 16, "stream": stream}
    connector = aiohttp.TCPConnector(limit=concurrency, force_close=False)
    async with aiohttp.ClientSession(connector=connector) as http:
        deadline = time.perf_counter() + seconds

        async def worker() -> None:
            nonlocal errors
            while time.perf_counter() < deadline:
                t = time.perf_counter()
                try:
                    async with http.post(f"{url}/v1/chat/completions", json=body) as response:
                        payload = await response.read()
                        ok = response.status == 200 and (not stream or payload.rstrip().endswith(b"[DONE]"))
                except aiohttp.ClientError:
                    ok = False
                if ok:
                    latencies.append(time.perf_counter() - t)
                else:
                    errors += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return len(latencies) + errors, latencies, errors


def measure(
    target: str, upstream: str, mode: str, url: str, model: str, stream: bool, c: int, seconds: float, pid: int | None
) -> Result:
    asyncio.run(load(url, model, stream, c, min(1.0, seconds / 5)))  # warm-up: connections, caches
    cpu0 = cpu_seconds(pid) if pid else 0.0
    started = time.perf_counter()
    total, latencies, errors = asyncio.run(load(url, model, stream, c, seconds))
    elapsed = time.perf_counter() - started
    ms = sorted(x * 1000 for x in latencies) or [float("nan")]
    result = Result(
        target,
        upstream,
        mode,
        stream,
        c,
        len(latencies) / elapsed,
        statistics.median(ms),
        ms[int(0.99 * (len(ms) - 1))],
        errors,
    )
    if pid:
        result.cpu_ms_per_request = (cpu_seconds(pid) - cpu0) * 1000 / max(1, total)
        result.rss_mb = sum(rss_bytes(p) for p in [pid, *_children(pid)]) / 2**20
    return result


@contextmanager
def process(
    cmd: list[str],
    ready_url: str,
    log: Path,
    cpu: int | None = None,
    env: dict[str, str] | None = None,
    timeout_s: float = 180,
) -> Iterator[subprocess.Popen[bytes]]:
    if cpu is not None:
        cmd = ["taskset", "-c", str(cpu), *cmd]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", **(env or {})},
        )
    try:
        wait_ready(ready_url, proc, timeout_s)
        yield proc
    finally:
        stop(proc)


def switchyard_config(upstream_url: str, db: Path, port: int) -> dict[str, Any]:
    backends = [
        {
            "name": n,
            "model": "openai/plain",
            "api_base": f"{upstream_url}/v1",
            "accuracy": 0.7 + i / 100,
            "input_cost_per_token": 1e-7 * (i + 1),
            "output_cost_per_token": 1e-7 * (i + 1),
        }
        for i, n in enumerate(CANDIDATES)
    ]
    return {
        "server": {"port": port, "max_in_flight": 10_000},
        "log": {"path": str(db)},
        "backend": backends,
        "alias": [{"name": "router", "candidates": CANDIDATES}],
    }


def litellm_config(upstream_url: str) -> str:
    deployment = {"model": "openai/plain", "api_base": f"{upstream_url}/v1", "api_key": "none"}
    entries = [{"model_name": n, "litellm_params": deployment} for n in CANDIDATES]
    entries += [{"model_name": "router", "litellm_params": deployment} for _ in CANDIDATES]
    return json.dumps({"model_list": entries})  # JSON is YAML


# litellm[proxy] pins `litellm-proxy` (and proxy-extras) releases that a registry mirror may not carry yet:
# then litellm itself and the proxy server's own imports are installed instead.
_PROXY_DEPS = (
    "fastapi uvicorn gunicorn orjson backoff pyyaml rq apscheduler fastapi-sso pyjwt python-multipart cryptography "
    "pynacl websockets boto3 mcp>=2.3.0,<3 litellm-proxy-extras litellm-enterprise uvloop semver expression soundfile"
).split()


def litellm_venv(base: Path) -> Path:
    venv = base / "litellm-venv"
    exe = venv / "bin" / "litellm"
    if not exe.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        pip = [str(venv / "bin" / "pip"), "install", "-q"]
        if subprocess.run([*pip, f"litellm[proxy]=={LITELLM_VERSION}"]).returncode != 0:
            subprocess.run([*pip, f"litellm=={LITELLM_VERSION}", *_PROXY_DEPS], check=True)
    return exe


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--concurrency", default="1,16,64")
    parser.add_argument("--upstreams", default="plain,plain50,sim")
    parser.add_argument("--litellm", action="store_true", help="also measure litellm's proxy (1 worker)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument(
        "--c1-runs", type=int, default=5, help="alternating direct/proxy rounds behind the c=1 added p50 (0: none)"
    )
    parser.add_argument(
        "--capacity", action="store_true", help="measure capacity with the 50 ms upstream instead (open loop)"
    )
    parser.add_argument("--rates", help="capacity: offered rates (req/s) to step through, e.g. 200,400,800")
    parser.add_argument("--step-seconds", type=float, default=5, help="capacity: seconds per offered rate")
    parser.add_argument(
        "--min-requests", type=int, default=200, help="capacity: a step at a low rate lasts until this many are sent"
    )
    args = parser.parse_args(argv)
    levels = [int(x) for x in args.concurrency.split(",")]
    os.sched_setaffinity(0, {0})  # the load generator stays off the proxy's core
    work = Path(tempfile.mkdtemp(prefix="switchyard-bench-"))
    if args.capacity:
        rates = [float(x) for x in args.rates.split(",")] if args.rates else None
        return run_capacity(work, rates, args.step_seconds, args.min_requests, args.litellm, args.json)
    results: list[Result] = []
    paired: dict[str, dict[str, list[float]]] = {}  # target -> mode -> c=1 added p50 of each alternating round
    ready: dict[str, list[float]] = {}  # seconds from process start to ready, per target
    for upstream in args.upstreams.split(","):
        up_port = free_port()
        up_url = f"http://127.0.0.1:{up_port}"
        if upstream == "sim":
            cmd = [
                sys.executable,
                "-m",
                "proxy.simulator",
                "--port",
                str(up_port),
                "--speed",
                "0",
                "--log-level",
                "warning",
            ]
        else:
            cmd = [sys.executable, "-m", "scripts.plain_upstream", "--port", str(up_port)]
            cmd += ["--delay-ms", "50"] if upstream == "plain50" else []
        with process(cmd, f"{up_url}/health", work / f"{upstream}.log", cpu=0):
            model_for_sim = upstream == "sim"
            direct = {}
            for stream in (False, True):
                for c in levels:
                    r = measure(
                        "direct",
                        upstream,
                        "-",
                        up_url,
                        "mixtral-8x7b" if model_for_sim else "plain",
                        stream,
                        c,
                        args.seconds,
                        None,
                    )
                    direct[(stream, c)] = r.p50_ms
                    results.append(r)
            targets = [("switchyard", _switchyard(up_url, work, upstream, model_for_sim))]
            if args.litellm:
                targets.append(("litellm-proxy", _litellm(up_url, work, upstream, model_for_sim)))
            for name, starter in targets:
                with starter as (url, pid, ready_s):
                    ready.setdefault(name, []).append(ready_s)
                    if upstream == "plain" and 1 in levels and args.c1_runs > 0:
                        paired[name] = alternate_c1(up_url, url, args.c1_runs, args.seconds)
                    for mode, model in (("routed", "router"), ("named", "b0")):
                        for stream in (False, True):
                            for c in levels:
                                r = measure(name, upstream, mode, url, model, stream, c, args.seconds, pid)
                                r.added_p50_ms = r.p50_ms - direct[(stream, c)]
                                results.append(r)
                                print(_row(r), flush=True)
    print(_table(results))
    for name, seconds in ready.items():
        print(f"{name}: ready {', '.join(f'{s:.2f}' for s in seconds)} s after process start")
    for name, modes in paired.items():
        for mode, added in modes.items():
            runs = ", ".join(f"{x:.2f}" for x in added)
            print(f"{name} {mode} added p50 at c=1: median {statistics.median(added):.2f} ms of rounds {runs}")
    print("\n".join(verdicts(results, ready, paired)))
    if args.json:
        report = {"rows": [r.__dict__ for r in results], "ready_s": ready, "c1_added_p50_ms": paired}
        args.json.write_text(json.dumps(report, indent=1))
    return 0


def alternate_c1(direct_url: str, url: str, rounds: int, seconds: float) -> dict[str, list[float]]:
    """Added p50 at c=1 of each round of direct, routed, direct, named: each proxy run is set against the
    direct run just before it, so both saw the machine in the same state."""
    added: dict[str, list[float]] = {"routed": [], "named": []}
    for _ in range(rounds):
        for mode, model in (("routed", "router"), ("named", "b0")):
            direct = measure("direct", "plain", "-", direct_url, "plain", False, 1, seconds, None)
            proxied = measure("-", "plain", mode, url, model, False, 1, seconds, None)
            added[mode].append(proxied.p50_ms - direct.p50_ms)
    return added


def run_capacity(
    work: Path, rates: list[float] | None, seconds: float, min_requests: int, litellm: bool, out: Path | None
) -> int:
    """Capacity of each proxy, routed and named, in front of the 50 ms upstream (scripts/capacity.py)."""
    up_port = free_port()
    up_url = f"http://127.0.0.1:{up_port}"
    cmd = [sys.executable, "-m", "scripts.plain_upstream", "--port", str(up_port), "--delay-ms", "50"]
    found: dict[tuple[str, str], Capacity] = {}
    with process(cmd, f"{up_url}/health", work / "plain50.log", cpu=0):
        targets = [("switchyard", _switchyard(up_url, work, "capacity", False))]
        if litellm:
            targets.append(("litellm-proxy", _litellm(up_url, work, "capacity", False)))
        print(_CAPACITY_HEAD, flush=True)
        for name, starter in targets:
            with starter as (url, pid, _):
                for mode, model in (("routed", "router"), ("named", "b0")):

                    def step(rate: float, url: str = url, pid: int = pid, model: str = model) -> Step:
                        direct = _offered(up_url, "plain", rate, seconds, min_requests)
                        cpu0, t0 = cpu_seconds(pid), time.perf_counter()
                        run = _offered(url, model, rate, seconds, min_requests)
                        busy = (cpu_seconds(pid) - cpu0) / (time.perf_counter() - t0)
                        return Step(rate, run, direct, busy, MAX_ADDED_P99_MS)

                    def printed(rate: float, name: str = name, mode: str = mode, step: Any = step) -> Step:
                        result = step(rate)
                        print(_capacity_row(name, mode, result), flush=True)
                        return result

                    found[(name, mode)] = search(printed, rates)
    for (name, mode), capacity in found.items():
        print(f"{name} {mode}: capacity {capacity.rate:.0f} req/s per core at p99 added <= {MAX_ADDED_P99_MS:g} ms")
    lines = capacity_verdicts(found)
    print("\n".join(lines))
    if out:
        report = {
            f"{name} {mode}": {"capacity_rps": c.rate, "steps": [_step_dict(s) for s in c.steps]}
            for (name, mode), c in found.items()
        }
        out.write_text(json.dumps({"capacity": report}, indent=1))
    return 0


MAX_ADDED_P99_MS = 10.0
_CAPACITY_HEAD = (
    f"{'target':14} {'mode':6} {'offered':>8} {'done/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'direct99':>8} "
    f"{'added99':>8} {'errs':>5} {'busy':>5} {'lag99':>6} verdict"
)


def _offered(url: str, model: str, rate: float, seconds: float, min_requests: int) -> OpenLoopRun:
    """One step at `rate`: long enough for `min_requests`, so a low rate's p99 is not simply its slowest call."""
    asyncio.run(offer(url, model, rate, min(1.0, seconds / 5), seed=1))  # warm-up: connections, caches
    return asyncio.run(offer(url, model, rate, max(seconds, min_requests / rate)))


def _capacity_row(name: str, mode: str, s: Step) -> str:
    busy = "" if s.busy_cores is None else f"{s.busy_cores:5.2f}"
    return (
        f"{name:14} {mode:6} {s.rate:8.0f} {s.run.achieved_rps:8.1f} {s.run.p50_ms:8.2f} {s.run.p99_ms:8.2f} "
        f"{s.direct.p99_ms:8.2f} {s.added_p99_ms:8.2f} {s.run.errors:5} {busy:>5} {s.run.lag_p99_ms:6.2f} "
        f"{'pass' if s.passed else 'FAIL'}"
    )


def _step_dict(s: Step) -> dict[str, Any]:
    return {
        "offered_rps": s.rate,
        "achieved_rps": s.run.achieved_rps,
        "p50_ms": s.run.p50_ms,
        "p99_ms": s.run.p99_ms,
        "direct_p50_ms": s.direct.p50_ms,
        "direct_p99_ms": s.direct.p99_ms,
        "added_p99_ms": s.added_p99_ms,
        "errors": s.run.errors,
        "busy_cores": s.busy_cores,
        "generator_lag_p99_ms": s.run.lag_p99_ms,
        "passed": s.passed,
    }


def capacity_verdicts(found: dict[tuple[str, str], Capacity]) -> list[str]:
    """The issue's capacity target, and the ratio to litellm's proxy where both were measured."""
    out: list[str] = []
    routed = found.get(("switchyard", "routed"))
    if routed is not None:
        ok = routed.rate >= 1200
        out.append(f"{'MET    ' if ok else 'NOT MET'} routed capacity >= 1200 req/s per core: {routed.rate:.0f}")
    for mode in ("routed", "named"):
        ours, theirs = found.get(("switchyard", mode)), found.get(("litellm-proxy", mode))
        if ours and theirs and theirs.rate > 0:
            out.append(f"        {mode} capacity over litellm's proxy: {ours.rate / theirs.rate:.1f}x")
    return out


@contextmanager
def _switchyard(up_url: str, work: Path, upstream: str, sim: bool) -> Iterator[tuple[str, int, float]]:
    port = free_port()
    raw = switchyard_config(up_url, work / f"{upstream}-calls.db", port)
    if sim:
        for b in raw["backend"]:
            b["model"] = "openai/mixtral-8x7b"
    config = work / f"{upstream}-switchyard.toml"
    config.write_text(to_toml(raw))
    cmd = [sys.executable, "-m", "proxy", "--config", str(config), "--log-level", "warning"]
    started = time.perf_counter()
    with process(cmd, f"http://127.0.0.1:{port}/ready", work / f"{upstream}-switchyard.log", cpu=1) as proc:
        yield f"http://127.0.0.1:{port}", proc.pid, time.perf_counter() - started


@contextmanager
def _litellm(up_url: str, work: Path, upstream: str, sim: bool) -> Iterator[tuple[str, int, float]]:
    exe = litellm_venv(ROOT / "var" / "bench")
    port = free_port()
    config = work / f"{upstream}-litellm.yaml"
    text = litellm_config(up_url)
    config.write_text(text.replace("openai/plain", "openai/mixtral-8x7b") if sim else text)
    cmd = [str(exe), "--config", str(config), "--port", str(port), "--num_workers", "1"]
    # No master key, like the Switchyard proxy under test (no client keys): litellm must be told that is meant.
    env = {"LITELLM_DANGEROUSLY_PERMIT_WEAK_OR_UNSET_MASTER_KEY": "true"}
    log = work / f"{upstream}-litellm.log"
    started = time.perf_counter()
    with process(cmd, f"http://127.0.0.1:{port}/health/liveliness", log, cpu=1, env=env) as p:
        yield f"http://127.0.0.1:{port}", p.pid, time.perf_counter() - started


def verdicts(
    results: list[Result],
    ready: dict[str, list[float]] | None = None,
    paired: dict[str, dict[str, list[float]]] | None = None,
) -> list[str]:
    """The issue's acceptance targets, checked against this run where it measured what they need.
    `ready`: seconds from process start to ready, per target (one per start); `paired`: the c=1 added p50
    of each alternating round, per target and mode (`alternate_c1`), judged by their median."""
    by = {(r.target, r.upstream, r.mode, r.stream, r.concurrency): r for r in results}
    top = max((r.concurrency for r in results), default=0)
    out: list[str] = []

    def line(what: str, value: str, ok: bool) -> None:
        out.append(f"{'MET    ' if ok else 'NOT MET'} {what}: {value}")

    for stream, kind in ((False, "requests/s"), (True, "streams/s")):
        ours, theirs = (
            by.get(("switchyard", "plain", "routed", stream, top)),
            by.get(("litellm-proxy", "plain", "routed", stream, top)),
        )
        if ours and theirs and theirs.rps > 0:
            ratio = ours.rps / theirs.rps
            line(
                f"routed {kind} at c={top} >= 20x litellm's proxy",
                f"{ours.rps:.0f} / {theirs.rps:.0f} = {ratio:.1f}x",
                ratio >= 20,
            )
    routed = by.get(("switchyard", "plain", "routed", False, top))
    if routed and routed.cpu_ms_per_request is not None:
        cpu = routed.cpu_ms_per_request
        line(f"routed proxy CPU per call at c={top} <= 0.6 ms", f"{cpu:.2f} ms", cpu <= 0.6)
    for mode, bound in (("routed", 1.0), ("named", 0.5)):
        rounds = (paired or {}).get("switchyard", {}).get(mode)
        if rounds:
            median = statistics.median(rounds)
            line(
                f"{mode} added p50 at c=1 <= {bound:g} ms (median of {len(rounds)} alternating rounds)",
                f"{median:.2f} ms",
                median <= bound,
            )
        r, direct = by.get(("switchyard", "plain50", mode, False, 64)), by.get(("direct", "plain50", "-", False, 64))
        if r and direct:
            added = r.p99_ms - direct.p99_ms
            # Demand against capacity: when 64 clients ask for more calls/s than the proxy's one core can
            # serve (its zero-latency rate at c=64), the p99 grows by queueing, whatever the forwarding.
            ceiling = by.get(("switchyard", "plain", mode, False, 64))
            load = f" (demand: {direct.rps:.0f} calls/s direct; capacity: {ceiling.rps:.0f}/s)" if ceiling else ""
            line(f"{mode} p99 added with a 50 ms upstream at c=64 <= 10 ms", f"{added:.1f} ms{load}", added <= 10)
    rss = [r.rss_mb for r in results if r.target == "switchyard" and r.rss_mb is not None]
    if rss:
        line("resident memory <= 300 MB (largest seen in this run)", f"{max(rss):.0f} MB", max(rss) <= 300)
    starts = (ready or {}).get("switchyard")
    if starts:
        line("ready <= 3 s after process start (slowest start)", f"{max(starts):.2f} s", max(starts) <= 3)
    return out


def _row(r: Result) -> str:
    added = "" if r.added_p50_ms is None else f"{r.added_p50_ms:8.2f}"
    cpu = "" if r.cpu_ms_per_request is None else f"{r.cpu_ms_per_request:7.2f}"
    rss = "" if r.rss_mb is None else f"{r.rss_mb:6.0f}"
    return (
        f"{r.target:14} {r.upstream:8} {r.mode:6} {'stream' if r.stream else 'whole':6} {r.concurrency:4} "
        f"{r.rps:9.1f} {r.p50_ms:8.2f} {r.p99_ms:8.2f} {added:>8} {cpu:>7} {rss:>6} {r.errors:5}"
    )


def _table(results: list[Result]) -> str:
    head = (
        f"{'target':14} {'upstream':8} {'mode':6} {'kind':6} {'c':>4} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'added':>8} {'CPU ms':>7} {'RSS MB':>6} {'errs':>5}"
    )
    return "\n".join([head, *(_row(r) for r in results)])


if __name__ == "__main__":
    sys.exit(main())
