import { chmod, mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runView } from '../protocol/schemas.js';
import { runCli, serverWithAgent } from '../test-support/harness.js';
import { TRX } from './test-results/fixtures.js';

const server = serverWithAgent('build-tasks-agent');

async function workspace(files: Record<string, string>, executable: string[] = []): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'slipway-build-tasks-'));
  for (const [path, text] of Object.entries(files)) {
    await mkdir(join(dir, path, '..'), { recursive: true });
    await writeFile(join(dir, path), text);
    if (executable.includes(path)) await chmod(join(dir, path), 0o755);
  }
  return dir;
}

async function lastRun() {
  const { body } = await server().client.request<unknown[]>('runs?limit=1', { token: server().adminToken });
  return runView.parse(body[0]);
}

/**
 * Stand-ins for dotnet and nuget (no .NET SDK or NuGet here): they print the arguments they get,
 * one per line, and do what the task relies on — `test` writes a TRX file and fails as a failing
 * test run does, `publish` writes into --output.
 */
const STAND_INS = {
  'tools/dotnet': `#!/bin/bash
printf 'dotnet-arg: %s\\n' "$@"
echo "dotnet-cwd: $PWD"
case "$1" in
  test)
    while [ $# -gt 0 ]; do [ "$1" = --results-directory ] && dir="$2"; shift; done
    mkdir -p "$dir" && cp "$BUILD_SOURCESDIRECTORY/fixtures/run.trx" "$dir/run.trx"
    exit 1;;
  publish)
    while [ $# -gt 0 ]; do [ "$1" = --output ] && out="$2"; shift; done
    mkdir -p "$out" && echo binary > "$out/app.dll" && echo '{}' > "$out/app.json";;
  nuget) echo "api-key-length: \${#SLIPWAY_NUGET_API_KEY}";;
esac
`,
  'tools/nuget': `#!/bin/bash
printf 'nuget-arg: %s\\n' "$@"
`,
};

const DOTNET_PIPELINE = `
jobs:
- job: dotnet
  variables:
    BuildConfiguration: Release
  steps:
  - bash: echo "##vso[task.prependpath]$(Build.SourcesDirectory)/tools"
  - task: DotNetCoreCLI@2
    displayName: build
    inputs: { command: build, projects: 'src/**/*.csproj', arguments: '--configuration $(BuildConfiguration) -p:Title="a b; c"' }
  - task: DotNetCoreCLI@2
    displayName: test
    continueOnError: true
    inputs: { command: test, projects: 'tests/**/*.csproj', testRunTitle: 'Unit tests' }
  - task: DotNetCoreCLI@2
    displayName: publish
    inputs: { command: publish, arguments: '-c Release --output $(Build.ArtifactStagingDirectory)' }
  - task: DotNetCoreCLI@2
    displayName: pack
    inputs: { command: pack, packagesToPack: 'src/Lib/*.csproj', versioningScheme: byEnvVar, versionEnvVar: PKG_VERSION }
    env: { PKG_VERSION: 2.3.4 }
  - task: DotNetCoreCLI@2
    displayName: custom
    inputs: { command: custom, custom: format, arguments: '--verify-no-changes', workingDirectory: src }
  - task: DotNetCoreCLI@2
    displayName: push without a feed
    continueOnError: true
    inputs: { command: push, nuGetFeedType: external, publishFeedCredentials: myFeed }
  - task: NuGetCommand@2
    displayName: nuget restore
    inputs: { command: restore, restoreSolution: '**/*.sln', noCache: true }
  - task: NuGetCommand@2
    displayName: nuget push
    inputs: { command: push, packagesToPush: 'pkgs/*.nupkg', nuGetFeedType: external, publishFeedCredentials: feed }
  - task: NuGetCommand@2
    displayName: nuget push internal
    continueOnError: true
    inputs: { command: push, nuGetFeedType: internal, publishVstsFeed: myproject/myfeed }
  - bash: |
      cd $(Build.ArtifactStagingDirectory) && ls
      unzip -l Web.zip | grep -o 'app\\.[a-z]*' | sort | sed 's/^/zipped: /'
- job: no_sdk
  steps:
  - task: DotNetCoreCLI@2
    inputs: { command: build }
    env: { PATH: /nonexistent }
`;

describe('.NET build tasks on the host runtime', () => {
  it('DotNetCoreCLI@2 and NuGetCommand@2 run their command lines, publish TRX results, zip publish output, refuse pushes without a feed (a stand-in dotnet and nuget: no .NET SDK or NuGet on this machine)', async () => {
    const dir = await workspace(
      {
        ...STAND_INS,
        'azure-pipelines.yml': DOTNET_PIPELINE,
        'fixtures/run.trx': TRX,
        'src/App/App.csproj': '<Project/>',
        'src/Lib/Lib.csproj': '<Project/>',
        'src/Web/Web.csproj': '<Project/>',
        'src/Web/wwwroot/index.html': 'hi',
        'tests/App.Tests/App.Tests.csproj': '<Project/>',
        'App.sln': '',
        'pkgs/Lib.2.3.4.nupkg': 'zip',
      },
      Object.keys(STAND_INS),
    );
    const { code, output } = await runCli(server(), [
      '--dir',
      dir,
      '--var',
      'feed.url=https://nuget.example/v3/index.json',
      '--secret',
      'feed.apiKey=nuget-key-9f3a',
      '--var',
      'myFeed.url=https://nuget.example/v3/index.json',
      '--var',
      'myFeed.apiKey=in-the-clear',
    ]);
    const args = (program: string) =>
      [...output.matchAll(new RegExp(`${program}-arg: (.*)`, 'g'))].map((m) => m[1]);
    const s = /dotnet-arg: (\S+)\/src\/App\/App\.csproj/.exec(output)?.[1];
    expect(s, output).toBeDefined();
    const dotnet = args('dotnet').map((a) => a!.replaceAll(s!, 'S'));
    // build: each project the pattern matches, the arguments split as Azure splits them.
    expect(dotnet.slice(0, 5)).toEqual([
      'build',
      'S/src/App/App.csproj',
      '--configuration',
      'Release',
      '-p:Title=a b; c',
    ]);
    expect(dotnet).toContain('S/src/Web/Web.csproj');
    // test: with a TRX logger; its results are in the run's summary, and the step fails as dotnet did.
    const test = dotnet.indexOf('test');
    expect(dotnet.slice(test, test + 4)).toEqual([
      'test',
      'S/tests/App.Tests/App.Tests.csproj',
      '--logger',
      'trx',
    ]);
    expect(output).toContain("Test run 'Unit tests': 3 tests, 1 passed, 1 failed, 1 skipped");
    expect(output).toContain('(tests/App.Tests/App.Tests.csproj: dotnet test failed: exit code 1)');
    // publish: the web project only (it has wwwroot), into a folder of its name, zipped.
    const publish = dotnet.indexOf('publish');
    expect(dotnet.slice(publish, publish + 6)).toEqual([
      'publish',
      'S/src/Web/Web.csproj',
      '-c',
      'Release',
      '--output',
      expect.stringMatching(/\/a\/Web$/),
    ]);
    expect(output).toContain('zipped: app.dll');
    expect(output).toContain('zipped: app.json');
    // pack: into the staging folder, with the version from the variable.
    const pack = dotnet.indexOf('pack');
    expect(dotnet.slice(pack, pack + 7)).toEqual([
      'pack',
      'S/src/Lib/Lib.csproj',
      '--output',
      expect.stringMatching(/\/a$/),
      '--configuration',
      'Release',
      '-p:PackageVersion=2.3.4',
    ]);
    // custom: the verb, then each project (none: the working directory).
    expect(dotnet).toContain('format');
    expect(output).toMatch(/dotnet-cwd: \S+\/s\/src\n/);
    expect(output).toContain(
      'push refused: myFeed.apiKey is a plain variable: a credential must be a secret variable, so it is masked and kept out of other steps',
    );
    // nuget: restore each solution; push with the key from the secret, never on the command line.
    expect(args('nuget').slice(0, 4)).toEqual([
      'restore',
      expect.stringMatching(/\/App\.sln$/),
      '-NonInteractive',
      '-NoCache',
    ]);
    const push = args('nuget').indexOf('push');
    expect(args('nuget').slice(push, push + 7)).toEqual([
      'push',
      expect.stringMatching(/\/pkgs\/Lib\.2\.3\.4\.nupkg$/),
      '-NonInteractive',
      '-Source',
      'https://nuget.example/v3/index.json',
      '-ApiKey',
      '***',
    ]);
    expect(output).toMatch(/\$ nuget push \S+ -NonInteractive -Source \S+ -ApiKey \$SLIPWAY_NUGET_API_KEY/);
    expect(output).not.toContain('nuget-key-9f3a');
    expect(output).toContain(
      'push to an Azure Artifacts feed (nuGetFeedType: internal) is not possible in Slipway',
    );
    expect(output).toContain(
      'dotnet is not on PATH in this job (use a job image with the .NET SDK, such as container: mcr.microsoft.com/dotnet/sdk:8.0',
    );
    expect(code).toBe(1);
    const run = await lastRun();
    expect(run.jobs.map((j) => [j.name, j.result])).toEqual([
      ['dotnet', 'succeededWithIssues'],
      ['no_sdk', 'failed'],
    ]);
    expect(run.jobs[0]?.testRuns?.[0]).toMatchObject({
      title: 'Unit tests',
      format: 'VSTest',
      total: 3,
      failed: 1,
    });
  }, 120_000);
});

const CMAKE_NPM_PIPELINE = `
jobs:
- job: cmake
  steps:
  - task: CMake@1
    inputs: { workingDirectory: build, cmakeArgs: '.. "-DGREETING=hi there"' }
  - task: CMake@1
    inputs: { cwd: build, cmakeArgs: '--build .' }
  - bash: ./build/hello
  - task: CMake@1
    displayName: cmake on a folder without a project
    continueOnError: true
    inputs: { workingDirectory: empty-build, cmakeArgs: ../nowhere }
- job: npm
  variables:
    tricky: 'a;b $HOME'
  steps:
  - task: Npm@1
    inputs: { command: ci, workingDir: app }
  - task: Npm@1
    inputs: { command: custom, workingDir: app, customCommand: 'run greet -- "two words" $(tricky)' }
  - task: Npm@1
    displayName: publish without a registry
    continueOnError: true
    inputs: { command: publish, workingDir: app }
  - task: Npm@1
    displayName: publish
    inputs: { command: publish, workingDir: app, publishRegistry: useExternalRegistry, publishEndpoint: registry }
- job: release
  steps:
  - task: GitHubRelease@0
    inputs: { gitHubConnection: github, repositoryName: acme/app, action: create, tagSource: gitTag }
`;

const CMAKE_LISTS = `cmake_minimum_required(VERSION 3.10)
project(hello C)
add_executable(hello main.c)
target_compile_definitions(hello PRIVATE GREETING="\${GREETING}")
`;

describe('CMake, npm and GitHub release tasks on the host runtime', () => {
  it('CMake@1 configures and builds a real C project, Npm@1 runs ci, custom and publish (to a stand-in registry, with a secret token), GitHubRelease@0 is refused naming the token it needs', async () => {
    const received: Array<{ method?: string; url?: string; headers: IncomingHttpHeaders; body: string }> = [];
    const registry = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => {
        body += c;
      });
      req.on('end', () => {
        received.push({ method: req.method, url: req.url, headers: req.headers, body });
        res.writeHead(req.method === 'PUT' ? 201 : 404, { 'content-type': 'application/json' });
        res.end('{}');
      });
    });
    await new Promise<void>((r) => registry.listen(0, '127.0.0.1', r));
    try {
      const port = (registry.address() as AddressInfo).port;
      const dir = await workspace({
        'azure-pipelines.yml': CMAKE_NPM_PIPELINE,
        'CMakeLists.txt': CMAKE_LISTS,
        'main.c': '#include <stdio.h>\nint main(void) { printf("built says %s\\n", GREETING); return 0; }\n',
        'app/package.json': JSON.stringify({
          name: 'slipway-test-app',
          version: '1.0.0',
          scripts: {
            postinstall: 'echo postinstall ran',
            greet: 'node -e "console.log(process.argv.slice(1).join(\'|\'))" --',
          },
        }),
        'app/package-lock.json': JSON.stringify({
          name: 'slipway-test-app',
          version: '1.0.0',
          lockfileVersion: 3,
          requires: true,
          packages: { '': { name: 'slipway-test-app', version: '1.0.0' } },
        }),
      });
      const { code, output } = await runCli(server(), [
        '--dir',
        dir,
        '--var',
        `registry.registry=http://127.0.0.1:${port}/`,
        '--secret',
        'registry.token=npm-token-5c1e',
      ]);
      expect(output).toContain('built says hi there');
      expect(output).toContain('(cmake ../nowhere failed: exit code 1)');
      expect(output).toContain('postinstall ran');
      // The arguments reach npm as written: a macro's value is one argument, not shell text.
      expect(output).toContain('two words|a;b|$HOME\n');
      expect(output).toContain(
        'publish refused without a registry token: use publishRegistry: useExternalRegistry with publishEndpoint: NAME',
      );
      const put = received.find((r) => r.method === 'PUT');
      expect(put?.url).toBe('/slipway-test-app');
      expect(put?.headers.authorization).toBe('Bearer npm-token-5c1e');
      expect(JSON.parse(put?.body ?? '{}')['dist-tags']).toEqual({ latest: '1.0.0' });
      expect(output).not.toContain('npm-token-5c1e');
      expect(output).toContain(
        "GitHubRelease@0 refused: Slipway has no service connections; gitHubConnection 'github' is mapped by the variable github.token (secret: a GitHub token with contents: write on acme/app), and github.token is not set.",
      );
      expect(code).toBe(1);
      const run = await lastRun();
      expect(run.jobs.map((j) => [j.name, j.result])).toEqual([
        ['cmake', 'succeededWithIssues'],
        ['npm', 'succeededWithIssues'],
        ['release', 'failed'],
      ]);
    } finally {
      registry.close();
    }
  }, 120_000);

  it('checks task inputs before the run: a wrong value is named with its input', async () => {
    const dir = await workspace({
      'azure-pipelines.yml': `steps:
- task: GitHubRelease@0
  inputs: { gitHubConnection: github, action: publish, repositoryName: not-a-repo }
- task: Docker@2
  inputs: { command: run }
`,
    });
    const { code, output } = await runCli(server(), ['--dir', dir]);
    expect(output).toContain("input 'action' must be one of create, edit, delete, found 'publish'");
    expect(output).toContain("input 'repositoryName' must be owner/name");
    expect(output).toContain(
      "input 'command' must be one of buildAndPush, build, push, login, logout, start, stop, found 'run'",
    );
    expect(code).not.toBe(0);
  }, 60_000);
});

describe('GitHubRelease@0 with a mapped token', () => {
  it('creates a release with its assets and deletes it through the GitHub API (a stand-in API on this machine: GitHub is not reachable here)', async () => {
    const calls: Array<{ method?: string; url?: string; auth?: string; body: string }> = [];
    let base = '';
    const api = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => {
        body += c;
      });
      req.on('end', () => {
        calls.push({ method: req.method, url: req.url, auth: req.headers.authorization, body });
        const json = (status: number, value: unknown) => {
          res.writeHead(status, { 'content-type': 'application/json' });
          res.end(JSON.stringify(value));
        };
        if (req.method === 'POST' && req.url === '/repos/acme/app/releases')
          return json(201, {
            id: 7,
            html_url: 'https://github.example/acme/app/releases/v1.2.0',
            upload_url: `${base}/uploads/repos/acme/app/releases/7/assets{?name,label}`,
            assets: [],
          });
        if (req.method === 'POST' && req.url?.startsWith('/uploads/')) return json(201, { id: 1 });
        if (req.method === 'GET' && req.url === '/repos/acme/app/releases/tags/v1.2.0')
          return json(200, { id: 7, assets: [] });
        if (req.method === 'DELETE') {
          res.writeHead(204).end();
          return;
        }
        json(404, { message: 'Not Found' });
      });
    });
    await new Promise<void>((r) => api.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(api.address() as AddressInfo).port}`;
    try {
      const dir = await workspace({
        'azure-pipelines.yml': `steps:
- bash: mkdir -p $(Build.ArtifactStagingDirectory) && echo tarball > $(Build.ArtifactStagingDirectory)/app.tar.gz
- task: GitHubRelease@0
  inputs:
    gitHubConnection: gh
    repositoryName: acme/app
    tagSource: userSpecifiedTag
    tag: v1.2.0
    title: Release 1.2
    releaseNotesSource: inline
    releaseNotesInline: Notes here
    isPreRelease: true
- task: GitHubRelease@0
  inputs: { gitHubConnection: gh, repositoryName: acme/app, action: delete, tag: v1.2.0 }
- task: GitHubRelease@0
  displayName: not a tag build
  inputs: { gitHubConnection: gh, repositoryName: acme/app }
`,
      });
      const { code, output } = await runCli(server(), [
        '--dir',
        dir,
        '--var',
        `gh.url=${base}`,
        '--secret',
        'gh.token=gh-token-77aa',
      ]);
      expect(code, output).toBe(0);
      expect(calls.map((c) => `${c.method} ${c.url}`)).toEqual([
        'POST /repos/acme/app/releases',
        'POST /uploads/repos/acme/app/releases/7/assets?name=app.tar.gz',
        'GET /repos/acme/app/releases/tags/v1.2.0',
        'DELETE /repos/acme/app/releases/7',
      ]);
      expect(calls.every((c) => c.auth === 'Bearer gh-token-77aa')).toBe(true);
      expect(JSON.parse(calls[0]!.body)).toMatchObject({
        tag_name: 'v1.2.0',
        name: 'Release 1.2',
        body: 'Notes here',
        draft: false,
        prerelease: true,
      });
      expect(calls[1]?.body).toBe('tarball\n');
      expect(output).toContain('Created release v1.2.0 of acme/app with 1 assets');
      expect(output).toContain('no release created: this run does not build a tag (tagSource: gitTag)');
      expect(output).not.toContain('gh-token-77aa');
    } finally {
      api.close();
    }
  }, 60_000);
});
