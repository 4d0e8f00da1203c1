import { posix } from 'node:path';
import type { ImageConfig } from './docker-import.js';
import { findExecutable, HostToolMissingError, isDirectory, requireExecutable } from './host.js';
import type { HostFiles, ImageRecipe } from './recipes.js';
import { addRootSkeleton, IMAGE_PATH } from './recipes.js';
import { RootfsPlan } from './rootfs.js';

export const DIND_IMAGE_REPO = 'slipway/dind';
export const DIND_IMAGE = `${DIND_IMAGE_REPO}:latest`;

/** The port the job's engine listens on, TLS only (plain TCP makes dockerd wait 15 s on purpose). */
export const DIND_PORT = 2376;
/** Where the sidecar keeps its CA key and server half: its own volume, never the job's. */
export const DIND_SERVER_CERTS = '/certs/server';
/** Where the sidecar writes the client half (`ca.pem`, `cert.pem`, `key.pem`); shared with the job. */
export const DIND_CLIENT_CERTS = '/certs/client';
/** Written once the engine answers over TLS on DIND_PORT; what the readiness gate waits for. */
export const DIND_READY_FILE = '/run/slipway-dind.ready';
export const DIND_ENTRYPOINT = '/usr/local/bin/slipway-dind';

/** Host binaries of the engine, with the Debian package providing each (for the error hint). */
const ENGINE_TOOLS: Array<[tool: string, debianPackage: string]> = [
  ['dockerd', 'docker.io'],
  ['docker', 'docker.io'],
  ['containerd', 'containerd'],
  ['containerd-shim-runc-v2', 'containerd'],
  ['runc', 'runc'],
  ['docker-init', 'tini'],
  ['docker-proxy', 'docker.io'],
  ['openssl', 'openssl'],
];

/**
 * The sidecar's entrypoint. It makes the container fit for an engine (the narrow set of rights
 * the spec gives is not `--privileged`, so /sys and the cgroup mounts arrive read-only), makes
 * a CA and a server and client certificate for this job alone, starts dockerd with TLS and
 * marks readiness only once the engine answers through TLS with the client half.
 */
export const DIND_SCRIPT = `#!/bin/sh
set -eu
started=$(cut -d' ' -f1 /proc/uptime)
rw() { mount -o remount,rw "$1" 2>/dev/null || mount -o remount,bind,rw "$1" 2>/dev/null || echo "slipway-dind: $1 stays read-only" >&2; }
rw /sys
for d in /sys/fs/cgroup /sys/fs/cgroup/*; do
  if [ -d "$d" ] && ! [ -L "$d" ]; then rw "$d"; fi
done
mount --make-rshared /
rm -f ${DIND_READY_FILE}

s=${DIND_SERVER_CERTS} c=${DIND_CLIENT_CERTS}
mkdir -p "$s" "$c"
umask 077
if [ ! -s "$s/server-key.pem" ]; then
  key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
  key "$s/ca-key.pem"
  openssl req -new -x509 -days 7 -key "$s/ca-key.pem" -subj "/CN=slipway job engine CA" -out "$s/ca.pem"
  key "$s/server-key.pem"
  openssl req -new -key "$s/server-key.pem" -subj "/CN=docker" -out "$s/server.csr"
  printf 'subjectAltName=DNS:docker,DNS:localhost,DNS:%s,IP:127.0.0.1\\nextendedKeyUsage=serverAuth\\n' "$(hostname)" >"$s/server.ext"
  openssl x509 -req -days 7 -in "$s/server.csr" -CA "$s/ca.pem" -CAkey "$s/ca-key.pem" -CAcreateserial \\
    -extfile "$s/server.ext" -out "$s/server-cert.pem" 2>/dev/null
  key "$c/key.pem"
  openssl req -new -key "$c/key.pem" -subj "/CN=job" -out "$s/client.csr"
  printf 'extendedKeyUsage=clientAuth\\n' >"$s/client.ext"
  openssl x509 -req -days 7 -in "$s/client.csr" -CA "$s/ca.pem" -CAkey "$s/ca-key.pem" -CAcreateserial \\
    -extfile "$s/client.ext" -out "$c/cert.pem" 2>/dev/null
  cp "$s/ca.pem" "$c/ca.pem"
  # The job may run as any user; the client half is for it alone (its volume is this job's).
  chmod 0644 "$c/ca.pem" "$c/cert.pem" "$c/key.pem"
  chmod 0755 "$c"
fi
umask 022

(
  i=0
  while [ $i -lt 600 ]; do
    if docker --tlsverify --tlscacert "$c/ca.pem" --tlscert "$c/cert.pem" --tlskey "$c/key.pem" \\
      -H tcp://127.0.0.1:${DIND_PORT} version >/dev/null 2>&1; then
      touch ${DIND_READY_FILE}
      now=$(cut -d' ' -f1 /proc/uptime)
      echo "slipway-dind: the engine answers over TLS, $(awk "BEGIN { print $now - $started }") s after start" >&2
      exit 0
    fi
    i=$((i + 1))
    sleep 0.1
  done
) &

exec dockerd --host=unix:///var/run/docker.sock --host=tcp://0.0.0.0:${DIND_PORT} \\
  --tlsverify --tlscacert "$s/ca.pem" --tlscert "$s/server-cert.pem" --tlskey "$s/server-key.pem" "$@"
`;

/**
 * The per-job Docker engine, from this host's engine binaries (dockerd, containerd, runc, the
 * docker CLI for the readiness probe, iptables with its extensions, openssl for the certificates)
 * and a static busybox for the script. No registry, no base image.
 */
export async function dindRecipe(host: HostFiles): Promise<ImageRecipe> {
  const plan = new RootfsPlan();
  await addRootSkeleton(plan, host, ['docker:x:999:']);
  plan.dir('/var/lib/docker', { mode: 0o710 });

  const tools = await Promise.all(
    ENGINE_TOOLS.map(
      async ([tool, pkg]) => [tool, await requireExecutable(tool, pkg, host.searchPath)] as const,
    ),
  );
  await Promise.all(tools.map(([tool, path]) => plan.executable(`/usr/bin/${tool}`, path)));

  // iptables: the multi-call binary (nft, as the host's engine uses) with its links and the
  // extensions it loads at run time (conntrack, MASQUERADE, …).
  const xtables =
    (await findExecutable('xtables-nft-multi', host.searchPath)) ??
    (await findExecutable('xtables-legacy-multi', host.searchPath));
  if (!xtables) throw new HostToolMissingError('iptables', 'apt-get install iptables');
  await plan.executable('/usr/sbin/xtables-multi', xtables);
  for (const name of [
    'iptables',
    'iptables-save',
    'iptables-restore',
    'ip6tables',
    'ip6tables-save',
    'ip6tables-restore',
  ]) {
    plan.symlink(`/usr/sbin/${name}`, 'xtables-multi');
  }
  const extensions = await firstDirectory([
    `/usr/lib/${host.arch === 'arm64' ? 'aarch64' : 'x86_64'}-linux-gnu/xtables`,
    '/usr/lib/xtables',
    '/usr/lib64/xtables',
  ]);
  if (extensions) await plan.tree(extensions, extensions, { withLibraries: true });

  // openssl refuses to run without its configuration file.
  const openssl = '/usr/lib/ssl/openssl.cnf';
  await plan.file(openssl, openssl, { mode: 0o644 });
  plan.content(DIND_ENTRYPOINT, DIND_SCRIPT, { mode: 0o755 });
  const config: ImageConfig = {
    entrypoint: [DIND_ENTRYPOINT],
    env: { PATH: IMAGE_PATH },
    workdir: '/',
    labels: {},
  };
  return { repo: DIND_IMAGE_REPO, extraTags: [], kind: 'dind-image', plan, config };
}

async function firstDirectory(candidates: string[]): Promise<string | undefined> {
  for (const dir of candidates) if (await isDirectory(posix.normalize(dir))) return dir;
  return undefined;
}
