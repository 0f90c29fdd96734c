"""Reader for the long routing-data format: one row = one (prompt, model) outcome.

The format is the one documented in `../shared/data/README.md` (gzip or plain CSV, header row, RFC-4180
quoting). It is the project's import format, shared by training, evaluation and the simulated backends.
Stdlib only, so any script can use it without the serving or training dependencies.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

COLUMNS = (
    "source",
    "prompt_id",
    "prompt",
    "model",
    "correct",
    "input_tokens",
    "output_tokens",
    "cost_usd",
    "latency_s",
    "task",
    "split",
    "label_type",
    "score_raw",
    "response_chars",
)
# A file must name these; any other column may be left out of the header and reads as empty. A missing
# `source` reads as the file's name, so a user's own file needs only a prompt, a model and a label.
REQUIRED = ("prompt", "model", "correct")


class DataError(ValueError):
    """Invalid routing data, with the file, line and column it is about: the CLI shows it without a traceback."""


@dataclass(frozen=True)
class LongRow:
    source: str
    prompt_id: str
    prompt: str
    model: str
    correct: float | None
    input_tokens: int | None
    output_tokens: int | None
    cost_usd: float | None
    latency_s: float | None
    task: str
    split: str
    label_type: str
    score_raw: str
    response_chars: int | None


def normalize_prompt(text: str) -> str:
    """Casefolded, whitespace-collapsed text: the identity of a prompt across sources."""
    return " ".join(text.casefold().split())


def prompt_key(text: str) -> str:
    """A short stable hash of the normalised prompt, for deduplication and lookups."""
    return hashlib.sha256(normalize_prompt(text).encode("utf-8")).hexdigest()[:16]


# Templates that wrap a benchmark question (ZeroEval, MMLU-Pro, LLMRouter's GSM8K, RouteLLM's MMLU): the same
# GSM8K or MMLU question appears in several sources under different ones.
_SUFFIXES = ("\nAfter careful thought, put you final answer in \\boxed{...}.",)


def question_text(text: str) -> str:
    """The question without the template around it, so one question has one identity across sources."""
    if "## Question:" in text and "## Instruction" in text:
        return text.split("## Question:", 1)[1].split("## Instruction", 1)[0]
    if text.startswith("Question:\n") and "\nOptions:\n" in text:
        return text[len("Question:\n") :].split("\nOptions:\n", 1)[0]
    if text.rstrip().endswith("Answer:") and text.count("\nA. ") == 1:
        return text.split("\nA. ", 1)[0]
    for suffix in _SUFFIXES:
        if text.endswith(suffix):
            return text[: -len(suffix)]
    return text


def question_key(text: str) -> str:
    """`prompt_key` of the question without its template: what the train/test split is decided on."""
    return prompt_key(question_text(text))


def benchmark_of(task: str) -> str:
    """The benchmark a task column names: the part before its first ':' (RouteLLM's "mmlu:anatomy",
    "mt_bench:stem", "gsm8k"), the whole column when it has none."""
    return task.split(":", 1)[0]


def find_long_files(data_dir: Path) -> list[Path]:
    """Every `*_long.csv.gz` under `data_dir`, in a stable order."""
    return sorted(Path(data_dir).rglob("*_long.csv.gz"))


def iter_rows(path: Path) -> Iterator[LongRow]:
    """Yield the rows of a long-format `.csv` or `.csv.gz` file.

    Raises DataError naming the file and line for a missing required column or a malformed value.
    """
    path = Path(path)
    try:
        handle = _open_text(path)
    except OSError as exc:
        raise DataError(f"{path}: cannot open ({exc.strerror or exc})") from None
    with handle:
        reader = csv.DictReader(handle)
        try:
            yield from _records(path, reader)
        except (csv.Error, UnicodeDecodeError, EOFError, OSError) as exc:
            raise DataError(f"{path}:{reader.line_num}: unreadable ({exc})") from None


def _records(path: Path, reader: csv.DictReader[str]) -> Iterator[LongRow]:
    header = tuple(reader.fieldnames or ())
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise DataError(
            f"{path}: missing column(s) {', '.join(missing)} in the header "
            f"(required: {', '.join(REQUIRED)}; optional: {', '.join(c for c in COLUMNS if c not in REQUIRED)})"
        )
    absent: dict[str | None, str | list[str] | None] = {c: "" for c in COLUMNS if c not in header}
    if "source" in absent:
        absent["source"] = path.name.split(".", 1)[0]
    for record in reader:
        try:
            yield _parse({**absent, **record} if absent else record)
        except ValueError as exc:
            # line_num counts physical lines, so it points at the end of a multi-line record.
            raise DataError(f"{path}:{reader.line_num}: {exc}") from None


def _open_text(path: Path) -> io.TextIOWrapper:
    if path.name.endswith(".gz"):
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="")
    if path.suffix == ".csv":
        return open(path, encoding="utf-8", newline="")
    raise DataError(f"{path}: expected a .csv or .csv.gz file")


def _parse(record: dict[str | None, str | list[str] | None]) -> LongRow:
    if None in record:
        raise ValueError("more fields than the header has")
    values: dict[str, str] = {}
    for column in COLUMNS:
        value = record.get(column)
        if not isinstance(value, str):
            raise ValueError(f"too few fields (no value for {column!r})")
        values[column] = value
    correct = _float(values, "correct")
    if correct is not None and not 0.0 <= correct <= 1.0:
        raise ValueError(f"correct={values['correct']!r} is outside [0, 1]")
    return LongRow(
        source=values["source"],
        prompt_id=values["prompt_id"],
        prompt=values["prompt"],
        model=values["model"],
        correct=correct,
        input_tokens=_int(values, "input_tokens"),
        output_tokens=_int(values, "output_tokens"),
        cost_usd=_float(values, "cost_usd"),
        latency_s=_float(values, "latency_s"),
        task=values["task"],
        split=values["split"],
        label_type=values["label_type"],
        score_raw=values["score_raw"],
        response_chars=_int(values, "response_chars"),
    )


def _float(values: dict[str, str], column: str) -> float | None:
    text = values[column].strip()
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{column}={text!r} is not a number") from None


def _int(values: dict[str, str], column: str) -> int | None:
    number = _float(values, column)
    if number is None:
        return None
    if not number.is_integer():
        raise ValueError(f"{column}={values[column]!r} is not a whole number")
    return int(number)
