"""Input limits on a parsed request body: nesting depth, integer range, number range and string validity.

Checked once, right after parsing and before anything else reads the body, so a hostile body is refused
with a 400 naming the limit instead of failing later: deep nesting made the stdlib parser and every
encoder raise RecursionError (a 500, or a "502" blamed on the upstream when re-encoding the body for it);
an integer of 400 digits overflowed float arithmetic in the features; a lone surrogate failed every
UTF-8 encode (the log, the tokenizer). The walk is iterative: it cannot itself run out of stack.
"""

from __future__ import annotations

import math
from typing import Any

from proxy.errors import BadRequest
from proxy.settings import InputLimits


def too_deep(limits: InputLimits) -> BadRequest:
    return BadRequest(
        f"Request body is nested deeper than the limit of {limits.json_max_depth} levels (limits.json_max_depth).",
        code="json_too_deep",
    )


def check_body(value: Any, limits: InputLimits) -> None:
    """Raise 400 if `value` (parsed JSON) breaks any of `limits`."""
    max_depth, max_int, strict = limits.json_max_depth, limits.max_integer, limits.reject_lone_surrogates
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            if depth >= max_depth:
                raise too_deep(limits)
            for key, child in item.items():
                if strict:
                    _valid_text(key)
                stack.append((child, depth + 1))
        elif isinstance(item, list):
            if depth >= max_depth:
                raise too_deep(limits)
            stack.extend((child, depth + 1) for child in item)
        elif isinstance(item, str):
            if strict:
                _valid_text(item)
        elif isinstance(item, bool) or item is None:
            continue
        elif isinstance(item, int):
            if not -max_int <= item <= max_int:
                raise BadRequest(
                    f"Request body holds an integer beyond the limit of {max_int} (limits.max_integer).",
                    code="integer_out_of_range",
                )
        elif isinstance(item, float) and not math.isfinite(item):
            raise BadRequest("Request body holds a number too large to represent.", code="number_out_of_range")


def _valid_text(text: str) -> None:
    if text.isascii():
        return
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise BadRequest(
            "Request body holds a string that is not valid Unicode (an unpaired surrogate escape such as "
            "'\\ud800'; limits.reject_lone_surrogates).",
            code="invalid_string",
        ) from None
