# Sourced by test.sh and demo.sh: npm packages, a Docker engine, a fresh build.
# Sets started_docker=1 when it started the engine, so the caller stops only that one.

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "== installing npm packages"
  # Not `npm ci`: it refuses a lock file that lacks some platform's optional packages (a registry
  # mirror may not carry them all); `npm install` keeps to the lock file all the same.
  npm install --no-audit --no-fund
fi

started_docker=0
docker info >/dev/null 2>&1 || started_docker=1
bash scripts/ensure-docker.sh

echo "== build"
npm run --silent build
