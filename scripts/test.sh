#!/usr/bin/env bash
# The one command that tests Slipway (`npm test`): installs what the tests need, checks types,
# lint and import cycles, then runs every test against real processes and a real Docker engine.
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/prepare.sh
if [ "$started_docker" = 1 ]; then trap 'bash scripts/stop-docker.sh || true' EXIT; fi
# The web UI's browser test drives Debian's chromium; the demo does not need it.
bash scripts/ensure-chromium.sh

echo "== typecheck, lint, import cycles"
npm run --silent typecheck
npm run --silent lint
npm run --silent cycles
echo "== tests"
npx vitest run "$@"
