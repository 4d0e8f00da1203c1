import type { JobPlan } from '../pipeline/index.js';
import { DEFAULT_POOL } from '../pipeline/index.js';

/** Where jobs of one `vmImage` run: a pool, and the job image when the mapping names one. */
export interface VmImageTarget {
  pool: string;
  image?: string;
}

/** The flag that maps images, as users type it (`slipway server` and `slipway up` both take it). */
export const VM_IMAGE_FLAG = '--vm-image-pool';

/**
 * `--vm-image-pool NAME=POOL[:IMAGE]` values (`POOL[:IMAGE]`, by image name) → targets. The
 * pool ends at the first `:`: pool names have none, image references may (`node:20`).
 */
export function parseVmImageMappings(raw: Readonly<Record<string, string>>): Record<string, VmImageTarget> {
  const mappings: Record<string, VmImageTarget> = {};
  for (const [name, value] of Object.entries(raw)) {
    const colon = value.indexOf(':');
    const pool = (colon < 0 ? value : value.slice(0, colon)).trim();
    const image = colon < 0 ? '' : value.slice(colon + 1).trim();
    if (name.trim() === '' || pool === '' || (colon >= 0 && image === ''))
      throw new Error(`${VM_IMAGE_FLAG} '${name}=${value}': expected NAME=POOL or NAME=POOL:IMAGE`);
    mappings[name.trim().toLowerCase()] = image ? { pool, image } : { pool };
  }
  return mappings;
}

/** Azure's hosted images that are not Linux: Slipway's jobs are Linux processes. */
function hostedFamily(vmImage: string): 'Windows' | 'macOS' | undefined {
  const name = vmImage.toLowerCase();
  if (/^(windows|win|vs20\d\d)/.test(name)) return 'Windows';
  if (/^mac/.test(name)) return 'macOS';
  return undefined;
}

/**
 * Where a job that asks for `vmImage` runs: the mapping for that name (case-insensitive), else,
 * for a Linux image, the default pool on the pool's own image. A Windows or macOS image without
 * a mapping is refused with the reason, naming the flag that maps it.
 */
export function mapVmImage(
  vmImage: string,
  mappings: Readonly<Record<string, VmImageTarget>>,
): { target: VmImageTarget } | { refused: string } {
  const mapped = mappings[vmImage.toLowerCase()];
  if (mapped) return { target: mapped };
  const family = hostedFamily(vmImage);
  if (family === undefined) return { target: { pool: DEFAULT_POOL } };
  return {
    refused:
      `vmImage '${vmImage}' is a ${family} image, and Slipway runs Linux jobs: map it to a pool ` +
      `that can run it with '${VM_IMAGE_FLAG} ${vmImage}=POOL[:IMAGE]' (slipway server or slipway up), ` +
      `or write 'pool: <name>'`,
  };
}

/** The job with its vmImage mapped: its pool, the image (unless it names a container itself). */
export function applyVmImage(job: JobPlan, target: VmImageTarget): JobPlan {
  const pool = { ...job.pool, name: target.pool, vmImageMapping: target };
  if (target.image === undefined || job.container !== undefined) return { ...job, pool };
  return { ...job, pool, container: { image: target.image, env: {}, ports: [] } };
}
