#!/usr/bin/env bash
# Stops the dockerd that scripts/ensure-docker.sh started, and nothing else: an engine the
# machine already had (systemd, Docker Desktop, someone's shell) is left alone.
set -euo pipefail

PID_FILE="${SLIPWAY_DOCKERD_PID_FILE:-/run/slipway-dockerd.pid}"
[ -f "$PID_FILE" ] || exit 0
pid="$(cat "$PID_FILE" 2>/dev/null || true)"

# A pid file that outlived a reboot may name an unrelated process now.
if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null || [ "$(cat "/proc/$pid/comm" 2>/dev/null)" != "dockerd" ]; then
  rm -f "$PID_FILE"
  exit 0
fi

kill -TERM "$pid"
# dockerd stops its containers (10 s grace each, in parallel) before exiting.
for _ in $(seq 1 120); do
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.25
done
if kill -0 "$pid" 2>/dev/null; then
  echo "docker: dockerd (pid $pid) did not stop within 30s; left running" >&2
  exit 1
fi
rm -f "$PID_FILE"
echo "docker: stopped dockerd (pid $pid)"
