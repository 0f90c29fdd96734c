"""`switchyard serve` and `switchyard demo`: the proxy itself, on real or on simulated backends."""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

from proxy.cli.common import Commands, command


def add(commands: Commands) -> None:
    p = command(
        commands,
        "serve",
        "Serve the OpenAI-compatible proxy (also `python -m proxy`, with the same options).",
        "Reads: the TOML config (config.example.toml documents every key; secrets come from the environment\n"
        "variables it names) and the models directory it points at (default: the shipped models).\n"
        "Serves: /v1/chat/completions, /v1/models, /v1/feedback, /ui/, /metrics, /health and /ready on\n"
        "server.host:server.port. Writes: one log row per call to the config's [log] (SQLite file or Postgres).\n"
        "Exits 2 when the config is unusable, naming the key.",
    )
    p.add_argument("--config", default="config.example.toml", help="TOML config file")
    p.add_argument("--host", help="override server.host")
    p.add_argument("--port", type=int, help="override server.port")
    p.add_argument("--log-level", default="info")
    p.add_argument("--workers", type=int, default=1, help="uvicorn worker processes sharing the port and the log")
    p.set_defaults(run=serve)

    p = command(
        commands,
        "demo",
        "Run the proxy on simulated LLM backends (what `make run` starts): no API key, no internet.",
        "Starts the simulated backends (`python -m proxy.simulator`) on http://127.0.0.1:9100, then the proxy\n"
        "with --config on http://127.0.0.1:8000, until Ctrl-C (which stops both). The simulated models\n"
        "impersonate real ones with their measured accuracy and latency; when --data-dir holds long-format\n"
        "routing data they answer its prompts exactly as the real models did. Writes what `serve` writes.",
    )
    p.add_argument(
        "--config",
        type=Path,
        default=Path(os.environ.get("SWITCHYARD_CONFIG", "config.example.toml")),
        help="the proxy's config, whose backends point at the simulator "
        "(default: $SWITCHYARD_CONFIG, else config.example.toml)",
    )
    p.add_argument(
        "--data-dir",
        type=Path,
        default=Path(os.environ.get("SWITCHYARD_DATA_DIR", "../shared/data")),
        help="long-format data the simulator answers from, if present "
        "(default: $SWITCHYARD_DATA_DIR, else ../shared/data)",
    )
    p.set_defaults(run=demo)


def serve(args: argparse.Namespace) -> int:
    from proxy.serve import serve

    return serve(args.config, args.host, args.port, args.log_level, args.workers)


def demo(args: argparse.Namespace) -> int:
    from proxy.simulator.demo import run_demo

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    return run_demo(args.config, args.data_dir)
