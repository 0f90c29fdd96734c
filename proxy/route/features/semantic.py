"""A compact semantic vector of the prompt: latent semantic analysis over a fixed word vocabulary.

`semantic.json` holds a vocabulary of frequent words of the training prompts, their idf, and a
projection to `dims` components (the top eigenvectors of the tf-idf covariance), all fitted by
`scripts/fit_text_models.py`. A prompt's vector is its sublinear tf-idf (log(1 + count) x idf) over
known words, l2-normalised, times the projection (`Vocabulary.scores`): one dict lookup per word and
one small matrix product, cheap enough for the hot path. Words outside the vocabulary (other languages,
rare terms) do not count; the share of known words is a feature of its own, so an all-unknown prompt
is told apart from an empty one.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SEMANTIC_FILE = Path(__file__).with_name("semantic.json")


@dataclass(frozen=True)
class SemanticModel:
    index: dict[str, int]
    idf: np.ndarray  # float64 (n_words,)
    projection: np.ndarray  # float64 (n_words, dims)

    @property
    def dims(self) -> int:
        return int(self.projection.shape[1])


def load_semantic(path: Path = SEMANTIC_FILE) -> SemanticModel:
    raw = json.loads(path.read_text(encoding="utf-8"))
    words: list[str] = raw["words"].split(" ")
    dims = int(raw["dims"])
    idf = _floats(raw["idf_f32"], len(words))
    projection = _floats(raw["projection_f32"], len(words) * dims).reshape(len(words), dims)
    return SemanticModel(index={w: i for i, w in enumerate(words)}, idf=idf, projection=projection)


def encode_floats(values: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(values, dtype="<f4").tobytes()).decode("ascii")


def _floats(text: str, n: int) -> np.ndarray:
    values = np.frombuffer(base64.b64decode(text), dtype="<f4").astype(np.float64)
    if values.size != n:
        raise ValueError(f"{SEMANTIC_FILE.name}: expected {n} floats, got {values.size}")
    return values
