"""The learning loop end to end: traffic -> log -> labels (judge and feedback) -> retrain -> reload -> better routing.

Runs `scripts/learning_loop.py` at a small size against real processes (simulator and proxy over HTTP,
the judge through litellm, LightGBM training, ONNX export, the admin reload). The router starts on the
prior rule and knows nothing about `newcomer`; after one turn of the loop it must send it a real share
of the traffic and get more acceptable answers per dollar, while the realised quality stays above the
alias's acceptability threshold. The run is deterministic (requests are sent one at a time).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("lightgbm", reason="retraining needs the [train] extra (pip install -e '.[train]')")

from scripts.learning_loop import run  # noqa: E402


def test_one_turn_of_the_loop_moves_traffic_to_the_unknown_good_backend(tmp_path: Path) -> None:
    report = run(n_prompts=100, workdir=tmp_path)
    (tmp_path / "learning_loop.json").write_text(json.dumps(report, indent=2))
    before, after = report["before"], report["after"]
    assert before["requests"] == after["requests"] == 100
    assert report["replayed"]["sent"] == 200 and report["replayed"]["failed"] == 0  # two unchosen each
    assert report["labels"]["judge"] == 300 and report["labels"]["feedback"] == 60  # all 300 calls; every fifth
    assert report["models"]["previous"] == "prior-2" and report["models"]["model_version"].startswith("switchyard-")
    # Before: the prior rule cannot rate a model it does not know, so all traffic goes to the expensive one.
    assert before["share"].get("newcomer", 0.0) == 0.0
    # After: the newcomer's outcomes were learned; it takes a real share and quality per dollar improves.
    assert after["share"].get("newcomer", 0.0) >= 0.3
    assert after["acceptable_per_usd"] > 2 * before["acceptable_per_usd"]
    assert after["mean_cost_usd"] < before["mean_cost_usd"]
    # The alias trades quality for cost down to its threshold, P(acceptable) >= 0.65, and no further.
    assert after["quality_truth"] >= 0.65
