import { ValidationError } from '../shared/errors.js';
import type { ResourceLimits } from './container-spec.js';

const UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/** `512m`, `2g`, `1.5G`, `1048576` (bytes) as Docker's `--memory` reads them. */
export function parseByteSize(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([bkmgt]?)(?:i?b)?$/i.exec(text.trim());
  const unit = UNITS[m?.[2]?.toLowerCase() ?? ''];
  if (!m || unit === undefined) throw new ValidationError(`'${text}' is not a size (e.g. 512m, 2g)`);
  return Math.round(Number(m[1]) * unit);
}

/** Resource limits from command-line text; each is optional. */
export function parseResourceLimits(o: {
  cpus?: string;
  memory?: string;
  pids?: string;
  disk?: string;
}): ResourceLimits {
  const limits: ResourceLimits = {};
  if (o.cpus !== undefined) {
    const cpus = Number(o.cpus);
    if (!(cpus > 0)) throw new ValidationError(`--cpus: '${o.cpus}' is not a positive number`);
    limits.cpus = cpus;
  }
  if (o.memory !== undefined) {
    limits.memoryBytes = parseByteSize(o.memory);
    // Docker's own floor; below it the engine refuses the container.
    if (limits.memoryBytes < 6 * 1024 ** 2)
      throw new ValidationError(`--memory: '${o.memory}' is below Docker's minimum of 6m`);
  }
  if (o.pids !== undefined) {
    const pids = Number(o.pids);
    if (!Number.isInteger(pids) || pids < 1)
      throw new ValidationError(`--pids: '${o.pids}' is not a positive integer`);
    limits.pids = pids;
  }
  if (o.disk !== undefined) limits.diskBytes = parseByteSize(o.disk);
  return limits;
}

/** What a Docker host has, for the default limits. */
export interface HostResources {
  cpus: number;
  memoryBytes: number;
}

/**
 * Limits for the containers of a pool's fleet where the flags set none, so that one job cannot
 * take the whole host: at most 2 CPUs and 4 GiB each, and never more than half the host's memory.
 */
export function withDefaultLimits(limits: ResourceLimits, host: HostResources): ResourceLimits {
  return {
    ...limits,
    cpus: limits.cpus ?? Math.max(1, Math.min(2, host.cpus)),
    memoryBytes: limits.memoryBytes ?? Math.min(4 * 1024 ** 3, Math.floor(host.memoryBytes / 2)),
  };
}
