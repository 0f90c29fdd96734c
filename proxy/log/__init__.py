"""The call log: one row per call, queued off the request path and written by one writer.

`schema.py` defines the tables once, as append-only named migrations of typed, commented columns;
`dialect.py` spells them (and every query's placeholders) in SQLite's or Postgres' SQL; `records.py`
says what a row holds; `queue.py` is the writer; `queries.py` the reads, written once for both stores;
`sqlite.py` and `postgres.py` are the stores (connections, transactions, migration locking, the batch
insert); `read.py` opens a log for scripts; `insights.py` computes the dashboard's numbers;
`feedback.py` parses labels.

Adding a log column touches two files:

1. `schema.py`: a new migration at the end of `MIGRATIONS` (never an edit to a released one) with an
   `AddColumn("calls", Column(name, type, comment))`; both stores render and apply it.
2. `records.py`: the `Observation` field of the same name (a dict or list field is stored as
   `<name>_json`), and a `LoggedCall` field of the same name if the dashboard should read it back.

The writer's row, the inserts and the reads follow from those two; `tests/test_log_schema.py` checks
that they agree and that a new column needs nothing else. Code that uses the new value (who sets the
field, what the dashboard or training does with it) is a change of its own.
"""
