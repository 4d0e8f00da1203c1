import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { checkBlobsUrl } from '../blobs/index.js';
import { ValidationError } from '../shared/errors.js';
import { silentLogger } from '../shared/logger.js';
import { startServer } from './server.js';

/** What a replica on a shared database needs besides it, refused before anything is touched. */
let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'slipway-replica-config-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const base = () => ({
  dataDir: join(dir, 'data'),
  port: 0,
  database: 'postgres://slipway@127.0.0.1:1/slipway',
  secretKey: '11'.repeat(32),
});

describe('a replica on PostgreSQL', () => {
  it('is refused without shared blobs, naming --blobs, before its data directory is made', async () => {
    const start = startServer({ config: base(), logger: silentLogger });
    await expect(start).rejects.toBeInstanceOf(ValidationError);
    await expect(start).rejects.toThrow(/--blobs.*s3:\/\/.*file:DIR/);
    expect(await readdir(dir)).toEqual([]);
  });

  it('is refused without SLIPWAY_SECRET_KEY: a key of its own could not open what others sealed', async () => {
    const { secretKey: _, ...config } = base();
    const start = startServer({ config: { ...config, blobs: 's3://bucket' }, logger: silentLogger });
    await expect(start).rejects.toThrow(/SLIPWAY_SECRET_KEY.*same on every replica/);
  });

  it('a SQLite coordinator still needs neither', async () => {
    const server = await startServer({
      config: { dataDir: join(dir, 'data'), port: 0 },
      logger: silentLogger,
    });
    await server.stop();
  });
});

describe('file: blobs', () => {
  it('take a directory, and refuse what is not one', () => {
    expect(() => checkBlobsUrl('file:/srv/slipway-blobs')).not.toThrow();
    expect(() => checkBlobsUrl('file:///srv/slipway-blobs')).not.toThrow();
    expect(() => checkBlobsUrl('file:relative/dir')).not.toThrow();
    expect(() => checkBlobsUrl('file:')).toThrow(ValidationError);
    expect(() => checkBlobsUrl('file:/x?y')).toThrow(ValidationError);
    expect(() => checkBlobsUrl('gs://bucket')).toThrow(/file:DIR/);
  });
});
