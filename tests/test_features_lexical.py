"""The lexical feature: stable hashing, the heads file, out-of-fold heads, and training == serving."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from proxy.route.catalog import load_catalog
from proxy.route.features import compute_features
from proxy.route.features.examples import LabelledPrompt, request_from_prompt
from proxy.route.features.lexical import BUCKETS, LexicalError, LexicalHeads, load, prior_logit, vectorize

TEXT = "Prove that the square root of 2 is irrational, then convert 5 kilometres to metres."


def _digest(text: str) -> str:
    v = vectorize(text)
    return hashlib.sha256(v.index.tobytes() + v.value.tobytes()).hexdigest()


def test_the_hashed_vector_is_the_same_in_another_process_whatever_its_hash_seed() -> None:
    code = f"from proxy.route.features.lexical import vectorize; import hashlib; v = vectorize({TEXT!r}); "
    code += "print(hashlib.sha256(v.index.tobytes() + v.value.tobytes()).hexdigest())"
    for seed in ("1", "12345"):
        out = subprocess.run(
            [sys.executable, "-c", code], env={"PYTHONHASHSEED": seed}, capture_output=True, text=True, check=True
        )
        assert out.stdout.strip() == _digest(TEXT)


def test_the_hashed_vector_is_unit_length_sublinear_and_counts_bigrams() -> None:
    v = vectorize("the cat the cat the")
    assert np.all(np.diff(v.index) > 0) and v.index.max() < BUCKETS
    assert float(v.value @ v.value) == pytest.approx(1.0, abs=1e-6)
    # unigrams "the" x3 and "cat" x2, bigrams "the cat" x2 and "cat the" x2: four buckets (barring a collision)
    assert len(v.index) == 4
    assert sorted(v.value / v.value.min()) == pytest.approx([1.0, 1.0, 1.0, (1 + np.log(3)) / (1 + np.log(2))])
    assert len(vectorize("   ").index) == 0


def _heads(seed: int = 0) -> LexicalHeads:
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(2, BUCKETS)) * (rng.random((2, BUCKETS)) < 0.1)
    return LexicalHeads.rounded(["model-a", "model-b"], w, np.array([0.25, -1.5]))


def test_heads_survive_the_file_byte_for_byte(tmp_path: Path) -> None:
    heads = _heads()
    data = heads.to_bytes()
    assert data == _heads().to_bytes()
    back = LexicalHeads.from_bytes(data)
    assert back.keys == heads.keys
    assert np.array_equal(back.weights, heads.weights) and np.array_equal(back.bias, heads.bias)
    (tmp_path / "lexical.bin").write_bytes(data)
    entry = {"file": "lexical.bin", "sha256": hashlib.sha256(data).hexdigest()}
    loaded = load(tmp_path, {"lexical": entry})
    assert loaded is not None and np.array_equal(loaded.weights, heads.weights)
    assert load(tmp_path, {}) is None
    with pytest.raises(LexicalError, match="sha256"):
        load(tmp_path, {"lexical": {**entry, "sha256": "0" * 64}})
    with pytest.raises(LexicalError, match="not a Switchyard"):
        LexicalHeads.from_bytes(b"garbage")


def test_a_candidate_without_a_head_gets_its_prior_logit() -> None:
    heads = _heads()
    v = vectorize(TEXT)
    got = heads.logits(v, ["model-b", "unseen", "model-a"], np.array([7.0, prior_logit(0.8), 9.0]))
    want_b = float(heads.weights[1, v.index] @ v.value.astype(np.float64) + heads.bias[1])
    assert got[0] == pytest.approx(want_b) and got[1] == pytest.approx(np.log(4.0))
    assert got[2] != 9.0


def _items(n: int = 1200) -> list[LabelledPrompt]:  # each fold's fit keeps MIN_HEAD_PROMPTS
    words = ("algebra", "poetry", "python", "history")
    return [
        LabelledPrompt(f"key{i}", f"question {i} on {words[i % 4]} and more {words[(i // 4) % 4]}", "s", "t", {"m": y})
        for i in range(n)
        for y in [float(i % 4 == 0) if i % 7 else 0.5]
    ]


def test_a_training_row_lexical_logit_never_sees_its_own_label() -> None:
    pytest.importorskip("sklearn", reason="fitting heads needs the [train] extra")
    from proxy.training import data as td
    from proxy.training import lexical as tl

    items = _items()
    profiles = {"m": load_catalog().profile("acme-m", name="m")}
    key = profiles["m"].history_key
    sp = td.split(items, folds=3)
    x = tl.prompt_vectors(items)
    per_fold, everything = tl.out_of_fold_heads(items, x, profiles, sp, folds=3)
    i = next(i for i in sp.train if items[i].correct["m"] in (0.0, 1.0))
    flipped = list(items)
    flipped[i] = LabelledPrompt(items[i].key, items[i].prompt, "s", "t", {"m": 1.0 - items[i].correct["m"]})
    per_fold2, everything2 = tl.out_of_fold_heads(flipped, x, profiles, sp, folds=3)
    own = sp.fold[i]
    assert np.array_equal(per_fold[own].weights, per_fold2[own].weights)  # the row's own head: unchanged
    assert not np.array_equal(everything.weights, everything2.weights)  # the label does count elsewhere
    other = next(k for k in range(3) if k != own)
    assert not np.array_equal(per_fold[other].weights, per_fold2[other].weights)
    assert per_fold[own].keys == (key,)


def test_a_model_with_few_prompts_gets_no_head() -> None:
    pytest.importorskip("sklearn", reason="fitting heads needs the [train] extra")
    from proxy.training import lexical as tl

    items = _items()
    profiles = {"m": load_catalog().profile("acme-m", name="m")}
    x = tl.prompt_vectors(items)
    assert tl.fit_heads(items, x, profiles, range(tl.MIN_HEAD_PROMPTS)).keys == (profiles["m"].history_key,)
    few = tl.fit_heads(items, x, profiles, range(tl.MIN_HEAD_PROMPTS - 1))
    assert few.keys == () and few.weights.shape == (0, BUCKETS)
    back = LexicalHeads.from_bytes(few.to_bytes())
    got = back.logits(vectorize(TEXT), [profiles["m"].history_key], np.array([prior_logit(0.7)]))
    assert got[0] == pytest.approx(prior_logit(0.7))


def test_serving_computes_the_lexical_logit_training_gave_a_held_out_row() -> None:
    pytest.importorskip("sklearn", reason="fitting heads needs the [train] extra")
    from proxy.route.features import load_resources
    from proxy.training import data as td
    from proxy.training import lexical as tl

    items = _items()
    profiles = {"m": load_catalog().profile("acme-m", name="m")}
    sp = td.split(items, folds=3)
    heads = tl.fit_heads(items, tl.prompt_vectors(items), profiles, sp.train)
    back = LexicalHeads.from_bytes(heads.to_bytes())
    resources = load_resources()
    table = td.build_table(items, sp.test, profiles, resources, lambda i: None, heads_of=lambda i: heads)
    col = table.names.index("x_lexical_logit")
    for row, i in enumerate(table.prompt):
        served = compute_features(request_from_prompt(items[i].prompt), [profiles["m"]], heads=back)
        assert served.column("x_lexical_logit")[0] == table.x[row, col]
    assert len(set(table.x[:, col].tolist())) > 1
