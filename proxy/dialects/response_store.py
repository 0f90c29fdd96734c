"""The Responses API's stored responses: what `previous_response_id` continues and `GET /v1/responses/{id}`
returns. Kept in this process's memory, the most recent `capacity` only, each visible to the API key that
made it: a restart, or another replica, does not know them, and asking for one is a clear 400 / 404."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

DEFAULT_CAPACITY = 1000


@dataclass(frozen=True)
class Stored:
    response: dict[str, Any]
    conversation: list[dict[str, Any]]  # chat messages up to and including this response's output
    owner: str | None  # the API key id that made it (None when the gateway runs without keys)


class ResponseStore:
    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self.capacity = capacity
        self._items: OrderedDict[str, Stored] = OrderedDict()

    def put(self, stored: Stored) -> None:
        self._items[stored.response["id"]] = stored
        self._items.move_to_end(stored.response["id"])
        while len(self._items) > self.capacity:
            self._items.popitem(last=False)

    def get(self, response_id: str, owner: str | None) -> Stored | None:
        stored = self._items.get(response_id)
        if stored is None or stored.owner != owner:
            return None
        return stored
