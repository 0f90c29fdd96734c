"""What `switchyard train` trains on: long-format files, and the labelled calls of proxy logs.

Stdlib and the log reader only (no [train] library), so a log can be exported for training where the
training libraries are not installed.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Sequence
from pathlib import Path

from proxy.log import dsn as dsn_mod
from proxy.log.records import LogStoreError
from proxy.training.dataset import find_long_files
from proxy.training.export_log import long_row, records, write_csv

log = logging.getLogger(__name__)


class TrainingError(Exception):
    """Training cannot go on (no data, an unreadable log, a model export that disagrees): the message says why."""


def data_files(data: Sequence[str | Path] = (), data_dir: str | Path = "", logs: Sequence[str] = ()) -> list[Path]:
    """`data` files; else, unless training from `logs` alone, every long file under `data_dir`; plus the logs."""
    logged = [export_labelled(db) for db in logs]
    if data:
        return [Path(f) for f in data] + logged
    if logged:
        return logged
    files = find_long_files(Path(data_dir))
    if not files:
        raise TrainingError(f"no *_long.csv.gz under {data_dir}; pass --data FILE")
    return files


def export_labelled(db: str) -> Path:
    """The labelled calls of a proxy log (SQLite file or Postgres DSN) as a long-format file, for training."""
    name = Path(db).stem if not dsn_mod.is_dsn(db) else "postgres"
    out = Path(tempfile.mkdtemp(prefix="switchyard-train-")) / f"{name}-labelled.csv.gz"
    try:
        rows = write_csv((long_row(r) for r in records(db, labelled_only=True)), out)
    except LogStoreError as exc:
        raise TrainingError(f"--log {dsn_mod.redact(db)}: {exc}") from None
    log.info("exported %d labelled calls from %s", rows, dsn_mod.redact(db))
    if not rows:
        raise TrainingError(
            f"--log {dsn_mod.redact(db)}: no labelled calls to train on "
            "(label them with `switchyard label` or POST /v1/feedback)"
        )
    return out
