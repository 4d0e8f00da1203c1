import { createReadStream } from 'node:fs';
import { mkdir, readdir, rename, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { ConflictError, ValidationError } from '../shared/errors.js';
import { newId } from '../shared/ids.js';

const NAME = /^[A-Za-z0-9._-]{1,100}$/;

/** Pipeline artifacts on disk, one folder per run: `publish` writes them, `download` and people read. */
export class ArtifactStore {
  constructor(private readonly dir: string) {}

  async put(runId: string, name: string, archive: Buffer): Promise<{ name: string; size: number }> {
    const file = this.path(runId, name);
    await mkdir(join(this.dir, safe(runId)), { recursive: true, mode: 0o700 });
    if (
      await stat(file).then(
        () => true,
        () => false,
      )
    ) {
      throw new ConflictError(`artifact '${name}' was published in this run already`);
    }
    // Write then rename: a reader never sees half an artifact.
    const tmp = join(this.dir, safe(runId), `.${newId()}.tmp`);
    await writeFile(tmp, archive, { mode: 0o600 });
    await rename(tmp, file);
    return { name, size: archive.length };
  }

  async list(runId: string): Promise<{ name: string; size: number }[]> {
    const folder = join(this.dir, safe(runId));
    const names = await readdir(folder).catch(() => [] as string[]);
    const out = [];
    for (const f of names.filter((n) => n.endsWith('.tar.gz')).sort()) {
      out.push({ name: f.slice(0, -'.tar.gz'.length), size: (await stat(join(folder, f))).size });
    }
    return out;
  }

  async open(runId: string, name: string): Promise<Readable | undefined> {
    const file = this.path(runId, name);
    return (await stat(file).then(
      () => true,
      () => false,
    ))
      ? createReadStream(file)
      : undefined;
  }

  private path(runId: string, name: string): string {
    if (!NAME.test(name) || name.startsWith('.'))
      throw new ValidationError(`artifact name '${name}' is not valid`);
    return join(this.dir, safe(runId), `${name}.tar.gz`);
  }
}

function safe(runId: string): string {
  if (!/^[A-Za-z0-9_-]+$/.test(runId)) throw new ValidationError('bad run id');
  return runId;
}
