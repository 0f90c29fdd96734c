"""Each model's prior on a demanding request, weighed into P(acceptable) where the trained model cannot see one.

The correctness model learned difficulty from benchmarks. On a demanding everyday request (a proof, a system
design, tricky concurrent code: `proxy.route.features.demand`) it sees few of the cues it learned, and it
gives a cheap model nearly the P(acceptable) it gives it on a one-line fact: gemini-1.5-flash 0.81 on "explain
how Raft can lose a committed entry" against 0.78 on "what is the capital of France?". The policy then buys the
cheap answer, and no setting of the policy can tell these prompts apart, since their probabilities do not.

The prior is a one-parameter item-response model: a demanding request is `SHIFT` logits harder than the
average prompt a model's accuracy was measured on, so a model of accuracy a answers it with
sigmoid(logit(a) - SHIFT). `SHIFT` is read off the data, not tuned on routing: the median, over the demo
candidates that have rows in ZeroEval's MATH level 5 (competition problems, the nearest the data has to a
demanding request), of logit(catalog accuracy) - logit(MATH level-5 accuracy), is 1.27 (gemini-1.5-flash
0.654 -> 0.348, gpt-4o 0.836 -> 0.555, claude-3.5-sonnet 0.841 -> 0.596, o1-mini 0.935 -> 0.889).

The served P is the mean of the trained model's and the prior's logits, weighted `PRIOR_WEIGHT`: the trained
model still knows the prompt's words (which model writes better SQL), the prior knows that this kind of
request separates strong models from weak ones. A strong model keeps most of its P, a weak one loses more, so
the threshold and value policies pay for strength where the request needs it. Only demanding requests are
touched; the trained models are unchanged (a retrain that learns demand from labelled everyday data would
make this unnecessary).
"""

from __future__ import annotations

import numpy as np

SHIFT = 1.27  # logits: how much harder a demanding request is than a model's average measured prompt
PRIOR_WEIGHT = 0.5  # share of the prior's logit in the served P(acceptable) of a demanding request
_EPS = 1e-4


def _logit(p: np.ndarray) -> np.ndarray:
    q = np.clip(p, _EPS, 1.0 - _EPS)
    return np.log(q / (1.0 - q))


def prior_logits(accuracy: np.ndarray) -> np.ndarray:
    """Each candidate's prior on a demanding request, in logits, from its `accuracy` (the prior rule's P): the
    same on every request to a candidate list, so the scorers keep it with the list's other constants."""
    return _logit(accuracy) - SHIFT


def weigh_in(p_acceptable: np.ndarray, prior: np.ndarray) -> np.ndarray:
    """P(acceptable) of a demanding request: the trained model's `p_acceptable` and each candidate's `prior`
    (`prior_logits`), averaged in logits (see the module's docstring)."""
    mixed = (1.0 - PRIOR_WEIGHT) * _logit(p_acceptable) + PRIOR_WEIGHT * prior
    return 1.0 / (1.0 + np.exp(-mixed))
