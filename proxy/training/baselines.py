"""Baseline routers for comparison, trained on the same training prompts of the same source.

Each returns P(acceptable) per (held-out prompt, candidate), which then goes through the proxy's
`choose()` exactly like the trained model's (`replay.sweep`).

- TF-IDF + logistic regression: one classifier per candidate on word uni/bi-gram TF-IDF of the prompt
  (label >= 0.5), the "simple baseline" the issue quotes from RouterBench and RouteLLM;
- kNN: the mean label of each candidate on the k most similar training prompts (cosine on TF-IDF).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import NearestNeighbors

KNN_K = 40
LR_C = 1.0


def _vectorizer() -> TfidfVectorizer:
    return TfidfVectorizer(sublinear_tf=True, min_df=2, max_features=100_000, ngram_range=(1, 2))


def tfidf_logistic(train_text: Sequence[str], train_labels: np.ndarray, test_text: Sequence[str]) -> np.ndarray:
    """`train_labels`: (prompts, candidates) in [0, 1]; returns (test prompts, candidates)."""
    vec = _vectorizer()
    xtr, xte = vec.fit_transform(train_text), vec.transform(test_text)
    out = np.zeros((len(test_text), train_labels.shape[1]))
    for j in range(train_labels.shape[1]):
        y = (train_labels[:, j] >= 0.5).astype(int)
        if y.min() == y.max():
            out[:, j] = float(y[0])
            continue
        out[:, j] = LogisticRegression(C=LR_C, max_iter=2000).fit(xtr, y).predict_proba(xte)[:, 1]
    return out


def knn(train_text: Sequence[str], train_labels: np.ndarray, test_text: Sequence[str], k: int = KNN_K) -> np.ndarray:
    vec = _vectorizer()
    xtr, xte = vec.fit_transform(train_text), vec.transform(test_text)
    nn = NearestNeighbors(n_neighbors=min(k, xtr.shape[0]), metric="cosine", algorithm="brute").fit(xtr)
    _, idx = nn.kneighbors(xte)
    return np.asarray(train_labels[idx].mean(axis=1))
