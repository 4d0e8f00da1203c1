import { PassThrough, type Readable } from 'node:stream';
import type { BlobStore } from '../blobs/index.js';
import { NotFoundError } from '../shared/errors.js';
import { sha256Hex } from '../shared/ids.js';

/** Where workspaces live in the blob store. */
export const WORKSPACE_PREFIX = 'workspaces/';

/** Workspace archives, named by their SHA-256 so an upload of the same tree is free. */
export class WorkspaceStore {
  constructor(private readonly blobs: BlobStore) {}

  async put(archive: Buffer): Promise<{ id: string; size: number }> {
    const id = sha256Hex(archive);
    const key = workspaceKey(id);
    // The key is the content's checksum: the blob store refuses bytes that do not match it.
    if (!(await this.blobs.stat(key))) await this.blobs.put(key, archive, { sha256: id });
    return { id, size: archive.length };
  }

  /** The archive as a stream; a missing or corrupt one fails the stream. */
  open(id: string): Readable {
    const key = workspaceKey(id);
    const out = new PassThrough();
    this.blobs.get(key).then(
      (stream) => {
        if (!stream) return out.destroy(new NotFoundError('workspace', id));
        stream.on('error', (error) => out.destroy(error));
        out.on('close', () => stream.destroy());
        stream.pipe(out);
      },
      (error: Error) => out.destroy(error),
    );
    return out;
  }
}

export function workspaceKey(id: string): string {
  if (!/^[a-f0-9]{64}$/.test(id)) throw new Error('bad workspace id');
  return `${WORKSPACE_PREFIX}${id}.tar.gz`;
}
