"""Leave one source out: how well P(acceptable) holds on a kind of data the model never trained on.

For each source S: the shipped model type (`train.train`, with the options of `make models` and the
calibration asked for) is trained on every other source's rows, then S's held-out prompts (the split
`train` makes) are replayed through it by `evaluate`, with profiles and History from the other sources'
training prompts, so nothing of S enters but its prompts. Reported: the ECE and AUC of its P(acceptable)
there, with 90% intervals, next to the number of prompts, and the mean P against the mean label, all of it
also per candidate and per benchmark of the source (`by_candidate`, `by_benchmark`). Slow (one training per source), so
`switchyard evaluate` runs it only when asked. Needs the [train] extra.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from proxy.training import data as td
from proxy.training.dataset import iter_rows, question_key
from proxy.training.evaluate import evaluate
from proxy.training.export_log import write_csv
from proxy.training.fit import CALIBRATIONS
from proxy.training.train import train

log = logging.getLogger(__name__)


def leave_one_source_out(
    files: Sequence[Path],
    sources: frozenset[str] | None = None,
    threads: int = 1,
    folds: int = td.FOLDS,
    calibration: str = "source",
) -> dict[str, Any]:
    """Per source (those of `sources` only, when given): its ECE and AUC under a model trained without it,
    with `calibration` (`train.train`)."""
    names = sorted({r.source for f in files for r in iter_rows(f)})
    if sources is not None:
        unknown = sources - set(names)
        if unknown:
            raise ValueError(f"no source {', '.join(sorted(unknown))} in the data (it has: {', '.join(names)})")
        names = [n for n in names if n in sources]
    if calibration not in CALIBRATIONS:
        raise ValueError(f"calibration {calibration!r}: expected one of {', '.join(CALIBRATIONS)}")
    out: dict[str, Any] = {}
    for done, source in enumerate(names, 1):
        with tempfile.TemporaryDirectory(prefix="switchyard-loso-") as tmp:
            others, held = Path(tmp) / "others_long.csv.gz", Path(tmp) / "held_long.csv.gz"
            rows = (r for f in files for r in iter_rows(f))
            n_others = write_csv((asdict(r) for r in rows if r.source != source), others)
            rows = (r for f in files for r in iter_rows(f))
            n_held = write_csv(
                (asdict(r) for r in rows if r.source == source and td.is_held_out(question_key(r.prompt))), held
            )
            log.info(
                "leave-one-out %d/%d: %s (%d held-out rows); training on %d rows of the others",
                done,
                len(names),
                source,
                n_held,
                n_others,
            )
            train([others], Path(tmp) / "models", threads=threads, folds=folds, calibration=calibration)
            report = evaluate([others], Path(tmp) / "models", baselines=False, test=[held])
        out[source] = _calibration(report["sources"].get(source))
        log.info("leave-one-out %s: %s", source, out[source])
    return out


def _calibration(r: dict[str, Any] | None) -> dict[str, Any]:
    """The source's calibration numbers, and the same per candidate and per benchmark of the source (the
    pooled ECE cannot say whether one model, one benchmark or every row is off, nor which way)."""
    if r is None:
        return {"prompts": 0, "note": "fewer than two candidates or prompts with a label for every candidate"}
    out = _numbers(r)
    if "by_benchmark" in r:
        out["by_benchmark"] = {name: _numbers(b) for name, b in r["by_benchmark"].items()}
    return out


def _numbers(r: dict[str, Any]) -> dict[str, Any]:
    m = r["routers"]["switchyard"]
    return {
        "prompts": r["prompts"],
        "candidates": r["candidates"],
        "ece": m["ece"],
        "auc": m["auc"],
        "interval_90": {"ece": m["interval_90"]["ece"], "auc": m["interval_90"]["auc"]},
        "mean_p": m["mean_p"],
        "mean_label": m["mean_label"],
        "by_candidate": m["calibration_by_candidate"],
    }
