"""Prices: what each backend costs, derived once at start-up and read by the router once per decision.

`list_prices` is the one place start-up prices are derived from: the catalog's own list prices where it
gives them (source "catalog"), else litellm's local cost map (source "litellm"). `config.py` uses it for
every backend whose config sets no prices (prices set there, source "config", always win). With
`[prices] refresh_url`, a price file in litellm's format (its published model_prices_and_context_window.json,
or the operator's own in the same format) re-prices every backend whose prices do not come from the config;
`pricefeed.py` fetches it on a schedule.

Backend configs are frozen: the book holds re-priced copies and replaces its whole table in one assignment,
so a decision that took `table()` sees one consistent set of prices, never a half-applied update. A file
that is not valid for every backend it would re-price changes nothing.

The router's LLM features keep the start-up prices (`Backend.profile`): they describe each model to the
scorer as it was trained. Costs (choice, limits, the log, budgets) follow the live prices.
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


def list_prices(key: str, input_per_mtok: float | None = None, output_per_mtok: float | None = None) -> Prices:
    """A model's start-up prices: the catalog's list prices (USD per million tokens) where given, the rest from
    litellm's local cost map under `key` (tried as given, then without its provider prefix)."""
    known = costmap.lookup(key) or {}
    listed = input_per_mtok is not None or output_per_mtok is not None
    if not listed and not known:
        return Prices()
    return Prices(
        input_per_token=_per_token(input_per_mtok, known.get("input_cost_per_token")),
        output_per_token=_per_token(output_per_mtok, known.get("output_cost_per_token")),
        # A per-second price from the cost map would add to the catalog's per-token list prices, not replace them.
        per_second=0.0 if listed else float(known.get("output_cost_per_second") or 0.0),
        source="catalog" if listed else "litellm",
    )


def _per_token(per_mtok: float | None, known: Any) -> float:
    if per_mtok is not None:
        return per_mtok / 1e6
    return float(known) if isinstance(known, int | float) and not isinstance(known, bool) else 0.0


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
