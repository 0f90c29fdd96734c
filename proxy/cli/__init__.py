"""`switchyard`: one command for serving and for the offline work around it (the package's entry point).

`serve` runs the proxy and `demo` runs it on simulated backends (`serving.py`); `label`, `export`,
`train`, `evaluate` and `replay` close the loop from the call log to the next models (`offline.py`).
Each subcommand imports what it needs only when it runs, so `switchyard --help` and `serve` never load
the training libraries. Those (the `[train]` extra) are imported only by `proxy/training` modules; a
command that needs them and lacks them exits 2 saying how to install them. Reports go to stdout,
progress to logging.
"""

from __future__ import annotations

import argparse
import sys

from proxy.cli import offline, serving
from proxy.cli.common import NEEDS_TRAIN, MissingTrainExtra
from proxy.training.dataset import DataError

PROG = "switchyard"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Switchyard: an OpenAI-compatible proxy that routes each chat request to the LLM predicted "
        "to answer acceptably, fastest and cheapest, and the offline tools that retrain it on its own log.",
        epilog=f"`{PROG} COMMAND --help` explains a command: what it reads and what it writes.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serving.add(commands)
    offline.add(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = argv  # a report records the command that made it
    try:
        return int(args.run(args))
    except MissingTrainExtra as exc:
        parser.exit(2, f"{PROG} {args.command}: {NEEDS_TRAIN} ({exc} is not installed)\n")
    except DataError as exc:
        parser.exit(2, f"{PROG} {args.command}: invalid data: {exc}\n")
