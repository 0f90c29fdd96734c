"""Postgres connection strings: tell a DSN from a SQLite path, and never show its password.

A DSN may carry a password (`postgresql://user:secret@host/db`); every message that names a DSN shows
it through `redact`, which keeps the user, host, port, database and options and replaces the password.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

SCHEMES = ("postgresql", "postgres")


def is_dsn(source: str) -> bool:
    """Whether `source` names a Postgres database rather than a SQLite file."""
    return source.split("://", 1)[0].lower() in SCHEMES and "://" in source


def password(dsn: str) -> str | None:
    try:
        return urlsplit(dsn).password
    except ValueError:
        return None


def redact(dsn: str) -> str:
    """The DSN with its password (if any) replaced by `***`; safe to log or show in an error."""
    try:
        parts = urlsplit(dsn)
        secret = parts.password
    except ValueError:
        return "<unparseable DSN>"
    if secret is None:
        return dsn
    user = parts.username or ""
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def scrub(text: str, *secrets: str | None) -> str:
    """`text` with every secret in it replaced by `***` (for driver errors that may echo a DSN)."""
    for s in secrets:
        if s:
            text = text.replace(s, "***")
    return text
