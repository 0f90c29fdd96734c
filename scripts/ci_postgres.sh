#!/usr/bin/env bash
# Start a throwaway PostgreSQL server for the tests and print the DSN as a shell `export` line:
#
#   eval "$(scripts/ci_postgres.sh)"      # installs Debian's postgresql if needed, starts the cluster
#   scripts/ci_postgres.sh stop           # stops it
#
# The cluster lives in a temp directory of its own (one per checkout), listens on 127.0.0.1 only, runs as
# the `postgres` user (the server refuses to run as root) and asks TCP clients for a password, so the tests
# exercise the same password path as a real deployment. Everything but the export line goes to stderr.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DIR="${SWITCHYARD_PG_DIR:-/tmp/switchyard-pg-$(printf '%s' "$ROOT" | sha256sum | cut -c1-12)}"
DB=switchyard_test

say() { echo "ci_postgres: $*" >&2; }

pg_bin() {
    local bin
    bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)"
    [ -n "$bin" ] && [ -x "$bin/pg_ctl" ] && echo "$bin"
}

as_postgres() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

BIN="$(pg_bin || true)"
if [ "${1:-}" = stop ]; then
    [ -n "$BIN" ] && [ -f "$DIR/data/postmaster.pid" ] && as_postgres "$BIN/pg_ctl" -D "$DIR/data" -m fast stop >&2
    exit 0
fi

if [ -z "$BIN" ]; then
    say "installing postgresql (Debian package)"
    # Another apt run on the machine holds the lock for a while: wait for it rather than fail.
    apt-get -o DPkg::Lock::Timeout=600 update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends \
        postgresql >&2
    BIN="$(pg_bin)"
fi

mkdir -p "$DIR"
if [ "$(id -u)" = 0 ]; then chown postgres "$DIR"; fi
chmod 700 "$DIR"
if [ ! -f "$DIR/password" ]; then
    as_postgres sh -c "umask 077; head -c 18 /dev/urandom | base64 | tr -d '/+=' > '$DIR/password'"
fi
PASSWORD="$(cat "$DIR/password")"

if [ ! -f "$DIR/data/PG_VERSION" ]; then
    say "initdb in $DIR/data"
    as_postgres "$BIN/initdb" -D "$DIR/data" -U postgres --pwfile="$DIR/password" \
        --auth-local=trust --auth-host=scram-sha-256 -E UTF8 >/dev/null
fi

if ! as_postgres "$BIN/pg_ctl" -D "$DIR/data" status >/dev/null 2>&1; then
    PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    echo "$PORT" > "$DIR/port"
    say "starting PostgreSQL on 127.0.0.1:$PORT"
    as_postgres "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 60 start \
        -o "-c listen_addresses=127.0.0.1 -p $PORT -k $DIR -c max_connections=200 -c fsync=off" >&2
fi
PORT="$(cat "$DIR/port")"

if ! as_postgres "$BIN/psql" -h "$DIR" -p "$PORT" -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$DB'" \
    | grep -q 1; then
    as_postgres "$BIN/createdb" -h "$DIR" -p "$PORT" -U postgres "$DB"
fi

echo "export SWITCHYARD_TEST_PG_DSN='postgresql://postgres:$PASSWORD@127.0.0.1:$PORT/$DB'"
