"""Fit the two small text models the prompt features ship with, from the data's prompts.

- proxy/route/features/tokens.json: the linear token-count estimate used for texts longer than
  `tokens.EXACT_CHARS`, fitted by least squares against the shipped tokenizer's exact counts;
- proxy/route/features/semantic.json: the LSA vocabulary, idf and projection (top eigenvectors of the
  tf-idf covariance).

Deterministic: prompts are deduplicated and sorted by key, ties in the vocabulary broken by the word,
eigenvector signs fixed. Usage: .venv/bin/python -m scripts.fit_text_models [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import json
import math
from collections import Counter
from pathlib import Path

import numpy as np

from proxy.route.features.examples import request_from_prompt
from proxy.route.features.semantic import SEMANTIC_FILE, encode_floats
from proxy.route.features.text import conversation, words
from proxy.route.features.tokens import CALIBRATION_FILE, find_tokenizer_file, text_counts
from proxy.training.dataset import find_long_files, iter_rows, prompt_key

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--vocab", type=int, default=3000)
    parser.add_argument("--dims", type=int, default=16)
    args = parser.parse_args()
    prompts = _prompts(args.data)
    print(f"{len(prompts)} distinct prompts")
    asks = [conversation(request_from_prompt(p).messages).ask for p in prompts]
    fit_tokens(asks)
    fit_semantic([Counter(words(a)) for a in asks], args.vocab, args.dims)


def _prompts(data: Path) -> list[str]:
    seen: dict[str, str] = {}
    for path in find_long_files(data):
        for row in iter_rows(path):
            seen.setdefault(prompt_key(row.prompt), row.prompt)
    return [seen[k] for k in sorted(seen)]


def fit_tokens(texts: list[str]) -> None:
    from tokenizers import Tokenizer

    path = find_tokenizer_file()
    if path is None:
        raise SystemExit("tokenizer file not found: install the project's dependencies (litellm)")
    tokenizer = Tokenizer.from_file(str(path))
    texts = [t for t in texts if t]
    counts = [text_counts(t, words(t)) for t in texts]
    x = np.array([[c.words, c.symbols, c.non_ascii, c.chars] for c in counts], dtype=np.float64)
    y = np.array([len(e.ids) for e in tokenizer.encode_batch(texts, add_special_tokens=False)], dtype=np.float64)
    coef, *_ = np.linalg.lstsq(x, y, rcond=None)
    rel = np.abs(x @ coef - y) / np.maximum(y, 1)
    stats = {
        "n": len(texts),
        "median_abs_rel_error": round(float(np.median(rel)), 4),
        "p90_abs_rel_error": round(float(np.quantile(rel, 0.9)), 4),
    }
    names = ("per_word", "per_symbol", "per_non_ascii_byte", "per_char")
    out = {
        "about": "Linear token-count estimate vs anthropic_tokenizer.json, fitted by scripts/fit_text_models.py "
        "on the asks of the data's distinct prompts; error stats are in-sample.",
        "fit": stats,
        "estimator": {n: round(float(c), 6) for n, c in zip(names, coef, strict=True)},
    }
    CALIBRATION_FILE.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    print(f"token estimate: {out['estimator']} {stats}")


def fit_semantic(docs: list[Counter[str]], vocab_size: int, dims: int) -> None:
    df: Counter[str] = Counter()
    for d in docs:
        df.update(d.keys())
    n = len(docs)
    # Words in more than half the prompts carry no topic; words in fewer than 5 are noise.
    eligible = [(c, w) for w, c in df.items() if 5 <= c <= n / 2 and not w.isdigit()]
    words_ = sorted(w for _, w in sorted(eligible, key=lambda cw: (-cw[0], cw[1]))[:vocab_size])
    index = {w: i for i, w in enumerate(words_)}
    idf = np.array([math.log((1 + n) / (1 + df[w])) + 1.0 for w in words_])
    cov = np.zeros((len(words_), len(words_)))
    for start in range(0, n, 2000):
        chunk = np.zeros((min(2000, n - start), len(words_)))
        for r, d in enumerate(docs[start : start + 2000]):
            for w, c in d.items():
                j = index.get(w)
                if j is not None:
                    chunk[r, j] = math.log1p(c) * idf[j]
        norms = np.linalg.norm(chunk, axis=1, keepdims=True)
        chunk /= np.where(norms > 0, norms, 1.0)
        cov += chunk.T @ chunk
    values, vectors = np.linalg.eigh(cov)
    order = np.argsort(values)[::-1][:dims]
    proj = vectors[:, order]
    signs = np.sign(proj[np.abs(proj).argmax(axis=0), np.arange(dims)])
    proj *= signs
    explained = float(values[order].sum() / values.sum())
    out = {
        "about": "LSA over the data's distinct prompts, fitted by scripts/fit_text_models.py; see semantic.py.",
        "dims": dims,
        "explained_variance": round(explained, 4),
        "top_words": {f"dim{k}": " ".join(words_[i] for i in np.argsort(-proj[:, k])[:8]) for k in range(dims)},
        "words": " ".join(words_),
        "idf_f32": encode_floats(idf),
        "projection_f32": encode_floats(proj),
    }
    SEMANTIC_FILE.write_text(json.dumps(out, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"semantic: {len(words_)} words x {dims} dims, explained variance {explained:.3f}")


if __name__ == "__main__":
    main()
