"""The learning loop end to end: traffic -> log -> labels (judge and feedback) -> retrain -> reload -> better routing.

Runs `scripts/learning_loop.py` at a small size against real processes (simulator and proxy over HTTP,
the judge through litellm, LightGBM training, ONNX export, the admin reload). The router starts on the
prior rule and knows nothing about `newcomer`; after one turn of the loop it must send it a real share
of the traffic and get more acceptable answers per dollar, while the realised quality stays above the
alias's acceptability threshold. Each run is deterministic (requests are sent one at a time).
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("lightgbm", reason="retraining needs the [train] extra (pip install -e '.[train]')")

from scripts.learning_loop import run  # noqa: E402

# One turn on 100 prompts is a small, noisy experiment: across prompt seeds the newcomer's share after it ranged from
# 0.34 to 0.87 with the same code, and a change that only adds a feature column (which reshuffles LightGBM's column
# sampling on 300 rows) moved one seed's share from 0.46 to 0.22. The property is asserted on the median of three
# independent turns (seeds 7, 8 and 9), what a user running the loop would typically see.
SEEDS = (7, 8, 9)


def test_one_turn_of_the_loop_moves_traffic_to_the_unknown_good_backend(tmp_path: Path) -> None:
    workdirs = [tmp_path / f"seed-{seed}" for seed in SEEDS]
    for w in workdirs:
        w.mkdir()
    reports = [run(n_prompts=100, workdir=w, seed=seed) for w, seed in zip(workdirs, SEEDS, strict=True)]
    (tmp_path / "learning_loop.json").write_text(json.dumps(reports, indent=2))
    for report in reports:
        before, after = report["before"], report["after"]
        assert before["requests"] == after["requests"] == 100
        assert report["replayed"]["sent"] == 200 and report["replayed"]["failed"] == 0  # two unchosen each
        assert report["labels"]["judge"] == 300 and report["labels"]["feedback"] == 60  # all 300 calls; every fifth
        assert report["models"]["previous"] == "prior-2"
        assert report["models"]["model_version"].startswith("switchyard-")
        # Before: the prior rule cannot rate a model it does not know, so all traffic goes to the expensive one.
        assert before["share"].get("newcomer", 0.0) == 0.0

    def median(f: Callable[[dict[str, Any]], float]) -> float:
        return statistics.median(f(r) for r in reports)

    # After: the newcomer's outcomes were learned; it takes a real share and quality per dollar improves.
    assert median(lambda r: r["after"]["share"].get("newcomer", 0.0)) >= 0.3
    assert median(lambda r: r["after"]["acceptable_per_usd"] / r["before"]["acceptable_per_usd"]) > 2
    assert median(lambda r: r["after"]["mean_cost_usd"] / r["before"]["mean_cost_usd"]) < 1
    # The alias trades quality for cost down to its threshold, P(acceptable) >= 0.65, and no further.
    assert median(lambda r: r["after"]["quality_truth"]) >= 0.65
