"""Prices: what each backend costs now, read by the router once per decision.

Start-up prices come from the config (prices set there) or from litellm's local cost map (config.py). With
`[prices] refresh_url`, a price file in litellm's format (its published model_prices_and_context_window.json,
or the operator's own in the same format) re-prices every backend whose prices do not come from the config;
`pricefeed.py` fetches it on a schedule. Prices set in the config always win.

Backend configs are frozen: the book holds re-priced copies and replaces its whole table in one assignment,
so a decision that took `table()` sees one consistent set of prices, never a half-applied update. A file
that is not valid for every backend it would re-price changes nothing.

The router's LLM features keep the catalog's prices: they describe each model to the scorer as it was
trained. Costs (choice, limits, the log, budgets) follow the live prices.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from proxy.settings import Backend, Prices
from proxy.upstream import costmap

# litellm's field -> ours. Per-call prices have no litellm field; they only come from the config.
_FIELDS = {
    "input_cost_per_token": "input_per_token",
    "output_cost_per_token": "output_per_token",
    "output_cost_per_second": "per_second",
}


class PriceFileError(ValueError):
    """A price file that cannot be used; the message says why (and never holds the file's URL)."""


def parse_price_file(raw: bytes) -> Mapping[str, Any]:
    """The model entries of a litellm-format price file."""
    try:
        data = json.loads(raw)
    except UnicodeDecodeError:
        raise PriceFileError("not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise PriceFileError(f"not JSON ({exc.msg} at line {exc.lineno})") from None
    except RecursionError:
        raise PriceFileError("nested too deeply to be a price file") from None
    if not isinstance(data, dict) or not data:
        raise PriceFileError("expected a non-empty JSON object of model entries")
    data.pop("sample_spec", None)
    return data


def prices_from_entry(key: str, entry: Any) -> Prices:
    if not isinstance(entry, Mapping):
        raise PriceFileError(f"entry {key!r} is not an object")
    given = {ours: entry[theirs] for theirs, ours in _FIELDS.items() if entry.get(theirs) is not None}
    if not given:
        raise PriceFileError(f"entry {key!r} has none of {', '.join(_FIELDS)}")
    for field, value in given.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
            raise PriceFileError(f"entry {key!r}: {field} must be a non-negative number, got {value!r}")
    return Prices(**{k: float(v) for k, v in given.items()}, source="refresh")


class PriceBook:
    def __init__(self, backends: Sequence[Backend]) -> None:
        self._table: Mapping[str, Backend] = {b.name: b for b in backends}
        self.updated_at: float | None = None  # unix time of the last refresh that applied

    def table(self) -> Mapping[str, Backend]:
        """Backend name -> backend with its current prices. Take it once per decision."""
        return self._table

    def backend(self, name: str) -> Backend | None:
        return self._table.get(name)

    def apply(self, entries: Mapping[str, Any]) -> dict[str, Prices]:
        """Re-price from a price file's entries; return the backends whose prices changed.

        Backends priced by the config, and those the file does not list, keep their prices. Raises
        `PriceFileError`, changing nothing, when an entry a backend would use is invalid.
        """
        table: dict[str, Backend] = {}
        changed: dict[str, Prices] = {}
        for name, backend in self._table.items():
            key = backend.price_key or backend.model
            entry = None if backend.prices.source == "config" else costmap.find(entries, key)
            if entry is None:
                table[name] = backend
                continue
            prices = prices_from_entry(key, entry)
            if prices != backend.prices:
                changed[name] = prices
            table[name] = replace(backend, prices=prices)
        self._table = table
        self.updated_at = time.time()
        return changed
