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

from proxy.route import measured
from proxy.simulator.chat_request import SimChatRequest
from proxy.simulator.draws import normal, unit
from proxy.simulator.labels import KnownOutcome, KnownPrompts
from proxy.simulator.profiles import ModelProfile, Profiles
from proxy.simulator.tasks import guess_family

# Share of the verdict's variance that comes from the prompt rather than the model (assumed, not fitted).
DIFFICULTY_SHARE = 0.5
# Spread of answer lengths around the family median when the data has no length for the prompt.
LENGTH_SIGMA = 0.4

_STANDARD = NormalDist()


@dataclass(frozen=True)
class Plan:
    acceptable: bool
    label_source: str  # "data": the model's real label for this prompt; "profile": drawn from its accuracy
    p_acceptable: float
    family: str
    target_chars: int
    length_source: str  # "data": its real answer; "prompt": other models' answers x its verbosity; "profile"
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
    chars, length_source = _length(request, profile, profiles, known, outcome, family, seed)
    lat = profile.latency
    ttft = measured.split_lognormal(normal(seed, "ttft", model, key), lat.ttft_s_p10, lat.ttft_s_p50, lat.ttft_s_p90)
    tps = measured.split_lognormal(
        normal(seed, "tps", model, key), lat.tokens_per_s_p10, lat.tokens_per_s_p50, lat.tokens_per_s_p90
    )
    return Plan(
        acceptable=acceptable,
        label_source=source,
        p_acceptable=round(p, 4),
        family=family,
        target_chars=max(1, chars),
        length_source=length_source,
        ttft_s=measured.ttft_s(ttft, prompt_tokens),
        tokens_per_s=max(1.0, tps),
    )


def _length(
    request: SimChatRequest,
    profile: ModelProfile,
    profiles: Profiles,
    known: KnownPrompts | None,
    outcome: KnownOutcome | None,
    family: str,
    seed: int,
) -> tuple[int, str]:
    """The answer's length in characters, and where it comes from (see labels.py for the middle case)."""
    if outcome is not None and outcome.response_chars is not None:
        return outcome.response_chars, "data"
    z = normal(seed, "length", profile.name, request.prompt_key)
    others = known.prompt_chars(request.lookup_keys()) if known is not None else None
    if known is not None and others is not None:
        verbosity = known.verbosity(profile.name)
        return round(others * verbosity.factor * math.exp(verbosity.log_sigma * z)), "prompt"
    return round(profiles.typical_chars(profile, family) * math.exp(LENGTH_SIGMA * z)), "profile"
