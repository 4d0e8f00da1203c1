import { createReadStream } from 'node:fs';
import { readdir, rm, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { BlobChecksumError, type BlobStore } from '../blobs/index.js';
import type { Logger } from '../shared/logger.js';
import { artifactKey } from './artifact-store.js';
import { workspaceKey } from './workspace-store.js';

/**
 * Before the blob store, workspaces were plain files in `<data>/workspaces/<sha256>.tar.gz` and
 * artifacts in `<data>/artifacts/<run>/<name>.tar.gz`. A server upgraded in place moves them
 * into the blob store at start (each gets its checksum on the way), so runs queued before the
 * upgrade still find their workspace and artifacts. Each file is removed only once its blob
 * is whole; a start interrupted midway resumes where it stopped. Nothing to do on a new
 * data directory or after the first start.
 */
export async function adoptLegacyBlobs(
  dataDir: string,
  blobs: BlobStore,
  logger: Logger,
): Promise<{ workspaces: number; artifacts: number }> {
  const moved = { workspaces: 0, artifacts: 0 };
  const workspaces = join(dataDir, 'workspaces');
  for (const name of await names(workspaces)) {
    const file = join(workspaces, name);
    const id = /^([a-f0-9]{64})\.tar\.gz$/.exec(name)?.[1];
    if (name.startsWith('.')) await rm(file, { force: true }); // a write that crashed
    if (!id) continue;
    try {
      // A workspace is named by its SHA-256: one damaged on disk is refused, not adopted.
      await blobs.put(workspaceKey(id), createReadStream(file), { sha256: id });
    } catch (error) {
      if (!(error instanceof BlobChecksumError)) throw error;
      logger.warn({ file }, 'workspace archive does not match its name (damaged); left where it is');
      continue;
    }
    await rm(file);
    moved.workspaces++;
  }
  await rmdir(workspaces).catch(() => undefined);

  const artifacts = join(dataDir, 'artifacts');
  for (const runId of await names(artifacts)) {
    if (!/^[A-Za-z0-9_-]+$/.test(runId)) continue;
    const folder = join(artifacts, runId);
    for (const name of await names(folder)) {
      const file = join(folder, name);
      if (name.startsWith('.')) await rm(file, { force: true });
      if (!name.endsWith('.tar.gz') || name.startsWith('.')) continue;
      await blobs.put(artifactKey(runId, name.slice(0, -'.tar.gz'.length)), createReadStream(file));
      await rm(file);
      moved.artifacts++;
    }
    await rmdir(folder).catch(() => undefined);
  }
  await rmdir(artifacts).catch(() => undefined);
  if (moved.workspaces + moved.artifacts > 0) {
    logger.info(moved, 'moved workspaces and artifacts of earlier runs into the blob store');
  }
  return moved;
}

async function names(dir: string): Promise<string[]> {
  return (await readdir(dir).catch(() => [] as string[])).sort();
}
