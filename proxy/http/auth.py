"""Who may call: client API keys (kept as sha256 only), the models each may use, and the admin key.

With no `[[key]]` configured the proxy is open (the demo); with keys, every /v1 request needs one, as
`Authorization: Bearer <key>` (what the OpenAI SDKs send) or `x-api-key: <key>`.
"""

from __future__ import annotations

import hashlib
import hmac

from starlette.datastructures import Headers

from proxy.errors import Forbidden, Unauthorized
from proxy.request import ChatRequest
from proxy.settings import ApiKey, AuthSettings


def presented_key(headers: Headers) -> str | None:
    value = headers.get("authorization")
    if value is not None:
        scheme, _, token = value.partition(" ")
        if scheme.lower() != "bearer":
            return None
        return token.strip() or None
    return headers.get("x-api-key") or None


class KeyRing:
    def __init__(self, settings: AuthSettings) -> None:
        self.settings = settings
        self._by_hash = {k.sha256: k for k in settings.keys}

    @property
    def enabled(self) -> bool:
        return self.settings.enabled

    def identify(self, headers: Headers) -> ApiKey | None:
        """The caller's key; None when auth is off. Raises 401 for a missing or unknown key."""
        if not self.enabled:
            return None
        token = presented_key(headers)
        if token is None:
            raise Unauthorized("Missing API key: send it as 'Authorization: Bearer <key>'.", code="missing_api_key")
        key = self._by_hash.get(hashlib.sha256(token.encode()).hexdigest())
        if key is None:
            raise Unauthorized("Invalid API key.", code="invalid_api_key")
        return key

    @staticmethod
    def check_model(key: ApiKey | None, model: str) -> None:
        if key is not None and key.models is not None and model not in key.models:
            raise Forbidden(
                f"API key '{key.id}' may not use model '{model}'. Allowed: {', '.join(key.models)}.",
                param="model",
                code="model_not_allowed",
            )

    def is_admin(self, headers: Headers) -> bool:
        token = presented_key(headers)
        if self.settings.admin_sha256 is None or token is None:
            return False
        return hmac.compare_digest(hashlib.sha256(token.encode()).hexdigest(), self.settings.admin_sha256)

    @staticmethod
    def check_request(key: ApiKey | None, chat: ChatRequest) -> None:
        """Every backend or alias the request names (its model, its `router.candidates`) must be allowed."""
        KeyRing.check_model(key, chat.model)
        if key is None or key.models is None:
            return
        for name in chat.controls.candidates or ():
            if name not in key.models:
                raise Forbidden(
                    f"API key '{key.id}' may not use model '{name}' (named in router.candidates). "
                    f"Allowed: {', '.join(key.models)}.",
                    param="router.candidates",
                    code="model_not_allowed",
                )

    def require_admin(self, headers: Headers) -> None:
        if self.settings.admin_sha256 is None:
            raise Forbidden("Admin endpoints are disabled: set auth.admin_key_env.", code="admin_disabled")
        token = presented_key(headers)
        if token is None:
            raise Unauthorized("Missing admin key.", code="missing_api_key")
        if not hmac.compare_digest(hashlib.sha256(token.encode()).hexdigest(), self.settings.admin_sha256):
            raise Forbidden("This key is not the admin key.", code="not_admin")
