"""The long-format loader, on small files written here and on the real data when it is present."""

from __future__ import annotations

import csv
import gzip
from pathlib import Path

import pytest

from proxy.training.dataset import COLUMNS, DataError, LongRow, find_long_files, iter_rows, normalize_prompt, prompt_key

DATA_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data"

ROWS = [
    {
        "source": "demo",
        "prompt_id": "p1",
        "prompt": 'Line one,\n  "quoted" line two',
        "model": "gpt-4-1106-preview",
        "correct": "1.0",
        "input_tokens": "",
        "output_tokens": "12",
        "cost_usd": "0.0050",
        "latency_s": "",
        "task": "mmlu:anatomy",
        "split": "test",
        "label_type": "benchmark_correct_0_1",
        "score_raw": "True",
        "response_chars": "233",
    },
    {
        "source": "demo",
        "prompt_id": "p2",
        "prompt": "Second prompt",
        "model": "mixtral-8x7b",
        "correct": "",
        "input_tokens": "",
        "output_tokens": "",
        "cost_usd": "",
        "latency_s": "",
        "task": "",
        "split": "",
        "label_type": "",
        "score_raw": "",
        "response_chars": "",
    },
]


def write(path: Path, rows: list[dict[str, str]], columns: tuple[str, ...] = COLUMNS) -> Path:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "wt", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(columns), extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.mark.parametrize("name", ["demo_long.csv", "demo_long.csv.gz"])
def test_reads_typed_rows_from_csv_and_gzip(tmp_path: Path, name: str) -> None:
    first, second = iter_rows(write(tmp_path / name, ROWS))
    assert first == LongRow(
        source="demo",
        prompt_id="p1",
        prompt='Line one,\n  "quoted" line two',
        model="gpt-4-1106-preview",
        correct=1.0,
        input_tokens=None,
        output_tokens=12,
        cost_usd=0.005,
        latency_s=None,
        task="mmlu:anatomy",
        split="test",
        label_type="benchmark_correct_0_1",
        score_raw="True",
        response_chars=233,
    )
    assert second.correct is None and second.cost_usd is None and second.response_chars is None


def test_missing_required_column_names_the_file_and_what_is_required(tmp_path: Path) -> None:
    path = write(tmp_path / "x_long.csv", ROWS, tuple(c for c in COLUMNS if c != "correct"))
    with pytest.raises(DataError, match=r"x_long\.csv: missing column\(s\) correct .*required: prompt, model, correct"):
        list(iter_rows(path))


def test_a_file_with_only_prompt_model_and_label_reads_with_its_name_as_source(tmp_path: Path) -> None:
    path = write(tmp_path / "mine.csv", ROWS, ("prompt", "model", "correct"))
    first, second = iter_rows(path)
    assert (first.source, first.model, first.correct, first.cost_usd, first.task) == (
        "mine",
        "gpt-4-1106-preview",
        1.0,
        None,
        "",
    )
    assert second.correct is None


def test_undecodable_text_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes(b"prompt,model,correct\ncaf\xe9,m,1\n")
    with pytest.raises(DataError, match=r"latin1\.csv:.*unreadable"):
        list(iter_rows(path))


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("correct", "yes", "correct='yes' is not a number"),
        ("correct", "1.5", "outside"),
        ("response_chars", "2.5", "not a whole number"),
    ],
)
def test_malformed_value_names_file_and_line(tmp_path: Path, field: str, value: str, message: str) -> None:
    bad = {**ROWS[1], field: value}
    path = write(tmp_path / "bad_long.csv.gz", [ROWS[1], bad])
    rows = iter_rows(path)
    assert next(rows).prompt_id == "p2"
    with pytest.raises(ValueError, match=rf"bad_long\.csv\.gz:3: .*{message}"):
        next(rows)


def test_short_and_long_records_are_rejected(tmp_path: Path) -> None:
    header = ",".join(COLUMNS)
    short = tmp_path / "short.csv"
    short.write_text(f"{header}\ndemo,p1,prompt\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"short\.csv:2: too few fields"):
        list(iter_rows(short))
    long = tmp_path / "long.csv"
    long.write_text(f"{header}\n" + ",".join(["x"] * (len(COLUMNS) + 1)) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"long\.csv:2: more fields"):
        list(iter_rows(long))
    with pytest.raises(ValueError, match="expected a .csv or .csv.gz"):
        list(iter_rows(tmp_path / "rows.parquet"))


def test_prompt_normalisation_and_key() -> None:
    assert normalize_prompt("  What IS\n\tthe  Answer?  ") == "what is the answer?"
    assert prompt_key("What is the answer?") == prompt_key("what  is the\nANSWER?  ")
    assert prompt_key("What is the answer?") != prompt_key("What is the answer!")
    assert len(prompt_key("x")) == 16 and prompt_key("x") == prompt_key("x")


def test_find_long_files_is_recursive_and_sorted(tmp_path: Path) -> None:
    for name in ("b/two_long.csv.gz", "a/one_long.csv.gz", "a/notes.csv.gz", "c/three_long.csv"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    assert [p.relative_to(tmp_path).as_posix() for p in find_long_files(tmp_path)] == [
        "a/one_long.csv.gz",
        "b/two_long.csv.gz",
    ]


@pytest.mark.data
def test_real_files_parse() -> None:
    if not DATA_DIR.is_dir():
        pytest.skip(f"../shared/data not present: {DATA_DIR} holds the real long-format files")
    files = find_long_files(DATA_DIR)
    assert len(files) >= 3
    models: dict[str, set[str]] = {}
    labelled = 0
    for path in files:
        for row in iter_rows(path):
            models.setdefault(row.source, set()).add(row.model)
            labelled += row.correct is not None
    assert labelled > 100_000
    assert any("gpt-4-1106-preview" in names for names in models.values())
    assert max(len(names) for names in models.values()) >= 9
