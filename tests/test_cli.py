"""The one `switchyard` command: its subcommands explain themselves, `python -m proxy` still serves, and a
command that needs the [train] extra says so when it is missing (without it, in a real subprocess)."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from proxy.cli import main
from proxy.cli.common import NEEDS_TRAIN, TRAIN_EXTRA, MissingTrainExtra, train_extra
from tests.conftest import ROOT

COMMANDS = ("serve", "demo", "label", "export", "train", "evaluate", "replay")
# The installed entry point (`pip install -e .` puts it beside the interpreter).
SWITCHYARD = str(Path(sys.executable).with_name("switchyard"))


def run_without_train_extra(*commands: list[str]) -> tuple[list[int], str, str]:
    """Each `switchyard ARGV` in one fresh interpreter as if the [train] extra were not installed (a None in
    sys.modules makes `import lightgbm` fail like a missing package): their exit codes, stdout, stderr."""
    code = (
        "import json, sys\n"
        f"for name in {sorted(TRAIN_EXTRA)!r}: sys.modules[name] = None\n"
        "from proxy.cli import main\n"
        "codes = []\n"
        f"for argv in {[list(c) for c in commands]!r}:\n"
        "    try:\n"
        "        codes.append(main(argv))\n"
        "    except SystemExit as exc:\n"
        "        codes.append(exc.code)\n"
        "sys.stderr.write('codes ' + json.dumps(codes))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "codes " in done.stderr, done.stderr
    return json.loads(done.stderr.rsplit("codes ", 1)[1]), done.stdout, done.stderr


def test_the_entry_point_is_the_cli() -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts == {"switchyard": "proxy.cli:main"}


def test_the_installed_command_lists_every_subcommand() -> None:
    out = subprocess.run([SWITCHYARD, "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    listed = out.stdout.split("COMMAND", 1)[1]
    for name in COMMANDS:
        assert f"\n    {name} " in listed, f"`switchyard --help` does not list {name}"
    train = subprocess.run([SWITCHYARD, "train", "--help"], capture_output=True, text=True, timeout=60)
    assert train.returncode == 0 and "usage: switchyard train" in train.stdout
    assert "--log" in train.stdout and "manifest.json" in train.stdout and "[train] extra" in train.stdout


@pytest.mark.parametrize("name", COMMANDS)
def test_every_subcommand_says_what_it_reads_and_writes(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main([name, "--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    assert text.startswith(f"usage: switchyard {name}")
    description = text.split("options:", 1)[0].split("\n\n", 1)[1]  # between the usage and the options
    assert len(description.split()) >= 40, f"`switchyard {name} --help` explains too little: {description!r}"


def test_python_m_proxy_is_serve_with_the_same_options() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "proxy", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0 and "usage: switchyard serve" in done.stdout
    for option in ("--config", "--host", "--port", "--log-level", "--workers"):
        assert option in done.stdout


def test_without_the_train_extra_train_and_evaluate_exit_2_saying_how_to_install_it(tmp_path: Path) -> None:
    commands = (
        ["train", "--data", str(tmp_path / "none.csv"), "--out", str(tmp_path / "models")],
        ["evaluate", "--data", str(tmp_path / "none.csv"), "--json", str(tmp_path / "eval.json")],
        ["evaluate", "--no-baselines", "--plot", str(tmp_path / "p.png"), "--json", str(tmp_path / "eval.json")],
        ["--help"],
        ["train", "--help"],
    )
    codes, out, err = run_without_train_extra(*commands)
    assert codes == [2, 2, 2, 0, 0], err
    assert err.count(f"switchyard train: {NEEDS_TRAIN}") == 1 and err.count(f"switchyard evaluate: {NEEDS_TRAIN}") == 2
    assert "Traceback" not in err and "usage: switchyard train" in out  # the help needs no training library
    assert not (tmp_path / "models").exists() and not (tmp_path / "eval.json").exists()  # failed before working


def test_the_guard_turns_only_a_train_library_into_the_message() -> None:
    with pytest.raises(MissingTrainExtra, match="sklearn.isotonic"), train_extra():
        raise ModuleNotFoundError("No module named 'sklearn.isotonic'", name="sklearn.isotonic")
    # Anything else missing is a broken install, not a missing extra: it must surface as itself.
    with pytest.raises(ModuleNotFoundError, match="numpy"), train_extra():
        raise ModuleNotFoundError("No module named 'numpy'", name="numpy")
    with pytest.raises(ImportError, match="onnxruntime"), train_extra():
        raise ImportError("onnxruntime failed", name="onnxruntime")


def test_train_libraries_are_imported_only_by_the_training_modules_that_need_them() -> None:
    allowed = {
        "proxy/training/fit.py",
        "proxy/training/bagging.py",
        "proxy/training/trees.py",
        "proxy/training/export.py",
        "proxy/training/baselines.py",
        "proxy/training/lexical.py",
        "proxy/training/plot.py",
    }
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / "proxy").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                if name.partition(".")[0] in TRAIN_EXTRA:
                    found.setdefault(str(path.relative_to(ROOT)), set()).add(name)
    assert found and set(found) <= allowed, found


def test_invalid_data_exits_2_naming_file_line_and_reason_without_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "mine.csv"
    bad.write_text("prompt,model,correct\nWhat is 2+2?,gpt-4o-mini,1\nWhat is 3+3?,gpt-4o-mini,yes\n", encoding="utf-8")
    with pytest.raises(SystemExit) as exited:
        main(["train", "--data", str(bad), "--out", str(tmp_path / "models")])
    err = capsys.readouterr().err
    assert exited.value.code == 2
    assert f"switchyard train: invalid data: {bad}:3: correct='yes' is not a number" in err
    assert "Traceback" not in err and not (tmp_path / "models").exists()
    with pytest.raises(SystemExit) as exited:
        main(["evaluate", "--data", str(tmp_path / "absent.csv"), "--json", str(tmp_path / "eval.json")])
    assert exited.value.code == 2
    assert f"switchyard evaluate: invalid data: {tmp_path / 'absent.csv'}: cannot open" in capsys.readouterr().err
