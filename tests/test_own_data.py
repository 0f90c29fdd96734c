"""scripts/own_data.py on a tiny synthetic file: train on one half of the questions, evaluate the other half."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.synthetic_long import write_long

ROOT = Path(__file__).resolve().parents[1]


def test_own_data_trains_on_one_half_and_evaluates_every_prompt_of_the_other(tmp_path: Path) -> None:
    pytest.importorskip("lightgbm", reason="training needs the [train] extra")
    data = tmp_path / "tiny_long.csv.gz"
    write_long(data, 200)
    report = tmp_path / "own.json"
    argv = ["--file", str(data), "--max-prompts", "160", "--folds", "3", "--json", str(report)]
    done = subprocess.run(
        [sys.executable, "-m", "scripts.own_data", *argv], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr
    [r] = json.loads(report.read_text())
    assert r["source"] == "synthetic" and r["train_questions"] == 80 and r["test_prompts"] == 80
    assert set(r["aiq"]) == {
        "switchyard",
        "switchyard/qw",
        "switchyard/v",
        "tfidf_logistic",
        "random_mix",
        "best_single_model",
    }
    for name, a in r["aiq"].items():
        lo, hi = a["interval_90"]
        assert lo <= a["aiq"] <= hi, name
    assert "synthetic: trained on 80 questions, evaluated on 80 prompts, 3 candidates" in done.stdout
    assert set(r["quality_at_best_cost"]) == {"switchyard", "switchyard/qw", "switchyard/v"}
    assert "the random mix's" in done.stdout and "at the best model's cost its quality is" in done.stdout
