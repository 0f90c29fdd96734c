"""Process logs: plain text, or one JSON object a line (`[server] log_format = "json"`) for log collectors.

Every line emitted while a call is being served carries that call's request id (the `x-router-request-id`
header and the log row's id), taken from a context variable the app sets per request, so the lines of one
call can be found together. A JSON line holds a fixed set of fields plus the `call` fields of an access line:
never request bodies, keys or other `extra` attributes.
"""

from __future__ import annotations

import contextvars
import json
import logging
import time
from typing import Any

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("switchyard_request_id", default=None)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        rid = request_id.get()
        if rid is not None:
            line["request_id"] = rid
        call = getattr(record, "call", None)
        if isinstance(call, dict):
            line.update(call)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, separators=(",", ":"), default=str)


def configure(level: str, fmt: str) -> None:
    """Send every logger's lines to stderr in `fmt` ("text" or "json"), replacing earlier handlers."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
