"""Secrets out of every body that is stored or shown: by field name, and by value.

By name: the value of any field that names a credential (`api_key`, `authorization`, `access_token`,
`client_secret`, `openai_api_key`, ...) at any depth. By value: the configured upstream keys wherever
they appear, in full or in the masked forms providers echo back in their errors and bodies ("sk-...abcd",
"sk-proj-********abcd", "****abcd"), and their first 8 characters. An upstream that echoed a key in a 200
body used to put it in the log row and on the dashboard in clear.

Applied by the log writer to the request and response bodies before they are stored (`log/queue.py`),
and by the dashboard to a call's bodies before they are shown (`log/insights.py`), for rows written
before this redaction existed.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any

from proxy.errors import Unencodable, secret_pattern

REDACTED = "[redacted]"
SECRET_NAMES = frozenset(
    {
        "api_key",
        "apikey",
        "api-key",
        "x-api-key",
        "authorization",
        "proxy-authorization",
        "password",
        "passwd",
        "secret",
        "client_secret",
        "access_token",
        "refresh_token",
        "id_token",
        "session_token",
        "private_key",
        "cookie",
        "set-cookie",
    }
)
SECRET_SUFFIXES = ("_api_key", "-api-key", "_secret", "_access_token", "_password", "_private_key")


@functools.lru_cache(maxsize=4096)
def is_secret_name(name: object) -> bool:
    """Cached: the log writer asks this of every key of every body, and bodies repeat the same few keys."""
    lowered = str(name).lower()
    return lowered in SECRET_NAMES or lowered.endswith(SECRET_SUFFIXES)


class Redactor:
    """Redacts by name and by the values of `secrets`; with no secrets, by name only."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._values = [
            (secret[:8], secret[-4:], pattern)
            for secret in dict.fromkeys(secrets)
            if (pattern := secret_pattern(secret)) is not None
        ]

    def text(self, text: str) -> str:
        for head, tail, pattern in self._values:
            if tail in text or head in text:  # every form holds one of them: a cheap test first
                text = pattern.sub("***", text)
        return text

    def value(self, value: Any) -> Any:
        """`value` (parsed JSON) with secret-named fields replaced and secret values masked, at any depth.
        Nesting too deep to walk is `Unencodable`, as it is for the JSON encoder (the log writer then
        stores the row without its bodies)."""
        try:
            return self._walk(value)
        except RecursionError:
            raise Unencodable("The body is nested too deeply to be redacted.", code="json_too_deep") from None

    def _walk(self, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: REDACTED if is_secret_name(k) else self._walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._walk(v) for v in value]
        if isinstance(value, str) and self._values:
            return self.text(value)
        return value


BY_NAME = Redactor()
