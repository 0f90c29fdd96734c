"""POST /v1/feedback: a person's verdict on a logged call, stored as a label for retraining.

Body: {"request_id": "<x-router-request-id>", "score": 0..1 | "thumbs": "up" | "down",
       "comment": "...", "source": "human"}. Several labels per call are kept, each with its source.
"""

from __future__ import annotations

import math
import time
from typing import Any

from proxy.errors import BadRequest
from proxy.log.records import Label

MAX_COMMENT = 4000


def parse_feedback(body: Any, api_key_id: str | None) -> Label:
    if not isinstance(body, dict):
        raise BadRequest("Request body must be a JSON object.")
    unknown = sorted(set(body) - {"request_id", "score", "thumbs", "comment", "source"})
    if unknown:
        raise BadRequest(f"Unknown field '{unknown[0]}'.", param=unknown[0])
    call_id = body.get("request_id")
    if not isinstance(call_id, str) or not call_id:
        raise BadRequest("'request_id' is required: the x-router-request-id of the call.", param="request_id")
    score, thumbs = body.get("score"), body.get("thumbs")
    if (score is None) == (thumbs is None):
        raise BadRequest("Give exactly one of 'score' (0 to 1) or 'thumbs' ('up' or 'down').", param="score")
    if thumbs is not None:
        if thumbs not in ("up", "down"):
            raise BadRequest("'thumbs' must be 'up' or 'down'.", param="thumbs")
        score = 1.0 if thumbs == "up" else 0.0
    if isinstance(score, bool) or not isinstance(score, int | float) or not math.isfinite(score) or not 0 <= score <= 1:
        raise BadRequest("'score' must be a number from 0 to 1.", param="score")
    comment = body.get("comment")
    if comment is not None and (not isinstance(comment, str) or len(comment) > MAX_COMMENT):
        raise BadRequest(f"'comment' must be a string of at most {MAX_COMMENT} characters.", param="comment")
    source = body.get("source", "human")
    if not isinstance(source, str) or not source or len(source) > 100:
        raise BadRequest("'source' must be a short non-empty string.", param="source")
    return Label(call_id, float(score), source, time.time(), comment, api_key_id)
