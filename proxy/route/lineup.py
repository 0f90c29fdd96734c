"""What depends only on a decision's candidates, worked out once per candidate list, not once per request.

A routed request is scored against its candidates' profiles; most of what the features, the scores and the
router need from those profiles (the LLM feature block, the latency grids, output limits) is the same on
every request with the same candidates. `LineupCache` keeps it, keyed by the identity of the profile
objects: profiles are frozen and a new configuration or a model reload (`Knowledge`) makes new ones, so a
changed profile is a miss and never a stale hit. Each entry holds the profiles themselves, so an `id` cannot
be reused while its entry lives; the cache is cleared when it reaches `size` (candidate lists repeat: an
alias's backends, a client's `router.candidates`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from operator import is_
from typing import Generic, TypeVar

from proxy.route.profile import LLMProfile

T = TypeVar("T")
DEFAULT_SIZE = 4096


class LineupCache(Generic[T]):
    def __init__(self, build: Callable[[tuple[LLMProfile, ...]], T], size: int = DEFAULT_SIZE) -> None:
        self._build = build
        self._size = size
        self._entries: dict[tuple[int, ...], tuple[tuple[LLMProfile, ...], T]] = {}

    def __call__(self, profiles: Sequence[LLMProfile]) -> T:
        key = tuple(map(id, profiles))
        hit = self._entries.get(key)
        if hit is not None and all(map(is_, hit[0], profiles)):
            return hit[1]
        if len(self._entries) >= self._size:
            self._entries.clear()
        built = tuple(profiles)
        value = self._build(built)
        self._entries[key] = (built, value)
        return value
