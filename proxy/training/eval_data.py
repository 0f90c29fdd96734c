"""Which prompts `switchyard evaluate` replays, and which its knowledge and baselines learn from.

Without test files: the held-out part of the data files (the split `switchyard train` makes), the rest
for training, as `train` did. With test files: every prompt of them is replayed, none re-split; the
training prompts are the training part of the data files, or every prompt of them when they are
`--train` files, less any prompt whose question is also in a test file (`question_key`: the same
question in another template too), so no question is on both sides.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from proxy.training import data as td
from proxy.training.dataset import question_key

log = logging.getLogger(__name__)


def held_out(files: Sequence[Path]) -> tuple[td.DataSet, td.Split]:
    ds = td.load_data(files)
    return ds, td.split(ds.items)


def with_test_files(
    train_files: Sequence[Path], test_files: Sequence[Path], all_training: bool
) -> tuple[td.DataSet, td.Split]:
    """One data set, the training prompts first and then every prompt of the test files; the split says which."""
    train_ds, test_ds = td.load_data(train_files), td.load_data(test_files)
    tested = {question_key(it.prompt) for it in test_ds.items}
    candidates = range(len(train_ds.items)) if all_training else td.split(train_ds.items).train
    kept = [train_ds.items[i] for i in candidates if question_key(train_ds.items[i].prompt) not in tested]
    dropped = len(candidates) - len(kept)
    if dropped:
        log.info("%d training prompts dropped: their question is in a test file", dropped)
    keys = {it.key for it in kept}
    items = kept + test_ds.items
    ds = td.DataSet(
        files=(*train_ds.files, *test_ds.files),
        items=items,
        costs={**{k: c for k, c in train_ds.costs.items() if k[0] in keys}, **test_ds.costs},
        sources={**{k: s for k, s in train_ds.sources.items() if k in keys}, **test_ds.sources},
        source_models=test_ds.source_models,
        tasks={**{k: t for k, t in train_ds.tasks.items() if k[1] in keys}, **test_ds.tasks},
    )
    return ds, td.Split(list(range(len(kept))), list(range(len(kept), len(items))), {})
