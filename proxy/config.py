"""The proxy's configuration: one TOML file loaded into the frozen dataclasses of `settings.py`.

Every key is documented in ``config.example.toml``. Errors name the key and the bad value.
Secrets never live in the file: a backend names the environment variable that holds its key,
and `api_keys` reads them from an environment mapping handed in by the caller.
"""

from __future__ import annotations

import hashlib
import math
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from proxy.log import dsn as dsn_mod
from proxy.route.catalog import Catalog, default_catalog, with_prices
from proxy.settings import (
    DEFAULT_MAX_CONNECTIONS,
    Alias,
    ApiKey,
    AuthSettings,
    Backend,
    Config,
    EmbeddingBackend,
    InputLimits,
    LogSettings,
    MetricsSettings,
    Prices,
    PriceSettings,
    Reliability,
    ServerSettings,
)


class ConfigError(ValueError):
    """The configuration is invalid; the message names the key and the value."""


def api_keys(config: Config, environ: Mapping[str, str]) -> dict[str, str]:
    """Backend or embedding name -> API key, read from the environment variables the config names."""
    keys: dict[str, str] = {}
    items: list[Backend | EmbeddingBackend] = [*config.backends, *config.embeddings]
    for item in items:
        if item.api_key_env:
            value = environ.get(item.api_key_env)
            if value:
                keys[item.name] = value
    return keys


def load(path: str | Path, environ: Mapping[str, str] | None = None, catalog: Catalog | None = None) -> Config:
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from exc
    return parse(raw, base_dir=path.parent, environ=environ, catalog=catalog)


def parse(
    raw: Mapping[str, Any],
    *,
    base_dir: Path = Path("."),
    environ: Mapping[str, str] | None = None,
    catalog: Catalog | None = None,
) -> Config:
    """Build a Config from parsed TOML. `environ` resolves `key_env` / `admin_key_env` (default: no variables);
    `catalog` describes the backends' models (default: the shipped one)."""
    top = _Table(raw, "")
    server_t = top.table("server")
    server = ServerSettings(
        host=server_t.string("host", "127.0.0.1"),
        port=server_t.integer("port", 8000, lo=0, hi=65535),
        max_body_bytes=server_t.integer("max_body_bytes", 4 * 1024 * 1024, lo=1024),
        max_in_flight=server_t.integer("max_in_flight", 512, lo=1),
        shutdown_grace_s=server_t.number("shutdown_grace_s", 30.0, lo=0.0),
        max_in_flight_per_key=server_t.integer("max_in_flight_per_key", 64, lo=1),
        body_timeout_s=server_t.number("body_timeout_s", 30.0, lo=0.001),
        log_format=server_t.choice("log_format", "text", ("text", "json")),
    )
    server_t.done()
    limits = _limits(top.table("limits"))
    rel_t = top.table("reliability")
    reliability = Reliability(
        retry_attempts=rel_t.integer("retry_attempts", 2, lo=1, hi=10),
        backoff_base_s=rel_t.number("backoff_base_s", 0.05, lo=0.0),
        backoff_max_s=rel_t.number("backoff_max_s", 2.0, lo=0.0),
        deadline_s=rel_t.number("deadline_s", 120.0, lo=0.001),
        breaker_failures=rel_t.integer("breaker_failures", 5, lo=1),
        breaker_cooldown_s=rel_t.number("breaker_cooldown_s", 30.0, lo=0.0),
    )
    rel_t.done()
    auth = _auth(top.table("auth"), top.array("key"), environ or {})
    log_t = top.table("log")
    log = LogSettings(
        path=_path(log_t.string("path", "var/switchyard.db"), base_dir),
        bodies=log_t.choice("bodies", "full", ("full", "hash", "none")),
        queue_size=log_t.integer("queue_size", 10_000, lo=1),
        enabled=log_t.flag("enabled", True),
        feature_rows=log_t.choice("feature_rows", "auto", ("auto", "always")),
        **_log_dsn(log_t, environ or {}),
    )
    log_t.done()
    prices, metrics = _prices_settings(top.table("prices")), _metrics(top.table("metrics"), auth)
    models_dir = top.optional_str("models_dir")
    data_dir = top.optional_str("data_dir")
    catalog = catalog or default_catalog()
    backends = tuple(_backend(t, catalog) for t in top.array("backend"))
    if not backends:
        raise ConfigError("backend: at least one [[backend]] is required")
    names = [b.name for b in backends]
    _unique(names, "backend")
    aliases = tuple(_alias(t, names) for t in top.array("alias")) or (Alias("router", tuple(names)),)
    _unique([a.name for a in aliases], "alias")
    for a in aliases:
        if a.name in names:
            raise ConfigError(f"alias.name: {a.name!r} is also a backend name")
    embeddings = tuple(_embedding(t) for t in top.array("embedding"))
    _unique([e.name for e in embeddings], "embedding")
    top.done()
    return Config(
        backends=backends,
        aliases=aliases,
        embeddings=embeddings,
        server=server,
        limits=limits,
        log=log,
        reliability=reliability,
        auth=auth,
        models_dir=_path(models_dir, base_dir) if models_dir else None,
        data_dir=_path(data_dir, base_dir) if data_dir else None,
        prices=prices,
        metrics=metrics,
    )


def _limits(t: _Table) -> InputLimits:
    limits = InputLimits(
        # orjson reads at most 1024 levels, and a body deeper than ~990 cannot be written again for the upstream.
        json_max_depth=t.integer("json_max_depth", 64, lo=2, hi=1000),
        max_integer=t.integer("max_integer", 2**63 - 1, lo=1),
        reject_lone_surrogates=t.flag("reject_lone_surrogates", True),
        max_messages=t.integer("max_messages", 4096, lo=1),
        max_tools=t.integer("max_tools", 128, lo=0),
        max_content_parts=t.integer("max_content_parts", 512, lo=1),
    )
    t.done()
    return limits


def _backend(t: _Table, catalog: Catalog) -> Backend:
    name = t.string("name")
    model = t.string("model")
    price_key = t.optional_str("price_key")
    listing = catalog.listing(model, price_key)
    configured = _prices(t)
    prices = configured or listing.prices
    backend = Backend(
        name=name,
        model=model,
        api_base=t.optional_str("api_base"),
        api_key_env=t.optional_str("api_key_env"),
        prices=prices,
        price_key=price_key if configured else listing.price_key,
        timeout_s=t.number("timeout_s", 600.0, lo=0.001),
        connect_timeout_s=t.number("connect_timeout_s", 10.0, lo=0.001),
        ttft_timeout_s=t.optional_float("ttft_timeout_s", lo=0.001),
        idle_timeout_s=t.number("idle_timeout_s", 60.0, lo=0.001),
        transport=t.choice("transport", "auto", ("auto", "direct", "litellm")),
        api=t.choice("api", "auto", ("auto", "chat", "anthropic", "responses")),
        max_connections=t.integer("max_connections", DEFAULT_MAX_CONNECTIONS, lo=1),
    )
    # Only the keys the config sets replace what the catalog (or litellm's cost map) says of the model.
    given = {key: value for key, read in _DESCRIPTIVE.items() if key in t.raw and (value := read(t)) is not None}
    stand_in = t.optional_str("speed_as")
    if stand_in is not None:
        given = {**_stand_in_speed(stand_in, catalog, t), **given}
    elif "ttft_s" in given or "tokens_per_s" in given:
        # A speed of the config's own: the catalog's spread was measured around another median.
        given.update(speed_source="config: ttft_s / tokens_per_s", ttft_s_p10_p90=None, tokens_per_s_p10_p90=None)
    t.done()
    return replace(backend, profile=replace(with_prices(listing.profile, prices), **given))


def _stand_in_speed(name: str, catalog: Catalog, t: _Table) -> dict[str, Any]:
    """`speed_as`: a model nobody measured predicts with another catalog model's measured speed (or, as
    `model@provider`, the speed one provider served it at), and says so, as the simulator's profile of it
    does (its `measured_as`)."""
    speed = catalog.measured_speed(name)
    if speed is None:
        raise ConfigError(f"{t._key('speed_as')}: {name!r} is no catalog model (or provider) with a measured speed")
    source = f"stand-in: {speed.name}'s measured speed (this model was not measured)"
    return {
        "ttft_s": speed.ttft_s,
        "tokens_per_s": speed.tokens_per_s,
        "ttft_s_p10_p90": speed.ttft_s_p10_p90,
        "tokens_per_s_p10_p90": speed.tokens_per_s_p10_p90,
        "speed_source": source,
    }


# A backend's descriptive keys: each names the `LLMProfile` field it sets, read (and checked) this way.
_DESCRIPTIVE: dict[str, Callable[[_Table], Any]] = {
    "provider": lambda t: t.optional_str("provider"),
    "family": lambda t: t.optional_str("family"),
    "parameters_b": lambda t: t.optional_float("parameters_b", lo=0.0),
    "release_date": lambda t: t.optional_str("release_date"),
    "training_domain": lambda t: t.string("training_domain"),
    "specializations": lambda t: t.str_list("specializations"),
    "context_window": lambda t: t.optional_int("context_window", lo=1),
    "max_output_tokens": lambda t: t.optional_int("max_output_tokens", lo=1),
    "supports_tools": lambda t: t.flag("supports_tools", True),
    "supports_vision": lambda t: t.flag("supports_vision", False),
    "supports_json": lambda t: t.flag("supports_json", True),
    "ttft_s": lambda t: t.optional_float("ttft_s", lo=0.0),
    "tokens_per_s": lambda t: t.optional_float("tokens_per_s", lo=0.001),
    "accuracy": lambda t: t.optional_float("accuracy", lo=0.0, hi=1.0),
}
DESCRIPTIVE_KEYS = tuple(_DESCRIPTIVE)  # the descriptive keys a [[backend]] may set, in the order above


def _prices(t: _Table) -> Prices | None:
    """The prices the config sets, if it sets any."""
    keys = ("input_cost_per_token", "output_cost_per_token", "cost_per_second", "cost_per_call")
    given = {k: t.optional_float(k, lo=0.0) for k in keys}
    if all(v is None for v in given.values()):
        return None
    return Prices(
        input_per_token=given["input_cost_per_token"] or 0.0,
        output_per_token=given["output_cost_per_token"] or 0.0,
        per_second=given["cost_per_second"] or 0.0,
        per_call=given["cost_per_call"] or 0.0,
        source="config",
    )


def _prices_settings(t: _Table) -> PriceSettings:
    url = t.optional_str("refresh_url")
    settings = PriceSettings(refresh_url=url, refresh_interval_s=t.number("refresh_interval_s", 3600.0, lo=0.01))
    t.done()
    return settings


def _metrics(t: _Table, auth: AuthSettings) -> MetricsSettings:
    has_admin = auth.admin_sha256 is not None
    require = t.flag("require_admin_key", has_admin)
    t.done()
    if require and not has_admin:
        raise ConfigError("metrics.require_admin_key: true needs an admin key, but auth.admin_key_env is not set")
    return MetricsSettings(require_admin_key=require)


def _alias(t: _Table, backend_names: list[str]) -> Alias:
    name = t.string("name")
    candidates = t.str_list("candidates") or tuple(backend_names)
    for c in candidates:
        if c not in backend_names:
            raise ConfigError(f"alias {name!r}.candidates: {c!r} is not a configured backend")
    alias = Alias(
        name=name,
        candidates=candidates,
        min_acceptability=t.number("min_acceptability", 0.7, lo=0.0, hi=1.0),
        cost_weight=t.number("cost_weight", 1.0, lo=0.0),
        latency_weight=t.number("latency_weight", 0.2, lo=0.0),
        quality_weight=t.number("quality_weight", 0.0, lo=0.0),
        cost_unit_usd=t.optional_float("cost_unit_usd", lo=1e-12),
        retry_attempts=t.optional_int("retry_attempts", lo=1),
        fallbacks=t.flag("fallbacks", True),
        stickiness=t.number("stickiness", 0.1, lo=0.0),
        exploration_rate=t.number("exploration_rate", 0.0, lo=0.0, hi=1.0),
    )
    t.done()
    return alias


def _auth(t: _Table, keys: list[_Table], environ: Mapping[str, str]) -> AuthSettings:
    admin_env = t.optional_str("admin_key_env")
    t.done()
    admin = None
    if admin_env:
        value = environ.get(admin_env)
        if not value:
            raise ConfigError(f"auth.admin_key_env: environment variable {admin_env!r} is not set")
        admin = hash_key(value)
    parsed = tuple(_key(k, environ) for k in keys)
    _unique([k.id for k in parsed], "key")
    return AuthSettings(keys=parsed, admin_sha256=admin)


def _key(t: _Table, environ: Mapping[str, str]) -> ApiKey:
    key_id = t.string("id")
    digest = t.optional_str("sha256")
    key_env = t.optional_str("key_env")
    if (digest is None) == (key_env is None):
        raise ConfigError(f"{t.where}: give exactly one of sha256 or key_env")
    if key_env is not None:
        value = environ.get(key_env)
        if not value:
            raise ConfigError(f"{t.where}.key_env: environment variable {key_env!r} is not set")
        digest = hash_key(value)
    elif digest is not None and not (len(digest) == 64 and all(c in "0123456789abcdef" for c in digest)):
        raise ConfigError(f"{t.where}.sha256: expected 64 lowercase hex digits, got {digest!r}")
    models = t.str_list("models")
    key = ApiKey(
        id=key_id,
        sha256=digest or "",
        models=models or None,
        rpm=t.optional_int("rpm", lo=1),
        tpm=t.optional_int("tpm", lo=1),
        budget_usd=t.optional_float("budget_usd", lo=0.0),
        budget_period=t.choice("budget_period", "month", ("day", "month", "total")),
        on_budget_low=t.choice("on_budget_low", "refuse", ("refuse", "cheaper")),
        low_budget_fraction=t.number("low_budget_fraction", 0.1, lo=0.0, hi=1.0),
    )
    t.done()
    return key


def hash_key(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _embedding(t: _Table) -> EmbeddingBackend:
    emb = EmbeddingBackend(
        name=t.string("name"),
        model=t.string("model"),
        api_base=t.optional_str("api_base"),
        api_key_env=t.optional_str("api_key_env"),
        timeout_s=t.number("timeout_s", 60.0, lo=0.001),
    )
    t.done()
    return emb


def _log_dsn(t: _Table, environ: Mapping[str, str]) -> dict[str, str | None]:
    """`log.dsn` and the password named by `log.password_env`; a password written in the file is refused."""
    value, password_env = t.optional_str("dsn"), t.optional_str("password_env")
    if value is None:
        if password_env is not None:
            raise ConfigError("log.password_env: only used with log.dsn, which is not set")
        return {}
    if not dsn_mod.is_dsn(value):
        raise ConfigError(f"log.dsn: expected a postgresql://user@host:port/db DSN, got {dsn_mod.redact(value)!r}")
    if dsn_mod.password(value) is not None:
        raise ConfigError(
            f"log.dsn: {dsn_mod.redact(value)!r} holds a password; secrets never go in the file: "
            "put it in an environment variable and name that variable in log.password_env"
        )
    password = None
    if password_env is not None:
        password = environ.get(password_env)
        if not password:
            raise ConfigError(f"log.password_env: environment variable {password_env!r} is not set")
    return {"dsn": value, "password": password}


def _unique(names: list[str], what: str) -> None:
    seen: set[str] = set()
    for n in names:
        if n in seen:
            raise ConfigError(f"{what}.name: {n!r} is used twice")
        seen.add(n)


def _path(value: str, base_dir: Path) -> Path:
    p = Path(value).expanduser()
    return p if p.is_absolute() else (base_dir / p)


_MISSING: Any = object()


class _Table:
    """Typed reads from one TOML table, naming `where.key` in every error; `done()` rejects unknown keys."""

    def __init__(self, raw: Any, where: str) -> None:
        if not isinstance(raw, Mapping):
            raise ConfigError(f"{where or 'config'}: expected a table, got {raw!r}")
        self.raw = raw
        self.where = where
        self.seen: set[str] = set()

    def _key(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def _get(self, key: str, default: Any) -> Any:
        self.seen.add(key)
        if key in self.raw:
            return self.raw[key]
        if default is _MISSING:
            raise ConfigError(f"{self._key(key)}: required key is missing")
        return default

    def table(self, key: str) -> _Table:
        return _Table(self._get(key, {}), self._key(key))

    def array(self, key: str) -> list[_Table]:
        items = self._get(key, [])
        if not isinstance(items, list):
            raise ConfigError(f"{self._key(key)}: expected an array of tables ([[{key}]]), got {items!r}")
        return [_Table(item, f"{self._key(key)}[{i}]") for i, item in enumerate(items)]

    def string(self, key: str, default: Any = _MISSING) -> str:
        v = self._get(key, default)
        if not isinstance(v, str) or not v:
            raise ConfigError(f"{self._key(key)}: expected a non-empty string, got {v!r}")
        return v

    def optional_str(self, key: str) -> str | None:
        v = self._get(key, None)
        return None if v is None else self.string(key)

    def choice(self, key: str, default: str, options: tuple[str, ...]) -> str:
        v = self.string(key, default)
        if v not in options:
            raise ConfigError(f"{self._key(key)}: expected one of {list(options)}, got {v!r}")
        return v

    def flag(self, key: str, default: bool) -> bool:
        v = self._get(key, default)
        if not isinstance(v, bool):
            raise ConfigError(f"{self._key(key)}: expected true or false, got {v!r}")
        return v

    def integer(self, key: str, default: Any = _MISSING, *, lo: int | None = None, hi: int | None = None) -> int:
        v = self._get(key, default)
        if isinstance(v, bool) or not isinstance(v, int):
            raise ConfigError(f"{self._key(key)}: expected an integer, got {v!r}")
        self._check_range(key, v, lo, hi)
        return v

    def optional_int(self, key: str, *, lo: int | None = None) -> int | None:
        return None if self._get(key, None) is None else self.integer(key, lo=lo)

    def number(self, key: str, default: Any = _MISSING, *, lo: float | None = None, hi: float | None = None) -> float:
        v = self._get(key, default)
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise ConfigError(f"{self._key(key)}: expected a number, got {v!r}")
        self._check_range(key, v, lo, hi)
        return float(v)

    def optional_float(self, key: str, *, lo: float | None = None, hi: float | None = None) -> float | None:
        return None if self._get(key, None) is None else self.number(key, lo=lo, hi=hi)

    def str_list(self, key: str) -> tuple[str, ...]:
        v = self._get(key, [])
        if not isinstance(v, list) or not all(isinstance(s, str) and s for s in v):
            raise ConfigError(f"{self._key(key)}: expected a list of non-empty strings, got {v!r}")
        return tuple(v)

    def _check_range(self, key: str, v: float, lo: float | None, hi: float | None) -> None:
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            bounds = f"{'' if lo is None else f'>= {lo}'}{' and ' if lo is not None and hi is not None else ''}"
            bounds += "" if hi is None else f"<= {hi}"
            raise ConfigError(f"{self._key(key)}: expected a value {bounds}, got {v!r}")

    def done(self) -> None:
        unknown = sorted(set(self.raw) - self.seen)
        if unknown:
            raise ConfigError(f"{self._key(unknown[0])}: unknown key (value {self.raw[unknown[0]]!r})")
