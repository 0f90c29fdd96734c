"""What a trained model directory knew about the LLMs when it was trained: `knowledge.json`.

The correctness model reads LLM features (accuracy, prices) and prior-success features (`History`).
Training computes them from its data; if serving computed them from the catalog instead, a model
trained on the proxy's own logs would see one thing in training and another in serving, and a
backend the catalog does not know (the cold-start case the learning loop exists for) would look
unknown forever. So `switchyard train` writes, beside the ONNX files:

- `profiles`: per model identity (`LLMProfile.history_key`: the catalog id, else the lower-cased
  litellm model string) the accuracy and, for models the catalog does not know, the per-token prices
  the data showed;
- `history`: the (model, bucket) success counts of every training prompt;

and the router loads them with the models (`Knowledge.load`), atomically with them on a reload. A
model directory without the file (trained before it existed) leaves the catalog's knowledge in place.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from proxy.route.catalog import LLMProfile
from proxy.route.features.history import History

KNOWLEDGE_FILE = "knowledge.json"
FORMAT = 1


class KnowledgeError(ValueError):
    """`knowledge.json` is unreadable or malformed; the message names the file and the key."""


@dataclass(frozen=True)
class LearnedProfile:
    accuracy: float | None = None
    input_per_token: float | None = None  # only for models the catalog does not price
    output_per_token: float | None = None

    def apply(self, p: LLMProfile) -> LLMProfile:
        """`p` with what training saw; prices only fill gaps (the config and the catalog win)."""
        return replace(
            p,
            accuracy=self.accuracy if self.accuracy is not None else p.accuracy,
            input_per_token=p.input_per_token if p.input_per_token is not None else self.input_per_token,
            output_per_token=p.output_per_token if p.output_per_token is not None else self.output_per_token,
        )


@dataclass(frozen=True)
class Learned:
    profiles: Mapping[str, LearnedProfile]  # by history key
    history: History

    def profile(self, p: LLMProfile) -> LLMProfile:
        known = self.profiles.get(p.history_key)
        return known.apply(p) if known is not None else p


def dump(profiles: Mapping[str, LLMProfile], history: History) -> dict[str, Any]:
    """The JSON document for `profiles` (the training profiles, any key) and the training `history`."""
    return {
        "format": FORMAT,
        "profiles": {
            p.history_key: {
                "accuracy": p.accuracy,
                "input_per_token": None if p.catalog_id else p.input_per_token,
                "output_per_token": None if p.catalog_id else p.output_per_token,
            }
            for p in sorted(profiles.values(), key=lambda p: p.history_key)
        },
        "history": {
            "strength": history.strength,
            "counts": [[m, b, round(s, 6), n] for (m, b), (s, n) in sorted(history.counts.items())],
        },
    }


def write(models_dir: Path, profiles: Mapping[str, LLMProfile], history: History) -> Path:
    path = Path(models_dir) / KNOWLEDGE_FILE
    path.write_text(json.dumps(dump(profiles, history), indent=1) + "\n", encoding="utf-8")
    return path


def load(models_dir: Path | None) -> Learned | None:
    """The knowledge of `models_dir`, or None when it has none."""
    if models_dir is None:
        return None
    path = Path(models_dir) / KNOWLEDGE_FILE
    if not path.is_file():
        return None
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        if raw.get("format") != FORMAT:
            raise KnowledgeError(f"{path}: format {raw.get('format')!r}, expected {FORMAT}")
        profiles = {
            str(key): LearnedProfile(
                accuracy=_opt_float(v.get("accuracy")),
                input_per_token=_opt_float(v.get("input_per_token")),
                output_per_token=_opt_float(v.get("output_per_token")),
            )
            for key, v in raw["profiles"].items()
        }
        hist = raw["history"]
        counts = {(str(m), str(b)): (float(s), int(n)) for m, b, s, n in hist["counts"]}
        history = History(counts=MappingProxyType(counts), strength=float(hist["strength"]))
    except KnowledgeError:
        raise
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise KnowledgeError(f"{path}: {type(exc).__name__}: {exc}") from None
    return Learned(profiles=MappingProxyType(profiles), history=history)


def _opt_float(value: Any) -> float | None:
    return None if value is None else float(value)
