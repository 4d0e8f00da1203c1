import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { runView } from '../protocol/schemas.js';
import { ROOT, runCli, serverWithAgent, spawnCli } from '../test-support/harness.js';

const server = serverWithAgent('dialect-agent');

it('runs examples/azure-dialect: stages, templates, matrix with maxParallel, shards, deployment, artifacts, outputs across stages', async () => {
  const { code, output } = await runCli(server(), ['--dir', join(ROOT, 'examples', 'azure-dialect')]);
  expect(output).toContain('shard 1 of 2');
  expect(output).toContain('trigger, pr: kept with the pipeline; not applicable to a local run');
  expect(output).toContain('shard 2 of 2');
  expect(output).toContain('built for linux in release');
  expect(output).toContain('deploying 1.2.1 (release, hello)');
  expect(output).toMatch(/build \d{8}\.1 · tags: deployed/);
  expect(code).toBe(0);
  const { body } = await server().client.request<unknown[]>('runs?limit=1', { token: server().adminToken });
  const run = runView.parse(body[0]);
  expect(run.jobs.map((j) => [j.name, j.result])).toEqual([
    ['Build.compile_linux', 'succeeded'],
    ['Build.compile_alpine', 'succeeded'],
    ['Build.test_1', 'succeeded'],
    ['Build.test_2', 'succeeded'],
    ['Deploy.web', 'succeeded'],
  ]);
  // maxParallel: 1 — the two legs never overlapped.
  const [linux, alpine] = run.jobs;
  const legs = [linux!, alpine!].sort((a, b) => Date.parse(a.startedAt!) - Date.parse(b.startedAt!));
  expect(Date.parse(legs[1]!.startedAt!)).toBeGreaterThanOrEqual(Date.parse(legs[0]!.finishedAt!));
  const artifacts = await server().client.request<{ name: string }[]>(`runs/${run.id}/artifacts`, {
    token: server().adminToken,
  });
  expect(artifacts.body.map((a) => a.name)).toEqual(['bin-alpine', 'bin-linux']);
  const to = await mkdtemp(join(tmpdir(), 'slipway-artifact-'));
  const download = spawnCli(['artifact', 'download', String(run.number), 'bin-linux', '--to', to], {
    SLIPWAY_URL: server().url,
    SLIPWAY_TOKEN: server().adminToken,
  });
  expect(await download.exited).toBe(0);
  expect(await readFile(join(to, 'app.txt'), 'utf8')).toBe('built for linux in release\n');
});

it('skips a stage whose condition is false, and takes --param values', async () => {
  const { code, output } = await runCli(server(), [
    '--dir',
    join(ROOT, 'examples', 'azure-dialect'),
    '--param',
    'runTests=false',
    '--var',
    'Build.Reason=PullRequest',
  ]);
  expect(code).toBe(0);
  expect(output).not.toContain('shard 1 of 2');
  const { body } = await server().client.request<unknown[]>('runs?limit=1', { token: server().adminToken });
  const run = runView.parse(body[0]);
  expect(run.jobs.map((j) => j.name)).not.toContain('Build.test_1');
  expect(run.jobs.find((j) => j.name === 'Deploy.web')).toMatchObject({ result: 'skipped' });
});

it('names the template file, line and column of an error inside a template', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'slipway-tpl-'));
  await mkdir(join(dir, 'templates'));
  await writeFile(join(dir, 'azure-pipelines.yml'), 'steps:\n- template: templates/steps.yml\n');
  await writeFile(
    join(dir, 'templates', 'steps.yml'),
    'steps:\n- script: echo ok\n- bash: echo\n  timeoutInMinutes: soon\n',
  );
  const validate = spawnCli(['validate', 'azure-pipelines.yml'], {}, dir);
  expect(await validate.exited).toBe(2);
  expect(validate.output()).toMatch(/templates\/steps\.yml:4:21: 'timeoutInMinutes'/);
  const { code, output } = await runCli(server(), ['--dir', dir]);
  expect(code).toBe(2);
  expect(output).toMatch(/templates\/steps\.yml:4:21/);
});

it('runs pwsh only where it is installed, fails on stderr when asked, and retries a failing step', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'slipway-steps-'));
  await writeFile(
    join(dir, 'azure-pipelines.yml'),
    `steps:
- pwsh: Write-Host hi
  displayName: needs pwsh
  continueOnError: true
- bash: echo oops >&2
  displayName: noisy
  failOnStderr: true
  continueOnError: true
- bash: |
    n=$(cat count 2>/dev/null || echo 0); n=$((n+1)); echo $n > count
    echo "try $n"; [ $n -ge 2 ]
  displayName: flaky
  retryCountOnTaskFailure: 2
`,
  );
  const { code, output } = await runCli(server(), ['--dir', dir]);
  expect(output).toMatch(/needs pwsh.*pwsh \(PowerShell\) is not installed/);
  expect(output).toMatch(/noisy.*wrote to stderr/);
  expect(output).toContain('try 1');
  expect(output).toContain('try 2');
  expect(code).toBe(0);
  const { body } = await server().client.request<unknown[]>('runs?limit=1', { token: server().adminToken });
  const run = runView.parse(body[0]);
  expect(run.jobs[0]!.steps.map((s) => s.result)).toEqual([
    'succeededWithIssues',
    'succeededWithIssues',
    'succeeded',
  ]);
});
