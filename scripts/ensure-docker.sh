#!/usr/bin/env bash
# Makes sure a Docker engine answers, starting one on a bare Debian/Ubuntu CI machine.
# Idempotent and quiet: one line on success. Exit 3 when the machine cannot be helped.
# The dockerd started here is recorded in a pid file so scripts/stop-docker.sh stops only that one.
set -euo pipefail

PID_FILE="${SLIPWAY_DOCKERD_PID_FILE:-/run/slipway-dockerd.pid}"
LOG_FILE="${SLIPWAY_DOCKERD_LOG:-/var/log/slipway-dockerd.log}"
APT_LOG="${SLIPWAY_APT_LOG:-/var/log/slipway-apt.log}"
WAIT_SECONDS="${SLIPWAY_DOCKERD_WAIT:-60}"

engine() {
  docker version --format '{{.Server.Version}} (API {{.Server.APIVersion}})' 2>/dev/null || echo unknown
}

# The offline image builder assembles images from host files: static busybox, the tools of the
# default job image, the engine binaries for slipway/dind, buildah for slipway/buildah and the
# registry a Docker@2 test pushes to.
missing_packages() {
  command -v dockerd >/dev/null 2>&1 || echo docker.io
  command -v docker >/dev/null 2>&1 || echo docker.io
  dpkg -s busybox-static >/dev/null 2>&1 || echo busybox-static
  command -v git >/dev/null 2>&1 || echo git
  command -v curl >/dev/null 2>&1 || echo curl
  command -v make >/dev/null 2>&1 || echo make
  command -v xz >/dev/null 2>&1 || echo xz-utils
  command -v buildah >/dev/null 2>&1 || echo buildah
  # The Docker@2 push test runs Debian's registry as a job service.
  [ -x /usr/bin/docker-registry ] || echo docker-registry
  [ -f /etc/ssl/certs/ca-certificates.crt ] || echo ca-certificates
}

if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1 && [ -z "$(missing_packages)" ]; then
  echo "docker: engine $(engine) answers at ${DOCKER_HOST:-unix:///var/run/docker.sock}"
  exit 0
fi

if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1 && [ "$(id -u)" != "0" ]; then
  echo "docker: engine $(engine) answers; not root, so not installing: $(missing_packages | sort -u | tr '\n' ' ')(images made from them are skipped)" >&2
  exit 0
fi

cannot_help() {
  echo "Slipway's tests need a Docker engine: install Docker and start it, then rerun. ($1)" >&2
  exit 3
}

# An engine somewhere else is not ours to start.
if [ -n "${DOCKER_HOST:-}" ] && [ "${DOCKER_HOST}" != "unix:///var/run/docker.sock" ]; then
  cannot_help "DOCKER_HOST=${DOCKER_HOST} does not answer"
fi
[ "$(uname -s)" = "Linux" ] || cannot_help "not Linux"
[ "$(id -u)" = "0" ] || cannot_help "not root, so this script cannot install or start dockerd"
command -v apt-get >/dev/null 2>&1 || cannot_help "no apt-get to install docker.io"

mapfile -t packages < <(missing_packages | sort -u)
if [ "${#packages[@]}" -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${packages[@]}"; } >"$APT_LOG" 2>&1; then
    tail -n 20 "$APT_LOG" >&2
    cannot_help "apt-get install ${packages[*]} failed, log in $APT_LOG"
  fi
fi

running_pid() {
  local pid
  [ -f "$1" ] || return 1
  pid="$(cat "$1" 2>/dev/null || true)"
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

# A dockerd that is still starting (ours from an earlier run, or anyone's) is waited for, never
# doubled: a second dockerd on the same host fights the first over the bridge and iptables.
if pid="$(running_pid "$PID_FILE")" || pid="$(running_pid /var/run/docker.pid)"; then
  started="already running (pid $pid)"
else
  mkdir -p "$(dirname "$LOG_FILE")" "$(dirname "$PID_FILE")"
  # Without systemd, setsid keeps dockerd alive after this shell and its job group end.
  nohup setsid dockerd >"$LOG_FILE" 2>&1 </dev/null &
  pid=$!
  echo "$pid" >"$PID_FILE"
  started="started (pid $pid, log $LOG_FILE)"
fi

for _ in $(seq 1 $((WAIT_SECONDS * 4))); do
  if docker info >/dev/null 2>&1; then
    echo "docker: engine $(engine) $started"
    exit 0
  fi
  if ! kill -0 "$pid" 2>/dev/null; then
    # setsid forks when it is a process group leader; dockerd then names itself in its pid file.
    if adopted="$(running_pid /var/run/docker.pid)"; then
      pid="$adopted"
      [ -f "$PID_FILE" ] && echo "$pid" >"$PID_FILE"
      continue
    fi
    tail -n 20 "$LOG_FILE" >&2 || true
    rm -f "$PID_FILE"
    echo "docker: dockerd exited during start, log in $LOG_FILE" >&2
    exit 1
  fi
  sleep 0.25
done
tail -n 20 "$LOG_FILE" >&2 || true
echo "docker: dockerd did not answer within ${WAIT_SECONDS}s, log in $LOG_FILE" >&2
exit 1
