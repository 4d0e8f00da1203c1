import { join, resolve } from 'node:path';
import Docker from 'dockerode';
import { packageRoot } from '../../shared/package-root.js';
import { CliError, EXIT } from '../exit-codes.js';

/** The agent bundle of this checkout. */
export const AGENT_BUNDLE_PATH = join(packageRoot(import.meta.url), 'dist/agent/slipway-agent.mjs');

/** Longest path a Unix socket may have on Linux (sun_path, with its terminating NUL). */
const MAX_SOCKET_PATH = 107;

/** A Docker engine that answers (DOCKER_HOST or the default socket), or exit 3 saying how to get one. */
export async function connectDocker(): Promise<Docker> {
  const docker = new Docker();
  try {
    await docker.ping();
  } catch (error) {
    throw new CliError(
      `no Docker engine answers (${(error as Error).message}): start Docker, e.g. with scripts/ensure-docker.sh`,
      EXIT.infrastructure,
    );
  }
  return docker;
}

export function checkSocketPath(path: string): string {
  const full = resolve(path);
  if (Buffer.byteLength(full) > MAX_SOCKET_PATH) {
    throw new CliError(
      `the agent socket path ${full} is longer than ${MAX_SOCKET_PATH} bytes; use a shorter --data directory`,
      EXIT.invalid,
    );
  }
  return full;
}

/**
 * Resolves on the first SIGINT or SIGTERM. A second one exits at once (what is left behind is
 * collected by the next start, which finds it by label).
 */
export function untilSignal(onSecond: () => void): Promise<NodeJS.Signals> {
  return new Promise((resolveSignal) => {
    let seen = 0;
    const handler = (signal: NodeJS.Signals) => {
      seen++;
      if (seen === 1) resolveSignal(signal);
      else onSecond();
    };
    process.on('SIGINT', handler);
    process.on('SIGTERM', handler);
  });
}
