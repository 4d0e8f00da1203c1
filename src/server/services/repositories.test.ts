import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../shared/logger.js';
import { GitRunner } from '../../sources/index.js';
import type { Store } from '../../store/index.js';
import { type Coordinator, startCoordinator } from '../../test-support/coordinator.js';
import { SecretVault } from '../secret-vault.js';
import { RepositoryService } from './repositories.js';

// Schedules under a fake clock, against a real repository on disk: two services sharing one
// store stand for two coordinator replicas.

const GIT_ENV = {
  ...process.env,
  GIT_AUTHOR_NAME: 'Dev',
  GIT_AUTHOR_EMAIL: 'dev@example.test',
  GIT_COMMITTER_NAME: 'Dev',
  GIT_COMMITTER_EMAIL: 'dev@example.test',
  GIT_CONFIG_GLOBAL: '/dev/null',
};
const git = (cwd: string, ...args: string[]) =>
  execFileSync('git', args, { cwd, env: GIT_ENV, encoding: 'utf8' }).trim();

const PIPELINE = `trigger: none
schedules:
- cron: '0 3 * * *'
  displayName: nightly
  branches: { include: [main, releases/*] }
- cron: '30 4 * * Mon-Fri'
  displayName: weekday
  always: true
steps:
- script: echo scheduled
`;

describe('schedules from the default branch’s pipeline, under a fake clock', () => {
  let c: Coordinator;
  let work: string;
  let replicas: RepositoryService[];
  let replicaWith: (store: Store) => RepositoryService;
  const at = (iso: string) => {
    c.clock.t = Date.parse(iso);
  };
  const commitAndPush = async (text: string, branch = 'main') => {
    await writeFile(join(work, 'README.md'), text);
    git(work, 'add', '-A');
    git(work, 'commit', '--quiet', '-m', text);
    git(work, 'push', '--quiet', 'origin', `HEAD:refs/heads/${branch}`);
    return git(work, 'rev-parse', 'HEAD');
  };
  const scheduled = async () =>
    (await c.store.listRuns(100))
      .filter((r) => r.reason === 'Schedule')
      .map((r) => [r.source.branch, r.source.commit]);

  beforeEach(async () => {
    c = await startCoordinator();
    const root = await mkdtemp(join(tmpdir(), 'slipway-sched-'));
    git(root, 'init', '--quiet', '--bare', '--initial-branch=main', 'origin.git');
    git(root, 'init', '--quiet', '--initial-branch=main', 'work');
    work = join(root, 'work');
    git(work, 'remote', 'add', 'origin', join(root, 'origin.git'));
    await writeFile(join(work, 'azure-pipelines.yml'), PIPELINE);
    await commitAndPush('first');
    const vault = new SecretVault(randomBytes(32));
    replicaWith = (store: Store) => {
      const i = replicas.length;
      const replica = new RepositoryService({
        store,
        clock: c.clock,
        logger: silentLogger,
        vault,
        scheduler: c.scheduler,
        runs: c.runs,
        git: new GitRunner({ stateDir: join(root, `state-${i}`) }),
        mirrorsDir: join(root, `mirrors-${i}`),
        publicUrl: () => 'http://ci.example',
      });
      replicas.push(replica);
      return replica;
    };
    replicas = [];
    replicaWith(c.store);
    at('2026-03-09T12:00:00Z'); // a Monday
    await replicas[0]!.add({ name: 'app', url: `file://${join(root, 'origin.git')}` });
  });
  afterEach(async () => {
    await Promise.all(replicas.map((r) => r.idle()));
    await c.stop();
  });

  it('fires each due schedule once on each matching branch; a replica that read the same slot fires nothing', async () => {
    git(work, 'checkout', '--quiet', '-b', 'releases/1');
    const release = await commitAndPush('release', 'releases/1');
    git(work, 'checkout', '--quiet', 'main');
    const main = git(work, 'rev-parse', 'HEAD');
    const [a] = replicas;
    // First sight (after the mirror's next fetch): the slots already past are recorded, nothing runs.
    at('2026-03-09T12:05:00Z');
    await a!.tickSchedules();
    expect(await scheduled()).toEqual([]);

    at('2026-03-10T03:00:10Z');
    // Replica b reads the schedules' last slots before a fires them, as when both tick at once.
    const stale = new Map<string, Awaited<ReturnType<Store['getScheduleFire']>>>();
    for (const branch of ['refs/heads/main', 'refs/heads/releases/1']) {
      const key = 'nightly|0 3 * * *';
      stale.set(`${key}@${branch}`, await c.store.getScheduleFire('app', key, branch));
    }
    const b = replicaWith({
      ...c.store,
      getScheduleFire: async (repo, key, branch) =>
        stale.has(`${key}@${branch}`)
          ? stale.get(`${key}@${branch}`)
          : c.store.getScheduleFire(repo, key, branch),
    });
    await a!.tickSchedules();
    await b.tickSchedules();
    await a!.tickSchedules();
    expect((await scheduled()).sort()).toEqual(
      [
        ['refs/heads/main', main],
        ['refs/heads/releases/1', release],
      ].sort(),
    );
  });

  it('skips a branch that has not changed unless always; no burst after a long downtime', async () => {
    const replica = replicas[0]!;
    await replica.tickSchedules(); // first sight
    at('2026-03-10T03:00:00Z');
    await replica.tickSchedules();
    at('2026-03-10T04:30:00Z');
    await replica.tickSchedules();
    expect((await scheduled()).length).toBe(2); // nightly on main, weekday (always)

    at('2026-03-11T03:00:00Z'); // main has not changed: nightly does not run
    await replica.tickSchedules();
    at('2026-03-11T04:30:00Z'); // weekday is `always: true`
    await replica.tickSchedules();
    expect((await scheduled()).length).toBe(3);

    const changed = await commitAndPush('second');
    at('2026-03-20T03:10:00Z'); // down for nine days: one nightly run, not nine
    await replica.tickSchedules();
    await replica.tickSchedules();
    const runs = await scheduled();
    expect(runs.length).toBe(4);
    expect(runs[0]).toEqual(['refs/heads/main', changed]);
  });
});
