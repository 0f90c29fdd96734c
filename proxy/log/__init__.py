"""The call log: one row per call, queued off the request path and written by one writer.

`records.py` says what a row holds; `queue.py` is the writer; `sqlite.py` and `postgres.py` are the stores;
`read.py` opens a log for scripts; `insights.py` computes the dashboard's numbers; `feedback.py` parses labels.
"""
