"""`switchyard evaluate` through the command on tiny synthetic files: --test files replayed whole, --train,
the per-benchmark breakdown and APGR left out where the best model is also the cheapest."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from proxy.training.dataset import iter_rows
from tests.synthetic_long import MODELS, TOPICS, write_long

GPT4, MISTRAL, _ = MODELS


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A training file and the models `switchyard train` makes of it."""
    pytest.importorskip("lightgbm", reason="training needs the [train] extra")
    from proxy.cli import main

    tmp = tmp_path_factory.mktemp("evaluate-cli")
    data = tmp / "train_long.csv.gz"
    write_long(data)
    assert main(["train", "--data", str(data), "--out", str(tmp / "models"), "--folds", "3"]) == 0
    return data, tmp / "models"


def _evaluate(capsys: pytest.CaptureFixture[str], models: Path, out: Path, *args: str) -> tuple[dict[str, Any], str]:
    from proxy.cli import main

    capsys.readouterr()
    assert main(["evaluate", "--models", str(models), "--json", str(out), *args]) == 0
    return json.loads(out.read_text()), capsys.readouterr().out


def _by_benchmark(topic: str) -> str:
    return "gsm8k" if topic == "arithmetic" else f"mmlu:{topic}"


def test_every_prompt_of_a_test_file_is_replayed_and_broken_down_by_benchmark(
    trained: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, models = trained
    test = tmp_path / "test_long.csv.gz"
    write_long(test, 90, seed=3, first=1000, task_of=_by_benchmark)
    report, table = _evaluate(
        capsys, models, tmp_path / "e.json", "--data", str(data), "--test", str(test), "--no-baselines"
    )
    r = report["sources"]["synthetic"]
    assert r["prompts"] == 90  # none re-split: a held-out fifth would be about 18
    assert report["test"] == [str(test)] and report["replayed"] == "every prompt of the test files"
    # Knowledge comes from the training part of --data: its non-held-out prompts, none of the test file's.
    assert 100 < report["training_prompts"] < 150
    assert "== synthetic: 90 test prompts" in table

    benches = r["by_benchmark"]
    assert set(benches) == {"gsm8k", "mmlu"}
    assert benches["gsm8k"]["prompts"] == 15 and benches["mmlu"]["prompts"] == 75
    gsm8k = benches["gsm8k"]
    assert gsm8k["best_model"] in MODELS and set(gsm8k["models"]) == set(MODELS)
    ours = gsm8k["routers"]["switchyard"]
    assert "curve" not in ours and ours["interval_90"]["aiq"][0] <= ours["aiq"] <= ours["interval_90"]["aiq"][1]
    assert {"switchyard/qw", "switchyard/v", "random_mix", "always_cheapest"} <= set(gsm8k["routers"])
    # Every figure has its interval: the single models, the oracle, ECE and AUC.
    assert gsm8k["models"][GPT4]["interval_90"]["quality"][0] <= gsm8k["models"][GPT4]["quality"]
    assert set(r["oracle"]["interval_90"]) == {"quality", "cost"}
    assert set(ours["interval_90"]) >= {"ece", "auc"}
    assert r["routers"]["random_mix"]["interval_90"]["aiq"] is not None
    assert "-- synthetic / gsm8k: 15 test prompts" in table and "-- synthetic / mmlu: 75 test prompts" in table


def test_train_files_are_all_training_less_the_test_questions(
    trained: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, models = trained
    test = tmp_path / "test_long.csv.gz"
    write_long(test, 40, seed=3, first=1000)
    overlap = tmp_path / "overlap_long.csv.gz"
    write_long(overlap, 40, seed=3, first=1000, source="elsewhere")  # the test file's prompts, another source
    args = ("--test", str(test), "--train", str(data), "--train", str(overlap), "--baseline-models", str(models))
    report, _ = _evaluate(capsys, models, tmp_path / "e.json", *args)
    assert report["training_prompts"] == 150  # every prompt of --train, less the 40 that are in the test file
    assert report["learned_from"] == "every prompt of the data"
    routers = report["sources"]["synthetic"]["routers"]
    assert report["sources"]["synthetic"]["prompts"] == 40 and "tfidf_logistic" in routers and "knn" in routers
    assert set(report["sources"]) == {"synthetic"}  # the sources of the test files only
    # The previous models (here the same ones) are a router of their own, through the same replay.
    for suffix in ("", "/qw", "/v"):
        assert routers["previous" + suffix]["aiq"] == routers["switchyard" + suffix]["aiq"]
        # Each of Switchyard's routers carries its difference from the others under its policy: from the
        # same models, nothing on any draw.
        versus = routers["switchyard" + suffix]["versus"]
        assert set(versus) == {name + suffix for name in ("tfidf_logistic", "knn", "previous")}
        assert versus["previous" + suffix]["difference"]["aiq"] == 0.0
        assert versus["previous" + suffix]["interval_90"]["aiq"] == [0.0, 0.0]


def test_train_without_test_is_refused(trained: tuple[Path, Path], tmp_path: Path) -> None:
    from proxy.cli import main

    data, models = trained
    with pytest.raises(SystemExit) as refused:
        main(["evaluate", "--train", str(data), "--models", str(models), "--json", str(tmp_path / "e.json")])
    assert refused.value.code == 2


def test_apgr_is_left_out_where_the_best_model_is_also_the_cheapest(
    trained: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, models = trained
    test = tmp_path / "cheap_best_long.csv.gz"
    skill = {GPT4: {t: 0.3 for t in TOPICS}, MISTRAL: {t: 0.95 for t in TOPICS}}
    write_long(test, 60, seed=5, first=2000, models=(GPT4, MISTRAL), skill=skill)
    assert {r.model for r in iter_rows(test)} == {GPT4, MISTRAL}
    report, table = _evaluate(
        capsys, models, tmp_path / "e.json", "--data", str(data), "--test", str(test), "--no-baselines"
    )
    r = report["sources"]["synthetic"]
    assert r["best_model"] == r["cheapest_model"] == MISTRAL
    for name in ("switchyard", "switchyard/v", "random_mix", "always_cheapest"):
        m = r["routers"][name]
        assert m["apgr"] is None and m["cpt50"] is None and m["cpt80"] is None, name
        assert "best model is also the cheapest" in m["apgr_omitted_reason"]
        assert m["interval_90"]["apgr"] is None
    assert m["aiq"] is not None
    # The table leaves the three cells blank: the row has the router's name and its other seven numbers.
    row = next(line for line in table.splitlines() if line.strip().startswith("switchyard/v "))
    assert len(row.split()) == 1 + 7 and "APGR/CPT blank: omitted" in table


def test_leave_one_source_out_trains_without_the_source_and_scores_its_held_out_prompts(
    trained: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, models = trained
    other = tmp_path / "beta_long.csv.gz"
    write_long(other, 450, seed=11, first=5000, source="beta", task_of=_by_benchmark)  # >= 10 GSM8K held out
    files = ("--data", str(data), "--data", str(other))
    report, table = _evaluate(capsys, models, tmp_path / "e.json", *files, "--no-baselines", "--loso-sources", "beta")
    loso = report["leave_one_source_out"]
    assert set(loso) == {"beta"}  # only the source asked for: one training, on "synthetic" alone
    beta = loso["beta"]
    assert beta["prompts"] == report["sources"]["beta"]["prompts"]  # its held-out prompts, every one
    assert 0.0 <= beta["ece"] <= 1.0 and 0.0 <= beta["auc"] <= 1.0
    lo, hi = beta["interval_90"]["ece"]
    assert lo <= beta["ece"] <= hi
    # Which way P is off, per candidate and per benchmark: every prompt has each candidate's label, so the
    # pooled means are the candidates' means, and the benchmarks' prompts add up to the source's.
    per_model = beta["by_candidate"]
    assert set(per_model) == set(beta["candidates"]) and len(per_model) >= 2
    assert beta["mean_p"] == pytest.approx(sum(m["mean_p"] for m in per_model.values()) / len(per_model))
    assert beta["mean_label"] == pytest.approx(sum(m["mean_label"] for m in per_model.values()) / len(per_model))
    assert set(beta["by_benchmark"]) == {"gsm8k", "mmlu"}
    assert sum(b["prompts"] for b in beta["by_benchmark"].values()) == beta["prompts"]
    assert set(beta["by_benchmark"]["mmlu"]["by_candidate"]) == set(beta["candidates"])
    loso_table = table.split("leave one source out")[1]
    assert "beta" in loso_table and f"mmlu / {GPT4}" in loso_table and "mean P" in loso_table

    from proxy.cli import main

    with pytest.raises(SystemExit) as refused:
        main(["evaluate", *files, "--json", str(tmp_path / "x.json"), "--loso-sources", "gamma"])
    assert refused.value.code == 2 and "no source gamma" in capsys.readouterr().err
    # The models trained without a source get the calibration asked for; one that does not exist is refused.
    with pytest.raises(SystemExit) as refused:
        main(["evaluate", *files, "--json", str(tmp_path / "x.json"), "--loso-sources", "beta", "--calibration", "x"])
    assert refused.value.code == 2 and "calibration 'x': expected one of prompt, source" in capsys.readouterr().err
