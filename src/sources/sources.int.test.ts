import { execFileSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunView, runView } from '../protocol/schemas.js';
import { killAll, spawnAgent, spawnCli, startTestServer, type TestServer } from '../test-support/harness.js';

// Real git throughout: an "origin" bare repository on disk, a clone that commits and pushes to
// it, the coordinator's mirror fetching from it, signed deliveries in the forges' own shapes.

const GIT_ENV = {
  GIT_AUTHOR_NAME: 'Dev',
  GIT_AUTHOR_EMAIL: 'dev@example.test',
  GIT_COMMITTER_NAME: 'Dev',
  GIT_COMMITTER_EMAIL: 'dev@example.test',
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_CONFIG_GLOBAL: '/dev/null',
};
const git = (cwd: string, ...args: string[]) =>
  execFileSync('git', args, { cwd, env: { ...process.env, ...GIT_ENV }, encoding: 'utf8' }).trim();

/** A bare origin and a work clone of it, on branch main. */
async function origin(): Promise<{ bare: string; work: string; url: string }> {
  const root = await mkdtemp(join(tmpdir(), 'slipway-origin-'));
  const bare = join(root, 'origin.git');
  const work = join(root, 'work');
  git(root, 'init', '--quiet', '--bare', '--initial-branch=main', bare);
  git(root, 'init', '--quiet', '--initial-branch=main', work);
  git(work, 'remote', 'add', 'origin', bare);
  return { bare, work, url: `file://${bare}` };
}

/** Writes files, commits them and pushes the branch; the new commit's id. */
async function commit(
  work: string,
  files: Record<string, string>,
  message: string,
  push = 'main',
): Promise<string> {
  for (const [name, text] of Object.entries(files)) {
    await mkdir(join(work, name, '..'), { recursive: true });
    await writeFile(join(work, name), text);
  }
  git(work, 'add', '-A');
  git(work, 'commit', '--quiet', '--allow-empty', '-m', message);
  if (push) git(work, 'push', '--quiet', '--force', 'origin', `HEAD:refs/heads/${push}`);
  return git(work, 'rev-parse', 'HEAD');
}

const PIPELINE = (trigger: string, extra = '') => `${trigger}
steps:
- checkout: self
- script: |
    echo "readme: $(cat README.md)"
    echo "repo=$(Build.Repository.Name) branch=$(Build.SourceBranch) name=$(Build.SourceBranchName)"
    echo "commit=$(Build.SourceVersion) reason=$(Build.Reason)"
    echo "message=$(Build.SourceVersionMessage)"
${extra}`;

let ts: TestServer;
const cli = (args: string[]) => {
  const p = spawnCli(args, { SLIPWAY_URL: ts.url, SLIPWAY_TOKEN: ts.adminToken });
  return p.exited.then((code) => ({ code, output: p.output() }));
};
const api = <T>(path: string) => ts.client.request<T>(path, { token: ts.adminToken }).then((r) => r.body);
async function runs(): Promise<RunView[]> {
  return (await api<unknown[]>('runs?limit=500')).map((r) => runView.parse(r));
}
async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
const runFor = (repo: string, commit: string) =>
  until(`a run of ${repo} at ${commit.slice(0, 8)}`, async () =>
    (await runs()).find((r) => r.source.repository === repo && r.source.commit === commit),
  );
async function logOf(run: RunView): Promise<string> {
  const done = await until('the run to finish', async () => {
    const r = runView.parse(await api(`runs/${run.id}`));
    return r.status === 'completed' ? r : undefined;
  });
  let text = '';
  for (const job of done.jobs)
    text += await (await ts.client.fetch(`jobs/${job.id}/log`, { token: ts.adminToken })).text();
  return text;
}
async function addRepo(name: string, url: string, flags: string[] = []) {
  const added = await cli(['repo', 'add', name, '--url', url, ...flags]);
  expect(added.code, added.output).toBe(0);
  return /Webhook secret \(shown this once\): (\S+)/.exec(added.output)![1]!;
}

beforeAll(async () => {
  ts = await startTestServer({ sourcesTickMs: 100 });
  await spawnAgent(ts, 'src-agent');
});
afterAll(async () => {
  await killAll();
  await ts.stop();
});

describe('slipway repo add | list | remove', () => {
  it('adds a repository, prints the three webhook URLs and the secret once, lists it without credentials', async () => {
    const o = await origin();
    await commit(o.work, { 'azure-pipelines.yml': PIPELINE('trigger: none'), 'README.md': 'one' }, 'first');
    const added = await cli(['repo', 'add', 'listed', '--url', o.url]);
    expect(added.code, added.output).toBe(0);
    expect(added.output).toContain(`${ts.url}/hooks/github/listed`);
    expect(added.output).toContain(`${ts.url}/hooks/gitlab/listed`);
    expect(added.output).toContain(`${ts.url}/hooks/gitea/listed`);
    const secret = /Webhook secret \(shown this once\): (\S+)/.exec(added.output)![1]!;
    const listed = await cli(['repo', 'list', '--json']);
    expect(listed.output).toContain('"name": "listed"');
    expect(listed.output).not.toContain(secret);
    expect(await readFile(join(ts.dir, 'data', 'slipway.db')).then((b) => b.includes(secret))).toBe(false);

    const again = await cli(['repo', 'add', 'listed', '--url', o.url]);
    expect(again.code).toBe(2);
    expect(again.output).toMatch(/exists/);
    const removed = await cli(['repo', 'remove', 'listed']);
    expect(removed.code).toBe(0);
    expect((await cli(['repo', 'list', '--json'])).output).not.toContain('"listed"');
  });

  it('refuses a URL it cannot fetch, a credential in the URL and plain http, naming --url', async () => {
    const missing = await cli(['repo', 'add', 'nope', '--url', 'file:///does/not/exist.git']);
    expect(missing.code).toBe(2);
    expect(missing.output).toMatch(/cannot fetch/);
    const inUrl = await cli(['repo', 'add', 'nope', '--url', 'https://user:tok3n@git.example/r.git']);
    expect(inUrl.code).toBe(2);
    expect(inUrl.output).toMatch(/url: holds a password/);
    expect((await cli(['repo', 'add', 'nope', '--url', 'http://git.example/r.git'])).output).toMatch(
      /http:\/\/ is not supported/,
    );
  });
});

describe('slipway run --repo', () => {
  let o: Awaited<ReturnType<typeof origin>>;
  let first: string;
  let second: string;
  beforeAll(async () => {
    o = await origin();
    first = await commit(
      o.work,
      { 'azure-pipelines.yml': PIPELINE('trigger: none'), 'README.md': 'version one' },
      'first commit',
    );
    second = await commit(o.work, { 'README.md': 'version two' }, 'Second commit: the fix');
    await addRepo('manual', o.url);
  });

  it('runs the default branch’s tip with Azure’s predefined variables, and exits by the result', async () => {
    const { code, output } = await cli(['run', '--repo', 'manual', '--var', 'EXTRA=1']);
    expect(code, output).toBe(0);
    expect(output).toContain('readme: version two');
    expect(output).toContain(`repo=manual branch=refs/heads/main name=main`);
    expect(output).toContain(`commit=${second} reason=Manual`);
    expect(output).toContain('message=Second commit: the fix');
  });

  it('runs an older commit by id, and a branch by name', async () => {
    const older = await cli(['run', '--repo', 'manual', '--commit', first]);
    expect(older.code, older.output).toBe(0);
    expect(older.output).toContain('readme: version one');
    git(o.work, 'checkout', '--quiet', '-b', 'feature');
    const feat = await commit(o.work, { 'README.md': 'feature work' }, 'feature', 'feature');
    const branch = await cli(['run', '--repo', 'manual', '--branch', 'feature']);
    expect(branch.output).toContain(`commit=${feat}`);
    expect(branch.output).toContain('readme: feature work');
    git(o.work, 'checkout', '--quiet', 'main');
  });

  it('gives a job that asks for history a .git at that commit, fetchDepth deep and clean', async () => {
    await commit(
      o.work,
      {
        'azure-pipelines.yml': `trigger: none
steps:
- checkout: self
  fetchDepth: 2
- script: |
    echo "head=$(git rev-parse HEAD) count=$(git rev-list --count HEAD) branch=$(git rev-parse --abbrev-ref HEAD)"
    echo "dirty=[$(git status --porcelain)]"
    echo "origin=$(git remote get-url origin)"
`,
      },
      'history please',
    );
    const { code, output } = await cli(['run', '--repo', 'manual']);
    expect(code, output).toBe(0);
    const head = git(o.work, 'rev-parse', 'HEAD');
    expect(output).toContain(`head=${head} count=2 branch=main`);
    expect(output).toContain('dirty=[]');
    expect(output).toContain(`origin=${o.url}`);
  });

  it('exits 2 for an unknown repository, branch or commit; 1 when the run fails', async () => {
    expect((await cli(['run', '--repo', 'nosuch'])).code).toBe(2);
    expect((await cli(['run', '--repo', 'manual', '--branch', 'nosuch'])).output).toMatch(
      /branch refs\/heads\/nosuch not found/,
    );
    expect((await cli(['run', '--repo', 'manual', '--commit', 'abcdef1'])).code).toBe(2);
    await commit(o.work, { 'azure-pipelines.yml': 'trigger: none\nsteps:\n- script: exit 3\n' }, 'failing');
    expect((await cli(['run', '--repo', 'manual'])).code).toBe(1);
  });
});

describe('the poller and the trigger, from the pipeline file at the pushed commit', () => {
  let o: Awaited<ReturnType<typeof origin>>;
  beforeAll(async () => {
    o = await origin();
    await commit(
      o.work,
      {
        'azure-pipelines.yml': PIPELINE(`trigger:
  branches:
    include: [main, releases/*]
  paths:
    exclude: [docs]
  tags:
    include: ['v*']`),
        'README.md': 'polled',
      },
      'initial',
    );
    await addRepo('polled', o.url, ['--poll', '1']);
  });

  it('builds matching pushes (IndividualCI), not other branches, not docs-only changes; tags build', async () => {
    git(o.work, 'checkout', '--quiet', '-b', 'wip');
    const wip = await commit(o.work, { 'README.md': 'wip' }, 'on wip', 'wip');
    git(o.work, 'checkout', '--quiet', 'main');
    const docsOnly = await commit(o.work, { 'docs/guide.md': 'words' }, 'docs only');
    const code = await commit(o.work, { 'src/app.txt': 'code' }, 'code change');
    const run = await runFor('polled', code);
    expect(run.reason).toBe('IndividualCI');
    expect(run.source.branch).toBe('refs/heads/main');
    const all = (await runs()).filter((r) => r.source.repository === 'polled');
    expect(all.map((r) => r.source.commit)).not.toContain(wip);
    expect(all.map((r) => r.source.commit)).not.toContain(docsOnly);
    expect(await logOf(run)).toContain('reason=IndividualCI');

    git(o.work, 'tag', 'v1.0');
    git(o.work, 'push', '--quiet', 'origin', 'v1.0');
    git(o.work, 'checkout', '--quiet', '-b', 'releases/2');
    const release = await commit(o.work, { 'src/r.txt': 'r' }, 'release', 'releases/2');
    git(o.work, 'checkout', '--quiet', 'main');
    const tagRun = await until('the tag run', async () =>
      (await runs()).find((r) => r.source.repository === 'polled' && r.source.branch === 'refs/tags/v1.0'),
    );
    expect(tagRun.source.commit).toBe(code);
    expect((await runFor('polled', release)).source.branch).toBe('refs/heads/releases/2');
  });

  it('records a broken pipeline file with its commit, builds nothing of it, and goes on', async () => {
    const broken = await commit(o.work, { 'azure-pipelines.yml': 'steps:\n- scrip: oops\n' }, 'broken');
    const errors = await until('the error', async () => {
      const list = await api<{ commit: string; message: string }[]>('repositories/polled/errors');
      return list.find((e) => e.commit === broken);
    });
    expect(errors.message).toMatch(/azure-pipelines\.yml/);
    const shown = await cli(['repo', 'errors', 'polled']);
    expect(shown.output).toContain(broken.slice(0, 12));
    const fixed = await commit(
      o.work,
      { 'azure-pipelines.yml': PIPELINE('trigger: [main]'), 'README.md': 'fixed' },
      'fixed',
    );
    expect(await logOf(await runFor('polled', fixed))).toContain('readme: fixed');
    expect((await runs()).some((r) => r.source.commit === broken)).toBe(false);
  });
});

const sign = (body: string, secret: string) => createHmac('sha256', secret).update(body).digest('hex');
const fixture = (name: string) =>
  readFile(join(import.meta.dirname, 'fixtures', name), 'utf8').then((t) => JSON.parse(t));
async function deliver(forge: string, repo: string, headers: Record<string, string>, body: string) {
  const res = await fetch(`${ts.url}/hooks/${forge}/${repo}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body,
  });
  return { status: res.status, body: await res.text() };
}

describe('webhooks', () => {
  let o: Awaited<ReturnType<typeof origin>>;
  let secret: string;
  let base: string;
  beforeAll(async () => {
    o = await origin();
    base = await commit(
      o.work,
      { 'azure-pipelines.yml': PIPELINE('trigger: [main, flood]'), 'README.md': 'hooked' },
      'base',
    );
    secret = await addRepo('hooked', o.url, ['--secret', 'deployKey=s3cr3t-value-42']);
  });

  it('a GitHub push signed with X-Hub-Signature-256 queues a run; bad or missing signatures get 401 and queue nothing', async () => {
    const unsigned = await commit(o.work, { 'README.md': 'never built' }, 'not to be built');
    const payload = await fixture('github-push.json');
    const forged = JSON.stringify({ ...payload, before: base, after: unsigned });
    expect(
      (
        await deliver(
          'github',
          'hooked',
          { 'x-github-event': 'push', 'x-github-delivery': 'd-forged' },
          forged,
        )
      ).status,
    ).toBe(401);
    const bad = await deliver(
      'github',
      'hooked',
      {
        'x-github-event': 'push',
        'x-github-delivery': 'd-bad',
        'x-hub-signature-256': `sha256=${sign(forged, 'wrong')}`,
      },
      forged,
    );
    expect(bad.status).toBe(401);

    const head = await commit(o.work, { 'README.md': 'from a webhook' }, 'webhook commit');
    const body = JSON.stringify({ ...payload, before: unsigned, after: head });
    const headers = {
      'x-github-event': 'push',
      'x-github-delivery': 'd-1',
      'x-hub-signature-256': `sha256=${sign(body, secret)}`,
    };
    const ok = await deliver('github', 'hooked', headers, body);
    expect(ok.status).toBe(202);
    expect(JSON.parse(ok.body)).toEqual({ queued: true, delivery: 'd-1' });
    const run = await runFor('hooked', head);
    expect(run.reason).toBe('IndividualCI');
    // A replay of the same delivery queues nothing twice.
    const replay = await deliver('github', 'hooked', headers, body);
    expect(JSON.parse(replay.body)).toEqual({ queued: false, delivery: 'd-1' });
    expect(await logOf(run)).toContain('readme: from a webhook');
    const hooked = (await runs()).filter((r) => r.source.repository === 'hooked');
    expect(hooked.filter((r) => r.source.commit === head)).toHaveLength(1);
    expect(hooked.some((r) => r.source.commit === unsigned)).toBe(false);
  });

  it('GitLab (X-Gitlab-Token) and Gitea (X-Gitea-Signature) pushes', async () => {
    const a = await commit(o.work, { 'README.md': 'gitlab' }, 'gitlab push');
    const gl = JSON.stringify({
      ...(await fixture('gitlab-push.json')),
      ref: 'refs/heads/main',
      before: base,
      after: a,
    });
    expect(
      (await deliver('gitlab', 'hooked', { 'x-gitlab-event': 'Push Hook', 'x-gitlab-token': 'nope' }, gl))
        .status,
    ).toBe(401);
    expect(
      (
        await deliver(
          'gitlab',
          'hooked',
          { 'x-gitlab-event': 'Push Hook', 'x-gitlab-token': secret, 'x-gitlab-event-uuid': 'gl-1' },
          gl,
        )
      ).status,
    ).toBe(202);
    await runFor('hooked', a);
    const b = await commit(o.work, { 'README.md': 'gitea' }, 'gitea push');
    const gt = JSON.stringify({
      ...(await fixture('gitea-push.json')),
      ref: 'refs/heads/main',
      before: a,
      after: b,
    });
    expect(
      (
        await deliver(
          'gitea',
          'hooked',
          { 'x-gitea-event': 'push', 'x-gitea-delivery': 'gt-1', 'x-gitea-signature': sign(gt, secret) },
          gt,
        )
      ).status,
    ).toBe(202);
    await runFor('hooked', b);
  });

  it('a pull request from a fork is untrusted: no secrets, and its log says so at the top; the same repository’s PR gets them', async () => {
    const prPipeline = `trigger: none
pr: [main]
steps:
- script: |
    echo "key=[$(deployKey)] pr=$(System.PullRequest.PullRequestNumber) target=$(System.PullRequest.TargetBranch) fork=$(System.PullRequest.isFork)"
`;
    git(o.work, 'checkout', '--quiet', '-b', 'contrib');
    const head = await commit(o.work, { 'azure-pipelines.yml': prPipeline }, 'contribution', '');
    git(o.work, 'push', '--quiet', '--force', 'origin', 'HEAD:refs/pull/7/head');
    git(o.work, 'checkout', '--quiet', 'main');
    const payload = await fixture('github-pull-request.json');
    payload.number = 7;
    payload.pull_request.head.sha = head;
    payload.pull_request.head.ref = 'contrib';
    payload.pull_request.head.repo.full_name = 'stranger/fork';
    const body = JSON.stringify(payload);
    const sent = await deliver(
      'github',
      'hooked',
      {
        'x-github-event': 'pull_request',
        'x-github-delivery': 'pr-fork',
        'x-hub-signature-256': `sha256=${sign(body, secret)}`,
      },
      body,
    );
    expect(sent.status).toBe(202);
    const run = await runFor('hooked', head);
    expect(run).toMatchObject({
      reason: 'PullRequest',
      untrusted: true,
      source: { branch: 'refs/pull/7/head' },
    });
    const log = await logOf(run);
    expect(log).toContain('key=[] pr=7 target=refs/heads/main fork=True');
    expect(log).not.toContain('s3cr3t-value-42');
    expect(log.split('\n').slice(0, 3).join('\n')).toMatch(/Untrusted run \(a pull request from a fork\)/);

    const mine = structuredClone(payload);
    mine.pull_request.head.repo.full_name = mine.pull_request.base.repo.full_name;
    mine.action = 'synchronize';
    const mineBody = JSON.stringify(mine);
    await deliver(
      'github',
      'hooked',
      {
        'x-github-event': 'pull_request',
        'x-github-delivery': 'pr-own',
        'x-hub-signature-256': `sha256=${sign(mineBody, secret)}`,
      },
      mineBody,
    );
    const trusted = await until('the trusted PR run', async () =>
      (await runs()).find((r) => r.source.commit === head && !r.untrusted),
    );
    expect(await logOf(trusted)).toContain('key=[***] pr=7');
  });

  it('a flood of signed deliveries: every one answered, every push built once, in order', async () => {
    git(o.work, 'checkout', '--quiet', '-b', 'flood');
    const commits: string[] = [base];
    for (let i = 0; i < 30; i++)
      commits.push(await commit(o.work, { 'flood.txt': String(i) }, `flood ${i}`, ''));
    git(o.work, 'push', '--quiet', '--force', 'origin', 'HEAD:refs/heads/flood');
    git(o.work, 'checkout', '--quiet', 'main');
    const payload = await fixture('github-push.json');
    const answers = await Promise.all(
      commits.slice(1).map((after, i) => {
        const body = JSON.stringify({ ...payload, ref: 'refs/heads/flood', before: commits[i], after });
        return deliver(
          'github',
          'hooked',
          {
            'x-github-event': 'push',
            'x-github-delivery': `flood-${i}`,
            'x-hub-signature-256': `sha256=${sign(body, secret)}`,
          },
          body,
        );
      }),
    );
    expect(answers.map((a) => a.status)).toEqual(commits.slice(1).map(() => 202));
    const built = await until(
      '30 flood runs',
      async () => {
        const list = (await runs()).filter((r) => r.source.branch === 'refs/heads/flood');
        return list.length >= 30 ? list : undefined;
      },
      60_000,
    );
    expect(new Set(built.map((r) => r.source.commit))).toEqual(new Set(commits.slice(1)));
  });
});

describe('batched CI', () => {
  it('while a batched run of the branch goes on, pushes wait, and then the newest builds once (BatchedCI)', async () => {
    const o = await origin();
    const gate = join(o.work, '..', 'gate');
    const pipeline = `trigger:\n  batch: true\n  branches: { include: [main] }\nsteps:\n- bash: while [ ! -f '${gate}' ]; do sleep 0.1; done\n`;
    const base = await commit(o.work, { 'azure-pipelines.yml': pipeline }, 'base');
    const secret = await addRepo('batched', o.url);
    const push = async (before: string, after: string, id: string) => {
      const body = JSON.stringify({ ...(await fixture('github-push.json')), before, after });
      const headers = {
        'x-github-event': 'push',
        'x-github-delivery': id,
        'x-hub-signature-256': `sha256=${sign(body, secret)}`,
      };
      expect((await deliver('github', 'batched', headers, body)).status).toBe(202);
    };
    const c1 = await commit(o.work, { a: '1' }, 'one');
    await push(base, c1, 'b1');
    const first = await runFor('batched', c1);
    expect(first.reason).toBe('BatchedCI');
    const c2 = await commit(o.work, { a: '2' }, 'two');
    await push(c1, c2, 'b2');
    const c3 = await commit(o.work, { a: '3' }, 'three');
    await push(c2, c3, 'b3');
    await until('both pushes to wait', async () =>
      (await ts.server.context.store.listBatchPending()).find(
        (p) => p.repo === 'batched' && p.batchPending === c3,
      ),
    );
    await writeFile(gate, '');
    const batched = await runFor('batched', c3);
    expect(batched.reason).toBe('BatchedCI');
    await logOf(batched);
    expect(
      (await runs()).filter((r) => r.source.repository === 'batched').map((r) => r.source.commit),
    ).toEqual([c3, c1]);
  });
});

describe('commit statuses back to the forge', () => {
  it('posts pending, then the result, to a fake forge server speaking Gitea’s REST path', async () => {
    const posted: { url: string; auth: string | undefined; body: { state: string; context: string } }[] = [];
    const fakeForge = createServer((req, res) => {
      let text = '';
      req.on('data', (d) => (text += d));
      req.on('end', () => {
        posted.push({ url: req.url ?? '', auth: req.headers.authorization, body: JSON.parse(text) });
        res.writeHead(201).end('{}');
      });
    });
    await new Promise<void>((r) => fakeForge.listen(0, '127.0.0.1', r));
    const port = (fakeForge.address() as { port: number }).port;
    try {
      const o = await origin();
      const gate = join(o.work, '..', 'status-gate');
      const head = await commit(
        o.work,
        {
          'azure-pipelines.yml': `trigger: none\nsteps:\n- bash: while [ ! -f '${gate}' ]; do sleep 0.1; done\n`,
        },
        'status',
      );
      const tokenFile = join(o.work, '..', 'status-token');
      await writeFile(tokenFile, 'forge-status-token\n');
      await addRepo('statused', o.url, [
        '--status-token-file',
        tokenFile,
        '--forge',
        'gitea',
        '--forge-api',
        `http://127.0.0.1:${port}/api/v1`,
        '--forge-project',
        'team/app',
      ]);
      const running = cli(['run', '--repo', 'statused']);
      // The run is held until its pending status has reached the forge.
      await until('the pending status', async () => posted.find((p) => p.body.state === 'pending'));
      await writeFile(gate, '');
      expect((await running).code).toBe(0);
      await until('the final status', async () => posted.find((p) => p.body.state === 'success'));
      expect(posted.map((p) => p.body.state)).toEqual(['pending', 'success']);
      expect(posted[0]).toMatchObject({
        url: `/api/v1/repos/team/app/statuses/${head}`,
        auth: 'token forge-status-token',
        body: { context: 'slipway/statused' },
      });
    } finally {
      fakeForge.close();
    }
  });
});
