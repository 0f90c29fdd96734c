"""Prompt length in tokens.

The tokenizer is the Claude-v1-era BPE (65k vocabulary, NFKC + byte-level) that litellm ships as
`litellm/litellm_core_utils/tokenizers/anthropic_tokenizer.json`; litellm is a pinned dependency of the
proxy, so every install has the file. It is located with `importlib.util.find_spec`, which does not
import litellm (seconds of import time), and read with `tokenizers`. No hub download.

`tokenizers` costs ~1.3 us per token on this project's reference machine, too slow for the hot path on
long prompts, so conversations up to `EXACT_CHARS` characters are counted exactly and longer ones with a linear
estimate from cheap counts (words, symbols, non-ASCII characters, characters) whose coefficients are
fitted against the same tokenizer on the training prompts by `scripts/fit_text_models.py` and shipped
in `tokens.json` (its error is recorded there). When the tokenizer file is missing, every text uses the
estimate; the features then differ slightly for short prompts, and `TokenCounter.exact` says so.
"""

from __future__ import annotations

import importlib.util
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

EXACT_CHARS = 600
CALIBRATION_FILE = Path(__file__).with_name("tokens.json")
TOKENIZER_REL = Path("litellm_core_utils") / "tokenizers" / "anthropic_tokenizer.json"


@dataclass(frozen=True)
class TextCounts:
    """Cheap counts of one text; `estimate` turns them into tokens."""

    chars: int
    words: int
    word_chars: int
    spaces: int
    non_ascii: int

    @property
    def symbols(self) -> int:
        return max(0, self.chars - self.word_chars - self.spaces)


def text_counts(text: str, words: list[str]) -> TextCounts:
    return TextCounts(
        chars=len(text),
        words=len(words),
        word_chars=len("".join(words)),  # one join in C: a sum of len() per word cost 8 us on a 500-word ask, this 3
        spaces=text.count(" ") + text.count("\n") + text.count("\t"),
        non_ascii=0 if text.isascii() else len(text.encode("utf-8")) - len(text),
    )


@dataclass(frozen=True)
class Estimator:
    per_word: float
    per_symbol: float
    per_non_ascii_byte: float
    per_char: float

    def tokens(self, c: TextCounts) -> float:
        return (
            self.per_word * c.words
            + self.per_symbol * c.symbols
            + self.per_non_ascii_byte * c.non_ascii
            + self.per_char * c.chars
        )


class TokenCounter:
    """Counts tokens exactly for short texts and by the fitted estimate for long ones."""

    def __init__(self, tokenizer: Any | None, estimator: Estimator) -> None:
        self._tokenizer = tokenizer
        self.estimator = estimator

    @property
    def exact(self) -> bool:
        return self._tokenizer is not None

    def count(self, text: str, counts: TextCounts, exact: bool = True) -> int:
        """Tokens of `text`; exact when allowed, a tokenizer is loaded and the text is short."""
        if not text:
            return 0
        if exact and self._tokenizer is not None and len(text) <= EXACT_CHARS:
            # The encoding's length, not its ids: a Python list of them cost a quarter of the call (475 characters).
            return len(self._tokenizer.encode(text, add_special_tokens=False))
        return max(1, round(self.estimator.tokens(counts)))


def find_tokenizer_file() -> Path | None:
    spec = importlib.util.find_spec("litellm")
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / TOKENIZER_REL
    return path if path.is_file() else None


def load_token_counter(tokenizer_file: Path | None = None, calibration: Path = CALIBRATION_FILE) -> TokenCounter:
    raw = json.loads(calibration.read_text(encoding="utf-8"))
    estimator = Estimator(**raw["estimator"])
    path = tokenizer_file or find_tokenizer_file()
    if path is None:
        logger.warning("tokenizer file not found (is litellm installed?); token counts are estimated")
        return TokenCounter(None, estimator)
    from tokenizers import Tokenizer  # only here: the one module that loads a tokenizer

    return TokenCounter(Tokenizer.from_file(str(path)), estimator)
