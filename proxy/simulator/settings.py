"""The simulator's settings: what `python -m proxy.simulator` parses from argv."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class SimSettings:
    """data_dir: the long-format data; when it exists, prompts it contains get their real labels.
    speed: multiplies simulated latency (1.0 = measured latency, 0 = answer at once).
    seed: changes every deterministic draw. api_key: when set, /v1 requests must present it.
    profiles_path: the aggregate profiles (default: the committed profiles.json).
    request_log_size: how many received requests `GET /_sim/requests` remembers.
    renames: extra model names, (new name, simulated model): a model under a name no catalog knows, to
    play a newly released LLM (the router's cold start) that behaves exactly like a measured one."""

    data_dir: Path | None = None
    speed: float = 1.0
    seed: int = 0
    api_key: str | None = None
    profiles_path: Path | None = None
    request_log_size: int = 200
    renames: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if self.speed < 0:
            raise ValueError(f"speed must be >= 0, got {self.speed}")
        if self.request_log_size < 0:
            raise ValueError(f"request_log_size must be >= 0, got {self.request_log_size}")
