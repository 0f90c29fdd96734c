"""How the measured tables are read: one rule for the router's predictions and the simulator's answers.

The router predicts a call's time as time to first token plus output tokens at the measured rate; the
simulator plays the same model by drawing TTFT and rate from the same measurements (p10/p50/p90, the
measured spread) and answering at a length the data measured. They agree only if both read those
numbers the same way, so the three rules they share live here and nowhere else:

- answer lengths are measured in characters (`response_chars`); a token is `CHARS_PER_TOKEN` of them, in
  training (the length model's label), in the simulator's token count and in the proxy's usage estimate;
- the measured TTFT is for short prompts, and a long prompt adds its prefill at `PREFILL_TOKENS_PER_S`
  (assumed: the latency data has no prompt-length sweep), on both sides;
- a measurement is three quantiles (p10, p50, p90) of TTFT and of tokens per second, and a call's value is
  a two-piece lognormal through them (`split_lognormal`): the simulator draws from it, and the router
  predicts the median of TTFT + tokens / rate under it (`median_latency_s`). That median is not the sum of
  the medians: two right-skewed parts add up to more than their medians do (with Llama-3-70B's pooled
  spread, 15 to 357 tokens/s, about a fifth more), and the median is what the demo's check compares.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from statistics import NormalDist
from typing import TypeVar

import numpy as np

CHARS_PER_TOKEN = 4.0  # English text and code average about 4 characters a token
PREFILL_TOKENS_PER_S = 4000.0
# The median of the sum is taken over this many equally likely values of each part (GRID^2 sums).
GRID = 16

_STANDARD = NormalDist()
_Z90 = _STANDARD.inv_cdf(0.9)
_GRID_Z = tuple(_STANDARD.inv_cdf((i + 0.5) / GRID) for i in range(GRID))

T = TypeVar("T", float, np.ndarray)


def tokens_for_chars(chars: int) -> int:
    """Tokens of a text of `chars` characters (at least one for a non-empty text)."""
    return math.ceil(chars / CHARS_PER_TOKEN)


def ttft_s(measured_ttft_s: T, prompt_tokens: float) -> T:
    """Time to first token of a prompt of `prompt_tokens`: the measured (short-prompt) TTFT plus its prefill."""
    return measured_ttft_s + prompt_tokens / PREFILL_TOKENS_PER_S


def latency_s(ttft: T, output_tokens: T, tokens_per_s: T) -> T:
    """Total time of a call: its time to first token plus its output tokens at the rate."""
    return ttft + output_tokens / tokens_per_s


def split_lognormal(z: float, p10: float, p50: float, p90: float) -> float:
    """Value at standard-normal quantile z of a two-piece lognormal through (p10, p50, p90).

    Two pieces because pooled provider measurements are skewed: one spread below the median, one above.
    """
    if p50 <= 0:
        return 0.0
    low = math.log(p50 / p10) / _Z90 if 0 < p10 < p50 else 0.0
    high = math.log(p90 / p50) / _Z90 if p90 > p50 else 0.0
    return p50 * math.exp(z * (high if z > 0 else low))


@cache
def _quantiles(p10: float, p50: float, p90: float) -> np.ndarray:
    return np.array([split_lognormal(z, p10, p50, p90) for z in _GRID_Z])


def median_latency_s(
    ttft: Sequence[tuple[float, float, float]],
    tokens_per_s: Sequence[tuple[float, float, float]],
    prompt_tokens: float,
    output_tokens: np.ndarray,
) -> np.ndarray:
    """Per candidate, the median total time of a call under its measured spread: TTFT (p10, p50, p90) plus
    its prefill, plus `output_tokens` at tokens/s (p10, p50, p90). With no spread (p10 = p50 = p90) it is
    `latency_s` of the medians."""
    return SpeedGrid.of(ttft, tokens_per_s).median_latency_s(prompt_tokens, output_tokens)


@dataclass(frozen=True)
class SpeedGrid:
    """The candidates' TTFT and time-per-token quantile grids: they depend on the measurements only, so a
    router keeps them per candidate list (`proxy.route.lineup`) and a decision only adds its prompt and
    answer lengths."""

    ttft: np.ndarray  # (candidates, GRID): TTFT quantiles of a short prompt
    per_token: np.ndarray  # (candidates, GRID): seconds per output token, quantiles

    @classmethod
    def of(
        cls, ttft: Sequence[tuple[float, float, float]], tokens_per_s: Sequence[tuple[float, float, float]]
    ) -> SpeedGrid:
        return cls(
            ttft=np.stack([_quantiles(*q) for q in ttft]),
            per_token=1.0 / np.maximum(np.stack([_quantiles(*q) for q in tokens_per_s]), 1.0),
        )

    def median_latency_s(self, prompt_tokens: float, output_tokens: np.ndarray) -> np.ndarray:
        """`median_latency_s` of these candidates for a prompt of `prompt_tokens` and these answer lengths."""
        first = self.ttft + prompt_tokens / PREFILL_TOKENS_PER_S
        sums = (
            first[:, :, None] + np.asarray(output_tokens, dtype=np.float64)[:, None, None] * self.per_token[:, None, :]
        )
        return _row_medians(sums.reshape(len(first), -1))

    def one_median_latency_s(self, prompt_tokens: float, output_tokens: float) -> float:
        """`median_latency_s` of a one-candidate grid for one answer length, the same number: live speed asks it
        after every non-streamed call, named or routed, where the general case's broadcasting costs half as much
        again (23-25 us against 14-16 us, alternating, on this project's busy machine)."""
        sums = np.add.outer(self.ttft[0] + prompt_tokens / PREFILL_TOKENS_PER_S, output_tokens * self.per_token[0])
        ordered = np.sort(sums, axis=None)
        half = ordered.size // 2  # GRID^2 sums: an even count, so the middle two
        return float((ordered[half - 1] + ordered[half]) * 0.5)


def _row_medians(x: np.ndarray) -> np.ndarray:
    """np.median(x, axis=1), the same numbers at a fraction of its cost (this runs on every routing decision):
    NumPy's vectorised sort of a row of GRID^2 = 256 values is quicker than a partial sort at the middle
    (10 rows: 9 us against 14 us for np.partition at the two middle places, on this project's machine)."""
    n = x.shape[1]
    half = n // 2
    ordered = np.sort(x, axis=1)
    if n % 2:
        return ordered[:, half]
    return (ordered[:, half - 1] + ordered[:, half]) * 0.5
