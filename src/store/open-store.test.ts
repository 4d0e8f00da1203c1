import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ValidationError } from '../shared/errors.js';
import { checkStoreUrl, defaultStoreUrl, openStore } from './index.js';

describe('openStore', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'slipway-open-store-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('opens sqlite:<relative path> from the given directory, the file private (0600)', async () => {
    const store = await openStore('sqlite:nested/ci.db', { cwd: dir });
    await store.ensurePool('default', { allowDockerSocket: false }, 1);
    expect((await store.listPools()).map((p) => p.name)).toEqual(['default']);
    await store.close();
    expect(statSync(join(dir, 'nested', 'ci.db')).mode & 0o777).toBe(0o600);
  });

  it('opens sqlite:///absolute and sqlite:/absolute alike', async () => {
    const file = join(dir, 'abs.db');
    const a = await openStore(`sqlite://${file}`, { cwd: '/nonexistent' });
    await a.ensurePool('p1', { allowDockerSocket: false }, 1);
    await a.close();
    const b = await openStore(`sqlite:${file}`, { cwd: '/nonexistent' });
    expect((await b.listPools()).map((p) => p.name)).toEqual(['p1']);
    await b.close();
  });

  it('the default is slipway.db in the data directory', () => {
    expect(defaultStoreUrl('/srv/ci')).toBe('sqlite:/srv/ci/slipway.db');
  });

  it('checks postgres:// and postgresql:// URLs without connecting, refusing bad options without echoing the password', () => {
    // Nothing listens on this host: a check that connected would fail.
    expect(() => checkStoreUrl('postgres://ci:hunter2@db.invalid:5432/ci?pool_max=20')).not.toThrow();
    expect(() => checkStoreUrl('postgresql://db.invalid/ci?sslmode=require')).not.toThrow();
    for (const [url, message] of [
      ['postgres://ci:hunter2@db.invalid/ci?pool_max=0', /pool_max must be a positive whole number/],
      ['postgres://ci:hunter2@db.invalid/ci?statement_timeout_ms=soon', /statement_timeout_ms must be/],
      ['postgres:ci:hunter2', /a postgres:\/\/ URL needs a host/],
    ] as const) {
      expect(() => checkStoreUrl(url)).toThrow(ValidationError);
      expect(() => checkStoreUrl(url)).toThrow(message);
      try {
        checkStoreUrl(url);
      } catch (e) {
        expect((e as Error).message).not.toContain('hunter2');
      }
    }
  });

  it.each([
    ['mysql://x', /'mysql:' databases are not supported yet\. Supported: sqlite:<path>, postgres:\/\/…/],
    ['just-a-path.db', /expected a URL such as sqlite:<path>/],
    ['sqlite:', /sqlite: needs a file path/],
    ['sqlite:some/dir/', /sqlite: needs a file path/],
    ['sqlite://host/db', /sqlite:\/\/ takes an absolute path/],
    ['sqlite::memory:', /plain file path/],
  ])('refuses %s', async (url, message) => {
    expect(() => checkStoreUrl(url)).toThrow(message);
    await expect(openStore(url, { cwd: dir })).rejects.toThrow(message);
    expect(existsSync(join(dir, 'some'))).toBe(false);
  });
});
