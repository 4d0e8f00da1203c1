import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { killAll, spawnAgent, spawnCli, startTestServer, type TestServer } from '../test-support/harness.js';

const SECRET = 'deploy-key-7f3a9c';
let ts: TestServer;
let env: Record<string, string>;

const cli = async (args: string[], cwd?: string) => {
  const p = spawnCli(args, env, cwd);
  const code = await p.exited;
  return { code, output: p.output() };
};

/** A folder with one pipeline file. */
async function workspace(name: string, pipeline: string): Promise<string> {
  const dir = join(ts.dir, name);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'azure-pipelines.yml'), pipeline);
  return dir;
}

beforeAll(async () => {
  ts = await startTestServer();
  env = { SLIPWAY_URL: ts.url, SLIPWAY_TOKEN: ts.adminToken };
  await spawnAgent(ts, 'groups-agent');
  const created = await cli([
    'group',
    'create',
    'Shared Config',
    '--pools',
    'default',
    '--var',
    'GREETING=hello',
    '--var',
    'REGION=from-group',
    '--secret',
    `DEPLOY_KEY=${SECRET}`,
  ]);
  expect(created.code, created.output).toBe(0);
  expect(created.output).toContain(
    "variable group 'Shared Config' created: 2 variables, 1 secret, pools default",
  );
});

afterAll(async () => {
  await killAll();
  await ts.stop();
});

describe('variable groups', () => {
  it('lists values and secret names, never a secret, and keeps the secret sealed at rest', async () => {
    const listed = await cli(['group', 'list']);
    expect(listed.code).toBe(0);
    expect(listed.output).toMatch(/Shared Config\tdefault\t-\tGREETING=hello REGION=from-group\tDEPLOY_KEY/);
    expect(listed.output).not.toContain(SECRET);
    const json = await cli(['group', 'list', '--json']);
    expect(JSON.parse(json.output)[0]).toMatchObject({ name: 'Shared Config', secretNames: ['DEPLOY_KEY'] });
    expect(json.output).not.toContain(SECRET);
    for (const file of await readdir(join(ts.dir, 'data'))) {
      if (!file.startsWith('slipway.db')) continue;
      expect((await readFile(join(ts.dir, 'data', file))).includes(SECRET), file).toBe(false);
    }
  });

  it('gives a referencing job the values beneath its own and the secret masked; a job without it gets neither', async () => {
    const dir = await workspace(
      'uses-group',
      [
        'jobs:',
        '- job: deploy',
        '  variables:',
        '  - group: shared config', // names match whatever the case, as in Azure
        '  - name: REGION',
        '    value: from-pipeline',
        '  steps:',
        '  - bash: echo "greeting=$(GREETING) region=$(REGION)"',
        '  - bash: echo "key=$(DEPLOY_KEY)"',
        '- job: other',
        '  steps:',
        '  - bash: echo "other sees [$(GREETING)] [$(DEPLOY_KEY)]"',
        '',
      ].join('\n'),
    );
    const run = await cli(['run', '--dir', dir]);
    expect(run.code, run.output).toBe(0);
    expect(run.output).toContain('greeting=hello region=from-pipeline');
    expect(run.output).toContain('key=***');
    expect(run.output).toContain('other sees [$(GREETING)] [$(DEPLOY_KEY)]');
    expect(run.output).not.toContain(SECRET);
  });

  it('refuses, before queueing, a group that does not exist or does not allow the job’s pool, naming the fix', async () => {
    expect((await cli(['pool', 'create', 'release'])).code).toBe(0);
    const elsewhere = await workspace(
      'wrong-pool',
      'pool: release\nvariables: [{ group: Shared Config }]\nsteps:\n- bash: echo no\n',
    );
    const refused = await cli(['run', '--dir', elsewhere]);
    expect(refused.code).toBe(2);
    expect(refused.output).toContain(
      "runs in pool 'release', which variable group 'Shared Config' does not allow (allow it with 'slipway group set \"Shared Config\" --pools default,release')",
    );
    const missing = await workspace('missing', 'variables: [{ group: nope }]\nsteps:\n- bash: echo no\n');
    const unknown = await cli(['run', '--dir', missing]);
    expect(unknown.code).toBe(2);
    expect(unknown.output).toContain("uses variable group 'nope', which does not exist");
    const runs = await ts.client.request<unknown[]>('runs', { token: ts.adminToken });
    expect(runs.body).toHaveLength(1);
  });

  it('a repository allowed by a group is the one the coordinator mirrors, never what a client says of its folder', async () => {
    const created = await cli([
      'group',
      'create',
      'App Deploy',
      '--repositories',
      'claimed-app',
      '--secret',
      `APP_KEY=${SECRET}`,
    ]);
    expect(created.code, created.output).toBe(0);
    expect(created.output).toContain('no pool allowed, repositories claimed-app');
    // A folder named like the repository: the client reports it as the run's repository.
    const lookalike = await workspace(
      'claimed-app',
      'variables: [{ group: App Deploy }]\nsteps:\n- bash: echo no\n',
    );
    const refused = await cli(['run', '--dir', lookalike]);
    expect(refused.code, refused.output).toBe(2);
    expect(refused.output).toContain("which variable group 'App Deploy' does not allow");
    expect(refused.output).not.toContain(SECRET);
    expect((await cli(['group', 'delete', 'App Deploy'])).code).toBe(0);
  });

  it('an untrusted run gets the values but never the secrets', async () => {
    const created = await ts.client.createRun(
      {
        pipeline: {
          file: 'p.yml',
          content:
            'variables: [{ group: Shared Config }]\nsteps:\n- bash: echo "untrusted [$(GREETING)] [$(DEPLOY_KEY)]"\n',
        },
        untrusted: true,
      },
      { token: ts.adminToken },
    );
    let log = '';
    for (let i = 0; i < 200 && !log.includes('untrusted ['); i++) {
      await new Promise((r) => setTimeout(r, 100));
      const events = await ts.client.runEvents(created.id, { after: 0, waitMs: 0 }, { token: ts.adminToken });
      log = JSON.stringify(events);
    }
    expect(log).toContain('untrusted [hello] [$(DEPLOY_KEY)]');
  });

  it('set changes only what it says; a secret set again replaces the value, unset removes it', async () => {
    const set = await cli([
      'group',
      'set',
      'Shared Config',
      '--secret',
      'API_TOKEN=another-1234',
      '--unset',
      'REGION',
    ]);
    expect(set.code, set.output).toBe(0);
    expect(set.output).toContain('1 variable, 2 secrets, pools default');
    const nothing = await cli(['group', 'set', 'Shared Config']);
    expect(nothing.code).toBe(2);
    expect(nothing.output).toContain('nothing to change');
    const removed = await cli(['group', 'delete', 'Shared Config']);
    expect(removed.code).toBe(0);
    expect((await cli(['group', 'list'])).output).not.toContain('Shared Config');
  });
});
