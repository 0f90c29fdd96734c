"""Filler text and the simulator's tokenizer: a token is `measured.CHARS_PER_TOKEN` characters.

The data measures answers in characters, and the router's length model learned tokens as characters / 4
(`proxy.route.measured`); a simulated answer of the data's length must then have the tokens the router
predicts for it, so the simulator cuts text into pieces of exactly that many characters.
"""

from __future__ import annotations

import random

from proxy.route.measured import CHARS_PER_TOKEN, tokens_for_chars

WORDS = tuple(
    """
    the model answer first value result because which follows from given data step each case then this
    shows that we can see number total option correct reason simple check list function return input
    output example method approach problem question part second final therefore so it is a an of to in
    and for with on by as are be not all more most other same new time way point order group level
    system process change effect small large high low short long clear known likely usually often only
    also both between after before under over into about since while where when how why what these
    those there here would should could will may must makes gives uses takes
    """.split()
)
_WIDTH = int(CHARS_PER_TOKEN)


def tokens(text: str) -> list[str]:
    """Split text into token-sized pieces whose concatenation is the text."""
    return [text[i : i + _WIDTH] for i in range(0, len(text), _WIDTH)]


def count_tokens(text: str) -> int:
    return tokens_for_chars(len(text))


def filler(rand: random.Random, chars: int) -> str:
    """Sentences of common words, cut to exactly `chars` characters (at least one)."""
    chars = max(1, chars)
    sentences: list[str] = []
    length = 0
    while length < chars:
        words = [rand.choice(WORDS) for _ in range(rand.randint(6, 16))]
        sentence = " ".join(words).capitalize() + "."
        sentences.append(sentence)
        length += len(sentence) + 1
    return " ".join(sentences)[:chars].rstrip() or "A"
