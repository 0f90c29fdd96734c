"""`switchyard serve` (and `python -m proxy`): the proxy under uvicorn, one process or several workers."""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from uvicorn.config import LOGGING_CONFIG

from proxy import config as config_mod
from proxy.http.app import create_app
from proxy.http.wire import JsonErrorHttpTools
from proxy.logconfig import configure

CONFIG_ENV, LOG_LEVEL_ENV = "SWITCHYARD_WORKER_CONFIG", "SWITCHYARD_WORKER_LOG_LEVEL"


def serve(config_path: str, host: str | None, port: int | None, log_level: str, workers: int) -> int:
    """Serve until stopped; 2 when the config is unusable (the error is logged, naming the key)."""
    configure(log_level, "text")
    try:
        config = config_mod.load(config_path, environ=os.environ)
    except config_mod.ConfigError as exc:
        logging.getLogger("switchyard").error("%s", exc)
        return 2
    json_logs = config.server.log_format == "json"
    if json_logs:
        configure(log_level, "json")
    # Several workers are separate processes that each build the app: they get it from `worker_app`,
    # which reads the same config file (the environment carries its path to them).
    if workers > 1:
        os.environ[CONFIG_ENV], os.environ[LOG_LEVEL_ENV] = str(Path(config_path).resolve()), log_level
    uvicorn.run(
        create_app(config, settle_gc=True) if workers == 1 else "proxy.serve:worker_app",
        factory=workers > 1,
        workers=workers,
        host=host or config.server.host,
        port=port if port is not None else config.server.port,
        log_level=log_level,
        http=JsonErrorHttpTools,  # an unparsable request gets a JSON 400, like every other error
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
