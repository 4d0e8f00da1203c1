#!/usr/bin/env bash
# `npm run demo`: installs what it needs, starts `slipway up` (server, fleet, images) in the
# background, runs the example pipelines against it, shows the results and stops it again.
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/prepare.sh

# A second image for the container example: nothing but a static busybox, whose default command
# answers on port 8080, so it serves as a job image and as a service. No registry needed.
if ! docker image inspect slipway-demo/echo:latest >/dev/null 2>&1; then
  root="$(mktemp -d)"
  mkdir -p "$root/bin"
  cp /bin/busybox "$root/bin/busybox"
  tar -C "$root" -c . | docker import \
    -c 'ENV PATH=/bin' \
    -c 'CMD ["/bin/busybox","nc","-ll","-p","8080","-e","/bin/busybox","echo","hello from the service"]' \
    -c 'LABEL slipway.managed=true slipway.kind=demo-image' - slipway-demo/echo:latest >/dev/null
  rm -rf "$root"
fi

data="${SLIPWAY_DEMO_DATA:-.slipway}"
port="${SLIPWAY_DEMO_PORT:-8420}"
log="$(mktemp)"
echo "== slipway up (log: $log)"
bin/slipway up --port "$port" --data "$data" >"$log" 2>&1 &
up=$!
stop() {
  kill -TERM "$up" 2>/dev/null || true
  wait "$up" 2>/dev/null || true
  if [ "$started_docker" = 1 ]; then bash scripts/stop-docker.sh || true; fi
}
trap stop EXIT
for _ in $(seq 1 240); do
  grep -q 'Slipway is up' "$log" && break
  kill -0 "$up" 2>/dev/null || { cat "$log"; exit 3; }
  sleep 0.5
done
url="$(sed -n 's/.*Slipway is up: \(http[^ ]*\).*/\1/p' "$log" | head -n 1)"
[ -n "$url" ] || { cat "$log"; echo "slipway up did not start" >&2; exit 3; }
echo "Slipway is up at $url (admin token in $data/admin.token)"

status=0
echo "== examples/hello: two jobs on the warm agent, a secret masked"
SLIPWAY_URL="$url" bin/slipway run examples/hello/azure-pipelines.yml --dir examples/hello \
  --secret apiKey=demo-secret-value --data "$data" || status=$?
echo "== examples/containers: a job in the default image, one in a busybox-only image with a service"
SLIPWAY_URL="$url" bin/slipway run examples/containers/azure-pipelines.yml --dir examples/containers \
  --data "$data" || status=$?
exit "$status"
