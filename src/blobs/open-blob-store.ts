import { isAbsolute, join, resolve } from 'node:path';
import { ValidationError } from '../shared/errors.js';
import type { BlobStore } from './blob-store.js';
import { LocalDiskBlobStore } from './local-disk-blob-store.js';

/** Where blob storage is chosen, named in every refusal. */
export const BLOBS_FLAG = '--blobs (SLIPWAY_BLOBS)';

/** Throws a usage error for a URL no backend takes, before anything starts. */
export function checkBlobsUrl(url: string): void {
  if (url.startsWith('file:')) {
    fileBlobsRoot(url);
    return;
  }
  if (!url.startsWith('s3://')) {
    throw new ValidationError(
      `${BLOBS_FLAG} '${url}' is not a blob store URL: give s3://BUCKET[/PREFIX][?endpoint=URL], file:DIR, or leave it out for files under <data>/blobs`,
    );
  }
}

/**
 * `file:DIR` (relative to the current directory) or `file:///abs/dir`: files in a directory
 * named on purpose — one replica on PostgreSQL, or a volume every replica mounts.
 */
function fileBlobsRoot(url: string): string {
  let path = url.slice('file:'.length);
  if (path.startsWith('//')) path = path.slice(2);
  if (path === '' || path.includes('?') || (url.startsWith('file://') && !isAbsolute(path))) {
    throw new ValidationError(`${BLOBS_FLAG}: file: takes a directory, e.g. file:/srv/slipway-blobs`);
  }
  return resolve(path);
}

/**
 * The blob store a URL names: files under `<data>/blobs` when there is none (one coordinator),
 * files in a named directory (`file:`), an S3-compatible bucket for replicas that share blobs. The S3 client loads only when used.
 */
export async function openBlobStore(url: string | undefined, dataDir: string): Promise<BlobStore> {
  if (!url) return new LocalDiskBlobStore({ root: join(dataDir, 'blobs') });
  checkBlobsUrl(url);
  if (url.startsWith('file:')) return new LocalDiskBlobStore({ root: fileBlobsRoot(url) });
  const { s3BlobStoreFromUrl } = await import('./s3-blob-store.js');
  // Puts are spooled inside the data directory (private, 0700), not in a shared /tmp.
  return s3BlobStoreFromUrl(url, dataDir);
}
