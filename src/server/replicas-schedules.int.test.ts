import { execFileSync } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { expect, it } from 'vitest';
import { killAll, spawnCli } from '../test-support/harness.js';
import { startReplicaSet } from '../test-support/replicas.js';

// A schedule fires once per slot although two real server processes on one PostgreSQL both
// evaluate it. Their clocks run 30 times as fast (SLIPWAY_TEST_CLOCK, the same for both, a knob
// for tests only), so an every-minute cron has a slot every 2 s and each replica looks at it
// about twice per slot (schedules are evaluated every 30 s of clock time).

const RATE = 30;
const SLOTS = 6;
const GIT_ENV = {
  PATH: process.env.PATH,
  GIT_AUTHOR_NAME: 'Dev',
  GIT_AUTHOR_EMAIL: 'dev@example.test',
  GIT_COMMITTER_NAME: 'Dev',
  GIT_COMMITTER_EMAIL: 'dev@example.test',
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_CONFIG_GLOBAL: '/dev/null',
};
const git = (cwd: string, ...args: string[]) =>
  execFileSync('git', args, { cwd, env: GIT_ENV, encoding: 'utf8' });

const PIPELINE = `trigger: none
schedules:
- cron: '* * * * *'
  displayName: every minute
  branches: { include: [main] }
  always: true
steps:
- script: echo scheduled
`;

/** The slots a replica's log says it fired (info lines `due` with run: true). */
function firedSlots(output: string): string[] {
  return output
    .split('\n')
    .filter((l) => l.includes('"msg":"due"'))
    .map((l) => JSON.parse(l) as { run?: boolean; slot?: string })
    .filter((l) => l.run)
    .map((l) => l.slot!);
}

it(`fires a schedule once per slot with two replicas evaluating it (${SLOTS} slots)`, {
  timeout: 180_000,
}, async () => {
  const set = await startReplicaSet({
    name: 'slipway-replica-schedules',
    leaseTtl: 90,
    logLevel: 'info',
    env: { SLIPWAY_TEST_CLOCK: `${RATE}@${Date.now()}` },
  });
  try {
    const root = await mkdtemp(join(tmpdir(), 'slipway-schedule-origin-'));
    const bare = join(root, 'origin.git');
    const work = join(root, 'work');
    git(root, 'init', '--quiet', '--bare', '--initial-branch=main', bare);
    git(root, 'init', '--quiet', '--initial-branch=main', work);
    await writeFile(join(work, 'azure-pipelines.yml'), PIPELINE);
    git(work, 'add', '-A');
    git(work, 'commit', '--quiet', '-m', 'first');
    git(work, 'push', '--quiet', bare, 'HEAD:refs/heads/main');
    const added = spawnCli(['repo', 'add', 'timed', '--url', `file://${bare}`], {
      SLIPWAY_URL: set.viaProxy,
      SLIPWAY_TOKEN: set.admin,
    });
    expect(await added.exited, added.output()).toBe(0);

    const slots = () => set.replicas.flatMap((r) => firedSlots(r.proc!.output()));
    const deadline = Date.now() + 120_000;
    while (slots().length < SLOTS && Date.now() < deadline) await new Promise((r) => setTimeout(r, 250));
    // Stopped cleanly, a replica ends the pass it is in: every fire logged has queued its run.
    for (const r of set.replicas) r.proc!.kill('SIGTERM');
    await Promise.all(set.replicas.map((r) => r.proc!.exited));

    const perReplica = set.replicas.map((r) => firedSlots(r.proc!.output()));
    const fired = perReplica.flat();
    expect(fired.length, 'slots fired before the deadline').toBeGreaterThanOrEqual(SLOTS);
    expect(new Set(fired).size, `a slot fired twice: ${fired.sort()}`).toBe(fired.length);
    const db = new pg.Client({ connectionString: set.db.url });
    await db.connect();
    try {
      const runs = await db.query(
        "SELECT count(*) AS n FROM repository_runs WHERE repo = 'timed' AND kind = 'schedule'",
      );
      expect(Number(runs.rows[0].n)).toBe(fired.length);
    } finally {
      await db.end();
    }
    console.log(`schedules: ${fired.length} slots fired, by replica ${perReplica.map((s) => s.length)}`);
  } finally {
    await killAll();
    await set.stop();
  }
});
