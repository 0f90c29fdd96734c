"""python -m proxy.simulator: serve every simulated model on one local OpenAI-compatible server."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import uvicorn

from proxy.simulator.app import create_app
from proxy.simulator.settings import SimSettings


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m proxy.simulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9100)
    parser.add_argument("--data-dir", type=Path, default=None, help="long-format data: real labels for its prompts")
    parser.add_argument("--speed", type=float, default=1.0, help="latency scale: 1 = measured, 0 = instant")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--api-key", default=None, help="require 'Authorization: Bearer KEY' on /v1")
    parser.add_argument("--profiles", type=Path, default=None, help="profiles JSON (default: the packaged one)")
    parser.add_argument(
        "--rename", action="append", default=[], metavar="NEW=MODEL", help="also serve MODEL as NEW (repeatable)"
    )
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    renames = []
    for spec in args.rename:
        new, sep, old = spec.partition("=")
        if not (sep and new and old):
            parser.error(f"--rename wants NEW=MODEL, got {spec!r}")
        renames.append((new, old))
    settings = SimSettings(
        data_dir=args.data_dir,
        speed=args.speed,
        seed=args.seed,
        api_key=args.api_key,
        profiles_path=args.profiles,
        renames=tuple(renames),
    )
    uvicorn.run(create_app(settings), host=args.host, port=args.port, log_level=args.log_level)


if __name__ == "__main__":
    main()
