"""Quality-cost metrics on hand-computed cases, and the evaluation end to end on a small slice of the real data."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from proxy.training import metrics as tm
from proxy.training.curves import intervals, paired_intervals

ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = ROOT.parent / "shared" / "data"


def test_ece_is_the_weighted_gap_per_bin() -> None:
    # bin of 0.1: mean label 0.5 (gap 0.4, 2 rows); bin of 0.9: mean label 1 (gap 0.1, 2 rows)
    assert tm.ece(np.array([0.1, 0.1, 0.9, 0.9]), np.array([0, 1, 1, 1])) == pytest.approx(0.25)
    assert tm.ece(np.array([0.25, 0.25, 0.75, 0.75]), np.array([0, 0.5, 1, 0.5])) == pytest.approx(0.0)
    assert tm.ece(np.array([1.0]), np.array([0.0])) == pytest.approx(1.0)  # p = 1 falls in the last bin


def test_aiq_integrates_the_non_decreasing_upper_hull() -> None:
    line = tm.aiq(np.array([0.0, 1.0]), np.array([0.5, 1.0]))
    assert line == pytest.approx(0.75)
    # A point under the chord changes nothing; one above it lifts the hull.
    assert tm.aiq(np.array([0.0, 0.5, 1.0]), np.array([0.5, 0.6, 1.0])) == pytest.approx(0.75)
    assert tm.aiq(np.array([0.0, 0.5, 1.0]), np.array([0.5, 0.9, 1.0])) == pytest.approx(0.825)
    # Past the best point the hull stays flat: spending more never lowers it.
    assert tm.aiq(np.array([0.0, 0.5, 1.0]), np.array([0.5, 0.9, 0.8])) == pytest.approx(0.8)
    # Over a wider range than the points cover, the hull is flat beyond its ends.
    assert tm.aiq(np.array([0.0, 1.0]), np.array([0.5, 1.0]), 0.0, 2.0) == pytest.approx((0.75 + 1.0) / 2)


def test_apgr_and_cpt_follow_routellm() -> None:
    q_weak, q_strong = 0.6, 0.8
    # One setting: half the calls to the strong model recover the whole gap.
    share, quality = np.array([0.5]), np.array([0.8])
    assert tm.apgr(share, quality, q_weak, q_strong) == pytest.approx(0.25 + 0.5)
    assert tm.cpt(share, quality, q_weak, q_strong, 0.5) == pytest.approx(0.5)
    # Adding a setting at 20% strong with half the gap: PGR (0,0) (.2,.5) (.5,1) (1,1).
    share, quality = np.array([0.2, 0.5]), np.array([0.7, 0.8])
    assert tm.apgr(share, quality, q_weak, q_strong) == pytest.approx(0.05 + 0.225 + 0.5)
    assert tm.cpt(share, quality, q_weak, q_strong, 0.5) == pytest.approx(0.2)
    assert tm.cpt(share, quality, q_weak, q_strong, 0.8) == pytest.approx(0.5)
    # A random mix recovers the gap linearly: APGR 0.5, CPT(x) = x.
    mix = np.linspace(0, 1, 11)
    assert tm.apgr(mix, q_weak + mix * (q_strong - q_weak), q_weak, q_strong) == pytest.approx(0.5)
    assert tm.cpt(mix, q_weak + mix * (q_strong - q_weak), q_weak, q_strong, 0.8) == pytest.approx(0.8)


def test_cost_at_quality_and_quality_at_cost_read_the_upper_hull() -> None:
    # Mixing the settings at cost 2 and 4 at random reaches 0.85 at cost 3; the point (3, 0.6) is under the hull.
    cost, quality = np.array([1.0, 2.0, 3.0, 4.0]), np.array([0.5, 0.8, 0.6, 0.9])
    assert tm.cost_at_quality(cost, quality, 0.8) == 2.0
    assert tm.cost_at_quality(cost, quality, 0.85) == pytest.approx(3.0)
    assert tm.cost_at_quality(cost, quality, 0.4) == 1.0  # the cheapest point already reaches it
    assert math.isnan(tm.cost_at_quality(cost, quality, 0.95))
    assert tm.quality_at_cost(cost, quality, 3.0) == pytest.approx(0.85)
    assert tm.quality_at_cost(cost, quality, 9.0) == 0.9  # flat past the best point
    assert math.isnan(tm.quality_at_cost(cost, quality, 0.5))


def test_auc_ranks_acceptable_answers_first() -> None:
    assert tm.auc(np.array([0.1, 0.4, 0.35, 0.8]), np.array([0, 0, 1, 1])) == pytest.approx(0.75)
    assert tm.auc(np.array([0.5, 0.5]), np.array([0, 1])) == pytest.approx(0.5)  # a tie counts half
    assert tm.auc(np.array([0.2, 0.9]), np.array([0.5, 0.0])) == pytest.approx(0.0)  # 0.5 counts as acceptable
    assert math.isnan(tm.auc(np.array([0.2, 0.9]), np.array([1, 1])))


def test_bootstrap_intervals_redraw_the_prompts_and_keep_the_picks() -> None:
    rng = np.random.default_rng(1)
    n = 400
    labels = np.column_stack([rng.random(n) < 0.6, np.ones(n)]).astype(float)  # weak right 60%, strong always
    costs = np.column_stack([np.full(n, 1.0), np.full(n, 10.0)])
    mixed = (rng.random(n) < 0.7).astype(np.int64)  # 70% of the prompts to the strong model, at random
    picks = np.vstack([np.zeros(n, dtype=np.int64), mixed, np.ones(n, dtype=np.int64)])
    out = intervals(labels, costs, picks, ("weak", "strong"), "strong", "weak", draws=100)
    assert out == intervals(labels, costs, picks, ("weak", "strong"), "strong", "weak", draws=100)  # seeded
    # Only sending everything to the strong model reaches its quality, in every draw: exactly its cost.
    assert out["cost_frac_at_equal_quality"] == [1.0, 1.0]
    # The random 70% reaches about 88% of the strong model's quality: 95% is on the hull's segment from it
    # to the strong model, which mixes them.
    lo95, hi95 = out["cost_frac_at_95pct_quality"]
    assert lo95 is not None and hi95 is not None and 0.85 < lo95 <= hi95 < 1.0
    lo, hi = out["quality_at_best_cost"]
    assert lo == hi == 1.0
    cpt_lo, cpt_hi = out["cpt50"]
    assert cpt_lo is not None and cpt_hi is not None and 0.6 < cpt_lo <= cpt_hi < 0.8  # the random 70% setting
    apgr_lo, apgr_hi = out["apgr"]
    assert apgr_lo is not None and apgr_hi is not None and apgr_lo < 0.5 < apgr_hi
    # A target no setting reaches in any draw has no finite cost: the interval says so.
    weak_only = intervals(labels, costs, picks[:1], ("weak", "strong"), "strong", "weak", draws=20)
    assert weak_only["cost_frac_at_95pct_quality"] == [None, None]


def test_paired_intervals_judge_two_routers_on_the_same_draws() -> None:
    rng = np.random.default_rng(2)
    n = 400
    weak_right = rng.random(n) < 0.6
    labels = np.column_stack([weak_right, np.ones(n)]).astype(float)
    costs = np.column_stack([np.full(n, 1.0), np.full(n, 10.0)])
    pool, best = ("weak", "strong"), "strong"
    weak, strong = np.zeros(n, dtype=np.int64), np.ones(n, dtype=np.int64)
    knowing = (~weak_right).astype(np.int64)  # the strong model exactly where the weak one fails
    guessing = (rng.random(n) < 0.4).astype(np.int64)  # as many calls to it, at random
    smart = np.vstack([weak, knowing, strong])
    blind = np.vstack([weak, guessing, strong])
    same = paired_intervals(labels, costs, smart, smart, pool, best, "weak", draws=50)
    assert same["cost_frac_at_95pct_quality"] == [0.0, 0.0] and same["aiq"] == [0.0, 0.0]
    # Knowing which prompts need the strong model reaches its quality at about 40% of its cost; guessing
    # needs most of it, on every draw: the whole interval of the difference is below 0.
    gap = paired_intervals(labels, costs, smart, blind, pool, best, "weak", draws=50)
    lo, hi = gap["cost_frac_at_95pct_quality"]
    assert lo is not None and hi is not None and lo <= hi < -0.2
    assert gap["aiq"][0] is not None and gap["aiq"][0] > 0
    # Never calling the strong model reaches 95% of its quality on no draw: infinitely dearer, or cheaper
    # the other way round.
    never = paired_intervals(labels, costs, smart[:1], blind, pool, best, "weak", draws=20)
    assert never["cost_frac_at_95pct_quality"] == [math.inf, math.inf]
    back = paired_intervals(labels, costs, blind, smart[:1], pool, best, "weak", draws=20)
    assert back["cost_frac_at_95pct_quality"] == [-math.inf, -math.inf]


def test_evaluate_replays_held_out_prompts_on_a_slice_of_the_data(tmp_path: Path) -> None:
    if not DATA_DIR.is_dir():
        pytest.skip(f"../shared/data not present: {DATA_DIR} holds the real routing data this test replays")
    if not (ROOT / "models" / "manifest.json").is_file():
        pytest.skip("models/ has no manifest.json: run `make models` first")
    pytest.importorskip("sklearn", reason="the baselines need the [train] extra")
    from proxy.training.evaluate import evaluate

    report = evaluate([DATA_DIR / "routellm" / "routellm_long.csv.gz"], ROOT / "models", max_prompts=60)
    r = report["sources"]["RouteLLM"]
    assert r["prompts"] == 60
    assert r["best_model"] == "gpt-4-1106-preview"
    singles = r["models"]
    assert r["oracle"]["quality"] >= max(s["quality"] for s in singles.values())
    routers = r["routers"]
    expected = {"switchyard", "tfidf_logistic", "knn"}
    variants = {f"{r}{suffix}" for r in expected for suffix in ("/qw", "/v")}
    assert set(routers) == expected | variants | {"random_mix", "always_cheapest"}
    assert routers["random_mix"]["apgr"] == pytest.approx(0.5, abs=1e-3)
    cheap = singles[r["cheapest_model"]]
    assert routers["always_cheapest"]["curve"][0]["quality"] == pytest.approx(cheap["quality"])
    ours = routers["switchyard"]
    assert 0.0 <= ours["ece"] <= 1.0 and 0.0 <= ours["cpt50"] <= 1.0
    # The sweep spans the extremes: threshold 0 sends everything to the cheaper model; with the quality
    # term, cost weight 0 sends each prompt to the model more likely to answer it.
    first = min(ours["curve"], key=lambda pt: pt["setting"])
    assert first["strong_share"] == 0.0 and first["quality"] == pytest.approx(cheap["quality"])
    assert ours["model_version"].startswith("switchyard-")
    qw = routers["switchyard/qw"]
    assert qw["policy"] == "quality-weight" and max(qw["curve"], key=lambda pt: pt["setting"])["strong_share"] == 0.0
    v = routers["switchyard/v"]
    assert v["policy"] == "value" and max(v["curve"], key=lambda pt: pt["setting"])["strong_share"] == 0.0
    lo, hi = v["interval_90"]["apgr"]
    assert lo is not None and hi is not None and lo <= hi


def test_the_random_mix_runs_along_the_hull_of_the_single_models() -> None:
    from proxy.training.curves import random_mix

    singles = {
        "cheap": {"quality": 0.5, "cost": 1.0},
        "dominated": {"quality": 0.55, "cost": 5.0},  # under the chord from cheap to best
        "best": {"quality": 0.9, "cost": 10.0},
    }
    cost, quality, share = random_mix(singles, "best")
    assert len(cost) == 101 and cost.min() == 1.0 and cost.max() == 10.0
    assert quality == pytest.approx(0.5 + (cost - 1.0) / 9.0 * 0.4)  # the one segment cheap -> best
    assert share == pytest.approx((cost - 1.0) / 9.0)
    assert tm.aiq(cost, quality, 1.0, 10.0) == pytest.approx(0.7)
