"""scripts/decision_agreement.py's comparison: identical decisions agree, and any changed number or choice shows."""

from __future__ import annotations

from proxy.route.router import DEFAULT_MODELS_DIR
from scripts.decision_agreement import compare, decisions

PROMPTS = ["What is 2+2?", "Write a Python function that merges two sorted lists.", "Summarise: the cat sat."]


def test_the_same_code_agrees_with_itself_and_a_changed_number_or_order_is_reported() -> None:
    old = decisions(PROMPTS, DEFAULT_MODELS_DIR)
    new = decisions(PROMPTS, DEFAULT_MODELS_DIR)
    report = compare(old, new)
    assert set(report["max_abs_diff"].values()) == {0.0}
    assert set(report["requests_differing"].values()) == {0}

    new[0]["p_acceptable"] = new[0]["p_acceptable"] + 1e-5
    new[1]["rows"] = new[1]["rows"].copy()
    new[1]["rows"][0, 0] += 0.5
    new[2]["order"] = list(reversed(new[2]["order"]))
    report = compare(old, new)
    assert abs(report["max_abs_diff"]["p_acceptable"] - 1e-5) < 1e-9
    assert report["max_abs_diff"]["rows"] == 0.5
    assert report["requests_differing"]["order"] == 1
