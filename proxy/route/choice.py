"""Choice: which candidate serves the request, and in which order the others stand in for it.

Pure: from scores, prices and the request's needs to a ranking, with the reason every dropped
candidate was dropped. The policy follows the design:

1. drop candidates that cannot serve the request (context window, tools, vision, JSON mode), and
   those outside the request's limits (max latency, max cost);
2. keep those whose P(acceptable) reaches the threshold, and among them minimise
   ``cost_weight * cost / max_cost + latency_weight * latency / max_latency - quality_weight * P(acceptable)``
   (the cost and latency terms scaled by
   the largest value among the kept candidates, so the weights are unit-free; with the alias's
   `cost_unit_usd` the cost term is instead cost / cost_unit_usd on every request: one exchange rate
   between dollars and acceptability, which is what spends least for a given mean quality across
   requests, since a per-request scale makes a dollar cheap on long prompts and dear on short ones);
3. if none reaches the alias's threshold, compare every kept candidate on that same expected value, with
   the quality term weighted at least `FALLBACK_QUALITY_WEIGHT`: a likelier answer is bought only where it
   is worth its extra cost and time (taking the likeliest instead sent every uncertain prompt, easy ones
   included, to the dearest candidate). Only when the client set `min_acceptability` itself, and nothing
   reaches it, is the likeliest taken: the client asked for that quality;
4. conversation stickiness: a follow-up turn keeps the backend that answered the previous turn while it
   stays acceptable, unless another candidate's utility is better by more than `stickiness` (escalate
   fast, de-escalate slowly), so answers stay consistent and provider prompt caches stay warm.

The fallback order is the chosen one, then the other acceptable ones by utility, then the rest by
P(acceptable). `Choice.reason` names the rule that chose: "best-utility" (threshold, then cost and latency),
"best-value" (quality weighed against cost and latency), "most-likely-acceptable" (the client's own
threshold, reached by none), "sticky" or "exploration".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from proxy.request import ChatRequest
from proxy.route.scoring import Scores
from proxy.settings import Alias, Backend


@dataclass(frozen=True)
class Candidate:
    name: str
    p_acceptable: float
    ttft_s: float
    latency_s: float
    output_tokens: float
    cost_usd: float
    utility: float | None = None  # lower is better; None when dropped or not acceptable
    dropped: str | None = None  # why it cannot serve this request


@dataclass(frozen=True)
class Choice:
    ranked: tuple[Candidate, ...]  # serving order: first is chosen, the rest are fallbacks
    dropped: tuple[Candidate, ...]
    reason: str  # "best-utility", "best-value", "most-likely-acceptable", "sticky", "exploration"
    threshold: float

    @property
    def chosen(self) -> Candidate:
        return self.ranked[0]


# The least weight of P(acceptable) when no candidate reaches the alias's threshold: one unit of acceptability
# is then worth one unit of the cost term (the dearest kept candidate's cost, or `cost_unit_usd`).
FALLBACK_QUALITY_WEIGHT = 1.0


class NoCandidate(Exception):
    """No candidate can serve the request; `dropped` says why for each."""

    def __init__(self, dropped: Sequence[Candidate]) -> None:
        reasons = "; ".join(f"{c.name}: {c.dropped}" for c in dropped)
        super().__init__(f"No candidate model can serve this request ({reasons}).")
        self.dropped = tuple(dropped)


def estimate_cost(backend: Backend, input_tokens: float, output_tokens: float, seconds: float) -> float:
    p = backend.prices
    return input_tokens * p.input_per_token + output_tokens * p.output_per_token + seconds * p.per_second + p.per_call


def choose(
    request: ChatRequest,
    backends: Sequence[Backend],
    scores: Scores,
    alias: Alias,
    input_tokens: int,
    unavailable: Mapping[str, str] | None = None,
    previous: str | None = None,
) -> Choice:
    """Rank `backends` for `request`; `unavailable` maps backends that must not be used to the reason;
    `previous` is the backend that answered the conversation's previous turn, if known."""
    ctl = request.controls
    threshold = ctl.min_acceptability if ctl.min_acceptability is not None else alias.min_acceptability
    w_cost = ctl.cost_weight if ctl.cost_weight is not None else alias.cost_weight
    w_lat = ctl.latency_weight if ctl.latency_weight is not None else alias.latency_weight
    w_q = ctl.quality_weight if ctl.quality_weight is not None else alias.quality_weight
    needs = _Needs.of(request, input_tokens)
    unavailable = unavailable or {}
    # Plain floats once, not a NumPy scalar per candidate and field: this runs on every routed call.
    p_ok, ttft, latency, out = (
        scores.p_acceptable.tolist(),
        scores.ttft_s.tolist(),
        scores.latency_s.tolist(),
        scores.output_tokens.tolist(),
    )
    # Candidates by index until their utility is known, so each is built once (a frozen dataclass's __init__
    # costs more than all the arithmetic here).
    costs: list[float] = []
    kept: list[int] = []
    dropped: list[Candidate] = []
    for i, b in enumerate(backends):
        cost = estimate_cost(b, input_tokens, out[i], latency[i])
        costs.append(cost)
        reason = unavailable.get(b.name) or _unfit(needs, b, latency[i], cost)
        if reason:
            dropped.append(Candidate(b.name, p_ok[i], ttft[i], latency[i], out[i], cost, dropped=reason))
        else:
            kept.append(i)
    if not kept:
        raise NoCandidate(dropped)

    def candidate(i: int, utility: float | None = None) -> Candidate:
        return Candidate(backends[i].name, p_ok[i], ttft[i], latency[i], out[i], costs[i], utility=utility)

    acceptable = [i for i in kept if p_ok[i] >= threshold]
    below = sorted((i for i in kept if p_ok[i] < threshold), key=lambda i: (-p_ok[i], costs[i]))
    reason = "best-value" if w_q > 0 else "best-utility"
    if not acceptable:
        if ctl.min_acceptability is not None:
            return Choice(tuple(map(candidate, below)), tuple(dropped), "most-likely-acceptable", threshold)
        acceptable, below, reason = kept, [], "best-value"
        w_q = max(w_q, FALLBACK_QUALITY_WEIGHT)
    max_cost = alias.cost_unit_usd or max(costs[i] for i in acceptable) or 1.0
    max_lat = max(latency[i] for i in acceptable) or 1.0
    scored = [
        candidate(i, utility=w_cost * costs[i] / max_cost + w_lat * latency[i] / max_lat - w_q * p_ok[i])
        for i in acceptable
    ]
    rest = [candidate(i) for i in below]
    scored.sort(key=lambda c: (c.utility, -c.p_acceptable, c.name))
    stay = next((c for c in scored if c.name == previous), None)
    if (
        stay is not None
        and stay is not scored[0]
        and (stay.utility or 0.0) - (scored[0].utility or 0.0) <= alias.stickiness
    ):
        scored.remove(stay)
        return Choice(tuple([stay, *scored, *rest]), tuple(dropped), "sticky", threshold)
    return Choice(tuple(scored + rest), tuple(dropped), reason, threshold)


def explore(choice: Choice, rate: float, draw: float, pick: float) -> tuple[Choice, bool, float]:
    """With probability `rate`, serve an acceptable-but-not-best candidate (uniformly) instead of the best.

    `draw` and `pick` are uniform in [0, 1) (the caller owns the randomness, so this stays pure).
    Returns the choice in serving order, whether it explored, and the probability that the policy
    picks the backend now first: what off-policy estimates from the log need.
    """
    alternatives = [c for c in choice.ranked[1:] if c.utility is not None]
    if rate <= 0 or not alternatives or choice.reason == "sticky":
        return choice, False, 1.0
    if draw >= rate:
        return choice, False, 1.0 - rate
    served = alternatives[min(int(pick * len(alternatives)), len(alternatives) - 1)]
    order = (served, *(c for c in choice.ranked if c is not served))
    return replace(choice, ranked=order, reason="exploration"), True, rate / len(alternatives)


@dataclass(frozen=True)
class _Needs:
    """What the request asks of a backend, worked out once per call rather than once per candidate."""

    context_tokens: int
    tools: bool
    vision: bool
    json: bool
    max_latency_s: float | None
    max_cost_usd: float | None

    @classmethod
    def of(cls, request: ChatRequest, input_tokens: int) -> _Needs:
        ctl = request.controls
        return cls(
            input_tokens + (request.max_output_tokens or 0),
            request.needs_tools,
            request.needs_vision,
            request.needs_json,
            ctl.max_latency_s,
            ctl.max_cost_usd,
        )


def _unfit(needs: _Needs, b: Backend, latency_s: float, cost_usd: float) -> str | None:
    p = b.profile  # the same object the features describe the candidate with
    if p.context_window is not None and needs.context_tokens > p.context_window:
        return f"needs {needs.context_tokens} tokens of context, window is {p.context_window}"
    if needs.tools and not p.supports_tools:
        return "does not support tools"
    if needs.vision and not p.supports_vision:
        return "does not accept images"
    if needs.json and not p.supports_json:
        return "does not support JSON output"
    if needs.max_latency_s is not None and latency_s > needs.max_latency_s:
        return f"predicted latency {latency_s:.2f}s exceeds max_latency_s {needs.max_latency_s}"
    if needs.max_cost_usd is not None and cost_usd > needs.max_cost_usd:
        return f"predicted cost ${cost_usd:.6f} exceeds max_cost_usd {needs.max_cost_usd}"
    return None
