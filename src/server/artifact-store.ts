import type { Readable } from 'node:stream';
import { BlobExistsError, type BlobStore } from '../blobs/index.js';
import { ConflictError, ValidationError } from '../shared/errors.js';

const NAME = /^[A-Za-z0-9._-]{1,100}$/;
const SUFFIX = '.tar.gz';

/** Where a run's artifacts live in the blob store. */
export const ARTIFACT_PREFIX = 'artifacts/';

/** Pipeline artifacts, one folder per run: `publish` writes them, `download` and people read. */
export class ArtifactStore {
  constructor(private readonly blobs: BlobStore) {}

  async put(runId: string, name: string, archive: Buffer): Promise<{ name: string; size: number }> {
    try {
      // Atomic: of two jobs publishing the same name, one wins; a reader never sees half of one.
      await this.blobs.put(artifactKey(runId, name), archive, { ifExists: 'fail' });
    } catch (error) {
      if (error instanceof BlobExistsError) {
        throw new ConflictError(`artifact '${name}' was published in this run already`);
      }
      throw error;
    }
    return { name, size: archive.length };
  }

  async list(runId: string): Promise<{ name: string; size: number }[]> {
    const folder = runFolder(runId);
    const out: { name: string; size: number }[] = [];
    for (const blob of await this.blobs.list(folder)) {
      const rest = blob.key.slice(folder.length);
      if (rest.endsWith(SUFFIX) && !rest.includes('/'))
        out.push({ name: rest.slice(0, -SUFFIX.length), size: blob.size });
    }
    // Sorted by key, as the listing is: the order `<name>.tar.gz` file names always had.
    return out;
  }

  async open(runId: string, name: string): Promise<Readable | undefined> {
    return this.blobs.get(artifactKey(runId, name));
  }
}

function runFolder(runId: string): string {
  if (!/^[A-Za-z0-9_-]+$/.test(runId)) throw new ValidationError('bad run id');
  return `${ARTIFACT_PREFIX}${runId}/`;
}

export function artifactKey(runId: string, name: string): string {
  if (!NAME.test(name) || name.startsWith('.'))
    throw new ValidationError(`artifact name '${name}' is not valid`);
  return `${runFolder(runId)}${name}${SUFFIX}`;
}
