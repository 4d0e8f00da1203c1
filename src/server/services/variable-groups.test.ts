import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { JobPlan } from '../../pipeline/index.js';
import { ValidationError } from '../../shared/errors.js';
import type { JobRow } from '../../store/index.js';
import { SqliteStore } from '../../store/sqlite/sqlite-store.js';
import { FakeClock } from '../../test-support/coordinator.js';
import { SecretVault } from '../secret-vault.js';
import { VariableGroupService } from './variable-groups.js';

let store: SqliteStore;
let groups: VariableGroupService;
beforeEach(() => {
  store = new SqliteStore(join(mkdtempSync(join(tmpdir(), 'slipway-groups-')), 'db.sqlite'));
  groups = new VariableGroupService({
    store,
    clock: new FakeClock(),
    vault: new SecretVault(randomBytes(32)),
  });
});
afterEach(async () => {
  await store.close();
});

function jobIn(pool: string): JobRow {
  return {
    id: 'job_1',
    runId: 'run_1',
    name: 'build',
    pool,
    plan: { variableGroups: ['deploy'], variables: {} } as unknown as JobPlan,
  } as JobRow;
}

describe('who may read a variable group', () => {
  beforeEach(async () => {
    await groups.create({
      name: 'deploy',
      description: '',
      pools: ['release'],
      repositories: ['app'],
      variables: { REGION: 'eu' },
      secrets: { TOKEN: 's3cret' },
    });
  });

  it('a job of an allowed pool, from any repository or none', async () => {
    expect(await groups.resolve('p.yml', jobIn('Release'), false)).toEqual({
      variables: { REGION: 'eu' },
      secrets: { TOKEN: 's3cret' },
    });
  });

  it('a run of an allowed repository, from any pool (names compare case-insensitively)', async () => {
    const got = await groups.resolve('p.yml', jobIn('default'), false, 'App');
    expect(got.secrets).toEqual({ TOKEN: 's3cret' });
  });

  it('nobody else, and the refusal names both ways to allow it', async () => {
    await expect(groups.resolve('p.yml', jobIn('default'), false)).rejects.toThrow(ValidationError);
    const refused = groups.resolve('p.yml', jobIn('default'), false, 'other');
    await expect(refused).rejects.toThrow(/--pools release,default/);
    await expect(groups.resolve('p.yml', jobIn('default'), false, 'other')).rejects.toThrow(
      /--repositories app,other/,
    );
  });

  it('an untrusted run of an allowed repository gets the values, never the secrets', async () => {
    expect(await groups.resolve('p.yml', jobIn('default'), true, 'app')).toEqual({
      variables: { REGION: 'eu' },
      secrets: {},
    });
  });

  it('keeps the repositories across an update that does not name them, and replaces them when it does', async () => {
    await groups.update('deploy', { variables: { X: '1' }, secrets: {}, remove: [] });
    expect((await groups.get('deploy')).repositories).toEqual(['app']);
    await groups.update('deploy', { repositories: ['web'], variables: {}, secrets: {}, remove: [] });
    expect((await groups.get('deploy')).repositories).toEqual(['web']);
  });
});
