import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runView } from '../protocol/schemas.js';
import { killAll, spawnAgent, spawnCli, startTestServer, type TestServer } from '../test-support/harness.js';

// A run secret (`--secret`) and a secret a step sets at runtime (`issecret=true`), which only the
// agent knows. Neither value appears literally in the pipeline: the plan is stored as written.
const RUN_SECRET = 'runS3cretValue';
const RUNTIME_SECRET = 'rtS3cretValue42';

const PIPELINE = `
jobs:
- job: a
  steps:
  - bash: |
      A=rtS3cret; RT="\${A}Value42"
      echo "##vso[task.setvariable variable=rt;issecret=true]$RT"
      echo "##vso[task.setvariable variable=label]$TOK"
      echo "##vso[task.setvariable variable=label2]$RT"
    env: { TOK: $(tok) }
    displayName: Set up
  - bash: |
      echo "##vso[build.updatebuildnumber]1.0-$TOK-$RT"
      echo "##vso[build.addbuildtag]tag-$TOK"
      echo "##vso[build.addbuildtag]tag-$RT"
      echo "##vso[task.setvariable variable=out1;isOutput=true]$TOK"
      echo "##vso[task.setvariable variable=out2;isOutput=true]$RT"
      echo kept > "f-$TOK.txt"; echo "##vso[task.uploadfile]f-$TOK.txt"
      echo kept > "g-$RT.txt"; echo "##vso[task.uploadfile]g-$RT.txt"
      echo content > art.txt
    name: emit
    env: { TOK: $(tok), RT: $(rt) }
    displayName: Emit $(label) $(label2)
  - publish: art.txt
    artifact: art-$(tok)
    continueOnError: true
  - publish: art.txt
    artifact: art-$(rt)
    continueOnError: true
- job: b
  dependsOn: a
  variables:
    o1: $[ dependencies.a.outputs['emit.out1'] ]
    o2: $[ dependencies.a.outputs['emit.out2'] ]
  steps:
  - bash: echo "seen o1=$(o1) o2=$(o2)"
`;

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
}

describe('secrets sent by a job outside its log', () => {
  let ts: TestServer;
  beforeAll(async () => {
    ts = await startTestServer();
  });
  afterAll(async () => {
    await killAll();
    await ts.stop();
  });

  it('are masked in the build number, tags, step names, outputs and artifact names, in the API and the database', async () => {
    const agent = await spawnAgent(ts, 'channels-1');
    const dir = await mkdtemp(join(tmpdir(), 'slipway-ws-'));
    await writeFile(join(dir, 'azure-pipelines.yml'), PIPELINE);
    const run = spawnCli(['run', '--dir', dir, '--secret', `tok=${RUN_SECRET}`], {
      SLIPWAY_URL: ts.url,
      SLIPWAY_TOKEN: ts.adminToken,
    });
    expect(await run.exited).toBe(0);
    agent.kill();
    await agent.exited;

    const output = run.output();
    expect(output).toMatch(/seen o1=\*\*\* o2=\*\*\*/);

    const { body } = await ts.client.request<unknown[]>('runs', { token: ts.adminToken });
    const view = runView.parse(body[0]);
    const shown = JSON.stringify(
      (await ts.client.request(`runs/${view.number}`, { token: ts.adminToken })).body,
    );
    const artifacts = JSON.stringify(
      (await ts.client.request(`runs/${view.number}/artifacts`, { token: ts.adminToken })).body,
    );
    let logs = '';
    for (const job of view.jobs) {
      const res = await ts.client.fetch(`jobs/${job.id}/log`, { token: ts.adminToken });
      expect(res.status).toBe(200);
      logs += await res.text();
    }
    expect(logs).toContain('Uploaded');

    // What a user sees: the channel kept, the secret replaced.
    expect(view.buildNumber).toBe('1.0-***-***');
    expect(view.tags).toEqual(['tag-***']);
    const [a, b] = view.jobs;
    expect(a!.outputs).toEqual({ 'emit.out1': '***', 'emit.out2': '***' });
    expect(a!.steps[1]!.name).toBe('Emit *** ***');
    // An artifact name cannot hold a mask: the publish is refused, saying why.
    expect(a!.steps[2]!.result).toBe('succeededWithIssues');
    expect(a!.steps[2]!.reason).toMatch(/the artifact name contains a secret/);
    expect(a!.steps[3]!.reason).toMatch(/the artifact name contains a secret/);
    expect(b!.result).toBe('succeeded');
    expect(artifacts).toContain('a.f-___.txt');
    expect(artifacts).toContain('a.g-___.txt');

    const stored = await filesUnder(join(ts.dir, 'data'));
    for (const secret of [RUN_SECRET, RUNTIME_SECRET]) {
      for (const text of [output, shown, artifacts, logs]) expect(text).not.toContain(secret);
      // The database (with its WAL) and every file name the server keeps.
      for (const file of stored) {
        expect(file).not.toContain(secret);
        const bytes = await readFile(file);
        expect(bytes.includes(Buffer.from(secret)), `${file} holds ${secret}`).toBe(false);
      }
    }
    expect(stored.some((f) => f.endsWith('slipway.db'))).toBe(true);
  });

  it('refuses a runtime secret too short to be masked, with a warning naming it', async () => {
    const agent = await spawnAgent(ts, 'channels-2');
    const dir = await mkdtemp(join(tmpdir(), 'slipway-ws-'));
    await writeFile(
      join(dir, 'azure-pipelines.yml'),
      'steps:\n- bash: echo "##vso[task.setvariable variable=pin;issecret=true]$(echo 4x2)"\n- bash: echo "pin is $(pin)"\n',
    );
    const run = spawnCli(['run', '--dir', dir], { SLIPWAY_URL: ts.url, SLIPWAY_TOKEN: ts.adminToken });
    expect(await run.exited).toBe(0);
    agent.kill();
    await agent.exited;
    expect(run.output()).toContain(
      "secret variable 'pin' is shorter than 4 characters and could not be masked; not set",
    );
    expect(run.output()).toContain('pin is $(pin)');
  });
});
