"""scripts/ceiling.py: the difficulty oracle never reads the label it predicts, the Rasch fit finds the
abilities, and the script runs end to end on a tiny synthetic file beside `evaluate`'s routers."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from scripts.ceiling import Irt, by_task, difficulty_routers, fit_by_task, fit_irt
from tests.conftest import ROOT
from tests.synthetic_long import MODELS, PRICE, SKILL, TOPICS, write_long


def test_a_candidates_own_label_never_moves_its_difficulty_oracle() -> None:
    irt = Irt(("a", "b", "c", "outside"), np.array([1.0, 0.0, -1.0, 0.5]), np.full(4, 2.0))
    held = np.array([[1.0, 1.0, 0.0, 1.0], [0.0, 1.0, np.nan, 0.0]])
    flipped = held.copy()
    flipped[:, 0] = 1 - flipped[:, 0]  # a's own labels
    columns = np.tile([0, 1, 2], (2, 1))  # a, b, c on both prompts
    before = difficulty_routers(irt, held, columns, {"outside": [3]})
    after = difficulty_routers(irt, flipped, columns, {"outside": [3]})
    np.testing.assert_array_equal(before["loo"][:, 0], after["loo"][:, 0])
    assert not np.allclose(before["loo"][:, 1:], after["loo"][:, 1:])  # b and c read a's
    np.testing.assert_array_equal(before["outside"], after["outside"])  # the pool's unread
    assert not np.allclose(before["all"], after["all"])  # every label read, a's own too
    # A prompt the others got right is easier for a than one they got wrong; every P stays inside (0, 1).
    assert before["loo"][0, 0] > before["loo"][1, 0]
    assert ((before["loo"] > 0) & (before["loo"] < 1)).all()


def test_the_irt_fits_recover_abilities_and_the_spread_of_difficulty() -> None:
    rng = np.random.default_rng(0)
    theta, b = np.array([-1.5, -0.5, 0.0, 1.0, 2.0]), rng.normal(0.0, 1.5, 3000)
    labels = (rng.random((3000, 5)) < 1 / (1 + np.exp(-(theta[None, :] - b[:, None])))).astype(float)
    labels[rng.random(labels.shape) < 0.3] = np.nan  # not every model answered every prompt
    for two_pl in (False, True):
        fit = fit_irt(labels, list("vwxyz"), two_pl)
        assert np.abs(fit.level - theta).max() < 0.2  # integrated out, few labels per prompt shrink nothing
        assert np.abs(fit.slope - 1.5).max() < 0.25  # the difficulty's spread, one slope or five


def test_the_task_fit_finds_a_model_that_is_good_at_one_task_only() -> None:
    rng = np.random.default_rng(1)
    tasks = ["code" if i % 2 else "poetry" for i in range(4000)]
    b = rng.normal(0.0, 1.0, 4000)
    coder = np.where(np.array(tasks) == "code", 2.0, -1.0)  # model 0: right on code, weak on poetry
    theta = np.column_stack([coder, np.zeros(4000), np.full(4000, 0.5)])
    labels = (rng.random((4000, 3)) < 1 / (1 + np.exp(-(theta - b[:, None])))).astype(float)
    fit = fit_by_task(labels, ["coder", "x", "y"], tasks, ["code", "poetry"])
    assert fit.models[:3] == ("code/coder", "code/x", "code/y")
    level = dict(zip(fit.models, fit.level, strict=True))
    assert level["code/coder"] - level["poetry/coder"] > 2.0  # 3 true, shrunk a little towards the mean
    assert abs(level["code/x"] - level["poetry/x"]) < 0.3
    # A held-out code prompt and a poetry one, both answered the same way by x and y: the coder's P differs.
    held = by_task(np.array([[np.nan, 1.0, 0.0], [np.nan, 1.0, 0.0]]), ["code", "poetry"], ["code", "poetry"])
    routers = difficulty_routers(fit, held, np.array([[0], [3]]), {"outside": [1, 2, 4, 5]}, loo=False, none=True)
    p = routers["outside"]
    assert p[0, 0] > 0.75 > 0.4 > p[1, 0]
    # Without any label, the task alone still tells the coder's code prompt from its poetry one.
    alone = routers["none"]
    assert alone[0, 0] > 0.7 > 0.4 > alone[1, 0]


def test_the_script_replays_the_ceiling_beside_evaluates_routers(tmp_path: Path) -> None:
    if not (ROOT / "models" / "manifest.json").is_file():
        pytest.skip("models/ has no manifest.json: run `make models` first")
    pytest.importorskip("sklearn", reason="the TF-IDF baseline needs the [train] extra")
    outside = ("outside-1b", "outside-2b")
    data = tmp_path / "synthetic_long.csv.gz"
    write_long(
        data,
        300,
        models=MODELS + outside,
        skill={**SKILL, **{m: dict.fromkeys(TOPICS, 0.5) for m in outside}},
        price={**PRICE, **dict.fromkeys(outside, 1e-7)},
    )
    out = tmp_path / "ceiling.json"
    run = subprocess.run(
        [sys.executable, "-m", "scripts.ceiling", "--data", str(data), "--candidates", ",".join(MODELS)]
        + ["--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    r = json.loads(out.read_text())["sources"]["synthetic"]
    assert r["ceiling"]["outside_models"] == list(outside) and r["ceiling"]["irt_models"] == 5
    routers = r["routers"]
    named = ("oracle_labels/v", "difficulty_outside/v", "difficulty_pool/v", "difficulty_2pl_all/v", "difficulty_loo/v")
    named += ("difficulty_task_outside/v", "difficulty_task_none/v", "switchyard/v", "tfidf_logistic/v")
    assert all(name in routers for name in named)
    assert routers["oracle_labels/v"]["auc"] == 1.0  # P is the label
    oracle = routers["oracle_labels/v"]["aiq"]
    assert all(routers[name]["aiq"] <= oracle + 1e-9 for name in named)
    assert "difficulty_loo/v" in run.stdout and "== synthetic" in run.stdout
