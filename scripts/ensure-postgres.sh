#!/usr/bin/env bash
# Makes sure the PostgreSQL the tests use answers: a private cluster of Debian's `postgresql`,
# on loopback only, started here when it is not running (installed first on a bare machine).
# Idempotent and quiet: one line on success. Exit 3 when the machine cannot be helped.
# Tests reach it through SLIPWAY_TEST_POSTGRES (default below); each test makes its own database.
set -euo pipefail

PORT="${SLIPWAY_TEST_POSTGRES_PORT:-54329}"
DATA="${SLIPWAY_TEST_POSTGRES_DIR:-/var/tmp/slipway-test-postgres}"
LOG="${DATA}/server.log"
APT_LOG="${SLIPWAY_APT_LOG:-/var/log/slipway-apt.log}"

cannot_help() {
  echo "Slipway's PostgreSQL tests need a PostgreSQL server: $1" >&2
  exit 3
}

bin_dir() {
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1
}

answers() {
  local bin
  bin="$(bin_dir)"
  [ -n "$bin" ] && "$bin/pg_isready" -q -h 127.0.0.1 -p "$PORT" -U postgres
}

# `--check`: only say (by exit status) whether it answers already.
if [ "${1:-}" = "--check" ]; then
  answers
  exit
fi

if answers; then
  echo "postgres: answers at 127.0.0.1:${PORT}"
  exit 0
fi

[ "$(id -u)" = "0" ] || cannot_help "not root, so this script cannot install or start one (set SLIPWAY_TEST_POSTGRES to a server of your own)"
if [ -z "$(bin_dir)" ]; then
  echo "== installing postgresql"
  export DEBIAN_FRONTEND=noninteractive
  # The package's own cluster is not used (it may not start without an init system).
  { apt-get update -q && apt-get install -y -q --no-install-recommends postgresql; } >>"$APT_LOG" 2>&1 \
    || cannot_help "apt-get install postgresql failed (see $APT_LOG)"
fi
BIN="$(bin_dir)"
[ -n "$BIN" ] || cannot_help "no PostgreSQL binaries after installing"

if [ ! -f "$DATA/PG_VERSION" ]; then
  rm -rf "$DATA"
  install -d -o postgres -g postgres -m 0700 "$DATA"
  # Trust on loopback: a throwaway cluster for tests that listens nowhere else.
  runuser -u postgres -- "$BIN/initdb" -D "$DATA" -U postgres --auth=trust -E UTF8 >"$DATA.initdb.log" 2>&1 \
    || cannot_help "initdb failed (see $DATA.initdb.log)"
fi
install -d -o postgres -g postgres /var/run/postgresql
# Sized for the suite: many test databases, two server replicas each with a bounded pool.
runuser -u postgres -- "$BIN/pg_ctl" -D "$DATA" -l "$LOG" -w -t 60 start \
  -o "-c listen_addresses=127.0.0.1 -p ${PORT} -c max_connections=300 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
  >/dev/null || cannot_help "pg_ctl start failed (see $LOG)"
answers || cannot_help "started, but it does not answer (see $LOG)"
echo "postgres: started at 127.0.0.1:${PORT} ($("$BIN/postgres" --version))"
