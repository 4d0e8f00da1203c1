import { createReadStream } from 'node:fs';
import { mkdir, rename, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { newId, sha256Hex } from '../shared/ids.js';

/** Workspace archives on disk, named by their SHA-256 so an upload of the same tree is free. */
export class WorkspaceStore {
  constructor(private readonly dir: string) {}

  async put(archive: Buffer): Promise<{ id: string; size: number }> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const id = sha256Hex(archive);
    const file = this.path(id);
    const exists = await stat(file).then(
      () => true,
      () => false,
    );
    if (!exists) {
      // Write then rename: a crash never leaves a half-written archive under its final name.
      const tmp = join(this.dir, `.${newId()}.tmp`);
      await writeFile(tmp, archive, { mode: 0o600 });
      await rename(tmp, file);
    }
    return { id, size: archive.length };
  }

  open(id: string): Readable {
    return createReadStream(this.path(id));
  }

  private path(id: string): string {
    if (!/^[a-f0-9]{64}$/.test(id)) throw new Error('bad workspace id');
    return join(this.dir, `${id}.tar.gz`);
  }
}
