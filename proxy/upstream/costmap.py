"""litellm's local cost map, read as a JSON file without importing litellm.

Importing litellm takes seconds and hundreds of MB; the proxy only needs its price table at
config-load time, so it reads the file litellm ships (``model_prices_and_context_window_backup.json``)
straight from the installed package. Prices are USD per token (or per second, for some models).
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

_COST_MAP_FILE = "model_prices_and_context_window_backup.json"


@cache
def cost_map() -> Mapping[str, Mapping[str, Any]]:
    spec = importlib.util.find_spec("litellm")
    if spec is None or spec.origin is None:
        return {}
    path = Path(spec.origin).parent / _COST_MAP_FILE
    if not path.exists():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    data.pop("sample_spec", None)
    return data


def lookup(model: str) -> Mapping[str, Any] | None:
    """The cost-map entry for a litellm model string: tried as given, then without its provider prefix."""
    return find(cost_map(), model)


def find(table: Mapping[str, Any], model: str) -> Any:
    """`model`'s entry in a table keyed like litellm's cost map (this one, or a refreshed price file), or None."""
    if model in table:
        return table[model]
    if "/" in model:
        bare = model.split("/", 1)[1]
        if bare in table:
            return table[bare]
    return None
