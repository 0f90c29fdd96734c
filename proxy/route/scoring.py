"""Scores: for each candidate LLM, P(acceptable answer), predicted latency and output length.

Scorers sit behind a one-method interface, so the proxy, replay and evaluation can
swap them. `PriorScorer` is the documented rule used until trained models are present: it scores
each candidate by its prior (catalog or config) accuracy and its measured speed, so the request
path features -> scores -> choice is the real one from the start. `OnnxScorer` runs the trained
models of a models directory (`switchyard train` writes them; `models/README.md` describes them):
one onnxruntime call per model for all candidates. `load_scorer` picks between the two and refuses
models trained on other features. This is the only module that imports onnxruntime, and only when
a model is loaded.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from proxy.route import hard_prior, measured
from proxy.route.features import VERSION, Features, feature_names
from proxy.route.lineup import LineupCache
from proxy.route.profile import LLMProfile

log = logging.getLogger(__name__)

# Used when neither the config nor the catalog knows a backend.
DEFAULT_ACCURACY = 0.6
DEFAULT_TTFT_S = 0.6
DEFAULT_TOKENS_PER_S = 50.0
DEFAULT_OUTPUT_TOKENS = 256
MANIFEST = "manifest.json"
MANIFEST_FORMAT = 1


class ModelError(ValueError):
    """A models directory that cannot be used: unreadable, incomplete, or trained on other features."""


@dataclass(frozen=True)
class Scores:
    candidates: tuple[str, ...]
    p_acceptable: np.ndarray  # float, per candidate
    ttft_s: np.ndarray
    latency_s: np.ndarray  # predicted total time of the call
    output_tokens: np.ndarray
    model_version: str


class Scorer(Protocol):
    version: str

    def score(self, features: Features, candidates: Sequence[LLMProfile], max_output_tokens: int | None) -> Scores: ...


def prior_speed(profile: LLMProfile, prompt_tokens: float = 0.0) -> tuple[float, float]:
    """The profile's measured (TTFT in seconds for a prompt of `prompt_tokens`, output tokens per second), or
    the defaults where unmeasured: the prior of every latency prediction, which live speed (`speed.py`) shifts."""
    ttft, _, tokens_per_s, _ = _measured(profile)
    return measured.ttft_s(ttft, prompt_tokens), tokens_per_s


_Measured = tuple[float, tuple[float, float] | None, float, tuple[float, float] | None]


def _measured(profile: LLMProfile) -> _Measured:
    """The profile's median TTFT and its p10/p90, its median tokens/s and their p10/p90; the defaults where
    unmeasured. The one reading of a profile's speed behind every prediction of the prior."""
    ttft = profile.ttft_s if profile.ttft_s is not None else DEFAULT_TTFT_S
    return ttft, profile.ttft_s_p10_p90, profile.tokens_per_s or DEFAULT_TOKENS_PER_S, profile.tokens_per_s_p10_p90


@dataclass(frozen=True)
class _Lineup:
    """What the scores take from a candidate list's profiles: the same on every request with those candidates,
    so each scorer keeps it per candidate list (`proxy.route.lineup`)."""

    limits: np.ndarray  # each candidate's own output limit, inf when it has none
    ttft_s: np.ndarray  # the measured median TTFT of a short prompt
    speed: measured.SpeedGrid
    accuracy: np.ndarray  # the prior rule's P(acceptable)
    demanding_prior: np.ndarray  # logit of each candidate's P(acceptable) on a demanding request (`hard_prior`)


def _lineup(candidates: tuple[LLMProfile, ...]) -> _Lineup:
    # Every candidate's speed read as `proxy.route.measured` says (the simulator draws from the same numbers).
    speeds = [_measured(c) for c in candidates]
    ttft_q = [_quantiles(ttft, spread) for ttft, spread, _, _ in speeds]
    tps_q = [_quantiles(tps, spread) for _, _, tps, spread in speeds]
    accuracy = np.array([c.accuracy if c.accuracy is not None else DEFAULT_ACCURACY for c in candidates])
    accuracy.flags.writeable = False  # every request's Scores share it
    return _Lineup(
        limits=np.array([float(c.max_output_tokens or np.inf) for c in candidates]),
        ttft_s=np.array([q[1] for q in ttft_q]),
        speed=measured.SpeedGrid.of(ttft_q, tps_q),
        accuracy=accuracy,
        demanding_prior=hard_prior.prior_logits(accuracy),
    )


def _scores(
    features: Features,
    lineup: _Lineup,
    p_acceptable: np.ndarray,
    output_tokens: np.ndarray,
    max_output_tokens: int | None,
    version: str,
) -> Scores:
    """Both scorers' shared tail: each model's prior weighed in on a demanding request (`hard_prior`), cap the
    output length, then latency = the median of TTFT + tokens / speed under the measured spread."""
    if features.prompt.demanding:
        p_acceptable = hard_prior.weigh_in(p_acceptable, lineup.demanding_prior)
    limits = lineup.limits if max_output_tokens is None else np.minimum(lineup.limits, float(max_output_tokens))
    out = np.minimum(output_tokens, limits)
    tokens = features.prompt.tokens
    return Scores(
        candidates=features.candidates,
        p_acceptable=p_acceptable,
        ttft_s=measured.ttft_s(lineup.ttft_s, tokens),
        latency_s=lineup.speed.median_latency_s(tokens, out),
        output_tokens=out,
        model_version=version,
    )


def prior_latency_s(profile: LLMProfile, prompt_tokens: float, output_tokens: float) -> float:
    """The prior's prediction of a call's total time (as `_scores` makes it): what live speed compares a
    non-streamed call's time with, after every call, named or routed."""
    return _speed_grid(*_measured(profile)).one_median_latency_s(prompt_tokens, output_tokens)


@lru_cache(maxsize=4096)
def _speed_grid(
    ttft: float, ttft_spread: tuple[float, float] | None, tps: float, tps_spread: tuple[float, float] | None
) -> measured.SpeedGrid:
    """One model's grid, kept: building it cost a named call ~0.03 ms of the proxy's CPU (scripts/time_split)."""
    return measured.SpeedGrid.of([_quantiles(ttft, ttft_spread)], [_quantiles(tps, tps_spread)])


def _quantiles(median: float, spread: tuple[float, float] | None) -> tuple[float, float, float]:
    return (spread[0], median, spread[1]) if spread is not None else (median, median, median)


class PriorScorer:
    """The documented rule used until trained models are present.

    P(acceptable) is the candidate's historical accuracy (config, else the catalog's measured rate);
    output length is the prompt's expected answer length (from its task type), capped by max_tokens and
    the model's own limit; latency is TTFT + output tokens / tokens-per-second, measured per model.
    """

    version = "prior-2"

    def __init__(self) -> None:
        self._lineups = LineupCache(_lineup)

    def score(self, features: Features, candidates: Sequence[LLMProfile], max_output_tokens: int | None) -> Scores:
        expected = float(features.prompt.expected_output_tokens or DEFAULT_OUTPUT_TOKENS)
        lineup = self._lineups(candidates)
        out = np.full(len(candidates), expected)
        return _scores(features, lineup, lineup.accuracy, out, max_output_tokens, self.version)


class OnnxScorer:
    """The trained models: calibrated P(acceptable) and predicted output tokens, per candidate.

    P(acceptable) is the correctness model's probability through the manifest's isotonic map (knots,
    linear in between). Output tokens are expm1 of the length model's log1p prediction, capped like the
    prior's; TTFT and tokens/s are the candidate's measured values, so latency = TTFT + tokens / speed.
    """

    def __init__(self, manifest: dict[str, Any], correctness: Any, length: Any) -> None:
        self.manifest = manifest
        self.version = str(manifest["model_version"])
        self.names = tuple(manifest["feature_names"])
        self._correctness = correctness
        self._length = length
        c = manifest["correctness"]
        self._c_in, self._c_out, self._c_col = c["input"], c["output"], int(c["column"])
        self._l_in, self._l_out = manifest["output_length"]["input"], manifest["output_length"]["output"]
        # Models written by `switchyard train` share one graph and one input (`export.one_graph`); older
        # model directories have a file per model.
        self._one_call = correctness is length and self._c_in == self._l_in
        self._knots_x = np.asarray(c["calibration"]["x"], dtype=np.float64)
        self._knots_y = np.asarray(c["calibration"]["y"], dtype=np.float64)
        self._lineups = LineupCache(_lineup)

    @classmethod
    def load(cls, models_dir: Path, names: Sequence[str] | None = None) -> OnnxScorer:
        """Open the models of `models_dir`; `names` are the features the caller computes (default: this code's)."""
        manifest = read_manifest(models_dir)
        check_features(manifest, tuple(names) if names is not None else feature_names(), models_dir)
        import onnxruntime as ort  # here, not at import: only a loaded model needs it

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL

        state = ort.capi.onnxruntime_pybind11_state
        load_errors = (state.Fail, state.NoSuchFile, state.InvalidProtobuf, state.InvalidArgument, state.InvalidGraph)

        opened: dict[str, Any] = {}

        def session(part: str) -> Any:
            file = manifest[part]["file"]
            if file in opened:  # both models in one graph: one session, one call per request
                return opened[file]
            path = Path(models_dir) / file
            if not path.is_file():
                raise ModelError(f"{path}: the {part} model named in the manifest is missing")
            try:
                opened[file] = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
            except load_errors as exc:
                raise ModelError(f"{path}: cannot load the {part} model: {exc}") from exc
            return opened[file]

        scorer = cls(manifest, session("correctness"), session("output_length"))
        log.info("loaded models %s from %s", scorer.version, models_dir)
        return scorer

    def score(self, features: Features, candidates: Sequence[LLMProfile], max_output_tokens: int | None) -> Scores:
        if features.names is not self.names and features.names != self.names:
            raise ModelError(f"features {features.version} do not match the models' feature names ({self.version})")
        raw, log_out = self.predict_raw(features.rows)
        p = np.interp(raw, self._knots_x, self._knots_y)
        out = np.maximum(np.expm1(log_out.astype(np.float64)), 1.0)
        return _scores(features, self._lineups(candidates), p, out, max_output_tokens, self.version)

    def predict_raw(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The models' own outputs for feature rows: uncalibrated P(acceptable) and log1p(output tokens)."""
        x = np.ascontiguousarray(rows, dtype=np.float32)
        if self._one_call:
            p, length = self._correctness.run([self._c_out, self._l_out], {self._c_in: x})
            return p[:, self._c_col], length.reshape(-1)
        raw = self._correctness.run([self._c_out], {self._c_in: x})[0][:, self._c_col]
        log_out = self._length.run([self._l_out], {self._l_in: x})[0].reshape(-1)
        return raw, log_out


def read_manifest(models_dir: Path) -> dict[str, Any]:
    path = Path(models_dir) / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"{path}: cannot read the manifest: {exc}") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        raise ModelError(f"{path}: not a Switchyard models manifest of format {MANIFEST_FORMAT}")
    for key in ("model_version", "feature_version", "feature_names", "correctness", "output_length"):
        if key not in manifest:
            raise ModelError(f"{path}: the manifest has no {key!r}")
    return manifest


def check_features(manifest: dict[str, Any], names: tuple[str, ...], models_dir: Path) -> None:
    """Refuse models trained on another feature set: the rows would mean something else."""
    where = Path(models_dir) / MANIFEST
    trained = manifest["feature_version"]
    if trained != VERSION:
        raise ModelError(
            f"{where}: the models were trained on feature version {trained!r}, but this code computes "
            f"proxy.route.features.VERSION {VERSION!r}; retrain them (make models) or point models_dir at matching "
            "models"
        )
    theirs = tuple(manifest["feature_names"])
    if theirs != names:
        missing = [n for n in names if n not in theirs]
        extra = [n for n in theirs if n not in names]
        moved = "" if missing or extra else " (same names, different order)"
        raise ModelError(
            f"{where}: feature names differ from this code's (version {VERSION!r}){moved}: "
            f"not in the models {missing[:10]}, only in the models {extra[:10]}; retrain them (make models)"
        )


def load_scorer(models_dir: Path | None, names: Sequence[str] | None = None) -> Scorer:
    """The trained models of `models_dir` when it holds a manifest, else the prior rule.

    `names` are the feature names the caller computes (`Resources.names`; default: `feature_names()`,
    which loads the default resources). Raises ModelError when the manifest is there but unusable
    (unreadable, or other features), rather than routing silently on the prior.
    """
    if models_dir is None or not (Path(models_dir) / MANIFEST).is_file():
        log.info("no trained models in %s: routing with the prior rule", models_dir)
        return PriorScorer()
    return OnnxScorer.load(Path(models_dir), names)
