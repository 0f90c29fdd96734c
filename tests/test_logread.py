"""One reader for both stores (training, replay, export), and DSN passwords that never reach a message."""

from __future__ import annotations

import asyncio
import csv
import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest

from proxy import config as config_mod
from proxy.cli import main as switchyard
from proxy.log.postgres import PostgresLogStore
from proxy.log.queue import QueuedLogStore
from proxy.log.read import read_log
from proxy.log.records import Label, LogStoreError, Observation
from proxy.log.sqlite import SqliteLogStore
from proxy.training import log_replay
from proxy.training.inputs import export_labelled
from tests import pg
from tests.conftest import ROOT

SECRET = "hunter2-not-for-logs"
UNREACHABLE = f"postgresql://switchyard:{SECRET}@127.0.0.1:1/switchyard"


def calls() -> list[Observation | Label]:
    request = {"model": "router", "messages": [{"role": "user", "content": "What is 2+2?"}]}
    decision = {"alias": "router", "task": "math", "candidates": []}
    return [
        Observation(
            id=f"call{i}",
            started_at=100.0 + i,
            requested_model="router",
            stream=bool(i % 2),
            status=200 if i != 3 else 502,
            latency_s=0.5 + i,
            alias="router",
            backend="cheap",
            input_tokens=10 * i,
            output_tokens=3,
            cost_usd=1e-6 * i,
            request=request,
            response={"choices": [{"message": {"role": "assistant", "content": "4"}}]},
            decision=decision,
            selection_probability=0.5,
        )
        for i in range(5)
    ] + [Label(call_id="call1", score=1.0, source="exact_match", created_at=200.0)]


async def fill(store: QueuedLogStore) -> None:
    await store.start()
    for item in calls():
        if isinstance(item, Label):
            store.record_label(item)
        else:
            store.record(item)
    await store.aclose()


async def test_both_stores_read_back_the_same_rows(tmp_path: Path, pg_dsn: str) -> None:
    await fill(SqliteLogStore(tmp_path / "log.db"))
    await fill(PostgresLogStore(dsn=pg_dsn))
    from_sqlite = list(read_log(tmp_path / "log.db"))
    from_postgres = await asyncio.to_thread(lambda: list(read_log(pg_dsn)))  # scripts read synchronously
    assert [c["id"] for c, _ in from_sqlite] == ["call0", "call1", "call2", "call4"]  # status 200 only
    assert from_postgres == from_sqlite
    label = {"call_id": "call1", "score": 1.0, "source": "exact_match", "comment": None, "created_at": 200.0}
    assert from_postgres[1][1] == [label] and from_postgres[0][1] == []
    later = await asyncio.to_thread(lambda: [c["id"] for c, _ in read_log(pg_dsn, since=102.0)])
    assert later == ["call2", "call4"]


def test_export_and_replay_read_a_postgres_log(tmp_path: Path, pg_dsn: str) -> None:
    asyncio.run(fill(PostgresLogStore(dsn=pg_dsn)))
    out = tmp_path / "log.csv.gz"
    assert switchyard(["export", "--db", pg_dsn, "--csv", str(out), "--labelled-only"]) == 0
    with gzip.open(out, "rt") as f:
        rows = list(csv.DictReader(f))
    assert [(r["prompt_id"], r["correct"], r["task"]) for r in rows] == [("call1", "1.0", "math")]
    assert [r["call"]["id"] for r in log_replay.routed_records(pg_dsn)] == ["call0", "call1", "call2", "call4"]


def test_train_reads_a_postgres_log(tmp_path: Path, pg_dsn: str) -> None:
    asyncio.run(fill(PostgresLogStore(dsn=pg_dsn)))
    with gzip.open(export_labelled(pg_dsn), "rt") as f:
        assert [r["prompt_id"] for r in csv.DictReader(f)] == ["call1"]


def test_an_unreachable_log_is_named_without_its_password(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(LogStoreError) as failed:
        list(read_log(UNREACHABLE))
    assert SECRET not in str(failed.value) and "switchyard:***@127.0.0.1:1" in str(failed.value)
    with pytest.raises(SystemExit):
        switchyard(["export", "--db", UNREACHABLE, "--jsonl", "/dev/null"])
    err = capsys.readouterr().err
    assert SECRET not in err and "***" in err


async def test_a_store_that_cannot_connect_does_not_show_the_password() -> None:
    store = PostgresLogStore(dsn=UNREACHABLE, password="another-secret")
    with pytest.raises(LogStoreError) as failed:
        await store.start()
    message = str(failed.value)
    assert SECRET not in message and "another-secret" not in message and "cannot open the Postgres log" in message
    assert SECRET not in repr(store)


async def test_a_wrong_password_is_refused_without_echoing_it(pg_dsn: str) -> None:
    dsn, _ = pg.without_password(pg_dsn)
    store = PostgresLogStore(dsn=dsn, password="wrong-" + SECRET)
    with pytest.raises(LogStoreError) as failed:
        await store.start()
    assert SECRET not in str(failed.value) and "password authentication failed" in str(failed.value)


def test_config_takes_the_dsn_password_from_the_environment_only() -> None:
    base = {"backend": [{"name": "b", "model": "openai/x"}]}
    with pytest.raises(config_mod.ConfigError) as in_file:
        config_mod.parse({**base, "log": {"dsn": UNREACHABLE}})
    assert SECRET not in str(in_file.value) and "log.password_env" in str(in_file.value)
    with pytest.raises(config_mod.ConfigError, match="SWITCHYARD_PG_PASSWORD"):
        config_mod.parse({**base, "log": {"dsn": "postgresql://u@db/x", "password_env": "SWITCHYARD_PG_PASSWORD"}})
    with pytest.raises(config_mod.ConfigError, match="log.dsn"):
        config_mod.parse({**base, "log": {"dsn": "mysql://u@db/x"}})
    parsed = config_mod.parse(
        {**base, "log": {"dsn": "postgresql://u@db/x", "password_env": "PGPW"}}, environ={"PGPW": SECRET}
    )
    assert parsed.log.dsn == "postgresql://u@db/x" and parsed.log.password == SECRET
    assert SECRET not in repr(parsed) and SECRET not in json.dumps(str(parsed.log))


def test_the_sqlite_default_never_imports_asyncpg() -> None:
    code = "import sys, proxy.http.app, proxy.log.read, proxy.training.export_log; print('asyncpg' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_a_database_without_the_log_tables_is_a_clear_error(pg_dsn: str) -> None:
    with pytest.raises(LogStoreError, match='relation "labels" does not exist') as failed:
        list(read_log(pg_dsn))
    assert pg.without_password(pg_dsn)[1] not in str(failed.value)
