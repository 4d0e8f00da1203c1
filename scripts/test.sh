#!/usr/bin/env bash
# The one command that tests Slipway (`npm test`): installs what the tests need, checks types,
# lint and import cycles, then runs every test against real processes and a real Docker engine.
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/prepare.sh
# The PostgreSQL store's contract suite and the replica tests run against a real server.
started_postgres=0
cleanup() {
  if [ "$started_postgres" = 1 ]; then bash scripts/stop-postgres.sh || true; fi
  if [ "$started_docker" = 1 ]; then bash scripts/stop-docker.sh || true; fi
}
trap cleanup EXIT
bash scripts/ensure-postgres.sh --check || started_postgres=1
bash scripts/ensure-postgres.sh
# The web UI's browser test drives Debian's chromium; the demo does not need it.
bash scripts/ensure-chromium.sh

echo "== typecheck, lint, import cycles"
npm run --silent typecheck
npm run --silent lint
npm run --silent cycles
echo "== tests"
npx vitest run "$@"
