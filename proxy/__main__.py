"""`python -m proxy --config config.toml`: serve the proxy, as `switchyard serve` does (same options)."""

from __future__ import annotations

import sys

from proxy.cli import main

if __name__ == "__main__":
    sys.exit(main(["serve", *sys.argv[1:]]))
