import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runView } from '../protocol/schemas.js';
import {
  killAll,
  type Proc,
  ROOT,
  runCli,
  serverWithAgent,
  spawnAgent,
  spawnCli,
  startTestServer,
  type TestServer,
} from '../test-support/harness.js';

/** A workspace directory holding `azure-pipelines.yml` with `yaml`, plus any extra files. */
async function workspace(yaml: string, files: Record<string, string> = {}): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'slipway-ws-'));
  await writeFile(join(dir, 'azure-pipelines.yml'), yaml);
  for (const [name, content] of Object.entries(files)) {
    await mkdir(join(dir, name, '..'), { recursive: true });
    await writeFile(join(dir, name), content, { mode: 0o755 });
  }
  return dir;
}

async function lastRun(ts: TestServer) {
  const { body } = await ts.client.request<unknown[]>('runs?limit=1', { token: ts.adminToken });
  return runView.parse(body[0]);
}

describe('slipway run against a real server and real agent processes', () => {
  let ts: TestServer;
  let _agent: Proc;

  beforeAll(async () => {
    ts = await startTestServer();
    _agent = await spawnAgent(ts, 'agent-1', { args: ['--capability', 'gpu=none'] });
  });
  afterAll(async () => {
    await killAll();
    await ts.stop();
  });

  it('runs the example pipeline: workspace uploaded, variables expanded, the secret masked, exit 0', async () => {
    const dir = join(ROOT, 'examples', 'hello');
    const { code, output } = await runCli(ts, ['--dir', dir, '--secret', 'apiKey=sup3r-s3cret-value']);
    expect(output).toContain('hello from agent-1');
    expect(output).toContain('workspace is here');
    expect(output).toContain('the key is *** (masked in the log)');
    expect(output).not.toContain('sup3r-s3cret-value');
    expect(output).toMatch(/Run #\d+ succeeded/);
    expect(code).toBe(0);
  });

  it('exits 1 when a step fails, with that step’s log and exit code shown', async () => {
    const dir = await workspace(`
steps:
- script: echo before the failure
  displayName: ok step
- bash: |
    echo "about to fail" >&2
    exit 7
  displayName: failing step
- script: echo never printed
  displayName: after
`);
    const { code, output } = await runCli(ts, ['--dir', dir]);
    expect(output).toContain('about to fail');
    expect(output).toMatch(/✘ failing step.*exit code 7/);
    expect(output).not.toContain('never printed');
    expect(code).toBe(1);
    const run = await lastRun(ts);
    expect(run.jobs[0]!.steps.map((s) => s.result)).toEqual(['succeeded', 'failed', 'skipped']);
  });

  it('refuses an invalid pipeline with file:line:col and exit 2, queueing nothing', async () => {
    const runCount = async () =>
      (await ts.client.request<unknown[]>('runs', { token: ts.adminToken })).body.length;
    const before = await runCount();
    const dir = await workspace('jobs:\n- job: a\n  stepz:\n  - script: echo\n');
    const { code, output } = await runCli(ts, ['--dir', dir]);
    expect(output).toMatch(/azure-pipelines\.yml:3:3: .*stepz/);
    expect(code).toBe(2);
    expect(await runCount()).toBe(before);

    const v = spawnCli(['validate', join(dir, 'azure-pipelines.yml')]);
    expect(await v.exited).toBe(2);
    expect(v.output()).toMatch(/azure-pipelines\.yml:3:3: /);

    await writeFile(
      join(dir, 'azure-pipelines.yml'),
      Buffer.from('steps:\n- script: echo caf\xe9\n', 'latin1'),
    );
    const latin1 = await runCli(ts, ['--dir', dir]);
    expect(latin1.code).toBe(2);
    expect(latin1.output).toContain('azure-pipelines.yml:2:19: the file is not valid UTF-8 text');
  });

  it('runs a dependency chain in order and fails at once a job whose demand no agent has', async () => {
    const dir = await workspace(`
jobs:
- job: first
  steps:
  - bash: echo "first at $(date +%s%N)" && sleep 0.3
- job: second
  dependsOn: first
  steps:
  - bash: echo "second at $(date +%s%N)"
- job: third
  pool: { name: default, demands: [ "cuda -equals 12" ] }
  steps:
  - bash: echo never
`);
    const { code, output } = await runCli(ts, ['--dir', dir]);
    expect(code).toBe(1);
    const run = await lastRun(ts);
    const [first, second, third] = run.jobs;
    expect(third!.result).toBe('failed');
    expect(third!.reason).toContain('cuda -equals 12');
    expect(third!.steps).toEqual([]);
    // Failed at once: before the chain had even finished.
    expect(Date.parse(third!.finishedAt!)).toBeLessThan(Date.parse(second!.finishedAt!));
    expect(first!.result).toBe('succeeded');
    expect(second!.result).toBe('succeeded');
    expect(Date.parse(second!.startedAt!)).toBeGreaterThanOrEqual(Date.parse(first!.finishedAt!));
    expect(output).toContain('cuda -equals 12');
  });

  it('gives steps the variables and predefined variables as environment, secrets only where mapped, never the agent token', async () => {
    const dir = await workspace(`
variables:
  my.Setting: from-pipeline
steps:
- bash: |
    echo "setting=$MY_SETTING cli=$FROM_CLI"
    echo "work=$AGENT_WORKFOLDER sources=$BUILD_SOURCESDIRECTORY job=$SYSTEM_JOBNAME os=$AGENT_OS"
    echo "secret-env=\${DB_PASSWORD:-unset} mapped=$MAPPED"
    env | grep -c -E 'AZP_TOKEN|slw_pat_|slw_adm_' || true
  env:
    MAPPED: $(DB_PASSWORD)
`);
    const { code, output } = await runCli(ts, [
      '--dir',
      dir,
      '--var',
      'FROM_CLI=yes',
      '--secret',
      'DB_PASSWORD=hunter2-hunter2',
    ]);
    expect(code).toBe(0);
    expect(output).toContain('setting=from-pipeline cli=yes');
    expect(output).toMatch(/work=\S+work\/agent-1 sources=\S+\/s job=job os=Linux/);
    expect(output).toContain('secret-env=unset mapped=***');
    expect(output).toMatch(/│ 0\n/);
    expect(output).not.toContain('hunter2');
  });

  it('honours conditions and continueOnError: the run succeeds with issues', async () => {
    const dir = await workspace(`
jobs:
- job: flaky
  continueOnError: true
  steps:
  - bash: exit 1
- job: cleanup
  dependsOn: flaky
  condition: always()
  steps:
  - bash: echo cleaning up
- job: onfailure
  dependsOn: flaky
  condition: failed()
  steps:
  - bash: echo should be skipped
`);
    const { code, output } = await runCli(ts, ['--dir', dir]);
    expect(output).toContain('cleaning up');
    const run = await lastRun(ts);
    expect(run.jobs.map((j) => j.result)).toEqual(['succeededWithIssues', 'succeeded', 'skipped']);
    expect(run.result).toBe('succeededWithIssues');
    expect(code).toBe(0);
  });

  it('keeps a job from driving the terminal: colours stay, every other control sequence shows as text', async () => {
    const dir = await workspace(String.raw`
steps:
- bash: |
    printf 'compiling\r\033[32m✔\033[0m Run succeeded\n'
    printf 'wipe\033[2K\033[1A\033[Hhome\n'
    printf 'see \033]8;;https://evil.example/\033\\the docs\033]8;;\033\\\n'
    printf '\033]0;owned title\007\033]52;c;Y3VybCBldmlsIHwgc2g=\007\033[?1049halt\n'
    printf '\033[1;31mred text\n'
    echo "##vso[task.setvariable variable=title]$(printf 'named\033]0;t\007')"
- bash: echo second
  displayName: step $(title)
`);
    const cli = spawnCli(['run', '--dir', dir], {
      SLIPWAY_URL: ts.url,
      SLIPWAY_TOKEN: ts.adminToken,
      NO_COLOR: '',
    });
    expect(await cli.exited).toBe(0);
    const output = cli.output();
    expect(output).toContain('compiling␍\x1b[32m✔\x1b[0m Run succeeded');
    expect(output).toContain('wipe␛[2K␛[1A␛[Hhome');
    expect(output).toContain('see ␛]8;;https://evil.example/␛\\the docs␛]8;;␛\\');
    expect(output).toContain('␛]0;owned title␇␛]52;c;Y3VybCBldmlsIHwgc2g=␇␛[?1049halt');
    expect(output).toContain('\x1b[1;31mred text\x1b[0m');
    expect(output).toContain('▸ step named␛]0;t␇');
    const acting = output.replace(/\x1b\[[0-9;]*m/g, '');
    expect(acting).not.toMatch(/[\x00-\x08\x0b-\x1f\x7f]/);
  });

  it('expands variables that use other variables and gives a git folder the Build.Source* variables', async () => {
    const dir = await workspace(`
variables:
  C: $(G)/c
  G: hello
  GOPATH: $(System.DefaultWorkingDirectory)/gopath
jobs:
- job: main_only
  condition: eq(variables['Build.SourceBranch'], 'refs/heads/main')
  steps:
  - bash: |
      echo "C=$(C) env=$C"
      [ "$(GOPATH)" = "$(Build.SourcesDirectory)/gopath" ] && echo gopath-expanded
      echo "branch=$(Build.SourceBranchName) reason=$(Build.Reason) repo=$(Build.Repository.Name)"
      echo "version=$(Build.SourceVersion) tf=$TF_BUILD ci=$CI"
- job: other_branch
  condition: ne(variables['Build.SourceBranch'], 'refs/heads/main')
  steps:
  - bash: echo should be skipped
`);
    const git = (...args: string[]) =>
      execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.com', ...args], {
        cwd: dir,
        encoding: 'utf8',
      });
    git('init', '-q', '-b', 'main');
    git('add', '-A');
    git('commit', '-q', '-m', 'first');
    const commit = git('rev-parse', 'HEAD').trim();
    const { code, output } = await runCli(ts, ['--dir', dir]);
    expect(output).toContain('C=hello/c env=hello/c');
    expect(output).toContain('gopath-expanded');
    expect(output).toContain(`branch=main reason=Manual repo=${basename(dir)}`);
    expect(output).toContain(`version=${commit} tf=True ci=true`);
    expect(output).not.toContain('should be skipped');
    expect(code).toBe(0);
    const run = await lastRun(ts);
    expect(run.jobs.map((j) => j.result)).toEqual(['succeeded', 'skipped']);
  });

  it('finds templates of a pipeline named by a path from another folder, in validate and run alike', async () => {
    const dir = await workspace('steps:\n- template: templates/greet.yml\n', {
      'templates/greet.yml': 'steps:\n- script: echo greeted from the template\n',
    });
    const elsewhere = await mkdtemp(join(tmpdir(), 'slipway-cwd-'));
    const v = spawnCli(['validate', join(dir, 'azure-pipelines.yml')], {}, elsewhere);
    expect(await v.exited).toBe(0);
    expect(v.output()).toContain('valid');
    const run = spawnCli(
      ['run', join(dir, 'azure-pipelines.yml'), '--dir', dir],
      { SLIPWAY_URL: ts.url, SLIPWAY_TOKEN: ts.adminToken },
      elsewhere,
    );
    expect(await run.exited).toBe(0);
    expect(run.output()).toContain('greeted from the template');
  });

  it('refuses a template that is a symbolic link out of the workspace, runs nothing and quotes nothing of it', async () => {
    const outside = await mkdtemp(join(tmpdir(), 'slipway-outside-'));
    await writeFile(join(outside, 'steps.yml'), 'steps:\n- script: echo outside steps ran\n');
    await writeFile(join(outside, 'admin.token'), 'slw_adm_notarealtoken0123456789\n');
    const dir = await workspace('steps:\n- template: t/steps.yml\n- template: t/token.yml\n');
    await mkdir(join(dir, 't'));
    await symlink(join(outside, 'steps.yml'), join(dir, 't', 'steps.yml'));
    await symlink(join(outside, 'admin.token'), join(dir, 't', 'token.yml'));
    const { code, output } = await runCli(ts, ['--dir', dir]);
    expect(code).toBe(2);
    expect(output).toContain(
      "azure-pipelines.yml:2:13: cannot read template 't/steps.yml': it is a symbolic link to a file outside the repository",
    );
    expect(output).toContain("cannot read template 't/token.yml': it is a symbolic link");
    expect(output).not.toContain('outside steps ran');
    expect(output).not.toContain('slw_adm_');
  });

  it('stops a step at its timeout and reports it as timed out', async () => {
    const dir = await workspace(`
steps:
- bash: sleep 1 && echo done
  timeoutInMinutes: 0
- bash: |
    trap 'echo got SIGTERM; exit 143' TERM
    sleep 600 & wait
  timeoutInMinutes: 0.02
`);
    const { code } = await runCli(ts, ['--dir', dir]);
    expect(code).toBe(1);
    const run = await lastRun(ts);
    expect(run.jobs[0]!.steps[1]!.reason).toMatch(/timed out/);
  });
});

describe('the step token', () => {
  const stepTokenServer = serverWithAgent('step-token-agent');

  it('reads its own run’s workspace and nothing else, and is masked in the log', async () => {
    const dir = await workspace(
      `steps:
- bash: |
    code() { curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $SLIPWAY_JOB_TOKEN" "$SLIPWAY_API_URL/api/v1/$1"; }
    echo "own-workspace=$(code jobs/$SLIPWAY_JOB_ID/workspace)"
    echo "runs=$(code runs) pools=$(code pools) agents=$(code agents)"
    echo "token=$SLIPWAY_JOB_TOKEN"
`,
      { 'data.txt': 'x' },
    );
    const { code, output } = await runCli(stepTokenServer(), ['--dir', dir]);
    expect(code).toBe(0);
    expect(output).toContain('own-workspace=200');
    expect(output).toContain('runs=401 pools=401 agents=401');
    expect(output).toContain('token=***');
    expect(output).not.toMatch(/slw_stp_/);
  });
});

describe('logging commands', () => {
  const loggingServer = serverWithAgent('logging-agent');

  it('sets variables, secrets, outputs, PATH, build number and tags, and forces step results', async () => {
    const dir = await workspace(`
jobs:
- job: producer
  steps:
  - bash: |
      echo "##vso[task.setvariable variable=color]blue"
      echo "##vso[task.setvariable variable=apiToken;isSecret=true]s3cr3t-value-9"
      echo "##vso[task.setvariable variable=version;isOutput=true]1.2.3"
      echo "##vso[task.prependpath]/opt/mytools"
      echo "##vso[build.updatebuildnumber]1.2.3-ci"
      echo "##vso[build.addbuildtag]nightly"
      echo "##vso[task.logissue type=warning]careful now"
      echo "report" > report.txt
      echo "##vso[task.uploadfile]report.txt"
      echo "##[group]Details"
      echo "inside the group"
      echo "##[endgroup]"
    name: setvars
  - bash: |
      echo "color=$COLOR path-first=\${PATH%%:*}"
      echo "macro sees $(apiToken); env sees \${APITOKEN:-nothing}"
      echo "output as variable: $(setvars.version)"
  - bash: |
      echo "##vso[task.complete result=SucceededWithIssues;]partly done"
- job: consumer
  dependsOn: producer
  condition: eq(dependencies.producer.outputs['setvars.version'], '1.2.3')
  steps:
  - bash: echo consumer ran
`);
    const { code, output } = await runCli(loggingServer(), ['--dir', dir]);
    expect(output).toContain('color=blue path-first=/opt/mytools');
    expect(output).toContain('macro sees ***; env sees nothing');
    expect(output).not.toContain('s3cr3t-value-9');
    expect(output).toContain('output as variable: 1.2.3');
    expect(output).toContain('warning: careful now');
    expect(output).toContain('▾ Details');
    expect(output).not.toMatch(/│ ##vso\[/);
    expect(output).toContain('consumer ran');
    expect(output).toMatch(/build 1\.2\.3-ci · tags: nightly/);
    expect(code).toBe(0);
    const { body } = await loggingServer().client.request<unknown[]>('runs?limit=1', {
      token: loggingServer().adminToken,
    });
    const run = runView.parse(body[0]);
    expect(run.jobs[0]!.outputs).toEqual({ 'setvars.version': '1.2.3' });
    const artifacts = await loggingServer().client.request<{ name: string }[]>(`runs/${run.id}/artifacts`, {
      token: loggingServer().adminToken,
    });
    expect(artifacts.body.map((a) => a.name)).toEqual(['producer.report.txt']);
    expect(run.jobs[0]!.steps[2]!.result).toBe('succeededWithIssues');
    expect(run.jobs[0]!.result).toBe('succeededWithIssues');
    const log = await (
      await loggingServer().client.fetch(`jobs/${run.jobs[0]!.id}/log`, { token: loggingServer().adminToken })
    ).text();
    expect(log).not.toContain('s3cr3t-value-9');
  });
});
