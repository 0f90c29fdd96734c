"""The proxy's settings as typed, frozen values: backends, aliases and each section of the config file.

`config.py` builds them from the TOML file and validates every key; the rest of the proxy only reads them.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from proxy.route.profile import LLMProfile

DEFAULT_MAX_CONNECTIONS = 1000


@dataclass(frozen=True)
class Prices:
    """USD prices of one backend. Any mix may be set; cost adds up every part that applies."""

    input_per_token: float = 0.0
    output_per_token: float = 0.0
    per_second: float = 0.0
    per_call: float = 0.0
    # "config", "catalog" (its list prices), "litellm" (its local cost map), "refresh" (prices.refresh_url)
    # or "none"
    source: str = "none"


# A backend built without a profile knows nothing of its model but the name (the cold-start case).
_UNKNOWN = LLMProfile(name="", model="")


@dataclass(frozen=True)
class Backend:
    """One LLM the proxy can call: how to reach it and what it costs, and what the router knows of it.

    `profile` is the one description of the model (capabilities, context window, size, speed, list prices)
    that the capability filter, the features and `/v1/models` all read; `config.py` builds it from the
    catalog and the config. It always carries the backend's own name and model.
    """

    name: str
    model: str  # litellm model string, e.g. "openai/gpt-4o"
    api_base: str | None = None
    api_key_env: str | None = None
    prices: Prices = Prices()  # live prices: the start-up ones, re-priced by upstream/prices.PriceBook
    price_key: str | None = None  # cost-map key of its prices, when not `model`
    timeout_s: float = 600.0  # total time of one upstream call
    connect_timeout_s: float = 10.0
    ttft_timeout_s: float | None = None  # time to the first token (default: timeout_s)
    idle_timeout_s: float = 60.0  # longest silence between two stream chunks
    # "auto": OpenAI-compatible upstreams ("openai/...") directly, others through litellm
    # (proxy/upstream/transport.py)
    transport: str = "auto"
    # The API the upstream speaks: "auto" (Anthropic's for "anthropic/..." models, else chat), "chat",
    # "anthropic" or "responses"; requests in that API are passed through to it (proxy/upstream/native.py)
    api: str = "auto"
    max_connections: int = DEFAULT_MAX_CONNECTIONS  # calls in flight at once; more wait for a free connection
    profile: LLMProfile = _UNKNOWN

    def __post_init__(self) -> None:
        if (self.profile.name, self.profile.model) != (self.name, self.model):
            object.__setattr__(self, "profile", replace(self.profile, name=self.name, model=self.model))


@dataclass(frozen=True)
class Alias:
    """A routing alias: a model name clients send to be routed among `candidates`."""

    name: str
    candidates: tuple[str, ...]
    min_acceptability: float = 0.7
    cost_weight: float = 1.0
    latency_weight: float = 0.2
    quality_weight: float = 0.0  # how much a likelier acceptable answer is worth against cost and latency
    # None: the cost term is cost / the largest kept candidate's cost (per request, unit-free). A price in USD:
    # the cost term is cost / cost_unit_usd, one exchange rate between dollars and acceptability on every request.
    cost_unit_usd: float | None = None
    retry_attempts: int | None = None  # per candidate; default: reliability.retry_attempts
    fallbacks: bool = True
    stickiness: float = 0.1  # utility margin a follow-up turn needs to leave the previous turn's backend
    exploration_rate: float = 0.0  # share of picks among acceptable-but-not-best candidates (logged)


@dataclass(frozen=True)
class EmbeddingBackend:
    name: str
    model: str
    api_base: str | None = None
    api_key_env: str | None = None
    timeout_s: float = 60.0


@dataclass(frozen=True)
class ServerSettings:
    host: str = "127.0.0.1"
    port: int = 8000
    max_body_bytes: int = 4 * 1024 * 1024
    max_in_flight: int = 512  # requests past this get a fast 503 with Retry-After
    shutdown_grace_s: float = 30.0  # on SIGTERM, in-flight calls get this long to finish
    max_in_flight_per_key: int = 64  # one key's share of max_in_flight (with keys off only max_in_flight applies)
    body_timeout_s: float = 30.0  # a request body not fully read within this gets 408
    log_format: str = "text"  # process logs: "text" or "json" (one object a line, with the request id)


@dataclass(frozen=True)
class InputLimits:
    """What a request body may hold; past any of these it is refused with 400 naming the limit."""

    json_max_depth: int = 64  # nesting of arrays and objects
    max_integer: int = 2**63 - 1  # largest magnitude of an integer
    reject_lone_surrogates: bool = True  # strings must be valid Unicode ("\\ud800" alone is not)
    max_messages: int = 4096
    max_tools: int = 128
    max_content_parts: int = 512  # per message


@dataclass(frozen=True)
class Reliability:
    retry_attempts: int = 2  # attempts per backend before falling back to the next candidate
    backoff_base_s: float = 0.05
    backoff_max_s: float = 2.0
    deadline_s: float = 120.0  # retries and fallbacks of one request stop after this
    breaker_failures: int = 5  # consecutive failures that open a backend's circuit
    breaker_cooldown_s: float = 30.0  # then one probe request is let through


@dataclass(frozen=True)
class ApiKey:
    """A client key. Only its sha256 is kept."""

    id: str
    sha256: str
    models: tuple[str, ...] | None = None  # allowed backends and aliases; None = all
    rpm: int | None = None  # requests per minute
    tpm: int | None = None  # tokens per minute (input + output, as the upstream reported them)
    budget_usd: float | None = None
    budget_period: str = "month"  # "day", "month" or "total"
    on_budget_low: str = "refuse"  # "refuse", or "cheaper": route to the cheapest candidates while budget is low
    low_budget_fraction: float = 0.1


@dataclass(frozen=True)
class AuthSettings:
    keys: tuple[ApiKey, ...] = ()
    admin_sha256: str | None = None

    @property
    def enabled(self) -> bool:
        return bool(self.keys)


@dataclass(frozen=True)
class LogSettings:
    path: Path = Path("var/switchyard.db")
    bodies: str = "full"  # "full", "hash" (sha256 of bodies only) or "none"
    queue_size: int = 10_000
    enabled: bool = True  # false: no call is logged (no training data, no feedback, budgets not seeded)
    # Feature rows per call: "auto" keeps them when the request body is not kept in full (with the body,
    # the feature version and the models' knowledge they can be recomputed); "always" keeps them anyway.
    feature_rows: str = "auto"
    dsn: str | None = None  # postgresql://user@host/db: log (and share limits) through Postgres instead of `path`
    password: str | None = field(default=None, repr=False)  # the DSN's password, read from `password_env`


@dataclass(frozen=True)
class PriceSettings:
    refresh_url: str | None = None  # litellm-format price file (http(s) URL or local path), re-read on a schedule
    refresh_interval_s: float = 3600.0


@dataclass(frozen=True)
class MetricsSettings:
    require_admin_key: bool = False  # GET /metrics needs the admin key (default: whenever one is configured)


@dataclass(frozen=True)
class Config:
    backends: tuple[Backend, ...]
    aliases: tuple[Alias, ...] = ()
    embeddings: tuple[EmbeddingBackend, ...] = ()
    server: ServerSettings = ServerSettings()
    limits: InputLimits = InputLimits()
    log: LogSettings = LogSettings()
    reliability: Reliability = Reliability()
    auth: AuthSettings = AuthSettings()
    models_dir: Path | None = None
    data_dir: Path | None = None
    prices: PriceSettings = PriceSettings()
    metrics: MetricsSettings = MetricsSettings()
    _by_name: dict[str, Backend] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._by_name.update({b.name: b for b in self.backends})

    def backend(self, name: str) -> Backend | None:
        return self._by_name.get(name)

    def alias(self, name: str) -> Alias | None:
        return next((a for a in self.aliases if a.name == name), None)

    def embedding(self, name: str) -> EmbeddingBackend | None:
        return next((e for e in self.embeddings if e.name == name), None)

    def model_names(self) -> list[str]:
        return [b.name for b in self.backends] + [a.name for a in self.aliases]
