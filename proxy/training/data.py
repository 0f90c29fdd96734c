"""Long-format data -> labelled prompts, the split, candidate profiles and feature tables.

The split is by question: a salted hash of the normalised question without its template
(`proxy.training.dataset.question_key`) puts ~20% of the distinct prompts in the held-out set, the same set in
training and evaluation and whatever files are loaded (the same GSM8K or MMLU item in two sources, in
two templates, has one key, so it is never on both sides). Training prompts get a fold
(another salted hash) for cross-validation and for out-of-fold `History`: a training row's
prior-success features are counted on the other folds only, so they never contain its own label, and
held-out rows use the history of all training prompts, as the proxy uses its logs.

Candidate profiles come from `profiles.py`.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from proxy.errors import BadRequest
from proxy.request import ChatRequest
from proxy.route.features import History, LexicalHeads, Resources, compute_features
from proxy.route.features.examples import LabelledPrompt, group_rows, request_from_prompt
from proxy.route.measured import CHARS_PER_TOKEN
from proxy.route.profile import LLMProfile
from proxy.training.dataset import LongRow, iter_rows, prompt_key, question_key

log = logging.getLogger(__name__)

HELD_OUT_FRACTION = 0.2
FOLDS = 5


def _unit(salt: str, key: str) -> float:
    digest = hashlib.sha256(f"{salt}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def is_held_out(key: str, fraction: float = HELD_OUT_FRACTION) -> bool:
    return _unit("switchyard-split-v1", key) < fraction


def fold_of(key: str, folds: int = FOLDS) -> int:
    return min(folds - 1, int(_unit("switchyard-fold-v1", key) * folds))


@dataclass(frozen=True)
class DataSet:
    files: tuple[Path, ...]
    items: list[LabelledPrompt]
    costs: dict[tuple[str, str], float]  # (prompt key, model) -> cost_usd as recorded upstream
    sources: dict[str, str] = field(default_factory=dict)  # prompt key -> every source it appears in, joined
    source_models: dict[str, tuple[str, ...]] = field(default_factory=dict)  # source -> its models
    tasks: dict[tuple[str, str], str] = field(default_factory=dict)  # (source, prompt key) -> its task column

    @property
    def models(self) -> tuple[str, ...]:
        return tuple(sorted({m for it in self.items for m in it.correct}))


def load_data(files: Iterable[Path], source: str | None = None) -> DataSet:
    """Every labelled row of `files` (only those of `source` when given), grouped by prompt."""
    paths = tuple(Path(f) for f in files)
    rows: list[LongRow] = []
    for path in paths:
        rows.extend(r for r in iter_rows(path) if source is None or r.source == source)
    costs: dict[tuple[str, str], float] = {}
    sources: dict[str, set[str]] = {}
    models: dict[str, set[str]] = {}
    tasks: dict[tuple[str, str], str] = {}
    for r in rows:
        key = prompt_key(r.prompt)
        sources.setdefault(key, set()).add(r.source)
        if r.task and (r.source, key) not in tasks:
            tasks[(r.source, key)] = r.task
        models.setdefault(r.source, set()).add(r.model)
        if r.cost_usd is not None and r.correct is not None:
            costs[(key, r.model)] = r.cost_usd
    return DataSet(
        paths,
        group_rows(rows),
        costs,
        {k: "|".join(sorted(v)) for k, v in sources.items()},
        {s: tuple(sorted(v)) for s, v in models.items()},
        tasks,
    )


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# -- feature tables -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Table:
    """Feature rows of (prompt, model) pairs, with labels and what each row is."""

    names: tuple[str, ...]
    x: np.ndarray  # float32 (rows, features)
    label: np.ndarray  # float32 in [0, 1]
    out_tokens: np.ndarray  # float32 observed output tokens, NaN where upstream did not record the answer
    prompt: np.ndarray  # int64 row -> index into the items the table was built from
    model: tuple[str, ...]  # row -> upstream model name
    input_tokens: np.ndarray  # float32 row -> prompt tokens as the features count them
    expected_out: np.ndarray  # float32 row -> the features' task-based expected answer length


def request_of(item: LabelledPrompt) -> ChatRequest | None:
    try:
        return request_from_prompt(item.prompt)
    except BadRequest:
        return None


def prompt_buckets(items: Sequence[LabelledPrompt], resources: Resources) -> list[tuple[str, ...]]:
    """The History buckets of each prompt (empty for a prompt the proxy would refuse)."""
    out = []
    for it in items:
        request = request_of(it)
        out.append(compute_features(request, [], None, resources=resources).prompt.buckets if request else ())
    return out


def history_from(
    items: Sequence[LabelledPrompt],
    buckets: Sequence[tuple[str, ...]],
    profiles: dict[str, LLMProfile],
    indices: Iterable[int],
) -> History:
    triples = (
        (profiles[m].history_key, buckets[i], label)
        for i in indices
        for m, label in items[i].correct.items()
        if m in profiles
    )
    return History.from_outcomes(triples)


def build_table(
    items: Sequence[LabelledPrompt],
    indices: Sequence[int],
    profiles: dict[str, LLMProfile],
    resources: Resources,
    history_of: Callable[[int], History | None],
    progress: str = "features",
    heads_of: Callable[[int], LexicalHeads | None] = lambda i: None,
) -> Table:
    """One row per (prompt, model with a label); all candidates of a prompt in one call, as the proxy does.
    `history_of` and `heads_of`: the History and lexical heads a prompt's rows may see (out-of-fold)."""
    blocks: list[np.ndarray] = []
    labels: list[float] = []
    out_tokens: list[float] = []
    prompt_ix: list[int] = []
    models: list[str] = []
    inputs: list[float] = []
    expected: list[float] = []
    names: tuple[str, ...] = resources.names
    skipped = 0
    step = max(1, len(indices) // 5)
    for done, i in enumerate(indices):
        if done and done % step == 0:
            log.info("%s: %d/%d prompts", progress, done, len(indices))
        it = items[i]
        request = request_of(it)
        cands = [m for m in it.correct if m in profiles]
        if request is None or not cands:
            skipped += 1
            continue
        feats = compute_features(
            request, [profiles[m] for m in cands], history_of(i), resources=resources, heads=heads_of(i)
        )
        blocks.append(feats.rows)
        for m in cands:
            labels.append(it.correct[m])
            chars = it.response_chars.get(m)
            out_tokens.append(chars / CHARS_PER_TOKEN if chars is not None else math.nan)
            prompt_ix.append(i)
            models.append(m)
            inputs.append(feats.prompt.tokens)
            expected.append(feats.prompt.expected_output_tokens)
    if skipped:
        log.info("%s: skipped %d prompts the proxy would refuse or with no known model", progress, skipped)
    x = np.vstack(blocks) if blocks else np.empty((0, len(names)), dtype=np.float32)
    return Table(
        names=names,
        x=x.astype(np.float32, copy=False),
        label=np.asarray(labels, dtype=np.float32),
        out_tokens=np.asarray(out_tokens, dtype=np.float32),
        prompt=np.asarray(prompt_ix, dtype=np.int64),
        model=tuple(models),
        input_tokens=np.asarray(inputs, dtype=np.float32),
        expected_out=np.asarray(expected, dtype=np.float32),
    )


@dataclass(frozen=True)
class Split:
    train: list[int]
    test: list[int]
    fold: dict[int, int]  # training prompt index -> fold


def split(items: Sequence[LabelledPrompt], folds: int = FOLDS) -> Split:
    """By the question without its template (`question_key`): ZeroEval's and MMLU-Pro's wrapped GSM8K and MMLU
    questions land on the same side as RouteLLM's and LLMRouter's plain ones, and so do their folds."""
    keys = [question_key(it.prompt) for it in items]
    train = [i for i, k in enumerate(keys) if not is_held_out(k)]
    test = [i for i, k in enumerate(keys) if is_held_out(k)]
    return Split(train, test, {i: fold_of(keys[i], folds) for i in train})


def out_of_fold_histories(
    items: Sequence[LabelledPrompt],
    buckets: Sequence[tuple[str, ...]],
    profiles: dict[str, LLMProfile],
    sp: Split,
    folds: int = FOLDS,
) -> tuple[list[History], History]:
    """Per fold, the history of the other training folds; and the history of all training prompts."""
    per_fold = [history_from(items, buckets, profiles, (i for i in sp.train if sp.fold[i] != k)) for k in range(folds)]
    return per_fold, history_from(items, buckets, profiles, sp.train)
