"""Count the fields on which the capability filter and the LLM features see a backend differently.

One backend per catalog model, configured with only `name` and `model` (the catalog id), loaded
through the config like a real file. For each backend, every field both the filter side (the
backend as `choice.py` and prices read it) and the feature side (the profile `Knowledge` hands the
features) carry is compared; each difference counts once.

Usage: .venv/bin/python -m scripts.profile_disagreements [--verbose]
"""

from __future__ import annotations

import argparse
from typing import Any

from proxy import config as config_mod
from proxy.route.catalog import load_catalog
from proxy.route.features import default_resources
from proxy.route.router import Knowledge
from proxy.settings import Backend

FIELDS = config_mod.DESCRIPTIVE_KEYS  # every field a backend may describe, each read from the profile


def filter_side(b: Backend) -> dict[str, Any]:
    """The values the filter and the cost estimate read (the profile the backend holds, where it holds one)."""
    source: Any = getattr(b, "profile", b)
    values = {f: getattr(source, f) for f in FIELDS}
    priced = b.prices.source != "none"
    values["input_per_token"] = b.prices.input_per_token if priced else None
    values["output_per_token"] = b.prices.output_per_token if priced else None
    return values


# What choice.py's filter and cost estimate act on; the other fields only reach the features.
FILTERED = (
    "context_window",
    "supports_tools",
    "supports_vision",
    "supports_json",
    "input_per_token",
    "output_per_token",
)


def disagreements(verbose: bool = False, fields: tuple[str, ...] | None = None) -> int:
    """How many (backend, field) pairs differ; `fields`: only these (default: every shared field)."""
    ids = sorted(load_catalog().entries)
    raw = {"backend": [{"name": cid, "model": cid} for cid in ids]}
    config = config_mod.parse(raw)
    profiles = Knowledge.load(config, resources=default_resources()).profiles
    count = 0
    for b in config.backends:
        p = profiles[b.name]
        for field, value in filter_side(b).items():
            if (fields is None or field in fields) and value != getattr(p, field):
                count += 1
                if verbose:
                    print(f"{b.name}.{field}: filter {value!r}, features {getattr(p, field)!r}")
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--verbose", action="store_true", help="print each disagreement")
    args = parser.parse_args()
    n = disagreements(args.verbose)
    print(f"{n} field disagreements over {len(load_catalog().entries)} catalog models", end="; ")
    print(f"{disagreements(fields=FILTERED)} of them on what the filter and the cost estimate read")


if __name__ == "__main__":
    main()
