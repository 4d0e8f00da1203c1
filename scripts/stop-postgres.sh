#!/usr/bin/env bash
# Stops the test cluster that scripts/ensure-postgres.sh started, and nothing else.
set -euo pipefail

DATA="${SLIPWAY_TEST_POSTGRES_DIR:-/var/tmp/slipway-test-postgres}"
[ -f "$DATA/postmaster.pid" ] || exit 0
BIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
runuser -u postgres -- "$BIN/pg_ctl" -D "$DATA" -m fast -w stop >/dev/null
echo "postgres: stopped the test cluster"
