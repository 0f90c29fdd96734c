"""`python -m proxy --config config.toml`: serve the proxy with uvicorn."""

from __future__ import annotations

import argparse
import logging
import math
import os
import sys
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from uvicorn.config import LOGGING_CONFIG

from proxy import config as config_mod
from proxy.http.app import create_app
from proxy.logconfig import configure

CONFIG_ENV, LOG_LEVEL_ENV = "SWITCHYARD_WORKER_CONFIG", "SWITCHYARD_WORKER_LOG_LEVEL"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="switchyard", description="Switchyard: an OpenAI-compatible LLM router.")
    parser.add_argument("--config", default="config.example.toml", help="TOML config file")
    parser.add_argument("--host", help="override server.host")
    parser.add_argument("--port", type=int, help="override server.port")
    parser.add_argument("--log-level", default="info")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes sharing the port and the log")
    args = parser.parse_args(argv)
    configure(args.log_level, "text")
    try:
        config = config_mod.load(args.config, environ=os.environ)
    except config_mod.ConfigError as exc:
        logging.getLogger("switchyard").error("%s", exc)
        return 2
    json_logs = config.server.log_format == "json"
    if json_logs:
        configure(args.log_level, "json")
    # Several workers are separate processes that each build the app: they get it from `worker_app`,
    # which reads the same config file (the environment carries its path to them).
    if args.workers > 1:
        os.environ[CONFIG_ENV], os.environ[LOG_LEVEL_ENV] = str(Path(args.config).resolve()), args.log_level
    uvicorn.run(
        create_app(config, settle_gc=True) if args.workers == 1 else "proxy.__main__:worker_app",
        factory=args.workers > 1,
        workers=args.workers,
        host=args.host or config.server.host,
        port=args.port if args.port is not None else config.server.port,
        log_level=args.log_level,
        # JSON: uvicorn's loggers go through ours, and proxy.access (one line per call, with its request id)
        # replaces uvicorn's access line, which knows no request id and would log every probe.
        log_config=None if json_logs else LOGGING_CONFIG,
        access_log=not json_logs,
        timeout_graceful_shutdown=math.ceil(config.server.shutdown_grace_s),
    )
    return 0


def worker_app() -> Starlette:
    """The app of one of several uvicorn workers (`--workers N`)."""
    config = config_mod.load(os.environ[CONFIG_ENV], environ=os.environ)
    configure(os.environ[LOG_LEVEL_ENV], config.server.log_format)
    return create_app(config, settle_gc=True)


if __name__ == "__main__":
    sys.exit(main())
