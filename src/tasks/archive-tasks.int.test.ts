import { mkdir, mkdtemp, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { runCli, serverWithAgent } from '../test-support/harness.js';

const server = serverWithAgent('archive-tasks-agent');

const PIPELINE = `
steps:
- task: ArchiveFiles@2
  inputs: { rootFolderOrFile: app, archiveFile: $(Build.ArtifactStagingDirectory)/app.zip }
- task: ArchiveFiles@2
  inputs:
    rootFolderOrFile: app
    includeRootFolder: false
    archiveType: tar
    tarCompression: xz
    archiveFile: out/app.tar.xz
- task: ArchiveFiles@2
  inputs: { rootFolderOrFile: notes.txt, archiveType: tar, tarCompression: none, archiveFile: out/notes.tar }
- task: ExtractFiles@1
  inputs:
    archiveFilePatterns: |
      $(Build.ArtifactStagingDirectory)/*.zip
      out/*.tar*
    destinationFolder: unpacked
- bash: |
    echo changed > unpacked/notes.txt
- task: ExtractFiles@1
  inputs: { archiveFilePatterns: out/notes.tar, destinationFolder: unpacked, cleanDestinationFolder: false }
- bash: |
    cd unpacked && find . -type f -o -type l | sort | sed 's/^/got: /' && echo "notes: $(cat notes.txt)" && echo "link: $(readlink a.txt.link)"
- task: ArchiveFiles@2
  displayName: without zip
  inputs: { rootFolderOrFile: app, archiveFile: out/nozip.zip }
  env: { PATH: /nowhere }
  continueOnError: true
- task: ExtractFiles@1
  displayName: a 7z
  inputs: { archiveFilePatterns: '*.7z', destinationFolder: seven }
  continueOnError: true
`;

it('archives as zip and tar.xz (with and without the root folder) and extracts them back, links kept', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'slipway-archive-tasks-'));
  await writeFile(join(dir, 'azure-pipelines.yml'), PIPELINE);
  await mkdir(join(dir, 'app', 'deep'), { recursive: true });
  await writeFile(join(dir, 'app', 'a.txt'), 'a');
  await writeFile(join(dir, 'app', '-dash.txt'), 'dash');
  await writeFile(join(dir, 'app', 'deep', 'b.txt'), 'b');
  await symlink('a.txt', join(dir, 'app', 'a.txt.link'));
  await writeFile(join(dir, 'notes.txt'), 'original');
  await writeFile(join(dir, 'old.7z'), 'not really');
  const { code, output } = await runCli(server(), ['--dir', dir]);
  const got = [...output.matchAll(/got: (\S+)/g)].map((m) => m[1]);
  expect(got).toEqual([
    // app.tar.xz without its root folder, notes.tar with the file.
    './-dash.txt',
    './a.txt',
    './a.txt.link',
    // app.zip with its root folder.
    './app/-dash.txt',
    './app/a.txt',
    './app/a.txt.link',
    './app/deep/b.txt',
    './deep/b.txt',
    './notes.txt',
  ]);
  // cleanDestinationFolder: false and overwriteExistingFiles: false keep what is there.
  expect(output).toContain('notes: changed');
  expect(output).toContain('link: a.txt');
  expect(output).toContain(
    "ArchiveFiles@2 needs 'zip', which is not on the job image's PATH: use a container image that has it (on Debian or Ubuntu: apt-get install zip)",
  );
  expect(output).toContain(
    'old.7z: not a zip, jar, war, ear or tar archive by its name; Slipway does not run 7-Zip',
  );
  expect(code).toBe(0);
});
