"""The offline subcommands, in the order of the loop: label the log, export it, train, evaluate, replay.

Their code is in `proxy/training`; here are only their options and what they print. `--db`/`--log` take a
SQLite log file or a Postgres DSN (postgresql://user@host/db, the password from PGPASSWORD).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from pathlib import Path

from proxy.cli.common import Commands, command, train_extra

DB_HELP = "the proxy's log: a SQLite file or a postgresql:// DSN"
CALIBRATION_HELP = (
    "what the isotonic calibration of P(acceptable) is fitted on: source (default), out-of-fold predictions and "
    "each training source's rows predicted by a bag fitted on the other sources; prompt, out-of-fold only"
)


def add(commands: Commands) -> None:
    _add_label(commands)
    _add_export(commands)
    _add_train(commands)
    _add_evaluate(commands)
    _add_replay(commands)


def _progress() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")


def _add_label(commands: Commands) -> None:
    p = command(
        commands,
        "label",
        "Label logged calls: an LLM judge through litellm, and/or reference answers.",
        "--judge BACKEND (with --config): the config's backend grades each call with the rubric ({question} and\n"
        '{answer} filled in); its reply\'s "Score: N/10" becomes a label N/10 with source "judge:BACKEND".\n'
        'Calls it already labelled are skipped. --references FILE: JSONL lines {"request_id": ..., "reference":\n'
        '...} (or {"prompt": ..., "reference": ...}, matched on the prompt text); each matching call gets\n'
        '"exact_match" (0 or 1) and "rouge_l" labels. Writes: the `labels` table of the log, next to feedback.',
    )
    p.add_argument("--db", required=True, help=DB_HELP)
    p.add_argument("--config", type=Path, help="proxy config holding the judge backend")
    p.add_argument("--judge", help="backend name of the judge model")
    p.add_argument("--rubric", type=Path, help="rubric template with {question} and {answer}")
    p.add_argument("--references", type=Path, help="JSONL of reference answers")
    p.add_argument("--limit", type=int, default=500, help="judge at most this many calls")
    p.add_argument("--concurrency", type=int, default=8, help="judge calls in flight")
    p.set_defaults(run=_label, parser=p)


def _label(args: argparse.Namespace) -> int:
    parser: argparse.ArgumentParser = args.parser
    if not args.judge and not args.references:
        parser.error("give --judge (with --config) and/or --references")
    if args.judge and not args.config:
        parser.error("--judge needs --config")
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # before litellm is imported
    from proxy import config as config_mod
    from proxy.training import label

    _progress()
    log = logging.getLogger("switchyard.label")
    if args.judge:
        config = config_mod.load(args.config, environ=os.environ)
        if config.backend(args.judge) is None:
            parser.error(f"--judge {args.judge!r} is not a backend of {args.config}")
        rubric = args.rubric.read_text(encoding="utf-8") if args.rubric else label.RUBRIC
        n = asyncio.run(
            label.judge_calls(
                args.db, config, args.judge, rubric=rubric, limit=args.limit, concurrency=args.concurrency
            )
        )
        log.info("judge %s: %d labels", args.judge, n)
    if args.references:
        log.info("references: %d labels", label.reference_labels(args.db, args.references))
    return 0


def _add_export(commands: Commands) -> None:
    p = command(
        commands,
        "export",
        "Export the call log as long-format CSV (what `train` reads) and/or JSONL.",
        'CSV (--csv, gzipped when it ends in .gz): one row per successful call, source "switchyard-log",\n'
        "prompt_id = the request id, the backend that answered as `model`, `correct` = the mean of its labels\n"
        "(blank when unlabelled), tokens, cost, latency, task and answer length. JSONL (--jsonl): everything the\n"
        "CSV cannot hold: messages, candidates with their predictions, fallbacks, the selection probability.",
    )
    p.add_argument("--db", required=True, help=DB_HELP)
    p.add_argument("--csv", type=Path, help="write the long-format rows here")
    p.add_argument("--jsonl", type=Path, help="write one JSON record per call here")
    p.add_argument("--since", type=float, default=0.0, help="only calls after this UNIX time")
    p.add_argument("--labelled-only", action="store_true", help="only calls that have a label")
    p.set_defaults(run=_export, parser=p)


def _export(args: argparse.Namespace) -> int:
    from proxy.log.records import LogStoreError
    from proxy.training.export_log import long_row, records, write_csv, write_jsonl

    if not args.csv and not args.jsonl:
        args.parser.error("give --csv and/or --jsonl")
    _progress()
    log = logging.getLogger("switchyard.export")
    try:
        if args.csv:
            n = write_csv((long_row(r) for r in records(args.db, args.since, args.labelled_only)), args.csv)
            log.info("wrote %d rows to %s", n, args.csv)
        if args.jsonl:
            n = write_jsonl(records(args.db, args.since, args.labelled_only), args.jsonl)
            log.info("wrote %d records to %s", n, args.jsonl)
    except LogStoreError as exc:
        args.parser.error(str(exc))
    return 0


def _add_train(commands: Commands) -> None:
    p = command(
        commands,
        "train",
        "Train the router's correctness and output-length models; write ONNX files and their manifest.",
        "Reads: long-format files (--data; else every *_long.csv.gz under --data-dir) and/or the labelled calls\n"
        "of proxy logs (--log, with --config saying which model each logged backend is). About 20% of the\n"
        "distinct prompts are held out (a salted hash of the prompt) and never trained on; `evaluate` replays\n"
        "them. Writes to --out: router.onnx, manifest.json (data files and their sha256, feature names and\n"
        "version, label meaning, held-out metrics) and knowledge.json (what the features were computed with);\n"
        "`POST /admin/reload` or models_dir in the config puts them in service. Needs the [train] extra.",
    )
    p.add_argument("--data", action="append", help="a long-format .csv or .csv.gz file (repeatable)")
    p.add_argument("--data-dir", default="../shared/data", help="used when no --data or --log is given")
    p.add_argument(
        "--log",
        action="append",
        help="a proxy log (SQLite file or postgresql:// DSN): its labelled calls are training rows (repeatable)",
    )
    p.add_argument("--out", default="models", help="output directory (default: models)")
    p.add_argument("--threads", type=int, default=1, help="LightGBM threads")
    p.add_argument("--folds", type=int, default=5, help="cross-validation folds over the training prompts")
    p.add_argument(
        "--bag",
        type=int,
        default=3,
        help="correctness classifiers (LightGBM seeds 0..BAG-1) whose margins are averaged, served as one "
        "(default: 3; 1 is the single model)",
    )
    p.add_argument("--calibration", default="source", help=CALIBRATION_HELP)
    p.add_argument("--config", help="the proxy's TOML config: which model each logged backend name is")
    p.set_defaults(run=_train, parser=p)


def _train(args: argparse.Namespace) -> int:
    with train_extra():
        from proxy.training.train import train
    from proxy.config import load as load_config
    from proxy.training.inputs import TrainingError, data_files

    _progress()
    backends = {b.name: b for b in load_config(Path(args.config)).backends} if args.config else None
    try:
        files = data_files(args.data or (), args.data_dir, args.log or ())
        train(
            files,
            Path(args.out),
            threads=args.threads,
            folds=args.folds,
            backends=backends,
            bag=args.bag,
            calibration=args.calibration,
        )
    except TrainingError as exc:
        args.parser.exit(1, f"switchyard train: {exc}\n")
    return 0


def _add_evaluate(commands: Commands) -> None:
    p = command(
        commands,
        "evaluate",
        "Replay prompts the models never trained on through them and the proxy's choice; compare with baselines.",
        "Replays either the prompts `train` held out of the data (--data, else every *_long.csv.gz under\n"
        "--data-dir) or, with --test, every prompt of the test files (none re-split). Knowledge (profiles,\n"
        "History) and the baselines (TF-IDF + logistic regression, kNN, random mix, always-cheapest, and\n"
        "--baseline-models) learn from the training part of the data, or from every prompt of the --train\n"
        "files; a training prompt whose question is in a test file is dropped. Writes: --json (per source, and\n"
        "per benchmark for a source whose task column names a few, e.g. RouteLLM's MMLU, GSM8K, MT-Bench:\n"
        "each model's quality and cost, the oracle, each router's quality-cost curve, AIQ, APGR, CPT, ECE, AUC\n"
        "and cost at equal quality read off the curve's upper hull, all with 90% bootstrap intervals; APGR and\n"
        "CPT are null where the best model is also the cheapest; under `versus`, Switchyard's difference from\n"
        "each baseline under the same policy, with that difference's 90% interval over the same draws), the\n"
        "same as a table on stdout, and --plot (PNG). --loso adds leave-one-source-out calibration (slow: it\n"
        "trains a model per source). The baselines, --loso and --plot need the [train] extra; --no-baselines\n"
        "without them does not.",
    )
    p.add_argument("--data", action="append", help="a long-format .csv or .csv.gz file (repeatable)")
    p.add_argument("--data-dir", default="../shared/data", help="used when no --data is given")
    p.add_argument(
        "--test",
        action="append",
        type=Path,
        help="a long-format file replayed whole, none of it re-split (repeatable); default: the held-out "
        "part of the data",
    )
    p.add_argument(
        "--train",
        action="append",
        type=Path,
        help="with --test: a long-format file every prompt of which is training, in place of the training "
        "part of --data/--data-dir (repeatable)",
    )
    p.add_argument("--models", type=Path, help="models directory (default: the models the proxy ships)")
    p.add_argument("--baseline-models", type=Path, help="a previous models directory, replayed as router 'previous'")
    p.add_argument("--json", type=Path, required=True, help="write the report here")
    p.add_argument("--plot", type=Path, help="write the quality-cost curves here (PNG)")
    p.add_argument("--max-prompts", type=int, help="at most this many replayed prompts per source")
    p.add_argument("--no-baselines", action="store_true", help="only the trained models, no baseline routers")
    p.add_argument(
        "--candidates",
        help="comma-separated model names, as the data spells them: the candidate pool of every source (of it, "
        "a source's candidates are the models that answered 90%% of its prompts; a prompt counts when all "
        "of them answered it)",
    )
    p.add_argument(
        "--knowledge",
        choices=("train", "catalog"),
        default="train",
        help="profiles and History from the training prompts (default), or the proxy's catalog ones "
        "(they count held-out labels: only to compare with the running proxy)",
    )
    p.add_argument(
        "--loso",
        action="store_true",
        help="leave one source out: per source, train the shipped model type on the other sources and report "
        "ECE and AUC on its held-out prompts (slow: one training per source; progress on stderr)",
    )
    p.add_argument("--loso-sources", help="comma-separated source names: --loso for these only")
    p.add_argument("--threads", type=int, default=1, help="--loso: LightGBM threads")
    p.add_argument("--calibration", default="source", help="--loso: the models' calibration, as for train")
    p.set_defaults(run=_evaluate, parser=p)


def _evaluate(args: argparse.Namespace) -> int:
    if args.train and not args.test:
        args.parser.error("--train names training files for --test: give --test too")
    with train_extra():  # fail before the replay, not after it
        if not args.no_baselines:
            from proxy.training import baselines  # noqa: F401
        if args.plot:
            from proxy.training.plot import plot
        if args.loso or args.loso_sources:
            from proxy.training.loso import leave_one_source_out
    from proxy.route.router import DEFAULT_MODELS_DIR
    from proxy.route.scoring import ModelError
    from proxy.training.dataset import find_long_files
    from proxy.training.evaluate import evaluate
    from proxy.training.evaluation_report import format_report

    _progress()
    files = [Path(f) for f in args.data] if args.data else find_long_files(Path(args.data_dir))
    models = args.models or DEFAULT_MODELS_DIR
    only = frozenset(n.strip() for n in args.candidates.split(",") if n.strip()) if args.candidates else None
    loso = None
    if args.loso or args.loso_sources:  # first: a source name that is not in the data fails before any replay
        wanted = frozenset(s.strip() for s in args.loso_sources.split(",")) if args.loso_sources else None
        try:
            loso = leave_one_source_out(files, wanted, args.threads, calibration=args.calibration)
        except ValueError as exc:
            args.parser.error(str(exc))
    try:
        report = evaluate(
            args.train or files,
            models,
            args.max_prompts,
            not args.no_baselines,
            args.knowledge,
            only,
            test=args.test or (),
            train_all=bool(args.train),
            previous_models=args.baseline_models,
        )
    except ModelError as exc:
        args.parser.exit(1, f"switchyard evaluate: {exc}\n")
    if loso is not None:
        report["leave_one_source_out"] = loso
    report["command"] = " ".join(["switchyard", *args.argv])
    args.json.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    sys.stdout.write(format_report(report) + "\n")
    if args.plot:
        plot(report, args.plot)
        sys.stdout.write(f"\nplot: {args.plot}\n")
    sys.stdout.write(f"report: {args.json} ({report['seconds']} s)\n")
    return 0


def _add_replay(commands: Commands) -> None:
    p = command(
        commands,
        "replay",
        "Replay logged traffic: what new models would change (offline), or collect outcomes (online).",
        "Offline (--models DIR; no LLM is called): re-runs the router's decision for every logged routed call\n"
        "with the candidate models and with the current ones (--current, else the config's, else the shipped)\n"
        "and prints JSON: how many choices change, each policy's predicted cost and latency, and an\n"
        "inverse-propensity estimate of its quality from the labelled calls. Online (--online PROXY_URL):\n"
        "re-sends logged prompts to the candidates that were not chosen, through a running proxy, bounded by\n"
        "--limit and --budget-usd, so outcomes exist for them too; the proxy logs them. Prints what it sent.",
    )
    p.add_argument("--db", required=True, help=DB_HELP)
    p.add_argument("--config", type=Path, required=True, help="the proxy's TOML config")
    p.add_argument("--models", type=Path, help="candidate models directory (offline)")
    p.add_argument("--current", type=Path, help="current models (default: the config's, else the shipped)")
    p.add_argument("--online", metavar="PROXY_URL", help="re-send prompts to unchosen candidates via this proxy")
    p.add_argument("--limit", type=int, default=100, help="online: at most this many calls")
    p.add_argument("--budget-usd", type=float, default=1.0, help="online: at most this predicted spend")
    p.add_argument(
        "--api-key", default=os.environ.get("SWITCHYARD_API_KEY", "unused"), help="online: the proxy's client key"
    )
    p.set_defaults(run=_replay, parser=p)


def _replay(args: argparse.Namespace) -> int:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # before litellm is imported
    from proxy import config as config_mod
    from proxy.log.records import LogStoreError
    from proxy.route.router import DEFAULT_MODELS_DIR
    from proxy.training.log_replay import offline, online

    config = config_mod.load(args.config, environ=os.environ)
    if not args.online and not args.models:
        args.parser.error("give --models (offline) or --online PROXY_URL")
    try:
        if args.online:
            report = online(args.db, config, args.online, args.limit, args.budget_usd, args.api_key)
        else:
            current = args.current or config.models_dir or DEFAULT_MODELS_DIR
            report = offline(args.db, config, args.models, current)
    except LogStoreError as exc:
        args.parser.error(str(exc))
    sys.stdout.write(json.dumps(report, indent=2) + "\n")
    return 0
