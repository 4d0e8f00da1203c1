import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { runCli, serverWithAgent, spawnCli } from '../test-support/harness.js';

// Windows-2022 is mapped, in another spelling, to the default pool (named in yet another).
const server = serverWithAgent('hosted-agent', { vmImagePools: { 'Windows-2022': 'DEFAULT' } });

async function pipelineDir(yaml: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'slipway-hosted-'));
  await writeFile(join(dir, 'azure-pipelines.yml'), yaml);
  return dir;
}

it('validates vmImage with a note: the server maps it', async () => {
  const dir = await pipelineDir('pool:\n  vmImage: windows-latest\nsteps:\n- script: echo hi\n');
  const validate = spawnCli(['validate', 'azure-pipelines.yml'], {}, dir);
  expect(await validate.exited).toBe(0);
  expect(validate.output()).toContain(
    "azure-pipelines.yml:2:12: note: pool.vmImage 'windows-latest' is mapped to a Slipway pool by the server",
  );
  expect(validate.output()).toContain('azure-pipelines.yml: valid');
});

it('runs a Linux vmImage in the default pool and says so in the job log', async () => {
  const dir = await pipelineDir('pool:\n  vmImage: ubuntu-latest\nsteps:\n- script: echo on $(Agent.Name)\n');
  const { code, output } = await runCli(server(), ['--dir', dir]);
  expect(output).toContain("vmImage 'ubuntu-latest' is mapped to pool 'default', the pool's own image");
  expect(output).toContain('on hosted-agent');
  expect(code).toBe(0);
});

it('runs a mapped Windows image where the server maps it, and pool names in any case', async () => {
  const dir = await pipelineDir(
    [
      'jobs:',
      '- job: mapped',
      '  pool: { vmImage: windows-2022 }',
      '  steps: [{ script: echo mapped }]',
      '- job: named',
      '  pool: Default',
      '  steps: [{ script: echo named }]',
      '',
    ].join('\n'),
  );
  const { code, output } = await runCli(server(), ['--dir', dir]);
  expect(output).toContain("vmImage 'windows-2022' is mapped to pool 'default'");
  expect(output).toContain('named');
  expect(code).toBe(0);
});

it('refuses an unmapped Windows or macOS image at queue time, naming the flag', async () => {
  const dir = await pipelineDir(
    'jobs:\n- job: win\n  pool: { vmImage: macOS-latest }\n  steps: [{ script: echo }]\n',
  );
  const { code, output } = await runCli(server(), ['--dir', dir]);
  expect(output).toContain(
    "azure-pipelines.yml:2:3: job 'win': vmImage 'macOS-latest' is a macOS image, and Slipway runs Linux jobs: " +
      "map it to a pool that can run it with '--vm-image-pool macOS-latest=POOL[:IMAGE]' (slipway server or slipway up)",
  );
  expect(code).toBe(2);
});

it('refuses a malformed --vm-image-pool naming the flag', async () => {
  const p = spawnCli(['server', '--port', '0', '--vm-image-pool', 'ubuntu-latest=:img']);
  expect(await p.exited).toBe(2);
  expect(p.output()).toContain(
    "option '--vm-image-pool <name=pool[:image]>' argument 'ubuntu-latest=:img' is invalid",
  );
});
