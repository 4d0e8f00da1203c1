#!/usr/bin/env bash
# The one command that tests Slipway (`npm test`): installs what the tests need, checks types,
# lint and import cycles, then runs every test against real processes and a real Docker engine.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "== installing npm packages"
  # Not `npm ci`: it refuses a lock file that lacks some platform's optional packages (a registry
  # mirror may not carry them all); `npm install` keeps to the lock file all the same.
  npm install --no-audit --no-fund
fi

# Start a Docker engine only when none answers, and stop only the one started here.
started_docker=0
docker info >/dev/null 2>&1 || started_docker=1
bash scripts/ensure-docker.sh
if [ "$started_docker" = 1 ]; then trap 'bash scripts/stop-docker.sh || true' EXIT; fi

echo "== build"
npm run --silent build
echo "== typecheck, lint, import cycles"
npm run --silent typecheck
npm run --silent lint
npm run --silent cycles
echo "== tests"
npx vitest run "$@"
