"""Fit the lexical heads (`proxy.route.features.lexical`): one logistic regression per model identity.

The heads feed a feature of the correctness model, so a training row's lexical logit must not have seen
that row's label: a head fitted on a prompt would hand LightGBM an over-confident feature it then learns
to trust. Training rows therefore take the head fitted on the other folds (the folds History uses), and
held-out rows and the shipped file the head fitted on every training prompt.

Soft labels (judge scores in (0, 1)) enter as a positive and a negative row weighted by the label, as in
the correctness model. A model whose training labels are all equal gets no weights, only the bias of its
smoothed rate.

A model with fewer than `MIN_HEAD_PROMPTS` labelled prompts in a fit gets no head, so its feature is its prior's
logit, as for a model never seen: a regression over 32,768 hashed n-grams from a few hundred prompts mostly
learns their noise, and a data set that small (a log of a hundred calls, LLMFAO's 19 prompts) is also too small
for LightGBM to learn how little to trust it. This is a guard, not a measured gain: one turn of the learning loop
on 100 logged prompts gave the newcomer 20% of the traffic with heads from ~70 prompts and 22% without them (46%
before the feature existed: the extra column, not the heads, moved LightGBM there; `tests/test_learning_loop.py`).
Every model of the shipped sources has at least ~690 prompts in each fold's fit.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from scipy import sparse
from sklearn.linear_model import LogisticRegression

from proxy.route.features.examples import LabelledPrompt
from proxy.route.features.lexical import BUCKETS, LexicalHeads, PromptVector, vectorize
from proxy.route.features.text import conversation
from proxy.route.profile import LLMProfile
from proxy.training.data import Split, request_of

log = logging.getLogger(__name__)

HEAD_C = 1.0  # the TF-IDF + logistic-regression baseline's regularisation (baselines.LR_C)
MAX_ITER = 1000
# liblinear: 2-3 times faster than lbfgs on these sparse rows (it penalises the bias too; the correctness model
# reads each candidate's accuracy beside the logit). Tolerance: a feature, not a final classifier.
TOL = 1e-3
MIN_HEAD_PROMPTS = 500
THREADS = 2  # heads are independent and each fit is deterministic, so fitting them side by side changes nothing


def prompt_vectors(items: Sequence[LabelledPrompt]) -> sparse.csr_matrix:
    """Row i: the hashed vector of item i's ask, as serving computes it (empty for a prompt the proxy refuses)."""
    vectors: list[PromptVector | None] = []
    for it in items:
        request = request_of(it)
        vectors.append(vectorize(conversation(request.messages).ask) if request is not None else None)
    indptr = np.zeros(len(items) + 1, dtype=np.int64)
    for i, v in enumerate(vectors):
        indptr[i + 1] = indptr[i] + (len(v.index) if v is not None else 0)
    index = np.concatenate([v.index for v in vectors if v is not None] or [np.empty(0, dtype=np.int64)])
    value = np.concatenate([v.value for v in vectors if v is not None] or [np.empty(0, dtype=np.float32)])
    return sparse.csr_matrix((value.astype(np.float64), index, indptr), shape=(len(items), BUCKETS))


def fit_heads(
    items: Sequence[LabelledPrompt],
    x: sparse.csr_matrix,
    profiles: dict[str, LLMProfile],
    indices: Sequence[int],
    min_prompts: int = MIN_HEAD_PROMPTS,
) -> LexicalHeads:
    """A head per history key of `profiles` with `min_prompts` prompts among `indices` (rows of `x`), on
    their labels."""
    rows: dict[str, tuple[list[int], list[float]]] = {}
    for i in indices:
        for m, label in items[i].correct.items():
            if m in profiles:
                at, labels = rows.setdefault(profiles[m].history_key, ([], []))
                at.append(i)
                labels.append(label)
    keys = sorted(k for k, (at, _) in rows.items() if len(set(at)) >= min_prompts)

    def fit(key: str) -> tuple[np.ndarray, float]:
        at, labels = rows[key]
        return _fit_one(x[np.asarray(at)], np.asarray(labels, dtype=np.float64))

    with ThreadPoolExecutor(THREADS) as pool:
        fitted = list(pool.map(fit, keys))
    weights = np.zeros((len(keys), BUCKETS), dtype=np.float32)
    bias = np.zeros(len(keys), dtype=np.float32)
    for h, (w, b) in enumerate(fitted):
        weights[h], bias[h] = w, b
    return LexicalHeads.rounded(keys, weights, bias)


def out_of_fold_heads(
    items: Sequence[LabelledPrompt],
    x: sparse.csr_matrix,
    profiles: dict[str, LLMProfile],
    sp: Split,
    folds: int,
    min_prompts: int = MIN_HEAD_PROMPTS,
) -> tuple[list[LexicalHeads], LexicalHeads]:
    """Per fold, heads fitted on the other training folds; and heads fitted on every training prompt."""
    per_fold = []
    for k in range(folds):
        log.info("lexical heads: fold %d/%d", k + 1, folds)
        per_fold.append(fit_heads(items, x, profiles, [i for i in sp.train if sp.fold[i] != k], min_prompts))
    log.info("lexical heads: every training prompt")
    return per_fold, fit_heads(items, x, profiles, sp.train, min_prompts)


def _fit_one(x: sparse.csr_matrix, y: np.ndarray) -> tuple[np.ndarray, float]:
    soft = (y > 0.0) & (y < 1.0)
    xs = sparse.vstack([x, x[soft]], format="csr")
    targets = np.concatenate([(y >= 0.5).astype(np.int64), np.zeros(int(soft.sum()), dtype=np.int64)])
    weight = np.concatenate([np.where(soft, y, 1.0), 1.0 - y[soft]])
    targets[: len(y)][soft] = 1
    if targets.min() == targets.max():
        rate = (float(y.sum()) + 0.5) / (len(y) + 1.0)
        return np.zeros(BUCKETS, dtype=np.float32), math.log(rate / (1.0 - rate))
    lr = LogisticRegression(C=HEAD_C, solver="liblinear", max_iter=MAX_ITER, tol=TOL, random_state=0)
    lr.fit(xs, targets, sample_weight=weight)
    return lr.coef_[0].astype(np.float32), float(lr.intercept_[0])
