import { chmod, mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { runCli, serverWithAgent } from '../test-support/harness.js';

const server = serverWithAgent('script-tasks-agent');

const PIPELINE = `
variables:
  greeting: hello
steps:
- task: CmdLine@2
  inputs: { script: 'echo "cmdline says $(greeting)"' }
- task: Bash@3
  inputs: { targetType: inline, script: 'echo "bash inline in $(pwd)"', workingDirectory: src }
- task: Bash@3
  inputs: { filePath: scripts/greet.sh, arguments: 'one "two words"' }
- task: Bash@3
  inputs: { targetType: inline, script: 'echo oops >&2', failOnStderr: true }
  continueOnError: true
- task: CopyFiles@2
  inputs:
    SourceFolder: src
    Contents: |
      **/*.txt
      !**/skip.txt
    TargetFolder: $(Build.ArtifactStagingDirectory)/copied
- task: CopyFiles@2
  inputs: { SourceFolder: src, Contents: '**/*.txt', TargetFolder: flat, flattenFolders: true }
- task: DeleteFiles@1
  inputs: { SourceFolder: flat, Contents: 'skip.txt' }
- task: PowerShell@2
  inputs: { targetType: inline, script: 'Write-Host hi' }
  continueOnError: true
- bash: |
    find $(Build.ArtifactStagingDirectory)/copied flat -type f | sed "s|$(Build.ArtifactStagingDirectory)/||" | sort | sed 's/^/file: /'
`;

it('runs CmdLine, Bash (inline and file), PowerShell where pwsh exists, CopyFiles and DeleteFiles', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'slipway-script-tasks-'));
  await writeFile(join(dir, 'azure-pipelines.yml'), PIPELINE);
  await mkdir(join(dir, 'src', 'deep'), { recursive: true });
  await mkdir(join(dir, 'scripts'));
  await writeFile(join(dir, 'src', 'a.txt'), 'a');
  await writeFile(join(dir, 'src', 'skip.txt'), 's');
  await writeFile(join(dir, 'src', 'deep', 'b.txt'), 'b');
  await writeFile(join(dir, 'src', 'c.bin'), 'c');
  await writeFile(join(dir, 'scripts', 'greet.sh'), 'echo "args: $1 / $2"\n');
  await chmod(join(dir, 'scripts', 'greet.sh'), 0o755);
  const { code, output } = await runCli(server(), ['--dir', dir]);
  expect(output).toContain('cmdline says hello');
  expect(output).toMatch(/bash inline in \S+\/s\/src\n/);
  expect(output).toContain('args: one / two words');
  expect(output).toContain('wrote to stderr (failOnStderr)');
  expect(output).toContain('pwsh (PowerShell) is not installed in this image');
  const files = [...output.matchAll(/file: (\S+)/g)].map((m) => m[1]);
  expect(files).toEqual(['copied/a.txt', 'copied/deep/b.txt', 'flat/a.txt', 'flat/b.txt']);
  expect(code).toBe(0);
});
