"""`python -m proxy --config config.toml`: serve the proxy with uvicorn."""

from __future__ import annotations

import argparse
import logging
import math
import os
import sys

import uvicorn
from uvicorn.config import LOGGING_CONFIG

from proxy import config as config_mod
from proxy.app import create_app
from proxy.logconfig import configure


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="switchyard", description="Switchyard: an OpenAI-compatible LLM router.")
    parser.add_argument("--config", default="config.example.toml", help="TOML config file")
    parser.add_argument("--host", help="override server.host")
    parser.add_argument("--port", type=int, help="override server.port")
    parser.add_argument("--log-level", default="info")
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
    uvicorn.run(
        create_app(config),
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


if __name__ == "__main__":
    sys.exit(main())
