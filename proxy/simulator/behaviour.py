"""How a simulated model behaves on one request: acceptable or not, how long, how fast.

The verdict for a prompt the data knows is that model's real label. Otherwise it is a draw from the
model's measured accuracy for the prompt's task family. Draws are correlated across models through a
shared per-prompt difficulty (a Gaussian copula), because real models tend to fail on the same hard
prompts; a router can then learn something, as with real models.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

from proxy.simulator.chat_request import SimChatRequest
from proxy.simulator.draws import normal, split_lognormal, unit
from proxy.simulator.labels import KnownPrompts
from proxy.simulator.profiles import ModelProfile, Profiles
from proxy.simulator.tasks import guess_family

# Share of the verdict's variance that comes from the prompt rather than the model (assumed, not fitted).
DIFFICULTY_SHARE = 0.5
# Spread of answer lengths around the family median when the data has no length for the prompt.
LENGTH_SIGMA = 0.4
# Prefill speed added to the measured TTFT for long prompts (assumed; the latency data used short prompts).
PREFILL_TOKENS_PER_S = 4000.0

_STANDARD = NormalDist()


@dataclass(frozen=True)
class Plan:
    acceptable: bool
    label_source: str  # "data": the model's real label for this prompt; "profile": drawn from its accuracy
    p_acceptable: float
    family: str
    target_chars: int
    ttft_s: float  # simulated seconds, before --speed
    tokens_per_s: float


def plan(
    request: SimChatRequest,
    profile: ModelProfile,
    profiles: Profiles,
    known: KnownPrompts | None,
    seed: int,
    prompt_tokens: int,
) -> Plan:
    key, model = request.prompt_key, profile.name
    family = guess_family(request.prompt_text)
    outcome = known.lookup(model, request.lookup_keys()) if known is not None else None
    if outcome is not None:
        p = outcome.correct
        acceptable = p >= 1.0 or (p > 0.0 and unit(seed, "label", model, key) < p)
        source = "data"
    else:
        p = profile.accuracy_for(family)
        shared = math.sqrt(DIFFICULTY_SHARE) * normal(seed, "difficulty", key)
        own = math.sqrt(1 - DIFFICULTY_SHARE) * normal(seed, "verdict", model, key)
        acceptable = _STANDARD.cdf(shared + own) < p
        source = "profile"
    if outcome is not None and outcome.response_chars is not None:
        chars = outcome.response_chars
    else:
        typical = profiles.typical_chars(profile, family)
        chars = round(typical * math.exp(LENGTH_SIGMA * normal(seed, "length", model, key)))
    lat = profile.latency
    ttft = split_lognormal(normal(seed, "ttft", model, key), lat.ttft_s_p10, lat.ttft_s_p50, lat.ttft_s_p90)
    tps = split_lognormal(
        normal(seed, "tps", model, key), lat.tokens_per_s_p10, lat.tokens_per_s_p50, lat.tokens_per_s_p90
    )
    return Plan(
        acceptable=acceptable,
        label_source=source,
        p_acceptable=round(p, 4),
        family=family,
        target_chars=max(1, chars),
        ttft_s=ttft + prompt_tokens / PREFILL_TOKENS_PER_S,
        tokens_per_s=max(1.0, tps),
    )
