"""Which backend answered which conversation, so a follow-up turn can stay with it (stickiness).

A conversation is recognised by its message prefix: the key of a turn is a hash of every message up
to and including the last assistant message. After an answer, the proxy stores the key of the
conversation as the client will send it back (its messages plus the answer), so the next turn finds
it. Bounded LRU in memory, per process; nothing of the text is kept, only hashes.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Sequence

from proxy.request import Message


def _key(turns: Sequence[tuple[str, str]]) -> str:
    digest = hashlib.blake2b(digest_size=16)
    for role, text in turns:
        digest.update(role.encode())
        digest.update(b"\x00")
        digest.update(text.encode("utf-8", "surrogatepass"))
        digest.update(b"\x01")
    return digest.hexdigest()


class ConversationMemory:
    def __init__(self, size: int = 50_000) -> None:
        self.size = size
        self._last: OrderedDict[str, str] = OrderedDict()

    def previous(self, messages: Sequence[Message]) -> str | None:
        """The backend that answered up to the conversation's last assistant message, if known."""
        last = max((i for i, m in enumerate(messages) if m.role == "assistant"), default=None)
        if last is None:
            return None
        key = _key([(m.role, m.text) for m in messages[: last + 1]])
        backend = self._last.get(key)
        if backend is not None:
            self._last.move_to_end(key)
        return backend

    def answered(self, messages: Sequence[Message], answer: str, backend: str) -> None:
        key = _key([*((m.role, m.text) for m in messages), ("assistant", answer)])
        self._last[key] = backend
        self._last.move_to_end(key)
        while len(self._last) > self.size:
            self._last.popitem(last=False)
