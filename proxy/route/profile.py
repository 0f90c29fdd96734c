"""What the router knows about one LLM: its `LLMProfile`.

A backend holds its profile (`proxy.settings.Backend.profile`), built once when the config loads from the
catalog entry plus the descriptive keys the config sets (`proxy.config`). The capability filter, the
features, the prices and `/v1/models` all read that one object. This module imports nothing else of the
proxy, so the catalog, the settings and the features can all depend on it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

DEFAULT_SPEED = "default: not measured"  # the speed_source of a model with no measured or configured speed
MAKERS = ("openai", "anthropic", "google", "meta", "mistral", "alibaba", "nvidia", "other")


@dataclass(frozen=True)
class LLMProfile:
    name: str  # the backend's name (the catalog id for a catalog entry)
    model: str  # litellm model string
    catalog_id: str | None = None  # None: the catalog does not know this model
    maker: str = "other"
    provider: str | None = None
    family: str | None = None
    parameters_b: float | None = None
    active_parameters_b: float | None = None  # mixture-of-experts models
    open_weights: bool | None = None
    release_date: str | None = None  # ISO date
    training_domain: str = "general"
    specializations: tuple[str, ...] = ()
    context_window: int | None = None
    max_output_tokens: int | None = None
    supports_tools: bool = True
    supports_vision: bool = False
    supports_json: bool = True
    reasoning: bool = False
    # USD list prices at start-up, as the features describe the model (the backend's live prices can move).
    input_per_token: float | None = None
    output_per_token: float | None = None
    ttft_s: float | None = None
    tokens_per_s: float | None = None
    # Where ttft_s and tokens_per_s come from: the model's own measurements, a stand-in's the config names, or
    # none (the scorer's defaults). `/v1/route` shows it; the simulator's profile says the same of its speed.
    speed_source: str = DEFAULT_SPEED
    # The measured spread around them, (p10, p90); None: none known, the medians alone predict.
    ttft_s_p10_p90: tuple[float, float] | None = None
    tokens_per_s_p10_p90: tuple[float, float] | None = None
    accuracy: float | None = None
    # Per-task success counts measured on the data: "all" or a task type -> (sum of labels, n).
    measured: Mapping[str, tuple[float, int]] = field(default_factory=dict, compare=False)

    @property
    def history_key(self) -> str:
        """The model's identity in `History`: the catalog id when known, else the model string."""
        return self.catalog_id or self.model.lower()
