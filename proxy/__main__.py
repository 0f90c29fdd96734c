"""`python -m proxy --config config.toml`: serve the proxy with uvicorn."""

from __future__ import annotations

import argparse
import logging
import math
import os
import sys

import uvicorn

from proxy import config as config_mod
from proxy.app import create_app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="switchyard", description="Switchyard: an OpenAI-compatible LLM router.")
    parser.add_argument("--config", default="config.example.toml", help="TOML config file")
    parser.add_argument("--host", help="override server.host")
    parser.add_argument("--port", type=int, help="override server.port")
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        config = config_mod.load(args.config, environ=os.environ)
    except config_mod.ConfigError as exc:
        logging.getLogger("switchyard").error("%s", exc)
        return 2
    uvicorn.run(
        create_app(config),
        host=args.host or config.server.host,
        port=args.port if args.port is not None else config.server.port,
        log_level=args.log_level,
        timeout_graceful_shutdown=math.ceil(config.server.shutdown_grace_s),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
