"""The conversation as the feature code sees it: the ask, its context, the system prompt, some counts.

The ask is the latest user message with text: a trailing tool result or assistant turn is not the
request (agent loops end with tool output), and the system prompt is boilerplate set by the client
app, so both are kept apart and weighted down by the callers. Texts are truncated by design so the
cost of the features is bounded whatever the prompt size: the ask keeps its head and its tail (where
instructions and the actual question live), the context keeps its most recent part, the system
prompt its head. Sizes of the untruncated texts are kept so length features stay true.
"""

from __future__ import annotations

import re
from collections.abc import Container, Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from itertools import compress

import numpy as np

from proxy.request import Message

ASK_HEAD = 4000
ASK_TAIL = 1500
CONTEXT_CHARS = 2000
SYSTEM_CHARS = 1500
CUE_HEAD = 500  # instruction cues are looked for in the ask's head and tail only
CUE_TAIL = 400
CUE_BEFORE = 40  # a cue regex is searched from this many characters before a trigger
CUE_AFTER = 80  # to this many after it

# A word is a run of letters and digits, "+" included so "c++" stays one word. ASCII text (most
# prompts) is split with a byte table in C; other text with the equivalent regex.
WORD_RE = re.compile(r"[^\W_]+(?:\+\+)?")
_ASCII_WORDS = bytes(c if (97 <= c <= 122 or 48 <= c <= 57 or c == 43) else 32 for c in range(256))
TOOL_ROLES = frozenset({"tool", "function"})
SYSTEM_ROLES = frozenset({"system", "developer"})


@dataclass(frozen=True)
class Conversation:
    ask: str
    context: str
    system: str
    ask_chars: int  # before truncation
    context_chars: int
    system_chars: int
    tool_chars: int
    user_turns: int
    assistant_turns: int
    tool_messages: int
    has_image: bool
    has_audio: bool

    @property
    def total_chars(self) -> int:
        return self.ask_chars + self.context_chars + self.system_chars + self.tool_chars

    @property
    def truncated(self) -> bool:
        return (
            self.ask_chars > len(self.ask)
            or self.context_chars > len(self.context)
            or self.system_chars > len(self.system)
        )

    @cached_property
    def ask_words(self) -> list[str]:
        """`words(self.ask)`, split once for every feature that reads them (the prompt features and the lexical
        vector): a second split of a 500-word ask cost the decision ~16 us. Read-only."""
        return words(self.ask)

    @property
    def cue_text(self) -> str:
        """Where instructions are, lower-cased: the ask's head and tail, then the system prompt's head."""
        ask = self.ask if len(self.ask) <= CUE_HEAD + CUE_TAIL else self.ask[:CUE_HEAD] + "\n" + self.ask[-CUE_TAIL:]
        return (ask + "\n" + self.system[:CUE_HEAD] if self.system else ask).lower()


def conversation(messages: Sequence[Message]) -> Conversation:
    ask_at = next((i for i in range(len(messages) - 1, -1, -1) if _is_ask(messages[i])), -1)
    ask = messages[ask_at].text if ask_at >= 0 else ""
    context_parts: list[str] = []
    system_parts: list[str] = []
    tool_chars = tool_messages = user_turns = assistant_turns = 0
    for i, m in enumerate(messages):
        if m.role in SYSTEM_ROLES:
            system_parts.append(m.text)
        elif m.role in TOOL_ROLES:
            tool_messages += 1
            tool_chars += len(m.text)
        else:
            if m.role == "user":
                user_turns += 1
            else:
                assistant_turns += 1
            if i != ask_at and m.text:
                context_parts.append(m.text)
    context = "\n".join(context_parts)
    system = "\n".join(system_parts)
    return Conversation(
        ask=clean(_head_tail(ask, ASK_HEAD, ASK_TAIL)),
        context=clean(context[-CONTEXT_CHARS:]),
        system=clean(system[:SYSTEM_CHARS]),
        ask_chars=len(ask),
        context_chars=len(context),
        system_chars=len(system),
        tool_chars=tool_chars,
        user_turns=user_turns,
        assistant_turns=assistant_turns,
        tool_messages=tool_messages,
        has_image=any(m.has_image for m in messages),
        has_audio=any(m.has_audio for m in messages),
    )


def words(text: str) -> list[str]:
    low = text.lower()
    if low.isascii():
        return low.encode("ascii").translate(_ASCII_WORDS).decode("ascii").split()
    return WORD_RE.findall(low)


def clean(text: str) -> str:
    """Text safe for every later stage: lone surrogates (valid in JSON, invalid in UTF-8) become U+FFFD."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in text)
    return text


def _is_ask(m: Message) -> bool:
    return m.role == "user" and bool(m.text.strip())


def _head_tail(text: str, head: int, tail: int) -> str:
    if len(text) <= head + tail:
        return text
    return text[:head] + "\n" + text[-tail:]


def find_cue(
    pattern: re.Pattern[str],
    triggers: tuple[str, ...],
    text: str,
    anchored: bool = False,
    absent: Container[str] = (),
) -> re.Match[str] | None:
    """`pattern.search(text)`, but only at (`anchored`) or around occurrences of a trigger substring:
    `str.find` is far cheaper than a regex scan of the whole text, and most cues are absent.
    Without triggers: a full search. `absent`: triggers known not to occur in `text` (`TriggerFilter`), skipped."""
    if not triggers:
        return pattern.search(text)
    for trigger in triggers:
        if trigger in absent:
            continue
        i = text.find(trigger)
        while i >= 0:
            if anchored:
                m = pattern.match(text, i)
            else:
                m = pattern.search(text, max(0, i - CUE_BEFORE), i + len(trigger) + CUE_AFTER)
            if m:
                return m
            i = text.find(trigger, i + len(trigger))
    return None


_TRIGRAM_TABLE = 1 << 16  # the hash of a 3-byte window is 16 bits
# Below this many characters the table costs more than it saves (in-process A/B of whole decisions: +17 us at
# 50 characters, +7 at 300, -9 at 600, -17 to -35 at ~1000).
FILTER_MIN_CHARS = 500


def _trigram_codes(raw: bytes) -> np.ndarray:
    """Each 3-byte window of `raw` (3 bytes or more) hashed to 16 bits (uint16 shifts drop the higher ones)."""
    b = np.frombuffer(raw, dtype=np.uint8).astype(np.uint16)
    return (b[:-2] << 10) ^ (b[1:-1] << 5) ^ b[2:]


class TriggerFilter:
    """Which of a fixed set of `find_cue` triggers certainly do not occur in a text, from one pass over it.

    Every 3-byte window of the text's UTF-8 is hashed into a 64k-entry table; a trigger with a window not in the
    table cannot occur (a collision only lets a trigger through to its `str.find`, never the other way). The cue
    rules have ~100 triggers, each a ~0.5 us `str.find` over a ~1000-character cue text, and few occur: the
    table costs ~15 us and rules out ~85 of them (56 -> 24 us on bench_features' prompt). Triggers shorter than
    three bytes are never ruled out, and nothing is in a text shorter than `FILTER_MIN_CHARS`."""

    def __init__(self, triggers: Iterable[str]) -> None:
        self._triggers = tuple(sorted({t for t in triggers if len(t.encode("utf-8")) >= 3}))
        codes = [_trigram_codes(t.encode("utf-8")) for t in self._triggers]
        self._codes = np.concatenate(codes) if codes else np.empty(0, dtype=np.uint32)
        self._starts = np.cumsum([0, *map(len, codes[:-1])])

    def absent(self, text: str) -> frozenset[str]:
        if len(text) < FILTER_MIN_CHARS or not self._triggers:
            return frozenset()  # searching for every trigger costs less than the table (or there is none)
        seen = np.zeros(_TRIGRAM_TABLE, dtype=bool)
        seen[_trigram_codes(text.encode("utf-8", "surrogatepass"))] = True
        found = np.logical_and.reduceat(seen[self._codes], self._starts)
        return frozenset(compress(self._triggers, (~found).tolist()))
