"""JSON on the request path, through orjson: the client's body, the upstream's answer and stream events,
the response and the log rows.

With the standard library's `json` these were a few percent of a call's CPU in py-spy profiles under
scripts/bench.py; streamed calls, which parse and write every chunk, used 17% less CPU with orjson.
Output is compact UTF-8; NumPy scalars are written as numbers; anything else orjson cannot write goes
through `str`, as `json.dumps(default=str)` did.

What orjson refuses but JSON allows, lone surrogate escapes ("\\ud800") above all, goes through the
standard library instead; only failures pay for the second try. Parsing still rejects NaN and Infinity
(not JSON), with `ValueError`. One difference remains: an integer beyond 64 bits is read as a float.

Nesting past the parsers' limits (orjson: 1024 levels, the standard library: its recursion limit) is a
`ValueError` (`TooDeep`) when reading, and `errors.Unencodable` (a 400) when writing, never a bare
`RecursionError`: request bodies are held to `limits.json_max_depth` well before that (limits/input.py).
"""

from __future__ import annotations

import json
from typing import Any

import orjson

from proxy.errors import Unencodable

_OPTIONS = orjson.OPT_SERIALIZE_NUMPY


class TooDeep(ValueError):
    """JSON nested deeper than the parser can follow."""


def loads(raw: bytes | str) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        try:
            return json.loads(raw, parse_constant=_reject_constant)
        except RecursionError:
            raise TooDeep("JSON is nested too deeply to be read") from None


def dumps(value: Any) -> bytes:
    try:
        return orjson.dumps(value, default=str, option=_OPTIONS)
    except TypeError:  # a lone surrogate (orjson writes UTF-8 only), or nesting past orjson's 254 levels
        try:
            return json.dumps(value, separators=(",", ":"), default=str).encode()
        except RecursionError:
            raise Unencodable("The body is nested too deeply to be written as JSON.", code="json_too_deep") from None


def dumps_text(value: Any) -> str:
    return dumps(value).decode()


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")
