import { chmod, mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { runView } from '../protocol/schemas.js';
import { runCli, serverWithAgent } from '../test-support/harness.js';

const server = serverWithAgent('tools-agent');

/** A tool cache laid out as hosted images have it, with programs that only say their version. */
const TOOLS: Record<string, string> = {
  'Python/3.10.2/x64/bin/python': 'echo "Python 3.10.2"',
  'Python/3.11.4/x64/bin/python': 'echo "Python 3.11.4"',
  'Python/3.11.4/x64/bin/python3': 'echo "Python 3.11.4"',
  'node/18.17.0/x64/bin/node': 'echo v18.17.0',
  'go/1.21.0/x64/bin/go': 'echo "go version go1.21.0 linux/amd64"',
  'Java_Temurin-Hotspot_jdk/17.0.8-7/x64/bin/java': 'echo \'openjdk version "17.0.8" 2023-07-18\' >&2',
  'dotnet/dotnet':
    'case "$1" in --list-sdks) echo "6.0.400 [/x/sdk]"; echo "8.0.100 [/x/sdk]";; *) echo ".NET 8";; esac',
};

const PIPELINE = `
variables:
  AGENT_TOOLSDIRECTORY: $(Build.SourcesDirectory)/toolcache
jobs:
- job: tools
  steps:
  - task: UsePythonVersion@0
    inputs: { versionSpec: '3.11' }
  - task: NodeTool@0
    inputs: { versionSpec: 18.x }
  - task: GoTool@0
    inputs: { version: '1.21', goPath: $(Build.SourcesDirectory)/gopath }
  - task: JavaToolInstaller@0
    inputs: { versionSpec: '17', jdkArchitectureOption: x64, jdkSourceOption: PreInstalled }
  - task: UseDotNet@2
    inputs: { packageType: sdk, version: 8.0.x }
  - bash: |
      echo "python=$(python --version) at $(command -v python)"
      echo "pythonLocation=$(pythonLocation)"
      echo "node=$(node --version)"
      echo "go=$(go version) GOROOT=$GOROOT GOPATH=$GOPATH"
      echo "java=$(java -version 2>&1) JAVA_HOME=$JAVA_HOME"
      echo "DOTNET_ROOT=$DOTNET_ROOT"
- job: node_from_path
  steps:
  # Not in the tool cache (18 only): the agent's own Node.js on PATH, if it is 20 or later.
  - task: UseNode@1
    inputs: { version: '>=20' }
- job: missing
  steps:
  - task: UsePythonVersion@0
    inputs: { versionSpec: '3.99' }
`;

it('selects Python, Node.js, Go, Java and .NET from the tool cache or PATH for later steps, and names what is missing', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'slipway-tools-'));
  await writeFile(join(dir, 'azure-pipelines.yml'), PIPELINE);
  for (const [path, body] of Object.entries(TOOLS)) {
    const file = join(dir, 'toolcache', path);
    await mkdir(join(file, '..'), { recursive: true });
    await writeFile(file, `#!/bin/sh\n${body}\n`);
    await chmod(file, 0o755);
  }
  const { code, output } = await runCli(server(), ['--dir', dir]);
  const cache = /Python 3\.11\.4 from the tool cache: (\S+)\/toolcache\/Python\/3\.11\.4\/x64/.exec(output);
  expect(cache, output).not.toBeNull();
  const s = `${cache![1]}/toolcache`;
  expect(output).toContain(`python=Python 3.11.4 at ${s}/Python/3.11.4/x64/bin/python`);
  expect(output).toContain(`pythonLocation=${s}/Python/3.11.4/x64`);
  expect(output).toContain('node=v18.17.0');
  expect(output).toContain(
    `go=go version go1.21.0 linux/amd64 GOROOT=${s}/go/1.21.0/x64 GOPATH=${cache![1]}/gopath`,
  );
  expect(output).toContain(
    `java=openjdk version "17.0.8" 2023-07-18 JAVA_HOME=${s}/Java_Temurin-Hotspot_jdk/17.0.8-7/x64`,
  );
  expect(output).toContain(`.NET sdk 8.0.100 from ${s}/dotnet/dotnet`);
  expect(output).toContain(`DOTNET_ROOT=${s}/dotnet`);
  expect(output).toMatch(/Node\.js \d+\.\d+\.\d+ from the PATH/);
  // Each job has its own folder: the missing one's tool cache is another path.
  expect(output).toMatch(
    /Python 3\.99 was not found \(Slipway never downloads tools\): the tool cache \S+\/toolcache has Python\/3\.10\.2, Python\/3\.11\.4; PATH has /,
  );
  expect(output).toContain(
    "To provide it, use a job image that has it (container: python:3.99), or mount a tool cache into the pool's containers with Python/<version>/x64 for 3.99 and set AGENT_TOOLSDIRECTORY to it.",
  );
  expect(code).toBe(1);
  const { body } = await server().client.request<unknown[]>('runs?limit=1', { token: server().adminToken });
  const run = runView.parse(body[0]);
  expect(run.jobs.map((j) => [j.name, j.result])).toEqual([
    ['tools', 'succeeded'],
    ['node_from_path', 'succeeded'],
    ['missing', 'failed'],
  ]);
});
