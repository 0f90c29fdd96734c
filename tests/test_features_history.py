"""Prior success rates: smoothing, cold start, and leave-one-out that never leaks the scored label."""

from __future__ import annotations

import pytest

from proxy.route.features import History, compute_features
from proxy.route.features.examples import group_rows, request_from_prompt
from proxy.route.profile import LLMProfile
from tests.test_dataset import DATA_DIR

A, B = "model-a", "model-b"
CODE = ("all", "task:code", "domain:code", "sem:1010")
MATH = ("all", "task:math", "domain:mathematical", "sem:0110")


def outcomes() -> list[tuple[str, tuple[str, ...], float]]:
    rows = [(A, CODE, 1.0)] * 8 + [(A, CODE, 0.0)] * 2 + [(A, MATH, 0.0)] * 10
    return rows + [(B, CODE, 0.0)] * 5 + [(B, MATH, 1.0)] * 5


def test_rates_are_smoothed_toward_the_model_then_the_global_rate() -> None:
    h = History.from_outcomes(outcomes(), strength=10.0)
    assert h.global_rate == pytest.approx((8 + 5) / 30)
    a = h.model_rate(A)
    assert a.n == 20 and a.value == pytest.approx((8 + 10 * h.global_rate) / 30)
    code = h.rate(A, "task:code", a.value)
    assert code.n == 10 and code.value == pytest.approx((8 + 10 * a.value) / 20)
    assert h.rate(A, "task:code", a.value).value > a.value > h.rate(A, "task:math", a.value).value


def test_an_unseen_model_gets_its_prior_or_the_global_rate() -> None:
    h = History.from_outcomes(outcomes())
    assert h.model_rate("never-seen").value == pytest.approx(h.global_rate)
    assert h.model_rate("never-seen", prior=0.9).value == pytest.approx(0.9)
    assert h.model_rate("never-seen").n == 0


def test_prior_rows_are_each_candidates_priors_and_stay_the_same_for_the_same_lineup() -> None:
    h = History.from_outcomes(outcomes())
    models = ((A, None), (B, 0.9), ("never-seen", None))
    rows = h.prior_rows(models, CODE)
    assert rows.tolist() == [list(h.priors(m, p, CODE)) for m, p in models]
    assert h.prior_rows(models, CODE) is rows  # a repeated lineup and prompt bucket: no work per candidate
    assert h.prior_rows(models, MATH).tolist() == [list(h.priors(m, p, MATH)) for m, p in models]
    with pytest.raises(ValueError):
        rows[0, 0] = 0.0  # shared between requests, so read-only


def test_leave_one_out_equals_a_history_built_without_the_prompt() -> None:
    scored = {A: 1.0, B: 0.0}  # this prompt's labels
    full = History.from_outcomes([*outcomes(), (A, CODE, 1.0), (B, CODE, 0.0)])
    without = History.from_outcomes(outcomes())
    loo = full.without(scored, CODE)
    for model in (A, B):
        for bucket in CODE:
            assert loo.get(model, bucket) == without.get(model, bucket)
        assert loo.model_rate(model).value == pytest.approx(without.model_rate(model).value)
    assert loo.global_rate == pytest.approx(without.global_rate)
    assert full.model_rate(A).value != pytest.approx(loo.model_rate(A).value)  # the label did move the rate


def test_prior_features_use_the_prompt_buckets_and_leave_one_out() -> None:
    request = request_from_prompt("Write a Python function that reverses a linked list.")
    profile = LLMProfile(name="a", model=A, catalog_id=A)
    buckets = compute_features(request, [profile]).prompt.buckets
    assert buckets[1] == "task:code"
    others = [(A, buckets, 0.0)] * 30
    full = History.from_outcomes([*others, (A, buckets, 1.0)])
    leaked = compute_features(request, [profile], full)
    clean = compute_features(request, [profile], full.without({A: 1.0}, buckets))
    reference = compute_features(request, [profile], History.from_outcomes(others))
    assert clean.rows.tobytes() == reference.rows.tobytes()
    assert float(leaked.column("x_prior_task_success")[0]) > float(clean.column("x_prior_task_success")[0])
    assert float(clean.column("x_prior_task_evidence_log")[0]) == pytest.approx(__import__("math").log1p(30))


def test_merged_histories_add_counts() -> None:
    h = History.from_outcomes(outcomes()).merged(History.from_outcomes([(A, CODE, 1.0)]))
    assert h.get(A, "task:code") == (9.0, 11)


@pytest.mark.data
def test_history_from_the_long_format_data() -> None:
    if not DATA_DIR.is_dir():
        pytest.skip(f"../shared/data not present: {DATA_DIR} holds the real long-format files")
    from proxy.training.dataset import find_long_files, iter_rows

    path = next(p for p in find_long_files(DATA_DIR) if "routellm" in p.name)
    items = group_rows(row for _, row in zip(range(4000), iter_rows(path), strict=False))
    assert items and all(item.correct for item in items)
    h = History.from_outcomes((m, ("all",), c) for item in items for m, c in item.correct.items())
    strong = h.model_rate("gpt-4-1106-preview").value
    weak = h.model_rate("mistralai/Mixtral-8x7B-Instruct-v0.1").value
    assert strong > weak  # the README: gpt-4 .81 vs Mixtral .68 on RouteLLM


def test_outcomes_from_labelled_prompts_feed_history() -> None:
    from proxy.route.features.examples import LabelledPrompt, outcomes

    items = [
        LabelledPrompt(key="k1", prompt="p1", source="s", task="t", correct={"GPT": 1.0, "Small": 0.0}),
        LabelledPrompt(key="k2", prompt="p2", source="s", task="t", correct={"GPT": 0.0}),
    ]
    h = History.from_outcomes(outcomes(items, [CODE, MATH], str.lower))
    assert h.get("gpt", "all") == (1.0, 2) and h.get("gpt", "task:code") == (1.0, 1)
    assert h.get("small", "task:math") == (0.0, 0)
