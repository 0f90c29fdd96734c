"""What every subcommand shares: how it is declared, and the guard around the [train] extra's imports."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager

# Top-level names of the [train] extra's libraries (pyproject.toml), as an ImportError names them.
TRAIN_EXTRA = frozenset({"sklearn", "lightgbm", "skl2onnx", "onnxmltools", "onnx", "matplotlib"})
NEEDS_TRAIN = "needs the [train] extra: pip install 'llm-switchyard[train]'"

Commands = argparse._SubParsersAction  # what add_subparsers returns; argparse names no public type for it


class MissingTrainExtra(Exception):
    """A [train] library a command needs is not installed; the message is its name."""


@contextmanager
def train_extra() -> Iterator[None]:
    """Around the imports of a command's training modules, before it starts work: a missing [train]
    library becomes MissingTrainExtra (any other ImportError is a real bug and propagates)."""
    try:
        yield
    except ImportError as exc:
        if (exc.name or "").partition(".")[0] not in TRAIN_EXTRA:
            raise
        raise MissingTrainExtra(exc.name) from exc


def command(commands: Commands, name: str, summary: str, details: str) -> argparse.ArgumentParser:
    """A subcommand whose one-line `summary` shows in `switchyard --help` and whose `--help` adds `details`
    (what it reads, what it writes)."""
    return commands.add_parser(
        name,
        help=summary,
        description=f"{summary}\n\n{details}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
