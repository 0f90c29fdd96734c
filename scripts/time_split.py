"""Where a call's CPU goes inside the server under load: parse, features, ONNX, choice, forward, log, HTTP.

Usage: .venv/bin/python -m scripts.time_split [--seconds 10] [--concurrency 16] [--modes routed,named]
       [--top 15] [--json FILE]

Starts the zero-latency upstream and the proxy as scripts/bench.py does (proxy pinned to CPU 1), loads it
with routed or named calls, and samples the running proxy with py-spy (1000 samples/s, without pausing it)
while the load runs. Each sample is put in the stage of the first rule in `STAGES` that one of its frames
matches, and a stage's share of the samples times the proxy's CPU per call (from /proc) is its microseconds
per call; the stages add up to that CPU. A tight loop over one stage shows its cost with warm caches; this
shows what it costs between other requests, which is what a core actually spends. `--top` lists the
functions most samples were in (the innermost frame), per mode.

Needs py-spy (`pip install py-spy`) and the right to attach to the proxy process (ptrace).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from scripts.bench import load
from scripts.bench_targets import process, start_switchyard
from scripts.harness import free_port

Frame = tuple[str, str]  # (function, file)
Rule = Callable[[Frame], bool]


def _in(*parts: str) -> Rule:
    return lambda frame: any(p in frame[1] for p in parts)


# A sample is in the first of these that any of its frames is in: what runs inside them (the cost estimate in
# the log step, JSON parsing in the request parser) counts where it is called from.
CALLED: list[tuple[str, Rule]] = [
    (
        "log",
        lambda f: (
            _in("/proxy/log/", "/proxy/metrics.py", "prometheus_client/", "/logging/")(f)
            or (f[1].endswith("/proxy/pipeline.py") and f[0] in ("_record", "_access_line", "_observe_speed"))
        ),
    ),
    ("features", _in("/proxy/route/features/")),
    ("onnx", _in("/proxy/route/scoring.py", "onnxruntime")),
    ("choice", _in("/proxy/route/", "/proxy/upstream/breaker.py", "/proxy/upstream/prices.py")),
    ("parse", lambda f: _in("/proxy/request.py", "/proxy/limits/input.py")(f) or f[0] in ("read_body", "read_json")),
]
# Else it is in the stage of its innermost frame that one of these matches: the middleware and the event loop
# are on every stack, so only what runs in them itself is theirs.
INNERMOST: list[tuple[str, Rule]] = [
    ("limits/auth", _in("/proxy/limits/", "/proxy/http/auth.py")),
    ("forward", _in("/proxy/upstream/", "aiohttp/", "yarl/", "multidict/")),
    ("respond", _in("/proxy/http/responses.py", "starlette/responses.py", "/proxy/dialects/")),
    ("http server", _in("uvicorn/", "httptools", "starlette/", "/proxy/http/", "/proxy/pipeline.py")),
    ("event loop", _in("asyncio/", "selectors.py", "uvloop")),
]
OTHER = "other Python"
STAGES = [*(s for s, _ in CALLED), *(s for s, _ in INNERMOST), OTHER]
Stack = tuple[Frame, ...]


_THREAD = re.compile(r"thread \((\w+)\)")


def parse_raw(text: str) -> dict[int, Counter[Stack]]:
    """py-spy's raw output with thread ids (`--threads`): per thread id, its stacks (outermost frame first)
    and their sample counts. Each line is `thread (TID)...;func (file);...` and then the count."""
    threads: dict[int, Counter[Stack]] = {}
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        head, _, frames = stack.partition(";")
        thread = _THREAD.match(head)
        if thread is None:
            continue
        tid = int(thread.group(1), 0)
        parsed = []
        for raw in frames.split(";") if frames else []:
            func, _, rest = raw.partition(" (")
            parsed.append((func, rest.rstrip(")")))
        threads.setdefault(tid, Counter())[tuple(parsed)] += int(count)
    return threads


def stage_of(stack: Stack) -> str:
    for name, rule in CALLED:
        if any(rule(f) for f in stack):
            return name
    for frame in reversed(stack):
        for name, rule in INNERMOST:
            if rule(frame):
                return name
    return OTHER


def shares(stacks: Counter[Stack]) -> dict[str, float]:
    """Each stage's share of the samples."""
    total = sum(stacks.values()) or 1
    samples = Counter[str]()
    for stack, n in stacks.items():
        samples[stage_of(stack)] += n
    return {name: samples[name] / total for name in STAGES}


def top_functions(stacks: Counter[Stack], n: int) -> list[tuple[str, float]]:
    """The functions most samples were in (innermost frame), with their share."""
    total = sum(stacks.values()) or 1
    leaves = Counter[str]()
    for stack, count in stacks.items():
        if stack:
            func, file = stack[-1]
            leaves[f"{func} ({Path(file).name})"] += count
    return [(name, count / total) for name, count in leaves.most_common(n)]


def thread_cpu(pid: int) -> dict[int, tuple[str, float]]:
    """Each thread of `pid`: its name and CPU seconds so far."""
    ticks = os.sysconf("SC_CLK_TCK")
    out = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            name, fields = (task / "stat").read_text().split(" (", 1)[1].rsplit(") ", 1)
        except (FileNotFoundError, ValueError):
            continue
        values = fields.split()
        out[int(task.name)] = (name, (int(values[11]) + int(values[12])) / ticks)
    return out


@dataclass
class Split:
    mode: str
    calls: int
    errors: int
    samples: int  # of the main thread
    cpu_us_per_call: float  # the whole process
    us_per_call: dict[str, float]  # the main thread's stages, then each other thread (by name)
    top: list[tuple[str, float]]  # the main thread's most sampled functions


def profile(mode: str, seconds: float, concurrency: int, work: Path) -> Split:
    """One proxy process under `concurrency` clients of `mode` calls (enough to keep its core busy, so the main
    thread is seldom idle and its samples are its CPU), sampled for `seconds`."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    model = "router" if mode == "routed" else "b0"
    up_port = free_port()
    up_url = f"http://127.0.0.1:{up_port}"
    cmd = [sys.executable, "-m", "scripts.plain_upstream", "--port", str(up_port)]
    raw = work / f"{mode}.txt"
    upstream = process(cmd, f"{up_url}/health", work / "plain.log", cpu=0)
    with upstream, start_switchyard(up_url, work, mode, False) as (url, pid, _):
        asyncio.run(load(url, model, False, concurrency, 1.0))  # warm-up
        record = [spy, "record", "--pid", str(pid), "--rate", "1000", "--nonblocking", "--threads"]
        record += ["--full-filenames", "--nolineno", "--format", "raw", "--output", str(raw)]
        record += ["--duration", str(max(1, round(seconds)))]
        sampler = subprocess.Popen(["taskset", "-c", "0", *record], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        before = thread_cpu(pid)
        calls, _, errors = asyncio.run(load(url, model, False, concurrency, seconds))
        after = thread_cpu(pid)
        said = sampler.communicate(timeout=60)[0].decode()
    if sampler.returncode != 0 or not raw.exists():
        raise RuntimeError(f"py-spy could not sample the proxy: {said.strip()}")
    per_call = {
        tid: (name, (cpu - before.get(tid, (name, 0.0))[1]) * 1e6 / max(1, calls)) for tid, (name, cpu) in after.items()
    }
    main_stacks = parse_raw(raw.read_text()).get(pid, Counter())
    main_us = per_call.pop(pid, ("", 0.0))[1]
    us = {stage: main_us * share for stage, share in shares(main_stacks).items()}
    for name, cpu_us in per_call.values():
        us[f"thread {name}"] = us.get(f"thread {name}", 0.0) + cpu_us
    return Split(
        mode,
        calls,
        errors,
        sum(main_stacks.values()),
        sum(us.values()),
        us,
        top_functions(main_stacks, 40),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--modes", default="routed,named")
    parser.add_argument("--top", type=int, default=15, help="functions most samples were in, per mode")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="switchyard-split-"))
    reports = [profile(mode, args.seconds, args.concurrency, work) for mode in args.modes.split(",")]
    rows = list(dict.fromkeys(k for r in reports for k in r.us_per_call))
    print(f"{'us per call':24}" + "".join(f"{r.mode:>10}" for r in reports))
    for row in rows:
        print(f"{row:24}" + "".join(f"{r.us_per_call.get(row, 0.0):10.1f}" for r in reports))
    print(f"{'total CPU':24}" + "".join(f"{r.cpu_us_per_call:10.1f}" for r in reports))
    for r in reports:
        print(f"\n{r.mode}: {r.calls} calls, {r.errors} errors, {r.samples} main-thread samples; most sampled:")
        for name, share in r.top[: args.top]:
            print(f"  {share:6.1%}  {name}")
    if args.json:
        report = {"concurrency": args.concurrency, "modes": [asdict(r) for r in reports]}
        args.json.write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
